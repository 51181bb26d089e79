//! The fragment of a fleet node (`wasmunit fleet`): the node pulls its
//! workloads as bundles ([`super::bundle`]) with systemd-sysupdate, and a
//! reconciler runs each new one.
//!
//! - `/etc/sysupdate.wasmunit-apps.d/wasmunit-apps.transfer`: a `url-file`
//!   source at the user's URL, images kept in /opt/extensions/wasmunit-apps,
//!   the link /etc/extensions/wasmunit-apps.raw that systemd-sysext merges.
//! - `wasmunit-fleet-update.service` (at boot, then its timer):
//!   `systemd-sysupdate -C wasmunit-apps update`, then the reconciler. Our
//!   own unit, so neither 262's rename of systemd-sysupdate.service nor its
//!   sandbox matter; a drop-in on the OS's sysupdate runs the reconciler too,
//!   should the OS's own timer move the link (262 updates every component).
//! - `wasmunit-fleet.service`, the reconciler ([`script`]): merges the
//!   bundle the link names (`systemctl restart systemd-sysext`, which also
//!   re-reads the units: the image asks systemd 255+ to with
//!   `EXTENSION_RELOAD_MANAGER=1`, the script does it on older ones), then
//!   restarts exactly the apps whose hash moved, starts the new ones and
//!   stops the removed ones; unchanged apps keep their process. An app
//!   that does not stay up sends the node back to the last bundle that held.

use super::butane::{
    ButaneVersion, Config, Dropin, File, Resource, Storage, SystemdUnits, Text, Unit,
};
use super::error::RenderError;
use crate::node::paths::{self, FLEET_EXTENSION};
use crate::unit::escape::{Comment, ExecWord, Value};
use crate::unit::file::{Section, UnitFile};

const RECONCILER_UNIT: &str = "wasmunit-fleet.service";
const UPDATE_UNIT: &str = "wasmunit-fleet-update.service";
const UPDATE_TIMER: &str = "wasmunit-fleet-update.timer";
/// The drop-in on the OS's sysupdate (an alias of 262's
/// systemd-sysupdate-update.service: drop-ins of an alias apply).
const OS_SYSUPDATE_DROPIN: &str = "wasmunit-fleet.conf";

/// Where the bundles come from: an `https://` folder, or `http://` only
/// when the node checks signatures (a plain download is otherwise anyone's
/// on the way). Letters, digits and the URL punctuation that needs no
/// quoting in a sysupdate file; no `%` (sysupdate expands specifiers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetUrl(String);

