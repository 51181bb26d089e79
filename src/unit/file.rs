//! A small model of a unit file and its writer: sections in a fixed order,
//! keys in insertion order, repeated keys for lists, continuation lines for
//! long commands. It accepts only the value types of [`super::escape`], so
//! nothing unescaped can reach a unit file.

use crate::unit::escape::{Comment, ExecWord, Key, Value, ValueError};

/// Ignition rejects unit lines longer than this (bytes, newline excluded).
const MAX_LINE: usize = 2048;

/// Longest logical line systemd reads, continuations joined (LONG_LINE_MAX
/// in systemd's conf-parser.c; longer: "No buffer space available", and
/// the unit does not load). It counts each physical line plus one byte:
/// measured with `systemd-analyze verify` of 252 and 257, an ExecStart= of
/// 527 lines loads at 1,048,049 joined bytes and not at one more. The
/// estimate below counts more than that per line (indent, separators).
const MAX_LOGICAL_LINE: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitFile {
    pub name: String,
    /// Comment lines at the top.
    pub header: Vec<Comment>,
    pub sections: Vec<Section>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: &'static str,
    pub lines: Vec<Line>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Comment(Comment),
    Entry(Key, Value),
    /// A command written as groups of escaped words, one group per physical
    /// line when there is more than one.
    Command(Key, Vec<Vec<ExecWord>>),
}

impl Section {
    pub fn new(name: &'static str) -> Self {
        Section {
            name,
            lines: Vec::new(),
        }
    }

    /// `key=value` with one of wasmunit's own keys.
    pub fn set(&mut self, key: &'static str, value: Value) -> &mut Self {
        self.lines.push(Line::Entry(Key::fixed(key), value));
        self
    }

    /// A setting spelled entirely by wasmunit.
    pub fn fixed(&mut self, key: &'static str, value: &'static str) -> &mut Self {
        self.set(key, Value::fixed(value))
    }

    pub fn entry(&mut self, key: Key, value: Value) -> &mut Self {
        self.lines.push(Line::Entry(key, value));
        self
    }

    pub fn comment(&mut self, text: &str) -> &mut Self {
        self.lines.push(Line::Comment(Comment::new(text)));
        self
    }

    /// An `Exec*=` command line of escaped words, one group per physical line.
    pub fn command(&mut self, key: &'static str, groups: Vec<Vec<ExecWord>>) -> &mut Self {
        self.lines.push(Line::Command(Key::fixed(key), groups));
        self
    }

    /// `KEY=/bin/sh -c SCRIPT`, the script escaped as one word.
    pub fn shell(&mut self, key: &'static str, script: &str) -> Result<&mut Self, ValueError> {
        let script = ExecWord::new(script)?;
        Ok(self.command(
            key,
            vec![vec![
                ExecWord::program("/bin/sh"),
                ExecWord::program_arg("-c"),
                script,
            ]],
        ))
    }
}

/// A unit line that systemd or Ignition would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error(
        "{key} of {unit} is {joined} bytes long with its continuation lines; systemd reads at \
         most {MAX_LOGICAL_LINE} bytes per setting and would not load the unit \
         (shorten `args`, or ship the data as a file)"
    )]
    SettingTooLong {
        key: String,
        unit: String,
        joined: usize,
    },
    #[error(
        "line {line_no} of {unit} ({label}) is {len} bytes long; Ignition rejects unit lines over {MAX_LINE} bytes"
    )]
    LineTooLong {
        line_no: usize,
        unit: String,
        label: String,
        len: usize,
    },
}

impl UnitFile {
    /// The unit text, or an error naming the first line Ignition would reject.
    pub fn render(&self) -> Result<String, LineError> {
        let mut out = String::with_capacity(4096);
        for h in &self.header {
            push_comment(&mut out, h);
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
                    Line::Comment(c) => push_comment(&mut out, c),
                    Line::Entry(k, v) => {
                        self.push_checked(&mut out, &[k.as_str(), "=", v.as_str()], k.as_str())?;
                    }
                    Line::Command(k, groups) => self.push_command(&mut out, k, groups)?,
                }
            }
        }
        // Thousands of units stay in memory until written: no slack.
        out.shrink_to_fit();
        Ok(out)
    }

    fn push_command(
        &self,
        out: &mut String,
        key: &Key,
        groups: &[Vec<ExecWord>],
    ) -> Result<(), LineError> {
        // Joined as systemd joins continuations: each line, less its `\`.
        let joined: usize = key.as_str().len()
            + 1
            + groups
                .iter()
                .map(|g| g.iter().map(|w| w.as_str().len() + 1).sum::<usize>() + 4)
                .sum::<usize>();
        if joined > MAX_LOGICAL_LINE {
            return Err(LineError::SettingTooLong {
                key: key.as_str().to_owned(),
                unit: self.name.clone(),
                joined,
            });
        }
        for (i, g) in groups.iter().enumerate() {
            let mut parts: Vec<&str> = Vec::with_capacity(2 * g.len() + 2);
            parts.push(if i == 0 { key.as_str() } else { "    " });
            if i == 0 {
                parts.push("=");
            }
            for (j, w) in g.iter().enumerate() {
                if j > 0 {
                    parts.push(" ");
                }
                parts.push(w.as_str());
            }
            if i + 1 < groups.len() {
                parts.push(" \\");
            }
            let label = if i == 0 {
                key.as_str().to_owned()
            } else {
                format!("a continuation of {}", key.as_str())
            };
            self.push_checked(out, &parts, &label)?;
        }
        Ok(())
    }

    /// Appends one physical line made of `parts`, refusing what Ignition would.
    fn push_checked(&self, out: &mut String, parts: &[&str], label: &str) -> Result<(), LineError> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len > MAX_LINE {
            let line_no = out.matches('\n').count() + 1;
            return Err(LineError::LineTooLong {
                line_no,
                unit: self.name.clone(),
                label: label.to_owned(),
                len,
            });
        }
        for p in parts {
            out.push_str(p);
        }
        out.push('\n');
        Ok(())
    }
}

fn push_comment(out: &mut String, c: &Comment) {
    out.push_str("# ");
    out.push_str(c.as_str());
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(s: &str) -> ExecWord {
        ExecWord::new(s).expect("word")
    }

    #[test]
    fn writes_sections_in_order_and_continues_commands() {
        let mut unit = Section::new("Unit");
        unit.fixed("Description", "x");
        let mut svc = Section::new("Service");
        svc.lines.push(Line::Command(
            Key::fixed("ExecStart"),
            vec![
                vec![ExecWord::program("/bin/a"), word("run")],
                vec![word("--dir"), word("/x::/y")],
            ],
        ));
        let f = UnitFile {
            name: "a.service".into(),
            header: vec![Comment::new("generated")],
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
        let long = crate::unit::escape::RawValue::new(&"x".repeat(MAX_LINE)).expect("raw");
        s.set("Environment", Value::raw(&long));
        let f = UnitFile {
            name: "a.service".into(),
            header: vec![],
            sections: vec![s],
        };
        let e = f.render().expect_err("too long");
        assert!(
            e.to_string()
                .contains("Ignition rejects unit lines over 2048 bytes"),
            "{e}"
        );
    }
}
