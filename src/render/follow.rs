//! The unit that moves running workloads onto a new `/usr/bin/wasmtime`.
//!
//! After the sysext changes, a running workload keeps executing the old
//! binary (from the unmerged image) until it restarts. A node refreshes
//! the sysext in one of three ways, and this unit runs after each:
//! - `systemctl restart systemd-sysext` (wasmunit's own sysupdate drop-in):
//!   `PartOf=` restarts this unit with the sysext, on every systemd;
//! - `systemctl reload systemd-sysext` (257's unit refreshes in place):
//!   `ReloadPropagatedFrom=` reloads it, which queues a restart of itself;
//! - the **command** `systemd-sysext refresh` in an `ExecStartPost=` of
//!   `systemd-sysupdate.service`, as the bakery's published drop-in does:
//!   no unit sees that, so the fragment adds a drop-in of its own to that
//!   service ([`SYSUPDATE_DROPIN`]) that restarts this unit, ordered
//!   `After=` the sysupdate run so that it compares once every drop-in's
//!   refresh is done, whatever the drop-ins are called.
//!
//! What it does is a short shell script ([`script`]), shipped as a file
//! beside the modules: it compares the version of `/usr/bin/wasmtime` with
//! the one it saw last and, only when it changed, restarts the running
//! units of the group target by name (restarting the target itself would
//! start its finished and stopped apps again, measured), then reports in
//! the journal, at error priority, every one that did not come back. A
//! workload refused by its version guard is skipped by systemd, not
//! restarted in a loop.
//!
//! Why not systemd alone: `PartOf=systemd-sysext.service` on the apps
//! would restart them whenever any extension is refreshed, and say nothing
//! when one fails; `Upholds=` (systemd 249) would restart a stopped app
//! forever; `EXTENSION_RELOAD_MANAGER=1` (systemd 255) only reloads unit
//! files an image ships, and the bakery's image ships none.

use sha2::{Digest as _, Sha256};

use super::command::WASMTIME;
use super::sandbox::LOCKDOWN;
#[cfg(test)]
use crate::node::paths::NODE_LAYOUT;
use crate::node::paths::{Layout, Place};
use crate::unit::escape::{Comment, ExecWord, UnitName, Value};
use crate::unit::file::{Section, UnitFile};
use crate::unit::names::{FOLLOW_UNIT, GROUP_TARGET};

/// The unit the bakery's drop-in refreshes the sysext from.
pub const SYSUPDATE_UNIT: &str = "systemd-sysupdate.service";

/// The name of wasmunit's drop-in on [`SYSUPDATE_UNIT`]. Its place among
/// the drop-ins does not matter (see [`SYSUPDATE_DROPIN`]).
pub const SYSUPDATE_DROPIN_NAME: &str = "wasmunit-follow.conf";

/// wasmunit's drop-in on sysupdate. Two lines:
/// - `RestrictNamespaces=net mnt`: the bakery's drop-in runs the command
///   `systemd-sysext refresh` inside this service, and systemd's own unit
///   allows only network namespaces (`RestrictNamespaces=net`), so the
///   refresh fails reading the new image ("Failed to read metadata for
///   image wasmtime", EPERM on 252, EBUSY on 257: measured in
///   tests/all/first_boot/); the link has moved and nothing is merged. Mount
///   namespaces too make it work; the service already holds
///   `CAP_SYS_ADMIN`, so they give it nothing it could not do.
/// - `ExecStartPost=`: queues a restart of the follow unit. `--no-block`:
///   the restart waits (`After=`) for this very start of sysupdate to
///   finish, with every `ExecStartPost=` of every drop-in, the bakery's
///   refresh too. `-`: a node whose follow unit was removed still updates.
pub const SYSUPDATE_DROPIN: &str = "\
# Shipped by wasmunit for the wasmtime sysext's updates:
# - the refresh the bakery's drop-in runs here (systemd-sysext refresh) needs a
#   mount namespace, which this unit's sandbox refuses (RestrictNamespaces=net);
# - once this run is done, wasmunit-follow.service moves the running workloads
#   of wasmunit.target onto the new /usr/bin/wasmtime.
[Service]
RestrictNamespaces=net mnt
ExecStartPost=-/usr/bin/systemctl --no-block restart wasmunit-follow.service
";