impl FleetUrl {
    pub fn parse(s: &str, signed: bool) -> Result<FleetUrl, String> {
        let shown = s.escape_debug();
        let rest = if let Some(r) = s.strip_prefix("https://") {
            r
        } else if let Some(r) = s.strip_prefix("http://") {
            if !signed {
                return Err(format!(
                    "`{shown}`: an http:// source needs --public-key (signed bundles): \
                     otherwise anyone on the way chooses what the fleet runs"
                ));
            }
            r
        } else {
            return Err(format!("`{shown}`: the bundles' URL starts with https://"));
        };
        if s.len() > 2048 {
            return Err("the bundles' URL is longer than 2048 characters".to_owned());
        }
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.contains('@') {
            return Err(format!(
                "`{shown}`: name a host, without credentials (the transfer file is world-readable)"
            ));
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~:/+,!*()[]$".contains(c);
        if let Some(c) = s.chars().find(|&c| !allowed(c)) {
            return Err(format!(
                "`{shown}`: `{}` has no place in the bundles' URL (letters, digits and \
                 -._~:/+,!*()[]$; no query: sysupdate appends SHA256SUMS to it)",
                c.escape_debug()
            ));
        }
        host_and_port(authority).map_err(|why| format!("`{shown}`: {why}"))?;
        if !s.ends_with('/') {
            return Err(format!(
                "`{shown}`: the URL of the folder holding SHA256SUMS ends with `/`"
            ));
        }
        Ok(FleetUrl(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `host[:port]`: a DNS name (labels of letters, digits and `-`, not at
/// either end), an IPv4 address or a bracketed IPv6 one; a port 1–65535.
fn host_and_port(authority: &str) -> Result<(), String> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (v6, after) = rest.split_once(']').ok_or("an IPv6 host ends with `]`")?;
        v6.parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("`{v6}` is not an IPv6 address"))?;
        (
            None,
            after
                .strip_prefix(':')
                .map(str::to_owned)
                .or_else(|| (!after.is_empty()).then(|| after.to_owned())),
        )
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (Some(h), Some(p.to_owned())),
            None => (Some(authority), None),
        }
    };
    if let Some(h) = host {
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if h.is_empty() || h.len() > 253 || !h.split('.').all(label_ok) {
            return Err(format!("`{h}` is not a host name"));
        }
        let numeric = h.split('.').all(|l| l.chars().all(|c| c.is_ascii_digit()));
        if numeric && h.parse::<std::net::Ipv4Addr>().is_err() {
            return Err(format!("`{h}` is not an IPv4 address"));
        }
    }
    if let Some(p) = port {
        match p.parse::<u16>() {
            Ok(n) if n > 0 && p.chars().all(|c| c.is_ascii_digit()) => {}
            _ => return Err(format!("`{p}` is not a port (1 to 65535)")),
        }
    }
    Ok(())
}

/// The public key the node checks signatures with: a binary OpenPGP
/// transferable public key (`gpg --export KEY`), at most 1 MiB.
#[derive(Debug, Clone)]
pub struct PublicKey(Vec<u8>);

impl PublicKey {
    pub fn new(bytes: Vec<u8>) -> Result<PublicKey, String> {
        if bytes.starts_with(b"-----BEGIN") {
            return Err(
                "the key is ASCII-armoured; the node's keyring wants the binary form: \
                 `gpg --export KEY > key.gpg`"
                    .to_owned(),
            );
        }
        if bytes.len() > 1 << 20 {
            return Err("the key file is larger than 1 MiB".to_owned());
        }
        let tags = packet_tags(&bytes)
            .ok_or("not an OpenPGP key (export it with `gpg --export KEY > key.gpg`)")?;
        if tags.iter().skip(1).any(|t| *t == 6) {
            return Err(
                "the key file holds several keys; every node would trust each of them: \
                        export the one that signs (`gpg --export KEYID > key.gpg`)"
                    .to_owned(),
            );
        }
        if tags.first() != Some(&6) {
            return Err(
                "not an OpenPGP public key: it starts with no public-key packet \
                        (`gpg --export KEY > key.gpg`)"
                    .to_owned(),
            );
        }
        // Public keys, subkeys, user ids and attributes, signatures, trust:
        // never a secret key, which would land in a world-readable keyring.
        if let Some(t) = tags.iter().find(|t| ![2, 6, 12, 13, 14, 17].contains(*t)) {
            return Err(format!(
                "the key file holds an OpenPGP packet of type {t}{}; export only the public \
                 key: `gpg --export KEY > key.gpg`",
                if [5, 7].contains(t) {
                    " (a secret key)"
                } else {
                    ""
                }
            ));
        }
        Ok(PublicKey(bytes))
    }
}

/// `--every`: a systemd time span (`15min`, `1h 30min`), at least a
/// minute (a fleet polling faster only loads its server).
pub fn interval(s: &str) -> Result<crate::unit::escape::RawValue, String> {
    const UNITS: [(&str, u64); 21] = [
        ("seconds", 1),
        ("second", 1),
        ("sec", 1),
        ("s", 1),
        ("minutes", 60),
        ("minute", 60),
        ("min", 60),
        ("m", 60),
        ("hours", 3600),
        ("hour", 3600),
        ("hr", 3600),
        ("h", 3600),
        ("days", 86400),
        ("day", 86400),
        ("d", 86400),
        ("weeks", 604_800),
        ("week", 604_800),
        ("w", 604_800),
        ("months", 2_629_800),
        ("month", 2_629_800),
        ("M", 2_629_800),
    ];
    let refused = || "a systemd time span from a minute to a year, such as 15min or 1h".to_owned();
    let mut rest = s.trim();
    let mut total: u64 = 0;
    if rest.is_empty() || s.len() > 64 {
        return Err(refused());
    }
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 6 {
            return Err(refused());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| refused())?;
        rest = rest[digits..].trim_start();
        let (unit, mult) = UNITS
            .iter()
            .find(|(u, _)| {
                rest.starts_with(u)
                    && !rest[u.len()..].starts_with(|c: char| c.is_ascii_alphabetic())
            })
            .ok_or_else(refused)?;
        total = total.saturating_add(n.saturating_mul(*mult));
        rest = rest[unit.len()..].trim_start();
    }
    // A year at most: systemd refuses spans it cannot hold, and a fleet
    // that looks once a year is not following anything.
    if !(60..=31_557_600).contains(&total) {
        return Err("a systemd time span from a minute to a year, such as 15min or 1h".to_owned());
    }
    crate::unit::escape::RawValue::new(s.trim()).map_err(|_| refused())
}

/// The tag of every OpenPGP packet in `b` (RFC 4880 4.2), or `None` when
/// the packets do not exactly fill it.
fn packet_tags(b: &[u8]) -> Option<Vec<u8>> {
    let mut tags = Vec::new();
    let mut i = 0usize;
    let be = |s: &[u8]| s.iter().fold(0usize, |n, &x| (n << 8) | usize::from(x));
    while i < b.len() {
        let h = b[i];
        if h & 0x80 == 0 {
            return None;
        }
        let (tag, len, head) = if h & 0x40 != 0 {
            let o1 = *b.get(i + 1)?;
            match o1 {
                0..=191 => (h & 0x3f, usize::from(o1), 2),
                192..=223 => (
                    h & 0x3f,
                    ((usize::from(o1) - 192) << 8) + usize::from(*b.get(i + 2)?) + 192,
                    3,
                ),
                255 => (h & 0x3f, be(b.get(i + 2..i + 6)?), 6),
                // Partial lengths: not in an exported key.
                _ => return None,
            }
        } else {
            let n = match h & 3 {
                0 => 1,
                1 => 2,
                2 => 4,
                _ => return None,
            };
            ((h >> 2) & 0x0f, be(b.get(i + 1..i + 1 + n)?), 1 + n)
        };
        i = i.checked_add(head)?.checked_add(len)?;
        if i > b.len() {
            return None;
        }
        tags.push(tag);
    }
    Some(tags)
}

/// What a fleet node's fragment is made of.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    pub url: FleetUrl,
    pub public_key: Option<PublicKey>,
    /// How often the node looks for a new bundle (a systemd time span).
    pub every: crate::unit::escape::RawValue,
    /// How long each started app must stay up before the bundle holds.
    pub survive_secs: u32,
    pub butane: ButaneVersion,
}

