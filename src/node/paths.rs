//! The map of the node: every path wasmunit writes, reads or hands to
//! systemd on a node, who owns it, and what an app may be granted there.
//! plan, render, deploy and the grant policy ([`super::grants`]) all take
//! their paths from here; no other file spells a node path.
//!
//! The policy is default deny: a read-write grant is allowed only where
//! [`super::grants`] finds the user's data, and never in, above or below a
//! place claimed here.

use std::path::{Path, PathBuf};

/// Who owns a tree of the node, and so what an app may be granted there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// wasmunit writes it (the fragment, `apply`, the follow unit): no
    /// grant at all, not even read-only (a grant of a path the fragment
    /// writes would also be a duplicate entry Butane refuses).
    Wasmunit,
    /// Something privileged reads it (the manager, systemd-tmpfiles,
    /// systemd-sysusers, the credential loader): an app may read what the
    /// OS put there when granted, never write it, a folder above it or one
    /// below it.
    Privileged,
    /// The OS provides it: read-only grants only, and only of what exists
    /// (the fragment never creates or re-modes a folder there).
    Os,
}

/// One place of the node: its path (absolute, normalized), its owner, and
/// what it is, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub path: &'static str,
    pub owner: Owner,
    pub what: &'static str,
}

impl Place {
    const fn new(path: &'static str, owner: Owner, what: &'static str) -> Place {
        Place { path, owner, what }
    }

    /// `NAME` inside this folder, on the node.
    pub fn join(&self, name: &str) -> String {
        format!("{}/{name}", self.path)
    }

    /// This place below `root` (`apply --root DIR`; `/` on a live host).
    pub fn under(&self, root: &Path) -> PathBuf {
        root.join(self.path.trim_start_matches('/'))
    }
}

// ---- What wasmunit writes ----

/// The installed units: the manager reads them as root.
pub const UNIT_DIR: Place = Place::new(
    "/etc/systemd/system",
    Owner::Privileged,
    "systemd's installed units",
);
/// The preset that keeps the apps from starting at boot (`enable = false`).
pub const PRESET_FILE: Place = Place::new(
    "/etc/systemd/system-preset/10-wasmunit.preset",
    Owner::Wasmunit,
    "wasmunit's unit preset",
);
/// Everything wasmunit ships to the node below one root.
pub const STATE_DIR: Place = Place::new(
    "/var/lib/wasmunit",
    Owner::Wasmunit,
    "wasmunit's modules and shipped files",
);
/// Modules (and the follow script), each at its content hash.
pub const MODULE_DIR: Place = Place::new(
    "/var/lib/wasmunit/modules",
    Owner::Wasmunit,
    "wasmunit's modules",
);
/// Files and folders shipped with an app: `APP/N/…`.
pub const FILES_DIR: Place = Place::new(
    "/var/lib/wasmunit/files",
    Owner::Wasmunit,
    "wasmunit's shipped files",
);
/// Pinned wasmtime images: `wasmtime-vVERSION-ARCH/wasmtime.raw`. Not
/// /opt/extensions: sysupdate's `InstancesMax=` cleanup never sees them.
pub const RUNTIME_DIR: Place = Place::new(
    "/var/lib/wasmunit/runtimes",
    Owner::Wasmunit,
    "wasmunit's pinned wasmtime images",
);
/// The apps' wasmtime caches (`CacheDirectory=wasmunit/APP`).
pub const CACHE_DIR: Place = Place::new(
    "/var/cache/wasmunit",
    Owner::Wasmunit,
    "the apps' wasmtime caches",
);
/// The wasmtime sysext images the fragment (or sysupdate) puts in place.
pub const SYSEXT_DIR: Place = Place::new(
    "/opt/extensions/wasmtime",
    Owner::Wasmunit,
    "the wasmtime sysext images",
);
/// The link systemd-sysext merges.
pub const SYSEXT_LINK: Place = Place::new(
    "/etc/extensions/wasmtime.raw",
    Owner::Wasmunit,
    "the wasmtime sysext link",
);
/// The wasmtime component's sysupdate transfers.
pub const SYSUPDATE_WASMTIME_DIR: Place = Place::new(
    "/etc/sysupdate.wasmtime.d",
    Owner::Wasmunit,
    "the wasmtime sysupdate transfer",
);
/// sysupdate runs only with a transfer in its default folder.
pub const SYSUPDATE_NOOP: Place = Place::new(
    "/etc/sysupdate.d/noop.conf",
    Owner::Wasmunit,
    "the sysupdate placeholder",
);
/// Where the sysupdate drop-in remembers the image before an update.
pub const SYSEXT_BEFORE: Place = Place::new(
    "/run/wasmunit-wasmtime-before",
    Owner::Wasmunit,
    "the image before a sysupdate run",
);
/// The follow unit's memory of the last wasmtime it saw (tmpfs).
pub const FOLLOW_STATE_DIR: Place = Place::new(
    "/run/wasmunit-follow",
    Owner::Wasmunit,
    "the follow unit's state",
);
/// A static identity's account, read by systemd-sysusers as root.
pub const SYSUSERS_DIR: Place = Place::new(
    "/etc/sysusers.d",
    Owner::Privileged,
    "systemd-sysusers' configuration",
);
/// A static identity's folders, read by systemd-tmpfiles as root.
pub const TMPFILES_DIR: Place = Place::new(
    "/etc/tmpfiles.d",
    Owner::Privileged,
    "systemd-tmpfiles' configuration",
);