/// Where the drop-in lives on the node (`apply` writes it there; the
/// fragment names it under the unit's entry).
pub fn sysupdate_dropin_node_path() -> String {
    crate::node::paths::UNIT_DIR.join(&format!("{SYSUPDATE_UNIT}.d/{SYSUPDATE_DROPIN_NAME}"))
}

/// Where the script lives on the node: beside the modules, named by its
/// hash like them (the follow unit names it, so it is kept while named).
pub fn script_node_path(layout: &Layout) -> String {
    hashed_script_path(&layout.modules, &script())
}

/// Where a script wasmunit ships lives: in the modules' folder, named by
/// its hash like the modules (the unit that runs it names it, so it is
/// kept while named, and a changed script is a new file).
pub(super) fn hashed_script_path(modules: &Place, script: &str) -> String {
    let sha = hex::encode(Sha256::digest(script.as_bytes()));
    modules.join(&format!("{sha}.sh"))
}

/// How long a restarted workload must stay up to count as back.
const SURVIVE_SECS: u32 = 3;

/// How long the servers' compiles with a new wasmtime may take before the
/// restarts go ahead anyway: well within the unit's 10 minutes.
const WARM_SECS: u32 = 180;

/// The follow script: what the unit does, for a reviewer to read. It
/// always exits 0: a failed unit would no longer be restarted with the
/// sysext.
pub fn script() -> String {
    // Where the unit keeps the version it saw last (tmpfs: a boot starts anew).
    let state = crate::node::paths::FOLLOW_STATE_DIR.join("version");
    format!(
        r#"# Shipped by wasmunit: run by {FOLLOW_UNIT} each time the wasmtime sysext
# may have changed. Do not edit: render again.

# 1. Which wasmtime is {WASMTIME} now, and which was it at the last run?
now=$({WASMTIME} --version 2>/dev/null) || now=none
was=$(cat {state} 2>/dev/null) || was=
echo "$now" > {state}
# The first run since boot, or the same binary: nothing to do.
[ -n "$was" ] && [ "$was" != "$now" ] || exit 0

# 2. Restart the workloads that are running; finished commands, stopped
#    apps and pinned apps (their own image, ExtensionImages=) stay as they are,
#    and so do the servers' sockets: they run no wasmtime, and their
#    connections wait in them while the servers restart. A unit that can
#    reload (a server) first compiles its module with the new wasmtime, the
#    old process serving on, so that the new one starts warm.
echo "wasmunit: {WASMTIME} changed from $was to $now: restarting the running workloads of {GROUP_TARGET}"
running=
for u in $(systemctl show -p ConsistsOf --value {GROUP_TARGET}); do
    case $u in *.socket) continue ;; esac
    [ -z "$(systemctl show -p ExtensionImages --value "$u")" ] || continue
    systemctl -q is-active "$u" && running="$running $u"
done
#    The compiles run side by side, {WARM_SECS} s at most; then every app restarts
#    (one still compiling is stopped, and compiles at its start).
for u in $running; do
    [ "$(systemctl show -p CanReload --value "$u")" != yes ] || timeout {WARM_SECS} systemctl reload "$u" &
done
wait
[ -z "$running" ] || systemctl try-restart $running

# 3. Report, at error priority, each one that is not up {SURVIVE_SECS} s later.
sleep {SURVIVE_SECS}
bad=
for u in $running; do
    n=$(systemctl show -p NRestarts --value "$u")
    if systemctl -q is-active "$u"; then
        [ "${{n:-0}}" = 0 ] || bad="$bad $u (restarted $n times)"
    else
        r=$(systemctl show -p Result --value "$u")
        [ "$r" = success ] || bad="$bad $u ($r)"
    fi
done
echo "wasmunit: restarted under $now:$running"
[ -z "$bad" ] || echo "<3>wasmunit: not running under $now:$bad"
exit 0
"#
    )
}

