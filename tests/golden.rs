//! Golden tests: every `tests/cases/*.toml` is a real manifest whose
//! `## assert-…` comment lines state what rendering it must do (in the
//! manner of Quadlet's test files). The full output is pinned next to it:
//! `<name>.out` (every written file) or `<name>.err` (stderr of a failure).
//! `BLESS=1 cargo test --test golden` rewrites the pinned files; CI never does.
//!
//! wasmunit's own units (wasmunit.target, the follow unit and its script, the
//! sysupdate drop-in) are the same in every render, so they are pinned once:
//! the test `_shared` compares them, as `basic.toml` renders them, with
//! `_shared.out`. A case's `.out` shows each of them that its output has
//! byte for byte as one line `… wasmunit's own: LABEL (tests/cases/_shared.out)`,
//! and everything else byte for byte: a case whose own units differ shows
//! them in full, so it fails.
//!
//! Assertions:
//!   ## args ARG…                         extra arguments to `wasmunit render`
//!   ## assert-failed                     exit status 1 and nothing written
//!   ## assert-stderr-contains TEXT       (may repeat)
//!   ## !assert-stderr-contains TEXT      (a secret, say, never shown)
//!   ## assert-file NAME / ## !assert-file NAME
//!   ## assert-key-is UNIT SECTION KEY VALUE…   all values of KEY, in order
//!   ## assert-key-contains UNIT SECTION KEY VALUE   one of the values
//!   ## !assert-key UNIT SECTION KEY      KEY absent
//!   ## assert-argv UNIT ARG…             ExecStart parsed by systemd's rules
//!   ## assert-butane PATH VALUE          a scalar of butane.yaml (dots, list indices)

use std::fmt::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use libtest_mimic::{Arguments, Failed, Trial};

mod common;
use common::{shell_words, unit_values};

fn main() {
    let args = Arguments::from_args();
    let dir = common::repo().join("tests/cases");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/cases")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no golden cases found");
    let shared_out = dir.join(format!("{SHARED}.out"));
    let mut trials = vec![Trial::test(SHARED, move || {
        common::compare_snapshot(&shared_out, &shared_golden(shared_blocks()?))
    })];
    trials.extend(cases.into_iter().map(|p| {
        let name = p.file_stem().expect("stem").to_string_lossy().into_owned();
        Trial::test(name, move || run_case(&p))
    }));
    libtest_mimic::run(&args, trials).exit();
}

fn directives(case: &Path) -> Result<Vec<Vec<String>>, Failed> {
    let text = std::fs::read_to_string(case)?;
    Ok(text
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("## "))
        .map(shell_words)
        .collect::<Result<_, _>>()?)
}

/// `wasmunit render CASE --out OUT/out` with the case's `## args`, its cache
/// in `OUT/cache`.
fn render(case: &Path, directives: &[Vec<String>], out: &Path) -> std::io::Result<Output> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wasmunit"));
    cmd.current_dir(case.parent().expect("parent"))
        .arg("render")
        .arg(case.file_name().expect("name"))
        .arg("--out")
        .arg(out.join("out"))
        .env("WASMUNIT_CACHE_DIR", out.join("cache"));
    for d in directives.iter().filter(|d| d[0] == "args") {
        cmd.args(&d[1..]);
    }
    cmd.output()
}

