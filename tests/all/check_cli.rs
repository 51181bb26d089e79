//! `wasmunit check` against the real wasmtime 31.0.0 CLI: for each rule, a
//! module that exercises it, the verdict of the check, and what the CLI
//! really does with it (run with the flags the check says the unit needs).

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

use crate::common;

struct Case {
    name: &'static str,
    wat: &'static str,
    /// Does the check say it runs under 31.0.0?
    runs: bool,
    /// Finding code expected in the report.
    code: Option<&'static str>,
}

const CASES: &[Case] = &[
    Case {
        name: "command",
        wat: r#"(module (import "wasi_snapshot_preview1" "proc_exit" (func $e (param i32))) (memory (export "memory") 1) (func (export "_start") (call $e (i32.const 3))))"#,
        runs: true,
        code: None,
    },
    Case {
        name: "default-export",
        wat: r#"(module (import "wasi_snapshot_preview1" "proc_exit" (func $e (param i32))) (memory (export "memory") 1) (func (export "") (call $e (i32.const 7))))"#,
        runs: true,
        code: None,
    },
    Case {
        name: "initialize-first",
        wat: r#"(module (import "wasi_snapshot_preview1" "proc_exit" (func $e (param i32))) (global $g (mut i32) (i32.const 0)) (memory (export "memory") 1) (func (export "_initialize") (global.set $g (i32.const 5))) (func (export "_start") (call $e (global.get $g))))"#,
        runs: true,
        code: None,
    },
    Case {
        name: "preview0",
        wat: r#"(module (import "wasi_unstable" "proc_exit" (func $e (param i32))) (memory (export "memory") 1) (func (export "_start") (call $e (i32.const 9))))"#,
        runs: true,
        code: Some("preview0"),
    },
    Case {
        name: "threads",
        wat: r#"(module (memory 1 1 shared) (func (export "_start") (drop (i32.atomic.load (i32.const 0)))))"#,
        runs: true,
        code: None,
    },
    Case {
        name: "memory64",
        wat: r#"(module (memory i64 1) (func (export "_start")))"#,
        runs: true,
        code: None,
    },
    Case {
        name: "gc",
        wat: r#"(module (type $s (struct (field i32))) (func (export "_start") (drop (struct.new $s (i32.const 1)))))"#,
        runs: true,
        code: Some("proposal-flag"),
    },
    Case {
        name: "function-references",
        wat: r#"(module (type $t (func)) (func $f (type $t)) (elem declare func $f) (func (export "_start") (call_ref $t (ref.func $f))))"#,
        runs: true,
        code: Some("proposal-flag"),
    },
    Case {
        name: "wide-arithmetic",
        wat: r#"(module (func (export "_start") (drop (drop (i64.add128 (i64.const 1) (i64.const 2) (i64.const 3) (i64.const 4))))))"#,
        runs: true,
        code: Some("proposal-flag"),
    },
    Case {
        name: "wasi-threads",
        wat: r#"(module (import "wasi" "thread-spawn" (func (param i32) (result i32))) (import "env" "memory" (memory 1 1 shared)) (func (export "wasi_thread_start") (param i32 i32)) (func (export "_start")))"#,
        runs: true,
        code: Some("import-flag"),
    },
    Case {
        name: "exceptions",
        wat: r#"(module (tag $e) (func (export "_start") (block $l (try_table (catch_all $l) (throw $e)))))"#,
        runs: false,
        code: Some("proposal-unsupported"),
    },
    Case {
        name: "emscripten",
        wat: r#"(module (import "env" "emscripten_memcpy_big" (func (param i32 i32 i32) (result i32))) (func (export "_start")))"#,
        runs: false,
        code: Some("unknown-import"),
    },
    Case {
        name: "wasix",
        wat: r#"(module (import "wasi_snapshot_preview1" "sock_open" (func (param i32 i32 i32) (result i32))) (memory (export "memory") 1) (func (export "_start")))"#,
        runs: false,
        code: Some("unknown-import"),
    },
    Case {
        name: "wrong-signature",
        wat: r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32) (result i32))) (memory (export "memory") 1) (func (export "_start")))"#,
        runs: false,
        code: Some("incompatible-import"),
    },
    Case {
        name: "wasi-global",
        wat: r#"(module (import "wasi_snapshot_preview1" "fd_write" (global i32)) (memory (export "memory") 1) (func (export "_start")))"#,
        runs: false,
        code: Some("incompatible-import"),
    },
    Case {
        name: "no-memory-export",
        wat: r#"(module (import "wasi_snapshot_preview1" "proc_exit" (func $e (param i32))) (func (export "_start") (call $e (i32.const 0))))"#,
        runs: false,
        code: Some("no-memory-export"),
    },
    Case {
        name: "memory-under-another-name",
        wat: r#"(module (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32))) (memory (export "mem") 1) (func (export "_start") (drop (call $w (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 0)))))"#,
        runs: false,
        code: Some("no-memory-export"),
    },
    Case {
        name: "unknown-wasi-function",
        wat: r#"(module (import "wasi_snapshot_preview1" "fd_frobnicate" (func (param i32) (result i32))) (memory (export "memory") 1) (func (export "_start")))"#,
        runs: false,
        code: Some("unknown-import"),
    },
    Case {
        name: "reactor",
        wat: r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32))) (memory (export "memory") 1) (func (export "_initialize")) (func (export "work")))"#,
        runs: false,
        code: Some("no-entrypoint"),
    },
];