// ---- What a bundle (`wasmunit bundle`) carries, merged into /usr ----

/// A bundle's own files, in its sysext image: read-only once merged.
const IMAGE_STATE_DIR: Place = Place::new(
    "/usr/lib/wasmunit",
    Owner::Wasmunit,
    "the merged bundle's modules and files",
);
const IMAGE_MODULE_DIR: Place = Place::new(
    "/usr/lib/wasmunit/modules",
    Owner::Wasmunit,
    "the merged bundle's modules",
);
const IMAGE_FILES_DIR: Place = Place::new(
    "/usr/lib/wasmunit/files",
    Owner::Wasmunit,
    "the merged bundle's shipped files",
);
/// What the merged bundle holds, app by app, for the fleet reconciler.
pub const IMAGE_FLEET_INDEX: Place = Place::new(
    "/usr/lib/wasmunit/fleet/apps",
    Owner::Wasmunit,
    "the merged bundle's list of apps",
);
pub const IMAGE_UNIT_DIR: Place = Place::new(
    "/usr/lib/systemd/system",
    Owner::Privileged,
    "systemd's vendor units",
);
pub const IMAGE_SYSUSERS_DIR: Place = Place::new(
    "/usr/lib/sysusers.d",
    Owner::Privileged,
    "systemd-sysusers' vendor configuration",
);
const IMAGE_TMPFILES_DIR: Place = Place::new(
    "/usr/lib/tmpfiles.d",
    Owner::Privileged,
    "systemd-tmpfiles' vendor configuration",
);
/// The folder the bundle's extension-release lives in.
pub const EXTENSION_RELEASE_DIR: Place = Place::new(
    "/usr/lib/extension-release.d",
    Owner::Privileged,
    "the merged extensions' release files",
);

// ---- How a fleet node receives its bundles ----

/// The name of the bundle's extension (its image, link and sysupdate component).
pub const FLEET_EXTENSION: &str = "wasmunit-apps";
/// The bundle images sysupdate installs (`InstancesMax=` keeps a few).
pub const FLEET_IMAGE_DIR: Place = Place::new(
    "/opt/extensions/wasmunit-apps",
    Owner::Wasmunit,
    "the bundle images",
);
/// The link systemd-sysext merges: the bundle the node runs.
pub const FLEET_LINK: Place = Place::new(
    "/etc/extensions/wasmunit-apps.raw",
    Owner::Wasmunit,
    "the bundle link",
);
/// The bundle's sysupdate component (`-C wasmunit-apps`).
pub const FLEET_SYSUPDATE_DIR: Place = Place::new(
    "/etc/sysupdate.wasmunit-apps.d",
    Owner::Wasmunit,
    "the bundle's sysupdate transfer",
);
/// What the reconciler keeps across boots: the last bundle that held, the
/// ones that did not.
pub const FLEET_STATE_DIR: Place = Place::new(
    "/var/lib/wasmunit-fleet",
    Owner::Wasmunit,
    "the fleet reconciler's state",
);
/// What the reconciler applied since boot (tmpfs: a boot starts anew).
pub const FLEET_RUN_DIR: Place = Place::new(
    "/run/wasmunit-fleet",
    Owner::Wasmunit,
    "the fleet reconciler's runtime state",
);
/// sysupdate's and systemd-pull's keyring for `Verify=yes`.
pub const IMPORT_PUBRING: Place = Place::new(
    "/etc/systemd/import-pubring.gpg",
    Owner::Privileged,
    "the keyring signed downloads are checked against",
);

