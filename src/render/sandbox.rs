//! The sandbox every service wasmunit writes shares: the private
//! namespaces of a service that runs someone else's code, and the kernel,
//! privilege and system-call lockdown of every service, apps and its own.

use crate::releases::systemd_release::{self, SystemdVersion};
use crate::unit::file::Section;

/// Private namespaces every app gets, whatever it is granted (after
/// `ProtectSystem=` and `ProtectHome=`).
const PRIVATE: [(&str, &str); 5] = [
    ("PrivateTmp", "yes"),
    ("PrivateDevices", "yes"),
    ("PrivateUsers", "yes"),
    ("PrivateIPC", "yes"),
    ("PrivateMounts", "yes"),
];

/// The kernel, privilege and system-call hardening of every service
/// wasmunit ships, apps and its own.
pub const LOCKDOWN: [(&str, &str); 22] = [
    ("ProtectHostname", "yes"),
    ("ProtectClock", "yes"),
    ("ProtectKernelTunables", "yes"),
    ("ProtectKernelModules", "yes"),
    ("ProtectKernelLogs", "yes"),
    ("ProtectControlGroups", "yes"),
    ("ProtectProc", "invisible"),
    ("ProcSubset", "pid"),
    ("NoNewPrivileges", "yes"),
    ("RestrictNamespaces", "yes"),
    ("RestrictRealtime", "yes"),
    ("RestrictSUIDSGID", "yes"),
    ("LockPersonality", "yes"),
    ("RemoveIPC", "yes"),
    ("KeyringMode", "private"),
    ("UMask", "0077"),
    ("DevicePolicy", "closed"),
    ("CapabilityBoundingSet", ""),
    ("AmbientCapabilities", ""),
    ("SystemCallArchitectures", "native"),
    ("SystemCallFilter", "@system-service"),
    ("SystemCallFilter", "~@privileged @resources"),
];

/// [`PRIVATE`] and [`LOCKDOWN`], as the target systemd spells them, and
/// what newer releases add.
pub fn private_and_locked_down(s: &mut Section, target: SystemdVersion) {
    for (k, v) in PRIVATE.iter().chain(&LOCKDOWN) {
        s.fixed(k, systemd_release::sandbox_value(target, k, v));
    }
    let base: Vec<(&str, &str)> = PRIVATE.iter().chain(&LOCKDOWN).copied().collect();
    for (k, v) in systemd_release::added_settings(target, &base) {
        s.fixed(k, v);
    }
}
