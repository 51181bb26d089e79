//! A small model of a unit file and its writer: sections in a fixed order,
//! keys in insertion order, repeated keys for lists, continuation lines for
//! long commands. Values arrive already escaped (see `escape`).

/// Ignition rejects unit lines longer than this (bytes, newline excluded).
pub const MAX_LINE: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitFile {
    pub name: String,
    /// Comment lines at the top, without the leading `# `.
    pub header: Vec<String>,
    pub sections: Vec<Section>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: &'static str,
    pub lines: Vec<Line>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Comment(String),
    Entry(String, String),
    /// A command written as groups of escaped words, one group per physical
    /// line when there is more than one.
    Command(String, Vec<Vec<String>>),
}

impl Section {
    pub fn new(name: &'static str) -> Self {
        Section {
            name,
            lines: Vec::new(),
        }
    }

    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.lines.push(Line::Entry(key.to_owned(), value.into()));
        self
    }

    pub fn comment(&mut self, text: &str) -> &mut Self {
        self.lines.push(Line::Comment(text.to_owned()));
        self
    }
}

impl UnitFile {
    /// The unit text, or an error naming the first line Ignition would reject.
    pub fn render(&self) -> Result<String, String> {
        let mut out = String::new();
        for h in &self.header {
            out.push_str("# ");
            out.push_str(h);
            out.push('\n');
        }
        for (i, s) in self
            .sections
            .iter()
            .filter(|s| !s.lines.is_empty())
            .enumerate()
        {
            if i > 0 || !self.header.is_empty() {
                out.push('\n');
            }
            out.push('[');
            out.push_str(s.name);
            out.push_str("]\n");
            for l in &s.lines {
                match l {
                    Line::Comment(c) => {
                        out.push_str("# ");
                        out.push_str(c);
                    }
                    Line::Entry(k, v) => {
                        out.push_str(k);
                        out.push('=');
                        out.push_str(v);
                    }
                    Line::Command(k, groups) => {
                        out.push_str(k);
                        out.push('=');
                        let lines: Vec<String> = groups.iter().map(|g| g.join(" ")).collect();
                        out.push_str(&lines.join(" \\\n    "));
                    }
                }
                out.push('\n');
            }
        }
        if let Some((n, line)) = out.lines().enumerate().find(|(_, l)| l.len() > MAX_LINE) {
            let key = line.split('=').next().unwrap_or("").trim();
            return Err(format!(
                "line {} of {} (`{}`) is {} bytes long; Ignition rejects unit lines over {MAX_LINE} bytes",
                n + 1,
                self.name,
                key.chars().take(40).collect::<String>(),
                line.len()
            ));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_sections_in_order_and_continues_commands() {
        let mut unit = Section::new("Unit");
        unit.set("Description", "x");
        let mut svc = Section::new("Service");
        svc.lines.push(Line::Command(
            "ExecStart".into(),
            vec![
                vec!["/bin/a".into(), "run".into()],
                vec!["--dir".into(), "/x::/y".into()],
            ],
        ));
        let f = UnitFile {
            name: "a.service".into(),
            header: vec!["generated".into()],
            sections: vec![unit, Section::new("Empty"), svc],
        };
        assert_eq!(
            f.render().as_deref(),
            Ok("# generated\n\n[Unit]\nDescription=x\n\n[Service]\nExecStart=/bin/a run \\\n    --dir /x::/y\n")
        );
    }

    #[test]
    fn rejects_lines_ignition_would_reject() {
        let mut s = Section::new("Service");
        s.set("Environment", "x".repeat(MAX_LINE));
        let f = UnitFile {
            name: "a.service".into(),
            header: vec![],
            sections: vec![s],
        };
        let e = f.render().expect_err("too long");
        assert!(
            e.contains("Ignition rejects unit lines over 2048 bytes"),
            "{e}"
        );
    }
}