/// Where wasmunit's own files go: on the node's writable trees (a
/// fragment, `apply`), or in a sysext image merged into /usr (`bundle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub units: Place,
    pub modules: Place,
    pub files: Place,
    pub sysusers: Place,
    pub tmpfiles: Place,
}

pub const NODE_LAYOUT: Layout = Layout {
    units: UNIT_DIR,
    modules: MODULE_DIR,
    files: FILES_DIR,
    sysusers: SYSUSERS_DIR,
    tmpfiles: TMPFILES_DIR,
};

pub const IMAGE_LAYOUT: Layout = Layout {
    units: IMAGE_UNIT_DIR,
    modules: IMAGE_MODULE_DIR,
    files: IMAGE_FILES_DIR,
    sysusers: IMAGE_SYSUSERS_DIR,
    tmpfiles: IMAGE_TMPFILES_DIR,
};

impl Default for Layout {
    fn default() -> Layout {
        NODE_LAYOUT
    }
}

/// The one name below systemd's per-service trees an app's read-write
/// folders may take (`/var/lib/wasm-APP/…`): its unit's, in a namespace
/// no OS program uses.
pub fn app_folder_name(app: &str) -> String {
    format!("wasm-{app}")
}

/// The file name both identity files of an app share.
pub fn identity_file_name(app: &str) -> String {
    format!("wasmunit-{app}.conf")
}

// ---- What wasmunit hands to systemd, and runs ----

/// systemd's credential stores (systemd.exec(5), "Credentials"): the only
/// trees a credential may come from. The `.encrypted` ones hold
/// `systemd-creds encrypt` output.
/// Measured on 257 and 262: the manager also searches /usr/local/lib
/// (its man pages do not say so).
pub const CREDENTIAL_STORES: [Place; 8] = [
    Place::new("/etc/credstore", Owner::Privileged, "a credential store"),
    Place::new(
        "/etc/credstore.encrypted",
        Owner::Privileged,
        "a credential store",
    ),
    Place::new("/run/credstore", Owner::Privileged, "a credential store"),
    Place::new(
        "/run/credstore.encrypted",
        Owner::Privileged,
        "a credential store",
    ),
    Place::new(
        "/usr/local/lib/credstore",
        Owner::Privileged,
        "a credential store",
    ),
    Place::new(
        "/usr/local/lib/credstore.encrypted",
        Owner::Privileged,
        "a credential store",
    ),
    Place::new(
        "/usr/lib/credstore",
        Owner::Privileged,
        "a credential store",
    ),
    Place::new(
        "/usr/lib/credstore.encrypted",
        Owner::Privileged,
        "a credential store",
    ),
];
/// Each unit's credentials folder, where the manager puts them.
pub const CREDENTIALS_RUN_DIR: Place = Place::new(
    "/run/credentials",
    Owner::Privileged,
    "systemd's service credentials",
);
/// The runtime the node merges (the sysext's, or a pinned image's).
pub const WASMTIME: &str = "/usr/bin/wasmtime";
/// The tools the units and the follow unit run.
pub const SYSTEMD_TMPFILES: &str = "/usr/bin/systemd-tmpfiles";
pub const SYSTEMCTL: &str = "/usr/bin/systemctl";
pub const SH: &str = "/bin/sh";
/// systemd's forwarder from a socket it holds into a service's network
/// namespace (Flatcar, Debian and Fedora all ship it here).
pub const SOCKET_PROXYD: &str = "/usr/lib/systemd/systemd-socket-proxyd";
/// What the manager opens to attach a pinned image (`ExtensionImages=`).
pub const LOOP_CONTROL: &str = "/dev/loop-control";

// ---- The OS's ----

