//! The tests' own reader of systemd's unit-file syntax, written from
//! systemd's `conf-parser.c` and `extract-word.c` (the real manager is the
//! judge in tests/all/real_systemd.rs; this reader lets every golden case be
//! checked by meaning without one).
#![allow(dead_code)]

/// The logical `(section, key, value)` entries of a unit file, read as
/// systemd's `config_parse` reads them: comment lines (first non-blank
/// character `#` or `;`) are skipped everywhere, also between continuation
/// lines; a line whose backslashes leave it escaped at its end continues on
/// the next, its last backslash becoming a space; keys and values are
/// stripped of surrounding whitespace.
pub fn entries(text: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut continuation: Option<String> = None;
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    for line in body.split('\n') {
        let trimmed = line.trim_start_matches(WHITESPACE);
        if trimmed.starts_with(['#', ';']) {
            continue;
        }
        let mut joined = continuation.take().unwrap_or_default();
        joined.push_str(line);
        if ends_escaped(&joined) {
            joined.pop();
            joined.push(' ');
            continuation = Some(joined);
            continue;
        }
        let l = joined.trim_matches(WHITESPACE);
        if l.is_empty() {
            continue;
        }
        if let Some(name) = l.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            name.clone_into(&mut section);
            continue;
        }
        if let Some((k, v)) = l.split_once('=') {
            out.push((
                section.clone(),
                k.trim_matches(WHITESPACE).to_owned(),
                v.trim_matches(WHITESPACE).to_owned(),
            ));
        }
    }
    out
}

const WHITESPACE: &[char] = &[' ', '\t', '\n', '\r'];

fn ends_escaped(s: &str) -> bool {
    let mut escaped = false;
    for c in s.chars() {
        escaped = if escaped { false } else { c == '\\' };
    }
    escaped
}

/// All values of `key` in `[section]`, in order.
pub fn values(text: &str, section: &str, key: &str) -> Vec<String> {
    entries(text)
        .into_iter()
        .filter(|(s, k, _)| s == section && k == key)
        .map(|(_, _, v)| v)
        .collect()
}

/// Reference parser of `Exec*=` lines: it reads the value (continuations
/// already joined) and returns the argv systemd would pass, or `None` where
/// systemd would reject or reinterpret the line.
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
