//! `apply`, `diff`, `status` and `remove` against a real systemd manager
//! (PID 1 in a container, tests/common/container.rs) with the real wasmtime
//! 31.0.0 CLI: only what changed restarts, refusals change nothing, a new
//! version that does not come up is rolled back, a repeat apply does
//! nothing.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::common::container::Container;
use wasmunit::deploy::dbus::Systemd;

use crate::common;

const FOREVER: &str = include_str!("../fixtures/forever.wat");

fn wasmunit(c: &Container, args: &[&str], manifest: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wasmunit"));
    cmd.args(args);
    if let Some(m) = manifest {
        cmd.arg(m);
    }
    cmd.arg("--root")
        .arg(c.root())
        .env("DBUS_SYSTEM_BUS_ADDRESS", c.bus_address())
        .env("WASMUNIT_CACHE_DIR", c.root().join("tmp/wasmunit-cache"))
        .output()
        .expect("run wasmunit")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A folder with a manifest of long-running apps; `variant` changes one
/// app's module bytes (an extra data segment), `trap` makes it trap at once.
struct Fleet {
    dir: tempfile::TempDir,
}

impl Fleet {
    fn new() -> Fleet {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(dir.path().join("modules")).expect("mkdir");
        Fleet { dir }
    }

    fn module(&self, name: &str, wat: &str) {
        std::fs::write(self.dir.path().join("modules").join(name), wat).expect("module");
    }

    fn manifest(&self, apps: &str) -> PathBuf {
        let p = self.dir.path().join("apps.toml");
        std::fs::write(&p, format!("version = 1\n\n{apps}")).expect("manifest");
        p
    }
}

fn variant(tag: &str) -> String {
    FOREVER.replace(
        "(data (i32.const 200) \"up\\n\")",
        &format!("(data (i32.const 200) \"up\\n\") (data (i32.const 400) \"{tag}\")"),
    )
}

const TRAPS: &str = r#"(module (memory (export "memory") 1) (func (export "_start") unreachable))"#;

/// Computes for about 0.4 s (here), then traps: never
/// asleep, so only the survival window can catch it.
const COMPUTES_THEN_TRAPS: &str = r#"(module (memory (export "memory") 1)
  (func (export "_start") (local $i i64)
    (loop $spin
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br_if $spin (i64.lt_u (local.get $i) (i64.const 800000000))))
    unreachable))"#;

fn pids(c: &Container, units: &[&str]) -> BTreeMap<String, Option<u32>> {
    let sd = c.systemd();
    units
        .iter()
        .map(|u| ((*u).to_owned(), sd.state(u).expect("state").main_pid))
        .collect()
}

fn wait_running(c: &Container, unit: &str) {
    let up = c.wait_for(Duration::from_secs(30), || {
        c.systemd().state(unit).is_ok_and(|s| s.sub == "running")
    });
    assert!(up, "{unit} not running:\n{}", c.journal(unit));
}

/// Every file below the unit folder and its bytes.
fn unit_files(c: &Container) -> BTreeMap<String, Vec<u8>> {
    let dir = c.unit_dir();
    std::fs::read_dir(&dir)
        .expect("unit dir")
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .collect()
}

/// The module files on the node.
fn module_files(c: &Container) -> std::collections::BTreeSet<String> {
    std::fs::read_dir(c.root().join("var/lib/wasmunit/modules"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".wasm"))
                .collect()
        })
        .unwrap_or_default()
}

const TWO: &str =
    "[app.one]\nmodule = \"modules/one.wat\"\n\n[app.two]\nmodule = \"modules/two.wat\"\n";

#[test]
#[allow(clippy::too_many_lines)] // one scenario on one manager, read top to bottom
fn only_what_changed_restarts_and_a_repeat_apply_does_nothing() {
    let c = Container::boot(&common::require_wasmtime_cli());
    let fleet = Fleet::new();
    fleet.module("one.wat", &variant("one-v1"));
    fleet.module("two.wat", &variant("two-v1"));
    let m = fleet.manifest(TWO);

    let diff = wasmunit(&c, &["diff"], Some(&m));
    // 3: something would change (1 would be a refusal).
    assert_eq!(diff.status.code(), Some(3), "{}", text(&diff));
    assert!(
        String::from_utf8_lossy(&diff.stdout).contains("+ unit wasm-one.service (new)"),
        "{}",
        text(&diff)
    );

    let applied = wasmunit(&c, &["apply", "--wait", "30"], Some(&m));
    assert!(applied.status.success(), "{}", text(&applied));
    wait_running(&c, "wasm-one.service");
    wait_running(&c, "wasm-two.service");
    let before = pids(&c, &["wasm-one.service", "wasm-two.service"]);
    let modules_before = module_files(&c);
    assert_eq!(modules_before.len(), 2, "{modules_before:?}");

    // Nothing changed: diff says so, apply changes nothing.
    let diff = wasmunit(&c, &["diff"], Some(&m));
    assert_eq!(
        (
            diff.status.code(),
            String::from_utf8_lossy(&diff.stdout).as_ref()
        ),
        (Some(0), "no changes\n"),
        "{}",
        text(&diff)
    );
    let applied = wasmunit(&c, &["apply"], Some(&m));
    assert!(applied.status.success(), "{}", text(&applied));
    assert!(
        String::from_utf8_lossy(&applied.stderr).contains("nothing to change"),
        "{}",
        text(&applied)
    );
    assert_eq!(pids(&c, &["wasm-one.service", "wasm-two.service"]), before);

    // One module changes: only its unit restarts.
    fleet.module("one.wat", &variant("one-v2"));
    let diff = wasmunit(&c, &["diff"], Some(&m));
    let out = String::from_utf8_lossy(&diff.stdout).into_owned();
    assert!(
        out.contains("~ unit wasm-one.service\n") && !out.contains("wasm-two.service"),
        "{}",
        text(&diff)
    );
    assert!(out.contains("+ module /var/lib/wasmunit/modules/"), "{out}");
    let applied = wasmunit(&c, &["apply", "--wait", "30"], Some(&m));
    assert!(
        applied.status.success(),
        "{}
{}",
        text(&applied),
        String::from_utf8_lossy(&c.exec(&["journalctl", "--no-pager", "-n", "30"]).stdout)
    );
    wait_running(&c, "wasm-one.service");
    let after = pids(&c, &["wasm-one.service", "wasm-two.service"]);
    assert_ne!(after["wasm-one.service"], before["wasm-one.service"]);
    assert_eq!(after["wasm-two.service"], before["wasm-two.service"]);
    // The old module of one is collected once nothing names it.
    let modules_after = module_files(&c);
    assert_eq!(modules_after.len(), 2, "{modules_after:?}");
    assert_eq!(modules_after.intersection(&modules_before).count(), 1);

    // A moved manifest changes only the header comment: no restart.
    let moved = fleet.dir.path().join("renamed.toml");
    std::fs::copy(&m, &moved).expect("copy");
    let applied = wasmunit(&c, &["apply"], Some(&moved));
    assert!(applied.status.success(), "{}", text(&applied));
    assert_eq!(
        pids(&c, &["wasm-one.service", "wasm-two.service"]),
        after,
        "{}",
        text(&applied)
    );

    // status: human and JSON, each running service with its main PID.
    let status = wasmunit(&c, &["status", "--format", "json"], Some(&moved));
    assert!(status.status.success(), "{}", text(&status));
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(doc["schema"], "wasmunit-status/1");
    let one = doc["units"]
        .as_array()
        .expect("units")
        .iter()
        .find(|u| u["unit"] == "wasm-one.service")
        .expect("one");
    assert_eq!(one["active"], "active");
    assert_eq!(
        one["main_pid"].as_u64().and_then(|p| u32::try_from(p).ok()),
        after["wasm-one.service"]
    );
    assert_eq!(one["drift"], serde_json::json!([]));
    let status = wasmunit(&c, &["status"], None);
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("wasm-two.service"),
        "{}",
        text(&status)
    );
}

