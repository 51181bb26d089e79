//! Applying decided changes: modules and folders first, the unit files
//! atomically, the manager's calls, the wait, a rollback of every unit
//! when one does not come up, and only then what the manifest dropped.

use std::path::{Path, PathBuf};

use super::changes::{Changes, ModuleCopy, UnitChange};
use super::collect::{collect_modules, collect_runtimes, collect_shipped};
use super::dbus::{Systemd, UnitState};
use super::identity::remove_identity_files;
use super::preflight::{preflight, ApplyOptions};
use super::remove::remove_units;
use super::status::status;
use super::steps::{currents, execute, steps_for, Current, Step};
use super::wait::{came_up, wait_settled, watched_units};
use super::{DeployError, Result};
use crate::write::{self, FileError, Op};

#[derive(Debug, Default)]
pub struct Applied {
    pub units: write::DirWrite,
    pub modules: Vec<String>,
    /// Read-only host folders created empty.
    pub folders: Vec<String>,
    pub steps: Vec<Step>,
    pub states: Vec<(String, UnitState)>,
    /// Units that did not come up: their previous files were restored.
    pub rolled_back: Vec<String>,
    /// Units the manifest dropped: stopped, disabled, deleted.
    pub removed: Vec<String>,
    /// Identity files no app of the manifest has (node paths), deleted
    /// after the units.
    pub identity_removed: Vec<String>,
    /// Modules (and shipped files) wasmunit copied that no installed unit
    /// names any more.
    pub modules_removed: Vec<String>,
}

/// Applies `changes` (from [`super::changes::plan`]) to the host.
pub fn apply(sd: &dyn Systemd, changes: &Changes, opts: &ApplyOptions) -> Result<Applied> {
    preflight(changes, opts)?;
    let mut applied = Applied {
        folders: create_folders(&opts.root, &changes.folders)?,
        modules: write_modules(&opts.root, &changes.modules)?,
        ..Applied::default()
    };
    create_static_users(&opts.root, &changes.static_users)?;
    // Read before writing: whether the manager still runs an older text
    // than the file (an interrupted apply) is only known before.
    let before: std::collections::BTreeMap<String, Current> = currents(sd, &changes.units);
    // Dropped units keep their files until the new ones are up.
    applied.units = write::write_dir(&changes.unit_dir, &changes.files_keeping_removed())?;
    let files_changed = !applied.units.written.is_empty() || !applied.units.removed.is_empty();
    let steps = steps_for(
        &changes.units,
        &|u| before.get(u).cloned().unwrap_or_default(),
        files_changed,
        opts.start,
    );
    let freed = free_removed_ports(sd, changes)?;
    execute(sd, &steps)?;
    applied.steps.clone_from(&steps);

    let watched = watched_units(changes, &steps);
    let names: Vec<String> = changes.units.iter().map(|(u, _)| u.name.clone()).collect();
    if opts.start && !watched.is_empty() {
        wait_settled(sd, &opts.root, &watched, opts.wait)?;
    }
    applied.states = status(sd, &names)?;
    let failed: Vec<String> = applied
        .states
        .iter()
        .filter(|(n, s)| watched.contains(n) && !came_up(s))
        .map(|(n, _)| n.clone())
        .collect();
    if !failed.is_empty() {
        roll_back(sd, changes)?;
        for socket in &freed {
            sd.start(socket)?;
        }
        applied.rolled_back = failed;
        return Ok(applied);
    }
    applied.removed = remove_units(
        sd,
        &changes.unit_dir,
        &changes.removed,
        &changes.new_files(),
    )?;
    // Their identity files after them, as `remove` does.
    applied.identity_removed = remove_identity_files(&opts.root, &changes.identity_removed)?;
    applied.modules_removed = collect_modules(&opts.root)?;
    applied
        .modules_removed
        .extend(collect_runtimes(&opts.root)?);
    applied
        .modules_removed
        .extend(collect_shipped(&opts.root, Some(&changes.shipped))?);
    Ok(applied)
}

/// The static users of the manifest's sysusers.d files (all of them, each
/// apply: a no-op for users that exist), before any unit that runs as one
/// starts (at a first boot systemd-sysusers.service does it). Their
/// folders are the units' own `ExecStartPre=` (systemd-tmpfiles).
fn create_static_users(root: &Path, sysusers: &[String]) -> Result<()> {
    for path in sysusers {
        let name = path.rsplit('/').next().unwrap_or_default();
        let o = std::process::Command::new("systemd-sysusers")
            .arg(format!("--root={}", root.display()))
            .arg(name)
            .output()
            .map_err(|source| DeployError::SysusersSpawn { source })?;
        if !o.status.success() {
            return Err(DeployError::Sysusers {
                file: name.to_owned(),
                stderr: String::from_utf8_lossy(&o.stderr).trim().to_owned(),
            });
        }
    }
    Ok(())
}

