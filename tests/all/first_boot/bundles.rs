//! A fleet's day 2 (docs/fleet.md): a node provisioned with `wasmunit
//! fleet` pulls each bundle `wasmunit bundle` publishes, with the real
//! systemd-sysupdate and systemd-pull (built by tests/sysupdate-build.sh),
//! from an HTTP server on loopback in the node's own network namespace.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use super::{
    enable_sysext, install_sysext, official_wasmtime, provision_fragment, run, settled,
    write_extension_release,
};
use crate::common;
use crate::common::container::Container;

/// A long-running app's module that prints `word` (3 bytes) and sleeps.
fn forever_printing(word: &str) -> String {
    assert_eq!(word.len(), 2);
    let wat = std::fs::read_to_string(common::repo().join("tests/fixtures/forever.wat"))
        .expect("fixture");
    wat.replace("\"up\\n\"", &format!("\"{word}\\n\""))
}

/// A manifest of long-running apps, each `(name, word)`; `dies` adds an
/// app whose module traps at once; `later` an app that waits for a later
/// bundle to enable it (`enabled = false` until then).
fn write_manifest(dir: &Path, apps: &[(&str, &str)], dies: bool) -> PathBuf {
    write_manifest_with(dir, apps, dies, false)
}

fn write_manifest_with(dir: &Path, apps: &[(&str, &str)], dies: bool, later: bool) -> PathBuf {
    std::fs::create_dir_all(dir.join("modules")).expect("mkdir");
    let mut toml = String::from("version = 1\n");
    for (name, word) in apps {
        let m = format!("modules/{word}.wat");
        std::fs::write(dir.join(&m), forever_printing(word)).expect("module");
        let _ = writeln!(toml, "[app.{name}]\nmodule = \"{m}\"");
    }
    if dies {
        std::fs::write(
            dir.join("modules/dies.wat"),
            "(module (memory (export \"memory\") 1) (func (export \"_start\") unreachable))",
        )
        .expect("module");
        toml.push_str("[app.dies]\nmodule = \"modules/dies.wat\"\n");
    }
    std::fs::write(dir.join("modules/later.wat"), forever_printing("l1")).expect("module");
    let _ = writeln!(
        toml,
        "[app.later]\nmodule = \"modules/later.wat\"\nenabled = {later}"
    );
    let path = dir.join("apps.toml");
    std::fs::write(&path, toml).expect("manifest");
    path
}

fn publish(manifest: &Path, version: &str, site: &Path, gpg_home: &Path, key: &str) {
    run(
        Command::new(env!("CARGO_BIN_EXE_wasmunit"))
            .args(["bundle"])
            .arg(manifest)
            .args(["--version", version, "--out"])
            .arg(site)
            .args(["--sign-key", key])
            .env("GNUPGHOME", gpg_home),
        "wasmunit bundle",
    );
}

/// A network namespace with its loopback up and an HTTP server serving
/// `site` on 127.0.0.1:8080 in it; removed on drop.
struct ServedNetns {
    name: String,
    server: Child,
}

impl ServedNetns {
    fn new(site: &Path) -> ServedNetns {
        let name = format!("wu-fleet-{}-{}", std::process::id(), common::random_hex(4));
        run(
            Command::new("ip").args(["netns", "add", &name]),
            "ip netns add",
        );
        run(
            Command::new("ip").args(["netns", "exec", &name, "ip", "link", "set", "lo", "up"]),
            "ip link set lo up",
        );
        let server = Command::new("ip")
            .args([
                "netns",
                "exec",
                &name,
                "python3",
                "-m",
                "http.server",
                "8080",
            ])
            .args(["--bind", "127.0.0.1", "--directory"])
            .arg(site)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 -m http.server");
        // Until it answers.
        for _ in 0..100 {
            let o = Command::new("ip")
                .args(["netns", "exec", &name, "python3", "-c"])
                .arg("import urllib.request as u; u.urlopen('http://127.0.0.1:8080/SHA256SUMS')")
                .output()
                .expect("probe");
            if o.status.success() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        ServedNetns { name, server }
    }

    fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.name)
    }
}

