//! A node's root as Ignition lays it down, and the OS side of Flatcar
//! (the wasmtime sysext, systemd-sysext enabled): what every first-boot
//! scenario and the benches that boot a node do to it, with the real
//! Butane and Ignition (../shared/notes/first-boot.md).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::run;

/// The user's own Butane config the fragment is merged into.
pub const USER_CONFIG: &str = "\
variant: flatcar
version: 1.0.0
ignition:
  config:
    merge:
      - local: wasmunit.ign
storage:
  files:
    - path: /etc/user-note.txt
      mode: 420
      contents:
        inline: |
          the user's own file
    # The node's uplink: the container has no NIC (and this kernel no dummy
    # driver), so a veth pair with a static address on one end, as a user
    # configures a static network; network-online.target then comes.
    - path: /etc/systemd/network/10-uplink.netdev
      mode: 420
      contents:
        inline: |
          [NetDev]
          Name=uplink0
          Kind=veth
          [Peer]
          Name=uplink1
    - path: /etc/systemd/network/10-uplink0.network
      mode: 420
      contents:
        inline: |
          [Match]
          Name=uplink0
          [Network]
          Address=192.0.2.10/24
          # Static only: no router to wait for (systemd 252's wait-online
          # otherwise holds network-online.target ~13 s for IPv6 RAs).
          LinkLocalAddressing=no
          IPv6AcceptRA=no
    - path: /etc/systemd/network/10-uplink1.network
      mode: 420
      contents:
        inline: |
          [Match]
          Name=uplink1
          [Link]
          RequiredForOnline=no
          [Network]
          LinkLocalAddressing=no
systemd:
  units:
    - name: user-hello.service
      enabled: true
      contents: |
        [Unit]
        Description=The user's own unit
        [Service]
        Type=oneshot
        RemainAfterExit=yes
        ExecStart=/bin/echo user unit ran
        [Install]
        WantedBy=multi-user.target
";

/// The node's root as Ignition lays it down from a Butane `fragment`
/// (translated with `--files-dir files_dir`) merged into the user's config,
/// with `more` configs beside it.
pub fn provision_fragment(
    fragment: &Path,
    files_dir: &Path,
    work: &Path,
    more: &[(&Path, &Path)],
) -> PathBuf {
    let fragment = run(
        Command::new(super::coreos("butane"))
            .args(["--strict", "--files-dir"])
            .arg(files_dir)
            .arg(fragment),
        "butane --strict (fragment)",
    );
    let user = work.join("user");
    std::fs::create_dir_all(&user).expect("mkdir");
    std::fs::write(user.join("wasmunit.ign"), fragment).expect("fragment");
    let mut merges = String::from("      - local: wasmunit.ign\n");
    for (i, (config, files_dir)) in more.iter().enumerate() {
        let ign = run(
            Command::new(super::coreos("butane"))
                .args(["--strict", "--files-dir"])
                .arg(files_dir)
                .arg(config),
            "butane --strict (merged config)",
        );
        std::fs::write(user.join(format!("more-{i}.ign")), ign).expect("merged config");
        writeln!(merges, "      - local: more-{i}.ign").expect("string");
    }
    let user_config = USER_CONFIG.replace("      - local: wasmunit.ign\n", &merges);
    std::fs::write(user.join("config.bu"), user_config).expect("config");
    let config = run(
        Command::new(super::coreos("butane"))
            .args(["--strict", "--files-dir"])
            .arg(&user)
            .arg(user.join("config.bu")),
        "butane --strict (user config)",
    );
    let ign = work.join("config.ign");
    std::fs::write(&ign, config).expect("config.ign");
    run(
        Command::new(super::coreos("ignition-validate")).arg(&ign),
        "ignition-validate",
    );
    let root = work.join("root");
    std::fs::create_dir_all(&root).expect("root");
    run(
        Command::new(super::coreos("ignition-apply"))
            .arg("--root")
            .arg(&root)
            .arg("--offline")
            .arg(&ign),
        "ignition-apply",
    );
    root
}

/// The OS side of Flatcar: the wasmtime sysext, as sysupdate lays it down
/// (an image under /opt/extensions/wasmtime, selected by a link in
/// /etc/extensions), and systemd-sysext enabled.
pub fn install_sysext(root: &Path, tree: &Path, wasmtime: &Path) {
    sysext_image(root, tree, wasmtime, "first");
    select_sysext(root, "first");
    enable_sysext(root);
}

/// systemd-sysext enabled, as on Flatcar.
pub fn enable_sysext(root: &Path) {
    let wants = root.join("etc/systemd/system/sysinit.target.wants");
    std::fs::create_dir_all(&wants).expect("mkdir");
    let link = wants.join("systemd-sysext.service");
    if !link.exists() {
        std::os::unix::fs::symlink("/usr/lib/systemd/system/systemd-sysext.service", link)
            .expect("link");
    }
}

/// A wasmtime sysext image named `name`: a folder extension with the
/// image's layout, matching the booted OS.
pub fn sysext_image(root: &Path, tree: &Path, wasmtime: &Path, name: &str) {
    let ext = root.join("opt/extensions/wasmtime").join(name);
    std::fs::create_dir_all(ext.join("usr/bin")).expect("mkdir");
    std::fs::copy(wasmtime, ext.join("usr/bin/wasmtime")).expect("wasmtime");
    write_extension_release(&ext, tree, "wasmtime");
}

/// `ext`'s extension-release file for the extension `name`, matching the
/// booted OS (`ID=` and `VERSION_ID=` of `tree`).
pub fn write_extension_release(ext: &Path, tree: &Path, name: &str) {
    let os = std::fs::read_to_string(tree.join("usr/lib/os-release")).expect("os-release");
    let mut release = String::new();
    for l in os
        .lines()
        .filter(|l| l.starts_with("ID=") || l.starts_with("VERSION_ID="))
    {
        release.push_str(l);
        release.push('\n');
    }
    let rel = ext.join("usr/lib/extension-release.d");
    std::fs::create_dir_all(&rel).expect("mkdir");
    std::fs::write(rel.join(format!("extension-release.{name}")), release).expect("release");
}

/// Points the node at the image `name`, atomically, as sysupdate moves its
/// `CurrentSymlink=`.
pub fn select_sysext(root: &Path, name: &str) {
    let dir = root.join("etc/extensions");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let tmp = dir.join(".wasmtime.new");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(format!("/opt/extensions/wasmtime/{name}"), &tmp).expect("link");
    std::fs::rename(&tmp, dir.join("wasmtime")).expect("rename link");
}
