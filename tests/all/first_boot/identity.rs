//! `identity = "static"` at first boot: the user, its folder outside
//! systemd's trees, and a refused grant that reaches nothing.

use std::path::Path;
use std::process::Command;

use super::{finished, install_sysext, provision, write_manifest_with_fixture};
use crate::common::container::Container;

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
