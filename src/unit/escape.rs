//! All systemd quoting and escaping lives here, and so do the only types a
//! unit file accepts: a [`Value`] after `Key=`, an [`ExecWord`] of a command
//! line, a [`Key`], a [`Comment`]. Each kind of setting has its own
//! constructor with systemd's rules for it, so "already escaped" is a type,
//! not a promise.
//!
//! How systemd reads a line (systemd.syntax(7), `conf-parser.c`,
//! `extract-word.c`): a line whose backslashes leave it "escaped" at the end
//! (an odd run of trailing backslashes) continues on the next line; a line
//! starting with `#` or `;` is a comment, also between continuation lines;
//! the value is stripped of surrounding whitespace. Then each setting parses
//! its value: `Exec*=` and `Environment=` split words, undo quotes and C
//! escapes, expand `%` specifiers (quoting does not protect `%`: write `%%`)
//! and, in `Exec*=` only, `$VAR` at exec time (write `$$`); path lists
//! (`ReadWritePaths=`) undo quotes and drop the backslash of `\x`, then
//! expand specifiers; free text (`Description=`) only expands specifiers.

use crate::invalid::Invalid;
use std::borrow::Cow;
use std::fmt::Write;

/// Why a string cannot be put into a unit file as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueError {
    /// NUL cannot appear in a unit file or a process argument at all.
    Nul,
    /// A control character (newline, tab, …) in a one-line value.
    Control(char),
    /// An odd run of trailing backslashes: systemd joins the next line.
    TrailingBackslash,
    /// Leading or trailing whitespace, which systemd strips.
    SurroundingSpace,
    /// Not a `CamelCase` key.
    BadKey,
}

impl std::fmt::Display for ValueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ValueError::Nul => f.write_str("contains a NUL character, which no unit file or process argument can carry"),
            ValueError::Control(c) => write!(
                f,
                "contains the control character {}; a unit file value is one line",
                c.escape_unicode()
            ),
            ValueError::TrailingBackslash => f.write_str(
                "ends with a backslash, which systemd reads as a line continuation (the next line would be swallowed)",
            ),
            ValueError::SurroundingSpace => f.write_str(
                "starts or ends with whitespace, which systemd strips",
            ),
            ValueError::BadKey => f.write_str("is not a systemd key (CamelCase letters and digits)"),
        }
    }
}

impl std::error::Error for ValueError {}

/// Characters that break a line for some YAML reader (go-yaml, which Butane
/// uses, treats NEL, LS and PS as line breaks) or that readers drop (BOM).
/// They never appear raw in an escaped word; in other text they make the
/// Butane writer fall back to an escaped string.
pub fn is_yaml_break(c: char) -> bool {
    matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}')
}