/// How many bundles a node keeps: the one it runs, the one before (what a
/// rollback returns to) and one more.
const INSTANCES_MAX: u32 = 3;

fn transfer(o: &FleetOptions) -> String {
    let pattern = super::bundle::image_pattern();
    format!(
        "# Shipped by wasmunit: where this node pulls its workloads from.\n\
         [Transfer]\n\
         Verify={}\n\
         \n\
         [Source]\n\
         Type=url-file\n\
         Path={}\n\
         MatchPattern={pattern}\n\
         \n\
         [Target]\n\
         Type=regular-file\n\
         Path={}\n\
         MatchPattern={pattern}\n\
         CurrentSymlink={}\n\
         InstancesMax={INSTANCES_MAX}\n",
        if o.public_key.is_some() { "yes" } else { "no" },
        o.url.as_str(),
        paths::FLEET_IMAGE_DIR.path,
        paths::FLEET_LINK.path,
    )
}

/// The reconciler: what `wasmunit-fleet.service` runs, for a reviewer to
/// read (`wasmunit fleet --out` writes it beside the fragment).
#[allow(clippy::too_many_lines)] // one shell script, read as one
pub fn script(survive_secs: u32) -> String {
    let link = paths::FLEET_LINK.path;
    let index = paths::IMAGE_FLEET_INDEX.path;
    let release = super::bundle::extension_release_path();
    let state = paths::FLEET_STATE_DIR.path;
    let good = paths::FLEET_STATE_DIR.join("good");
    let bad = paths::FLEET_STATE_DIR.join("bad");
    let applied = paths::FLEET_RUN_DIR.join("applied");
    let judging = paths::FLEET_RUN_DIR.join("judging");
    let sysusers = paths::IMAGE_SYSUSERS_DIR.path;
    let sh = paths::SH;
    format!(
        r#"# Shipped by wasmunit: run by {RECONCILER_UNIT} at boot and after each pull of
# a bundle. Do not edit: run `wasmunit fleet` again.
version_of() {{ basename "$1" | sed -n 's/^{FLEET_EXTENSION}_\(.*\)_[^_]*\.raw$/\1/p'; }}
merged() {{ sed -n 's/^IMAGE_VERSION=//p' {release} 2>/dev/null; }}
relink() {{ ln -sfn "$1" {link}.new && mv -fT {link}.new {link}; }}
# The bundle did not hold ($1 says why): back to the last one that did, once.
give_up() {{
    # A newer bundle arrived meanwhile: judge that one instead.
    [ "$(readlink -f {link})" = "$image" ] || exec {sh} "$0"
    if [ -f "$back" ] && [ "$(basename "$back")" != "$(basename "$image")" ]; then
        echo "<3>wasmunit-fleet: bundle $want failed on this node:$1; returning to bundle $(version_of "$back")"
        echo "$image" >> {bad}
        rm -f {judging}
        relink "$back" && exec {sh} "$0"
    fi
    echo "<3>wasmunit-fleet: bundle $want is not running:$1 (no earlier bundle held on this node)"
    exit 1
}}
# Whether unit $1 is up; $2 non-empty: started here, so it ran and did not restart.
judge() {{
    [ "$(systemctl show -p LoadState --value "$1")" = loaded ] || {{ failed="$failed $1 (not loaded)"; return; }}
    [ -z "$2" ] || [ "$(systemctl show -p ExecMainStartTimestampMonotonic --value "$1")" != 0 ] ||
        {{ failed="$failed $1 (never started)"; return; }}
    n=$(systemctl show -p NRestarts --value "$1")
    case $(systemctl show -p ActiveState --value "$1") in
        active|reloading) [ -z "$2" ] || [ "${{n:-0}}" = 0 ] || failed="$failed $1 (restarted $n times)" ;;
        *) r=$(systemctl show -p Result --value "$1"); [ "$r" = success ] || failed="$failed $1 ($r)" ;;
    esac
}}
mkdir -p {state}

