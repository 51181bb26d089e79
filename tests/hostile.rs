//! Hostile inputs, one test per class of the trust-boundaries issue: what
//! an attacker who can push to the manifest's repository, or a careless
//! user, puts in front of `render` and `check`. Every run has a deadline:
//! a hang fails the test instead of hanging CI. The plan-level classes
//! (OS folders, systemd's limits, URLs) are golden cases:
//! tests/cases/err-os-folders.toml, err-systemd-limits.toml, err-url.toml.

use std::ffi::OsStr;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;

const DEADLINE: Duration = Duration::from_secs(60);

/// Runs wasmunit in `cwd` with a private cache; panics if it runs past
/// the deadline (it is killed first).
fn wasmunit(args: &[&OsStr], cwd: &Path) -> Output {
    let cache = cwd.join(".test-cache");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wasmunit"));
    cmd.args(args)
        .current_dir(cwd)
        .env("WASMUNIT_CACHE_DIR", &cache);
    finish(cmd.stdout(Stdio::piped()).stderr(Stdio::piped()))
}

fn finish(cmd: &mut Command) -> Output {
    let mut child = cmd.spawn().expect("spawn wasmunit");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("wasmunit {cmd:?} hung for {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked") && out.status.code() != Some(101),
        "{cmd:?} panicked: {stderr}"
    );
    out
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const TINY: &str = r#"(module (func (export "_start")))"#;

/// A manifest folder with one command module, `modules/tiny.wat`.
fn project(manifest: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("repo");
    std::fs::create_dir_all(dir.join("modules")).expect("mkdir");
    std::fs::write(dir.join("modules/tiny.wat"), TINY).expect("module");
    std::fs::write(dir.join("apps.toml"), manifest).expect("manifest");
    (tmp, dir)
}

fn render(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec![os("render"), os("apps.toml")];
    args.extend(extra.iter().map(|a| os(a)));
    wasmunit(&args, dir)
}