/// Applies app `one` as `module` (which dies) beside `two`: exit 4, the
/// previous unit file back, the previous version running again.
fn assert_upgrade_rolled_back(c: &Container, fleet: &Fleet, module: &str) {
    let before_text = std::fs::read(c.unit_dir().join("wasm-one.service")).expect("unit");
    fleet.module("one.wat", module);
    let m = fleet.manifest(
        "[app.one]\nmodule = \"modules/one.wat\"\n\n[app.two]\nmodule = \"modules/two.wat\"\n",
    );
    let applied = wasmunit(c, &["apply", "--wait", "6"], Some(&m));
    // 4: a unit failed on the host (not a refusal: the input was fine).
    assert_eq!(applied.status.code(), Some(4), "{}", text(&applied));
    assert!(
        String::from_utf8_lossy(&applied.stderr).contains("wasm-one.service did not come up"),
        "{}",
        text(&applied)
    );
    assert_eq!(
        std::fs::read(c.unit_dir().join("wasm-one.service")).expect("unit"),
        before_text
    );
    wait_running(c, "wasm-one.service");
}

#[test]
fn removals_disabling_clashes_and_a_failed_upgrade() {
    let c = Container::boot(&common::require_wasmtime_cli());
    let fleet = Fleet::new();
    fleet.module("one.wat", &variant("one-v1"));
    fleet.module("two.wat", &variant("two-v1"));
    let m = fleet.manifest(TWO);
    let applied = wasmunit(&c, &["apply", "--wait", "30"], Some(&m));
    assert!(applied.status.success(), "{}", text(&applied));
    wait_running(&c, "wasm-one.service");
    wait_running(&c, "wasm-two.service");

    // A name another unit already has (here a runtime unit) is refused
    // before anything changes.
    let runtime = c.root().join("run/systemd/system");
    std::fs::create_dir_all(&runtime).expect("mkdir");
    std::fs::write(
        runtime.join("wasm-clash.service"),
        "[Service]\nExecStart=/bin/true\n",
    )
    .expect("foreign unit");
    c.systemd().reload().expect("reload");
    let files = unit_files(&c);
    let states = pids(&c, &["wasm-one.service", "wasm-two.service"]);
    let clash = fleet.manifest(&format!(
        "{TWO}\n[app.clash]\nmodule = \"modules/two.wat\"\n"
    ));
    let applied = wasmunit(&c, &["apply"], Some(&clash));
    assert_eq!(applied.status.code(), Some(1), "{}", text(&applied));
    assert!(
        String::from_utf8_lossy(&applied.stderr).contains(
            "wasm-clash.service is already provided by /run/systemd/system/wasm-clash.service"
        ),
        "{}",
        text(&applied)
    );
    assert_eq!(unit_files(&c), files);
    assert_eq!(pids(&c, &["wasm-one.service", "wasm-two.service"]), states);

    // A new version that traps at once, or computes before it traps
    // (busy, never quiet): rolled back, the old one runs again.
    for dies in [TRAPS, COMPUTES_THEN_TRAPS] {
        assert_upgrade_rolled_back(&c, &fleet, dies);
    }

    // enabled = false on a running app: stopped and disabled; two dropped
    // from the manifest: stopped, disabled, its file deleted.
    fleet.module("one.wat", &variant("one-v1"));
    let m = fleet.manifest("[app.one]\nmodule = \"modules/one.wat\"\nenabled = false\n");
    let applied = wasmunit(&c, &["apply"], Some(&m));
    assert!(applied.status.success(), "{}", text(&applied));
    let sd = c.systemd();
    let one = sd.state("wasm-one.service").expect("state");
    assert_eq!(one.active, "inactive", "{}", text(&applied));
    assert_eq!(
        sd.unit_file("wasm-one.service").expect("file").file_state,
        "disabled"
    );
    assert!(!c.unit_dir().join("wasm-two.service").exists());
    assert_ne!(
        sd.state("wasm-two.service").expect("state").active,
        "active"
    );

    // remove --all: every unit wasmunit installed, and nothing else.
    std::fs::write(
        c.unit_dir().join("mine.service"),
        "[Service]\nExecStart=/bin/true\n",
    )
    .expect("user unit");
    let removed = wasmunit(&c, &["remove", "--all"], None);
    assert!(removed.status.success(), "{}", text(&removed));
    let left: Vec<String> = unit_files(&c).into_keys().collect();
    assert_eq!(left, ["mine.service"], "{}", text(&removed));
    assert!(module_files(&c).is_empty(), "{:?}", module_files(&c));
    assert!(!c
        .root()
        .join("var/lib/wasmunit/modules/.wasmunit-owned")
        .exists());
}

