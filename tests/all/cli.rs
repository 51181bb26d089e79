//! End-to-end behaviour of the binary: exit statuses, determinism, and that
//! nothing is written unless everything is valid.

use std::path::Path;
use std::process::{Command, Output};

use crate::common;

fn wasmunit(args: &[&std::ffi::OsStr], cwd: &Path) -> Output {
    let cache = tempfile::tempdir().expect("cache dir");
    Command::new(env!("CARGO_BIN_EXE_wasmunit"))
        .args(args)
        .current_dir(cwd)
        .env("WASMUNIT_CACHE_DIR", cache.path())
        .output()
        .expect("run wasmunit")
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

/// `wasmunit render MANIFEST --out OUT`, run in `cwd`.
fn render_out(manifest: &Path, out: &Path, cwd: &Path) -> Output {
    wasmunit(
        &[
            os("render"),
            manifest.as_os_str(),
            os("--out"),
            out.as_os_str(),
        ],
        cwd,
    )
}

#[test]
fn output_is_byte_for_byte_deterministic() {
    let example = common::repo().join("examples/apps.toml");
    let tmp = tempfile::tempdir().expect("tmp");
    let a = wasmunit(&[os("render"), example.as_os_str()], tmp.path());
    let b = wasmunit(&[os("render"), example.as_os_str()], &common::repo());
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    assert_eq!(
        a.stdout, b.stdout,
        "the fragment depends on the working folder or the run"
    );
    for d in ["one", "two"] {
        let out = render_out(&example, &tmp.path().join(d), tmp.path());
        assert!(out.status.success());
    }
    for e in std::fs::read_dir(tmp.path().join("one")).expect("out") {
        let name = e.expect("entry").file_name();
        let one = std::fs::read(tmp.path().join("one").join(&name)).expect("one");
        let two = std::fs::read(tmp.path().join("two").join(&name)).expect("two");
        assert_eq!(one, two, "{name:?} differs between runs");
    }
}

#[test]
fn a_second_render_rewrites_its_own_files_and_keeps_the_users() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("out");
    let example = common::repo().join("examples/apps.toml");
    std::fs::create_dir_all(&out).expect("mkdir");
    std::fs::write(out.join("notes.txt"), "mine").expect("user file");
    let first = render_out(&example, &out, tmp.path());
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let second = render_out(&example, &out, tmp.path());
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("0 written, 8 unchanged"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(out.join("notes.txt")).expect("notes"),
        "mine"
    );

    // A user's file where a unit would go: refused, nothing written.
    let other = tmp.path().join("other");
    std::fs::create_dir_all(&other).expect("mkdir");
    std::fs::write(other.join("wasm-hello.service"), "[Service]\n").expect("user unit");
    let refused = render_out(&example, &other, tmp.path());
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not written by wasmunit"));
    assert_eq!(std::fs::read_dir(&other).expect("dir").count(), 1);
}

#[test]
fn hostile_manifests_are_clear_errors() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = tmp.path();
    std::fs::write(d.join("latin1.toml"), b"version = 1\n# caf\xe9\n").expect("write");
    std::fs::create_dir_all(d.join("dir.toml")).expect("mkdir");
    std::fs::write(d.join("binary.toml"), [0u8, 159, 146, 150, 0, 1]).expect("write");
    for (file, text) in [
        (
            "latin1.toml",
            "latin1.toml:2:6: error: manifest is not valid UTF-8",
        ),
        ("dir.toml", "manifest is not a regular file"),
        ("missing.toml", "cannot read manifest"),
        ("binary.toml", "not valid UTF-8"),
    ] {
        let out = render_out(Path::new(file), &d.join("out"), d);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{file}: {stderr}");
        assert!(stderr.contains(text), "{file}: {stderr}");
        assert!(!stderr.contains("panicked"));
        assert!(!d.join("out").exists());
    }
}

