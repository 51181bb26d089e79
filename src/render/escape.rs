//! All systemd quoting and escaping lives here.
//!
//! systemd reads an `Exec*=` line in three steps (systemd.syntax(7),
//! systemd.service(5)): it splits the line into words, undoing double or
//! single quotes and C escapes; it expands `%` specifiers (quoting does not
//! protect `%`, so a literal `%` is `%%`); and at exec time it expands `$VAR`
//! and `${VAR}` (a literal `$` is `$$`). An unquoted lone `;` separates
//! commands, and a continuation line that starts with `#` or `;` is a comment.
//! [`exec_word`] inverts all three steps for one argument.

use std::fmt::Write;

/// Why a string cannot be put into a unit file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EscapeError {
    /// NUL cannot appear in a process argument at all.
    Nul,
}

impl std::fmt::Display for EscapeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EscapeError::Nul => f.write_str("contains a NUL character"),
        }
    }
}

impl std::error::Error for EscapeError {}

/// Characters that need no quoting in a word (after `%`/`$` doubling).
fn is_plain(c: char) -> bool {
    matches!(c, 'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | '@' | '+' | '=' | ':' | ',' | '.' | '/' | '-' | '%' | '$')
}

/// Escapes one argument of an `Exec*=` command line so that systemd hands the
/// process exactly `arg`.
pub fn exec_word(arg: &str) -> Result<String, EscapeError> {
    word(arg, true)
}

/// Quotes an `Environment=` assignment `NAME=value`. `%` is a specifier
/// there too, but `$` is not expanded.
pub fn environment_assignment(name: &str, value: &str) -> Result<String, EscapeError> {
    word(&format!("{name}={value}"), false)
}

/// Escapes `%` in a free-text value (e.g. `Description=`) that must stay on
/// one line; control characters become spaces.
pub fn specifier_text(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .replace('%', "%%")
}

fn word(arg: &str, exec: bool) -> Result<String, EscapeError> {
    if arg.contains('\0') {
        return Err(EscapeError::Nul);
    }
    let quote = arg.is_empty() || !arg.chars().all(is_plain);
    let mut out = String::with_capacity(arg.len() + 2);
    if quote {
        out.push('"');
    }
    for c in arg.chars() {
        match c {
            '%' => out.push_str("%%"),
            '$' if exec => out.push_str("$$"),
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_ascii_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            // C1 controls: `\x85` would be a lone invalid byte, `\u0085` is
            // the UTF-8 character.
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    if quote {
        out.push('"');
    }
    Ok(out)
}

/// Reference parser of systemd's rules, used by the tests to prove that
/// escaping round-trips (the real systemd is the judge in the deploy tests). It reads the value of an `Exec*=` line (continuations
/// already joined) and returns the argv systemd would pass, or `None` where
/// systemd would reject or reinterpret the line.
#[doc(hidden)]
pub fn parse_exec_words(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| " \t\n".contains(*c)) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(words);
        }
        let mut raw: Vec<u8> = Vec::new();
        let mut quoted = false;
        let mut in_quote: Option<char> = None;
        while let Some(c) = chars.next() {
            match (c, in_quote) {
                ('"' | '\'', None) => {
                    in_quote = Some(c);
                    quoted = true;
                }
                (q, Some(open)) if q == open => in_quote = None,
                (' ' | '\t' | '\n', None) => break,
                ('\\', _) => {
                    let e = chars.next()?;
                    match e {
                        'n' => raw.push(b'\n'),
                        't' => raw.push(b'\t'),
                        'r' => raw.push(b'\r'),
                        '\\' => raw.push(b'\\'),
                        '"' => raw.push(b'"'),
                        '\'' => raw.push(b'\''),
                        'u' => {
                            let h: String =
                                [chars.next()?, chars.next()?, chars.next()?, chars.next()?]
                                    .iter()
                                    .collect();
                            let c = char::from_u32(u32::from_str_radix(&h, 16).ok()?)?;
                            if c == '\0' {
                                return None;
                            }
                            let mut buf = [0u8; 4];
                            raw.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        }
                        'x' => {
                            let h: String = [chars.next()?, chars.next()?].iter().collect();
                            let b = u8::from_str_radix(&h, 16).ok()?;
                            if b == 0 {
                                return None;
                            }
                            raw.push(b);
                        }
                        _ => return None,
                    }
                }
                (c, _) => {
                    let mut buf = [0u8; 4];
                    raw.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        if in_quote.is_some() {
            return None;
        }
        let w = String::from_utf8(raw).ok()?;
        if !quoted && w == ";" {
            return None; // a command separator: not an argument
        }
        words.push(unescape_specifiers_and_vars(&w)?);
    }
}

fn unescape_specifiers_and_vars(w: &str) -> Option<String> {
    let mut out = String::new();
    let mut it = w.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '%' => match it.next()? {
                '%' => out.push('%'),
                _ => return None, // a real specifier
            },
            '$' => match it.next()? {
                '$' => out.push('$'),
                _ => return None, // a variable reference
            },
            c => out.push(c),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn table_of_nasty_words() {
        let cases: &[(&str, &str)] = &[
            ("plain", "plain"),
            ("--name", "--name"),
            ("", "\"\""),
            ("a b", "\"a b\""),
            ("100%", "100%%"),
            ("$HOME", "$$HOME"),
            ("${X}", "\"$${X}\""),
            (";", "\";\""),
            ("#x", "\"#x\""),
            ("say \"hi\"", "\"say \\\"hi\\\"\""),
            ("back\\slash", "\"back\\\\slash\""),
            ("line\nbreak", "\"line\\nbreak\""),
            ("tab\there", "\"tab\\there\""),
            ("bell\u{7}", "\"bell\\x07\""),
            ("it's", "\"it's\""),
            ("héllo", "\"héllo\""),
            ("c1\u{85}", "\"c1\\u0085\""),
        ];
        for (input, want) in cases {
            assert_eq!(exec_word(input).as_deref(), Ok(*want), "{input:?}");
            assert_eq!(
                parse_exec_words(want),
                Some(vec![input.to_string()]),
                "{want}"
            );
        }
    }

    #[test]
    fn nul_is_rejected() {
        assert_eq!(exec_word("a\0b"), Err(EscapeError::Nul));
        assert_eq!(environment_assignment("A", "\0"), Err(EscapeError::Nul));
    }

    #[test]
    fn environment_keeps_dollar_but_doubles_percent() {
        assert_eq!(
            environment_assignment("A", "$x 5%").as_deref(),
            Ok("\"A=$x 5%%\"")
        );
    }

    #[test]
    fn description_is_one_line_without_specifiers() {
        assert_eq!(specifier_text("50% of\nthings"), "50%% of things");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]

        #[test]
        fn exec_words_round_trip(argv in proptest::collection::vec("[^\u{0}]{0,12}", 0..8)) {
            let line = argv
                .iter()
                .map(|a| exec_word(a))
                .collect::<Result<Vec<_>, _>>()
                .expect("no NUL");
            let parsed = parse_exec_words(&line.join(" "));
            prop_assert_eq!(parsed, Some(argv));
        }

        #[test]
        fn exec_words_round_trip_on_systemd_metacharacters(
            argv in proptest::collection::vec("[ \t\n\"'\\\\%$;#{}a-z\u{1}\u{7f}é-]{0,10}", 1..6)
        ) {
            let line = argv.iter().map(|a| exec_word(a).expect("no NUL")).collect::<Vec<_>>();
            prop_assert_eq!(parse_exec_words(&line.join(" ")), Some(argv));
        }

        #[test]
        fn escaped_words_are_single_line(arg in "[^\u{0}]{0,40}") {
            let w = exec_word(&arg).expect("no NUL");
            prop_assert!(!w.chars().any(char::is_control), "{:?}", w);
            prop_assert!(!w.starts_with('#') && !w.starts_with(';'));
        }
    }
}
