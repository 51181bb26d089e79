//! The unit that moves running workloads onto a new `/usr/bin/wasmtime`.
//!
//! After the sysext changes, a running workload keeps executing the old
//! binary (from the unmerged image) until it restarts. This unit follows
//! `systemd-sysext.service`: systemd restarts it with the sysext
//! (`PartOf=`: `systemctl restart systemd-sysext`, what sysupdate's drop-in
//! runs, on every systemd version) and reloads it with the sysext
//! (`ReloadPropagatedFrom=`: `systemctl reload systemd-sysext`, which
//! refreshes in place where the unit has `ExecReload=`: 257 does, 252 does
//! not). Each time it compares the version of `/usr/bin/wasmtime` with the
//! one it saw last and, only when it changed, restarts the running units of
//! the group target by name (restarting the target itself would start its
//! finished and stopped apps again, measured), then reports in the journal,
//! at error priority, every one that did not come back. A workload refused
//! by its version guard is skipped by systemd, not restarted in a loop.
//!
//! Why not systemd alone: `PartOf=systemd-sysext.service` on the apps
//! would restart them whenever any extension is refreshed, and say nothing
//! when one fails; `Upholds=` (systemd 249) would restart a stopped app
//! forever; `EXTENSION_RELOAD_MANAGER=1` (systemd 255) only reloads unit
//! files an image ships, and the bakery's image ships none.

use super::command::WASMTIME;
use super::escape::{Comment, ExecWord, UnitName, Value};
use super::systemd::{GROUP_TARGET, LOCKDOWN};
use super::unit_file::{Section, UnitFile};

pub const FOLLOW_UNIT: &str = "wasmunit-follow.service";

/// Where the unit keeps the version it saw last (tmpfs: a boot starts anew).
const STATE: &str = "/run/wasmunit-follow/version";

/// How long a restarted workload must stay up to count as back.
const SURVIVE_SECS: u32 = 3;

/// The shell script of `ExecStart=`. It always exits 0: a failed unit
/// would no longer be restarted with the sysext. Kept short: it rides in
/// every fragment's user-data.
fn script() -> String {
    format!(
        "v=$({WASMTIME} --version 2>/dev/null) || v=none; o=$(cat {STATE} 2>/dev/null); \
         echo \"$v\" > {STATE}; [ -n \"$o\" ] && [ \"$o\" != \"$v\" ] || exit 0; \
         echo \"wasmunit: {WASMTIME} changed from $o to $v: restarting the running workloads of {GROUP_TARGET}\"; \
         up=; for u in $(systemctl show -p ConsistsOf --value {GROUP_TARGET}); do \
         systemctl -q is-active $u && up=\"$up $u\"; done; \
         [ -z \"$up\" ] || systemctl try-restart $up; sleep {SURVIVE_SECS}; \
         bad=; for u in $up; do \
         r=$(systemctl show -p Result --value $u); n=$(systemctl show -p NRestarts --value $u); \
         if systemctl -q is-active $u; then [ \"${{n:-0}}\" = 0 ] || bad=\"$bad $u (restarted $n times)\"; \
         elif [ \"$r\" != success ]; then bad=\"$bad $u ($r)\"; fi; done; \
         echo \"wasmunit: restarted under $v:$up\"; \
         [ -z \"$bad\" ] || echo \"<3>wasmunit: not running under $v:$bad\""
    )
}

/// Sandbox of a root service that only reads a version and talks to the
/// manager over its private socket (root is what the manager requires, so
/// no `PrivateUsers=`), on top of [`LOCKDOWN`].
const SANDBOX: [(&str, &str); 7] = [
    ("ProtectSystem", "strict"),
    ("ProtectHome", "yes"),
    ("PrivateTmp", "yes"),
    ("PrivateDevices", "yes"),
    ("PrivateNetwork", "yes"),
    ("PrivateIPC", "yes"),
    ("PrivateMounts", "yes"),
];

/// Only the manager's socket; no code of its own to map executable.
const NO_NETWORK: [(&str, &str); 3] = [
    ("RestrictAddressFamilies", "AF_UNIX"),
    ("IPAddressDeny", "any"),
    ("MemoryDenyWriteExecute", "yes"),
];

pub fn unit() -> UnitFile {
    let mut unit = Section::new("Unit");
    unit.set(
        "Description",
        Value::fixed("Restart wasmunit's workloads when /usr/bin/wasmtime changes"),
    );
    unit.set(
        "After",
        Value::unit_names([&UnitName::new("systemd-sysext.service")]),
    );
    unit.comment("Restarted and reloaded with the sysext: each time, it compares versions.");
    unit.fixed("PartOf", "systemd-sysext.service");
    unit.fixed("ReloadPropagatedFrom", "systemd-sysext.service");

    let mut service = Section::new("Service");
    service.fixed("Type", "oneshot");
    service.fixed("RemainAfterExit", "yes");
    service
        .shell("ExecStart", &script())
        .expect("the script has no NUL");
    // A reload runs the same script once more, as a restart of this unit
    // queued behind the reload (the script is written once).
    service.command(
        "ExecReload",
        vec![vec![
            ExecWord::program("/usr/bin/systemctl"),
            ExecWord::program_arg("--no-block"),
            ExecWord::program_arg("restart"),
            ExecWord::program_arg(FOLLOW_UNIT),
        ]],
    );
    service.fixed("TimeoutStartSec", "10min");
    service.fixed("RuntimeDirectory", "wasmunit-follow");
    // Kept across the restarts the sysext propagates, removed with the unit.
    service.fixed("RuntimeDirectoryPreserve", "restart");
    for (k, v) in SANDBOX.iter().chain(&LOCKDOWN).chain(&NO_NETWORK) {
        service.fixed(k, v);
    }
    service.fixed("SystemCallErrorNumber", "EPERM");

    let mut install = Section::new("Install");
    // Not the group target: restarting it from here would wait for itself.
    install.fixed("WantedBy", "multi-user.target");
    UnitFile {
        name: FOLLOW_UNIT.to_owned(),
        header: vec![
            Comment::new("Shipped by wasmunit: after the wasmtime sysext changes, restarts the"),
            Comment::new("running workloads of wasmunit.target onto the new /usr/bin/wasmtime."),
            Comment::new("Do not edit: render again."),
        ],
        sections: vec![unit, service, install],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_within_ignition_limits() {
        let text = unit().render().expect("renders");
        assert!(text.contains("PartOf=systemd-sysext.service\n"), "{text}");
        // `$` reaches the shell as `$`: systemd reads `$$` as one.
        assert!(text.contains("v=$$(/usr/bin/wasmtime --version"), "{text}");
        assert!(!text.contains("WantedBy=wasmunit.target"), "{text}");
    }
}