#[test]
fn usage_errors_exit_2() {
    let tmp = tempfile::tempdir().expect("tmp");
    for args in [
        vec!["render"],
        vec!["render", "a.toml", "--butane-version", "9"],
        vec!["frobnicate"],
        vec!["render", "a.toml", "--wasmtime", "30.0.0"],
    ] {
        let args: Vec<&std::ffi::OsStr> = args.into_iter().map(os).collect();
        let out = wasmunit(&args, tmp.path());
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A module `check` cannot read is no usage error: exit 1, the file and
/// the reason named; likewise a file in `--out` that is not wasmunit's,
/// and an output folder that is a file.
#[test]
fn failures_name_their_cause_and_exit_1() {
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::create_dir(tmp.path().join("dir.wasm")).expect("folder");
    std::os::unix::fs::symlink("/etc/hostname", tmp.path().join("link.wasm")).expect("link");
    for (file, why) in [
        ("nope.wasm", "cannot read `nope.wasm`: No such file"),
        ("dir.wasm", "`dir.wasm` is a folder, not a regular file"),
        ("link.wasm", "`link.wasm` is a symbolic link"),
    ] {
        let out = wasmunit(&[os("check"), os(file)], tmp.path());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{file}: {err}");
        assert!(err.contains(why), "{file}: {err}");
    }
    let manifest = tmp.path().join("apps.toml");
    std::fs::write(&manifest, "version = 1\n[app.a]\nmodule = \"m.wat\"\n").expect("manifest");
    std::fs::write(
        tmp.path().join("m.wat"),
        "(module (func (export \"_start\")))",
    )
    .expect("wat");
    std::fs::write(tmp.path().join("taken"), "a file").expect("file");
    let out = render_out(&manifest, &tmp.path().join("taken"), tmp.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("taken exists and is not a folder"), "{err}");
}

/// The real binary killed (SIGKILL) at many points of `render --out` over
/// an earlier output: the next render always proceeds, and ends with the
/// same files as a render into a fresh folder.
#[test]
fn render_out_survives_being_killed_at_any_point() {
    let tmp = tempfile::tempdir().expect("tmp");
    let old = tmp.path().join("old/apps.toml");
    let new = tmp.path().join("new/apps.toml");
    common::write_generated_manifest(&old, 1, 250);
    common::write_generated_manifest(&new, 2, 250);
    let fresh = tmp.path().join("fresh");
    let started = std::time::Instant::now();
    let first = render_unchecked(&new, &fresh, tmp.path());
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let cache = tmp.path().join("cache");
    // Kill points spread over the time one whole render takes here.
    let full_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let mut interrupted = 0;
    for step in 0..16u64 {
        let delay_ms = full_us * step / 16 / 1000;
        let out = tmp.path().join(format!("out{delay_ms}"));
        assert!(render_unchecked(&old, &out, tmp.path()).status.success());
        let mut child = Command::new(env!("CARGO_BIN_EXE_wasmunit"))
            .args([
                os("render"),
                new.as_os_str(),
                os("--out"),
                out.as_os_str(),
                os("--no-check"),
            ])
            .env("WASMUNIT_CACHE_DIR", &cache)
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(std::time::Duration::from_micros(full_us * step / 16));
        let _ = child.kill();
        let status = child.wait().expect("wait");
        if !status.success() && listing(&out) != listing(&fresh) {
            interrupted += 1;
        }
        let again = render_unchecked(&new, &out, tmp.path());
        assert!(
            again.status.success(),
            "after a kill at {delay_ms} ms: {}",
            String::from_utf8_lossy(&again.stderr)
        );
        assert_eq!(
            listing(&out),
            listing(&fresh),
            "after a kill at {delay_ms} ms"
        );
    }
    assert!(interrupted > 0, "no kill interrupted a render");
}

/// Every file of a folder and its bytes, the ownership marker included.
fn listing(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| {
            let p = e.expect("entry").path();
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("read"))
        })
        .collect();
    v.sort();
    v
}

/// `render --out` of a generated manifest (its serve apps use a core module:
/// only the file writing is under test).
fn render_unchecked(manifest: &Path, out: &Path, cwd: &Path) -> Output {
    wasmunit(
        &[
            os("render"),
            manifest.as_os_str(),
            os("--out"),
            out.as_os_str(),
            os("--no-check"),
        ],
        cwd,
    )
}