/// Trees the OS owns, beyond the places above. The entries below
/// systemd's managed trees (/var/lib, /var/cache, /var/log, /run) are what
/// Flatcar, systemd and the container runtimes Flatcar ships keep there: a
/// read-write grant of one would become `StateDirectory=` (or a sibling),
/// and systemd would chown it recursively to the app's dynamic user.
#[rustfmt::skip]
const OS: &[(&str, Owner, &str)] = &[
    ("/usr", Owner::Os, "the OS image"),
    ("/proc", Owner::Os, "the kernel's process view"),
    ("/sys", Owner::Os, "the kernel's device view"),
    ("/dev", Owner::Os, "devices"),
    ("/boot", Owner::Os, "the boot partition"),
    ("/run", Owner::Os, "runtime state of the OS and its services"),
    // Everything in /etc is configuration some privileged program reads.
    ("/etc", Owner::Privileged, "the OS's configuration"),
    ("/etc/systemd", Owner::Privileged, "systemd's configuration"),
    ("/etc/extensions", Owner::Privileged, "the merged system extensions"),
    ("/etc/sysupdate.d", Owner::Privileged, "systemd-sysupdate's transfers"),
    ("/opt/extensions", Owner::Privileged, "the system extension images"),
    ("/var/lib/systemd", Owner::Os, "systemd's state"),
    ("/var/lib/private", Owner::Os, "systemd's folders of dynamic users"),
    ("/var/lib/dbus", Owner::Os, "D-Bus's machine id"),
    ("/var/lib/polkit-1", Owner::Privileged, "polkit's rules"),
    ("/var/lib/docker", Owner::Os, "Docker's state"),
    ("/var/lib/containerd", Owner::Os, "containerd's state"),
    ("/var/lib/containers", Owner::Os, "Podman's state"),
    ("/var/lib/cni", Owner::Os, "CNI's state"),
    ("/var/lib/kubelet", Owner::Os, "the kubelet's state"),
    ("/var/lib/etcd", Owner::Os, "etcd's data"),
    ("/var/lib/machines", Owner::Os, "systemd-machined's images"),
    ("/var/lib/portables", Owner::Os, "portable service images"),
    ("/var/lib/extensions", Owner::Privileged, "system extension images"),
    ("/var/lib/confexts", Owner::Privileged, "configuration extension images"),
    ("/var/lib/update_engine", Owner::Os, "Flatcar's update engine"),
    ("/var/lib/flatcar-oem", Owner::Os, "Flatcar's OEM state"),
    ("/var/lib/coreos-install", Owner::Os, "Flatcar's install state"),
    ("/var/lib/sss", Owner::Os, "SSSD's state"),
    ("/var/lib/nfs", Owner::Os, "NFS's state"),
    ("/var/lib/chrony", Owner::Os, "chrony's state"),
    ("/var/lib/ntp", Owner::Os, "ntpd's state"),
    ("/var/lib/sshd", Owner::Os, "sshd's state"),
    ("/var/lib/logrotate", Owner::Os, "logrotate's state"),
    ("/var/log/journal", Owner::Os, "the journal"),
    ("/var/log/private", Owner::Os, "systemd's folders of dynamic users"),
    ("/var/log/audit", Owner::Os, "the audit log"),
    ("/var/log/containers", Owner::Os, "container logs"),
    ("/var/log/pods", Owner::Os, "pod logs"),
    ("/var/log/sa", Owner::Os, "sysstat's logs"),
    ("/var/cache/private", Owner::Os, "systemd's folders of dynamic users"),
    ("/var/cache/ldconfig", Owner::Os, "the dynamic linker's cache"),
    ("/run/systemd", Owner::Privileged, "systemd's runtime state"),
    ("/run/dbus", Owner::Os, "the system bus"),
    ("/run/udev", Owner::Os, "udev's state"),
    ("/run/user", Owner::Os, "the users' runtime folders"),
    ("/run/lock", Owner::Os, "lock files"),
    ("/run/log", Owner::Os, "the journal's sockets"),
    ("/run/mount", Owner::Os, "mount state"),
    ("/run/private", Owner::Os, "systemd's folders of dynamic users"),
    ("/run/host", Owner::Os, "what the container manager passes in"),
    ("/run/docker", Owner::Os, "Docker's runtime state"),
    ("/run/containerd", Owner::Os, "containerd's runtime state"),
    ("/run/flatcar", Owner::Os, "Flatcar's runtime state"),
    ("/run/metadata", Owner::Os, "the cloud metadata agent's output"),
    ("/run/ignition", Owner::Os, "Ignition's runtime state"),
    ("/run/extensions", Owner::Privileged, "runtime system extensions"),
    ("/run/confexts", Owner::Privileged, "runtime configuration extensions"),
    ("/run/tmpfiles.d", Owner::Privileged, "systemd-tmpfiles' runtime configuration"),
    ("/run/sysusers.d", Owner::Privileged, "systemd-sysusers' runtime configuration"),
    ("/run/sysupdate.d", Owner::Privileged, "systemd-sysupdate's runtime transfers"),
    ("/run/sshd", Owner::Os, "sshd's runtime state"),
    // Names below systemd's per-service trees that the OS, its services or
    // the agents clouds install read as root: the measured trees' (tests/
    // node_map.rs) and the common ones beside them.
    ("/run/NetworkManager", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/agetty.reload", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/avahi-daemon", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/binfmt.d", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/calico", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/chrony", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/cilium", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/cloud-init", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/console-setup", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/containers", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/coreos", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/crio", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/cryptsetup", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/crypttab", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/cups", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/dbus.pid", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/dhclient", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/dhcpcd", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/environment.d", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/faillock", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/firewalld", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/flannel", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/google", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/initramfs", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/iptables", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/issue.d", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/k3s", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/kernel", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/kubernetes", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/libpod", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/locksmith", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/lvm", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/mdadm", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/metadata-agent", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/modprobe.d", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/modules-load.d", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/motd.d", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/netns", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/netplan", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/network", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/nftables", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/nologin", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/ntpd", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/pam", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/podman", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/polkit-1", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/repart.d", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/resolvconf", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/setrans", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/sendsigs.omit.d", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/ssh", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/sshd.pid", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/sudo", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/sysctl.d", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/systemd-resolved", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/systemd-timesyncd", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/torcx", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/tpm", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/tpm2", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/update-engine", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/varlink", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/waagent", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/wpa_supplicant", Owner::Privileged, "a folder or file privileged programs read"),
    ("/run/xtables.lock", Owner::Privileged, "a folder or file privileged programs read"),
    ("/var/lib/AccountsService", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/NetworkManager", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/amazon", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/apt", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/ca-certificates", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/calico", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/cilium", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/cloud", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/cloud-init", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/coreos", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/dhclient", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/dhcp", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/dhcpcd", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/dnf", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/dpkg", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/fail2ban", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/firewalld", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/flannel", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/flatcar", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/flatpak", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/google", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/gssproxy", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/ignition", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/incus", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/iptables", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/k3s", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/krb5kdc", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/kubernetes", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/ldap", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/libvirt", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/locksmith", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/lxc", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/lxd", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/misc", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/nftables", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/oem", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/os-prober", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/pam", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/podman", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/rancher", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/rpm", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/samba", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/selinux", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/shells.state", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/snapd", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/sudo", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/swtpm", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/systemd-coredump", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/torcx", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/tpm", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/tpm2", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/ubuntu-advantage", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/ucf", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/ufw", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/unattended-upgrades", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/update-notifier", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/waagent", Owner::Privileged, "state a privileged program keeps"),
    ("/var/lib/yum", Owner::Privileged, "state a privileged program keeps"),
    ("/var/log/README", Owner::Os, "the OS's logs and login records"),
    ("/var/log/alternatives.log", Owner::Os, "the OS's logs and login records"),
    ("/var/log/apt", Owner::Os, "the OS's logs and login records"),
    ("/var/log/auth.log", Owner::Os, "the OS's logs and login records"),
    ("/var/log/boot.log", Owner::Os, "the OS's logs and login records"),
    ("/var/log/bootstrap.log", Owner::Os, "the OS's logs and login records"),
    ("/var/log/btmp", Owner::Os, "the OS's logs and login records"),
    ("/var/log/cloud-init.log", Owner::Os, "the OS's logs and login records"),
    ("/var/log/dpkg.log", Owner::Os, "the OS's logs and login records"),
    ("/var/log/faillog", Owner::Os, "the OS's logs and login records"),
    ("/var/log/installer", Owner::Os, "the OS's logs and login records"),
    ("/var/log/kern.log", Owner::Os, "the OS's logs and login records"),
    ("/var/log/lastlog", Owner::Os, "the OS's logs and login records"),
    ("/var/log/messages", Owner::Os, "the OS's logs and login records"),
    ("/var/log/secure", Owner::Os, "the OS's logs and login records"),
    ("/var/log/sudo-io", Owner::Os, "the OS's logs and login records"),
    ("/var/log/sudo.log", Owner::Os, "the OS's logs and login records"),
    ("/var/log/syslog", Owner::Os, "the OS's logs and login records"),
    ("/var/log/waagent.log", Owner::Os, "the OS's logs and login records"),
    ("/var/log/wtmp", Owner::Os, "the OS's logs and login records"),
    ("/var/cache/adduser", Owner::Os, "a cache the OS keeps"),
    ("/var/cache/apt", Owner::Os, "a cache the OS keeps"),
    ("/var/cache/debconf", Owner::Os, "a cache the OS keeps"),
    ("/var/cache/dnf", Owner::Os, "a cache the OS keeps"),
    ("/var/cache/fontconfig", Owner::Os, "a cache the OS keeps"),
    ("/var/cache/man", Owner::Os, "a cache the OS keeps"),
    ("/var/cache/yum", Owner::Os, "a cache the OS keeps"),
    ("/run/nscd", Owner::Os, "nscd's socket"),
    ("/run/shm", Owner::Os, "shared memory"),
    ("/run/utmp", Owner::Os, "the login records"),
];