#[test]
fn a_link_in_any_component_below_the_manifest_folder_is_refused() {
    for (source, link, target) in [
        ("etc/hostname", "etc", "/etc"),
        ("proc/self/environ", "proc", "/proc"),
        ("data/hostname", "data/hostname", "/etc/hostname"),
    ] {
        let (_tmp, dir) = project(&format!(
            "version = 1\n[app.a]\nmodule = \"modules/tiny.wat\"\nfiles = [{{ source = \"{source}\", guest = \"/c\" }}]\n"
        ));
        std::fs::create_dir_all(dir.join("data")).expect("mkdir");
        symlink(target, dir.join(link)).expect("link");
        for extra in [&[][..], &["--ignition"], &["--out", "out"]] {
            let out = render(&dir, extra);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(1), "{source} {extra:?}: {err}");
            assert!(
                err.contains(&format!("`{link}` is a symbolic link")),
                "{source} {extra:?}: {err}"
            );
            assert!(out.stdout.is_empty(), "{source}: wrote to stdout");
            assert!(!dir.join("out").exists(), "{source}: wrote --out");
        }
    }
    // Modules too, checked or not.
    let (tmp, dir) = project("version = 1\n[app.a]\nmodule = \"linked/tiny.wat\"\n");
    std::fs::create_dir_all(tmp.path().join("elsewhere")).expect("mkdir");
    std::fs::write(tmp.path().join("elsewhere/tiny.wat"), TINY).expect("module");
    symlink(tmp.path().join("elsewhere"), dir.join("linked")).expect("link");
    for extra in [&[][..], &["--no-check"]] {
        let out = render(&dir, extra);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("linked` is a symbolic link"),
            "{}",
            stderr(&out)
        );
    }
    // And the manifest itself: its errors would quote another file.
    symlink("/etc/shadow", dir.join("shadow.toml")).expect("link");
    let out = wasmunit(&[os("render"), os("shadow.toml")], &dir);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("manifest is a symbolic link"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn shipped_names_butane_cannot_carry_are_refused() {
    use std::os::unix::ffi::OsStrExt;
    let (_tmp, dir) = project(
        "version = 1\n[app.a]\nmodule = \"modules/tiny.wat\"\nfiles = [{ source = \"site\", guest = \"/site\" }]\n",
    );
    std::fs::create_dir_all(dir.join("site")).expect("mkdir");
    std::fs::write(
        dir.join("site").join(OsStr::from_bytes(b"caf\xe9.html")),
        "x",
    )
    .expect("w");
    let out = render(&dir, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not UTF-8"), "{}", stderr(&out));
}

#[test]
fn the_marker_is_read_only_when_it_is_a_small_regular_file() {
    let (_tmp, dir) = project("version = 1\n[app.a]\nmodule = \"modules/tiny.wat\"\n");
    let out_dir = dir.join("out");
    std::fs::create_dir_all(&out_dir).expect("mkdir");
    let marker = out_dir.join(".wasmunit-owned");
    let c = std::ffi::CString::new(marker.to_str().expect("utf8")).expect("c");
    // SAFETY: mkfifo reads a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let out = render(&dir, &["--out", "out"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is a FIFO"), "{}", stderr(&out));
    std::fs::remove_file(&marker).expect("rm");
    symlink("/dev/zero", &marker).expect("link");
    let out = render(&dir, &["--out", "out"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is a symbolic link"),
        "{}",
        stderr(&out)
    );
    // Nothing else was written either time.
    assert_eq!(std::fs::read_dir(&out_dir).expect("ls").count(), 1);
}

#[test]
fn a_users_file_named_like_a_temp_file_is_never_deleted() {
    let (_tmp, dir) = project("version = 1\n[app.a]\nmodule = \"modules/tiny.wat\"\n");
    let out_dir = dir.join("out");
    std::fs::create_dir_all(&out_dir).expect("mkdir");
    let mine = [".wasmunit-tmp-notes", ".wasmunit-tmp-0123456789abcdef"];
    for m in mine {
        std::fs::write(out_dir.join(m), "mine").expect("user file");
    }
    for _ in 0..2 {
        let out = render(&dir, &["--out", "out"]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    for m in mine {
        assert_eq!(std::fs::read_to_string(out_dir.join(m)).expect(m), "mine");
    }
}

/// Every file of a folder and its bytes, the marker included.
fn listing(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| {
            let e = e.expect("entry");
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn two_renders_into_one_folder_at_once_lose_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (a, b) = (
        tmp.path().join("a/apps.toml"),
        tmp.path().join("b/apps.toml"),
    );
    common::write_generated_manifest(&a, 1, 300);
    common::write_generated_manifest(&b, 2, 300);
    let run = |m: &Path, out: &Path| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wasmunit"));
        cmd.args([
            os("render"),
            m.as_os_str(),
            os("--no-check"),
            os("--out"),
            out.as_os_str(),
        ])
        .env("WASMUNIT_CACHE_DIR", tmp.path().join("cache"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        cmd
    };
    let (fa, fb) = (tmp.path().join("fresh-a"), tmp.path().join("fresh-b"));
    assert!(finish(&mut run(&a, &fa)).status.success());
    assert!(finish(&mut run(&b, &fb)).status.success());
    let (fa, fb) = (listing(&fa), listing(&fb));
    let out = tmp.path().join("out");
    for round in 0..6 {
        let (first, second) = if round % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let one = run(first, &out).spawn().expect("spawn");
        let two = finish(&mut run(second, &out));
        let one = one.wait_with_output().expect("wait");
        assert!(one.status.success(), "round {round}: {}", stderr(&one));
        assert!(two.status.success(), "round {round}: {}", stderr(&two));
        let now = listing(&out);
        assert!(
            now == fa || now == fb,
            "round {round}: a mix of two renders"
        );
    }
}

#[test]
fn a_second_run_waits_for_the_lock_and_says_so() {
    let (_tmp, dir) = project("version = 1\n[app.a]\nmodule = \"modules/tiny.wat\"\n");
    let out_dir = dir.join("out");
    std::fs::create_dir_all(&out_dir).expect("mkdir");
    // util-linux flock(1) holds the same kind of lock another run would.
    let holder = Command::new("flock")
        .arg(&out_dir)
        .args(["-c", "sleep 2"])
        .spawn();
    let Ok(mut holder) = holder else {
        panic!("flock(1) from util-linux is needed for this test");
    };
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let out = render(&dir, &["--out", "out"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("waiting for another wasmunit run"),
        "{}",
        stderr(&out)
    );
    assert!(started.elapsed() > Duration::from_secs(1), "did not wait");
    let _ = holder.wait();
}

#[test]
fn check_sees_a_module_rewritten_with_the_same_size_and_mtime() {
    let tmp = tempfile::tempdir().expect("tmp");
    let wasm = tmp.path().join("m.wasm");
    let a = wat::parse_str(r#"(module (func (export "_start") (drop (i32.const 1))))"#).expect("a");
    let b = wat::parse_str(r#"(module (func (export "_start") (drop (i32.const 2))))"#).expect("b");
    assert_eq!(a.len(), b.len());
    let old_time = std::time::UNIX_EPOCH + Duration::from_secs(1);
    let write = |bytes: &[u8]| {
        // In place, as `cp -p` and reproducible builds do: same inode,
        // same size, same mtime.
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&wasm)
            .expect("open");
        std::io::Write::write_all(&mut &f, bytes).expect("write");
        f.set_modified(old_time).expect("mtime");
    };
    let sha = || {
        let out = wasmunit(
            &[os("check"), wasm.as_os_str(), os("--format"), os("json")],
            tmp.path(),
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        v["results"][0]["sha256"].as_str().expect("sha").to_owned()
    };
    write(&a);
    // Old enough that its identity is trusted and remembered.
    std::thread::sleep(Duration::from_millis(3200));
    let first = sha();
    assert_eq!(first, sha(), "an unchanged file hashes alike");
    write(&b);
    let second = sha();
    assert_ne!(first, second, "reported the old module's hash");
}

#[test]
fn check_refuses_what_the_cli_refuses_when_it_instantiates() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cases = [
        (
            "params.wat",
            r#"(module (func (export "_start") (param i32)))"#,
            "entry-takes-parameters",
        ),
        (
            "data.wat",
            r#"(module (memory 1) (data (i32.const 65530) "0123456789") (func (export "_start")))"#,
            "fails-to-instantiate",
        ),
        (
            "elem.wat",
            r#"(module (table 1 funcref) (func $f) (elem (i32.const 1) $f) (func (export "_start")))"#,
            "fails-to-instantiate",
        ),
    ];
    let cli = common::require_wasmtime_cli();
    for (name, text, code) in cases {
        let wasm = tmp.path().join(name).with_extension("wasm");
        std::fs::write(&wasm, wat::parse_str(text).expect("wat")).expect("write");
        let out = wasmunit(
            &[
                os("check"),
                os("--compile"),
                wasm.as_os_str(),
                os("--format"),
                os("json"),
            ],
            tmp.path(),
        );
        let text_out = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{name}: {text_out}");
        assert!(text_out.contains(code), "{name}: {text_out}");
        // The real CLI agrees: it refuses to run it.
        let real = Command::new(&cli)
            .arg("run")
            .arg(&wasm)
            .output()
            .expect("wasmtime");
        assert!(
            !real.status.success(),
            "{name}: wasmtime 31 ran it: {}",
            String::from_utf8_lossy(&real.stderr)
        );
    }
}

#[test]
fn credentials_in_a_module_url_reach_only_the_fragment() {
    let (_tmp, dir) = project(&format!(
        "version = 1\n[app.a]\nmodule = {{ url = \"https://ci:hunter2@example.org/a.wasm\", sha256 = \"{}\" }}\n",
        "ab".repeat(32)
    ));
    let out = render(&dir, &["--out", "out"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("hunter2"), "{}", stderr(&out));
    for e in std::fs::read_dir(dir.join("out")).expect("out") {
        let e = e.expect("entry");
        let text = std::fs::read_to_string(e.path()).expect("read");
        let name = e.file_name().to_string_lossy().into_owned();
        // Ignition needs the URL as given; no unit (world-readable) has it.
        assert_eq!(text.contains("hunter2"), name == "butane.yaml", "{name}");
    }
}

#[test]
fn a_closed_stdout_is_an_error_not_a_panic() {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = finish(
        Command::new(env!("CARGO_BIN_EXE_wasmunit"))
            .arg("schema")
            .stdout(writer)
            .stderr(Stdio::piped()),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("Broken pipe"), "{}", stderr(&out));
}

#[test]
fn control_characters_in_file_names_never_reach_the_terminal() {
    let tmp = tempfile::tempdir().expect("tmp");
    let name = "evil\x1b]0;owned\x07\x1b[2J.wasm";
    std::fs::write(tmp.path().join(name), b"\0asm\x01\0\0\0").expect("write");
    std::fs::write(
        tmp.path().join("m.toml"),
        "version = 1\n[app.a]\nmodule = \"nope.wasm\"\n",
    )
    .expect("manifest");
    for args in [
        vec![os("check"), os(name)],
        vec![os("check"), os("missing\x1b[2J.wasm")],
    ] {
        let out = wasmunit(&args, tmp.path());
        let all = [out.stdout.as_slice(), out.stderr.as_slice()].concat();
        assert!(
            !all.contains(&0x1b),
            "{args:?}: raw escape in {:?}",
            String::from_utf8_lossy(&all)
        );
    }
}

#[test]
fn a_blocked_module_is_named_at_its_manifest_line() {
    let (_tmp, dir) = project("version = 1\n\n[app.lib]\nmodule = \"modules/lib.wat\"\n");
    std::fs::write(
        dir.join("modules/lib.wat"),
        "(module (func (export \"f\")))",
    )
    .expect("w");
    let out = render(&dir, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("apps.toml:4:10: error: the module of app `lib` would not run"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn outbound_apps_cannot_listen_at_all() {
    let (_tmp, dir) = project(
        "version = 1\n[app.client]\nmodule = \"modules/tiny.wat\"\nnetwork = \"outbound\"\n",
    );
    let out = render(&dir, &["--out", "out"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let unit = std::fs::read_to_string(dir.join("out/wasm-client.service")).expect("unit");
    assert_eq!(
        common::unit_values(&unit, "Service", "SystemCallFilter")
            .last()
            .map(String::as_str),
        Some("~listen"),
        "{unit}"
    );
}

#[test]
fn a_pinned_image_is_read_only_as_a_regular_file_below_the_manifest() {
    let pin = |image: &str| {
        format!(
            "version = 1\n[app.a]\nmodule = \"modules/tiny.wat\"\n\
             pin = {{ wasmtime = \"31.0.0\", image = \"{image}\" }}\n"
        )
    };
    // A link to a real image, a fifo (reading it would block), a folder,
    // and a path that climbs out: each refused, nothing written.
    let (_keep, dir) = project(&pin("images/link.raw"));
    std::fs::create_dir_all(dir.join("images")).expect("mkdir");
    std::fs::write(dir.join("images/real.raw"), b"hsqs\0\0\0\0").expect("image");
    symlink("real.raw", dir.join("images/link.raw")).expect("link");
    let c_path = std::ffi::CString::new(dir.join("images/fifo.raw").as_os_str().as_encoded_bytes())
        .expect("path");
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0);
    std::fs::create_dir_all(dir.join("images/dir.raw")).expect("mkdir");
    for (image, why) in [
        ("images/link.raw", "link"),
        ("images/fifo.raw", "not a regular file"),
        ("images/dir.raw", "not a regular file"),
        ("../outside.raw", ".."),
    ] {
        std::fs::write(dir.join("apps.toml"), pin(image)).expect("manifest");
        let o = render(&dir, &[]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{image}: {err}");
        assert!(err.contains("pin.image"), "{image}: {err}");
        assert!(err.contains(why), "{image}: expected `{why}` in {err}");
        assert!(o.stdout.is_empty(), "{image}: a fragment was printed");
    }
}