/// Whether systemd would join the next line to one ending in `s`.
fn continues_line(s: &str) -> bool {
    s.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

/// The checks every one-line value passes: what systemd would otherwise read
/// differently from what was written.
fn check_line(s: &str) -> Result<(), ValueError> {
    if let Some(c) = s.chars().find(|c| c.is_control()) {
        return Err(if c == '\0' {
            ValueError::Nul
        } else {
            ValueError::Control(c)
        });
    }
    if continues_line(s) {
        return Err(ValueError::TrailingBackslash);
    }
    if s.starts_with([' ', '\t']) || s.ends_with([' ', '\t']) {
        return Err(ValueError::SurroundingSpace);
    }
    Ok(())
}

/// A value after `Key=`, one physical line, in systemd's syntax for its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value(Cow<'static, str>);

impl Value {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A value wasmunit spells itself (`yes`, `strict`, a unit name it
    /// generated). Checked in debug builds; every such constant is rendered
    /// by the tests.
    pub fn fixed(s: &'static str) -> Value {
        debug_assert!(check_line(s).is_ok() && !s.contains('%'), "{s:?}");
        Value(Cow::Borrowed(s))
    }

    /// A value wasmunit builds from validated plain parts (a module path
    /// named by its hash, `tcp:PORT`, `wasmunit/APP`): needs no escaping in
    /// any setting. Checked in debug builds.
    pub fn plain(s: String) -> Value {
        debug_assert!(
            s.chars().all(|c| is_plain(c) && c != '%' && c != '$'),
            "{s:?}"
        );
        Value(Cow::Owned(s))
    }

    /// An IP address and port (`ListenStream=`): digits, dots, colons and
    /// an IPv6 address's brackets. A scope (`%2`, which Rust parses) would
    /// be a specifier: the plan refuses it, and `%` is escaped all the same.
    pub fn socket_address(a: std::net::SocketAddr) -> Value {
        Value(Cow::Owned(a.to_string().replace('%', "%%")))
    }

    pub fn number(n: u64) -> Value {
        Value(Cow::Owned(n.to_string()))
    }

    /// Free text (`Description=`, `OnCalendar=`): specifiers escaped.
    pub fn text(t: &FreeText) -> Value {
        Value(Cow::Owned(t.0.replace('%', "%%")))
    }

    /// A `Description=` wasmunit words itself around names and paths:
    /// control characters replaced, specifiers escaped.
    pub fn described(text: &str) -> Value {
        Value::text(&FreeText::sanitised(text))
    }

    /// A checked pass-through value, written as the user wrote it.
    pub fn raw(r: &RawValue) -> Value {
        Value(Cow::Owned(r.0.clone()))
    }

    /// A space-separated list of unit names (`After=`, `Wants=`).
    pub fn unit_names<'a>(names: impl IntoIterator<Item = &'a UnitName>) -> Value {
        let v: Vec<&str> = names.into_iter().map(UnitName::as_str).collect();
        Value(Cow::Owned(v.join(" ")))
    }

    /// One entry of a path list (`ReadWritePaths=`, `ReadOnlyPaths=`):
    /// quoted when needed, `\` and `"` escaped (the parser drops the
    /// backslash of `\x`), specifiers doubled.
    pub fn path(p: &HostPath) -> Value {
        let s = p.as_str();
        if s.chars().all(is_plain) {
            return Value(Cow::Owned(s.replace('%', "%%")));
        }
        let mut out = String::with_capacity(s.len() + 2);
        out.push('"');
        for c in s.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '%' => out.push_str("%%"),
                c => out.push(c),
            }
        }
        out.push('"');
        Value(Cow::Owned(out))
    }

    /// A `StateDirectory=`, `CacheDirectory=`, `LogsDirectory=` or
    /// `RuntimeDirectory=` entry: a plain relative name (systemd splits the
    /// entry again at `:`, symlink syntax, with its own escapes).
    pub fn exec_directory(d: &ExecDirectory) -> Value {
        Value(Cow::Owned(d.rel.clone()))
    }

    /// `Environment=` assignments, each one quoted word: C escapes, `%`
    /// doubled, `$` kept (not expanded there).
    pub fn environment<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Value, ValueError> {
        let mut out = String::new();
        for (name, value) in pairs {
            if !out.is_empty() {
                out.push(' ');
            }
            word_into(&mut out, &format!("{name}={value}"), false)?;
        }
        Ok(Value(Cow::Owned(out)))
    }
}

/// A key of a unit section: wasmunit's own, or a checked pass-through key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(Cow<'static, str>);

impl Key {
    pub const fn fixed(s: &'static str) -> Key {
        Key(Cow::Borrowed(s))
    }

