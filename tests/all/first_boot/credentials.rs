//! Credentials at first boot: the secret reaches the guest and nothing
//! else (units, fragment, properties, journal, command lines).

use std::path::Path;
use std::time::Duration;

use super::{install_sysext, provision_with, settled, write_manifest_with_fixture};
use crate::common;
use crate::common::container::Container;

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
        "{ name = \"api-key\", file = \"/etc/credstore/wasmunit.secret.api-key\" }",
        "/etc/credstore/wasmunit.secret.api-key",
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
             restart = \"no\"\ndirs = [{{ host = \"/var/lib/wasm-secret\", guest = \"/data\" }}]\n\
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
    let o = c.exec(&["cat", "/var/lib/wasm-secret/copy"]);
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
