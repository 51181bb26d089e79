//! The conventions a command-line user expects: a JSON Schema of the
//! manifest that matches the types (and validates what wasmunit accepts),
//! docs generated from it, shell completions and man pages that cover every
//! subcommand and flag, `--version` with the engine, colour only where
//! asked for, progress only on a terminal.

use std::path::{Path, PathBuf};
use std::process::Command;

use wasmunit::manifest::json_schema;

use crate::common;

const BIN: &str = env!("CARGO_BIN_EXE_wasmunit");

#[test]
fn the_committed_schema_is_the_one_the_types_give() {
    let path = common::repo().join(json_schema::SCHEMA_PATH);
    let generated = json_schema::schema_text();
    common::assert_generated_file(
        &path,
        &generated,
        "BLESS=1 cargo test --test all conventions",
    );
    let cli = Command::new(BIN).arg("schema").output().expect("run");
    assert_eq!(String::from_utf8_lossy(&cli.stdout), generated);
}

#[test]
fn the_docs_key_tables_are_generated_from_the_schema() {
    common::assert_generated_section(
        &common::repo().join("docs/manifest.md"),
        "<!-- keys:",
        "<!-- keys:end -->",
        &json_schema::keys_markdown(),
    );
}

fn toml_as_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("read");
    let value: toml::Value = toml::from_str(&text).expect("toml");
    serde_json::to_value(value).expect("json")
}

fn validator() -> (boon::Schemas, boon::SchemaIndex) {
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    let url = "https://wasmunit.dev/docs/apps.schema.json";
    compiler
        .add_resource(url, json_schema::schema())
        .expect("resource");
    let index = compiler
        .compile(url, &mut schemas)
        .expect("schema compiles");
    (schemas, index)
}

#[test]
fn the_schema_accepts_every_manifest_wasmunit_renders() {
    let (schemas, index) = validator();
    let mut inputs: Vec<PathBuf> = vec![common::repo().join("examples/apps.toml")];
    inputs.extend(common::passing_golden_cases().into_iter().map(|(p, _)| p));
    assert!(inputs.len() > 15, "{inputs:?}");
    for path in &inputs {
        let v = toml_as_json(path);
        if let Err(e) = schemas.validate(&v, index) {
            panic!("{}: {e}", path.display());
        }
    }
}

#[test]
fn the_schema_rejects_what_is_a_schema_matter() {
    let (schemas, index) = validator();
    // Each of these fails to render for a reason the schema can see.
    for case in [
        "err-unknown-key",
        "err-unknown-top",
        "err-dir-key",
        "err-network",
        "err-no-version",
        "err-version",
        "err-url-nohash",
        "err-bad-name",
    ] {
        let path = common::repo().join(format!("tests/cases/{case}.toml"));
        let v = toml_as_json(&path);
        assert!(
            schemas.validate(&v, index).is_err(),
            "{case} passes the schema"
        );
    }
}

#[test]
fn the_example_names_the_schema_for_editors() {
    let example = std::fs::read_to_string(common::repo().join("examples/apps.toml")).expect("read");
    assert_eq!(
        example.lines().next(),
        Some("#:schema ../docs/apps.schema.json")
    );
}

/// Every subcommand and every long flag of the clap definitions.
fn subcommands_and_flags() -> Vec<(String, Vec<String>)> {
    let cmd = <wasmunit::cli::args::Cli as clap::CommandFactory>::command();
    cmd.get_subcommands()
        .map(|s| {
            let flags = s
                .get_arguments()
                .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
                .collect();
            (s.get_name().to_owned(), flags)
        })
        .collect()
}