/// `apply` SIGKILLed at many points: the unit folder never holds a torn
/// file (each is the old or the new text), and the next apply always
/// converges: every app running its new module, the files as rendered.
#[test]
fn a_killed_apply_is_completed_by_the_next_one() {
    let c = Container::boot(&common::require_wasmtime_cli());
    let fleet = Fleet::new();
    let mut apps = String::new();
    for i in 0..6 {
        let _ = write!(apps, "[app.k{i}]\nmodule = \"modules/k{i}.wat\"\n\n");
    }
    let m = fleet.manifest(&apps);
    let mut interrupted = 0;
    for round in 0..8u64 {
        for i in 0..6 {
            fleet.module(&format!("k{i}.wat"), &variant(&format!("k{i}-r{round}")));
        }
        let old = unit_files(&c);
        let mut child = Command::new(env!("CARGO_BIN_EXE_wasmunit"))
            .arg("apply")
            .arg(&m)
            .arg("--root")
            .arg(c.root())
            .env("DBUS_SYSTEM_BUS_ADDRESS", c.bus_address())
            .env("WASMUNIT_CACHE_DIR", c.root().join("tmp/wasmunit-cache"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(40 * round));
        let _ = child.kill();
        if !child.wait().expect("wait").success() {
            interrupted += 1;
        }
        // No torn file: each unit file is its old text or a whole new one.
        for (name, bytes) in unit_files(&c) {
            let whole = bytes.ends_with(b"\n") || name.starts_with('.');
            let old_text = old.get(&name).is_some_and(|o| *o == bytes);
            assert!(
                whole || old_text,
                "{name} torn after a kill in round {round}"
            );
        }
        let applied = wasmunit(&c, &["apply", "--wait", "30"], Some(&m));
        assert!(
            applied.status.success(),
            "round {round}: {}",
            text(&applied)
        );
        let diff = wasmunit(&c, &["diff"], Some(&m));
        assert_eq!(
            diff.status.code(),
            Some(0),
            "round {round} did not converge: {}",
            text(&diff)
        );
        // The manager runs what the files say: each ExecStart names this
        // round's module, no unit waits for a reload.
        let plan = common::plan_of(&m);
        let sd = c.systemd();
        for app in &plan.apps {
            let unit = app.name.service_unit();
            wait_running(&c, &unit);
            let exec = sd.exec_start(&unit).expect("ExecStart");
            assert!(
                exec[0].1.contains(&app.module.node_path),
                "round {round}: {unit} runs {:?}",
                exec[0].1
            );
            assert!(
                !sd.unit_file(&unit).expect("file").need_reload,
                "round {round}: {unit}"
            );
        }
    }
    assert!(interrupted > 0, "no kill interrupted an apply");
}

/// The client reads a queued or running job (what `apply` waits on, so it
/// never mistakes a unit about to restart for a settled one).
#[test]
fn a_running_start_job_is_seen_until_it_finishes() {
    let c = Container::boot(&common::require_wasmtime_cli());
    std::fs::write(
        c.unit_dir().join("slow.service"),
        "[Service]\nType=oneshot\nExecStart=/bin/sleep 2\n",
    )
    .expect("unit");
    let sd = c.systemd();
    sd.reload().expect("reload");
    sd.start("slow.service").expect("start");
    let st = sd.state("slow.service").expect("state");
    assert!(st.job_pending && !st.is_settled(), "{st:?}");
    let done = c.wait_for(Duration::from_secs(10), || {
        sd.state("slow.service").is_ok_and(|s| s.is_settled())
    });
    assert!(done);
    assert!(!sd.state("slow.service").expect("state").job_pending);
}

/// A read-only grant the host lacks is created (empty, 0755) by apply, as
/// the fragment does at first boot; a non-folder in its place is refused
/// before anything changes.
#[test]
fn apply_creates_the_read_only_folders_it_grants() {
    use std::os::unix::fs::PermissionsExt as _;
    let c = Container::boot(&common::require_wasmtime_cli());
    let fleet = Fleet::new();
    fleet.module("one.wat", &variant("one-v1"));
    let odd = "/srv/odd dir/données #%";
    let m = fleet.manifest(&format!(
        "[app.one]\nmodule = \"modules/one.wat\"\ndirs = [\
         {{ host = {}, guest = \"/ro\", readonly = true }}, \
         {{ host = \"/var/log/wasm-one\", guest = \"/log\" }}]\n",
        common::toml_string(odd)
    ));
    let at = c.root().join(odd.trim_start_matches('/'));

    // In the way: a file where the folder goes.
    std::fs::create_dir_all(at.parent().expect("parent")).expect("mkdir");
    std::fs::write(&at, "not a folder").expect("file");
    let refused = wasmunit(&c, &["apply"], Some(&m));
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("is granted as a folder but is not one"),
        "{}",
        text(&refused)
    );
    assert!(unit_files(&c).is_empty(), "{:?}", unit_files(&c).keys());
    std::fs::remove_file(&at).expect("rm");

    let diff = wasmunit(&c, &["diff"], Some(&m));
    assert!(
        String::from_utf8_lossy(&diff.stdout).contains(&format!(
            "+ folder {odd} (granted read-only; created empty)"
        )),
        "{}",
        text(&diff)
    );
    assert!(!at.exists(), "diff changes nothing");
    let applied = wasmunit(&c, &["apply", "--wait", "30"], Some(&m));
    assert!(applied.status.success(), "{}", text(&applied));
    wait_running(&c, "wasm-one.service");
    let md = std::fs::metadata(&at).expect("created");
    assert!(md.is_dir());
    assert_eq!(md.permissions().mode() & 0o777, 0o755);
    // The second apply has nothing to create.
    let again = wasmunit(&c, &["diff"], Some(&m));
    assert_eq!(
        String::from_utf8_lossy(&again.stdout),
        "no changes\n",
        "{}",
        text(&again)
    );
}

