//! Hostile inputs, one test per class of the trust-boundaries issue: what
//! an attacker who can push to the manifest's repository, or a careless
//! user, puts in front of `render` and `check`. Every run has a deadline:
//! a hang fails the test instead of hanging CI. The plan-level classes
//! (OS folders, systemd's limits, URLs) are golden cases:
//! tests/cases/err-os-folders.toml, err-systemd-limits.toml, err-url.toml.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common;

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

/// `apps.toml:LINE:COL: error: ` of the manifest's line holding `needle`
/// (its first occurrence), as diagnostics print it.
fn at(manifest: &str, needle: &str) -> String {
    let (n, line) = manifest
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains(needle))
        .expect("needle in manifest");
    let mut col = line.find(needle).expect("needle") + 1;
    // A string value's span starts at its opening quote.
    if line[..col - 1].ends_with('"') {
        col -= 1;
    }
    format!("apps.toml:{}:{col}: error: ", n + 1)
}

// ---- Default deny (issue 32): one map of the node ----

#[test]
fn a_read_write_grant_reaches_only_where_the_users_data_lives() {
    // Each refused for a static identity (the widest writer) and, where it
    // is below systemd's trees, for a dynamic one too: root on the node
    // through tmpfiles, the OS's trees, wasmunit's own, parents of them.
    for (host, dynamic_too) in [
        ("/etc/tmpfiles.d", false),
        ("/etc", false),
        ("/etc/sysusers.d/x", false),
        ("/var/lib", true),
        ("/var", false),
        ("/tmp", false),
        ("/home/user", false),
        ("/opt/extensions", false),
        ("/var/lib/wasmunit/files", true),
        ("/run/credstore", true),
        ("/run/systemd/system", true),
        ("/var/lib/systemd", true),
        // Names below the per-service trees that privileged programs read
        // (modprobe runs `install` lines of /run/modprobe.d as root).
        ("/run/modprobe.d", true),
        ("/run/sysctl.d", true),
        ("/run/anything.conf", true),
        ("/run/nologin", true),
        ("/run/sudo", true),
        ("/var/lib/waagent", true),
        ("/var/lib/.hidden", true),
        ("/var/log/wtmp", true),
        // Any name that is not the app's own (Flatcar's toolbox runs its tree as root).
        ("/var/lib/toolbox", true),
        ("/run/issue", true),
        ("/var/lib/a", true),
    ] {
        for identity in ["static", "dynamic"] {
            if identity == "dynamic" && !dynamic_too {
                continue;
            }
            let manifest = format!(
                "version = 1\n[app.a]\nmodule = \"modules/tiny.wat\"\nidentity = \"{identity}\"\n\
                 dirs = [{{ host = \"{host}\", guest = \"/d\" }}]\n"
            );
            let (_keep, dir) = project(&manifest);
            let o = render(&dir, &[]);
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(1), "{identity} {host}: {err}");
            assert!(
                err.contains(&at(&manifest, host)),
                "{identity} {host}: not at its line: {err}"
            );
            assert!(
                err.contains("read-write host folder") || err.contains("manages itself"),
                "{identity} {host}: {err}"
            );
            assert!(
                o.stdout.is_empty(),
                "{identity} {host}: a fragment was printed"
            );
        }
    }
}

