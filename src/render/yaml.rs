//! A small YAML writer for the Butane fragment's fixed shape: block
//! mappings and indentless sequences, plain scalars where no YAML reader
//! could take them for anything else, double-quoted ones otherwise, and `|`
//! literal blocks for unit texts. It streams to any `io::Write`, so a
//! fragment of 10,000 units is never held in memory twice.
//!
//! Why not a YAML library: serde_yaml and its forks choose a scalar's style
//! themselves, and Butane's users review unit texts as `|` blocks in git;
//! a library that quotes a unit as one long string, or folds it, makes the
//! fragment unreadable, and none promises which it picks. Ours is checked
//! against an independent parser (serde_norway in tests) and real Butane.

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::unit::escape::is_yaml_break;

pub struct Yaml<W: Write> {
    w: W,
}

impl<W: Write> Yaml<W> {
    pub fn new(w: W) -> Self {
        Yaml { w }
    }

    pub fn into_inner(self) -> W {
        self.w
    }

    pub fn raw(&mut self, s: &str) -> io::Result<()> {
        self.w.write_all(s.as_bytes())
    }

    fn lead(&mut self, indent: usize, item: bool) -> io::Result<()> {
        const SPACES: &[u8] = &[b' '; 64];
        let mut n = indent;
        while n > 0 {
            let k = n.min(SPACES.len());
            self.w.write_all(&SPACES[..k])?;
            n -= k;
        }
        if item {
            self.w.write_all(b"- ")?;
        }
        Ok(())
    }

    /// `key:` opening a nested mapping or sequence. `item` starts a sequence
    /// entry (`- key:`) at `indent`.
    pub fn open(&mut self, indent: usize, item: bool, key: &str) -> io::Result<()> {
        self.lead(indent, item)?;
        self.w.write_all(key.as_bytes())?;
        self.w.write_all(b":\n")
    }

    /// `key: scalar`, quoted when a plain scalar would be misread.
    pub fn str(&mut self, indent: usize, item: bool, key: &str, value: &str) -> io::Result<()> {
        self.lead(indent, item)?;
        self.w.write_all(key.as_bytes())?;
        self.w.write_all(b": ")?;
        if is_plain_safe(value) {
            self.w.write_all(value.as_bytes())?;
        } else {
            self.quoted(value)?;
        }
        self.w.write_all(b"\n")
    }

    /// `key: value` for numbers and booleans.
    pub fn display(
        &mut self,
        indent: usize,
        item: bool,
        key: &str,
        value: impl std::fmt::Display,
    ) -> io::Result<()> {
        self.lead(indent, item)?;
        writeln!(self.w, "{key}: {value}")
    }

    /// A multi-line text: a `|` literal block when that keeps every byte,
    /// else a double-quoted string.
    pub fn text(&mut self, indent: usize, item: bool, key: &str, text: &str) -> io::Result<()> {
        if !fits_literal_block(text) {
            self.lead(indent, item)?;
            self.w.write_all(key.as_bytes())?;
            self.w.write_all(b": ")?;
            self.quoted(text)?;
            return self.w.write_all(b"\n");
        }
        self.lead(indent, item)?;
        self.w.write_all(key.as_bytes())?;
        self.w.write_all(b": |\n")?;
        let body = indent + if item { 4 } else { 2 };
        let pad =
            &b"                                                                "[..body.min(64)];
        for line in text.as_bytes().split_inclusive(|&b| b == b'\n') {
            if line != b"\n" {
                self.w.write_all(pad)?;
            }
            self.w.write_all(line)?;
        }
        Ok(())
    }

    fn quoted(&mut self, s: &str) -> io::Result<()> {
        let mut out = String::with_capacity(s.len() + 2);
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                '\u{85}' => out.push_str("\\N"),
                '\u{2028}' => out.push_str("\\L"),
                '\u{2029}' => out.push_str("\\P"),
                c if c.is_control() || is_yaml_break(c) => {
                    let _ = write!(out, "\\u{:04X}", c as u32);
                }
                c => out.push(c),
            }
        }
        out.push('"');
        self.w.write_all(out.as_bytes())
    }
}

/// Literal style keeps every byte only if the text ends in exactly one
/// newline, its first line has no leading space, and it holds no control
/// character but newline and none of YAML's other line breaks.
fn fits_literal_block(t: &str) -> bool {
    let shape = t.ends_with('\n') && !t.ends_with("\n\n") && !t.starts_with([' ', '\n']);
    shape && (plain_ascii(t.as_bytes()) || no_breaks_but_newline(t))
}

/// Printable ASCII and newlines only: 64 bytes at a time, no branch inside
/// (unit texts are long and almost always this).
fn plain_ascii(bytes: &[u8]) -> bool {
    bytes.chunks(64).all(|chunk| {
        let odd = chunk.iter().fold(0u8, |acc, &b| {
            acc | u8::from(b < 0x20 && b != b'\n') | u8::from(b == 0x7f) | (b >> 7)
        });
        odd == 0
    })
}

/// The slow path, for text with non-ASCII characters: no control character
/// but newline, none of YAML's other line breaks.
fn no_breaks_but_newline(t: &str) -> bool {
    !t.chars()
        .any(|c| (c.is_control() && c != '\n') || is_yaml_break(c))
}

/// A plain scalar that every YAML reader (1.1 or 1.2) reads back as this
/// very string: printable ASCII without YAML's indicators where they
/// matter, and nothing that looks like a number, boolean or null.
fn is_plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    let printable = s.bytes().all(|b| (0x21..0x7f).contains(&b) || b == b' ');
    let indicator = "-?:,[]{}#&*!|>'\"%@`".contains(first);
    let looks_typed = first.is_ascii_digit()
        || (first == '.' || first == '+') && s.len() > 1
        || matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null" | "~"
        );
    printable
        && !indicator
        && !looks_typed
        && !s.starts_with(' ')
        && !s.ends_with([' ', ':'])
        && !s.contains(": ")
        && !s.contains(" #")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(f: impl FnOnce(&mut Yaml<Vec<u8>>) -> io::Result<()>) -> String {
        let mut y = Yaml::new(Vec::new());
        f(&mut y).expect("write");
        String::from_utf8(y.into_inner()).expect("utf-8")
    }

    #[test]
    fn scalars_are_plain_only_when_unambiguous() {
        for plain in [
            "flatcar",
            "/var/lib/x.wasm",
            "https://a.b/c",
            "data:application/wasm;base64,AA==",
        ] {
            assert!(is_plain_safe(plain), "{plain}");
        }
        for quoted in [
            "", "1.0.0", "yes", "No", "null", "- x", "a: b", "a #b", "#x", " x", "x ", "é", "a\nb",
            ":",
        ] {
            assert!(!is_plain_safe(quoted), "{quoted:?}");
        }
    }

    #[test]
    fn texts_become_literal_blocks_with_empty_lines_kept_empty() {
        let y = doc(|y| y.text(2, true, "contents", "[Unit]\nA=b\n\n[Service]\n"));
        assert_eq!(
            y,
            "  - contents: |\n      [Unit]\n      A=b\n\n      [Service]\n"
        );
    }

    #[test]
    fn other_texts_are_quoted_with_yaml_escapes() {
        let y = doc(|y| y.text(0, false, "c", "a\u{2028}b\u{feff}\"\\\n"));
        assert_eq!(y, "c: \"a\\Lb\\uFEFF\\\"\\\\\\n\"\n");
    }
}