/// Granted folders exist before any unit that names them starts.
fn create_folders(root: &Path, folders: &[String]) -> Result<Vec<String>> {
    for f in folders {
        mkdir_below(root, f)?;
    }
    Ok(folders.to_vec())
}

/// `mkdir -p ROOT/REL` (0755) one component at a time, following no link
/// below `root`: the folder may lie below one an app can write, and a
/// link planted there must not take root's `mkdir` elsewhere.
fn mkdir_below(root: &Path, rel: &str) -> Result<()> {
    use rustix::fs::{mkdirat, openat, Mode, OFlags};
    use rustix::io::Errno;
    // Not O_PATH: with it, O_NOFOLLOW opens the link itself.
    let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let target = root.join(rel.trim_start_matches('/'));
    let mut fd = openat(
        rustix::fs::CWD,
        root,
        OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| FileError::at(Op::Create, &target)(e.into()))?;
    let mut at = root.to_path_buf();
    for name in rel.split('/').filter(|n| !n.is_empty()) {
        at.push(name);
        match mkdirat(&fd, name, Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(FileError::at(Op::Create, &at)(e.into()).into()),
        }
        fd = match openat(&fd, name, dir_flags, Mode::empty()) {
            Ok(next) => next,
            Err(Errno::LOOP | Errno::NOTDIR) => {
                return Err(DeployError::LinkOnTheWay {
                    path: target,
                    link: at,
                })
            }
            Err(e) => return Err(FileError::at(Op::Create, &at)(e.into()).into()),
        };
    }
    Ok(())
}

/// Modules first, all durable (and recorded as owned, by the hash of the
/// bytes really written) before any unit names them.
fn write_modules(root: &Path, modules: &[ModuleCopy]) -> Result<Vec<String>> {
    let mut by_dir: std::collections::BTreeMap<PathBuf, Vec<(String, &[u8])>> =
        std::collections::BTreeMap::new();
    for m in modules {
        let dest = root.join(m.node_path.trim_start_matches('/'));
        let dir = dest.parent().unwrap_or(root).to_path_buf();
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        by_dir
            .entry(dir)
            .or_default()
            .push((name, m.bytes.as_slice()));
    }
    for (dir, files) in &by_dir {
        write::create_dir_all(dir)?;
        let hashes: Vec<(String, String)> = files
            .iter()
            .map(|(n, b)| {
                (
                    n.clone(),
                    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b)),
                )
            })
            .collect();
        write::record_owned(dir, &hashes)?;
        write::atomic_write_all(dir, files)?;
    }
    Ok(modules.iter().map(|m| m.node_path.clone()).collect())
}

/// Removed sockets that are listening, stopped before the new units start:
/// the port one holds may be what a new unit takes (a server that now binds
/// it itself, another app's socket). Their forwarders stop with them
/// (`Requires=`). A roll-back starts them again.
fn free_removed_ports(sd: &dyn Systemd, changes: &Changes) -> Result<Vec<String>> {
    let mut freed = Vec::new();
    for (name, _) in changes
        .removed
        .iter()
        .filter(|(n, _)| n.ends_with(".socket"))
    {
        if sd.state(name)?.active == "active" {
            sd.stop(name)?;
            freed.push(name.clone());
        }
    }
    Ok(freed)
}

/// The previous unit files back, the new units stopped, the restored ones
/// restarted: every unit of the apply, not only the ones that failed (the
/// manifest is applied whole or not at all).
fn roll_back(sd: &dyn Systemd, changes: &Changes) -> Result<()> {
    for (u, c) in &changes.units {
        if *c == UnitChange::Added && u.enabled.is_some() {
            let _ = sd.stop(&u.name);
            sd.disable(std::slice::from_ref(&u.name))?;
        }
    }
    write::write_dir(&changes.unit_dir, &changes.old_files())?;
    sd.reload()?;
    for (u, c) in &changes.units {
        let was_effective = matches!(
            c,
            UnitChange::Changed {
                effective: true,
                ..
            }
        );
        if was_effective && u.enabled == Some(true) && u.name.ends_with(".service") {
            sd.restart(&u.name)?;
        }
    }
    Ok(())
}
