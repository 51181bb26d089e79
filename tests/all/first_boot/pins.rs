//! Pinned apps (`pin = { wasmtime = … }`) at first boot: each runs its own
//! wasmtime image, beside or without the node's sysext.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{
    enable_sysext, finished, install_sysext, provision, running_binary, settled, swap_the_sysext,
    write_manifest_with_fixture,
};
use crate::common;
use crate::common::container::Container;

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
