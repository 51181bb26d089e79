//! `egress = [...]` enforced at first boot by systemd's IP firewall.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::{finished, install_sysext, provision_with, run, systemctl};
use crate::common;
use crate::common::container::Container;

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