/// Runs the module with the real 31.0.0 CLI; `Ok(exit code)` when wasmtime
/// loaded and ran it, `Err(stderr)` when it refused to load it.
fn real_run(wasm: &Path, flags: &[String], scratch: &Path) -> Result<i32, String> {
    real_run_with(&common::require_wasmtime_cli(), wasm, flags, scratch)
}

fn real_run_with(cli: &Path, wasm: &Path, flags: &[String], scratch: &Path) -> Result<i32, String> {
    let mut cmd = Command::new(cli);
    cmd.arg("run");
    for f in flags {
        cmd.args(f.split(' '));
    }
    let out = cmd
        .arg(wasm)
        .env("XDG_CACHE_HOME", scratch.join("cache"))
        .output()
        .expect("wasmtime");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if stderr.contains("failed to parse")
        || stderr.contains("unknown import")
        || stderr.contains("incompatible import type")
        // At the first WASI call, not at load: as good as refused.
        || stderr.contains("missing required memory export")
        || stderr.contains("translation error")
        || stderr.contains("not enabled")
    {
        Err(stderr)
    } else {
        Ok(out.status.code().unwrap_or(-1))
    }
}

#[test]
fn each_rule_matches_what_the_real_cli_does() {
    let tmp = tempfile::tempdir().expect("tmp");
    for case in CASES {
        let wasm = tmp.path().join(format!("{}.wasm", case.name));
        std::fs::write(&wasm, wat::parse_str(case.wat).expect("wat")).expect("write");
        let (status, doc) = common::check_json(&[OsStr::new("--no-cache"), wasm.as_os_str()]);
        let r = &doc["results"][0];
        let codes: Vec<&str> = r["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| f["code"].as_str().expect("code"))
            .collect();
        assert_eq!(
            status == 0,
            case.runs,
            "{}: check said {status}: {r}",
            case.name
        );
        if let Some(code) = case.code {
            assert!(codes.contains(&code), "{}: {codes:?}", case.name);
        }
        let flags: Vec<String> = r["flags"]
            .as_array()
            .expect("flags")
            .iter()
            .map(|f| f.as_str().expect("flag").to_owned())
            .collect();
        let real = real_run(&wasm, &flags, tmp.path());
        match case.name {
            // wasmtime loads a reactor and exits 0 having run nothing: the
            // check blocks it because a service would silently do nothing.
            "reactor" => assert_eq!(real, Ok(0), "{}", case.name),
            _ if case.runs => assert!(
                real.is_ok(),
                "{}: check says it runs, wasmtime 31 says {real:?}",
                case.name
            ),
            _ => assert!(
                real.is_err(),
                "{}: check says it does not load, wasmtime 31 ran it: {real:?}",
                case.name
            ),
        }
        match case.name {
            "command" => assert_eq!(real, Ok(3)),
            "default-export" => assert_eq!((real, r["entrypoint"].as_str()), (Ok(7), Some(""))),
            "initialize-first" => {
                assert_eq!((real, r["initialize"].as_bool()), (Ok(5), Some(true)));
            }
            "preview0" => assert_eq!(real, Ok(9)),
            "wrong-signature" => {
                // The type check says what the CLI says, types included.
                let defined = "(func (param i32 i32 i32 i32) (result i32))";
                let message = r["findings"][0]["message"].as_str().unwrap_or("");
                assert!(
                    message.contains("as `(func (param i32) (result i32))`")
                        && message.contains(&format!("defines it as `{defined}`")),
                    "{message}"
                );
                let stderr = real.clone().expect_err("refused");
                assert!(
                    stderr.contains(&format!("found type `{defined}`")),
                    "{stderr}"
                );
            }
            _ => {}
        }
    }
}

#[test]
fn a_wasi_p2_command_component_is_a_command_and_runs() {
    let tmp = tempfile::tempdir().expect("tmp");
    let component = tmp.path().join("dump.wasm");
    std::fs::write(
        &component,
        common::command_component(&common::repo().join("tests/fixtures/dump.wat")),
    )
    .expect("write");
    let (status, doc) = common::check_json(&[OsStr::new("--no-cache"), component.as_os_str()]);
    let r = &doc["results"][0];
    assert_eq!(status, 0, "{r}");
    assert_eq!(r["kind"], "component");
    assert_eq!(r["world"], "command");
    let imports: Vec<&str> = r["imports"]
        .as_array()
        .expect("imports")
        .iter()
        .map(|i| i.as_str().expect("str"))
        .collect();
    assert!(
        imports
            .iter()
            .any(|i| i.starts_with("wasi:cli/environment@0.2.")),
        "{imports:?}"
    );
    let out = Command::new(common::require_wasmtime_cli())
        .arg("run")
        .arg(&component)
        .arg("hello")
        .env("XDG_CACHE_HOME", tmp.path().join("cache"))
        .output()
        .expect("wasmtime");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (args, _) = common::decode_dump(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(args.last().map(String::as_str), Some("hello"));
}

#[test]
fn manifest_grants_are_checked_against_the_module() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("modules")).expect("mkdir");
    std::fs::write(
        dir.join("modules/dump.wasm"),
        common::command_component(&common::repo().join("tests/fixtures/dump.wat")),
    )
    .expect("component");
    std::fs::write(
        dir.join("modules/big.wat"),
        r#"(module (memory (export "memory") 300) (func (export "_start")))"#,
    )
    .expect("wat");
    std::fs::write(
        dir.join("apps.toml"),
        "version = 1\n\n[app.served]\nmodule = \"modules/dump.wasm\"\nlisten = \"127.0.0.1:8080\"\n\n\
         [app.big]\nmodule = \"modules/big.wat\"\nmemory = \"1MiB\"\n\n[app.fine]\nmodule = \"modules/dump.wasm\"\n",
    )
    .expect("manifest");
    let (status, doc) =
        common::check_json(&[OsStr::new("--no-cache"), dir.join("apps.toml").as_os_str()]);
    assert_eq!(status, 1);
    let by_app = |name: &str| -> Vec<String> {
        error_codes(
            doc["results"]
                .as_array()
                .expect("results")
                .iter()
                .find(|r| r["app"] == name)
                .expect("app"),
        )
    };
    assert_eq!(by_app("served"), ["command-with-listen"]);
    assert_eq!(by_app("big"), ["memory-above-limit"]);
    assert!(by_app("fine").is_empty());

    // render refuses the same manifest and writes nothing.
    let out = Command::new(env!("CARGO_BIN_EXE_wasmunit"))
        .arg("render")
        .arg(dir.join("apps.toml"))
        .arg("--out")
        .arg(dir.join("out"))
        .output()
        .expect("render");
    assert_eq!(out.status.code(), Some(1));
    assert!(!dir.join("out").exists());
    assert!(String::from_utf8_lossy(&out.stderr).contains("would not run under wasmtime 31.0.0"));
}