fn run_case(case: &Path) -> Result<(), Failed> {
    let directives = directives(case)?;
    let out = tempfile::tempdir()?;
    let out_dir = out.path().join("out");
    let output = render(case, &directives, out.path())?;
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let code = output.status.code();
    let expect_fail = directives.iter().any(|d| d[0] == "assert-failed");

    let files = read_out_dir(&out_dir);
    let shown = || {
        format!(
            "exit {code:?}\nstderr:\n{stderr}\nfiles: {:?}",
            files.iter().map(|f| &f.0).collect::<Vec<_>>()
        )
    };
    if expect_fail {
        if code != Some(1) {
            return Err(format!("expected exit status 1\n{}", shown()).into());
        }
        if out_dir.exists() {
            return Err(
                format!("a failing render wrote {}\n{}", out_dir.display(), shown()).into(),
            );
        }
        if stderr.contains("panicked") {
            return Err(format!("wasmunit panicked\n{}", shown()).into());
        }
    } else if code != Some(0) {
        return Err(format!("render failed\n{}", shown()).into());
    }

    let rendered = Rendered {
        files: &files,
        stderr: &stderr,
        shown: &shown,
    };
    for d in &directives {
        rendered.check(d)?;
    }

    if !expect_fail {
        butane_embeds_the_unit_files(&files)?;
        stdout_is_the_written_fragment(case, &directives, &files, &out.path().join("cache"))?;
        status_names_the_rendered_units(case, &files)?;
    }

    // The pinned output: all of it, but wasmunit's own units, which
    // `_shared.out` pins once, each shown as one line.
    let (snap_path, actual) = if expect_fail {
        (case.with_extension("err"), stderr.clone())
    } else {
        let full = concatenated(&files);
        (
            case.with_extension("out"),
            without_shared(&full, shared_blocks()?)?,
        )
    };
    common::compare_snapshot(&snap_path, &actual)
}

/// Every written file, each after a `=== NAME` line.
fn concatenated(files: &[(String, String)]) -> String {
    let mut s = String::new();
    for (name, text) in files {
        let _ = write!(s, "=== {name}\n{text}");
    }
    s
}

/// The case whose render is the reference for wasmunit's own units; the
/// test (and golden file) that pins them.
const REFERENCE_CASE: &str = "basic.toml";
const SHARED: &str = "_shared";
/// Starts every placeholder line, and is nowhere in a render.
const OWN: &str = "wasmunit's own: ";

/// Whole lines every render writes the same, shown in a case's `.out` as
/// the one line `placeholder`.
struct SharedBlock {
    label: &'static str,
    text: String,
    placeholder: String,
}

fn placeholder_text(label: &str) -> String {
    format!("{OWN}{label} (tests/cases/{SHARED}.out)")
}

/// wasmunit's own units as the reference case renders them, read once for
/// every case. No case reads `_shared.out`: under `BLESS` a change to them
/// rewrites that file alone, and without it the `_shared` test fails once.
fn shared_blocks() -> Result<&'static [SharedBlock], Failed> {
    static BLOCKS: OnceLock<Result<Vec<SharedBlock>, String>> = OnceLock::new();
    match BLOCKS.get_or_init(|| reference_blocks().map_err(|e| format!("{REFERENCE_CASE}: {e}"))) {
        Ok(blocks) => Ok(blocks),
        Err(e) => Err(format!("wasmunit's own units: {e}").into()),
    }
}

