//! A fleet node's parts shared by `first_boot::bundles` and the
//! `fleet_node` bench: bundles published as `wasmunit bundle` makes them,
//! served on loopback in the node's own network namespace, the real
//! systemd-sysupdate in the node's OS, and what the node reports.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use super::container::Container;
use super::node::{enable_sysext, write_extension_release};

use super::container::settled;
use super::run;

/// A long-running app's module that prints `word` (3 bytes) and sleeps.
pub fn forever_printing(word: &str) -> String {
    assert_eq!(word.len(), 2);
    let wat =
        std::fs::read_to_string(super::repo().join("tests/fixtures/forever.wat")).expect("fixture");
    wat.replace("\"up\\n\"", &format!("\"{word}\\n\""))
}

/// A manifest of long-running apps, each `(name, word)`; `dies` adds an
/// app whose module traps at once; `later` an app that waits for a later
/// bundle to enable it (`enabled = false` until then).
pub fn write_manifest(dir: &Path, apps: &[(&str, &str)], dies: bool) -> PathBuf {
    write_manifest_with(dir, apps, dies, false)
}

pub fn write_manifest_with(dir: &Path, apps: &[(&str, &str)], dies: bool, later: bool) -> PathBuf {
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

pub fn publish(manifest: &Path, version: &str, site: &Path, gpg_home: &Path, key: &str) {
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
pub struct ServedNetns {
    name: String,
    server: Child,
}

impl ServedNetns {
    pub fn new(site: &Path) -> ServedNetns {
        let name = format!("wu-fleet-{}-{}", std::process::id(), super::random_hex(4));
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

    pub fn path(&self) -> PathBuf {
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
pub fn install_os_sysupdate(root: &Path, tree: &Path) {
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
pub fn reconciled(c: &Container, until: &str) -> String {
    let unit = "wasmunit-fleet.service";
    assert!(
        c.wait_for(Duration::from_secs(120), || c.journal(unit).contains(until)),
        "`{until}` not in the reconciler's journal:\n{}\nupdate:\n{}",
        c.journal(unit),
        c.journal("wasmunit-fleet-update.service")
    );
    c.journal(unit)
}

pub fn pid(c: &Container, unit: &str) -> u32 {
    let s = settled(c, unit);
    assert_eq!(s.active, "active", "{unit}: {}", c.journal(unit));
    s.main_pid.unwrap_or_else(|| panic!("{unit}: no process"))
}

pub fn load_state(c: &Container, unit: &str) -> String {
    let o = c.exec(&["systemctl", "show", "-p", "LoadState", "--value", unit]);
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

/// The file name of the bundle the node's link names (the node's own copy
/// after a rollback, or sysupdate's).
pub fn link(c: &Container) -> String {
    let o = c.exec(&["readlink", "-f", "/etc/extensions/wasmunit-apps.raw"]);
    let path = String::from_utf8_lossy(&o.stdout).trim().to_owned();
    path.rsplit('/').next().unwrap_or_default().to_owned()
}

/// Runs the node's own pull (as its timer would) and returns whether it
/// succeeded.
pub fn pull(c: &Container) -> bool {
    c.exec(&["systemctl", "start", "wasmunit-fleet-update.service"])
        .status
        .success()
}