# 1. The bundle the link names; one that failed on this node is not run again.
image=$(readlink -f {link}) || image=
back=$(cat {good} 2>/dev/null) || back=
if [ -n "$image" ] && grep -qxF "$image" {bad} 2>/dev/null && [ -f "$back" ]; then
    echo "wasmunit-fleet: bundle $(version_of "$image") failed on this node before: staying on $(version_of "$back")"
    relink "$back" && image=$back
fi
if [ ! -f "$image" ]; then
    echo "wasmunit-fleet: no bundle on this node yet ({link})"
    exit 0
fi
want=$(version_of "$image")

# 2. Merge it when /usr holds another; then the manager reads its units.
was=$(merged)
if [ "$was" != "$want" ]; then
    echo "wasmunit-fleet: merging bundle $want (/usr held ${{was:-none}})"
    systemctl restart systemd-sysext.service
    [ "$(merged)" = "$want" ] || give_up " it did not merge"
fi
[ -f {index} ] || give_up " it holds no {index}"
# The image's time stamps are all 0: the manager cannot tell new unit files
# from old ones by time, so it reads them again whenever the apps changed.
cmp -s {index} {applied} 2>/dev/null || systemctl daemon-reload

# 3. Against what this boot runs (app names are [a-z0-9-]: plain in a pattern):
#    restart the apps whose hash moved, start the new ones, stop the removed
#    ones; the first run of a boot starts them all.
start= restart= stop= check= all=
while read -r app hash unit units; do
    case $app in ''|'#'*) continue ;; esac
    old= ostart= ounits=
    line=$(grep -m1 "^$app " {applied} 2>/dev/null)
    [ -z "$line" ] || read -r _ old ostart ounits <<EOF