fn reference_blocks() -> Result<Vec<SharedBlock>, String> {
    let case = common::repo().join("tests/cases").join(REFERENCE_CASE);
    let directives = directives(&case).map_err(|e| e.message().unwrap_or("").to_owned())?;
    let out = tempfile::tempdir().map_err(|e| e.to_string())?;
    let o = render(&case, &directives, out.path()).map_err(|e| e.to_string())?;
    if !o.status.success() {
        let stderr = String::from_utf8_lossy(&o.stderr);
        return Err(format!("render failed: {stderr}"));
    }
    let files = read_out_dir(&out.path().join("out"));
    let file = |name: &str| {
        files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.as_str())
            .ok_or_else(|| format!("no file {name}"))
    };
    let yaml = file("butane.yaml")?;
    let item = |what: &str, first: &dyn Fn(&str) -> bool| {
        yaml_item(yaml, first).ok_or_else(|| format!("butane.yaml has no {what}"))
    };
    let script = item("follow script", &|l| {
        l.starts_with("  - path: /var/lib/wasmunit/modules/") && l.ends_with(".sh")
    })?;
    let target = item("wasmunit.target", &|l| l == "  - name: wasmunit.target")?;
    let follow = item("wasmunit-follow.service", &|l| {
        l == "  - name: wasmunit-follow.service"
    })?;
    let dropin = item("drop-in wasmunit-follow.conf", &|l| {
        l == "    - name: wasmunit-follow.conf"
    })?;
    if target.end != follow.start {
        return Err(
            "butane.yaml: wasmunit-follow.service is not right after wasmunit.target".into(),
        );
    }
    let own_files = [
        "wasmunit-follow.service",
        "wasmunit-follow.sh",
        "wasmunit.target",
    ];
    let mut in_files = String::new();
    for name in own_files {
        let _ = write!(in_files, "=== {name}\n{}", file(name)?);
    }
    if !concatenated(&files).contains(&in_files) {
        return Err(format!("{own_files:?} are not next to each other"));
    }
    let in_yaml = |label: &'static str, range: Range<usize>| {
        let text = yaml[range].to_owned();
        let indent = text.len() - text.trim_start_matches(' ').len();
        SharedBlock {
            label,
            placeholder: format!("{:indent$}# {}\n", "", placeholder_text(label)),
            text,
        }
    };
    let files_label = "files wasmunit-follow.service, wasmunit-follow.sh, wasmunit.target";
    let blocks = vec![
        in_yaml("butane.yaml: the follow script", script),
        in_yaml(
            "butane.yaml: wasmunit.target, wasmunit-follow.service",
            target.start..follow.end,
        ),
        in_yaml("butane.yaml: the sysupdate drop-in", dropin),
        SharedBlock {
            label: files_label,
            placeholder: format!("=== {}\n", placeholder_text(files_label)),
            text: in_files,
        },
    ];
    if let Some(b) = blocks.iter().find(|b| !b.text.ends_with('\n')) {
        return Err(format!("{} does not end a line", b.label));
    }
    Ok(blocks)
}

/// `_shared.out`: each block after a `>>> LABEL` line.
fn shared_golden(blocks: &[SharedBlock]) -> String {
    let mut s = format!(
        "# wasmunit's own units, as {REFERENCE_CASE} renders them. Each block below is\n\
         # one line \"{}\" in the other .out files.\n",
        placeholder_text("LABEL")
    );
    for b in blocks {
        let _ = write!(s, ">>> {}\n{}", b.label, b.text);
    }
    s
}

/// The byte range of the YAML sequence item whose first line `first`
/// accepts: that line and the ones below it indented deeper than its `-`
/// (and blank lines inside a literal block), up to its last non-blank line.
fn yaml_item(yaml: &str, first: &dyn Fn(&str) -> bool) -> Option<Range<usize>> {
    let mut offset = 0;
    let mut lines = yaml.split_inclusive('\n').map(|l| {
        let start = offset;
        offset += l.len();
        (start, l)
    });
    let (start, head) = lines.find(|(_, l)| first(l.trim_end_matches('\n')))?;
    let deeper = " ".repeat(head.len() - head.trim_start_matches(' ').len() + 1);
    let mut end = start + head.len();
    for (at, l) in lines {
        if l == "\n" {
            continue;
        }
        if !l.starts_with(&deeper) {
            break;
        }
        end = at + l.len();
    }
    Some(start..end)
}