#[test]
fn real_yosys_releases_against_31_and_the_newest() {
    let old = common::real_module("yosys-0.55.wasm");
    let new = common::real_module("yosys-0.70.wasm");
    let (s, doc) =
        common::check_json(&[OsStr::new("--no-cache"), old.as_os_str(), new.as_os_str()]);
    assert_eq!(s, 1);
    let r_old = &doc["results"][0];
    let r_new = &doc["results"][1];
    assert_eq!(r_old["kind"], "core-module");
    assert_eq!(r_old["entrypoint"], "_start");
    assert!(r_old["imports"]
        .as_array()
        .expect("imports")
        .iter()
        .all(|i| i
            .as_str()
            .expect("str")
            .starts_with("wasi_snapshot_preview1::")));
    assert!(
        r_old["findings"]
            .as_array()
            .expect("f")
            .iter()
            .all(|f| f["severity"] != "error"),
        "{r_old}"
    );
    let codes: Vec<&str> = r_new["findings"]
        .as_array()
        .expect("f")
        .iter()
        .map(|f| f["code"].as_str().expect("c"))
        .collect();
    assert_eq!(codes, ["proposal-unsupported"], "{r_new}");
    assert!(r_new["findings"][0]["message"]
        .as_str()
        .expect("m")
        .contains("exception-handling"));

    // A release between runs it with `-W exceptions=y`; the newest by default.
    let (s, doc) = common::check_json(&[
        OsStr::new("--no-cache"),
        OsStr::new("--wasmtime"),
        OsStr::new("40.0.0"),
        new.as_os_str(),
    ]);
    assert_eq!(s, 0, "{doc}");
    assert_eq!(doc["results"][0]["flags"][0], "-W exceptions=y");
    let (s, doc) = common::check_json(&[
        OsStr::new("--no-cache"),
        OsStr::new("--wasmtime"),
        OsStr::new("50.0.1"),
        new.as_os_str(),
    ]);
    assert_eq!(s, 0, "{doc}");
    assert_eq!(doc["results"][0]["flags"], serde_json::json!([]));

    // The real 31.0.0 CLI agrees: it refuses the new build at load time
    // ("exception refs not supported without the exception handling feature").
    let tmp = tempfile::tempdir().expect("tmp");
    let real = real_run(&new, &[], tmp.path());
    assert!(
        real.as_ref().is_err_and(
            |e| e.contains("exception handling feature") || e.contains("exceptions proposal")
        ),
        "{real:?}"
    );
}

