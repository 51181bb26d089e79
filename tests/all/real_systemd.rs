//! The rendered units under a real systemd manager (PID 1 in a throw-away
//! container, talking D-Bus) with the real wasmtime 31.0.0 CLI as its
//! /usr/bin/wasmtime: every unit runs with its default hardening.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::container::Container;
use wasmunit::deploy::dbus::{Systemd, UnitState};

use crate::common;

fn boot() -> Container {
    Container::boot(&common::require_wasmtime_cli())
}

/// `wasmunit apply MANIFEST --root <container root>` on the container's bus.
fn apply(c: &Container, manifest: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_wasmunit"))
        .arg("apply")
        .arg(manifest)
        .arg("--root")
        .arg(c.root())
        .args(extra)
        .env("DBUS_SYSTEM_BUS_ADDRESS", c.bus_address())
        .output()
        .expect("run wasmunit apply")
}

/// Writes `toml` as DIR/apps.toml and applies it; panics when apply fails.
fn apply_manifest(c: &Container, dir: &Path, toml: &str, extra: &[&str]) -> PathBuf {
    let manifest = dir.join("apps.toml");
    std::fs::write(&manifest, toml).expect("manifest");
    let out = apply(c, &manifest, extra);
    assert!(
        out.status.success(),
        "apply failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    manifest
}

fn state(c: &Container, unit: &str) -> UnitState {
    c.systemd().state(unit).expect("unit state")
}

/// Waits for a service to finish and returns its final state.
fn finished(c: &Container, unit: &str) -> UnitState {
    c.wait_state(unit, Duration::from_secs(20), |s| {
        matches!(s.active.as_str(), "inactive" | "failed")
    })
}

fn write_in(c: &Container, path: &str, text: &str) {
    let p = c.root().join(path.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir in container");
    std::fs::write(p, text).expect("write in container");
}

#[test]
fn the_example_runs_under_real_systemd_with_its_hardening() {
    let c = boot();
    let out = apply(&c, &common::repo().join("examples/apps.toml"), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "apply failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A preview1 command: ran, printed its literal arguments, exited 0.
    let hello = finished(&c, "wasm-hello.service");
    assert_eq!(
        (
            hello.active.as_str(),
            hello.result.as_str(),
            hello.exit_status
        ),
        ("inactive", "success", Some(0)),
        "{}",
        c.journal("wasm-hello.service")
    );
    assert!(
        c.journal("wasm-hello.service")
            .contains("hello from wasm: --name world 100% $literal hi\n"),
        "{}",
        c.journal("wasm-hello.service")
    );

    // Granted folders: the read-only one reads but refuses writes, the
    // read-write StateDirectory takes them.
    let files = finished(&c, "wasm-files.service");
    let journal = c.journal("wasm-files.service");
    assert_eq!(
        (files.result.as_str(), files.exit_status),
        ("success", Some(0)),
        "{journal}"
    );
    // in.txt was shipped with the manifest (`files`), not put there by hand.
    assert!(
        journal.contains("read shipped with the manifest\n"),
        "{journal}"
    );
    assert!(journal.contains("write-rw 0\n"), "{journal}");
    // systemd's ReadOnlyPaths= holds: the write fails (wasmtime 31 reports
    // the kernel's EROFS as WASI errno 29, EIO) and no file appears.
    let ro = journal
        .lines()
        .find_map(|l| l.strip_prefix("write-ro "))
        .expect("write-ro line");
    assert_ne!(ro, "0", "{journal}");
    assert!(!c
        .root()
        .join("var/lib/wasmunit/files/files/0/denied.txt")
        .exists());
    assert_eq!(
        std::fs::read_to_string(c.root().join("var/lib/private/wasm-files/out.txt"))
            .expect("out.txt"),
        "written by wasm\n"
    );

    // memory = "64MiB": MemoryMax= adds wasmtime's headroom (the container
    // does not enforce it; systemd holds the property).
    assert_eq!(
        c.systemd()
            .memory_max("wasm-hello.service")
            .expect("MemoryMax"),
        (64 + 256) << 20
    );

    // The scheduled app waits for its timer; the group target is up.
    assert_eq!(state(&c, "wasm-report.timer").active, "active");
    assert_eq!(state(&c, "wasmunit.target").active, "active");
    assert!(stdout.contains("wasm-hello.service"), "{stdout}");
}

/// Copies a test fixture module next to a manifest.
fn fixture(dir: &Path, name: &str) {
    std::fs::create_dir_all(dir.join("modules")).expect("mkdir");
    std::fs::copy(
        common::repo().join("tests/fixtures").join(name),
        dir.join("modules").join(name),
    )
    .expect("copy fixture");
}

/// systemd keeps `$$` in the ExecStart property and turns it into `$` when
/// it builds the process's argv; nothing else changes.
fn exec_property_to_argv(argv: &[String]) -> Vec<String> {
    argv.iter().map(|a| a.replace("$$", "$")).collect()
}

struct GeneratedApp {
    name: String,
    args: Vec<String>,
    env: BTreeMap<String, String>,
}

/// A manifest of `n` dump.wat apps with generated hostile arguments and
/// environment and assorted grants (network, memory, a state folder).
fn generated_manifest(dir: &Path, seed: u64, n: usize) -> (PathBuf, Vec<GeneratedApp>) {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[seed.to_le_bytes()[0]; 32]),
    );
    let word = proptest::prop_oneof![
        "[^\u{0}]{0,12}",
        "[ \t\n\"'\\\\%$;#{}=a-zé-]{0,10}",
        proptest::strategy::Just(String::new()),
        proptest::strategy::Just("${HOME}".to_owned()),
        proptest::strategy::Just("-W".to_owned()),
    ];
    let args_s = proptest::collection::vec(word.clone(), 0..5);
    let env_s = proptest::collection::btree_map("[A-Z][A-Z0-9_]{0,5}", word, 0..3);
    fixture(dir, "dump.wat");
    let mut toml = String::from(
        "version = 1\n\n[defaults]\nmodule = \"modules/dump.wat\"\nrestart = \"no\"\n\n",
    );
    let mut apps = Vec::new();
    for i in 0..n {
        let args = args_s.new_tree(&mut runner).expect("args").current();
        let env = env_s.new_tree(&mut runner).expect("env").current();
        let name = format!("gen{seed}-{i}");
        let _ = writeln!(toml, "[app.{name}]");
        let list: Vec<String> = args.iter().map(|a| common::toml_string(a)).collect();
        let _ = writeln!(toml, "args = [{}]", list.join(", "));
        let env_kv: Vec<String> = env
            .iter()
            .map(|(k, v)| format!("{k} = {}", common::toml_string(v)))
            .collect();
        let _ = writeln!(toml, "env = {{ {} }}", env_kv.join(", "));
        match i % 4 {
            1 => toml.push_str("network = \"outbound\"\n"),
            2 => toml.push_str("network = \"inherit\"\nmemory = \"32MiB\"\n"),
            3 => {
                let _ = writeln!(
                    toml,
                    "dirs = [{{ host = \"/var/lib/wasm-{name}\", guest = \"/data\" }}]"
                );
            }
            _ => {}
        }
        toml.push('\n');
        apps.push(GeneratedApp { name, args, env });
    }
    let path = dir.join("apps.toml");
    std::fs::write(&path, toml).expect("manifest");
    (path, apps)
}

#[test]
fn generated_apps_get_exactly_their_arguments_and_environment() {
    let c = boot();
    let tmp = tempfile::tempdir().expect("tmp");
    let mut previous: Vec<String> = Vec::new();
    for seed in 1..=3u64 {
        let dir = tmp.path().join(format!("m{seed}"));
        let (manifest, apps) = generated_manifest(&dir, seed, 8);
        let out = apply(&c, &manifest, &[]);
        assert!(
            out.status.success(),
            "apply failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // The previous manifest's units were stopped, disabled and removed.
        for old in &previous {
            assert!(
                !c.root().join("etc/systemd/system").join(old).exists(),
                "{old} left behind"
            );
        }
        let units = common::render_units(&manifest);
        let sd = c.systemd();
        for app in &apps {
            let unit = format!("wasm-{}.service", app.name);
            let st = finished(&c, &unit);
            let journal = c.journal(&unit);
            assert_eq!(
                (st.active.as_str(), st.result.as_str(), st.exit_status),
                ("inactive", "success", Some(0)),
                "{unit}:\n{journal}"
            );
            let (got_args, got_env) = common::decode_dump_in_journal(&journal);
            assert_eq!(&got_args[1..], &app.args[..], "{unit} argv");
            let want_env: Vec<String> = app.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            assert_eq!(got_env, want_env, "{unit} environment");

            // systemd's own parse of ExecStart, read back over D-Bus, is the
            // argv the unit file means.
            let text = &units.iter().find(|u| u.name == unit).expect("unit").text;
            let exec = sd.exec_start(&unit).expect("ExecStart property");
            assert_eq!(exec.len(), 1);
            assert_eq!(
                exec_property_to_argv(&exec[0].1),
                common::exec_argv(text),
                "{unit} ExecStart"
            );
        }
        previous = units
            .iter()
            // The shared units stay: every manifest has them.
            .filter(|u| u.name.starts_with("wasm-"))
            .map(|u| u.name.clone())
            .collect();
    }
}

#[test]
fn a_scheduled_app_runs_when_its_timer_fires() {
    let c = boot();
    let tmp = tempfile::tempdir().expect("tmp");
    fixture(tmp.path(), "dump.wat");
    apply_manifest(
        &c,
        tmp.path(),
        "version = 1\n\n[app.tick]\nmodule = \"modules/dump.wat\"\nargs = [\"tick\"]\nschedule = \"*:*:0/2\"\n",
        &[],
    );
    assert_eq!(state(&c, "wasm-tick.timer").active, "active");
    // "tick" in hex, printed by the module each time the timer starts it.
    let fired = c.wait_for(Duration::from_secs(15), || {
        c.journal("wasm-tick.service").contains("arg=7469636b\n")
    });
    assert!(
        fired,
        "timer never fired:\n{}",
        c.journal("wasm-tick.service")
    );
    let st = finished(&c, "wasm-tick.service");
    assert_eq!((st.result.as_str(), st.exit_status), ("success", Some(0)));
}

#[test]
fn a_missing_module_fails_the_start_without_a_restart_loop() {
    let c = boot();
    let tmp = tempfile::tempdir().expect("tmp");
    fixture(tmp.path(), "forever.wat");
    let manifest = apply_manifest(
        &c,
        tmp.path(),
        "version = 1\n\n[app.gone]\nmodule = \"modules/forever.wat\"\n",
        &["--no-start"],
    );
    let plan = common::plan_of(&manifest);
    let module = c
        .root()
        .join(plan.apps[0].module.node_path.trim_start_matches('/'));
    std::fs::remove_file(&module).expect("remove module on the node");

    let sd = c.systemd();
    sd.start("wasm-gone.service").expect("StartUnit");
    std::thread::sleep(Duration::from_secs(3));
    let st = state(&c, "wasm-gone.service");
    let journal = c.exec(&["journalctl", "--no-pager", "-u", "wasm-gone.service"]);
    let journal = String::from_utf8_lossy(&journal.stdout);
    assert_ne!(st.active, "active", "{journal}");
    assert_ne!(st.active, "activating", "{journal}");
    assert_eq!(st.restarts, Some(0), "restarted: {journal}");
    assert!(journal.contains("Assertion failed"), "{journal}");
}

#[test]
fn restarting_the_group_target_restarts_every_long_running_app() {
    let c = boot();
    let tmp = tempfile::tempdir().expect("tmp");
    fixture(tmp.path(), "forever.wat");
    apply_manifest(
        &c,
        tmp.path(),
        "version = 1\n\n[defaults]\nmodule = \"modules/forever.wat\"\n\n[app.one]\n\n[app.two]\nafter = [\"one\"]\n",
        &[],
    );
    for unit in ["wasm-one.service", "wasm-two.service"] {
        let up = c.wait_for(Duration::from_secs(10), || {
            state(&c, unit).sub == "running" && c.journal(unit).contains("up\n")
        });
        assert!(up, "{unit} not running:\n{}", c.journal(unit));
    }
    c.systemd().restart("wasmunit.target").expect("RestartUnit");
    for unit in ["wasm-one.service", "wasm-two.service"] {
        let twice = c.wait_for(Duration::from_secs(10), || {
            c.journal(unit).matches("up\n").count() == 2
        });
        assert!(
            twice,
            "{unit} was not restarted with the target:\n{}",
            c.journal(unit)
        );
        assert_eq!(state(&c, unit).sub, "running");
    }
}

#[test]
fn a_wasi_p2_command_component_runs_under_systemd() {
    let c = boot();
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(tmp.path().join("modules")).expect("mkdir");
    std::fs::write(
        tmp.path().join("modules/dump.wasm"),
        common::command_component(&common::repo().join("tests/fixtures/dump.wat")),
    )
    .expect("component");
    apply_manifest(
        &c,
        tmp.path(),
        "version = 1\n\n[app.p2]\nmodule = \"modules/dump.wasm\"\nargs = [\"from a component\", \"$HOME\"]\nenv = { MODE = \"p2\" }\nrestart = \"no\"\n",
        &[],
    );
    let st = finished(&c, "wasm-p2.service");
    let journal = c.journal("wasm-p2.service");
    assert_eq!(
        (st.result.as_str(), st.exit_status),
        ("success", Some(0)),
        "{journal}"
    );
    let (args, env) = common::decode_dump_in_journal(&journal);
    assert_eq!(&args[1..], ["from a component", "$HOME"]);
    assert_eq!(env, ["MODE=p2"]);
}

/// Host paths with spaces, quotes, `#`, `%` and non-ASCII text: systemd's
/// ReadOnlyPaths=/ReadWritePaths= and wasmtime's `--dir HOST::GUEST` both
/// get exactly these folders, so the module reads and writes where the
/// manifest says, and the read-only one still refuses writes.
#[test]
fn hostile_host_paths_reach_systemd_and_wasmtime_intact() {
    let c = boot();
    let ro = "/etc/wasmunit/my files é\"q%";
    // Read-write folders are systemd's to create for the dynamic user, so
    // only names StateDirectory= carries: the oddest plain one.
    let rw = "/var/lib/wasm-odd/odd.data_1+x@y=z,w";
    write_in(&c, &format!("{ro}/in.txt"), "from an odd folder\n");
    let rw_dir = c.root().join(rw.trim_start_matches('/'));
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(tmp.path().join("modules")).expect("mkdir");
    std::fs::copy(
        common::repo().join("examples/modules/files.wat"),
        tmp.path().join("modules/files.wat"),
    )
    .expect("module");
    let toml = format!(
        "version = 1\n[app.odd]\nmodule = \"modules/files.wat\"\nrestart = \"no\"\n\
         dirs = [{{ host = {}, guest = \"/config\", readonly = true }}, {{ host = {}, guest = \"/data\" }}]\n",
        common::toml_string(ro),
        common::toml_string(rw)
    );
    apply_manifest(&c, tmp.path(), &toml, &[]);
    let st = finished(&c, "wasm-odd.service");
    let journal = c.journal("wasm-odd.service");
    assert_eq!(
        (st.result.as_str(), st.exit_status),
        ("success", Some(0)),
        "{journal}"
    );
    assert!(journal.contains("read from an odd folder\n"), "{journal}");
    assert_eq!(
        std::fs::read_to_string(rw_dir.join("out.txt")).expect("out.txt"),
        "written by wasm\n"
    );
    let ro_write = journal
        .lines()
        .find_map(|l| l.strip_prefix("write-ro "))
        .expect("write-ro");
    assert_ne!(ro_write, "0", "{journal}");
    assert!(!c
        .root()
        .join(ro.trim_start_matches('/'))
        .join("denied.txt")
        .exists());
}

/// The version guard of a range: under a wasmtime inside it the app runs;
/// outside it systemd skips the unit once, with a message naming both
/// versions, and does not restart it (even with `restart = "always"`).
#[test]
fn a_unit_outside_its_wasmtime_range_is_skipped_once_with_a_message() {
    let c = boot();
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(tmp.path().join("modules")).expect("mkdir");
    std::fs::copy(
        common::repo().join("tests/fixtures/forever.wat"),
        tmp.path().join("modules/forever.wat"),
    )
    .expect("module");
    let manifest = |range: &str| {
        format!(
            "version = 1\n[defaults]\nwasmtime = \"{range}\"\n\n[app.hello]\n\
             module = \"modules/forever.wat\"\nrestart = \"always\"\n"
        )
    };
    // The container's CLI is 31.0.0: inside the first range.
    apply_manifest(&c, tmp.path(), &manifest(">=31.0.0, <48"), &[]);
    assert_eq!(state(&c, "wasm-hello.service").active, "active");

    // Outside the range: systemd skips the new unit (its condition fails),
    // so apply sees it not come up, restores the previous unit and says so.
    let path = tmp.path().join("apps.toml");
    std::fs::write(&path, manifest(">=48.0.0, <50")).expect("manifest");
    let out = apply(&c, &path, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // 4: a unit failed on the host (rolled back), not a refusal.
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("wasm-hello.service did not come up"),
        "{stderr}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("exec-condition"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let message = "wasmunit: rendered for wasmtime >=48.0.0, <50, but /usr/bin/wasmtime is 31.0.0: not starting";
    let journal = c.journal("wasm-hello.service");
    assert_eq!(journal.matches(message).count(), 1, "{journal}");
    // No restart loop, even with `restart = "always"`: give one time to show.
    std::thread::sleep(Duration::from_secs(5));
    let journal = c.journal("wasm-hello.service");
    assert_eq!(journal.matches(message).count(), 1, "{journal}");
    assert_eq!(state(&c, "wasm-hello.service").restarts, Some(0));
    // The restored unit (rendered for the range 31.0.0 is in) runs again.
    assert_eq!(
        state(&c, "wasm-hello.service").active,
        "active",
        "{journal}"
    );
    assert!(journal.matches("up\n").count() >= 2, "{journal}");
}

/// `network = "outbound"` means no listening socket: a real process under
/// the rendered sandbox (every [Service] setting of the unit, passed to the
/// real manager as a transient unit) that calls listen() without bind(),
/// which SocketBindDeny= alone does not see. Without the unit's
/// `SystemCallFilter=~listen` the kernel hands it an ephemeral port.
#[test]
fn an_outbound_app_cannot_listen_even_without_binding_first() {
    let cli = common::require_wasmtime_cli();
    for (c, manager) in [
        (Container::boot(&cli), "252"),
        (
            Container::boot_tree(&common::container::debian13_tree(), &cli),
            "257",
        ),
        (
            Container::boot_tree(&common::container::forky_tree(), &cli),
            "262",
        ),
    ] {
        outbound_cannot_listen(&c, manager);
    }
}

fn outbound_cannot_listen(c: &Container, manager: &str) {
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(tmp.path().join("m")).expect("mkdir");
    std::fs::write(
        tmp.path().join("m/tiny.wat"),
        r#"(module (func (export "_start")))"#,
    )
    .expect("module");
    std::fs::write(
        tmp.path().join("apps.toml"),
        "version = 1\n[app.client]\nmodule = \"m/tiny.wat\"\nnetwork = \"outbound\"\n",
    )
    .expect("manifest");
    let out = Command::new(env!("CARGO_BIN_EXE_wasmunit"))
        .arg("render")
        .arg(tmp.path().join("apps.toml"))
        .arg("--out")
        .arg(tmp.path().join("out"))
        .output()
        .expect("render");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unit = std::fs::read_to_string(tmp.path().join("out/wasm-client.service")).expect("unit");
    // The sandbox: [Service] from DynamicUser= on (not the command).
    let sandbox: Vec<String> = unit
        .split("[Service]")
        .nth(1)
        .and_then(|s| s.split("\n[").next())
        .expect("service section")
        .lines()
        .skip_while(|l| !l.starts_with("DynamicUser="))
        .filter(|l| !l.starts_with('#') && l.contains('='))
        .map(str::to_owned)
        .collect();
    assert!(
        sandbox.iter().any(|l| l == "SystemCallFilter=~listen"),
        "{unit}"
    );
    // perl-base is in every tree (python is not in a minimal Debian).
    let listener = "use Socket; socket(my $s, PF_INET, SOCK_STREAM, 0) or die; \
                    if (listen($s, 1)) { my ($p) = unpack_sockaddr_in(getsockname($s)); \
                    print \"listening $p\\n\" } else { print \"refused \", $!+0, \"\\n\" }";
    let run = |props: &[String]| {
        let mut args = vec!["systemd-run", "--wait", "--pipe", "--quiet"];
        for p in props {
            args.extend(["-p", p.as_str()]);
        }
        args.extend(["/usr/bin/perl", "-e", listener]);
        let o = c.exec(&args);
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    let rendered = run(&sandbox);
    assert!(
        rendered.contains("refused 1"),
        "systemd {manager}, under the rendered sandbox: {rendered}"
    );
    let without: Vec<String> = sandbox
        .iter()
        .filter(|l| *l != "SystemCallFilter=~listen")
        .cloned()
        .collect();
    let hole = run(&without);
    assert!(
        hole.contains("listening"),
        "systemd {manager}: SocketBindDeny= alone was expected to miss listen() without bind: {hole}"
    );
}

/// Whatever the manager's environment holds (`systemctl set-environment`,
/// `DefaultEnvironment=`), an app runs with the options its unit shows:
/// under the official 49.0.4 binary, which reads `WASMTIME_WASM` and the
/// other option groups from the environment, a limit set there stops a
/// plain `wasmtime run` of the module, and not the app.
#[test]
fn the_managers_environment_does_not_change_what_an_app_runs() {
    let Some(tools) =
        common::tools_or_skip("official wasmtime", &["wasmtime-official-49.0.4/wasmtime"])
    else {
        return;
    };
    let c = Container::boot(&tools[0]);
    let set = c.exec(&[
        "systemctl",
        "set-environment",
        "WASMTIME_WASM=max-memory-size=65536",
    ]);
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(tmp.path().join("m")).expect("mkdir");
    // Two pages: more than the limit the manager's environment sets.
    std::fs::write(
        tmp.path().join("m/two.wat"),
        r#"(module (memory 2) (func (export "_start")))"#,
    )
    .expect("module");
    apply_manifest(
        &c,
        tmp.path(),
        "version = 1\n[defaults]\nwasmtime = \"49.0.4\"\n[app.two]\nmodule = \"m/two.wat\"\nrestart = \"no\"\n",
        &[],
    );
    let s = finished(&c, "wasm-two.service");
    assert_eq!(
        (s.active.as_str(), s.result.as_str()),
        ("inactive", "success"),
        "{}",
        c.journal("wasm-two.service")
    );
    // The same binary and module outside the unit's care: refused.
    let unit = std::fs::read_to_string(c.unit_dir().join("wasm-two.service")).expect("unit");
    let module = unit
        .split_whitespace()
        .find(|w| w.starts_with("/var/lib/wasmunit/modules/"))
        .expect("module path");
    let plain = c.exec(&[
        "systemd-run",
        "--wait",
        "--pipe",
        "--quiet",
        "/usr/bin/wasmtime",
        "run",
        module,
    ]);
    assert!(
        !plain.status.success()
            && String::from_utf8_lossy(&plain.stderr).contains("exceeds memory limits"),
        "the manager's WASMTIME_WASM did not reach a plain unit: {}",
        String::from_utf8_lossy(&plain.stderr)
    );
}
