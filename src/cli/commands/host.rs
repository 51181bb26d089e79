//! The commands that act on a live host through systemd's D-Bus API:
//! `apply`, `diff`, `status`, `remove`.

use super::{rendered, to_stdout};
use crate::cli::args::{ApplyArgs, Format, RemoveArgs, StatusArgs};
use crate::error::{Error, Exit};
use crate::{deploy, pipeline, write};

/// The system manager. `--user` is refused before anything is read or
/// written: the units are system units (`DynamicUser=`, modules and unit
/// files in the system's folders), which a user manager neither finds nor
/// may run.
fn connect(user: bool) -> Result<deploy::dbus::DbusSystemd, Error> {
    if user {
        return Err(Error::Usage(format!(
            "--user is not supported: wasmunit renders system units (DynamicUser=, \
             modules under {}, unit files in {}) that a user's service manager neither \
             loads nor may run; use the system manager (run as root, or with \
             DBUS_SYSTEM_BUS_ADDRESS)",
            crate::node::paths::STATE_DIR.path,
            crate::node::paths::UNIT_DIR.path
        )));
    }
    Ok(deploy::dbus::DbusSystemd::connect(None)?)
}

/// The manifest's plan, its units, and what applying them would change;
/// with `lock`, decided while holding the lock on the unit folder (taken
/// once the manifest is known to be valid), so that two runs at once
/// never both decide from the same state.
fn planned_changes(
    args: &ApplyArgs,
    sd: &dyn deploy::dbus::Systemd,
    lock: bool,
) -> Result<(deploy::changes::Changes, Option<write::DirLock>), Error> {
    let out = rendered(&args.request()?)?;
    let held = if lock {
        let unit_dir = crate::node::paths::UNIT_DIR.under(&args.host.root);
        if !unit_dir.is_dir() {
            // Creating the folder to lock is a write: everything that
            // could refuse is asked first (and again under the lock).
            let unlocked = deploy::changes::plan(sd, &out, &args.host.root)?;
            deploy::preflight(&unlocked, &apply_options(args))?;
            write::create_dir_all(&unit_dir)?;
        }
        Some(write::lock_dir(&unit_dir)?)
    } else {
        None
    };
    let changes = deploy::changes::plan(sd, &out, &args.host.root)?;
    Ok((changes, held))
}

pub fn diff_cmd(args: &ApplyArgs) -> Result<Exit, Error> {
    let sd = connect(args.host.user)?;
    let (changes, _) = planned_changes(args, &sd, false)?;
    to_stdout(&changes.describe())?;
    Ok(if changes.is_empty() {
        Exit::Success
    } else {
        Exit::Changes
    })
}

fn apply_options(args: &ApplyArgs) -> deploy::ApplyOptions {
    deploy::ApplyOptions {
        root: args.host.root.clone(),
        start: !args.no_start,
        wait: std::time::Duration::from_secs(args.wait),
    }
}

pub fn apply_cmd(args: &ApplyArgs) -> Result<Exit, Error> {
    let sd = connect(args.host.user)?;
    let (changes, _lock) = planned_changes(args, &sd, true)?;
    let progress = crate::progress::Progress::new(1);
    if !changes.is_empty() {
        progress.step(format!(
            "applying: {} unit(s), {} file(s); waiting up to {} s for units to come up",
            changes.units.len(),
            changes.modules.len(),
            args.wait
        ));
    }
    let applied = deploy::apply(&sd, &changes, &apply_options(args));
    drop(progress);
    let applied = applied?;
    for f in &applied.folders {
        crate::say!("wasmunit: created folder {f} (granted read-only)");
    }
    for step in &applied.steps {
        crate::say!("wasmunit: {step}");
    }
    if changes.is_empty() && applied.steps.is_empty() {
        crate::say!("wasmunit: nothing to change");
    } else {
        crate::say!(
            "wasmunit: {} unit file(s) written, {} unchanged, {} module(s) installed, {} unit(s) removed",
            applied.units.written.len(),
            applied.units.unchanged.len(),
            applied.modules.len(),
            applied.removed.len()
        );
    }
    for f in &applied.identity_removed {
        crate::say!("wasmunit: deleted {f} (no app of the manifest needs it; the account stays)");
    }
    if applied.rolled_back.is_empty() {
        for f in &changes.identity_edited {
            crate::say!(
                "wasmunit: kept {f}: no app of the manifest needs it, but it was edited since \
                 wasmunit wrote it (the next boot still applies it)"
            );
        }
    }
    for f in &applied.modules_removed {
        crate::say!("wasmunit: deleted {f} (no installed unit names it)");
    }
    to_stdout(&deploy::format_states(&applied.states))?;
    if !applied.rolled_back.is_empty() {
        return Err(Error::RolledBack {
            units: applied.rolled_back,
            wait_s: args.wait,
        });
    }
    Ok(unit_outcome(&applied.states))
}