/// Shipped files follow the manifest: a file dropped from a grant's source
/// and a grant dropped from the app are deleted by the next apply; a file
/// wasmunit did not write is never touched.
#[test]
fn shipped_files_that_left_the_manifest_are_collected() {
    let c = Container::boot(&common::require_wasmtime_cli());
    let fleet = Fleet::new();
    fleet.module("one.wat", &variant("one-v1"));
    let src = fleet.dir.path().join("data");
    std::fs::create_dir_all(src.join("sub")).expect("mkdir");
    std::fs::write(src.join("a.txt"), "a").expect("a");
    std::fs::write(src.join("sub/b.txt"), "b").expect("b");
    let with_files = fleet.manifest(
        "[app.one]\nmodule = \"modules/one.wat\"\nfiles = [{ source = \"data\", guest = \"/data\" }]\n",
    );
    let grant = c.root().join("var/lib/wasmunit/files/one/0");
    let applied = wasmunit(&c, &["apply", "--wait", "30"], Some(&with_files));
    assert!(applied.status.success(), "{}", text(&applied));
    assert!(grant.join("a.txt").exists() && grant.join("sub/b.txt").exists());

    // b.txt leaves the source: the next apply deletes it, and its folder.
    std::fs::remove_file(src.join("sub/b.txt")).expect("rm");
    std::fs::remove_dir(src.join("sub")).expect("rmdir");
    std::fs::write(grant.join("mine.txt"), "not wasmunit's").expect("foreign");
    let applied = wasmunit(&c, &["apply", "--wait", "30"], Some(&with_files));
    assert!(applied.status.success(), "{}", text(&applied));
    assert!(
        String::from_utf8_lossy(&applied.stderr)
            .contains("deleted /var/lib/wasmunit/files/one/0/sub/b.txt"),
        "{}",
        text(&applied)
    );
    assert!(!grant.join("sub").exists());
    assert!(grant.join("a.txt").exists());

    // The grant leaves the app: its files go, the foreign one stays.
    let without = fleet.manifest("[app.one]\nmodule = \"modules/one.wat\"\n");
    let applied = wasmunit(&c, &["apply", "--wait", "30"], Some(&without));
    assert!(applied.status.success(), "{}", text(&applied));
    assert!(!grant.join("a.txt").exists());
    assert_eq!(
        std::fs::read_to_string(grant.join("mine.txt")).expect("kept"),
        "not wasmunit's"
    );
}

/// SHA-256 of the binary `unit`'s main process runs.
fn running_binary(c: &Container, unit: &str) -> String {
    let pid = c.systemd().state(unit).expect("state").main_pid;
    c.exe_sha256(pid.unwrap_or_else(|| panic!("{unit} has no main process")))
}