#[test]
fn bad_input_is_one_clear_error_and_exit_1() {
    let tmp = tempfile::tempdir().expect("tmp");
    let good = wat::parse_str(r#"(module (func (export "_start")))"#).expect("wat");
    let mut trailing = good.clone();
    trailing.extend_from_slice(b"\x00garbage");
    let mut component_header = good.clone();
    component_header[4..8].copy_from_slice(&[0x0d, 0, 1, 0]);
    let noise: Vec<u8> = (0..(8u32 << 20))
        .map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes()[1])
        .collect();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "empty"),
        ("truncated", good[..good.len() - 3].to_vec(), ""),
        (
            "text",
            b"hello, world\n".to_vec(),
            "not a WebAssembly binary",
        ),
        ("wat", b"(module)".to_vec(), "WAT"),
        ("gzip", vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0], "gzip"),
        ("trailing", trailing, ""),
        ("component-header", component_header, ""),
        ("noise", noise, "not a WebAssembly binary"),
    ];
    for (name, bytes, text) in cases {
        let p = tmp.path().join(name);
        std::fs::write(&p, &bytes).expect("write");
        let out = Command::new(env!("CARGO_BIN_EXE_wasmunit"))
            .arg("check")
            .arg("--no-cache")
            .arg(&p)
            .output()
            .expect("check");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{name}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            stdout.matches("  error ").count(),
            1,
            "{name}: one error expected:\n{stdout}"
        );
        assert!(stdout.contains(text), "{name}: {stdout}");
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("panicked"),
            "{name}"
        );
    }
    // A missing file is an unreadable module: exit 1, the file and the
    // reason named (not a usage error).
    let out = Command::new(env!("CARGO_BIN_EXE_wasmunit"))
        .arg("check")
        .arg(tmp.path().join("nope.wasm"))
        .output()
        .expect("check");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot read `") && err.contains("nope.wasm`: No such file"),
        "{err}"
    );
}

#[test]
fn a_cached_verdict_is_reused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let wasm = tmp.path().join("m.wasm");
    std::fs::write(
        &wasm,
        wat::parse_str(r#"(module (func (export "_start")))"#).expect("wat"),
    )
    .expect("write");
    let run = || {
        let out = Command::new(env!("CARGO_BIN_EXE_wasmunit"))
            .args(["check", "--compile", "--format", "json"])
            .arg(&wasm)
            .env("WASMUNIT_CACHE_DIR", tmp.path().join("cache"))
            .output()
            .expect("check");
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")
    };
    let first = run();
    let second = run();
    assert_eq!(first["results"][0]["cached"], false);
    assert_eq!(second["results"][0]["cached"], true);
    assert_eq!(
        first["results"][0]["findings"],
        second["results"][0]["findings"]
    );
    assert!(first["results"][0]["findings"]
        .to_string()
        .contains("compiled"));
}

