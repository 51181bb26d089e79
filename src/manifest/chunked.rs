//! A large manifest parsed in pieces on every core. One `toml::from_str`
//! over 10,000 apps spends most of its time faulting in the token and event
//! buffers of the whole document (47 MiB peak for a 1 MB file); pieces of
//! about [`PIECE_BYTES`] parse in parallel with buffers that stay small.
//!
//! Only a document of one clean shape is split: a prelude without apps,
//! then `[app.NAME]` tables, cut before such a header at the start of a
//! line. Each piece is parsed from a copy of the source with everything
//! before it blanked to spaces, so toml's byte spans are those of the
//! whole file. Anything else, and any error in any piece, returns `None`,
//! and the caller parses the whole text in one go: that one parse alone
//! decides errors (their text and place) and every case this shape does
//! not cover. A cut inside a multi-line string or array leaves its piece
//! unterminated, which is an error, so it falls back too.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::schema::{AppSpec, Manifest};

/// Below this a manifest is parsed in one go.
const SPLIT_ABOVE: usize = 256 << 10;
/// About how much text each piece holds, at least.
const PIECE_BYTES: usize = 64 << 10;
/// At most this many pieces: each is parsed with the whole text before it
/// blanked, so their number bounds that overhead (a 9.7 MB manifest of
/// 100,000 apps renders in 2.0 s in 16 pieces, 2.5 s in 64 KiB ones).
const MAX_PIECES: usize = 16;

/// The `[app.NAME]` tables of one piece.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Apps {
    #[serde(default)]
    app: BTreeMap<Spanned<String>, Spanned<AppSpec>>,
}

/// The manifest, parsed in pieces; `None`: parse it in one go instead.
pub fn parse(source: &str) -> Option<Manifest> {
    parse_in(
        source,
        SPLIT_ABOVE,
        PIECE_BYTES.max(source.len() / MAX_PIECES),
    )
}

fn parse_in(source: &str, split_above: usize, piece_bytes: usize) -> Option<Manifest> {
    use rayon::prelude::*;
    if source.len() <= split_above {
        return None;
    }
    let cuts = cuts(source, piece_bytes)?;
    let (prelude, pieces) = cuts.split_first()?;
    // The prelude must not touch `app` at all: even an empty `app = {}`
    // would make every `[app.NAME]` after it an error.
    let prelude_keys: toml::Table = toml::from_str(&source[prelude.clone()]).ok()?;
    if prelude_keys.contains_key("app") {
        return None;
    }
    let mut manifest: Manifest = toml::from_str(&source[prelude.clone()]).ok()?;
    let parsed: Vec<Apps> = pieces
        .par_iter()
        .map(|piece| {
            let mut text = " ".repeat(piece.start);
            text.push_str(&source[piece.clone()]);
            toml::from_str::<Apps>(&text).ok()
        })
        .collect::<Option<_>>()?;
    for piece in parsed {
        for (name, app) in piece.app {
            // The same app in two pieces: one parse decides what it means.
            if manifest.app.insert(name, app).is_some() {
                return None;
            }
        }
    }
    Some(manifest)
}

/// Byte ranges: the prelude, then pieces that each start with an
/// `[app.NAME]` header line. `None` when the text has another table header
/// after the first app (a `[defaults]` late, an `[app]`, spaces inside the
/// brackets…), which one parse must judge.
fn cuts(source: &str, piece_bytes: usize) -> Option<Vec<std::ops::Range<usize>>> {
    let mut starts = Vec::new();
    let mut last = 0;
    let mut offset = 0;
    for line in source.split_inclusive('\n') {
        let at = offset;
        offset += line.len();
        if !line.trim_start().starts_with('[') {
            continue;
        }
        if is_app_header(line) {
            if starts.is_empty() || at - last >= piece_bytes {
                starts.push(at);
                last = at;
            }
        } else if !starts.is_empty() && !line.starts_with("[app.") && !line.starts_with("[[app.") {
            return None;
        }
    }
    let first = *starts.first()?;
    let ends = starts.iter().skip(1).copied().chain([source.len()]);
    let pieces = starts.iter().zip(ends).map(|(&s, e)| s..e);
    Some(std::iter::once(0..first).chain(pieces).collect())
}

