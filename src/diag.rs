//! Diagnostics that point into a source file: `path:line:col: error: message`,
//! followed by the offending line and a caret, like rustc and cargo.

use std::fmt::{self, Write as _};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One error found in a user's file, with the byte range it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub span: Option<Range<usize>>,
    pub message: String,
    pub help: Option<String>,
    /// The whole source text, kept so the report can quote the line.
    source: std::sync::Arc<str>,
}

impl Diagnostic {
    pub fn new(
        file: &Path,
        source: &std::sync::Arc<str>,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            file: file.to_path_buf(),
            span,
            message: message.into(),
            help: None,
            source: source.clone(),
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// 1-based line and column (in characters) of the span's start.
    pub fn line_col(&self) -> Option<(usize, usize)> {
        let span = self.span.as_ref()?;
        Some(line_col(&self.source, span.start))
    }
}

/// 1-based line and character column of a byte offset; offsets past the end
/// or inside a UTF-8 sequence are clamped to the nearest valid position.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = source[line_start..offset].chars().count() + 1;
    (line, col)
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, false)
    }
}

impl Diagnostic {
    /// The report, styled for a terminal when `styled` (same text otherwise).
    pub fn render(&self, styled: bool) -> String {
        struct Styled<'a>(&'a Diagnostic, bool);
        impl fmt::Display for Styled<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.write(f, self.1)
            }
        }
        Styled(self, styled).to_string()
    }

    fn write(&self, f: &mut fmt::Formatter<'_>, styled: bool) -> fmt::Result {
        use crate::style::{paint, sgr};
        let file = crate::input::shown(&self.file);
        let error = paint(styled, sgr::ERROR, "error");
        let message = paint(styled, sgr::BOLD, &self.message);
        let Some(span) = &self.span else {
            write!(f, "{file}: {error}: {message}")?;
            if let Some(help) = &self.help {
                write!(f, "\n  = {}: {help}", paint(styled, sgr::BOLD, "help"))?;
            }
            return Ok(());
        };
        let (line, col) = line_col(&self.source, span.start);
        writeln!(f, "{file}:{line}:{col}: {error}: {message}")?;
        let text = self.source.lines().nth(line - 1).unwrap_or("");
        let gutter = line.to_string().len();
        let bar = paint(styled, sgr::GUTTER, "|");
        // Underline the span, clamped to the quoted line.
        let line_chars = text.chars().count();
        let start = (col - 1).min(line_chars);
        let span_chars = self
            .source
            .get(span.clone())
            .map_or(1, |s| s.lines().next().unwrap_or("").chars().count().max(1));
        let width = span_chars.min(line_chars.saturating_sub(start)).max(1);
        let (text, start, width) = without_url_credentials(text, start, width);
        let (shown, start, width) = quoted_window(&text, start, width);
        writeln!(f, "{:gutter$} {bar}", "")?;
        let number = paint(styled, sgr::GUTTER, &format!("{line:>gutter$}"));
        writeln!(f, "{number} {bar} {shown}")?;
        write!(
            f,
            "{:gutter$} {bar} {}{}",
            "",
            " ".repeat(start),
            paint(styled, sgr::ERROR, &"^".repeat(width))
        )?;
        if let Some(help) = &self.help {
            write!(
                f,
                "\n{:gutter$} = {}: {help}",
                "",
                paint(styled, sgr::BOLD, "help")
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

/// Widest part of a line quoted under a diagnostic, in characters.
const QUOTE_WIDTH: usize = 160;

/// The quoted line as shown: control characters (a raw escape sequence in
/// a manifest would act on the terminal) as U+FFFD, tabs as spaces, and a
/// window of [`QUOTE_WIDTH`] characters around the span when the line is
/// longer (a minified line can be megabytes). Returns the text and where
/// the underline starts in it and how wide it is.
fn quoted_window(text: &str, start: usize, width: usize) -> (String, usize, usize) {
    let chars: Vec<char> = text
        .chars()
        .map(|c| match c {
            '\t' => ' ',
            c if c.is_control() => '\u{fffd}',
            c => c,
        })
        .collect();
    if chars.len() <= QUOTE_WIDTH {
        return (chars.into_iter().collect(), start, width);
    }
    let from = start.saturating_sub(QUOTE_WIDTH / 4);
    let to = (from + QUOTE_WIDTH).min(chars.len());
    let mut shown: String = if from > 0 {
        "…".to_owned()
    } else {
        String::new()
    };
    let lead = usize::from(from > 0);
    shown.extend(&chars[from..to]);
    if to < chars.len() {
        shown.push('…');
    }
    let width = width.min(to.saturating_sub(start)).max(1);
    (shown, start - from + lead, width)
}

/// The quoted line with the credentials of every URL in it hidden, as
/// messages show them (`https://user:pass@host` → `https://***@host`), and
/// the underline (`start`, `width`, in characters) moved to match: a
/// diagnostic about a module URL must not print its password.
fn without_url_credentials(text: &str, start: usize, width: usize) -> (String, usize, usize) {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<char> = Vec::with_capacity(chars.len());
    // Where each character of `text` (and its end) lands in `out`.
    let mut at = Vec::with_capacity(chars.len() + 1);
    let mut i = 0;
    while i < chars.len() {
        let scheme_end = chars[i..]
            .starts_with(&[':', '/', '/'])
            .then_some(i + 3)
            .filter(|_| i > 0 && chars[i - 1].is_ascii_alphanumeric());
        let Some(authority) = scheme_end else {
            at.push(out.len());
            out.push(chars[i]);
            i += 1;
            continue;
        };
        for &c in &chars[i..authority] {
            at.push(out.len());
            out.push(c);
        }
        // The authority ends where the path, query or fragment begins, or
        // where the TOML string or the word does.
        let end = chars[authority..]
            .iter()
            .position(|&c| matches!(c, '/' | '?' | '#' | '"' | '\'' | '\\') || c.is_whitespace())
            .map_or(chars.len(), |n| authority + n);
        match chars[authority..end].iter().rposition(|&c| c == '@') {
            Some(n) if n > 0 => {
                let hidden = out.len();
                out.extend("***".chars());
                at.extend(std::iter::repeat_n(hidden, n));
                i = authority + n;
            }
            _ => i = authority,
        }
    }
    at.push(out.len());
    let new_start = at[start.min(chars.len())];
    let new_end = at[(start + width).min(chars.len())];
    let width = new_end.saturating_sub(new_start).max(1);
    (out.into_iter().collect(), new_start, width)
}

/// Several diagnostics reported together; render stops before writing anything.
#[derive(Debug)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

impl Diagnostics {
    pub fn render(&self, styled: bool) -> String {
        let mut out = String::new();
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                out.push_str("\n\n");
            }
            out.push_str(&d.render(styled));
        }
        if self.0.len() > 1 {
            let _ = write!(out, "\n\n{} errors; nothing was written", self.0.len());
        }
        out
    }
}

impl std::error::Error for Diagnostics {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_lines_and_chars() {
        let src = "a = 1\nbé = 2\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 6), (2, 1));
        // 'é' is two bytes: the '=' after "bé " is the 4th character.
        assert_eq!(line_col(src, 10), (2, 4));
        assert_eq!(line_col(src, 999), (3, 1));
    }

    #[test]
    fn renders_headline_line_and_caret() {
        let src: std::sync::Arc<str> = "version = 1\nfoo = 2\n".into();
        let d = Diagnostic::new(
            Path::new("apps.toml"),
            &src,
            Some(12..15),
            "unknown key `foo`",
        )
        .with_help("remove it");
        let text = d.to_string();
        assert!(
            text.starts_with("apps.toml:2:1: error: unknown key `foo`\n"),
            "{text}"
        );
        assert!(text.contains("2 | foo = 2\n  | ^^^"), "{text}");
        assert!(text.ends_with("= help: remove it"), "{text}");
        let styled = d.render(true);
        assert!(styled.contains("\x1b[1;31merror\x1b[0m"), "{styled:?}");
        // Styling adds codes, never changes the text.
        let plain: String = strip_sgr(&styled);
        assert_eq!(plain, text);
    }

    #[test]
    fn quoted_lines_are_windowed_and_never_carry_control_characters() {
        let long = format!("x = \"{}\" # \x1b[2J", "a".repeat(100_000));
        let src: std::sync::Arc<str> = long.clone().into();
        let at = long.len() - 4;
        let text = Diagnostic::new(Path::new("m.toml"), &src, Some(at..at + 1), "bad").to_string();
        assert!(!text.contains('\x1b'), "{text:?}");
        assert!(text.len() < 1000, "{} bytes quoted", text.len());
        let quoted = text.lines().nth(2).expect("quoted line");
        let caret = text.lines().nth(3).expect("caret line");
        // The caret still points at the escape's replacement.
        let col = caret.find('^').expect("caret");
        assert_eq!(
            quoted.chars().nth(col),
            Some('\u{fffd}'),
            "{quoted}\n{caret}"
        );
    }

    #[test]
    fn quoted_lines_hide_url_credentials_and_keep_the_underline_on_its_value() {
        let line = r#"[app.a] module = "https://user:s3cret@example.org/a.wasm", sha256 = "x""#;
        let src: std::sync::Arc<str> = format!("{line}\n").into();
        let at = line.find("sha256").expect("key");
        let text = Diagnostic::new(Path::new("m.toml"), &src, Some(at..at + 6), "bad").to_string();
        assert!(!text.contains("s3cret"), "{text}");
        assert!(!text.contains("user"), "{text}");
        let quoted = text.lines().nth(2).expect("quoted line");
        assert!(
            quoted.contains(r#""https://***@example.org/a.wasm""#),
            "{text}"
        );
        let caret = text.lines().nth(3).expect("caret line");
        let col = caret.find('^').expect("caret");
        assert_eq!(&quoted[col..col + 6], "sha256", "{text}");
        assert_eq!(caret.matches('^').count(), 6, "{text}");
        // A span on the URL itself covers the redacted URL.
        let at = line.find('"').expect("quote");
        let end = line.find(", sha").expect("end");
        let text = Diagnostic::new(Path::new("m.toml"), &src, Some(at..end), "bad").to_string();
        let quoted = text.lines().nth(2).expect("quoted line");
        let caret = text.lines().nth(3).expect("caret line");
        let col = caret.find('^').expect("caret");
        let n = caret.matches('^').count();
        assert_eq!(
            &quoted[col..col + n],
            r#""https://***@example.org/a.wasm""#,
            "{text}"
        );
        // No userinfo, an `@` past the authority, a mail address: as is.
        for plain in [
            r#"module = "https://example.org/a@b.wasm""#,
            "# mail me@example.org",
            r#"a = "x://", b = "@""#,
        ] {
            assert_eq!(without_url_credentials(plain, 0, 1).0, plain);
        }
        assert_eq!(
            without_url_credentials("u = 'http://a:b@h:80' # c@d", 0, 1).0,
            "u = 'http://***@h:80' # c@d"
        );
    }

    fn strip_sgr(s: &str) -> String {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }
}