$line
EOF
    if [ "$unit" = - ]; then
        stop="$stop $ounits"
        continue
    fi
    svc=; case $unit in *.service) svc=$unit; all="$all $unit" ;; esac
    if [ ! -f {applied} ] || [ -z "$old" ]; then start="$start $unit"; check="$check $svc"
    elif [ "$old" != "$hash" ]; then
        restart="$restart $unit"; check="$check $svc"
        # Units it no longer has, and one that no longer starts it (a
        # service that became a timer's) stop.
        for o in $ounits; do case " $units " in *" $o "*) ;; *) stop="$stop $o" ;; esac; done
        [ "$ostart" = "$unit" ] || [ "$ostart" = - ] || stop="$stop $ostart"
    fi
done < {index}
while read -r app hash unit units; do
    case $app in ''|'#'*) continue ;; esac
    grep -q "^$app " {index} || stop="$stop $units"
done 2>/dev/null < {applied}
stop=$(echo $stop) restart=$(echo $restart) start=$(echo $start) check=$(echo $check)
[ -z "$stop" ] || systemctl stop $stop
ls {sysusers}/wasmunit-*.conf >/dev/null 2>&1 && systemd-sysusers {sysusers}/wasmunit-*.conf
failed=
[ -z "$restart" ] || systemctl restart $restart || failed="$failed (systemctl restart failed)"
[ -z "$start" ] || systemctl start $start || failed="$failed (systemctl start failed)"
# Judged from here on; a run killed before its verdict is judged again.
pending=$(cat {judging} 2>/dev/null) || pending=
mkdir -p "$(dirname {applied})" && echo "$image" > {judging}
cp {index} {applied}.new && mv -f {applied}.new {applied}

# 4. Each app started here must stay up {survive_secs} s without a restart. Before any
#    bundle has held on this node (or when a run was killed before its
#    verdict), every other app of this one must be up too.
[ -z "$check" ] || sleep {survive_secs}
for u in $check; do judge "$u" started; done
if [ ! -f "$back" ] || [ "$pending" = "$image" ]; then
    for u in $all; do case " $check " in *" $u "*) ;; *) judge "$u" ;; esac; done