/// Every claimed place: wasmunit's, the ones it hands to systemd, the OS's.
pub fn claims() -> impl Iterator<Item = Place> {
    [
        UNIT_DIR,
        PRESET_FILE,
        STATE_DIR,
        MODULE_DIR,
        FILES_DIR,
        RUNTIME_DIR,
        CACHE_DIR,
        SYSEXT_DIR,
        SYSEXT_LINK,
        SYSUPDATE_WASMTIME_DIR,
        SYSUPDATE_NOOP,
        SYSEXT_BEFORE,
        FOLLOW_STATE_DIR,
        SYSUSERS_DIR,
        TMPFILES_DIR,
        CREDENTIALS_RUN_DIR,
        IMAGE_STATE_DIR,
        IMAGE_MODULE_DIR,
        IMAGE_FILES_DIR,
        IMAGE_FLEET_INDEX,
        IMAGE_UNIT_DIR,
        IMAGE_SYSUSERS_DIR,
        IMAGE_TMPFILES_DIR,
        EXTENSION_RELEASE_DIR,
        FLEET_IMAGE_DIR,
        FLEET_LINK,
        FLEET_SYSUPDATE_DIR,
        FLEET_STATE_DIR,
        FLEET_RUN_DIR,
        IMPORT_PUBRING,
    ]
    .into_iter()
    .chain(CREDENTIAL_STORES)
    .chain(OS.iter().map(|&(p, o, w)| Place::new(p, o, w)))
}