/// `[app.NAME]` alone on its line (a comment may follow), NAME a bare key.
fn is_app_header(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("[app.") else {
        return false;
    };
    let Some((name, after)) = rest.split_once(']') else {
        return false;
    };
    let after = after.trim_start_matches([' ', '\t']);
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && (after.is_empty() || after.starts_with(['\n', '\r', '#']))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;

    /// A case's name and what it adds to app `i`.
    type Case = (&'static str, Box<dyn Fn(usize) -> String>);

    fn whole(source: &str) -> Result<Manifest, toml::de::Error> {
        toml::from_str::<Manifest>(source)
    }

    fn big(apps: usize, extra: impl Fn(usize) -> String) -> String {
        let mut s = String::from("version = 1 # the format\n\n[defaults]\nmodule = \"m.wat\"\n\n");
        for i in 0..apps {
            let _ = write!(
                s,
                "[app.a{i}] # app {i}\nargs = [\"--id\", \"{i}\", \"x y\"]\nenv = {{ N = \"{i}\" }}\n\
                 dirs = [{{ host = \"/var/lib/wasm-a{i}\", guest = \"/d\" }}]\n{}\n[app.a{i}.service]\nNice = \"5\"\n\n",
                extra(i)
            );
        }
        s
    }

    #[test]
    fn pieces_give_exactly_what_one_parse_gives_spans_included() {
        let s = big(6000, |_| String::new());
        assert!(s.len() > SPLIT_ABOVE);
        let cuts = cuts(&s, PIECE_BYTES).expect("splits");
        assert!(cuts.len() > 4, "{}", cuts.len());
        let fast = parse(&s).expect("the clean shape splits");
        let slow = whole(&s).expect("valid");
        assert_eq!(format!("{fast:?}"), format!("{slow:?}"));
        let (name, app) = fast.app.iter().last().expect("apps");
        assert_eq!(&s[name.span()], "a999");
        let header = s.find("[app.a999]").expect("header");
        assert!((header..header + 400).contains(&app.span().start));
    }

    #[test]
    fn small_manifests_are_parsed_in_one_go() {
        assert!(parse(&big(10, |_| String::new())).is_none());
    }

    #[test]
    fn every_shape_it_does_not_cover_falls_back() {
        let cases: [Case; 5] = [
            // The same app twice, in two pieces: toml's own error decides.
            (
                "duplicate",
                Box::new(|i| {
                    if i == 5000 {
                        "[app.a1]\nargs = []".into()
                    } else {
                        String::new()
                    }
                }),
            ),
            // A late [defaults] or [app]: one parse judges them.
            (
                "late defaults",
                Box::new(|i| {
                    if i == 4000 {
                        "[defaults]\nmemory = 1".into()
                    } else {
                        String::new()
                    }
                }),
            ),
            (
                "super-table",
                Box::new(|i| {
                    if i == 4000 {
                        "[app]".into()
                    } else {
                        String::new()
                    }
                }),
            ),
            (
                "spaced header",
                Box::new(|i| {
                    if i == 4000 {
                        "[ app.zz ]".into()
                    } else {
                        String::new()
                    }
                }),
            ),
            // An error in any piece.
            (
                "unknown key",
                Box::new(|i| {
                    if i == 5999 {
                        "colour = 1".into()
                    } else {
                        String::new()
                    }
                }),
            ),
        ];
        for (what, extra) in cases {
            let s = big(6000, extra);
            assert!(parse(&s).is_none(), "{what}: must fall back");
        }
        // A prelude that names `app` falls back too: with apps (dotted
        // keys), empty but closed (an inline table), or as a header.
        for prelude in ["app.zz.module = \"m.wat\"\n", "app = {}\n", "[app]\n"] {
            let s = big(6000, |_| String::new()).replacen(
                "[defaults]",
                &format!("{prelude}[defaults]"),
                1,
            );
            assert!(parse(&s).is_none(), "{prelude}");
        }
        let s = big(6000, |_| String::new()).replacen("[defaults]", "app = {}\n[defaults]", 1);
        assert!(
            whole(&s).is_err(),
            "one parse refuses `[app.NAME]` after `app = {{}}`"
        );
    }

    #[test]
    fn a_header_line_inside_a_string_or_an_array_changes_nothing() {
        // Every app carries one, so some cuts land inside a string or an
        // array: those pieces fail and the whole text is parsed in one go.
        let string = |i: usize| format!("description = \"\"\"\n[app.s{i}]\n\"\"\"");
        let array =
            |i: usize| format!("wants = [\n\"x{i}.service\",\n]\n[app.a{i}.unit]\nX = [\n\"1\"\n]");
        for s in [big(6000, string), big(6000, array)] {
            let slow = whole(&s).ok().map(|m| format!("{m:?}"));
            let fast = parse(&s).map(|m| format!("{m:?}"));
            assert!(fast.is_none() || fast == slow);
        }
        let s = big(6000, string);
        assert!(
            whole(&s).is_ok() && parse(&s).is_none(),
            "a cut inside a string falls back"
        );
        let s = big(6000, array);
        assert!(parse(&s).is_some(), "multi-line arrays split fine");
    }

    #[test]
    fn headers_that_may_start_a_piece() {
        assert!(is_app_header("[app.web-1]\n"));
        assert!(is_app_header("[app.web] # c\r\n"));
        assert!(is_app_header("[app.web]"));
        assert!(!is_app_header("[app.web.service]\n"));
        assert!(!is_app_header("[app.\"web\"]\n"));
        assert!(!is_app_header("[app.web] x = 1\n"));
        assert!(!is_app_header("[[app.web]]\n"));
        assert!(!is_app_header(" [app.web]\n"));
    }

    /// Lines a mutation may insert: headers of every kind, string and
    /// array openers and closers, keys that fit or do not.
    const LINES: [&str; 14] = [
        "[app.m]",
        "[app.a1]",
        "[app.a2.service]",
        "[app]",
        "[defaults]",
        "[[app.a3]]",
        "app = {}",
        "description = \"\"\"",
        "\"\"\"",
        "description = '''",
        "args = [",
        "]",
        "memory = 5",
        "X = \"1\"",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(400))]
        /// Whatever the text, the pieces agree with one parse or step
        /// aside: never a different manifest, never an accepted error.
        #[test]
        fn pieces_never_disagree_with_one_parse(
            apps in 4usize..30,
            edits in proptest::collection::vec((0usize..1000, 0usize..LINES.len(), proptest::bool::ANY), 0..4),
            piece in 40usize..400,
        ) {
            let mut lines: Vec<String> = big(apps, |_| String::new()).lines().map(str::to_owned).collect();
            for (at, line, insert) in edits {
                let at = at % lines.len();
                if insert {
                    lines.insert(at, LINES[line].to_owned());
                } else {
                    lines.remove(at);
                }
            }
            let s = lines.join("\n");
            let fast = parse_in(&s, 0, piece).map(|m| format!("{m:?}"));
            let slow = whole(&s).ok().map(|m| format!("{m:?}"));
            proptest::prop_assert!(fast.is_none() || fast == slow, "{s}");
        }
    }
}
