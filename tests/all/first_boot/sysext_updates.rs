//! A new wasmtime sysext on a running node (docs/updates.md): the follow
//! unit restarts the running apps onto it, skips what its guard refuses,
//! whether the image is moved by hand or by the bakery's sysupdate.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{
    enable_sysext, finished, install_sysext, official_wasmtime, provision, provision_with,
    running_binary, select_sysext, settled, swap_the_sysext, systemctl, write_extension_release,
};
use crate::common;
use crate::common::container::Container;
use wasmunit::deploy::dbus::UnitState;

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

/// Boots with the sysext of `old`, swaps the image for `new` the way
/// sysupdate does (a new image, the link moved), then runs the refresh step
/// the fragment's sysupdate drop-in runs (`systemctl restart
/// systemd-sysext`): every running workload is restarted onto `new`, the
/// wasi-threads app is skipped by its guard, once, and reported; a refresh
/// with no new binary restarts nothing. `reload_back`: then move back to
/// `old` by `systemctl reload systemd-sysext` (systemd 256+).
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