/// `full` with every occurrence of each shared block that starts a line
/// replaced by its placeholder line; nothing else changes, so the result
/// pins byte for byte all a case renders but what `_shared.out` pins.
fn without_shared(full: &str, blocks: &[SharedBlock]) -> Result<String, Failed> {
    if full.contains(OWN) {
        return Err(format!("the output has the placeholder text {OWN:?}").into());
    }
    let mut s = full.to_owned();
    for b in blocks {
        let mut out = String::with_capacity(s.len());
        let mut rest = s.as_str();
        while let Some(i) = rest.find(&b.text) {
            out.push_str(&rest[..i]);
            rest = &rest[i..];
            if out.is_empty() || out.ends_with('\n') {
                out.push_str(&b.placeholder);
                rest = &rest[b.text.len()..];
            } else {
                let c = rest.chars().next().expect("a match");
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        out.push_str(rest);
        s = out;
    }
    Ok(s)
}

/// The fragment on stdout is byte for byte `--out`'s butane.yaml: both are
/// projections of one render.
fn stdout_is_the_written_fragment(
    case: &Path,
    directives: &[Vec<String>],
    files: &[(String, String)],
    cache: &Path,
) -> Result<(), Failed> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wasmunit"));
    cmd.current_dir(case.parent().expect("parent"))
        .arg("render")
        .arg(case.file_name().expect("name"))
        .env("WASMUNIT_CACHE_DIR", cache);
    for d in directives.iter().filter(|d| d[0] == "args") {
        cmd.args(&d[1..]);
    }
    let o = cmd.output()?;
    let written = files
        .iter()
        .find(|(n, _)| n == "butane.yaml")
        .map(|(_, t)| t.as_str())
        .ok_or("no butane.yaml")?;
    if !o.status.success() || o.stdout != written.as_bytes() {
        return Err(format!(
            "stdout ({} bytes, exit {:?}) differs from --out's butane.yaml ({} bytes)",
            o.stdout.len(),
            o.status.code(),
            written.len()
        )
        .into());
    }
    Ok(())
}

/// `status` and `remove` find a manifest's units without reading its
/// modules: the names are the ones render writes.
fn status_names_the_rendered_units(case: &Path, files: &[(String, String)]) -> Result<(), Failed> {
    let mut rendered: Vec<&str> = files
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| {
            [".service", ".timer", ".target", ".socket"]
                .iter()
                .any(|e| n.ends_with(e))
        })
        .collect();
    rendered.sort_unstable();
    let mut named = wasmunit::pipeline::unit_names(case).map_err(|e| e.render(false))?;
    named.sort();
    if named != rendered {
        return Err(format!("unit_names {named:?} but render wrote {rendered:?}").into());
    }
    Ok(())
}

/// What one render produced, for the `##` directives to check.
struct Rendered<'a> {
    files: &'a [(String, String)],
    stderr: &'a str,
    shown: &'a dyn Fn() -> String,
}

impl Rendered<'_> {
    fn unit(&self, name: &str) -> Result<&str, Failed> {
        self.files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.as_str())
            .ok_or_else(|| format!("no file {name}\n{}", (self.shown)()).into())
    }

    fn check(&self, d: &[String]) -> Result<(), Failed> {
        let (files, stderr, shown) = (self.files, self.stderr, self.shown);
        let unit = |name: &str| self.unit(name);
        let a: Vec<&str> = d.iter().map(String::as_str).collect();
        match a.as_slice() {
            ["args", ..] | ["assert-failed"] => {}
            [kw @ ("assert-stderr-contains" | "!assert-stderr-contains"), t] => {
                let want = !kw.starts_with('!');
                if stderr.contains(t) != want {
                    let verb = if want { "lacks" } else { "has" };
                    return Err(format!("stderr {verb} {t:?}\n{}", shown()).into());
                }
            }
            ["assert-file", n] => {
                unit(n)?;
            }
            ["!assert-file", n] => {
                if files.iter().any(|(f, _)| f == n) {
                    return Err(format!("unexpected file {n}").into());
                }
            }
            ["assert-key-is", u, sec, key, want @ ..] => {
                let got = unit_values(unit(u)?, sec, key);
                if got != want {
                    return Err(format!(
                        "{u} [{sec}] {key}: got {got:?}, want {want:?}\n{}",
                        unit(u)?
                    )
                    .into());
                }
            }
            ["assert-key-contains", u, sec, key, want] => {
                let got = unit_values(unit(u)?, sec, key);
                if !got.iter().any(|g| g == want) {
                    return Err(
                        format!("{u} [{sec}] {key}: {got:?} lacks {want:?}\n{}", unit(u)?).into(),
                    );
                }
            }
            ["!assert-key", u, sec, key] => {
                let got = unit_values(unit(u)?, sec, key);
                if !got.is_empty() {
                    return Err(format!("{u} [{sec}] {key} should be absent, is {got:?}").into());
                }
            }
            ["assert-argv", u, want @ ..] => {
                let values = unit_values(unit(u)?, "Service", "ExecStart");
                let [line] = values.as_slice() else {
                    return Err(format!("{u}: expected one ExecStart, got {values:?}").into());
                };
                let got = common::systemd_syntax::parse_exec_words(line)
                    .ok_or_else(|| format!("{u}: ExecStart does not parse: {line}"))?;
                let got_without_module: Vec<String> = got
                    .iter()
                    .map(|w| {
                        if w.starts_with("/var/lib/wasmunit/modules/") {
                            "MODULE".to_owned()
                        } else {
                            w.clone()
                        }
                    })
                    .collect();
                if got_without_module != want {
                    return Err(
                        format!("{u} argv: got {got_without_module:?}, want {want:?}").into(),
                    );
                }
            }
            ["assert-butane", path, want] => {
                let yaml: serde_norway::Value = serde_norway::from_str(unit("butane.yaml")?)?;
                let got = common::yaml_path(&yaml, path)
                    .ok_or_else(|| format!("butane.yaml has no {path}"))?;
                if got != *want {
                    return Err(format!("butane {path}: got {got:?}, want {want:?}").into());
                }
            }
            other => return Err(format!("unknown directive {other:?}").into()),
        }
        Ok(())
    }
}