/// The proposal table (src/releases/proposals.rs) against the real CLIs: a
/// module using each proposal loads without flags exactly when the table
/// says the version enables it by default, and loads with the table's flag.
#[test]
#[allow(clippy::too_many_lines)] // every proposal against every CLI, read top to bottom
fn the_proposal_table_matches_the_real_clis() {
    use wasmunit::releases::proposals::PROPOSALS;
    use wasmunit::releases::WasmtimeVersion;
    // On by default in every supported CLI: the baseline, not the table.
    let baseline = [
        (
            "threads",
            r#"(module (memory 1 1 shared) (func (export "_start") (drop (i32.atomic.load (i32.const 0)))))"#,
        ),
        (
            "memory64",
            r#"(module (memory i64 1) (func (export "_start")))"#,
        ),
    ];
    let probes = [
        (
            "function-references",
            r#"(module (type $t (func)) (func $f (type $t)) (elem declare func $f) (func (export "_start") (call_ref $t (ref.func $f))))"#,
        ),
        (
            "gc",
            r#"(module (type $s (struct (field i32))) (func (export "_start") (drop (struct.new $s (i32.const 1)))))"#,
        ),
        (
            "exception-handling",
            r#"(module (tag $e) (func (export "_start") (block $l (try_table (catch_all $l) (throw $e)))))"#,
        ),
        (
            "wide-arithmetic",
            r#"(module (func (export "_start") (drop (drop (i64.add128 (i64.const 1) (i64.const 2) (i64.const 3) (i64.const 4))))))"#,
        ),
        (
            "custom-page-sizes",
            r#"(module (memory 1 (pagesize 1)) (func (export "_start")))"#,
        ),
    ];
    let tmp = tempfile::tempdir().expect("tmp");
    for version in ["31.0.0", common::NEWEST_CLI] {
        let cli = common::require_wasmtime_cli_version(version);
        let v = WasmtimeVersion::parse(version).expect("version");
        for (name, wat) in baseline {
            let wasm = tmp.path().join(format!("{name}.wasm"));
            std::fs::write(&wasm, wat::parse_str(wat).expect("wat")).expect("write");
            // Newer CLIs also want `-W shared-memory=y` to create the
            // threads probe's memory; the proposal itself is what is tested.
            let base: Vec<String> = if name == "threads" && v >= WasmtimeVersion::new(48, 0, 0) {
                vec!["-W shared-memory=y".to_owned()]
            } else {
                Vec::new()
            };
            let plain = real_run_with(&cli, &wasm, &base, tmp.path());
            assert!(
                plain.is_ok(),
                "{name} on {version} without -W flags: {plain:?}"
            );
            assert!(
                wasmunit::releases::proposals::defaults_of(v).contains(match name {
                    "threads" => wasmparser::WasmFeatures::THREADS,
                    _ => wasmparser::WasmFeatures::MEMORY64,
                })
            );
        }
        for (name, wat) in probes {
            let p = PROPOSALS
                .iter()
                .find(|p| p.name == name)
                .expect("in the table");
            let wasm = tmp.path().join(format!("{name}.wasm"));
            std::fs::write(&wasm, wat::parse_str(wat).expect("wat")).expect("write");
            let base: Vec<String> = Vec::new();
            let plain = real_run_with(&cli, &wasm, &base, tmp.path());
            assert_eq!(
                plain.is_ok(),
                p.on_by_default(v),
                "{name} on {version} without flags: {plain:?}"
            );
            if let Some(flag) = p.flag_in(v) {
                let mut flags = base.clone();
                flags.push(format!("-W {flag}=y"));
                let flagged = real_run_with(&cli, &wasm, &flags, tmp.path());
                assert!(
                    flagged.is_ok(),
                    "{name} on {version} with -W {flag}=y: {flagged:?}"
                );
            }
        }
    }
}

/// The new yosys build (exception handling) passes check for the newest
/// buildable CLI with no flag, and that CLI indeed runs it as is (`-V`:
/// yosys loads, instantiates and prints its version). The CLI keeps its
/// own compilation cache in a folder of the tests' (wasmtime keys each
/// entry on the module, its own version and settings, and compiles again
/// on any miss): only the first run on a machine pays the ~30 s compile.
#[test]
fn the_newest_cli_runs_what_check_lets_through() {
    let cli = common::require_wasmtime_cli_version(common::NEWEST_CLI);
    let new = common::real_module("yosys-0.70.wasm");
    let (s, doc) = common::check_json(&[
        OsStr::new("--no-cache"),
        OsStr::new("--wasmtime"),
        OsStr::new(common::NEWEST_CLI),
        new.as_os_str(),
    ]);
    assert_eq!(s, 0, "{doc}");
    assert_eq!(doc["results"][0]["flags"], serde_json::json!([]));
    let out = Command::new(&cli)
        .arg("run")
        .arg("-C")
        .arg(format!(
            "cache-config={}",
            common::wasmtime_cache_config().display()
        ))
        .arg(&new)
        .arg("-V")
        .output()
        .expect("wasmtime run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(version.starts_with("Yosys 0.70 "), "{version}");
}

/// A command component that imports wasi:http (one resource of its types;
/// an empty instance would link whatever its name, measured on 31.0.0) and
/// exports `wasi:cli/run`.
const HTTP_CLIENT: &str = r#"(component
  (import "wasi:http/types@0.2.0" (instance
    (export "outgoing-request" (type (sub resource)))))
  (core module $m (func (export "run") (result i32) i32.const 0))
  (core instance $i (instantiate $m))
  (func $run (result (result)) (canon lift (core func $i "run")))
  (instance $run_instance (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $run_instance)))"#;

