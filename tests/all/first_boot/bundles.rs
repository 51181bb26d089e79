//! A fleet's day 2 (docs/fleet.md): a node provisioned with `wasmunit
//! fleet` pulls each bundle `wasmunit bundle` publishes, with the real
//! systemd-sysupdate and systemd-pull (built by tests/sysupdate-build.sh),
//! from an HTTP server on loopback in the node's own network namespace.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::{install_sysext, official_wasmtime, provision_fragment, run, settled};
use crate::common;
use crate::common::container::Container;
use crate::common::fleet_node::{
    install_os_sysupdate, link, load_state, pid, publish, pull, reconciled, write_manifest,
    write_manifest_with, ServedNetns,
};

/// v1 (three apps) at first boot; v2 changes one, keeps one, removes one,
/// adds one; v3's new app dies (back on v2); v4 is signed by another key
/// (refused, nothing changes); v5 and v6 die after sysupdate removed v2's
/// download; v7 turns an app into a scheduled one.
#[allow(clippy::too_many_lines, clippy::many_single_char_names)] // one scenario, seven versions; w: the work folder, c: the node, j: a journal
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

    // An app that crashed once and came back does not hold the next bundle
    // back; an app that becomes scheduled loses its old process.
    assert!(c
        .exec(&["systemctl", "kill", "-s", "KILL", "wasm-keep.service"])
        .status
        .success());
    assert!(c.wait_for(Duration::from_secs(30), || {
        let s = settled(&c, "wasm-keep.service");
        s.active == "active" && s.main_pid.is_some_and(|p| p != keep)
    }));
    let m7 = write_manifest_with(
        &w.join("v7"),
        &[("keep", "k1"), ("change", "c2"), ("new", "n1")],
        false,
        true,
    );
    let text = std::fs::read_to_string(&m7).expect("manifest");
    let scheduled = text.replace(
        "[app.new]\nmodule = \"modules/n1.wat\"\n",
        "[app.new]\nmodule = \"modules/n1.wat\"\nschedule = \"hourly\"\n",
    );
    assert_ne!(text, scheduled);
    std::fs::write(&m7, scheduled).expect("manifest");
    publish(&m7, "7", &site, &gpg_home, &key);
    assert!(pull(&c), "{}", c.journal("wasmunit-fleet-update.service"));
    let j = reconciled(&c, "running bundle 7;");
    // Stopped (wasmtime's exit on SIGTERM counts as failed): no old process.
    let old = settled(&c, "wasm-new.service");
    assert!(
        old.active != "active" && old.main_pid.is_none(),
        "{old:?}\n{j}"
    );
    assert_eq!(settled(&c, "wasm-new.timer").active, "active", "{j}");
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
