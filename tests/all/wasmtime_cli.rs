//! The real wasmtime 31.0.0 CLI runs the exact command lines the units
//! contain: ExecStart is parsed with systemd's rules, and only the binary,
//! the module path and host folders are mapped onto this machine.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use proptest::prelude::*;

use crate::common;

/// Runs a unit's ExecStart with the real 31.0.0 CLI.
fn run_exec_start(
    unit_text: &str,
    plan: &wasmunit::plan::Plan,
    scratch: &Path,
    root: &Path,
) -> Output {
    run_exec_start_with(
        &common::require_wasmtime_cli(),
        unit_text,
        plan,
        scratch,
        root,
    )
}

/// Runs a unit's ExecStart with the given CLI: the plan's modules are put at
/// local paths, and host folders of `--dir` are moved under `root`.
fn run_exec_start_with(
    cli: &Path,
    unit_text: &str,
    plan: &wasmunit::plan::Plan,
    scratch: &Path,
    root: &Path,
) -> Output {
    let argv = common::exec_argv(unit_text);
    assert_eq!(argv[0], "/usr/bin/wasmtime");
    let mut modules = BTreeMap::new();
    for app in &plan.apps {
        let local = scratch.join(format!("{}.wasm", app.module.sha256));
        std::fs::write(
            &local,
            app.module.read_bytes().expect("module bytes").as_slice(),
        )
        .expect("write module");
        modules.insert(app.module.node_path.clone(), local);
    }
    let mut cmd = Command::new(cli);
    let mut prev_dir = false;
    for word in &argv[1..] {
        let mapped = if let Some(local) = modules.get(word) {
            local.display().to_string()
        } else if prev_dir {
            let (host, guest) = word.split_once("::").expect("HOST::GUEST");
            let local = root.join(host.trim_start_matches('/'));
            std::fs::create_dir_all(&local).expect("host dir");
            format!("{}::{guest}", local.display())
        } else {
            word.clone()
        };
        prev_dir = word == "--dir";
        cmd.arg(mapped);
    }
    // As in the unit: a private, writable compile cache.
    cmd.env_clear().env("XDG_CACHE_HOME", scratch.join("cache"));
    cmd.output().expect("run wasmtime")
}

/// The example's plan and units, rendered for `wasmtime` (default: 31.0.0).
fn example_for(
    wasmtime: Option<&str>,
) -> (wasmunit::plan::Plan, Vec<wasmunit::render::RenderedUnit>) {
    let m = common::repo().join("examples/apps.toml");
    let plan = common::plan_of(&m);
    let units = common::render_units_for(&m, wasmtime);
    (plan, units)
}

fn example() -> (wasmunit::plan::Plan, Vec<wasmunit::render::RenderedUnit>) {
    example_for(None)
}

fn unit<'a>(units: &'a [wasmunit::render::RenderedUnit], name: &str) -> &'a str {
    &units.iter().find(|u| u.name == name).expect(name).text
}

/// The example's hello unit, rendered for `wasmtime`, run by `cli`.
fn hello_prints_its_literal_arguments(cli: &Path, wasmtime: Option<&str>) {
    let (plan, units) = example_for(wasmtime);
    let text = unit(&units, "wasm-hello.service");
    if let Some(v) = wasmtime {
        assert!(text.contains(&format!("for wasmtime {v}")));
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let out = run_exec_start_with(cli, text, &plan, tmp.path(), tmp.path());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from wasm: --name world 100% $literal hi\n"
    );
}

#[test]
fn example_hello_prints_its_literal_arguments() {
    hello_prints_its_literal_arguments(&common::require_wasmtime_cli(), None);
}

/// The example rendered for the newest buildable CLI runs under that CLI.
#[test]
fn example_hello_runs_under_the_newest_cli_too() {
    hello_prints_its_literal_arguments(
        &common::require_wasmtime_cli_version(common::NEWEST_CLI),
        Some(common::NEWEST_CLI),
    );
}

#[test]
fn example_report_runs_as_a_oneshot_command() {
    let (plan, units) = example();
    let tmp = tempfile::tempdir().expect("tmp");
    let out = run_exec_start(
        unit(&units, "wasm-report.service"),
        &plan,
        tmp.path(),
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from wasm: hourly report\n"
    );
}

#[test]
fn example_files_reads_and_writes_its_granted_folders() {
    let (plan, units) = example();
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("root");
    // The files the plan ships, where the node gets them.
    for f in plan
        .apps
        .iter()
        .flat_map(|a| a.files.iter().flat_map(|g| &g.files))
    {
        let at = root.join(f.node_path.trim_start_matches('/'));
        std::fs::create_dir_all(at.parent().expect("folder")).expect("mkdir");
        std::fs::write(at, f.bytes.as_slice()).expect("shipped file");
    }
    let out = run_exec_start(unit(&units, "wasm-files.service"), &plan, tmp.path(), &root);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("read shipped with the manifest\nwrite-rw 0\n"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("var/lib/wasm-files/out.txt")).expect("out.txt"),
        "written by wasm\n"
    );
    // Outside systemd nothing stops the write into the read-only grant:
    // wasmtime's --dir is always read-write (the systemd tier proves the
    // unit's ReadOnlyPaths= does).
    assert!(stdout.contains("write-ro 0\n"), "{stdout}");
}

/// Writes a manifest for tests/fixtures/dump.wat with these args and env.
fn dump_manifest(dir: &Path, args: &[String], env: &BTreeMap<String, String>) -> PathBuf {
    std::fs::create_dir_all(dir.join("modules")).expect("mkdir");
    std::fs::copy(
        common::repo().join("tests/fixtures/dump.wat"),
        dir.join("modules/dump.wat"),
    )
    .expect("copy");
    let mut s = String::from("version = 1\n\n[app.dump]\nmodule = \"modules/dump.wat\"\n");
    let list: Vec<String> = args.iter().map(|a| common::toml_string(a)).collect();
    let _ = writeln!(s, "args = [{}]", list.join(", "));
    let env: Vec<String> = env
        .iter()
        .map(|(k, v)| format!("{k} = {}", common::toml_string(v)))
        .collect();
    let _ = writeln!(s, "env = {{ {} }}", env.join(", "));
    let path = dir.join("apps.toml");
    std::fs::write(&path, s).expect("manifest");
    path
}

fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[^\u{0}]{0,16}",
        "[ \t\n\"'\\\\%$;#{}=a-z-]{0,12}",
        Just(String::new()),
        Just("--".to_owned()),
        Just("-S".to_owned()),
        Just("${HOME}".to_owned()),
        Just("%n %% %".to_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn arguments_and_environment_reach_the_module_exactly(
        args in proptest::collection::vec(hostile_string(), 0..6),
        env in proptest::collection::btree_map("[A-Z_][A-Z0-9_]{0,6}", hostile_string(), 0..4),
    ) {
        let tmp = tempfile::tempdir().expect("tmp");
        let manifest = dump_manifest(tmp.path(), &args, &env);
        let plan = common::plan_of(&manifest);
        let units = common::render_units(&manifest);
        let out = run_exec_start(unit(&units, "wasm-dump.service"), &plan, tmp.path(), tmp.path());
        prop_assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let (got_args, got_env) = common::decode_dump(&String::from_utf8_lossy(&out.stdout));
        // argv[0] is the module's name; the rest is the manifest's list.
        prop_assert_eq!(&got_args[1..], &args[..]);
        let want_env: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        prop_assert_eq!(got_env, want_env);
    }
}
