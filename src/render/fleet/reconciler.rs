//! The reconciler: the script `wasmunit-fleet.service` runs as root at
//! boot and after each pull (see [`super`] for what it does and why).

use crate::node::paths::{self, FLEET_EXTENSION};

/// The unit that runs the script.
pub const RECONCILER_UNIT: &str = "wasmunit-fleet.service";

/// The reconciler: what `wasmunit-fleet.service` runs, for a reviewer to
/// read (`wasmunit fleet --out` writes it beside the fragment).
#[allow(clippy::too_many_lines)] // one shell script, read as one
pub fn script(survive_secs: u32) -> String {
    let link = paths::FLEET_LINK.path;
    let index = paths::IMAGE_FLEET_INDEX.path;
    let release = crate::render::bundle::extension_release_path();
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

# 3. Against what this boot runs (app names are [a-z0-9-], a server's socket
#    is NAME:socket: plain in a pattern):
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
    svc=; case $unit in *.service|*.socket) svc=$unit; all="$all $unit" ;; esac
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
pub fn script_node_path(script: &str) -> String {
    crate::render::follow::hashed_script_path(&paths::MODULE_DIR, script)
}