#[test]
fn completions_cover_every_subcommand_and_flag() {
    let all = subcommands_and_flags();
    assert!(all.len() >= 9, "{all:?}");
    for shell in ["bash", "zsh", "fish"] {
        let o = Command::new(BIN)
            .args(["completions", shell])
            .output()
            .expect("run");
        assert!(o.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&o.stdout);
        for (sub, flags) in &all {
            assert!(text.contains(sub.as_str()), "{shell}: no `{sub}`");
            for f in flags {
                // fish names long flags without the dashes (`-l out`).
                let bare = f.trim_start_matches("--");
                assert!(
                    text.contains(f.as_str()) || text.contains(&format!("-l {bare}")),
                    "{shell}: no `{f}` of `{sub}`"
                );
            }
        }
        assert!(
            text.contains("--color") || text.contains("-l color"),
            "{shell}: no --color"
        );
    }
}

#[test]
fn one_man_page_per_subcommand_with_its_flags() {
    let dir = tempfile::tempdir().expect("tmp");
    let o = Command::new(BIN)
        .args(["man", "--out"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let top = std::fs::read_to_string(dir.path().join("wasmunit.1")).expect("wasmunit.1");
    for (sub, flags) in subcommands_and_flags() {
        assert!(top.contains(&sub), "wasmunit.1 lacks {sub}");
        let page = std::fs::read_to_string(dir.path().join(format!("wasmunit-{sub}.1")))
            .unwrap_or_else(|e| panic!("wasmunit-{sub}.1: {e}"));
        assert!(page.starts_with(".ie"), "roff");
        // `.TH title section date source`: without the date, man readers
        // (mandoc -T lint) took the version for it.
        let th = page.lines().find(|l| l.starts_with(".TH ")).expect(".TH");
        let args: Vec<&str> = th.split_whitespace().collect();
        assert_eq!(
            (args.get(2).copied(), args.get(3).copied()),
            (Some("1"), Some(wasmunit::cli::RELEASE_DATE)),
            "{th}"
        );
        for f in flags {
            // roff escapes the dashes: `\-\-out`.
            let roff = f.replace('-', "\\-");
            assert!(page.contains(&roff), "wasmunit-{sub}.1 lacks {f}");
        }
    }
    // A second run rewrites only its own pages; a foreign file blocks it.
    std::fs::write(dir.path().join("wasmunit-render.1"), "mine").expect("edit");
    let again = Command::new(BIN)
        .args(["man", "--out"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("wasmunit-render.1")).expect("read"),
        "mine"
    );
}

#[test]
fn version_names_the_embedded_engine() {
    let lock = std::fs::read_to_string(common::repo().join("Cargo.lock")).expect("lock");
    let at = lock
        .find("name = \"wasmtime\"\nversion = \"")
        .expect("wasmtime in lock");
    let rest = &lock[at + "name = \"wasmtime\"\nversion = \"".len()..];
    let engine = &rest[..rest.find('"').expect("quote")];
    for flag in ["--version", "-V"] {
        let o = Command::new(BIN).arg(flag).output().expect("run");
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            text.starts_with(&format!("wasmunit {} ", env!("CARGO_PKG_VERSION")))
                && text.contains(&format!("wasmtime {engine}")),
            "{text}"
        );
    }
}

fn render_error(extra: &[&str], env: &[(&str, &str)]) -> String {
    let case = common::repo().join("tests/cases/err-unknown-key.toml");
    let mut cmd = Command::new(BIN);
    cmd.args(extra)
        .arg("render")
        .arg(case)
        .env_remove("NO_COLOR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().expect("run");
    assert_eq!(o.status.code(), Some(1));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn colour_only_where_asked_for() {
    // A pipe: plain, whatever the terminal type.
    let plain = render_error(&[], &[("TERM", "xterm-256color")]);
    assert!(plain.contains("error: unknown field"), "{plain}");
    assert!(!plain.contains('\x1b'), "{plain:?}");
    assert!(!render_error(&["--color", "never"], &[]).contains('\x1b'));
    // Asked for: styled, and the flag wins over NO_COLOR.
    let styled = render_error(&["--color", "always"], &[("NO_COLOR", "1")]);
    assert!(styled.contains("\x1b[1;31merror\x1b[0m"), "{styled:?}");
}

/// stderr of a command run under a pseudo-terminal (`script`), and of the
/// same command in a pipe.
fn pty_and_pipe(args: &[&str], cache: &Path) -> (String, String) {
    let mut line = String::from(BIN);
    for a in args {
        line.push(' ');
        line.push_str(&shell_quote(a));
    }
    let typescript = tempfile::NamedTempFile::new().expect("tmp");
    let o = Command::new("script")
        .args(["-q", "-e", "-c"])
        .arg(format!("{line} >/dev/null"))
        .arg(typescript.path())
        .env("TERM", "xterm")
        .env("WASMUNIT_CACHE_DIR", cache)
        .output()
        .expect("script (util-linux)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let pty = std::fs::read_to_string(typescript.path()).unwrap_or_default();
    let piped = Command::new(BIN)
        .args(args)
        .env("WASMUNIT_CACHE_DIR", cache)
        .output()
        .expect("run");
    (pty, String::from_utf8_lossy(&piped.stderr).into_owned())
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[test]
fn progress_on_a_terminal_never_in_a_pipe() {
    let yosys = common::real_module("yosys-0.55.wasm");
    let cache = tempfile::tempdir().expect("tmp");
    let path = yosys.to_string_lossy().into_owned();
    let args = ["check", "--no-cache", path.as_str()];
    let (pty, piped) = pty_and_pipe(&args, cache.path());
    assert!(
        pty.contains("checking"),
        "no progress on the terminal: {pty:?}"
    );
    assert!(!piped.contains("checking"), "progress in a pipe: {piped:?}");
    assert!(!piped.contains('\x1b'), "{piped:?}");
}

#[test]
fn the_committed_wasi_table_is_the_one_wasmtime_wasi_defines() {
    use wasmunit::releases::wasi_host;
    let path = common::repo().join(wasi_host::P1_TABLE_PATH);
    let signatures = wasi_host::linker_signatures().expect("read the linkers");
    assert!(signatures.len() > 60, "{}", signatures.len());
    let generated = wasi_host::p1_table_source(&signatures);
    common::assert_generated_file(
        &path,
        &generated,
        "BLESS=1 cargo test --test all conventions",
    );
    for (m, n, sig) in &signatures {
        assert_eq!(wasi_host::signature(m, n), Some(sig.as_str()), "{m}::{n}");
    }
}

/// The exit-status table: README's one section on exit statuses is
/// generated from the error type (every outcome and every kind of
/// failure, with its status), `--help` prints the statuses, and each
/// status means one thing (the commands' own tests assert 0, 1, 2 here
/// and in tests/all/cli.rs, 3 and 4 in tests/all/live_host.rs).
#[test]
fn the_exit_status_table_is_in_help_and_readme() {
    use wasmunit::error::{exit_codes_help, exit_table_markdown, EXIT_CODES};
    let readme = common::repo().join("README.md");
    common::assert_generated_section(
        &readme,
        "<!-- exit:",
        "<!-- exit:end -->",
        &exit_table_markdown(),
    );
    // No second, hand-written account of the statuses beside it.
    let text = std::fs::read_to_string(&readme).expect("README");
    let headings = text
        .lines()
        .filter(|l| l.starts_with('#') && l.to_lowercase().contains("exit status"))
        .count();
    assert_eq!(headings, 1, "README has one section on exit statuses");
    let codes: std::collections::BTreeSet<i32> = EXIT_CODES.iter().map(|(e, _)| e.code()).collect();
    assert_eq!(codes.len(), EXIT_CODES.len(), "one meaning per status");
    let help = Command::new(BIN).arg("--help").output().expect("run");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains(&exit_codes_help()), "{help}");
}

/// Every `A to B` range of releases a text states: (A, B) as written.
fn stated_ranges(text: &str) -> Vec<(String, String)> {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || "();,`*\"'|".contains(c))
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(3)
        .filter(|w| w[1] == "to")
        .filter(|w| w[0].starts_with(|c: char| c.is_ascii_digit()))
        .filter(|w| w[2].starts_with(|c: char| c.is_ascii_digit()))
        .map(|w| (w[0].to_owned(), w[2].trim_end_matches('.').to_owned()))
        .collect()
}

/// The facts about releases live in src/releases/; what docs, the schema,
/// the help and messages say of the supported ranges must be those.
#[test]
fn every_stated_range_of_releases_is_the_codes() {
    use wasmunit::releases::systemd_release::{NEWEST_RELEASE, OLDEST_RELEASE};
    use wasmunit::releases::WasmtimeVersion;
    let systemd = (OLDEST_RELEASE.to_string(), NEWEST_RELEASE.to_string());
    let wasmtime = (
        WasmtimeVersion::OLDEST.to_string(),
        format!("{}.x", WasmtimeVersion::NEWEST.major),
    );
    let mut texts: Vec<(String, String)> = Vec::new();
    let repo = common::repo();
    for doc in [
        "README.md",
        "docs/manifest.md",
        "docs/units.md",
        "docs/updates.md",
    ] {
        texts.push((
            doc.into(),
            std::fs::read_to_string(repo.join(doc)).expect(doc),
        ));
    }
    let schema = std::fs::read_to_string(repo.join(json_schema::SCHEMA_PATH)).expect("schema");
    texts.push(("schema".into(), schema));
    for cmd in ["render", "check", "apply", "diff"] {
        let o = Command::new(BIN)
            .args([cmd, "--help"])
            .output()
            .expect("help");
        texts.push((
            format!("{cmd} --help"),
            String::from_utf8_lossy(&o.stdout).into(),
        ));
    }
    let mut checked = 0;
    for (what, text) in &texts {
        for (a, b) in stated_ranges(text) {
            // Releases of systemd are three digits; of wasmtime X.Y.Z.
            let expected = if a.contains('.') { &wasmtime } else { &systemd };
            let release = |n: &str| n.parse::<u32>().is_ok_and(|n| (240..300).contains(&n));
            if release(&a) && release(&b) || a.contains('.') && b.ends_with(".x") {
                checked += 1;
                assert_eq!(
                    (&a, &b),
                    (&expected.0, &expected.1),
                    "{what} states the range {a} to {b}; the code's is {} to {}",
                    expected.0,
                    expected.1
                );
            }
        }
    }
    assert!(
        checked >= 3,
        "only {checked} stated ranges found: the scan is broken"
    );
    // The schema's bounds are the code's.
    let s = json_schema::schema();
    let systemd_key = &s["$defs"]["AppSpec"]["properties"]["systemd"];
    assert_eq!(systemd_key["minimum"], OLDEST_RELEASE, "{systemd_key}");
    assert_eq!(systemd_key["maximum"], NEWEST_RELEASE, "{systemd_key}");
}

/// Every command that renders takes the same target and trust options,
/// from one argument group each (apply and diff once lacked `--systemd`).
#[test]
fn every_rendering_command_takes_the_whole_request() {
    let cmd = <wasmunit::cli::args::Cli as clap::CommandFactory>::command();
    for sub in ["render", "apply", "diff", "check"] {
        let s = cmd.find_subcommand(sub).expect(sub);
        let longs: Vec<&str> = s.get_arguments().filter_map(|a| a.get_long()).collect();
        for flag in ["wasmtime", "systemd", "data-root", "allow-key"] {
            assert!(longs.contains(&flag), "`{sub}` lacks --{flag}: {longs:?}");
        }
    }
    for sub in ["apply", "diff", "status", "remove"] {
        let s = cmd.find_subcommand(sub).expect(sub);
        let longs: Vec<&str> = s.get_arguments().filter_map(|a| a.get_long()).collect();
        assert!(
            longs.contains(&"root") && longs.contains(&"user"),
            "{sub}: {longs:?}"
        );
    }
}
