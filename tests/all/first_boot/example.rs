//! The bundled example (`examples/apps.toml`) at first boot, on systemd
//! 252 and 257, under the 31.0.0 CLI and the official newest binary.

use std::path::Path;

use super::{finished, install_sysext, official_wasmtime, provision, settled};
use crate::common;
use crate::common::container::Container;
use wasmunit::deploy::dbus::Systemd;

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
    /// On the newest manager: Debian forky's 262 (Flatcar beta and alpha
    /// ship 260).
    the_example_runs_at_first_boot_on_systemd_262 => first_boot_of_the_example(
    &common::container::forky_tree(),
    &common::require_wasmtime_cli(),
));

first_boot_test!(
    /// Units rendered for 31.0.0 under the newest official binary, on the
    /// systemd Flatcar stable ships: what a node with sysupdate on runs.
    the_example_runs_at_first_boot_under_the_official_newest_binary => first_boot_of_the_example(&common::container::debian13_tree(), &official_wasmtime()));