/// A wasi:http proxy: exports `wasi:http/incoming-handler` over the
/// resources of `wasi:http/types`.
const PROXY: &str = r#"(component
  (import "wasi:http/types@0.2.0" (instance $types
    (export "incoming-request" (type (sub resource)))
    (export "response-outparam" (type (sub resource)))))
  (alias export $types "incoming-request" (type $request))
  (alias export $types "response-outparam" (type $out))
  (core module $m (func (export "handle") (param i32 i32)))
  (core instance $i (instantiate $m))
  (func $handle (param "request" (own $request)) (param "response-out" (own $out))
    (canon lift (core func $i "handle")))
  (instance $handler (export "handle" (func $handle)))
  (export "wasi:http/incoming-handler@0.2.0" (instance $handler)))"#;

#[test]
fn an_http_client_component_runs_with_s_http_and_needs_network() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cli = common::require_wasmtime_cli();

    // Outgoing HTTP: `wasmtime run` with `-S http`, and a network grant.
    let client = tmp.path().join("client.wasm");
    std::fs::write(&client, wat::parse_str(HTTP_CLIENT).expect("wat")).expect("write");
    let (status, doc) = common::check_json(&[OsStr::new("--no-cache"), client.as_os_str()]);
    let r = &doc["results"][0];
    assert_eq!(status, 0, "{r}");
    assert_eq!(r["world"], "command");
    assert_eq!(r["runs"]["command"], "wasmtime run");
    assert_eq!(r["runs"]["manifest_keys"], serde_json::json!(["network"]));
    assert_eq!(r["flags"], serde_json::json!(["-S http=y"]));
    let run = |flags: &[&str]| {
        Command::new(&cli)
            .arg("run")
            .args(flags)
            .arg(&client)
            .env("XDG_CACHE_HOME", tmp.path().join("cache"))
            .output()
            .expect("wasmtime")
    };
    let without = run(&[]);
    assert!(!without.status.success(), "runs without -S http");
    assert!(
        String::from_utf8_lossy(&without.stderr).contains("wasi:http/types@0.2.0"),
        "{}",
        String::from_utf8_lossy(&without.stderr)
    );
    let with = run(&["-S", "http=y"]);
    assert!(
        with.status.success(),
        "{}",
        String::from_utf8_lossy(&with.stderr)
    );
}

/// A proxy: `wasmtime serve`, and the app needs `listen`.
#[test]
fn a_proxy_component_is_served_and_needs_listen() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cli = common::require_wasmtime_cli();
    let proxy = tmp.path().join("proxy.wasm");
    std::fs::write(&proxy, wat::parse_str(PROXY).expect("wat")).expect("write");
    let (status, doc) = common::check_json(&[OsStr::new("--no-cache"), proxy.as_os_str()]);
    let r = &doc["results"][0];
    assert_eq!(status, 0, "{r}");
    assert_eq!(r["world"], "proxy");
    assert_eq!(r["runs"]["command"], "wasmtime serve");
    assert_eq!(r["runs"]["manifest_keys"], serde_json::json!(["listen"]));
    let human = Command::new(env!("CARGO_BIN_EXE_wasmunit"))
        .args(["check", "--no-cache"])
        .arg(&proxy)
        .output()
        .expect("check");
    assert!(
        String::from_utf8_lossy(&human.stdout)
            .contains("runs: `wasmtime serve`; the app needs `listen`"),
        "{}",
        String::from_utf8_lossy(&human.stdout)
    );
    // The real CLI serves it (and refuses to `run` it).
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        l.local_addr().expect("addr").port()
    };
    let mut serve = Command::new(&cli)
        .arg("serve")
        .arg(format!("--addr=127.0.0.1:{port}"))
        .arg(&proxy)
        .env("XDG_CACHE_HOME", tmp.path().join("cache"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("wasmtime serve");
    let mut up = false;
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            up = true;
            break;
        }
        if serve.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = serve.kill();
    let out = serve.wait_with_output().expect("serve output");
    assert!(
        up,
        "wasmtime serve did not listen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ran = Command::new(&cli)
        .arg("run")
        .arg(&proxy)
        .env("XDG_CACHE_HOME", tmp.path().join("cache"))
        .output()
        .expect("wasmtime");
    assert!(!ran.status.success());

    // render refuses a proxy app without `listen`, and says so.
    let dir = tmp.path().join("m");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::copy(&proxy, dir.join("proxy.wasm")).expect("copy");
    std::fs::write(
        dir.join("apps.toml"),
        "version = 1\n[app.web]\nmodule = \"proxy.wasm\"\n",
    )
    .expect("manifest");
    let out = Command::new(env!("CARGO_BIN_EXE_wasmunit"))
        .arg("render")
        .arg(dir.join("apps.toml"))
        .output()
        .expect("render");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("runs under `wasmtime serve`: give the app a `listen` address"),
        "{stderr}"
    );
}

