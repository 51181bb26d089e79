//! `wasmunit bundle` and `wasmunit fleet` judged by real tools: the
//! images by squashfs-tools' `unsquashfs`, the fleet's units by
//! `systemd-analyze verify` of 252, 257 and 262; and their refusals.
//! The whole path on a node is `first_boot::bundles`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common;

fn wasmunit(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wasmunit"))
        .args(args)
        .output()
        .expect("wasmunit")
}

/// The example, copied to `dir` (its modules and files beside it).
fn example_in(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).expect("mkdir");
    let ok = Command::new("cp")
        .arg("-r")
        .arg(common::repo().join("examples"))
        .arg(dir)
        .status()
        .expect("cp");
    assert!(ok.success());
    dir.join("examples/apps.toml")
}

/// `wasmunit fleet --out DIR/out` for an https source: the folder.
fn fleet_out(dir: &Path) -> PathBuf {
    let out = dir.join("out");
    let o = wasmunit(&[
        "fleet".as_ref(),
        "--url".as_ref(),
        "https://bundles.example.org/edge/".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

fn bundle(manifest: &Path, version: &str, site: &Path) -> Output {
    wasmunit(&[
        "bundle".as_ref(),
        manifest.as_os_str(),
        "--version".as_ref(),
        version.as_ref(),
        "--out".as_ref(),
        site.as_os_str(),
    ])
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_bundle_is_the_same_bytes_every_time_and_squashfs_tools_read_it() {
    let unsquashfs = PathBuf::from("unsquashfs"); // squashfs-tools, by tests/install-tools.sh
    let tmp = tempfile::tempdir().expect("tmp");
    let a = example_in(&tmp.path().join("a"));
    let b = example_in(&tmp.path().join("b"));
    let (sa, sb) = (tmp.path().join("site-a"), tmp.path().join("site-b"));
    for (m, s) in [(&a, &sa), (&b, &sb)] {
        let o = bundle(m, "1", s);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let name = "wasmunit-apps_1_x86-64.raw";
    let image = std::fs::read(sa.join(name)).expect("image");
    assert_eq!(
        image,
        std::fs::read(sb.join(name)).expect("image"),
        "not reproducible"
    );
    let sums = std::fs::read_to_string(sa.join("SHA256SUMS")).expect("sums");
    let sha = wasmunit::plan::module::hash_file(&sa.join(name)).expect("hash");
    assert_eq!(sums, format!("{sha}  {name}\n"));

    let list = Command::new(&unsquashfs)
        .args(["-lls", "-d", ""])
        .arg(sa.join(name))
        .output()
        .expect("unsquashfs");
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    let list = String::from_utf8_lossy(&list.stdout);
    for want in [
        "/usr/lib/systemd/system/wasm-hello.service",
        "/usr/lib/systemd/system/wasmunit.target.wants/wasm-hello.service -> ../wasm-hello.service",
        "/usr/lib/systemd/system/multi-user.target.wants/wasmunit.target -> ../wasmunit.target",
        "/usr/lib/wasmunit/fleet/apps",
        "/usr/lib/extension-release.d/extension-release.wasmunit-apps",
    ] {
        assert!(list.contains(want), "{want} not in:\n{list}");
    }
    for line in list.lines().filter(|l| l.contains('/')) {
        assert!(line.contains(" root/root "), "not root's: {line}");
        assert!(line.contains("1970-01-01 00:00"), "a time stamp: {line}");
        let path = line.split_whitespace().nth(5).unwrap_or("");
        assert!(
            path.is_empty() || path == "/" || path.starts_with("/usr"),
            "outside /usr: {line}"
        );
    }
    let release = Command::new(&unsquashfs)
        .args(["-cat"])
        .arg(sa.join(name))
        .arg("usr/lib/extension-release.d/extension-release.wasmunit-apps")
        .output()
        .expect("unsquashfs -cat");
    let release = String::from_utf8_lossy(&release.stdout);
    for want in [
        "ID=_any\n",
        "ARCHITECTURE=x86-64\n",
        "IMAGE_VERSION=1\n",
        "EXTENSION_RELOAD_MANAGER=1\n",
    ] {
        assert!(release.contains(want), "{release}");
    }
}

#[test]
fn a_published_version_never_changes_and_a_refusal_writes_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let m = example_in(tmp.path());
    let site = tmp.path().join("site");
    assert!(bundle(&m, "1", &site).status.success());
    assert!(
        bundle(&m, "1", &site).status.success(),
        "the same bytes again: nothing to refuse"
    );
    // Version 1 with other bytes: refused, the folder as it was.
    let text = std::fs::read_to_string(&m).expect("manifest");
    std::fs::write(
        &m,
        text.replace(
            "[app.hello]",
            "[app.hello2]\nmodule = \"modules/hello.wat\"\n\n[app.hello]",
        ),
    )
    .expect("edit");
    let before: Vec<(String, Vec<u8>)> = listing(&site)
        .into_iter()
        .map(|n| (n.clone(), std::fs::read(site.join(&n)).expect("read")))
        .collect();
    let o = bundle(&m, "1", &site);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("already published with other bytes"), "{err}");
    let after: Vec<(String, Vec<u8>)> = listing(&site)
        .into_iter()
        .map(|n| (n.clone(), std::fs::read(site.join(&n)).expect("read")))
        .collect();
    assert_eq!(before, after);
    // Version 2 lands beside it, and the sums list both.
    assert!(bundle(&m, "2", &site).status.success());
    let sums = std::fs::read_to_string(site.join("SHA256SUMS")).expect("sums");
    assert_eq!(sums.lines().count(), 2, "{sums}");
    assert!(
        sums.contains("  wasmunit-apps_1_x86-64.raw\n")
            && sums.contains("  wasmunit-apps_2_x86-64.raw\n")
    );
    // A version whose file was removed is still published; so is one that
    // sysupdate would equate with it.
    std::fs::remove_file(site.join("wasmunit-apps_2_x86-64.raw")).expect("rm");
    assert!(bundle(&m, "5", &site).status.success());
    let text = std::fs::read_to_string(&m).expect("manifest");
    std::fs::write(
        &m,
        format!("{text}\n[app.other]\nmodule = \"modules/hello.wat\"\n"),
    )
    .expect("edit");
    for (again, says) in [
        ("2", "already published with other bytes"),
        ("05", "the same version to sysupdate"),
        ("5+", "the same version to sysupdate"),
    ] {
        let o = bundle(&m, again, &site);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{again}: {err}");
        assert!(err.contains(says), "{again}: {err}");
    }
    // A foreign file in the folder is neither listed nor touched.
    std::fs::write(site.join("wasmunit-apps_9_x86-64.raw"), "not ours").expect("foreign");
    assert!(bundle(&m, "3", &site).status.success());
    let sums = std::fs::read_to_string(site.join("SHA256SUMS")).expect("sums");
    assert!(!sums.contains("_9_"), "{sums}");
    assert_eq!(
        std::fs::read(site.join("wasmunit-apps_9_x86-64.raw")).expect("foreign"),
        b"not ours"
    );
}

#[test]
fn what_a_bundle_cannot_carry_is_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().expect("tmp");
    let site = tmp.path().join("site");
    for (toml, says) in [
        (
            "version = 1\n[app.a]\nmodule = { url = \"https://example.org/a.wasm\", sha256 = \"0000000000000000000000000000000000000000000000000000000000000000\" }\n",
            "a bundle carries its modules",
        ),
        (
            "version = 1\n[app.a]\nmodule = \"m.wat\"\npin = { wasmtime = \"31.0.0\" }\n",
            "a pinned wasmtime does not travel in a bundle",
        ),
    ] {
        std::fs::write(tmp.path().join("m.wat"), "(module (func (export \"_start\")))").expect("m");
        let m = tmp.path().join("apps.toml");
        std::fs::write(&m, toml).expect("manifest");
        let o = bundle(&m, "1", &site);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains(says), "{err}");
        assert!(!site.exists(), "a refusal wrote {}", site.display());
    }
    for bad in ["v1", "1_2", "", "1/2"] {
        let m = example_in(&tmp.path().join(format!("e{}", bad.len())));
        let o = bundle(&m, bad, &site);
        assert_eq!(o.status.code(), Some(2), "--version {bad:?}");
        assert!(!site.exists());
    }
}

#[test]
fn fleet_refuses_a_source_anyone_could_answer_for() {
    let tmp = tempfile::tempdir().expect("tmp");
    let armoured = tmp.path().join("key.asc");
    std::fs::write(&armoured, "-----BEGIN PGP PUBLIC KEY BLOCK-----\n").expect("key");
    let cases: [(&[&str], &str); 7] = [
        (&["--url", "http://example.org/b/"], "needs --public-key"),
        (&["--url", "ftp://example.org/b/"], "starts with https://"),
        (
            &["--url", "https://user:pw@example.org/b/"],
            "without credentials",
        ),
        (&["--url", "https://example.org/b"], "ends with `/`"),
        (&["--url", "https://example.org/b%41/"], "has no place"),
        (
            &["--url", "https://example.org/b/\nVerify=no"],
            "has no place",
        ),
        (
            &["--url", "https://example.org/b/", "--every", "5s"],
            "from a minute to a year",
        ),
    ];
    for (args, says) in cases {
        let mut a: Vec<&std::ffi::OsStr> = vec!["fleet".as_ref()];
        a.extend(args.iter().map(std::ffi::OsStr::new));
        let o = wasmunit(&a);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let o = wasmunit(&[
        "fleet".as_ref(),
        "--url".as_ref(),
        "https://example.org/b/".as_ref(),
        "--public-key".as_ref(),
        armoured.as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("gpg --export"));
}

/// The fleet's own units, as `systemd-analyze verify` of each release
/// judges them (their programs present in the root, as on a node).
fn fleet_units_verify_on(tree: &Path) {
    let scratch = tempfile::Builder::new()
        .prefix("wasmunit-fleet-")
        .tempdir_in(tree.join("tmp"))
        .expect("tmp");
    let out = fleet_out(scratch.path());
    let root = scratch.path().join("root");
    let etc = root.join("etc/systemd/system");
    std::fs::create_dir_all(&etc).expect("mkdir");
    std::fs::create_dir_all(root.join("usr/lib/systemd")).expect("mkdir");
    let ok = Command::new("cp")
        .arg("-r")
        .arg(tree.join("usr/lib/systemd/system"))
        .arg(root.join("usr/lib/systemd"))
        .status()
        .expect("cp");
    assert!(ok.success());
    std::fs::create_dir_all(root.join("usr/bin")).expect("mkdir");
    std::fs::create_dir_all(root.join("bin")).expect("mkdir");
    std::fs::copy(tree.join("bin/sh"), root.join("bin/sh")).expect("sh");
    std::fs::copy(
        tree.join("usr/bin/systemctl"),
        root.join("usr/bin/systemctl"),
    )
    .expect("systemctl");
    let sysupdate = PathBuf::from(std::env::var_os("HOME").expect("HOME"))
        .join(".cache/wasmunit-sysupdate/out/systemd-sysupdate");
    assert!(sysupdate.exists(), "run `bash tests/install-tools.sh`");
    std::fs::copy(&sysupdate, root.join("usr/lib/systemd/systemd-sysupdate")).expect("sysupdate");
    let units = [
        "wasmunit-fleet.service",
        "wasmunit-fleet-update.service",
        "wasmunit-fleet-update.timer",
    ];
    for u in units {
        std::fs::copy(out.join(u), etc.join(u)).expect("unit");
    }
    let inside = |p: &Path| Path::new("/").join(p.strip_prefix(tree).expect("inside"));
    let mut cmd = if tree == Path::new("/") {
        Command::new("systemd-analyze")
    } else {
        let mut c = Command::new("chroot");
        c.arg(tree).arg("systemd-analyze");
        c
    };
    let o = cmd
        .args(["verify", "--man=no"])
        .arg(format!("--root={}", inside(&root).display()))
        .args(units)
        .output()
        .expect("systemd-analyze");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    // The script is on the node, not in this root: verify may only miss it.
    let complaints: Vec<&str> = said
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.contains("/var/lib/wasmunit/modules/"))
        .collect();
    assert!(
        o.status.success() && complaints.is_empty(),
        "{}: {said}",
        tree.display()
    );
}

#[test]
fn the_fleet_units_pass_systemd_analyze_verify_of_252_257_and_262() {
    fleet_units_verify_on(Path::new("/"));
    fleet_units_verify_on(&common::container::debian13_tree());
    fleet_units_verify_on(&common::container::forky_tree());
}

/// Whoever can write the published folder (or commit into it, when it lies
/// in the manifest's checkout) can write wasmunit's marker too: an image
/// planted with a marker line is not listed in the sums the key signs.
#[test]
fn a_signed_publish_lists_only_images_the_key_signed_before() {
    let tmp = tempfile::tempdir().expect("tmp");
    let home = tmp.path().join("gnupg");
    let key = common::gpg_key(&home, "ci");
    let m = example_in(&tmp.path().join("repo"));
    let site = tmp.path().join("site");
    let signed = |version: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_wasmunit"))
            .arg("bundle")
            .arg(&m)
            .args(["--version", version, "--out"])
            .arg(&site)
            .args(["--sign-key", &key])
            .env("GNUPGHOME", &home)
            .output()
            .expect("wasmunit bundle");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    signed("1");
    let planted = "wasmunit-apps_999_x86-64.raw";
    std::fs::write(site.join(planted), "evil image").expect("plant");
    let sha = wasmunit::plan::module::hash_file(&site.join(planted)).expect("hash");
    let mut marker = std::fs::read_to_string(site.join(".wasmunit-owned")).expect("marker");
    marker = format!("{marker}{sha}  {planted}\n");
    std::fs::write(site.join(".wasmunit-owned"), marker).expect("marker");
    signed("2");
    let sums = std::fs::read_to_string(site.join("SHA256SUMS")).expect("sums");
    assert!(
        !sums.contains(planted),
        "the key vouched for a planted image:\n{sums}"
    );
    assert!(
        sums.contains("_1_x86-64.raw") && sums.contains("_2_x86-64.raw"),
        "{sums}"
    );
    // gpg itself agrees the signature is the key's.
    let verify = Command::new("gpg")
        .env("GNUPGHOME", &home)
        .args(["--batch", "--verify"])
        .arg(site.join("SHA256SUMS.gpg"))
        .arg(site.join("SHA256SUMS"))
        .output()
        .expect("gpg --verify");
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    // Once signed, never unsigned.
    let o = bundle(&m, "3", &site);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("pass --sign-key"));
}

#[test]
fn bundle_out_through_a_link_inside_the_manifests_folder_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let m = example_in(&tmp.path().join("repo"));
    let target = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&target).expect("mkdir");
    let repo = m.parent().expect("folder");
    std::os::unix::fs::symlink(&target, repo.join("site")).expect("link");
    let o = bundle(&m, "1", &repo.join("site"));
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("a link inside the manifest's folder"));
    assert!(listing(&target).is_empty());
}