/// The fragment parses (with a second, independent YAML implementation) and
/// carries every unit file byte for byte.
fn butane_embeds_the_unit_files(files: &[(String, String)]) -> Result<(), Failed> {
    let yaml = &files
        .iter()
        .find(|(n, _)| n == "butane.yaml")
        .ok_or("no butane.yaml")?
        .1;
    let v: serde_norway::Value = serde_norway::from_str(yaml)?;
    let units = v["systemd"]["units"]
        .as_sequence()
        .ok_or("no systemd.units")?;
    let mut embedded = 0;
    // The follow unit's script rides as a file, inline, at the path its
    // unit runs.
    if let Some((_, script)) = files.iter().find(|(n, _)| n == "wasmunit-follow.sh") {
        let storage = v["storage"]["files"]
            .as_sequence()
            .ok_or("no storage.files")?;
        let follow = &files
            .iter()
            .find(|(n, _)| n == "wasmunit-follow.service")
            .ok_or("no wasmunit-follow.service")?
            .1;
        let entry = storage
            .iter()
            .find(|f| f["contents"]["inline"].as_str() == Some(script.as_str()))
            .ok_or("butane.yaml lacks the follow script")?;
        let path = entry["path"].as_str().ok_or("no path")?;
        if !follow.contains(&format!("ExecStart=/bin/sh {path}\n")) {
            return Err(format!("the follow unit does not run {path}").into());
        }
    }
    for (name, text) in files
        .iter()
        .filter(|(n, _)| n != "butane.yaml" && n != "wasmunit-follow.sh")
    {
        let entry = units
            .iter()
            .find(|u| u["name"].as_str() == Some(name))
            .ok_or_else(|| format!("butane.yaml lacks unit {name}"))?;
        if entry["contents"].as_str() != Some(text.as_str()) {
            return Err(format!("butane.yaml contents of {name} differ from the unit file").into());
        }
        embedded += 1;
    }
    if embedded == 0 {
        return Err("no unit files".into());
    }
    Ok(())
}

/// Every file in the output folder but the ownership marker, sorted by name.
fn read_out_dir(dir: &Path) -> Vec<(String, String)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<(String, String)> = rd
        .map(|e| e.expect("entry").path())
        .filter(|p| p.file_name().is_some_and(|n| n != ".wasmunit-owned"))
        .map(|p| {
            (
                p.file_name().expect("name").to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).expect("utf-8 output"),
            )
        })
        .collect();
    v.sort();
    v
}