/// Sandbox of a root service that only reads a version and talks to the
/// manager over its private socket, on top of [`LOCKDOWN`]. Root because
/// the manager takes restart requests on that socket from uid 0 only (and
/// on the bus from polkit, which a node may lack); `PrivateUsers=` keeps
/// uid 0 and takes away every capability it would have on the host.
const SANDBOX: [(&str, &str); 8] = [
    ("ProtectSystem", "strict"),
    ("ProtectHome", "yes"),
    ("PrivateTmp", "yes"),
    ("PrivateDevices", "yes"),
    ("PrivateNetwork", "yes"),
    ("PrivateUsers", "yes"),
    ("PrivateIPC", "yes"),
    ("PrivateMounts", "yes"),
];

/// Only the manager's socket; no code of its own to map executable.
const NO_NETWORK: [(&str, &str); 3] = [
    ("RestrictAddressFamilies", "AF_UNIX"),
    ("IPAddressDeny", "any"),
    ("MemoryDenyWriteExecute", "yes"),
];

pub fn unit(layout: &Layout) -> UnitFile {
    let script = script_node_path(layout);
    let mut unit = Section::new("Unit");
    unit.set(
        "Description",
        Value::fixed("Restart wasmunit's workloads when /usr/bin/wasmtime changes"),
    );
    unit.comment("Runs again after every refresh of the sysext: each time, it compares versions.");
    unit.set(
        "After",
        Value::unit_names([
            &UnitName::new("systemd-sysext.service"),
            &UnitName::new(SYSUPDATE_UNIT),
        ]),
    );
    unit.fixed("PartOf", "systemd-sysext.service");
    unit.fixed("ReloadPropagatedFrom", "systemd-sysext.service");
    unit.set(
        crate::unit::names::references::FILE,
        Value::plain(script.clone()),
    );

    let mut service = Section::new("Service");
    service.fixed("Type", "oneshot");
    service.fixed("RemainAfterExit", "yes");
    service.comment(
        "What it does is this script, beside the modules (wasmunit-follow.sh in render --out).",
    );
    service.command(
        "ExecStart",
        vec![vec![
            ExecWord::program(crate::node::paths::SH),
            ExecWord::new(&script).expect("a plain path"),
        ]],
    );
    // A reload runs the script once more, as a restart of this unit queued
    // behind the reload.
    service.command(
        "ExecReload",
        vec![vec![
            ExecWord::program(crate::node::paths::SYSTEMCTL),
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
    fn the_unit_names_the_script_it_runs_by_hash() {
        let text = unit(&NODE_LAYOUT).render().expect("renders");
        let path = script_node_path(&NODE_LAYOUT);
        assert!(
            text.contains(&format!("ExecStart=/bin/sh {path}\n")),
            "{text}"
        );
        assert!(
            text.contains(&format!("AssertFileNotEmpty={path}\n")),
            "{text}"
        );
        assert!(text.contains("PartOf=systemd-sysext.service\n"), "{text}");
        assert!(
            text.contains("After=systemd-sysext.service systemd-sysupdate.service\n"),
            "{text}"
        );
        assert!(!text.contains("WantedBy=wasmunit.target"), "{text}");
    }

    #[test]
    fn the_script_is_short_and_plain_shell() {
        let s = script();
        let code = s
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .count();
        assert!(code <= 30, "{code} lines of code:\n{s}");
        assert!(
            !s.contains("$$"),
            "the file is shell, not unit syntax:\n{s}"
        );
        assert!(s.ends_with("exit 0\n"));
    }

    #[test]
    fn the_dropin_restarts_the_follow_unit_without_waiting_for_it() {
        assert!(SYSUPDATE_DROPIN.contains(&format!(
            "ExecStartPost=-/usr/bin/systemctl --no-block restart {FOLLOW_UNIT}\n"
        )));
        assert!(SYSUPDATE_DROPIN_NAME.ends_with(".conf"));
    }
}