/// The reconciler is plain POSIX sh: Debian's dash (`/bin/sh` there) and
/// bash in POSIX mode (Flatcar's `/bin/sh`) both parse it.
#[test]
fn the_reconciler_parses_in_dash_and_posix_bash() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = fleet_out(tmp.path());
    let script = out.join("wasmunit-fleet.sh");
    for shell in [&["dash", "-n"][..], &["bash", "--posix", "-n"][..]] {
        let o = Command::new(shell[0])
            .args(&shell[1..])
            .arg(&script)
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", shell[0]));
        assert!(
            o.status.success(),
            "{shell:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let text = std::fs::read_to_string(&script).expect("script");
    assert!(!text.contains("shift"), "dash exits on a failed shift");
    assert!(
        !text.contains("awk"),
        "the node's /etc may lack awk's alternatives link"
    );
}

/// The published folder is a web server's to read, whatever the
/// publisher's umask.
#[test]
fn a_new_published_folder_is_readable_under_a_strict_umask() {
    use std::os::unix::fs::PermissionsExt as _;
    use std::os::unix::process::CommandExt as _;
    let tmp = tempfile::tempdir().expect("tmp");
    let m = example_in(tmp.path());
    let site = tmp.path().join("site");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wasmunit"));
    cmd.arg("bundle")
        .arg(&m)
        .args(["--version", "1", "--out"])
        .arg(&site);
    // SAFETY: umask is async-signal-safe and touches only the child.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0o077);
            Ok(())
        });
    }
    let o = cmd.output().expect("wasmunit bundle");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for p in [
        site.clone(),
        site.join("SHA256SUMS"),
        site.join("wasmunit-apps_1_x86-64.raw"),
    ] {
        let mode = std::fs::metadata(&p).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode & 0o004, 0o004, "{}: {mode:o}", p.display());
    }
}