/// A render that fails midway leaves stdout as it was: a regular file is
/// cut back to where it stood, a pipe gets nothing.
#[test]
fn a_failing_render_leaves_stdout_untouched() {
    let cases = common::repo().join("tests/cases");
    let tmp = tempfile::tempdir().expect("tmp");
    let file = tmp.path().join("out.yaml");
    std::fs::write(&file, "kept\n").expect("seed");
    let out = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .expect("open");
    let status = Command::new(env!("CARGO_BIN_EXE_wasmunit"))
        .args([os("render"), os("err-huge-arg.toml")])
        .current_dir(&cases)
        .env("WASMUNIT_CACHE_DIR", tmp.path().join("cache"))
        .stdout(out)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run");
    assert_eq!(status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "kept\n");
    let piped = wasmunit(&[os("render"), os("err-huge-arg.toml")], &cases);
    assert_eq!(piped.status.code(), Some(1));
    assert!(piped.stdout.is_empty());
}

/// A user's manager cannot run system units: `--user` is refused with the
/// reason before any file is written or any bus is asked.
#[test]
fn user_managers_are_refused_before_anything_is_touched() {
    let tmp = tempfile::tempdir().expect("tmp");
    let example = common::repo().join("examples/apps.toml");
    for cmd in ["apply", "diff", "status", "remove"] {
        let o = Command::new(env!("CARGO_BIN_EXE_wasmunit"))
            .arg(cmd)
            .arg(&example)
            .arg("--user")
            .arg("--root")
            .arg(tmp.path())
            .env("WASMUNIT_CACHE_DIR", tmp.path().join("cache"))
            // A bus that is not there: the refusal must come first.
            .env("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent")
            .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
            .output()
            .expect("wasmunit");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{cmd}: {err}");
        assert!(err.contains("--user is not supported"), "{cmd}: {err}");
        let left: Vec<_> = std::fs::read_dir(tmp.path())
            .expect("root")
            .map(|e| e.expect("entry").file_name())
            .filter(|n| n != "cache")
            .collect();
        assert!(left.is_empty(), "{cmd} wrote {left:?}");
    }
}

#[test]
fn a_wat_file_checks_as_the_module_a_manifest_would_ship() {
    let example = common::repo().join("examples");
    let tmp = tempfile::tempdir().expect("tmp");
    let wat = example.join("modules/hello.wat");
    let checked = wasmunit(
        &[os("check"), wat.as_os_str(), os("--format"), os("json")],
        tmp.path(),
    );
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stdout)
    );
    let report: serde_json::Value = serde_json::from_slice(&checked.stdout).expect("json");
    let result = &report["results"][0];
    assert_eq!(result["kind"], "core-module", "{result}");
    let sha = result["sha256"].as_str().expect("sha256");
    // The hash of the compiled binary: the content address render ships.
    let rendered = wasmunit(
        &[os("render"), example.join("apps.toml").as_os_str()],
        tmp.path(),
    );
    let fragment = String::from_utf8_lossy(&rendered.stdout);
    assert!(
        fragment.contains(&format!("/var/lib/wasmunit/modules/{sha}.wasm")),
        "{sha} not in the fragment"
    );

    // Cached, it is still the compiled binary's size, not the text's.
    let cache = tmp.path().join("cache");
    let check_json = || {
        let o = Command::new(env!("CARGO_BIN_EXE_wasmunit"))
            .args([os("check"), wat.as_os_str(), os("--format"), os("json")])
            .env("WASMUNIT_CACHE_DIR", &cache)
            .output()
            .expect("check");
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        v["results"][0].clone()
    };
    let (first, again) = (check_json(), check_json());
    assert_eq!(
        (&first["cached"], &again["cached"]),
        (&false.into(), &true.into())
    );
    assert_eq!(first["size"], result["size"]);
    assert_eq!(again["size"], result["size"]);

    std::fs::write(tmp.path().join("bad.wat"), "(module (func $x").expect("bad");
    let bad = wasmunit(&[os("check"), os("bad.wat")], tmp.path());
    let text = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(1), "{text}");
    assert!(
        text.contains("cannot compile it from WAT") && text.contains("bad.wat:1:17"),
        "{text}"
    );
}
