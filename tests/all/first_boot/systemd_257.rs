//! Units rendered for `systemd = 257`: its sandbox on 257, skipped with
//! the reason on 252.

use std::path::Path;

use super::{finished, install_sysext, provision, settled, write_manifest_with_fixture};
use crate::common;
use crate::common::container::Container;

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
         dirs = [{ host = \"/var/lib/wasm-up\", guest = \"/data\" }]\n",
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