impl Drop for ServedNetns {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// What Flatcar has and a Debian tree lacks: systemd-sysupdate and
/// systemd-pull in the OS (here an OS extension merged like Flatcar's /usr).
fn install_os_sysupdate(root: &Path, tree: &Path) {
    let built = PathBuf::from(std::env::var_os("HOME").expect("HOME"))
        .join(".cache/wasmunit-sysupdate/out");
    let ext = root.join("var/lib/extensions/os-sysupdate");
    let lib = ext.join("usr/lib/systemd");
    std::fs::create_dir_all(&lib).expect("mkdir");
    for bin in ["systemd-sysupdate", "systemd-pull"] {
        assert!(
            built.join(bin).exists(),
            "{} missing: run `bash tests/install-tools.sh`",
            built.join(bin).display()
        );
        std::fs::copy(built.join(bin), lib.join(bin)).expect("copy");
    }
    write_extension_release(&ext, tree, "os-sysupdate");
    enable_sysext(root);
}

/// The journal of the reconciler, once it contains `until`.
fn reconciled(c: &Container, until: &str) -> String {
    let unit = "wasmunit-fleet.service";
    assert!(
        c.wait_for(Duration::from_secs(120), || c.journal(unit).contains(until)),
        "`{until}` not in the reconciler's journal:\n{}\nupdate:\n{}",
        c.journal(unit),
        c.journal("wasmunit-fleet-update.service")
    );
    c.journal(unit)
}

fn pid(c: &Container, unit: &str) -> u32 {
    let s = settled(c, unit);
    assert_eq!(s.active, "active", "{unit}: {}", c.journal(unit));
    s.main_pid.unwrap_or_else(|| panic!("{unit}: no process"))
}

fn load_state(c: &Container, unit: &str) -> String {
    let o = c.exec(&["systemctl", "show", "-p", "LoadState", "--value", unit]);
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

/// The file name of the bundle the node's link names (the node's own copy
/// after a rollback, or sysupdate's).
fn link(c: &Container) -> String {
    let o = c.exec(&["readlink", "-f", "/etc/extensions/wasmunit-apps.raw"]);
    let path = String::from_utf8_lossy(&o.stdout).trim().to_owned();
    path.rsplit('/').next().unwrap_or_default().to_owned()
}

/// Runs the node's own pull (as its timer would) and returns whether it
/// succeeded.
fn pull(c: &Container) -> bool {
    c.exec(&["systemctl", "start", "wasmunit-fleet-update.service"])
        .status
        .success()
}

/// v1 (three apps) at first boot; v2 changes one, keeps one, removes one,
/// adds one; v3's new app dies (back on v2); v4 is signed by another key
/// (refused, nothing changes).
#[allow(clippy::too_many_lines)] // one scenario, four published versions
fn a_fleet_node_follows_its_bundles(tree: &Path) {
    let work = tempfile::tempdir().expect("tmp");
    let w = work.path();
    let (site, gpg_home, other_home) = (w.join("site"), w.join("gnupg"), w.join("gnupg-other"));
    let key = common::gpg_key(&gpg_home, "fleet");
    let other = common::gpg_key(&other_home, "intruder");
    let m1 = write_manifest(
        &w.join("v1"),
        &[("keep", "k1"), ("change", "c1"), ("drop", "d1")],
        false,
    );
    publish(&m1, "1", &site, &gpg_home, &key);

    let pubkey = w.join("fleet.gpg");
    let exported = run(
        Command::new("gpg")
            .env("GNUPGHOME", &gpg_home)
            .args(["--export", &key]),
        "gpg --export",
    );
    std::fs::write(&pubkey, exported).expect("key");
    let frag = w.join("fleet");
    run(
        Command::new(env!("CARGO_BIN_EXE_wasmunit"))
            .args(["fleet", "--url", "http://127.0.0.1:8080/", "--survive", "4"])
            .arg("--public-key")
            .arg(&pubkey)
            .arg("--out")
            .arg(&frag),
        "wasmunit fleet",
    );
    let root = provision_fragment(&frag.join("butane.yaml"), &frag, &w.join("node"), &[]);
    install_sysext(&root, tree, &official_wasmtime());
    install_os_sysupdate(&root, tree);
    let served = ServedNetns::new(&site);
    let c = Container::first_boot_in_netns(tree, &root, &served.path());

    // v1: pulled at first boot by the node's own service.
    reconciled(&c, "running bundle 1;");
    let keep = pid(&c, "wasm-keep.service");
    let change = pid(&c, "wasm-change.service");
    pid(&c, "wasm-drop.service");
    assert!(c.journal("wasm-change.service").contains("c1"));
    assert_eq!(settled(&c, "wasm-later.service").active, "inactive");

    // v2: `change` runs a new module, `new` is added, `drop` removed.
    let m2 = write_manifest_with(
        &w.join("v2"),
        &[("keep", "k1"), ("change", "c2"), ("new", "n1")],
        false,
        true,
    );
    publish(&m2, "2", &site, &gpg_home, &key);
    assert!(pull(&c), "{}", c.journal("wasmunit-fleet-update.service"));
    let j = reconciled(&c, "running bundle 2;");
    assert_eq!(
        pid(&c, "wasm-keep.service"),
        keep,
        "an unchanged app keeps its process:\n{j}"
    );
    assert_ne!(pid(&c, "wasm-change.service"), change, "{j}");
    assert!(c.journal("wasm-change.service").contains("c2"));
    pid(&c, "wasm-new.service");
    pid(&c, "wasm-later.service");
    assert_eq!(load_state(&c, "wasm-drop.service"), "not-found", "{j}");
    let on_v2 = link(&c);
    assert!(on_v2.ends_with("wasmunit-apps_2_x86-64.raw"), "{on_v2}");
    let change = pid(&c, "wasm-change.service");

    // v3: its new app dies at once: the node goes back to v2 by itself.
    let m3 = write_manifest_with(
        &w.join("v3"),
        &[("keep", "k1"), ("change", "c2"), ("new", "n1")],
        true,
        true,
    );
    publish(&m3, "3", &site, &gpg_home, &key);
    assert!(pull(&c), "{}", c.journal("wasmunit-fleet-update.service"));
    let j = reconciled(&c, "returning to bundle 2");
    assert!(
        j.contains("bundle 3 failed on this node: wasm-dies.service"),
        "{j}"
    );
    let j = reconciled(
        &c,
        "running bundle 2; restarted: none; started: none; stopped: wasm-dies.service",
    );
    assert_eq!(link(&c), on_v2, "{j}");
    assert_eq!(load_state(&c, "wasm-dies.service"), "not-found", "{j}");
    assert_eq!(pid(&c, "wasm-keep.service"), keep);
    assert_eq!(pid(&c, "wasm-change.service"), change);
    // A later pull does not run v3 again.
    assert!(pull(&c));
    assert_eq!(link(&c), on_v2);

    // v4, signed by another key: refused, nothing changes.
    let m4 = write_manifest(&w.join("v4"), &[("keep", "k4")], false);
    publish(&m4, "4", &site, &other_home, &other);
    assert!(!pull(&c), "a bundle signed by another key was accepted");
    let update = c.journal("wasmunit-fleet-update.service");
    assert!(update.to_lowercase().contains("signature"), "{update}");
    assert_eq!(link(&c), on_v2);
    assert_eq!(pid(&c, "wasm-keep.service"), keep);
    assert!(!c
        .exec(&[
            "ls",
            "/opt/extensions/wasmunit-apps/wasmunit-apps_4_x86-64.raw"
        ])
        .status
        .success());

    // Two more versions whose app dies: sysupdate's cleanup (InstancesMax=3)
    // removes version 2's download, and the node still returns to it.
    for v in ["5", "6"] {
        publish(&m3, v, &site, &gpg_home, &key);
        assert!(pull(&c), "{}", c.journal("wasmunit-fleet-update.service"));
        let j = reconciled(&c, &format!("bundle {v} failed on this node"));
        assert_eq!(link(&c), on_v2, "{j}");
    }
    let o = c.exec(&["ls", "/opt/extensions/wasmunit-apps"]);
    let downloads = String::from_utf8_lossy(&o.stdout);
    assert!(
        !downloads.contains("_2_"),
        "version 2's download is still there:\n{downloads}"
    );
    assert_eq!(pid(&c, "wasm-keep.service"), keep);
    pid(&c, "wasm-later.service");
}

first_boot_test!(
    /// On systemd 252 (the host's /usr).
    a_fleet_node_follows_its_bundles_on_252 =>
    a_fleet_node_follows_its_bundles(std::path::Path::new("/"))
);
first_boot_test!(
    /// On systemd 257 (Debian 13; Flatcar stable).
    a_fleet_node_follows_its_bundles_on_257 =>
    a_fleet_node_follows_its_bundles(&common::container::debian13_tree())
);
first_boot_test!(
    /// On systemd 262 (Debian forky; Flatcar beta and alpha ship 260).
    a_fleet_node_follows_its_bundles_on_262 =>
    a_fleet_node_follows_its_bundles(&common::container::forky_tree())
);