/// The real CLIs, by the version each reports: 31.0.0 and 50.0.1 built
/// from crates.io, the official 48.0.2 and 49.0.4 (it reports 49.0.3).
fn real_clis() -> [(&'static str, std::path::PathBuf); 4] {
    [
        ("31.0.0", common::require_wasmtime_cli_version("31.0.0")),
        (
            common::NEWEST_CLI,
            common::require_wasmtime_cli_version(common::NEWEST_CLI),
        ),
        (
            "49.0.3",
            common::installed_tool("wasmtime-official-49.0.4/wasmtime"),
        ),
        ("50.0.1", common::require_wasmtime_cli_version("50.0.1")),
    ]
}

/// Every flag render can emit, against four real CLIs (31.0.0 and 50.0.1
/// from crates.io, the official 48.0.2 and 49 release binaries): the CLI reads it (no
/// usage error, no "no longer supported") exactly where the flag table
/// says it exists. A flag a CLI knows but cannot honour without its
/// build's optional parts (wasi-nn, …) still counts as read.
#[test]
fn the_flag_table_matches_four_real_clis() {
    use wasmunit::releases::proposals::PROPOSALS;
    use wasmunit::releases::{Flag, WasiOption, WasmtimeVersion};
    let mut flags = vec![
        Flag::MaxMemorySize(1 << 20),
        Flag::SharedMemory,
        Flag::Wasi(WasiOption::InheritNetwork),
        Flag::Wasi(WasiOption::AllowIpNameLookup),
        Flag::Wasi(WasiOption::Http),
        Flag::Wasi(WasiOption::Cli),
        Flag::Wasi(WasiOption::Nn),
        Flag::Wasi(WasiOption::Config),
        Flag::Wasi(WasiOption::Keyvalue),
        Flag::Wasi(WasiOption::Threads),
    ];
    flags.extend(
        PROPOSALS
            .iter()
            .filter_map(|p| p.flag_in(WasmtimeVersion::NEWEST))
            .map(Flag::Proposal),
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let module = tmp.path().join("tiny.wasm");
    std::fs::write(
        &module,
        wat::parse_str(r#"(module (memory (export "memory") 1) (func (export "_start")))"#)
            .expect("wat"),
    )
    .expect("write");
    let clis = real_clis();
    let mut checked = 0;
    for (version, cli) in &clis {
        let v = WasmtimeVersion::parse(version).expect("version");
        for flag in &flags {
            let words = flag.to_string();
            let out = Command::new(cli)
                .arg("run")
                .args(words.split(' '))
                .arg(&module)
                .env("XDG_CACHE_HOME", tmp.path().join("cache"))
                .output()
                .expect("wasmtime");
            let stderr = String::from_utf8_lossy(&out.stderr);
            let read = out.status.code() != Some(2)
                && !stderr.contains("no longer supported")
                && !stderr.contains("unknown")
                && !stderr.contains("unexpected argument");
            assert_eq!(
                read,
                flag.spell(v).is_ok(),
                "wasmtime {version} `{words}`: exit {:?}: {stderr}",
                out.status.code()
            );
            checked += 1;
        }
    }
    assert!(checked >= 4 * 14, "{checked}");
}

/// `serve`'s socket options, from each real CLI's own `serve --help`: only
/// 50 and later take systemd's socket and exit when idle
/// (`releases::serve`), so a unit for an older target gets the proxy.
#[test]
fn only_wasmtime_50_serve_takes_the_socket() {
    use wasmunit::releases::{serve, TargetRange};
    let clis = real_clis();
    for (version, cli) in &clis {
        let out = Command::new(cli)
            .args(["serve", "--help"])
            .output()
            .expect("wasmtime serve --help");
        assert_eq!(out.status.code(), Some(0), "{version}");
        let help = String::from_utf8_lossy(&out.stdout);
        let takes = serve::takes_socket(TargetRange::parse(version).expect("version"));
        for option in [serve::LISTENFD_OPTION, serve::IDLE_OPTION] {
            assert_eq!(
                help.contains(&format!("{option} ")) || help.contains(&format!("{option}\n")),
                takes,
                "wasmtime {version} serve --help and {option}"
            );
        }
        assert!(help.contains("--addr <SOCKADDR>"), "{version}: {help}");
    }
}

/// `check --wasmtime RANGE` judges the module at both ends of the range.
#[test]
fn a_range_is_judged_at_both_ends() {
    let tmp = tempfile::tempdir().expect("tmp");
    let wasm = tmp.path().join("threads.wasm");
    std::fs::write(
        &wasm,
        wat::parse_file(common::repo().join("tests/cases/modules/wasi-threads.wat")).expect("wat"),
    )
    .expect("write");
    let (status, doc) = common::check_json(&[
        OsStr::new("--no-cache"),
        OsStr::new("--wasmtime"),
        OsStr::new(">=31.0.0, <50"),
        wasm.as_os_str(),
    ]);
    let results = doc["results"].as_array().expect("results");
    let targets: Vec<&str> = results
        .iter()
        .map(|r| r["target"].as_str().expect("t"))
        .collect();
    assert_eq!(targets, ["31.0.0", "49.0.0"]);
    assert_eq!(results[0]["flags"], serde_json::json!(["-S threads=y"]));
    assert!(results[1]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .any(|f| f["code"] == "unknown-import"));
    assert_eq!(status, 1);
}

/// The codes of a JSON result's error findings.
fn error_codes(result: &serde_json::Value) -> Vec<String> {
    result["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| f["code"].as_str().expect("code").to_owned())
        .collect()
}

/// A command component whose only import is `import` (an instance type).
fn command_importing(import: &str) -> String {
    format!(
        r#"(component
  (import {import})
  (core module $m (func (export "run") (result i32) i32.const 0))
  (core instance $i (instantiate $m))
  (func $run (result (result)) (canon lift (core func $i "run")))
  (instance $run_instance (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $run_instance)))"#
    )
}

/// Component imports under `--compile` go through wasmtime-wasi's own WASI
/// 0.2 linker (names and types), without it through the list of interfaces
/// (names); each verdict is the real 31.0.0 CLI's.
#[test]
fn component_imports_are_linked_the_way_the_cli_links_them() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cli = common::require_wasmtime_cli();
    // (case, import, plain check blocks, --compile finding, what the CLI says)
    let cases = [
        (
            "mistyped",
            r#""wasi:cli/environment@0.2.0" (instance (export "get-environment" (func (result u32))))"#,
            None,
            Some("incompatible-import"),
            Some("instance export `get-environment` has the wrong type"),
        ),
        (
            "no-such-interface",
            r#""wasi:filesystem/nonexistent@0.2.0" (instance (export "f" (func)))"#,
            Some("unknown-import"),
            Some("incompatible-import"),
            Some("wasi:filesystem/nonexistent@0.2.0"),
        ),
        (
            "well-typed",
            r#""wasi:cli/environment@0.2.0" (instance (export "get-arguments" (func (result (list string)))))"#,
            None,
            None,
            None,
        ),
    ];
    for (case, import, plain, compiled, cli_says) in cases {
        let path = tmp.path().join(format!("{case}.wasm"));
        std::fs::write(
            &path,
            wat::parse_str(command_importing(import)).expect("wat"),
        )
        .expect("write");
        let ids = |doc: &serde_json::Value| error_codes(&doc["results"][0]);
        let (status, doc) = common::check_json(&[OsStr::new("--no-cache"), path.as_os_str()]);
        assert_eq!(
            (status, ids(&doc)),
            (
                i32::from(plain.is_some()),
                plain.iter().map(|s| (*s).to_owned()).collect()
            ),
            "{case}: {doc}"
        );
        let (status, doc) = common::check_json(&[
            OsStr::new("--no-cache"),
            OsStr::new("--compile"),
            path.as_os_str(),
        ]);
        let mut want: Vec<String> = plain.iter().map(|s| (*s).to_owned()).collect();
        want.extend(compiled.map(str::to_owned));
        assert_eq!(
            (status, ids(&doc)),
            (i32::from(!want.is_empty()), want),
            "{case}: {doc}"
        );
        let run = Command::new(&cli)
            .arg("run")
            .arg(&path)
            .env("XDG_CACHE_HOME", tmp.path().join("cache"))
            .env("WASMTIME_BACKTRACE_DETAILS", "0")
            .output()
            .expect("wasmtime");
        let stderr = String::from_utf8_lossy(&run.stderr);
        match cli_says {
            None => assert!(run.status.success(), "{case}: {stderr}"),
            Some(text) => {
                assert!(!run.status.success(), "{case}: the CLI ran it");
                assert!(stderr.contains(text), "{case}: {stderr}");
                // check names the same import the CLI does.
                let message = doc["results"][0]["findings"]
                    .as_array()
                    .expect("findings")
                    .iter()
                    .filter(|f| f["code"] == "incompatible-import")
                    .map(|f| f["message"].as_str().expect("message").to_owned())
                    .collect::<String>();
                assert!(message.contains(text), "{case}: {message}");
            }
        }
    }
}