fi
[ -z "$failed" ] || give_up "$failed"
rm -f {judging}
# The node keeps its own hard link of the bundle that held: sysupdate's
# cleanup of old versions cannot take the rollback target away.
keep={state}/$(basename "$image")
if [ "$back" != "$keep" ]; then
    ln -f "$image" "$keep" 2>/dev/null || {{ cp "$image" "$keep.new" && mv -f "$keep.new" "$keep"; }}
    echo "$keep" > {good}.new && mv -f {good}.new {good}
    case $back in {state}/*) [ "$back" = "$keep" ] || rm -f "$back" ;; esac
fi
echo "wasmunit-fleet: running bundle $want; restarted: ${{restart:-none}}; started: ${{start:-none}}; stopped: ${{stop:-none}}"
[ "$(readlink -f {link})" = "$image" ] || exec {sh} "$0"
exit 0
"#
    )
}

/// Where the reconciler's script lives: beside the modules, by its hash.
pub fn script_node_path(survive_secs: u32) -> String {
    use sha2::{Digest as _, Sha256};
    let sha = hex::encode(Sha256::digest(script(survive_secs).as_bytes()));
    paths::MODULE_DIR.join(&format!("{sha}.sh"))
}

fn reconciler_unit(o: &FleetOptions) -> UnitFile {
    let script = script_node_path(o.survive_secs);
    let mut unit = Section::new("Unit");
    unit.fixed(
        "Description",
        "Run the wasmunit bundle this node holds: start, restart and stop its apps",
    );
    // Not part of the boot transaction: boot does not wait for its window.
    unit.fixed("DefaultDependencies", "no");
    unit.fixed("After", "sysinit.target systemd-sysext.service");
    unit.fixed("Conflicts", "shutdown.target");
    unit.fixed("Before", "shutdown.target");
    unit.set(
        crate::unit::names::references::FILE,
        Value::plain(script.clone()),
    );
    let mut service = Section::new("Service");
    service.fixed("Type", "oneshot");
    service.command(
        "ExecStart",
        vec![vec![
            ExecWord::program(paths::SH),
            ExecWord::new(&script).expect("a plain path"),
        ]],
    );
    // Up to four windows (a rollback, a newer bundle meanwhile) and the merges.
    service.set(
        "TimeoutStartSec",
        Value::plain(format!("{}s", 4 * o.survive_secs + 600)),
    );
    service.set("StateDirectory", Value::fixed("wasmunit-fleet"));
    service.comment(
        "Root: it merges images, moves /etc/extensions' link and drives the manager. Nothing",
    );
    service
        .comment("that needs a mount namespace of its own: it reads /usr as the merge leaves it.");
    for (k, v) in [
        ("NoNewPrivileges", "yes"),
        ("RestrictRealtime", "yes"),
        ("LockPersonality", "yes"),
        ("SystemCallArchitectures", "native"),
    ] {
        service.fixed(k, v);
    }
    let mut install = Section::new("Install");
    install.fixed("WantedBy", "multi-user.target");
    UnitFile {
        name: RECONCILER_UNIT.to_owned(),
        header: vec![Comment::new(
            "Shipped by wasmunit fleet: runs the bundle the node pulled. Do not edit.",
        )],
        sections: vec![unit, service, install],
    }
}

fn update_unit() -> UnitFile {
    let mut unit = Section::new("Unit");
    unit.fixed(
        "Description",
        "Pull the newest wasmunit bundle with systemd-sysupdate, then run it",
    );
    unit.fixed("Wants", "network-online.target");
    // Not part of the boot transaction: boot does not wait for the download.
    unit.fixed("DefaultDependencies", "no");
    unit.fixed(
        "After",
        "sysinit.target network-online.target systemd-sysext.service",
    );
    unit.fixed("Conflicts", "shutdown.target");
    unit.fixed("Before", "shutdown.target");
    let mut service = Section::new("Service");
    service.fixed("Type", "oneshot");
    service.command(
        "ExecStart",
        vec![vec![
            ExecWord::program("/usr/lib/systemd/systemd-sysupdate"),
            ExecWord::program_arg("--component"),
            ExecWord::program_arg(FLEET_EXTENSION),
            ExecWord::program_arg("update"),
        ]],
    );
    service.command(
        "ExecStartPost",
        vec![vec![
            ExecWord::program(paths::SYSTEMCTL),
            ExecWord::program_arg("start"),
            ExecWord::program_arg(RECONCILER_UNIT),
        ]],
    );
    service.fixed("TimeoutStartSec", "30min");
    for (k, v) in [
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("ProtectClock", "yes"),
        ("RestrictRealtime", "yes"),
        ("LockPersonality", "yes"),
        ("SystemCallArchitectures", "native"),
    ] {
        service.fixed(k, v);
    }
    let mut install = Section::new("Install");
    // A node looks at every boot: the first boot pulls the fleet's bundle.
    install.fixed("WantedBy", "multi-user.target");
    UnitFile {
        name: UPDATE_UNIT.to_owned(),
        header: vec![Comment::new(
            "Shipped by wasmunit fleet: pulls the fleet's newest bundle. Do not edit.",
        )],
        sections: vec![unit, service, install],
    }
}

fn update_timer(o: &FleetOptions) -> UnitFile {
    let mut unit = Section::new("Unit");
    unit.fixed("Description", "Look for a new wasmunit bundle");
    let mut timer = Section::new("Timer");
    timer.set("OnUnitInactiveSec", Value::raw(&o.every));
    // Spread a fleet's downloads over the interval.
    timer.set("RandomizedDelaySec", Value::raw(&o.every));
    let mut install = Section::new("Install");
    install.fixed("WantedBy", "timers.target");
    UnitFile {
        name: UPDATE_TIMER.to_owned(),
        header: vec![Comment::new("Shipped by wasmunit fleet. Do not edit.")],
        sections: vec![unit, timer, install],
    }
}

/// The drop-in on the OS's sysupdate: whoever moves the link, the
/// reconciler runs after.
fn os_dropin() -> String {
    format!(
        "# Shipped by wasmunit fleet: when the OS's sysupdate moved the bundle link too\n\
         # (262 updates every component), {RECONCILER_UNIT} runs the new bundle.\n\
         [Service]\n\
         ExecStartPost=-{} --no-block start {RECONCILER_UNIT}\n",
        paths::SYSTEMCTL
    )
}

/// The fragment's files: the transfer, the reconciler's script and, with
/// signed bundles, the keyring.
fn node_files(o: &FleetOptions, script: &str) -> Vec<File<'static>> {
    let text = |path: String, mode: u32, t: String| File {
        path,
        size: 0,
        mode,
        contents: Resource {
            inline: Some(Text(t.into())),
            ..Resource::default()
        },
    };
    let mut files = vec![
        text(
            paths::FLEET_SYSUPDATE_DIR.join(&format!("{FLEET_EXTENSION}.transfer")),
            0o644,
            transfer(o),
        ),
        text(script_node_path(o.survive_secs), 0o644, script.to_owned()),
    ];
    if let Some(key) = &o.public_key {
        use base64::Engine as _;
        files.push(File {
            path: paths::IMPORT_PUBRING.path.to_owned(),
            size: key.0.len(),
            mode: 0o644,
            contents: Resource {
                source: Some(format!(
                    "data:;base64,{}",
                    base64::engine::general_purpose::STANDARD.encode(&key.0)
                )),
                ..Resource::default()
            },
        });
    }
    files
}

/// Every file and unit of a fleet node's fragment, and the fragment's text.
pub struct FleetFragment {
    pub units: Vec<(String, String)>,
    pub script: String,
    pub butane: String,
}

pub fn fragment(o: &FleetOptions) -> Result<FleetFragment, RenderError> {
    let units = [reconciler_unit(o), update_unit(), update_timer(o)]
        .into_iter()
        .map(|u| Ok((u.name.clone(), u.render()?)))
        .collect::<Result<Vec<_>, RenderError>>()?;
    let script = script(o.survive_secs);
    let files = node_files(o, &script);
    let mut config = Config {
        variant: "flatcar",
        version: o.butane.as_str(),
        storage: Storage {
            files,
            ..Storage::default()
        },
        systemd: SystemdUnits::default(),
    };
    for (name, body) in &units {
        config.systemd.units.push(Unit {
            name,
            enabled: Some(true),
            contents: Some(Text::borrowed(body)),
            dropins: Vec::new(),
        });
    }
    // The merge the bundles need (Flatcar enables it; other systems may not).
    config.systemd.units.push(Unit {
        name: "systemd-sysext.service",
        enabled: Some(true),
        contents: None,
        dropins: Vec::new(),
    });
    config.systemd.units.push(Unit {
        name: super::follow::SYSUPDATE_UNIT,
        enabled: None,
        contents: None,
        dropins: vec![Dropin {
            name: OS_SYSUPDATE_DROPIN,
            contents: Text(os_dropin().into()),
        }],
    });
    let header = format!(
        "# Butane fragment generated by wasmunit fleet: this node runs the bundles\n\
         # published at {} (wasmunit bundle), pulled by systemd-sysupdate.\n\
         # Merge it into your Butane config (variant flatcar); translate with\n\
         #   butane --strict config.bu > config.ign\n",
        Comment::new(o.url.as_str()).as_str()
    );
    let out = config.write_head(&header, Vec::new())?;
    let out = config.write_os_units(out)?;
    let butane = String::from_utf8(out)
        .map_err(|e| RenderError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
    Ok(FleetFragment {
        units,
        script,
        butane,
    })
}