/// A unit in the `failed` state is the host's failure, not wasmunit's.
fn unit_outcome(states: &[(String, deploy::dbus::UnitState)]) -> Exit {
    if states.iter().any(|(_, s)| s.active == "failed") {
        Exit::UnitFailed
    } else {
        Exit::Success
    }
}

/// A manifest's unit names with its servers' forwarders as installed:
/// whether a server has one depends on the wasmtime it was applied for
/// (`--wasmtime`, a pin), which the manifest alone does not say.
fn as_installed(mut names: Vec<String>, unit_dir: &std::path::Path) -> Result<Vec<String>, Error> {
    let owned = if unit_dir.is_dir() {
        write::owned_files(unit_dir)?
    } else {
        write::Owned::default()
    };
    let forwarders: Vec<String> = names
        .iter()
        .filter_map(|n| crate::manifest::app_name::AppName::of_socket_unit(n))
        .map(|app| app.proxy_unit())
        .collect();
    names.retain(|n| !forwarders.contains(n));
    names.extend(forwarders.into_iter().filter(|f| owned.contains_key(f)));
    Ok(names)
}

pub fn status_cmd(args: &StatusArgs) -> Result<Exit, Error> {
    let unit_dir = crate::node::paths::UNIT_DIR.under(&args.host.root);
    // Only the unit names matter: no module is read, hashed or checked.
    let names = match &args.manifest {
        Some(m) => as_installed(pipeline::unit_names(m)?, &unit_dir)?,
        None => write::owned_files(&unit_dir)?.into_keys().collect(),
    };
    let sd = connect(args.host.user)?;
    let states = deploy::status(&sd, &names)?;
    let drift = deploy::status::drift(&args.host.root, &names)?;
    match args.format {
        Format::Human => {
            to_stdout(&deploy::format_states(&states))?;
            for (name, why) in &drift {
                to_stdout(&format!("drift: {name}: {why}\n"))?;
            }
        }
        Format::Json => to_stdout(&deploy::status::json(&states, &drift))?,
    }
    Ok(unit_outcome(&states))
}

pub fn remove_cmd(args: &RemoveArgs) -> Result<Exit, Error> {
    let unit_dir = crate::node::paths::UNIT_DIR.under(&args.host.root);
    let only = match &args.manifest {
        Some(m) => Some(as_installed(pipeline::unit_names(m)?, &unit_dir)?),
        None => None,
    };
    let sd = connect(args.host.user)?;
    let _lock = if unit_dir.is_dir() {
        Some(write::lock_dir(&unit_dir)?)
    } else {
        None
    };
    let removed = deploy::remove(&sd, &args.host.root, only.as_deref())?;
    crate::say!("wasmunit: removed {}", removed.removed.join(" "));
    for f in &removed.kept {
        crate::say!(
            "wasmunit: kept {f}: edited since wasmunit wrote it (the next boot still applies it)"
        );
    }
    Ok(Exit::Success)
}