/// The pinned images on the node, as `wasmtime-vV-ARCH` folder names.
fn runtimes(c: &Container) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(c.root().join("var/lib/wasmunit/runtimes"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().join("wasmtime.raw").is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn apply_of_a_changed_pin_restarts_only_that_app() {
    let v31 = common::require_wasmtime_cli();
    let official = common::installed_tool("wasmtime-official-49.0.4/wasmtime");
    let c = Container::boot_with_loop_devices(&v31);
    let fleet = Fleet::new();
    fleet.module("one.wat", &variant("one"));
    fleet.module("two.wat", &variant("two"));
    let images = fleet.dir.path().join("images");
    common::bakery_image(&images.join("wasmtime-v31.0.0-x86-64.raw"), &v31);
    common::bakery_image(&images.join("wasmtime-v49.0.4-x86-64.raw"), &official);
    let pin31 = "pin = { wasmtime = \"31.0.0\", image = \"images/wasmtime-v31.0.0-x86-64.raw\" }";
    let pin49 = "pin = { wasmtime = \"49.0.4\", image = \"images/wasmtime-v49.0.4-x86-64.raw\" }";
    let apps = |one: &str, two: &str| {
        format!(
            "[app.one]\nmodule = \"modules/one.wat\"\n{one}\n\n[app.two]\nmodule = \"modules/two.wat\"\n{two}\n"
        )
    };
    let sha31 = wasmunit::plan::module::hash_file(&v31).expect("v31");
    let sha49 = wasmunit::plan::module::hash_file(&official).expect("v49");

    let m = fleet.manifest(&apps(pin31, pin31));
    let applied = wasmunit(&c, &["apply", "--wait", "30"], Some(&m));
    assert!(applied.status.success(), "{}", text(&applied));
    wait_running(&c, "wasm-one.service");
    wait_running(&c, "wasm-two.service");
    assert_eq!(runtimes(&c), ["wasmtime-v31.0.0-x86-64"]);
    let before = pids(&c, &["wasm-one.service", "wasm-two.service"]);

    // two moves to 49.0.4: only two restarts, onto the official binary.
    let m = fleet.manifest(&apps(pin31, pin49));
    let diff = wasmunit(&c, &["diff"], Some(&m));
    let out = String::from_utf8_lossy(&diff.stdout).into_owned();
    assert!(
        out.contains("~ unit wasm-two.service") && !out.contains("wasm-one.service"),
        "{}",
        text(&diff)
    );
    let applied = wasmunit(&c, &["apply", "--wait", "30"], Some(&m));
    assert!(applied.status.success(), "{}", text(&applied));
    wait_running(&c, "wasm-two.service");
    let after = pids(&c, &["wasm-one.service", "wasm-two.service"]);
    assert_eq!(after["wasm-one.service"], before["wasm-one.service"]);
    assert_ne!(after["wasm-two.service"], before["wasm-two.service"]);
    assert_eq!(running_binary(&c, "wasm-one.service"), sha31);
    assert_eq!(running_binary(&c, "wasm-two.service"), sha49);
    assert_eq!(
        runtimes(&c),
        ["wasmtime-v31.0.0-x86-64", "wasmtime-v49.0.4-x86-64"]
    );

    // one follows: the 31.0.0 image is named by no unit and collected.
    let m = fleet.manifest(&apps(pin49, pin49));
    let applied = wasmunit(&c, &["apply", "--wait", "30"], Some(&m));
    assert!(applied.status.success(), "{}", text(&applied));
    wait_running(&c, "wasm-one.service");
    assert_eq!(running_binary(&c, "wasm-one.service"), sha49);
    assert_eq!(
        pids(&c, &["wasm-two.service"])["wasm-two.service"],
        after["wasm-two.service"]
    );
    assert_eq!(runtimes(&c), ["wasmtime-v49.0.4-x86-64"]);
}

#[test]
fn apply_refuses_units_for_a_newer_systemd_and_changes_nothing() {
    let c = Container::boot(&common::require_wasmtime_cli());
    let fleet = Fleet::new();
    fleet.module("one.wat", &variant("one"));
    let m =
        fleet.manifest("[defaults]\nsystemd = 257\n\n[app.one]\nmodule = \"modules/one.wat\"\n");
    let before = unit_files(&c);
    let applied = wasmunit(&c, &["apply"], Some(&m));
    assert_eq!(applied.status.code(), Some(1), "{}", text(&applied));
    assert!(
        String::from_utf8_lossy(&applied.stderr).contains(
            "the units are rendered for systemd 257 or newer (`systemd` in [defaults]), but this host runs systemd 252"
        ),
        "{}",
        text(&applied)
    );
    assert_eq!(unit_files(&c), before, "{}", text(&applied));
    assert!(module_files(&c).is_empty());
}

#[test]
fn apply_creates_a_static_identity_and_its_folder() {
    let c = Container::boot(&common::require_wasmtime_cli());
    let fleet = Fleet::new();
    fleet.module("db.wat", include_str!("../fixtures/write-data.wat"));
    let m = fleet.manifest(
        "[app.db]\nmodule = \"modules/db.wat\"\nrestart = \"no\"\nidentity = \"static\"\n\
         dirs = [{ host = \"/srv/data/db\", guest = \"/data\" }]\n",
    );
    let applied = wasmunit(&c, &["apply", "--wait", "30"], Some(&m));
    assert!(
        applied.status.success(),
        "{}\n{}",
        text(&applied),
        c.journal("wasm-db.service")
    );
    let done = c.wait_for(Duration::from_secs(30), || {
        c.systemd()
            .state("wasm-db.service")
            .is_ok_and(|s| s.active == "inactive" && s.result == "success" && !s.job_pending)
    });
    assert!(done, "{}", c.journal("wasm-db.service"));
    assert_eq!(
        c.owner_and_mode(&["/srv/data/db", "/srv/data/db/out.txt"]),
        "wasm-db:wasm-db 750\nwasm-db:wasm-db 600\n",
        "{}",
        c.journal("wasm-db.service")
    );
    // A repeat apply writes nothing and creates nobody again.
    let again = wasmunit(&c, &["apply"], Some(&m));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("nothing to change"),
        "{}",
        text(&again)
    );
    // The user gone with its sysusers.d file in place (an apply killed
    // between the two, say): the next apply makes it again.
    let o = c.exec(&["userdel", "wasm-db"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let again = wasmunit(&c, &["apply"], Some(&m));
    assert!(again.status.success(), "{}", text(&again));
    let o = c.exec(&["getent", "passwd", "wasm-db"]);
    assert!(o.status.success(), "wasm-db was not made again");
}

/// `identity = "static"` apps, each running `modules/NAME.wat` with its
/// own read-write folder `/srv/data/NAME`.
fn static_apps(names: &[&str]) -> String {
    let mut apps = String::new();
    for n in names {
        let _ = write!(
            apps,
            "[app.{n}]\nmodule = \"modules/{n}.wat\"\nidentity = \"static\"\n\
             dirs = [{{ host = \"/srv/data/{n}\", guest = \"/data\" }}]\n\n"
        );
    }
    apps
}

/// A static identity's two files on the node, below the container's root.
fn identity_files(c: &Container, app: &str) -> [PathBuf; 2] {
    let name = format!("wasmunit-{app}.conf");
    [
        c.root().join("etc/sysusers.d").join(&name),
        c.root().join("etc/tmpfiles.d").join(&name),
    ]
}

/// What the next boot makes of the node's sysusers.d and tmpfiles.d for
/// `apps`: their services stopped, their accounts and folders deleted,
/// then what `systemd-sysusers.service` and `systemd-tmpfiles-setup.service`
/// run at boot (`systemd-sysusers`, `systemd-tmpfiles --create`, here
/// limited to /srv/data); per app, whether its account and its folder
/// came back.
fn next_boot(c: &Container, apps: &[&str]) -> BTreeMap<String, (bool, bool)> {
    let ok = |args: &[&str]| {
        let o = c.exec(args);
        assert!(
            o.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    };
    for app in apps {
        let user = format!("wasm-{app}");
        // (An app removed already has no unit to stop.)
        let _ = c.exec(&["systemctl", "stop", &format!("wasm-{app}.service")]);
        // userdel takes the group too when it is the user's own; groupdel
        // for the rest. Either may have nothing to delete.
        let _ = c.exec(&["userdel", &user]);
        let _ = c.exec(&["groupdel", &user]);
        ok(&["rm", "-rf", &format!("/srv/data/{app}")]);
        assert!(!c.exec(&["getent", "passwd", &user]).status.success());
    }
    ok(&["systemd-sysusers"]);
    ok(&["systemd-tmpfiles", "--create", "--prefix=/srv/data"]);
    apps.iter()
        .map(|app| {
            let account = c
                .exec(&["getent", "passwd", &format!("wasm-{app}")])
                .status
                .success();
            let folder = c.root().join("srv/data").join(app).is_dir();
            ((*app).to_owned(), (account, folder))
        })
        .collect()
}

fn booted(apps: &[(&str, bool, bool)]) -> BTreeMap<String, (bool, bool)> {
    apps.iter()
        .map(|(a, account, folder)| ((*a).to_owned(), (*account, *folder)))
        .collect()
}

/// `remove` deletes the identity files wasmunit wrote, after the units:
/// the next boot creates no account and no folder for a removed app (the
/// account it made stays until then). A user's file of a similar name is
/// never touched; one of wasmunit's that was edited is kept, and said so.
#[test]
fn remove_deletes_identity_files_so_the_next_boot_creates_nothing() {
    let c = Container::boot(&common::require_wasmtime_cli());
    let fleet = Fleet::new();
    fleet.module("db.wat", &variant("db"));
    fleet.module("ed.wat", &variant("ed"));
    let m = fleet.manifest(&static_apps(&["db", "ed"]));
    let applied = wasmunit(&c, &["apply", "--wait", "30"], Some(&m));
    assert!(applied.status.success(), "{}", text(&applied));
    wait_running(&c, "wasm-db.service");
    for f in identity_files(&c, "db")
        .iter()
        .chain(&identity_files(&c, "ed"))
    {
        assert!(f.is_file(), "{} missing", f.display());
    }
    // With the files in place, a boot makes both again.
    assert_eq!(
        next_boot(&c, &["db", "ed"]),
        booted(&[("db", true, true), ("ed", true, true)])
    );

    let mine = c.root().join("etc/sysusers.d/wasmunit-mine.conf");
    std::fs::write(&mine, "u wasm-mine - \"the user's own\" - -\n").expect("user's file");
    let [ed_sysusers, ed_tmpfiles] = identity_files(&c, "ed");
    let mut edited = std::fs::read_to_string(&ed_sysusers).expect("read");
    edited.push_str("# edited by hand\n");
    std::fs::write(&ed_sysusers, &edited).expect("edit");

    let removed = wasmunit(&c, &["remove", "--all"], None);
    assert!(removed.status.success(), "{}", text(&removed));
    let err = String::from_utf8_lossy(&removed.stderr);
    assert!(
        err.contains("/etc/sysusers.d/wasmunit-db.conf")
            && err.contains("/etc/tmpfiles.d/wasmunit-db.conf")
            && err
                .contains("kept /etc/sysusers.d/wasmunit-ed.conf: edited since wasmunit wrote it"),
        "{}",
        text(&removed)
    );
    for f in identity_files(&c, "db").iter().chain([&ed_tmpfiles]) {
        assert!(!f.exists(), "{} left behind", f.display());
    }
    assert_eq!(std::fs::read_to_string(&ed_sysusers).expect("kept"), edited);
    assert_eq!(
        std::fs::read_to_string(&mine).expect("user's file"),
        "u wasm-mine - \"the user's own\" - -\n"
    );
    // The account stays (systemd-sysusers never deletes one).
    assert!(c.exec(&["getent", "passwd", "wasm-db"]).status.success());
    // The next boot: nothing for db; ed's account from its kept file only.
    assert_eq!(
        next_boot(&c, &["db", "ed"]),
        booted(&[("db", false, false), ("ed", true, false)])
    );
    assert!(c.exec(&["getent", "passwd", "wasm-mine"]).status.success());
}

/// An app that leaves the manifest loses its identity files at the next
/// apply (after its unit is stopped, disabled and deleted), and one whose
/// folders leave it loses its tmpfiles.d file; the apps that stay keep
/// theirs, and a user's file of a similar name stays.
#[test]
fn an_app_leaving_the_manifest_loses_its_identity_files() {
    let c = Container::boot(&common::require_wasmtime_cli());
    let fleet = Fleet::new();
    fleet.module("db.wat", &variant("db"));
    fleet.module("other.wat", &variant("other"));
    let both = fleet.manifest(&static_apps(&["db", "other"]));
    let applied = wasmunit(&c, &["apply", "--wait", "30"], Some(&both));
    assert!(applied.status.success(), "{}", text(&applied));
    wait_running(&c, "wasm-db.service");
    let mine = c.root().join("etc/tmpfiles.d/wasmunit-zz.conf");
    std::fs::write(&mine, "d /srv/data/zz 0755 root root -\n").expect("user's file");

    let only_other = fleet.manifest(&static_apps(&["other"]));
    let diff = wasmunit(&c, &["diff"], Some(&only_other));
    assert_eq!(diff.status.code(), Some(3), "{}", text(&diff));
    let out = String::from_utf8_lossy(&diff.stdout);
    assert!(
        out.contains("- identity file /etc/sysusers.d/wasmunit-db.conf")
            && out.contains("- identity file /etc/tmpfiles.d/wasmunit-db.conf")
            && !out.contains("wasmunit-other.conf")
            && !out.contains("wasmunit-zz.conf"),
        "{}",
        text(&diff)
    );
    let applied = wasmunit(&c, &["apply", "--wait", "30"], Some(&only_other));
    assert!(applied.status.success(), "{}", text(&applied));
    assert!(
        String::from_utf8_lossy(&applied.stderr)
            .contains("deleted /etc/sysusers.d/wasmunit-db.conf"),
        "{}",
        text(&applied)
    );
    assert!(!c.unit_dir().join("wasm-db.service").exists());
    for f in identity_files(&c, "db") {
        assert!(!f.exists(), "{} left behind", f.display());
    }
    for f in identity_files(&c, "other") {
        assert!(f.is_file(), "{} missing", f.display());
    }
    assert!(mine.is_file());
    assert_eq!(
        next_boot(&c, &["db", "other"]),
        booted(&[("db", false, false), ("other", true, true)])
    );

    // other keeps its identity but no longer its folder: its tmpfiles.d
    // file goes, its sysusers.d file stays.
    let no_folder =
        fleet.manifest("[app.other]\nmodule = \"modules/other.wat\"\nidentity = \"static\"\n");
    let applied = wasmunit(&c, &["apply", "--wait", "30"], Some(&no_folder));
    assert!(applied.status.success(), "{}", text(&applied));
    let [sysusers, tmpfiles] = identity_files(&c, "other");
    assert!(
        sysusers.is_file() && !tmpfiles.exists(),
        "{}",
        text(&applied)
    );
    assert!(mine.is_file());
    let diff = wasmunit(&c, &["diff"], Some(&no_folder));
    assert_eq!(diff.status.code(), Some(0), "{}", text(&diff));
}

/// Every file, folder and link below `root`'s `tops` (all of `root` when
/// empty), with a hash of each file's bytes: what a refused apply must
/// leave as it was.
fn tree(root: &Path, tops: &[&str]) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap_or(&p).display().to_string();
            let Ok(t) = e.file_type() else { continue };
            if t.is_dir() {
                out.insert(rel, "folder".to_owned());
                walk(root, &p, out);
            } else if t.is_file() {
                let h = wasmunit::plan::module::hash_file(&p).unwrap_or_default();
                out.insert(rel, h);
            } else if t.is_symlink() {
                let to = std::fs::read_link(&p).unwrap_or_default();
                out.insert(rel, format!("-> {}", to.display()));
            } else {
                out.insert(rel, "special".to_owned());
            }
        }
    }
    let mut out = BTreeMap::new();
    if tops.is_empty() {
        walk(root, root, &mut out);
    }
    for top in tops {
        walk(root, &root.join(top), &mut out);
    }
    out
}

/// The node's trees apply writes to (/etc, /var, /srv, /opt), as seen
/// from the host, but for what the node's own services change meanwhile.
fn node_tree(c: &Container) -> BTreeMap<String, String> {
    let mut t = tree(&c.root(), &["etc", "var", "srv", "opt"]);
    // The journal and the login records (wtmp: measured to change while
    // the node is idle) are the node's own.
    t.retain(|k, _| {
        !k.starts_with("var/log/journal")
            && !k.starts_with("var/tmp")
            && !["var/log/wtmp", "var/log/btmp", "var/log/lastlog"].contains(&k.as_str())
    });
    t
}

/// `apply ... --root ROOT` with the container's bus, the check cache
/// outside the node, and `PATH` as given.
fn apply_with(root: &Path, c: &Container, manifest: &Path, path: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wasmunit"));
    cmd.arg("apply")
        .arg(manifest)
        .arg("--root")
        .arg(root)
        .env("DBUS_SYSTEM_BUS_ADDRESS", c.bus_address())
        .env(
            "WASMUNIT_CACHE_DIR",
            manifest.parent().expect("folder").join("cache"),
        );
    if let Some(p) = path {
        cmd.env("PATH", p);
    }
    cmd.output().expect("run wasmunit")
}

/// A refused apply (exit 1) that names each of `why`, with every file
/// below `root` as `before` and wasm-db.service never started.
fn assert_refused(
    c: &Container,
    o: &Output,
    root: &Path,
    before: &BTreeMap<String, String>,
    why: &[&str],
) {
    assert_eq!(o.status.code(), Some(1), "{}", text(o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("refusing to apply; nothing was changed"),
        "{}",
        text(o)
    );
    for w in why {
        assert!(err.contains(w), "no `{w}` in:\n{}", text(o));
    }
    let after = if root == c.root() {
        node_tree(c)
    } else {
        tree(root, &[])
    };
    assert_eq!(&after, before, "{}", text(o));
    let s = c.systemd().state("wasm-db.service").expect("state");
    assert_eq!(s.active, "inactive", "{}", text(o));
}

/// `apply` checks every program and condition it relies on before its
/// first write: a missing one is a refusal (exit 1) that names it, every
/// one at once, and the node is exactly as it was (every file below its
/// /etc, /var, /srv and /opt, and no unit enabled or started).
#[test]
fn apply_checks_what_it_needs_before_its_first_write() {
    let v31 = common::require_wasmtime_cli();
    let c = Container::boot(&v31);
    let fleet = Fleet::new();
    fleet.module("db.wat", &variant("db"));
    let m = fleet.manifest(&static_apps(&["db"]));
    // systemd-sysusers is not on PATH (apply makes the static user with it).
    let empty = tempfile::tempdir().expect("tmp");
    let before = node_tree(&c);
    let o = apply_with(&c.root(), &c, &m, Some(empty.path()));
    assert_refused(
        &c,
        &o,
        &c.root(),
        &before,
        &["cannot run systemd-sysusers", "app `db`"],
    );

    // /etc/tmpfiles.d is on a read-only file system.
    assert!(c.exec(&["mkdir", "-p", "/etc/tmpfiles.d"]).status.success());
    let mount = c.exec(&[
        "mount",
        "-t",
        "tmpfs",
        "-o",
        "ro",
        "tmpfs",
        "/etc/tmpfiles.d",
    ]);
    assert!(
        mount.status.success(),
        "{}",
        String::from_utf8_lossy(&mount.stderr)
    );
    let before = node_tree(&c);
    let o = apply_with(&c.root(), &c, &m, None);
    assert_refused(
        &c,
        &o,
        &c.root(),
        &before,
        &["/etc/tmpfiles.d is not writable: Read-only file system"],
    );
    let umount = c.exec(&["umount", "/etc/tmpfiles.d"]);
    assert!(
        umount.status.success(),
        "{}",
        String::from_utf8_lossy(&umount.stderr)
    );

    // A pinned wasmtime on a node without loop devices (the manager
    // mounts the image with one).
    let images = fleet.dir.path().join("images");
    common::bakery_image(&images.join("wasmtime-v31.0.0-x86-64.raw"), &v31);
    // (A static user's folders would be refused with a pin: their
    // privileged tmpfiles step would run from the image's /usr.)
    let pinned = fleet.manifest(
        "[app.db]\nmodule = \"modules/db.wat\"\nidentity = \"static\"\n\
         dirs = [{ host = \"/var/lib/wasm-db\", guest = \"/data\" }]\n\
         pin = { wasmtime = \"31.0.0\", image = \"images/wasmtime-v31.0.0-x86-64.raw\" }\n",
    );
    let before = node_tree(&c);
    let o = apply_with(&c.root(), &c, &pinned, None);
    assert_refused(
        &c,
        &o,
        &c.root(),
        &before,
        &["/dev/loop-control is missing or no device", "app `db`"],
    );

    // A root with neither wasmtime nor systemd-tmpfiles: both named, and
    // not even the unit folder is created.
    let m = fleet.manifest(&static_apps(&["db"]));
    let bare = tempfile::tempdir().expect("tmp");
    let o = apply_with(bare.path(), &c, &m, None);
    assert_refused(
        &c,
        &o,
        bare.path(),
        &BTreeMap::new(),
        &[
            "usr/bin/wasmtime is missing",
            "usr/bin/systemd-tmpfiles is missing",
        ],
    );

    // Everything in place: the same manifest applies.
    let o = apply_with(&c.root(), &c, &m, None);
    assert!(o.status.success(), "{}", text(&o));
    wait_running(&c, "wasm-db.service");
}

/// A read-only folder `apply` creates as root lies below a data root,
/// where an app's user may own the folder above it and plant a link: the
/// link is refused before anything is written, and nothing is created
/// where it points.
#[test]
fn apply_creates_no_folder_through_a_link_an_app_could_plant() {
    let c = Container::boot(&common::require_wasmtime_cli());
    let fleet = Fleet::new();
    fleet.module("one.wat", &variant("one-v1"));
    let srv = c.root().join("srv/owned");
    std::fs::create_dir_all(&srv).expect("mkdir");
    std::fs::create_dir_all(c.root().join("etc/planted")).expect("mkdir");
    std::os::unix::fs::symlink("../../etc/planted", srv.join("b")).expect("link");
    assert!(
        std::fs::symlink_metadata(srv.join("b")).is_ok_and(|m| m.file_type().is_symlink()),
        "the planted link"
    );
    let m = fleet.manifest(
        "[app.one]\nmodule = \"modules/one.wat\"\n\
         dirs = [{ host = \"/srv/owned/b/c\", guest = \"/ro\", readonly = true }]\n",
    );
    let before = node_tree(&c);
    let o = apply_with(&c.root(), &c, &m, None);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("/srv/owned/b is a link"),
        "{}",
        text(&o)
    );
    assert!(
        !c.root().join("etc/planted/c").exists(),
        "created through the link"
    );
    assert_eq!(node_tree(&c), before, "{}", text(&o));
}

/// A server's port passes from its socket to the app itself (`network =
/// "outbound"` added, as docs/units.md tells a server that calls out):
/// `apply` stops the removed socket (and its forwarder) before the app
/// binds the port, so the new app comes up instead of rolling back on
/// EADDRINUSE; and back again.
#[test]
fn a_port_passes_from_a_socket_to_its_app_and_back() {
    let c = Container::boot(&common::require_wasmtime_cli());
    let fleet = Fleet::new();
    std::fs::copy(
        common::http_guest(),
        fleet.dir.path().join("modules/hello.wasm"),
    )
    .expect("guest");
    let behind = "[app.web]\nmodule = \"modules/hello.wasm\"\nlisten = \"127.0.0.1:18080\"\n";
    let answers = |what: &str| {
        let (r, _) = common::http_load::get_in(c.leader(), 18080, "/");
        assert!(
            matches!(&r, Ok((200, b)) if b.contains("hello from wasm")),
            "{what}: {r:?}\n{}",
            c.journal("wasm-web.service")
        );
    };
    for (what, apps) in [
        ("behind its socket", behind.to_owned()),
        (
            "on its own port",
            format!("{behind}network = \"outbound\"\n"),
        ),
        ("behind its socket again", behind.to_owned()),
    ] {
        let applied = wasmunit(&c, &["apply"], Some(&fleet.manifest(&apps)));
        assert_eq!(applied.status.code(), Some(0), "{what}: {}", text(&applied));
        wait_running(&c, "wasm-web.service");
        answers(what);
    }
    let socket = c.systemd().state("wasm-web.socket").expect("state");
    assert_eq!(socket.active, "active", "{socket:?}");
    // A manifest for 50 applied for 31 (`--wasmtime`): the forwarder the
    // manifest alone would not name is still shown and removed.
    let for_50 = fleet.manifest(&format!("[defaults]\nwasmtime = \"50.0.1\"\n{behind}"));
    let applied = wasmunit(&c, &["apply", "--wasmtime", "31.0.0"], Some(&for_50));
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied));
    let status = wasmunit(&c, &["status"], Some(&for_50));
    assert!(
        text(&status).contains("wasm-web-proxy.service"),
        "{}",
        text(&status)
    );
    let removed = wasmunit(&c, &["remove"], Some(&for_50));
    assert_eq!(removed.status.code(), Some(0), "{}", text(&removed));
    let left: Vec<String> = unit_files(&c)
        .into_keys()
        .filter(|n| n.contains("wasm-web"))
        .collect();
    assert!(left.is_empty(), "{left:?}\n{}", text(&removed));
}
