//! Property tests of the escaping module against the tests' own reader of
//! systemd's syntax (tests/common/systemd_syntax.rs): whatever goes in,
//! systemd reads back exactly that, or the value is refused.

use proptest::prelude::*;
use wasmunit::unit::escape::{ExecWord, FreeText, HostPath, Key, RawValue, Value};
use wasmunit::unit::file::{Line, Section, UnitFile};

use crate::common::systemd_syntax::{entries, parse_exec_words, values};

fn words(argv: &[String]) -> Vec<ExecWord> {
    argv.iter()
        .map(|a| ExecWord::new(a).expect("no NUL"))
        .collect()
}

/// A unit with the given command line and a sentinel line after it.
fn unit_with(lines: Vec<Line>) -> String {
    let mut s = Section::new("Service");
    s.lines = lines;
    s.fixed("Sentinel", "last");
    UnitFile {
        name: "p.service".into(),
        header: vec![],
        sections: vec![s],
    }
    .render()
    .expect("render")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn exec_words_round_trip(argv in proptest::collection::vec("[^\u{0}]{0,12}", 1..8)) {
        let text = unit_with(vec![Line::Command(Key::fixed("ExecStart"), vec![words(&argv)])]);
        let v = values(&text, "Service", "ExecStart");
        prop_assert_eq!(v.len(), 1);
        prop_assert_eq!(parse_exec_words(&v[0]), Some(argv));
        prop_assert_eq!(values(&text, "Service", "Sentinel"), vec!["last".to_owned()]);
    }

    #[test]
    fn exec_words_round_trip_on_systemd_metacharacters(
        argv in proptest::collection::vec("[ \t\n\"'\\\\%$;#{}a-z\u{1}\u{7f}\u{85}\u{2028}\u{2029}\u{feff}é-]{0,10}", 1..6),
        split in any::<bool>(),
    ) {
        // One group per line (continuations) or all on one line.
        let groups = if split { argv.iter().map(|a| words(std::slice::from_ref(a))).collect() } else { vec![words(&argv)] };
        let text = unit_with(vec![Line::Command(Key::fixed("ExecStart"), groups)]);
        let v = values(&text, "Service", "ExecStart");
        prop_assert_eq!(parse_exec_words(&v[0]), Some(argv));
        prop_assert_eq!(values(&text, "Service", "Sentinel"), vec!["last".to_owned()]);
    }

    #[test]
    fn escaped_words_are_single_line(arg in "[^\u{0}]{0,40}") {
        let w = ExecWord::new(&arg).expect("no NUL");
        prop_assert!(!w.as_str().chars().any(|c| c.is_control() || wasmunit::unit::escape::is_yaml_break(c)), "{:?}", w);
        prop_assert!(!w.as_str().starts_with('#') && !w.as_str().starts_with(';'));
    }
}

/// Runs `property` on `cases` inputs drawn from `strategy`; it returns
/// whether the constructor under test accepted its input. Fails on a
/// counterexample, and unless at least `min_accepted` inputs were accepted
/// and at least one refused: a constructor that refused everything (or
/// nothing) would otherwise pass a property that only looks at accepted
/// values.
fn accepted_and_refused<S: Strategy>(
    name: &str,
    cases: u32,
    min_accepted: usize,
    strategy: S,
    property: impl Fn(S::Value) -> Result<bool, TestCaseError>,
) {
    let (accepted, refused) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(cases))
        .run(&strategy, |v| {
            let counter = if property(v)? { &accepted } else { &refused };
            counter.set(counter.get() + 1);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let (accepted, refused) = (accepted.get(), refused.get());
    eprintln!("{name}: {accepted} accepted, {refused} refused");
    assert!(
        accepted >= min_accepted && refused > 0,
        "{name}: {accepted} inputs accepted (at least {min_accepted} expected), {refused} refused"
    );
}

#[test]
fn raw_and_free_text_read_back_exactly_or_are_refused() {
    let text = |value: Value| unit_with(vec![Line::Entry(Key::fixed("X"), value)]);
    let strategy = "[ \t\\\\#;%a-z\u{85}\u{2028}\u{feff}\n]{0,12}";
    accepted_and_refused("RawValue::new", 3000, 600, strategy, |v: String| {
        let Ok(raw) = RawValue::new(&v) else {
            let why = v.contains(['\n', '\t', '\u{85}'])
                || v.starts_with(' ')
                || v.ends_with(' ')
                || v.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1;
            prop_assert!(why, "refused without a reason: {:?}", v);
            return Ok(false);
        };
        let t = text(Value::raw(&raw));
        prop_assert_eq!(values(&t, "Service", "X"), vec![v.clone()]);
        prop_assert_eq!(values(&t, "Service", "Sentinel"), vec!["last".to_owned()]);
        Ok(true)
    });
    accepted_and_refused("FreeText::new", 3000, 600, strategy, |v: String| {
        let Ok(t) = FreeText::new(&v) else {
            return Ok(false);
        };
        // Free text doubles `%`: systemd's specifier expansion undoes it.
        let read = values(&text(Value::text(&t)), "Service", "X");
        prop_assert_eq!(read, vec![v.replace('%', "%%")]);
        Ok(true)
    });
}

#[test]
fn host_paths_read_back_from_path_lists() {
    let strategy = "(/[ a-zé\"\\\\%:#;$'-]{1,8}){1,3}";
    accepted_and_refused("HostPath::new", 3000, 600, strategy, |p: String| {
        let Ok(path) = HostPath::new(&p) else {
            return Ok(false);
        };
        let t = unit_with(vec![Line::Entry(
            Key::fixed("ReadWritePaths"),
            Value::path(&path),
        )]);
        let v = values(&t, "Service", "ReadWritePaths");
        prop_assert_eq!(v.len(), 1);
        prop_assert_eq!(unquote_path(&v[0]), Some(p.replace('%', "%%")));
        Ok(true)
    });
}

/// systemd's path-list reading of one entry (`EXTRACT_UNQUOTE`): quotes
/// removed, the backslash of `\x` dropped.
fn unquote_path(v: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = v.chars();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' => out.push(chars.next()?),
            ' ' if !quoted => return None,
            c => out.push(c),
        }
    }
    (!quoted).then_some(out)
}

#[test]
fn comments_between_continuations_are_skipped_as_systemd_does() {
    let text = "[Service]\nExecStart=/bin/a \\\n# comment\n    b\nX=1\n";
    assert_eq!(
        entries(text),
        [
            (
                "Service".to_owned(),
                "ExecStart".to_owned(),
                "/bin/a      b".to_owned()
            ),
            ("Service".to_owned(), "X".to_owned(), "1".to_owned()),
        ]
    );
    let swallowed = "[Unit]\nDescription=C:\\\nAfter=x\n";
    assert_eq!(values(swallowed, "Unit", "After"), Vec::<String>::new());
}