/// A bundle's index lists each server's own units only (an app named
/// `a-proxy` beside a server `a` that gets no forwarder keeps its own
/// line), and each socket on a line of its own, `NAME:socket`, so a new
/// address restarts the socket and a new module does not.
#[test]
fn a_servers_socket_has_its_own_line_in_the_index() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    std::fs::create_dir_all(src.join("modules")).expect("mkdir");
    std::fs::copy(common::http_guest(), src.join("modules/hello.wasm")).expect("guest");
    std::fs::copy(
        common::repo().join("examples/modules/hello.wat"),
        src.join("modules/hello.wat"),
    )
    .expect("example module");
    let index = |listen: &str, version: &str| {
        std::fs::write(
            src.join("apps.toml"),
            format!(
                "version = 1\n[defaults]\nwasmtime = \"50.0.1\"\n\
                 [app.a]\nmodule = \"modules/hello.wasm\"\nlisten = \"{listen}\"\n\
                 [app.a-proxy]\nmodule = \"modules/hello.wat\"\nrestart = \"no\"\n"
            ),
        )
        .expect("manifest");
        let site = tmp.path().join("site");
        let o = wasmunit(&[
            "bundle".as_ref(),
            src.join("apps.toml").as_os_str(),
            "--version".as_ref(),
            version.as_ref(),
            "--out".as_ref(),
            site.as_os_str(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let cat = Command::new("unsquashfs")
            .args(["-cat"])
            .arg(site.join(format!("wasmunit-apps_{version}_x86-64.raw")))
            .arg("usr/lib/wasmunit/fleet/apps")
            .output()
            .expect("unsquashfs -cat");
        String::from_utf8_lossy(&cat.stdout).into_owned()
    };
    let line = |index: &str, app: &str| -> Vec<String> {
        index
            .lines()
            .find(|l| l.starts_with(&format!("{app} ")))
            .unwrap_or_else(|| panic!("no {app} in\n{index}"))
            .split(' ')
            .map(str::to_owned)
            .collect()
    };
    let v1 = index("0.0.0.0:8080", "1");
    assert_eq!(
        line(&v1, "a")[2..],
        ["wasm-a.service", "wasm-a.service"],
        "{v1}"
    );
    assert_eq!(
        line(&v1, "a:socket")[2..],
        ["wasm-a.socket", "wasm-a.socket"],
        "{v1}"
    );
    assert_eq!(line(&v1, "a-proxy")[3..], ["wasm-a-proxy.service"], "{v1}");
    let v2 = index("0.0.0.0:9090", "2");
    assert_eq!(
        line(&v1, "a")[1],
        line(&v2, "a")[1],
        "the app did not change"
    );
    assert_ne!(line(&v1, "a:socket")[1], line(&v2, "a:socket")[1], "{v2}");
}