/// The claim a host path falls within (the deepest, when several do).
pub fn owner_of(path: &str) -> Option<Place> {
    claims()
        .filter(|c| within(path, c.path))
        .max_by_key(|c| c.path.len())
}

/// A claim strictly below `path` that wasmunit or a privileged program
/// owns: granting `path` read-write would hand it over too.
pub fn claim_below(path: &str) -> Option<Place> {
    claims()
        .filter(|c| c.owner != Owner::Os && c.path != path && within(c.path, path))
        .min_by_key(|c| c.path.len())
}

/// `path` is `tree` or below it (one definition, beside [`HostPath`]'s).
///
/// [`HostPath`]: crate::unit::escape::HostPath
pub use crate::unit::escape::within;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deepest_claim_wins_on_component_boundaries() {
        assert_eq!(
            owner_of("/var/lib/wasmunit/modules").map(|c| c.owner),
            Some(Owner::Wasmunit)
        );
        assert_eq!(owner_of("/run/dbus/x").map(|c| c.path), Some("/run/dbus"));
        assert_eq!(owner_of("/run/myapp").map(|c| c.path), Some("/run"));
        assert_eq!(
            owner_of("/etc/extensions/wasmtime.raw").map(|c| c.owner),
            Some(Owner::Wasmunit)
        );
        assert_eq!(
            owner_of("/etc/extensions/other.raw").map(|c| c.owner),
            Some(Owner::Privileged)
        );
        assert_eq!(
            owner_of("/etc/tmpfiles.d").map(|c| c.owner),
            Some(Owner::Privileged)
        );
        assert!(owner_of("/var/lib/systemdx").is_none());
        assert!(owner_of("/var/lib/app").is_none());
        assert!(owner_of("/srv/data").is_none());
    }

    #[test]
    fn a_parent_of_a_privileged_place_is_found() {
        assert!(claim_below("/var/lib").is_some());
        assert_eq!(
            claim_below("/var/lib/wasmunit/files/a").map(|c| c.path),
            None
        );
        assert_eq!(
            claim_below("/var/lib/wasmunit").map(|c| c.path),
            Some("/var/lib/wasmunit/files")
        );
        assert_eq!(claim_below("/").map(|c| c.path.len()), Some(4));
        assert!(claim_below("/var/lib/app").is_none());
        assert!(claim_below("/srv").is_none());
    }

    #[test]
    fn every_claim_is_a_plain_absolute_path_named_once() {
        let mut seen = std::collections::HashSet::new();
        for c in claims() {
            assert!(
                c.path.starts_with('/') && !c.path.ends_with('/') && !c.path.contains("//"),
                "{}",
                c.path
            );
            assert!(seen.insert(c.path), "{} is claimed twice", c.path);
        }
    }
}