    /// A key as written in a manifest: `CamelCase` letters and digits.
    pub fn parse(s: &str) -> Result<Key, ValueError> {
        let valid = s.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && s.chars().all(|c| c.is_ascii_alphanumeric());
        if valid {
            Ok(Key(Cow::Owned(s.to_owned())))
        } else {
            Err(ValueError::BadKey)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A comment line's text: anything, with line breaks and other control or
/// YAML-breaking characters shown as escapes so the comment stays one line
/// in the unit file and in YAML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment(String);

impl Comment {
    pub fn new(text: &str) -> Comment {
        if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Comment(text.to_owned());
        }
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            if c.is_control() || is_yaml_break(c) {
                let _ = write!(out, "{}", c.escape_unicode());
            } else {
                out.push(c);
            }
        }
        Comment(out)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Free text for a one-line setting: no control characters, no trailing
/// continuation, no surrounding whitespace; `%` is allowed (escaped when
/// written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreeText(String);

impl FreeText {
    pub fn new(s: &str) -> Result<FreeText, ValueError> {
        check_line(s)?;
        Ok(FreeText(s.to_owned()))
    }

    /// Text wasmunit composed itself (from a name and a path): made safe
    /// rather than refused: control characters become U+FFFD, surrounding
    /// whitespace and trailing backslashes are dropped.
    pub fn sanitised(s: &str) -> FreeText {
        let t: String = s
            .chars()
            .map(|c| if c.is_control() { '\u{fffd}' } else { c })
            .collect();
        FreeText(t.trim().trim_end_matches('\\').trim_end().to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A pass-through value in systemd's own syntax, checked: systemd must read
/// back exactly this text after `Key=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawValue(String);

impl RawValue {
    pub fn new(s: &str) -> Result<RawValue, ValueError> {
        check_line(s)?;
        Ok(RawValue(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A unit name wasmunit generated from a validated app name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnitName(String);

impl UnitName {
    /// `base` must be plain (an `AppName`-derived name or a constant).
    pub fn new(base: &str) -> UnitName {
        debug_assert!(base.chars().all(is_plain) && !base.contains(['%', '$']));
        UnitName(base.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An absolute, normalized host path that every setting it reaches can
/// carry: systemd's path lists (no control characters, components of at
/// most 255 bytes) and wasmtime's `--dir HOST::GUEST` (no `::`, no trailing
/// `:`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostPath(String);

impl HostPath {
    pub fn new(p: &str) -> Result<HostPath, Invalid> {
        let shown = p.escape_debug();
        if !p.starts_with('/') {
            return Err(Invalid::from(format!(
                "host path `{shown}` must be absolute"
            )));
        }
        if p == "/" {
            return Err(Invalid::from(
                "granting the whole root filesystem is not allowed; grant the folder the app needs"
                    .to_owned(),
            ));
        }
        if p.ends_with('/') {
            return Err(Invalid::from(format!(
                "host path `{shown}` must not end with '/'"
            )));
        }
        if p.split('/')
            .skip(1)
            .any(|seg| seg.is_empty() || seg == "." || seg == "..")
        {
            return Err(Invalid::from(format!(
                "host path `{shown}` must be normalized (no //, . or .. segments)"
            )));
        }
        if let Some(c) = p.chars().find(|c| c.is_control()) {
            return Err(Invalid::from(format!(
                "host path `{shown}` contains the control character {}, which systemd's \
                 ReadWritePaths=/ReadOnlyPaths= cannot carry",
                c.escape_unicode()
            )));
        }
        if p.contains("::") || p.ends_with(':') {
            return Err(Invalid::from(format!(
                "host path `{shown}` contains `::` or ends with `:`; wasmtime's `--dir HOST::GUEST` \
                 could not tell where the host path ends"
            )));
        }
        if p.split('/').any(|seg| seg.len() > 255) || p.len() >= 4096 {
            return Err(Invalid::from(format!(
                "host path `{shown}` is longer than Linux allows (255 bytes per name, 4095 in all)"
            )));
        }
        Ok(HostPath(p.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for this path and everything below it.
    pub fn is_within(&self, tree: &str) -> bool {
        within(&self.0, tree)
    }
}

/// `path` is `tree` or below it, on component boundaries (`/a/bc` is not
/// within `/a/b`; everything absolute is within `/`).
pub fn within(path: &str, tree: &str) -> bool {
    (tree == "/" && path.starts_with('/'))
        || path == tree
        || path
            .strip_prefix(tree)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// A folder systemd creates for the service and hands to its dynamic
/// user at start: `StateDirectory=` below /var/lib and its siblings, when
/// the name is plain enough for systemd's second split at `:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecDirectory {
    /// The setting: `StateDirectory`, `CacheDirectory`, …
    pub key: &'static str,
    /// Below the tree, e.g. `app/db` for /var/lib/app/db.
    rel: String,
}

/// The trees systemd manages per service, and the setting for each.
pub const EXEC_DIRECTORY_TREES: [(&str, &str); 4] = [
    ("/var/lib", "StateDirectory"),
    ("/var/cache", "CacheDirectory"),
    ("/var/log", "LogsDirectory"),
    ("/run", "RuntimeDirectory"),
];

/// Why a host path below a managed tree cannot be an [`ExecDirectory`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecDirectoryError {
    /// Not below any tree of [`EXEC_DIRECTORY_TREES`].
    Outside,
    /// Below one, but systemd would read the name differently.
    NotPlain { key: &'static str },
    /// /var/lib/private and the like: systemd's own for dynamic users.
    Reserved { key: &'static str },
}

impl ExecDirectory {
    pub fn new(host: &HostPath) -> Result<ExecDirectory, ExecDirectoryError> {
        let (tree, key) = EXEC_DIRECTORY_TREES
            .iter()
            .find(|(tree, _)| host.is_within(tree) && host.as_str() != *tree)
            .ok_or(ExecDirectoryError::Outside)?;
        let rel = &host.as_str()[tree.len() + 1..];
        if !rel
            .chars()
            .all(|c| is_plain(c) && c != ':' && c != '%' && c != '$')
        {
            return Err(ExecDirectoryError::NotPlain { key });
        }
        // systemd keeps a dynamic user's folders below `private/`.
        if rel == "private" || rel.starts_with("private/") {
            return Err(ExecDirectoryError::Reserved { key });
        }
        Ok(ExecDirectory {
            key,
            rel: rel.to_owned(),
        })
    }

    pub fn rel(&self) -> &str {
        &self.rel
    }
}

/// Characters that need no quoting in a word (after `%`/`$` doubling).
fn is_plain(c: char) -> bool {
    matches!(c, 'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | '@' | '+' | '=' | ':' | ',' | '.' | '/' | '-' | '%' | '$')
}

/// One argument of an `Exec*=` command line, escaped so that systemd hands
/// the process exactly the string it was made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecWord(String);

impl ExecWord {
    pub fn new(arg: &str) -> Result<ExecWord, ValueError> {
        let mut out = String::with_capacity(arg.len() + 2);
        word_into(&mut out, arg, true)?;
        Ok(ExecWord(out))
    }

    /// The program path: absolute, and plain (systemd refuses quotes,
    /// backslashes and control characters there).
    pub fn program(path: &'static str) -> ExecWord {
        debug_assert!(path.starts_with('/') && path.chars().all(is_plain));
        ExecWord(path.to_owned())
    }

    /// `+PATH`: a program systemd runs with full privileges, outside the
    /// unit's sandbox and user (systemd.service(5), "ExecStart=").
    pub fn privileged_program(path: &'static str) -> ExecWord {
        debug_assert!(path.starts_with('/') && path.chars().all(is_plain));
        ExecWord(format!("+{path}"))
    }

    /// `-PATH`: a program whose failure systemd ignores (the command counts
    /// as done whatever its exit status).
    pub fn program_ignoring_failure(path: &'static str) -> ExecWord {
        debug_assert!(path.starts_with('/') && path.chars().all(is_plain));
        ExecWord(format!("-{path}"))
    }

    /// A constant plain argument (`-c`).
    pub fn program_arg(arg: &'static str) -> ExecWord {
        debug_assert!(arg.chars().all(is_plain) && !arg.contains(['%', '$']));
        ExecWord(arg.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn word_into(out: &mut String, arg: &str, exec: bool) -> Result<(), ValueError> {
    if arg.contains('\0') {
        return Err(ValueError::Nul);
    }
    // Most words need nothing at all.
    if !arg.is_empty()
        && arg
            .bytes()
            .all(|b| is_plain(b as char) && b != b'%' && b != b'$')
    {
        out.push_str(arg);
        return Ok(());
    }
    let quote = arg.is_empty() || !arg.chars().all(is_plain);
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
            // C1 controls and YAML line breaks: `\x85` would be a lone
            // invalid byte, `\u0085` is the UTF-8 character.
            c if c.is_control() || is_yaml_break(c) => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    if quote {
        out.push('"');
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec(s: &str) -> String {
        ExecWord::new(s).expect("no NUL").0
    }

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
            ("ends\\", "\"ends\\\\\""),
            ("line\nbreak", "\"line\\nbreak\""),
            ("tab\there", "\"tab\\there\""),
            ("bell\u{7}", "\"bell\\x07\""),
            ("it's", "\"it's\""),
            ("héllo", "\"héllo\""),
            ("c1\u{85}", "\"c1\\u0085\""),
            (
                "ls\u{2028}ps\u{2029}bom\u{feff}",
                "\"ls\\u2028ps\\u2029bom\\ufeff\"",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(exec(input), *want, "{input:?}");
        }
    }

    #[test]
    fn nul_is_rejected() {
        assert_eq!(ExecWord::new("a\0b"), Err(ValueError::Nul));
        assert_eq!(Value::environment([("A", "\0")]), Err(ValueError::Nul));
    }

    #[test]
    fn environment_keeps_dollar_but_doubles_percent() {
        assert_eq!(
            Value::environment([("A", "$x 5%"), ("B", "1")]).map(|v| v.as_str().to_owned()),
            Ok("\"A=$x 5%%\" B=1".to_owned())
        );
    }

    #[test]
    fn odd_trailing_backslashes_continue_a_line() {
        assert!(continues_line("C:\\"));
        assert!(!continues_line("C:\\\\"));
        assert!(continues_line("a\\\\\\"));
        assert!(!continues_line("a\\b"));
        assert_eq!(FreeText::new("C:\\"), Err(ValueError::TrailingBackslash));
        assert!(FreeText::new("C:\\\\").is_ok());
        assert_eq!(RawValue::new("5\\"), Err(ValueError::TrailingBackslash));
        assert_eq!(RawValue::new(" 5"), Err(ValueError::SurroundingSpace));
        assert_eq!(RawValue::new("a\nb"), Err(ValueError::Control('\n')));
        assert!(RawValue::new("#not a comment after Key=").is_ok());
        assert!(RawValue::new("").is_ok());
    }

    #[test]
    fn text_doubles_specifiers_only() {
        let t = FreeText::new("50% of \"things\" $HOME").expect("valid");
        assert_eq!(Value::text(&t).as_str(), "50%% of \"things\" $HOME");
    }

    #[test]
    fn paths_quote_what_needs_it() {
        let p = |s: &str| {
            Value::path(&HostPath::new(s).expect("valid"))
                .as_str()
                .to_owned()
        };
        assert_eq!(p("/srv/data-1"), "/srv/data-1");
        assert_eq!(p("/srv/my data"), "\"/srv/my data\"");
        assert_eq!(p("/mnt/données"), "\"/mnt/données\"");
        assert_eq!(p("/a\"b\\c%d"), "\"/a\\\"b\\\\c%%d\"");
        assert_eq!(p("/100%"), "/100%%");
    }

    #[test]
    fn host_paths_refuse_only_what_no_tool_carries() {
        for ok in [
            "/var/lib/hello",
            "/srv/my data",
            "/mnt/données",
            "/a:b",
            "/#x",
            "/a;b",
            "/a\\b",
        ] {
            assert!(HostPath::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "relative", "/", "/a/../b", "/a//b", "/a/", "/a\nb", "/a::b", "/a:", "/a\u{85}",
        ] {
            assert!(HostPath::new(bad).is_err(), "{bad:?}");
        }
        assert!(HostPath::new(&format!("/{}", "x".repeat(256))).is_err());
    }

    #[test]
    fn exec_directories_only_for_plain_names_below_managed_trees() {
        let d = |p: &str| ExecDirectory::new(&HostPath::new(p).expect("valid"));
        let key = |p: &str| d(p).map(|e| (e.key, e.rel));
        assert_eq!(
            key("/var/lib/app"),
            Ok(("StateDirectory", "app".to_owned()))
        );
        assert_eq!(
            key("/var/lib/app/sub"),
            Ok(("StateDirectory", "app/sub".to_owned()))
        );
        assert_eq!(key("/var/cache/c"), Ok(("CacheDirectory", "c".to_owned())));
        assert_eq!(key("/var/log/l"), Ok(("LogsDirectory", "l".to_owned())));
        assert_eq!(key("/run/r"), Ok(("RuntimeDirectory", "r".to_owned())));
        let not_plain = Err(ExecDirectoryError::NotPlain {
            key: "StateDirectory",
        });
        assert_eq!(d("/var/lib/my data"), not_plain);
        assert_eq!(d("/var/lib/a:b"), not_plain);
        assert_eq!(d("/var/lib/a$b"), not_plain);
        assert_eq!(
            d("/var/lib/private/x"),
            Err(ExecDirectoryError::Reserved {
                key: "StateDirectory"
            })
        );
        assert_eq!(d("/var/lib"), Err(ExecDirectoryError::Outside));
        assert_eq!(d("/var/library"), Err(ExecDirectoryError::Outside));
        assert_eq!(d("/srv/app"), Err(ExecDirectoryError::Outside));
    }

    #[test]
    fn comments_stay_one_line() {
        assert_eq!(Comment::new("a\nb\u{2028}c").as_str(), "a\\u{a}b\\u{2028}c");
    }
}