#[test]
fn a_static_identity_owns_folders_below_a_data_root_only() {
    // Below a data root a static identity owns its folder; elsewhere only
    // when the person running wasmunit adds the root.
    let manifest = |host: &str| {
        format!(
            "version = 1\n[app.a]\nmodule = \"modules/tiny.wat\"\nidentity = \"static\"\n\
             dirs = [{{ host = \"{host}\", guest = \"/d\" }}]\n"
        )
    };
    for ok in [
        "/srv/a/data",
        "/mnt/disk/a",
        "/var/mnt/a",
        "/var/lib/wasm-a",
    ] {
        let (_keep, dir) = project(&manifest(ok));
        let o = render(&dir, &[]);
        assert_eq!(o.status.code(), Some(0), "{ok}: {}", stderr(&o));
    }
    let (_keep, dir) = project(&manifest("/data/a"));
    let o = render(&dir, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("--data-root"), "{}", stderr(&o));
    let o = render(&dir, &["--data-root", "/data"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // A root the command line adds may not hold a privileged place either.
    for bad in ["/var", "/etc", "/opt"] {
        let o = render(&dir, &["--data-root", bad]);
        assert_eq!(
            o.status.code(),
            Some(2),
            "--data-root {bad}: {}",
            stderr(&o)
        );
        assert!(stderr(&o).contains("--data-root"), "{}", stderr(&o));
    }
    // The manifest cannot name a root.
    let widened = format!("{}data_root = \"/data\"\n", manifest("/data/a"));
    let (_keep, dir) = project(&widened);
    let o = render(&dir, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
}

#[test]
fn a_raw_table_cannot_widen_an_app() {
    for (section, line) in [
        ("service", "LoadCredential = \"shadow:/etc/shadow\""),
        ("service", "User = \"root\""),
        ("service", "ExecStartPre = \"+/bin/sh -c id\""),
        ("service", "ReadWritePaths = \"/etc\""),
        (
            "service",
            "Environment = \"WASMTIME_WASI=inherit-network=y\"",
        ),
        ("service", "StandardOutput = \"file:/etc/passwd\""),
        ("service", "PrivateNetwork = \"no\""),
        ("service", "SupplementaryGroups = \"disk\""),
        ("service", "AmbientCapabilities = \"CAP_SYS_ADMIN\""),
        ("unit", "OnFailure = \"poweroff.target\""),
        // Widening or overriding what wasmunit sets itself.
        ("service", "MemoryMax = \"infinity\""),
        ("service", "TasksMax = \"infinity\""),
        ("service", "LimitNOFILE = \"infinity\""),
        ("service", "KillSignal = \"SIGCONT\""),
        ("service", "CPUWeight = \"10000\""),
        ("service", "SyslogIdentifier = \"sshd\""),
        ("service", "LogExtraFields = \"PRIORITY=0\""),
        ("service", "RestartSec = \"0\""),
        ("unit", "StartLimitIntervalSec = \"0\""),
        ("unit", "After = \"multi-user.target\""),
        ("unit", "Description = \"%H\""),
        ("service", "WatchdogSec = \"1\""),
        // A file-descriptor store turns on the notify socket (NotifyAccess=main).
        ("service", "FileDescriptorStoreMax = \"4096\""),
        ("service", "RestartForceExitStatus = \"0 SIGTERM\""),
        ("unit", "SourcePath = \"/srv/x\""),
        ("unit", "Conflicts = \"sshd.service\""),
        ("install", "WantedBy = \"sysinit.target\""),
    ] {
        for table in [
            format!("[app.a.{section}]"),
            format!("[defaults.{section}]"),
        ] {
            let manifest =
                format!("version = 1\n[app.a]\nmodule = \"modules/tiny.wat\"\n{table}\n{line}\n");
            let (_keep, dir) = project(&manifest);
            let o = render(&dir, &[]);
            let err = stderr(&o);
            let key = line.split(' ').next().expect("key");
            assert_eq!(o.status.code(), Some(1), "{table} {line}: {err}");
            assert!(err.contains(&at(&manifest, key)), "{table} {line}: {err}");
            assert!(err.contains(&format!("--allow-key {key}")), "{line}: {err}");
            assert!(o.stdout.is_empty(), "{line}: a fragment was printed");
        }
    }
    // Keys that cannot widen it pass; unknown ones are refused (systemd
    // would ignore them); the person running wasmunit may allow one key.
    let manifest = "version = 1\n[app.a]\nmodule = \"modules/tiny.wat\"\n[app.a.service]\n\
                    TimeoutStopSec = \"5s\"\nRuntimeMaxSec = \"1h\"\n[app.a.unit]\nDocumentation = \"https://example.org\"\n";
    let (_keep, dir) = project(manifest);
    let o = render(&dir, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let manifest = "version = 1\n[app.a]\nmodule = \"modules/tiny.wat\"\n[app.a.service]\nTimeoutStpSec = \"5s\"\n";
    let (_keep, dir) = project(manifest);
    let o = render(&dir, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&at(manifest, "TimeoutStpSec")),
        "{}",
        stderr(&o)
    );
    let manifest =
        "version = 1\n[app.a]\nmodule = \"modules/tiny.wat\"\n[app.a.service]\nNice = \"-20\"\n";
    let (_keep, dir) = project(manifest);
    assert_eq!(render(&dir, &[]).status.code(), Some(1));
    let o = render(&dir, &["--allow-key", "Nice"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = render(&dir, &["--allow-key", "NoSuchKey"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// A squashfs image of `files` (path below the root, content, mode).
fn squashfs(dest: &Path, files: &[(&str, &[u8], u32)]) {
    use std::os::unix::fs::PermissionsExt as _;
    let tree = tempfile::tempdir().expect("tmp");
    for (path, bytes, mode) in files {
        let p = tree.path().join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, bytes).expect("file");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode)).expect("mode");
    }
    std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
    let o = Command::new("mksquashfs")
        .arg(tree.path())
        .arg(dest)
        .args(["-all-root", "-noappend", "-quiet"])
        .output()
        .expect("mksquashfs (bash tests/install-tools.sh installs squashfs-tools)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// A bad image: its name, its files (path, bytes, mode), the words the
/// refusal must hold, the pin's architecture.
type BadImage<'a> = (&'a str, Vec<(&'a str, &'a [u8], u32)>, &'a str, &'a str);

#[test]
#[allow(clippy::too_many_lines)] // one case per way an image lies, top to bottom
fn a_pinned_image_must_be_a_wasmtime_sysext() {
    const RELEASE: &str = "usr/lib/extension-release.d/extension-release.wasmtime";
    let pin = |image: &str, arch: &str| {
        format!(
            "version = 1\n[app.a]\nmodule = \"modules/tiny.wat\"\n\
             pin = {{ wasmtime = \"31.0.0\", arch = \"{arch}\", image = \"{image}\" }}\n"
        )
    };
    let (_keep, dir) = project(&pin("images/x.raw", "x86-64"));
    let elf: &[u8] = b"\x7fELF not really";
    let cases: [BadImage; 6] = [
        ("magic-only", vec![], "squashfs", "x86-64"),
        (
            "no-release",
            vec![("usr/bin/wasmtime", elf, 0o755)],
            "extension-release",
            "x86-64",
        ),
        (
            "other-name",
            vec![
                ("usr/bin/wasmtime", elf, 0o755),
                (
                    "usr/lib/extension-release.d/extension-release.evil",
                    b"ID=_any\n",
                    0o644,
                ),
            ],
            "extension-release",
            "x86-64",
        ),
        (
            "no-binary",
            vec![(RELEASE, b"ID=_any\nARCHITECTURE=x86-64\n", 0o644)],
            "/usr/bin/wasmtime",
            "x86-64",
        ),
        (
            "not-executable",
            vec![
                (RELEASE, b"ID=_any\n", 0o644),
                ("usr/bin/wasmtime", elf, 0o644),
            ],
            "not executable",
            "x86-64",
        ),
        (
            "other-arch",
            vec![
                (RELEASE, b"ID=_any\nARCHITECTURE=x86-64\n", 0o644),
                ("usr/bin/wasmtime", elf, 0o755),
            ],
            "arm64",
            "arm64",
        ),
    ];
    for (name, files, why, arch) in cases {
        let image = format!("images/{name}.raw");
        if files.is_empty() {
            std::fs::create_dir_all(dir.join("images")).expect("mkdir");
            std::fs::write(dir.join(&image), b"hsqs\0\0\0\0 and nothing else").expect("image");
        } else {
            squashfs(&dir.join(&image), &files);
        }
        let manifest = pin(&image, arch);
        std::fs::write(dir.join("apps.toml"), &manifest).expect("manifest");
        let o = render(&dir, &[]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains(&at(&manifest, "images/")), "{name}: {err}");
        assert!(err.contains(why), "{name}: expected `{why}` in {err}");
        assert!(o.stdout.is_empty(), "{name}: a fragment was printed");
    }
    // The real thing passes.
    let image = "images/good.raw";
    squashfs(
        &dir.join(image),
        &[
            (RELEASE, b"ID=_any\nARCHITECTURE=x86-64\n", 0o644),
            ("usr/bin/wasmtime", elf, 0o755),
        ],
    );
    std::fs::write(dir.join("apps.toml"), pin(image, "x86-64")).expect("manifest");
    let o = render(&dir, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn a_pinned_image_url_is_https_or_names_its_hash() {
    let pin = |image: &str| {
        format!(
            "version = 1\n[app.a]\nmodule = \"modules/tiny.wat\"\n\
             pin = {{ wasmtime = \"31.0.0\", image = \"{image}\" }}\n"
        )
    };
    let (_keep, dir) = project(&pin("https://example.org/w.raw"));
    // URLs: https, or any scheme Ignition fetches with the image's hash.
    for (url, ok) in [
        ("http://example.org/w.raw", false),
        ("tftp://example.org/w.raw", false),
        ("https://example.org/w.raw", true),
    ] {
        let manifest = pin(url);
        std::fs::write(dir.join("apps.toml"), &manifest).expect("manifest");
        let o = render(&dir, &[]);
        assert_eq!(
            o.status.code(),
            Some(i32::from(!ok)),
            "{url}: {}",
            stderr(&o)
        );
        if !ok {
            assert!(stderr(&o).contains(&at(&manifest, url)), "{}", stderr(&o));
        }
    }
    let hashed = format!(
        "version = 1\n[app.a]\nmodule = \"modules/tiny.wat\"\npin = {{ wasmtime = \"31.0.0\", \
         image = \"http://example.org/w.raw\", sha256 = \"{}\" }}\n",
        "ab".repeat(32)
    );
    std::fs::write(dir.join("apps.toml"), hashed).expect("manifest");
    let o = render(&dir, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn every_byte_a_render_embeds_comes_from_one_budget() {
    // Three images of 800 MiB each (sparse: nothing is on disk), each
    // below the 1 GiB an image may be, 2.4 GiB together: the third is
    // refused before it is read, whatever the first two were.
    let mut manifest = String::from("version = 1\n");
    for (i, v) in ["31.0.0", "48.0.0", "49.0.0"].iter().enumerate() {
        let _ = write!(
            manifest,
            "[app.a{i}]\nmodule = \"modules/tiny.wat\"\n\
             pin = {{ wasmtime = \"{v}\", image = \"images/{i}.raw\" }}\n"
        );
    }
    let (_keep, dir) = project(&manifest);
    std::fs::create_dir_all(dir.join("images")).expect("mkdir");
    for i in 0..3 {
        let f = std::fs::File::create(dir.join(format!("images/{i}.raw"))).expect("image");
        f.set_len(800 << 20).expect("sparse");
    }
    let o = render(&dir, &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("embeds past"), "{err}");
    assert!(err.contains(&at(&manifest, "images/2.raw")), "{err}");
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

/// The node map's verdict on one rendered app, read back from its unit
/// with the tests' own reader of systemd's syntax (not the renderer's):
/// every folder it may write, every credential path, its user, and every
/// line that runs with privileges.
#[allow(clippy::too_many_lines)] // one reader of every key the map judges, top to bottom
fn forbidden_in_unit(app: &str, unit: &str, identity_files: &[(String, String)]) -> Vec<String> {
    use crate::common::systemd_syntax::entries;
    use wasmunit::node::{grants, paths};
    let mut bad = Vec::new();
    let mut writable = Vec::new();
    for (section, key, value) in entries(unit) {
        if section != "Service" {
            continue;
        }
        let tree = match key.as_str() {
            "StateDirectory" => Some("/var/lib"),
            "CacheDirectory" => Some("/var/cache"),
            "LogsDirectory" => Some("/var/log"),
            "RuntimeDirectory" => Some("/run"),
            "ConfigurationDirectory" => Some("/etc"),
            _ => None,
        };
        if let Some(tree) = tree {
            for name in value.split_whitespace() {
                let name = name.split(':').next().unwrap_or(name);
                writable.push(format!("{tree}/{name}"));
            }
        }
        match key.as_str() {
            "ReadWritePaths" | "BindPaths" => {
                for p in value.split_whitespace() {
                    let p = p.trim_start_matches(['-', '+']);
                    writable.push(p.split(':').next().unwrap_or(p).to_owned());
                }
            }
            "LoadCredential" | "LoadCredentialEncrypted" => {
                let path = value.split_once(':').map_or("", |(_, p)| p);
                let in_store = paths::CREDENTIAL_STORES
                    .iter()
                    .any(|s| path.starts_with(&format!("{}/", s.path)) && !path.contains("/.."));
                if !in_store {
                    bad.push(format!("{key}={value}"));
                }
            }
            "User" | "Group" if value != format!("wasm-{app}") => {
                bad.push(format!("{key}={value}"));
            }
            // Its own cache, the one folder of wasmunit's an app writes.
            "CacheDirectory" if value == format!("wasmunit/{app}") => {
                writable.pop();
            }
            "DynamicUser" if value != "yes" => bad.push(format!("{key}={value}")),
            k if k.starts_with("Exec") => {
                let prefix: String = value
                    .trim_start()
                    .chars()
                    .take_while(|c| "@-:+!|".contains(*c))
                    .collect();
                let ours = format!(
                    "+{} --create {}",
                    paths::SYSTEMD_TMPFILES,
                    paths::TMPFILES_DIR.join(&paths::identity_file_name(app))
                );
                if (prefix.contains('+') || prefix.contains('!')) && value.trim() != ours {
                    bad.push(format!("{key}={value}"));
                }
            }
            "AmbientCapabilities"
            | "SupplementaryGroups"
            | "PermissionsStartOnly"
            | "RootDirectory"
            | "RootImage"
            | "EnvironmentFile"
                if !value.is_empty() =>
            {
                bad.push(format!("{key}={value}"));
            }
            _ => {}
        }
    }
    // The folders its static user is handed by systemd-tmpfiles.
    for (path, text) in identity_files {
        if path.starts_with(paths::TMPFILES_DIR.path) {
            for line in text.lines().filter(|l| l.starts_with("d ")) {
                writable.push(line.split_whitespace().nth(1).unwrap_or("").to_owned());
            }
        }
    }
    let roots = grants::DataRoots::default();
    for w in writable {
        let managed = ["/var/lib/", "/var/cache/", "/var/log/", "/run/"]
            .iter()
            .any(|t| w.starts_with(t));
        if grants::forbidden_for_writes(&w).is_some()
            || (!managed && roots.holding(&w).is_none())
            || w.contains("/..")
        {
            bad.push(format!("writes {w}"));
        }
    }
    bad
}

#[test]
#[allow(clippy::too_many_lines)] // the generator, the render and the verdict, top to bottom
fn no_manifest_render_accepts_reaches_past_the_node_map() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    const HOSTS: [&str; 20] = [
        "/srv/a",
        "/srv/b/c",
        "/mnt/x",
        "/var/mnt/d",
        "/var/lib/app",
        "/var/log/app",
        "/run/app",
        "/var/lib/wasmunit/x",
        "/etc/tmpfiles.d",
        "/etc",
        "/var/lib",
        "/tmp/x",
        "/run/credstore",
        "/opt/extensions",
        "/home/u",
        "/var/cache/wasmunit/a",
        "/srv",
        "/usr/share/x",
        "/etc/sysusers.d",
        "/run/systemd/x",
    ];
    const RAW: [(&str, &str, &str); 14] = [
        ("service", "User", "root"),
        ("service", "Group", "root"),
        ("service", "DynamicUser", "no"),
        ("service", "TimeoutStopSec", "5s"),
        ("service", "ReadWritePaths", "/etc"),
        ("service", "ExecStartPre", "+/bin/sh -c id"),
        ("service", "ExecStopPost", "!/bin/true"),
        ("service", "LoadCredential", "s:/etc/shadow"),
        ("service", "StateDirectory", "../../etc"),
        ("service", "BindPaths", "/etc:/x"),
        ("service", "SupplementaryGroups", "disk"),
        ("service", "RuntimeMaxSec", "1h"),
        ("unit", "Documentation", "https://example.org"),
        ("unit", "After", "network.target"),
    ];
    const CREDS: [&str; 5] = [
        "/etc/credstore/a",
        "/etc/shadow",
        "/run/credstore/x",
        "/etc/credstore/../shadow",
        "/usr/lib/credstore.encrypted/k",
    ];
    let app = (
        any::<bool>(),
        proptest::collection::vec((0..HOSTS.len(), any::<bool>()), 0..3),
        proptest::collection::vec(0..RAW.len(), 0..2),
        proptest::collection::vec(0..CREDS.len(), 0..2),
    );
    let mut runner = TestRunner::new(Config {
        cases: 256,
        ..Config::default()
    });
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(tmp.path().join("modules")).expect("mkdir");
    std::fs::write(tmp.path().join("modules/tiny.wat"), TINY).expect("module");
    let (accepted, refused) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    runner
        .run(&proptest::collection::vec(app, 1..3), |apps| {
            let mut m = String::from("version = 1\n");
            for (i, (is_static, dirs, raw, creds)) in apps.iter().enumerate() {
                let _ = std::fmt::Write::write_fmt(
                    &mut m,
                    format_args!(
                        "[app.a{i}]\nmodule = \"modules/tiny.wat\"\nidentity = \"{}\"\ndirs = [{}]\ncredentials = [{}]\n",
                        if *is_static { "static" } else { "dynamic" },
                        dirs.iter()
                            .enumerate()
                            .map(|(j, (h, ro))| format!(
                                "{{ host = \"{}\", guest = \"/g{j}\", readonly = {ro} }}",
                                HOSTS[*h]
                            ))
                            .collect::<Vec<_>>()
                            .join(", "),
                        creds
                            .iter()
                            .enumerate()
                            .map(|(j, c)| format!("{{ name = \"c{j}\", file = \"{}\" }}", CREDS[*c]))
                            .collect::<Vec<_>>()
                            .join(", "),
                    ),
                );
                for section in ["unit", "service"] {
                    let lines: Vec<String> = raw
                        .iter()
                        .map(|&r| RAW[r])
                        .filter(|(s, _, _)| *s == section)
                        .map(|(_, k, v)| format!("{k} = \"{v}\"\n"))
                        .collect();
                    if !lines.is_empty() {
                        let _ = writeln!(m, "[app.a{i}.{section}]");
                        let mut seen = std::collections::HashSet::new();
                        for l in lines {
                            if seen.insert(l.split(' ').next().unwrap_or("").to_owned()) {
                                m.push_str(&l);
                            }
                        }
                    }
                }
            }
            std::fs::write(tmp.path().join("apps.toml"), &m).expect("manifest");
            let request = wasmunit::pipeline::Request {
                no_check: true,
                ..wasmunit::pipeline::Request::new(&tmp.path().join("apps.toml"), None)
            };
            let Ok(rendered) = wasmunit::pipeline::run(&request) else {
                refused.set(refused.get() + 1);
                return Ok(());
            };
            accepted.set(accepted.get() + 1);
            for app in &rendered.plan().apps {
                let unit = rendered
                    .units
                    .iter()
                    .find(|u| u.name == app.name.service_unit())
                    .expect("the app's unit");
                let bad = forbidden_in_unit(app.name.as_str(), &unit.text, &app.identity_files());
                prop_assert!(bad.is_empty(), "{m}\nreaches {bad:?} in\n{}", unit.text);
            }
            Ok(())
        })
        .expect("no accepted manifest reaches past the node map");
    // Neither side may be empty: the property holds of real renders.
    assert!(
        accepted.get() > 10 && refused.get() > 10,
        "{} accepted, {} refused",
        accepted.get(),
        refused.get()
    );
}

// ---- Issue 32, items 7 and 8: the classes still open from the first trial ----

/// `file:line:col` of the first `needle` in `text` (1-based; ASCII lines).
fn at_of(text: &str, needle: &str) -> String {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} in {text}"));
    let line = text[..at].matches('\n').count() + 1;
    let col = at - text[..at].rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("apps.toml:{line}:{col}")
}

#[test]
fn a_guest_place_is_granted_once_however_it_is_spelled() {
    for spelling in [
        "/config/",
        "//config",
        "/./config",
        "/x/../config",
        "/config/.",
    ] {
        let manifest = format!(
            "version = 1\n[app.a]\nmodule = \"modules/tiny.wat\"\ndirs = [\n  \
             {{ host = \"/srv/one\", guest = \"/config\", readonly = true }},\n  \
             {{ host = \"/srv/two\", guest = \"{spelling}\", readonly = true }},\n]\n"
        );
        let (_tmp, dir) = project(&manifest);
        let out = render(&dir, &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{spelling}: {err}");
        let second = at_of(&manifest, &format!("\"{spelling}\""));
        assert!(
            err.contains(&format!(
                "{second}: error: guest path `{spelling}` (that is `/config`) is granted twice"
            )),
            "{spelling}: expected the refusal at {second}: {err}"
        );
        assert!(out.stdout.is_empty(), "{spelling}: a fragment was printed");

        // Shipped files and a host folder at one place, spelled two ways.
        let manifest = format!(
            "version = 1\n[app.a]\nmodule = \"modules/tiny.wat\"\n\
             dirs = [{{ host = \"/srv/one\", guest = \"/config\", readonly = true }}]\n\
             files = [{{ source = \"modules\", guest = \"{spelling}\" }}]\n"
        );
        let (_tmp, dir) = project(&manifest);
        let out = render(&dir, &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{spelling}: {err}");
        assert!(
            err.contains(&format!(
                "{}: error: guest path `{spelling}` (that is `/config`) is both shipped",
                at_of(&manifest, &format!("\"{spelling}\""))
            )),
            "{spelling}: {err}"
        );
    }
    // One grant in a loose spelling is preopened under its plain name.
    let (_tmp, dir) = project(
        "version = 1\n[app.a]\nmodule = \"modules/tiny.wat\"\n\
         dirs = [{ host = \"/srv/one\", guest = \"/x/..//config/\", readonly = true }]\n",
    );
    let out = render(&dir, &["--out", "out"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let unit = std::fs::read_to_string(dir.join("out/wasm-a.service")).expect("unit");
    assert!(unit.contains("/srv/one::/config"), "{unit}");
    assert!(
        !unit.contains("::/x/") && !unit.contains("/config/"),
        "{unit}"
    );
}

#[test]
fn check_refuses_an_initialize_or_entry_the_cli_would_not_call() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cli = common::require_wasmtime_cli();
    // (module, the finding, whether wasmtime 31 runs it)
    let cases = [
        (
            r#"(module (func (export "_initialize") (param i32)) (func (export "_start")))"#,
            Some("initialize-signature"),
        ),
        (
            r#"(module (func (export "_initialize") (result i32) (i32.const 0)) (func (export "_start")))"#,
            Some("initialize-signature"),
        ),
        (
            r#"(module (func (export "_initialize") (param i64 f32) (result i32) (i32.const 0)) (func (export "_start")))"#,
            Some("initialize-signature"),
        ),
        // The CLI calls "" before `_start` when both are exported.
        (
            r#"(module (func (export "") (param i32)) (func (export "_start")))"#,
            Some("entry-takes-parameters"),
        ),
        (
            r#"(module (func (export "_initialize")) (func (export "_start")))"#,
            None,
        ),
        (
            r#"(module (global (export "_initialize") i32 (i32.const 0)) (func (export "_start")))"#,
            None,
        ),
    ];
    for (i, (text, code)) in cases.into_iter().enumerate() {
        let wasm = tmp.path().join(format!("m{i}.wasm"));
        std::fs::write(&wasm, wat::parse_str(text).expect("wat")).expect("write");
        let out = wasmunit(
            &[os("check"), wasm.as_os_str(), os("--format"), os("json")],
            tmp.path(),
        );
        let report = String::from_utf8_lossy(&out.stdout);
        let real = Command::new(&cli)
            .arg("run")
            .arg(&wasm)
            .env("RUST_BACKTRACE", "0")
            .output()
            .expect("wasmtime");
        let real_err = String::from_utf8_lossy(&real.stderr);
        if let Some(code) = code {
            assert_eq!(out.status.code(), Some(1), "{text}: {report}");
            assert!(report.contains(code), "{text}: {report}");
            assert!(!real.status.success(), "{text}: wasmtime 31 ran it");
            if code == "initialize-signature" {
                // The message quotes what the CLI says.
                let said = if text.contains("(param") {
                    "type mismatch with parameters"
                } else {
                    "type mismatch with results"
                };
                assert!(real_err.contains(said), "{text}: {real_err}");
                assert!(report.contains(said), "{text}: {report}");
            }
        } else {
            assert_eq!(out.status.code(), Some(0), "{text}: {report}");
            assert!(real.status.success(), "{text}: {real_err}");
        }
    }
}

#[test]
fn render_refuses_an_out_folder_that_a_grant_ships_or_that_holds_one() {
    let (tmp, dir) = project(
        "version = 1\n[app.a]\nmodule = \"modules/tiny.wat\"\n\
         files = [{ source = \"./data/\", guest = \"/data\" }, { source = \"conf.toml\", guest = \"/etc/a\" }]\n",
    );
    std::fs::create_dir_all(dir.join("data/sub")).expect("mkdir");
    std::fs::write(dir.join("data/index.html"), "hi").expect("file");
    std::fs::write(dir.join("conf.toml"), "x = 1").expect("file");
    std::os::unix::fs::symlink(dir.join("data"), tmp.path().join("link")).expect("link");
    let link_out = tmp.path().join("link/out");
    let manifest_at = "apps.toml:4:21";
    for (out_dir, why) in [
        ("data/out", "is inside `./data/`"),
        ("data/sub/new/deeper", "is inside `./data/`"),
        ("data", "is `./data/`"),
        ("./data/.", "is `./data/`"),
        (".", "holds `./data/`"),
        (link_out.to_str().expect("utf-8"), "is inside `./data/`"),
    ] {
        let out = render(&dir, &["--out", out_dir]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "--out {out_dir}: {err}");
        assert!(
            err.contains(&format!(
                "--out {out_dir} {why}, which app `a` ships (`files` at {manifest_at})"
            )),
            "--out {out_dir}: {err}"
        );
        assert!(!dir.join("data/out").exists() && !dir.join("data/wasm-a.service").exists());
        assert!(
            !dir.join("wasm-a.service").exists(),
            "--out {out_dir} wrote"
        );
    }
    // A shipped file in the output folder is refused as well.
    std::fs::write(
        dir.join("apps.toml"),
        "version = 1\n[app.a]\nmodule = \"modules/tiny.wat\"\n\
         files = [{ source = \"out/conf.toml\", guest = \"/etc/a\" }]\n",
    )
    .expect("manifest");
    std::fs::create_dir_all(dir.join("out")).expect("mkdir");
    std::fs::write(dir.join("out/conf.toml"), "x = 1").expect("file");
    let out = render(&dir, &["--out", "out"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--out out holds `out/conf.toml`"),
        "{}",
        stderr(&out)
    );
    // Beside the shipped folders, it renders.
    let out = render(&dir, &["--out", "rendered"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_wasmtime_range_has_one_bound_of_each_kind() {
    for (range, what, second) in [
        (
            ">=31.0.0, <40, <48",
            "two upper bounds, `<40` and `<48`",
            "<48",
        ),
        (
            ">=31.0.0, <48, <40",
            "two upper bounds, `<48` and `<40`",
            "<40",
        ),
        (
            ">=31.0.0, >=40.0.0, <48",
            "two lower bounds, `>=31.0.0` and `>=40.0.0`",
            ">=40.0.0",
        ),
    ] {
        let manifest = format!(
            "version = 1\n[defaults]\nwasmtime = \"{range}\"\n[app.a]\nmodule = \"modules/tiny.wat\"\n"
        );
        let (_tmp, dir) = project(&manifest);
        let out = render(&dir, &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{range}: {err}");
        let at = manifest.find(second).expect("bound");
        let at = format!(
            "apps.toml:3:{}",
            at - manifest[..at].rfind('\n').expect("line")
        );
        assert!(
            err.contains(&format!("{at}: error: invalid wasmtime range")),
            "{range}: expected {at}: {err}"
        );
        assert!(err.contains(what), "{range}: {err}");
        // The flag is held to the same rule.
        let (_tmp, dir) = project("version = 1\n[app.a]\nmodule = \"modules/tiny.wat\"\n");
        let out = render(&dir, &["--wasmtime", range]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "--wasmtime {range}: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains(what),
            "--wasmtime {range}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn a_wat_module_is_text_whatever_the_case_of_its_extension() {
    let (_tmp, dir) = project("version = 1\n[app.a]\nmodule = \"modules/M.WAT\"\n");
    std::fs::write(dir.join("modules/M.WAT"), TINY).expect("module");
    // The real CLI reads the text (it decides by content, not by name).
    let real = Command::new(common::require_wasmtime_cli())
        .arg("run")
        .arg(dir.join("modules/M.WAT"))
        .output()
        .expect("wasmtime");
    assert!(
        real.status.success(),
        "{}",
        String::from_utf8_lossy(&real.stderr)
    );
    let out = render(&dir, &["--out", "out"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let butane = std::fs::read_to_string(dir.join("out/butane.yaml")).expect("fragment");
    let compiled = wat::parse_str(TINY).expect("wat");
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&compiled));
    assert!(
        butane.contains(&sha),
        "the compiled module is not shipped: {butane}"
    );
    // `check` reads it as text too, and takes a manifest in capitals.
    let out = wasmunit(&[os("check"), os("modules/M.WAT")], &dir);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    std::fs::rename(dir.join("apps.toml"), dir.join("APPS.TOML")).expect("rename");
    let out = wasmunit(&[os("check"), os("APPS.TOML")], &dir);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn an_ipv4_mapped_egress_entry_is_refused_with_its_ipv4_form() {
    for (entry, v4) in [
        ("::ffff:10.0.0.1", "10.0.0.1"),
        ("::FFFF:a00:1", "10.0.0.1"),
        ("::ffff:192.168.0.0/112", "192.168.0.0/16"),
    ] {
        let manifest = format!(
            "version = 1\n[app.a]\nmodule = \"modules/tiny.wat\"\nnetwork = \"outbound\"\n\
             egress = [\"10.1.0.0/16\", \"{entry}\"]\n"
        );
        let (_tmp, dir) = project(&manifest);
        let out = render(&dir, &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{entry}: {err}");
        let at = at_of(&manifest, &format!("\"{entry}\""));
        assert!(
            err.contains(&format!(
                "{at}: error: `egress`: `{entry}` is an IPv4 address in IPv6 form"
            )),
            "{entry}: {err}"
        );
        assert!(
            err.contains(&format!("write its IPv4 form `{v4}`")),
            "{entry}: {err}"
        );
    }
}

#[test]
fn the_quoted_manifest_line_hides_url_credentials() {
    // An error about another value of the line quotes the URL with it.
    let (_tmp, dir) = project(
        "version = 1\n[app.a]\n\
         module = { url = \"https://ci:hunter2@example.org/a.wasm\", sha256 = \"abc\" }\n",
    );
    let out = render(&dir, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("apps.toml:3:"), "{err}");
    assert!(!err.contains("hunter2") && !err.contains("ci:"), "{err}");
    assert!(err.contains("https://***@example.org/a.wasm"), "{err}");
    // The underline still spans the value at fault, as shown.
    let lines: Vec<&str> = err.lines().collect();
    let quoted = lines
        .iter()
        .position(|l| l.contains("***@"))
        .expect("quoted line");
    let caret = lines[quoted + 1];
    let col = caret.find('^').expect("caret");
    let width = caret.matches('^').count();
    assert_eq!(
        &lines[quoted][col..col + width],
        "{ url = \"https://***@example.org/a.wasm\", sha256 = \"abc\" }",
        "{err}"
    );
}

#[test]
fn diff_and_status_name_each_kind_of_file_for_what_it_is() {
    let c = common::container::Container::boot(&common::require_wasmtime_cli());
    let (_tmp, dir) = project(
        "version = 1\n[app.a]\nmodule = \"modules/tiny.wat\"\nrestart = \"no\"\nidentity = \"static\"\n\
         dirs = [{ host = \"/srv/data/a\", guest = \"/data\" }]\n\
         files = [{ source = \"conf.toml\", guest = \"/etc/a\" }]\n",
    );
    std::fs::write(dir.join("conf.toml"), "x = 1").expect("file");
    let run = |cmd: &str| {
        let mut c2 = Command::new(env!("CARGO_BIN_EXE_wasmunit"));
        c2.arg(cmd)
            .arg(dir.join("apps.toml"))
            .arg("--root")
            .arg(c.root())
            .env("DBUS_SYSTEM_BUS_ADDRESS", c.bus_address())
            .env("WASMUNIT_CACHE_DIR", dir.join(".test-cache"));
        finish(c2.stdout(Stdio::piped()).stderr(Stdio::piped()))
    };
    let out = run("diff");
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(3), "{said}{}", stderr(&out));
    for line in [
        "+ unit wasm-a.service (new)",
        "+ module /var/lib/wasmunit/modules/",
        "+ script /var/lib/wasmunit/modules/",
        "+ shipped file /var/lib/wasmunit/files/a/",
        "+ identity file /etc/sysusers.d/wasmunit-a.conf",
        "+ identity file /etc/tmpfiles.d/wasmunit-a.conf",
        "+ drop-in /etc/systemd/system/systemd-sysupdate.service.d/",
    ] {
        assert!(
            said.lines().any(|l| l.starts_with(line)),
            "no `{line}`: {said}"
        );
    }
    // status: a missing module is a module, the follow script a script.
    let applied = run("apply");
    assert!(applied.status.success(), "{}", stderr(&applied));
    let modules = c.root().join("var/lib/wasmunit/modules");
    for e in std::fs::read_dir(&modules).expect("modules") {
        std::fs::remove_file(e.expect("entry").path()).expect("rm");
    }
    let status = run("status");
    let said = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(
        said.lines()
            .any(|l| l.starts_with("drift: wasm-a.service: module /var/lib/wasmunit/modules/")),
        "{said}"
    );
    assert!(
        said.lines()
            .any(|l| l
                .starts_with("drift: wasmunit-follow.service: script /var/lib/wasmunit/modules/")),
        "{said}"
    );
}

#[test]
fn a_refusal_caused_by_a_flag_names_the_flag() {
    // `--systemd 252` makes `import` invalid; the manifest asks for 257.
    let manifest =
        "version = 1\n[defaults]\nsystemd = 257\n[app.a]\nmodule = \"modules/tiny.wat\"\n\
                    credentials = [{ name = \"token\", import = true }]\n";
    let (_tmp, dir) = project(manifest);
    let fine = render(&dir, &[]);
    assert!(fine.status.success(), "{}", stderr(&fine));
    let out = render(&dir, &["--systemd", "252"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("systemd 252 (set by --systemd 252)"), "{err}");
    // `--wasmtime 31.0.0` refuses a module the manifest's 48 runs.
    let (_tmp, dir) = project(
        "version = 1\n[defaults]\nwasmtime = \"48.0.2\"\n[app.a]\nmodule = \"modules/eh.wat\"\n",
    );
    std::fs::write(
        dir.join("modules/eh.wat"),
        r#"(module (tag $e) (func (export "_start") (block $l (try_table (catch_all $l) (throw $e)))))"#,
    )
    .expect("module");
    let fine = render(&dir, &[]);
    assert!(fine.status.success(), "{}", stderr(&fine));
    let out = render(&dir, &["--wasmtime", "31.0.0"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("would not run under wasmtime 31.0.0 (set by --wasmtime 31.0.0)"),
        "{err}"
    );
    let out = render(&dir, &["--wasmtime", ">=31.0.0, <48"]);
    assert!(
        stderr(&out).contains("wasmtime 31.0.0 (set by --wasmtime '>=31.0.0, <48')"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_pinned_app_hands_no_folder_through_a_privileged_step() {
    // The static user's folders are made by `ExecStartPre=+systemd-tmpfiles`,
    // which runs as root in the unit's mount namespace: under a pinned
    // image's /usr, the image would choose the program.
    let manifest = "version = 1\n[app.a]\nmodule = \"modules/tiny.wat\"\nidentity = \"static\"\n\
                    dirs = [{ host = \"/srv/a\", guest = \"/data\" }]\n\
                    pin = { wasmtime = \"31.0.0\", image = \"https://example.org/w.raw\" }\n";
    let (_keep, dir) = project(manifest);
    let o = render(&dir, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&at(manifest, "/srv/a")),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("pin"), "{}", stderr(&o));
    // A folder systemd makes (StateDirectory=) needs no such step.
    let manifest = manifest.replace("/srv/a", "/var/lib/wasm-a");
    std::fs::write(dir.join("apps.toml"), &manifest).expect("manifest");
    let o = render(&dir, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("ExecStartPre=+"));
}

#[test]
fn a_cut_image_or_a_second_architecture_line_is_refused() {
    const RELEASE: &str = "usr/lib/extension-release.d/extension-release.wasmtime";
    let (_keep, dir) = project(
        "version = 1\n[app.a]\nmodule = \"modules/tiny.wat\"\n\
         pin = { wasmtime = \"31.0.0\", image = \"images/w.raw\" }\n",
    );
    // A binary large enough to span several blocks, incompressible.
    let big: Vec<u8> = (0..600_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13).to_le_bytes()[0])
        .collect();
    let image = dir.join("images/w.raw");
    squashfs(
        &image,
        &[
            (RELEASE, b"ID=_any\nARCHITECTURE=x86-64\n", 0o644),
            ("usr/bin/wasmtime", &big, 0o755),
        ],
    );
    assert_eq!(render(&dir, &[]).status.code(), Some(0));
    let whole = std::fs::read(&image).expect("image");
    std::fs::write(&image, &whole[..whole.len() / 2]).expect("cut");
    let o = render(&dir, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("cut"), "{}", stderr(&o));
    // systemd reads the last ARCHITECTURE=: so does the check.
    squashfs(
        &image,
        &[
            (
                RELEASE,
                b"ID=_any\nARCHITECTURE=x86-64\nARCHITECTURE=arm64\n",
                0o644,
            ),
            ("usr/bin/wasmtime", b"\x7fELF", 0o755),
        ],
    );
    let o = render(&dir, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("arm64"), "{}", stderr(&o));
}

#[test]
fn a_read_only_grant_never_re_modes_a_folder_the_node_has() {
    // Ignition chmods and chowns every folder storage.directories lists,
    // existing or not: the fragment lists only folders below a data root.
    let manifest = "version = 1\n[app.a]\nmodule = \"modules/tiny.wat\"\ndirs = [\
                    { host = \"/var/tmp\", guest = \"/t\", readonly = true }, \
                    { host = \"/home/core\", guest = \"/h\", readonly = true }, \
                    { host = \"/var/lib/app\", guest = \"/v\", readonly = true }, \
                    { host = \"/srv/in\", guest = \"/s\", readonly = true }]\n";
    let (_keep, dir) = project(manifest);
    let o = render(&dir, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let fragment = String::from_utf8_lossy(&o.stdout);
    let listed: Vec<&str> = fragment
        .lines()
        .skip_while(|l| !l.starts_with("  directories:"))
        .skip(1)
        .take_while(|l| l.starts_with("  - path:"))
        .collect();
    assert_eq!(listed, ["  - path: /srv/in"], "{fragment}");
}

#[test]
fn an_out_folder_through_a_link_the_checkout_holds_is_refused() {
    // The author commits `out` as a link to a folder whose files a shell
    // sources; `render --out out` would write the units there.
    let (tmp, dir) = project("version = 1\n[app.a]\nmodule = \"modules/tiny.wat\"\n");
    let target = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&target).expect("mkdir");
    symlink(&target, dir.join("out")).expect("link");
    for out in ["out", "out/sub"] {
        let o = render(&dir, &["--out", out]);
        assert_eq!(o.status.code(), Some(2), "{out}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("a link inside the manifest's folder"),
            "{}",
            stderr(&o)
        );
    }
    assert_eq!(
        std::fs::read_dir(&target).expect("dir").count(),
        0,
        "written through the link"
    );
    // A link above the manifest's folder is the runner's own: allowed.
    let above = tmp.path().join("above");
    symlink(&dir, &above).expect("link");
    let o = wasmunit(
        &[os("render"), os("apps.toml"), os("--out"), os("built")],
        &above,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn a_credential_file_is_the_apps_own() {
    // The stores also hold the system's credentials and other apps'.
    for (file, ok) in [
        ("/etc/credstore/passwd.hashed-password.root", false),
        ("/etc/credstore/network.wireguard.private.wg0", false),
        ("/etc/credstore/wasmunit.b.token", false),
        ("/run/credstore/sub", false),
        ("/run/credstore/wasmunit.a.token", true),
    ] {
        let manifest = format!(
            "version = 1\n[app.a]\nmodule = \"modules/tiny.wat\"\n\
             credentials = [{{ name = \"c\", file = \"{file}\" }}]\n"
        );
        let (_keep, dir) = project(&manifest);
        let o = render(&dir, &[]);
        assert_eq!(
            o.status.code(),
            Some(i32::from(!ok)),
            "{file}: {}",
            stderr(&o)
        );
        if !ok {
            assert!(stderr(&o).contains(&at(&manifest, file)), "{}", stderr(&o));
        }
    }
}

#[test]
fn a_raw_key_may_not_reset_a_list_nor_be_one_the_nodes_ignore() {
    // `AssertPathExists=` (empty) would drop wasmunit's own asserts.
    let manifest = "version = 1\n[app.a]\nmodule = \"modules/tiny.wat\"\n[app.a.unit]\nAssertPathExists = \"\"\n";
    let (_keep, dir) = project(manifest);
    let o = render(&dir, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("is empty"), "{}", stderr(&o));
    // A key systemd 252 does not know passes only for nodes that do.
    let manifest = "version = 1\n[app.a]\nmodule = \"modules/tiny.wat\"\n[app.a.service]\nMemoryPressureWatch = \"off\"\n";
    let (_keep, dir) = project(manifest);
    let o = render(&dir, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&at(manifest, "MemoryPressureWatch")),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("known from systemd 257"),
        "{}",
        stderr(&o)
    );
    let o = render(&dir, &["--systemd", "257"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn no_app_is_granted_the_folder_above_anothers() {
    let manifest = "version = 1\n[app.a]\nmodule = \"modules/tiny.wat\"\n\
                    dirs = [{ host = \"/var/lib/wasm-a/sub\", guest = \"/d\" }]\n\
                    [app.b]\nmodule = \"modules/tiny.wat\"\n\
                    dirs = [{ host = \"/var/lib/wasm-a\", guest = \"/d\", readonly = true }]\n";
    let (_keep, dir) = project(manifest);
    let o = render(&dir, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("app `a`'s own folder"),
        "{}",
        stderr(&o)
    );
}
