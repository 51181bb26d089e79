//! Who owns each path on a node: the OS (and systemd), wasmunit, or the
//! user. Every grant of a host folder consults this one table, and so does
//! every path the fragment writes: no app is handed (chowned to its dynamic
//! user, deleted at its stop) a folder the OS or wasmunit owns, and no
//! grant collides with a path the fragment itself writes.

/// Who owns a tree of the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The OS provides it: it exists (or not) by the OS's choice; an app
    /// may read it when granted, never own it.
    Os,
    /// wasmunit writes it (the fragment, `apply`): no grant at all.
    Wasmunit,
}

/// One owned tree: the path, its owner, and what it is, for messages.
#[derive(Debug, Clone, Copy)]
pub struct Claim {
    pub path: &'static str,
    pub owner: Owner,
    pub what: &'static str,
}

const fn os(path: &'static str, what: &'static str) -> Claim {
    Claim {
        path,
        owner: Owner::Os,
        what,
    }
}

const fn own(path: &'static str, what: &'static str) -> Claim {
    Claim {
        path,
        owner: Owner::Wasmunit,
        what,
    }
}

/// The table. The OS entries below systemd's managed trees (/var/lib,
/// /var/cache, /var/log, /run) are what Flatcar, systemd and the container
/// runtimes Flatcar ships keep there: a read-write grant of one would
/// become `StateDirectory=` (or a sibling), and systemd would chown it
/// recursively to the app's dynamic user at start.
pub const CLAIMS: &[Claim] = &[
    // wasmunit's own: what the fragment and `apply` write.
    own("/var/lib/wasmunit", "wasmunit's modules and shipped files"),
    own("/var/cache/wasmunit", "the apps' wasmtime caches"),
    own("/opt/extensions/wasmtime", "the wasmtime sysext images"),
    own("/etc/extensions/wasmtime.raw", "the wasmtime sysext link"),
    own(
        "/etc/sysupdate.wasmtime.d",
        "the wasmtime sysupdate transfer",
    ),
    own("/etc/sysupdate.d/noop.conf", "the sysupdate placeholder"),
    // Trees the OS provides as a whole.
    os("/usr", "the OS image"),
    os("/proc", "the kernel's process view"),
    os("/sys", "the kernel's device view"),
    os("/dev", "devices"),
    os("/boot", "the boot partition"),
    os("/run", "runtime state of the OS and its services"),
    os(
        "/etc/systemd",
        "systemd's configuration and the installed units",
    ),
    os("/etc/extensions", "the merged system extensions"),
    os("/etc/sysupdate.d", "systemd-sysupdate's transfers"),
    // Below systemd's managed trees.
    os("/var/lib/systemd", "systemd's state"),
    os("/var/lib/private", "systemd's folders of dynamic users"),
    os("/var/lib/dbus", "D-Bus's machine id"),
    os("/var/lib/polkit-1", "polkit's rules"),
    os("/var/lib/docker", "Docker's state"),
    os("/var/lib/containerd", "containerd's state"),
    os("/var/lib/containers", "Podman's state"),
    os("/var/lib/cni", "CNI's state"),
    os("/var/lib/kubelet", "the kubelet's state"),
    os("/var/lib/etcd", "etcd's data"),
    os("/var/lib/machines", "systemd-machined's images"),
    os("/var/lib/portables", "portable service images"),
    os("/var/lib/extensions", "system extension images"),
    os("/var/lib/confexts", "configuration extension images"),
    os("/var/lib/update_engine", "Flatcar's update engine"),
    os("/var/lib/flatcar-oem", "Flatcar's OEM state"),
    os("/var/lib/coreos-install", "Flatcar's install state"),
    os("/var/lib/sss", "SSSD's state"),
    os("/var/lib/nfs", "NFS's state"),
    os("/var/lib/chrony", "chrony's state"),
    os("/var/lib/ntp", "ntpd's state"),
    os("/var/lib/sshd", "sshd's state"),
    os("/var/lib/logrotate", "logrotate's state"),
    os("/var/log/journal", "the journal"),
    os("/var/log/private", "systemd's folders of dynamic users"),
    os("/var/log/audit", "the audit log"),
    os("/var/log/containers", "container logs"),
    os("/var/log/pods", "pod logs"),
    os("/var/log/sa", "sysstat's logs"),
    os("/var/cache/private", "systemd's folders of dynamic users"),
    os("/var/cache/ldconfig", "the dynamic linker's cache"),
    os("/run/systemd", "systemd's runtime state"),
    os("/run/dbus", "the system bus"),
    os("/run/udev", "udev's state"),
    os("/run/user", "the users' runtime folders"),
    os("/run/lock", "lock files"),
    os("/run/log", "the journal's sockets"),
    os("/run/mount", "mount state"),
    os("/run/credentials", "systemd's service credentials"),
    os("/run/private", "systemd's folders of dynamic users"),
    os("/run/host", "what the container manager passes in"),
    os("/run/docker", "Docker's runtime state"),
    os("/run/containerd", "containerd's runtime state"),
    os("/run/flatcar", "Flatcar's runtime state"),
    os("/run/metadata", "the cloud metadata agent's output"),
    os("/run/ignition", "Ignition's runtime state"),
    os("/run/extensions", "runtime system extensions"),
    os("/run/sshd", "sshd's runtime state"),
    os("/run/nscd", "nscd's socket"),
    os("/run/shm", "shared memory"),
    os("/run/utmp", "the login records"),
];

/// The claim a host path falls within (the deepest, when several do).
pub fn owner_of(path: &str) -> Option<&'static Claim> {
    CLAIMS
        .iter()
        .filter(|c| within(path, c.path))
        .max_by_key(|c| c.path.len())
}

/// `path` is `tree` or below it (on component boundaries).
pub fn within(path: &str, tree: &str) -> bool {
    path == tree
        || path
            .strip_prefix(tree)
            .is_some_and(|rest| rest.starts_with('/'))
}

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
            Some(Owner::Os)
        );
        assert!(owner_of("/var/lib/systemdx").is_none());
        assert!(owner_of("/var/lib/app").is_none());
        assert!(owner_of("/srv/data").is_none());
    }

    #[test]
    fn every_claim_is_a_plain_absolute_path() {
        for c in CLAIMS {
            assert!(
                c.path.starts_with('/') && !c.path.ends_with('/') && !c.path.contains("//"),
                "{}",
                c.path
            );
        }
    }
}
