//! Deploying rendered units on a live host (or any root with a systemd on
//! D-Bus). [`changes::plan`] decides everything and refuses before any side
//! effect; [`apply`] then copies modules, writes unit files atomically,
//! reloads once, enables, starts and restarts only what changed, waits for
//! the changed units to come up, rolls them back when they do not, and only
//! then stops, disables and deletes the units the manifest dropped.

pub(crate) mod changes;
pub(crate) mod liveness;
pub(crate) mod status;
pub mod systemd;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

use crate::render::RenderedUnit;
use crate::unit::names::{references, FOLLOW_UNIT, GROUP_TARGET};
use crate::write;
use changes::{Changes, ModuleCopy, UnitChange};
use systemd::{Systemd, UnitState};

/// Where unit files go below the root.
pub const UNIT_DIR: &str = crate::node::paths::UNIT_DIR.relative();

/// One call to the service manager that changes its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Stop(String),
    Disable(Vec<String>),
    Reload,
    Enable(Vec<String>),
    Restart(String),
    Start(String),
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Stop(u) => write!(f, "stop {u}"),
            Step::Disable(us) => write!(f, "disable {}", us.join(" ")),
            Step::Reload => f.write_str("reload"),
            Step::Enable(us) => write!(f, "enable {}", us.join(" ")),
            Step::Restart(u) => write!(f, "restart {u}"),
            Step::Start(u) => write!(f, "start {u}"),
        }
    }
}

pub fn execute(sd: &dyn Systemd, steps: &[Step]) -> Result<()> {
    for step in steps {
        match step {
            Step::Stop(u) => sd.stop(u)?,
            Step::Disable(us) => sd.disable(us)?,
            Step::Reload => sd.reload()?,
            Step::Enable(us) => sd.enable(us)?,
            Step::Restart(u) => sd.restart(u)?,
            Step::Start(u) => sd.start(u)?,
        }
    }
    Ok(())
}

/// A unit's state and install state, as read before acting.
#[derive(Debug, Clone, Default)]
pub struct Current {
    pub active: String,
    pub file_state: String,
    /// The manager runs an older text than the file on disk.
    pub need_reload: bool,
}

/// The calls that bring the units to what the manifest says, given what
/// changed and their current state: nothing for a unit already right.
pub fn steps_for(
    changes: &[(RenderedUnit, UnitChange)],
    current: &dyn Fn(&str) -> Current,
    files_changed: bool,
    start: bool,
) -> Vec<Step> {
    let mut steps = Vec::new();
    let stale_loaded: Vec<bool> = changes
        .iter()
        .map(|(u, _)| current(&u.name).need_reload)
        .collect();
    let any_stale = stale_loaded.contains(&true);
    let mut enable = Vec::new();
    let mut disable = Vec::new();
    let mut stop = Vec::new();
    let mut restart = Vec::new();
    let mut starts = Vec::new();
    let mut start_target = false;
    for ((u, change), stale) in changes.iter().zip(stale_loaded) {
        let now = current(&u.name);
        match u.enabled {
            Some(true) => {
                if now.file_state != "enabled" || *change == UnitChange::Added {
                    enable.push(u.name.clone());
                }
                let running = matches!(now.active.as_str(), "active" | "activating" | "reloading");
                // A file the manager never loaded (an interrupted apply)
                // counts as changed.
                let effective = stale
                    || matches!(
                        change,
                        UnitChange::Changed {
                            effective: true,
                            ..
                        }
                    );
                if u.name == GROUP_TARGET {
                    start_target |= !running;
                } else if running {
                    if effective {
                        restart.push(u.name.clone());
                    }
                } else if *change != UnitChange::Same || u.name.ends_with(".timer") {
                    // Started by name: starting an already active group
                    // target does not pull in units added since.
                    starts.push(u.name.clone());
                }
            }
            Some(false) => {
                if now.file_state == "enabled" {
                    disable.push(u.name.clone());
                }
                if matches!(now.active.as_str(), "active" | "activating" | "reloading") {
                    stop.push(u.name.clone());
                }
            }
            None => {}
        }
    }
    // Links first, then one reload, as `systemctl enable` does: the
    // reload loads the group target's new wants with the new files.
    let links_changed = !enable.is_empty() || !disable.is_empty();
    if !enable.is_empty() {
        steps.push(Step::Enable(enable));
    }
    if !disable.is_empty() {
        steps.push(Step::Disable(disable));
    }
    if files_changed || links_changed || any_stale {
        steps.push(Step::Reload);
    }
    steps.extend(stop.into_iter().map(Step::Stop));
    if start {
        steps.extend(restart.into_iter().map(Step::Restart));
        if start_target {
            // One transaction starts every enabled app with the target;
            // a start per app would queue them one round trip at a time
            // while the manager is busy spawning the first ones.
            steps.push(Step::Start(GROUP_TARGET.to_owned()));
            starts.retain(|u| !wanted_by_group_target(changes, u));
        }
        steps.extend(starts.into_iter().map(Step::Start));
    }
    steps
}

/// Whether starting the group target starts `unit`: an enabled app unit
/// (each is `WantedBy=` it; wasmunit-follow is wanted by the system).
fn wanted_by_group_target(changes: &[(RenderedUnit, UnitChange)], unit: &str) -> bool {
    unit != FOLLOW_UNIT
        && unit != GROUP_TARGET
        && changes
            .iter()
            .any(|(u, _)| u.name == unit && u.enabled == Some(true))
}

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

/// Where modules live below the root.
pub const MODULE_DIR: &str = crate::node::paths::MODULE_DIR.relative();

/// Deletes the modules wasmunit copied that no unit it installed names
/// (`AssertFileNotEmpty=`); never a module it did not copy.
pub fn collect_modules(root: &Path) -> Result<Vec<String>> {
    let referenced: Vec<String> = owned_unit_values(root, references::FILE)?
        .iter()
        .filter_map(|path| path.rsplit('/').next().map(str::to_owned))
        .collect();
    let dir = root.join(MODULE_DIR);
    if !dir.exists() {
        return Ok(Vec::new());
    }
    write::remove_owned_except(&dir, &referenced)
}

/// Deletes the pinned wasmtime images wasmunit copied that no unit it
/// installed names (`ExtensionImages=`), and their emptied folders.
pub fn collect_runtimes(root: &Path) -> Result<Vec<String>> {
    let base = crate::plan::runtime::NODE_RUNTIME_DIR;
    let dir = root.join(base.trim_start_matches('/'));
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let referenced = owned_unit_values(root, references::IMAGE)?;
    let mut removed = Vec::new();
    let mut subdirs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && !p.is_symlink())
        .collect();
    subdirs.sort();
    for sub in subdirs {
        let node = format!("/{}", sub.strip_prefix(root).unwrap_or(&sub).display());
        let keep: Vec<String> = referenced
            .iter()
            .filter_map(|r| r.strip_prefix(&format!("{node}/")).map(str::to_owned))
            .collect();
        for name in write::remove_owned_except(&sub, &keep)? {
            removed.push(format!("{node}/{name}"));
        }
        // An emptied folder of ours goes too (the tree is wasmunit's own).
        if sub.read_dir().is_ok_and(|mut d| d.next().is_none()) {
            let _ = std::fs::remove_dir(&sub);
        }
    }
    Ok(removed)
}

/// The values of `key` in every unit file wasmunit installed, as written
/// (the units name their modules and shipped folders in plain words).
fn owned_unit_values(root: &Path, key: &str) -> Result<Vec<String>> {
    let unit_dir = root.join(UNIT_DIR);
    let mut out = Vec::new();
    for name in write::owned_files(&unit_dir)?.keys() {
        let Ok(text) = std::fs::read_to_string(unit_dir.join(name)) else {
            continue;
        };
        out.extend(references::values(&text, key).map(str::to_owned));
    }
    Ok(out)
}

/// Deletes shipped files wasmunit installed that are no longer wanted: the
/// whole grant folder (`FILES_DIR/APP/N` of [`crate::node::paths`]) when no installed
/// unit names it (`ReadOnlyPaths=`), and, given `keep` (every shipped file
/// the manifest has, as node paths), files dropped from a grant's source.
/// Only files whose bytes are still what wasmunit wrote; folders only once
/// empty. Never anything it did not write.
pub fn collect_shipped(
    root: &Path,
    keep: Option<&std::collections::BTreeSet<String>>,
) -> Result<Vec<String>> {
    let files_root = root.join(crate::plan::shipped::NODE_FILES_DIR.trim_start_matches('/'));
    if !files_root.is_dir() {
        return Ok(Vec::new());
    }
    let referenced: std::collections::BTreeSet<String> =
        owned_unit_values(root, references::SHIPPED)?
            .into_iter()
            .filter(|p| p.starts_with(crate::plan::shipped::NODE_FILES_DIR))
            .collect();
    let mut removed = Vec::new();
    collect_tree(root, &files_root, &referenced, keep, false, &mut removed)?;
    Ok(removed)
}

/// One folder of the shipped-files tree, depth first; `inside` tells
/// whether it lies in a grant folder some unit still names.
fn collect_tree(
    root: &Path,
    dir: &Path,
    referenced: &std::collections::BTreeSet<String>,
    keep: Option<&std::collections::BTreeSet<String>>,
    inside: bool,
    removed: &mut Vec<String>,
) -> Result<()> {
    let node = |p: &Path| format!("/{}", p.strip_prefix(root).unwrap_or(p).display());
    let inside = inside || referenced.contains(&node(dir));
    let mut subdirs = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let e = e?;
        if e.file_type()?.is_dir() {
            subdirs.push(e.path());
        }
    }
    subdirs.sort();
    for sub in &subdirs {
        collect_tree(root, sub, referenced, keep, inside, removed)?;
    }
    let wanted: Vec<String> = match (inside, keep) {
        // A named grant, without the manifest at hand: keep it all.
        (true, None) => return Ok(()),
        (true, Some(keep)) => write::owned_files(dir)?
            .into_keys()
            .filter(|n| keep.contains(&node(&dir.join(n))))
            .collect(),
        (false, _) => Vec::new(),
    };
    for name in write::remove_owned_except(dir, &wanted)? {
        removed.push(node(&dir.join(name)));
    }
    // An emptied folder of ours goes too (the tree is wasmunit's own).
    if dir.read_dir().is_ok_and(|mut d| d.next().is_none()) {
        let _ = std::fs::remove_dir(dir);
    }
    Ok(())
}

/// The folders of a static identity's files: systemd-sysusers creates the
/// account at each boot from one, systemd-tmpfiles its folders from the
/// other.
const IDENTITY_DIRS: [crate::node::paths::Place; 2] = [
    crate::node::paths::SYSUSERS_DIR,
    crate::node::paths::TMPFILES_DIR,
];

use crate::node::paths::LOOP_CONTROL;

/// Identity files wasmunit wrote that nothing wants any more (node paths).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UnwantedIdentity {
    /// Still the bytes wasmunit wrote: deleted.
    pub removable: Vec<String>,
    /// Edited since, or no longer a regular file: kept (and said so).
    pub edited: Vec<String>,
}

/// The files wasmunit wrote into sysusers.d and tmpfiles.d that `keep`
/// (asked with each node path) does not want. Only files the folder's
/// ownership marker lists, as wasmunit lists every file it writes there
/// with the SHA-256 it wrote; a file of a similar name that it does not
/// list (a user's `wasmunit-x.conf`) is never even read. Reads only.
pub(crate) fn unwanted_identity_files(
    root: &Path,
    keep: &dyn Fn(&str) -> bool,
) -> Result<UnwantedIdentity> {
    let mut out = UnwantedIdentity::default();
    for place in IDENTITY_DIRS {
        let dir = place.under(root);
        if !dir.is_dir() {
            continue;
        }
        for (name, hashes) in write::owned_files(&dir)? {
            let node = place.join(&name);
            if keep(&node) {
                continue;
            }
            let path = dir.join(&name);
            match std::fs::symlink_metadata(&path) {
                // Gone already: nothing to delete.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
                Ok(md) if md.is_file() => {
                    let have = crate::plan::module::hash_file(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    if hashes.contains(&have) {
                        out.removable.push(node);
                    } else {
                        out.edited.push(node);
                    }
                }
                Ok(_) => out.edited.push(node),
            }
        }
    }
    Ok(out)
}

/// Deletes `files` (node paths from [`unwanted_identity_files`]), each
/// only while it still holds the bytes wasmunit wrote; returns the ones
/// deleted. The accounts stay: systemd-sysusers never deletes one, and a
/// user's files may still be owned by it.
fn remove_identity_files(root: &Path, files: &[String]) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    for place in IDENTITY_DIRS {
        let doomed: Vec<&str> = files
            .iter()
            .filter_map(|f| f.strip_prefix(place.path)?.strip_prefix('/'))
            .collect();
        if doomed.is_empty() {
            continue;
        }
        let dir = place.under(root);
        let keep: Vec<String> = write::owned_files(&dir)?
            .into_keys()
            .filter(|n| !doomed.contains(&n.as_str()))
            .collect();
        for name in write::remove_owned_except(&dir, &keep)? {
            removed.push(place.join(&name));
        }
    }
    Ok(removed)
}

/// The app an identity file is named for (the inverse of
/// [`crate::node::paths::identity_file_name`]).
fn identity_app(file_name: &str) -> Option<crate::manifest::app_name::AppName> {
    let probe = crate::node::paths::identity_file_name("\0");
    let (before, after) = probe.split_once('\0')?;
    let app = file_name.strip_prefix(before)?.strip_suffix(after)?;
    crate::manifest::app_name::AppName::parse(app).ok()
}

/// Why `path` (a folder apply writes into or creates) could not be
/// written, if it could not: its nearest existing ancestor must be a
/// folder this process may write into (root may not on a read-only file
/// system).
fn unwritable(path: &Path) -> Option<String> {
    let mut at = path;
    loop {
        match std::fs::metadata(at) {
            Ok(md) if md.is_dir() => break,
            Ok(_) => {
                return Some(format!(
                    "{} is not a folder (apply writes {})",
                    at.display(),
                    path.display()
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match at.parent() {
                Some(p) => at = p,
                None => return Some(format!("{} has no existing parent", path.display())),
            },
            Err(e) => return Some(format!("cannot read {}: {e}", at.display())),
        }
    }
    let access = rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK;
    rustix::fs::access(at, access).err().map(|e| {
        let why = std::io::Error::from(e);
        if at == path {
            format!("{} is not writable: {why}", path.display())
        } else {
            format!(
                "{} is not writable: {why} (apply creates {} in it)",
                at.display(),
                path.display()
            )
        }
    })
}

/// Why `path` is no program this process could have the manager run.
fn not_executable(path: &Path) -> Option<String> {
    match std::fs::metadata(path) {
        Ok(md) if md.is_file() => rustix::fs::access(path, rustix::fs::Access::EXEC_OK)
            .err()
            .map(|e| {
                format!(
                    "{} is not executable: {}",
                    path.display(),
                    std::io::Error::from(e)
                )
            }),
        Ok(_) => Some(format!("{} is not a file", path.display())),
        Err(e) => Some(format!("{} is missing: {e}", path.display())),
    }
}

/// `app` or `apps a, b, c`, for messages.
fn apps_named(apps: &[String]) -> String {
    match apps {
        [one] => format!("app `{one}`"),
        _ => format!("apps `{}`", apps.join("`, `")),
    }
}

/// Every folder apply writes into, creates, or deletes from (below the
/// root).
fn written_folders(changes: &Changes, root: &Path) -> std::collections::BTreeSet<PathBuf> {
    use crate::node::paths;
    let below = |node: &str| root.join(node.trim_start_matches('/'));
    let parent = |p: PathBuf| p.parent().unwrap_or(root).to_path_buf();
    let mut folders = std::collections::BTreeSet::new();
    folders.insert(changes.unit_dir.clone());
    folders.extend(changes.modules.iter().map(|m| parent(below(&m.node_path))));
    folders.extend(changes.folders.iter().map(|f| below(f)));
    folders.extend(changes.identity_removed.iter().map(|f| parent(below(f))));
    // What is collected after a successful apply (ownership markers are
    // rewritten there).
    for place in [paths::MODULE_DIR, paths::RUNTIME_DIR, paths::FILES_DIR] {
        let at = place.under(root);
        if at.is_dir() {
            folders.insert(at);
        }
    }
    if !changes.static_users.is_empty() {
        // systemd-sysusers writes the account databases beside sysusers.d.
        folders.insert(parent(paths::SYSUSERS_DIR.under(root)));
    }
    folders
}

/// Why systemd-sysusers (on `PATH`) cannot be run, if it cannot.
fn sysusers_missing() -> Option<String> {
    let run = std::process::Command::new("systemd-sysusers")
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .output();
    match run {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "`systemd-sysusers --version` failed ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Some(format!("cannot run systemd-sysusers: {e}")),
    }
}

/// Everything `apply` relies on beyond the manifest, checked before its
/// first write (a file, or a call that changes the manager's state):
/// write access to every folder it writes into, creates or deletes from;
/// the programs it runs (systemd-sysusers for a static identity); and,
/// when it starts units, what they run on the node (`/usr/bin/wasmtime`,
/// systemd-tmpfiles for a static identity's folders, loop devices for a
/// pinned image), below the root (the manager's root as seen from here:
/// `/` on a live host). The manager's release, foreign unit names, edited
/// files and modules are [`changes::plan`]'s refusals. Every problem at
/// once; nothing is changed.
pub fn preflight(changes: &Changes, opts: &ApplyOptions) -> Result<()> {
    use crate::node::paths;
    let root = &opts.root;
    let below = |node: &str| root.join(node.trim_start_matches('/'));
    let mut problems: Vec<String> = written_folders(changes, root)
        .iter()
        .filter_map(|f| unwritable(f))
        .collect();

    let needs = &changes.needs;
    if !needs.sysusers.is_empty() {
        if let Some(why) = sysusers_missing() {
            problems.push(format!(
                "{why}; apply creates the static user of {} with it (systemd's sysusers tool, on PATH)",
                apps_named(&needs.sysusers)
            ));
        }
    }
    if opts.start {
        if !needs.wasmtime.is_empty() {
            if let Some(why) = not_executable(&below(paths::WASMTIME)) {
                problems.push(format!(
                    "{why}; the node's wasmtime runs {} (merge the wasmtime sysext first, or \
                     apply with --no-start)",
                    apps_named(&needs.wasmtime)
                ));
            }
        }
        if !needs.tmpfiles.is_empty() {
            if let Some(why) = not_executable(&below(paths::SYSTEMD_TMPFILES)) {
                problems.push(format!(
                    "{why}; the units of {} create their folders with it before each start",
                    apps_named(&needs.tmpfiles)
                ));
            }
        }
        if !needs.loop_devices.is_empty() {
            use std::os::unix::fs::FileTypeExt as _;
            let at = below(LOOP_CONTROL);
            let char_device = std::fs::metadata(&at).is_ok_and(|m| m.file_type().is_char_device());
            if !char_device {
                problems.push(format!(
                    "{} is missing or no device; the manager mounts the pinned wasmtime image of \
                     {} with a loop device",
                    at.display(),
                    apps_named(&needs.loop_devices)
                ));
            }
        }
    }
    if !problems.is_empty() {
        bail!(
            "refusing to apply; nothing was changed:\n  {}",
            problems.join("\n  ")
        );
    }
    Ok(())
}

pub struct ApplyOptions {
    pub root: PathBuf,
    pub start: bool,
    /// How long to wait for started units to settle.
    pub wait: Duration,
}

/// What the manager has of each unit now (a unit it cannot read: nothing).
/// One call lists them all; only the ones the manager knows are read
/// whole (on a first apply, none).
fn currents(
    sd: &dyn Systemd,
    units: &[(RenderedUnit, UnitChange)],
) -> std::collections::BTreeMap<String, Current> {
    let names: Vec<String> = units.iter().map(|(u, _)| u.name.clone()).collect();
    // Unreadable in one call: read each whole.
    let listed = sd
        .progress(&names)
        .unwrap_or_else(|_| vec![UnitState::default(); names.len()]);
    let known: Vec<String> = names
        .iter()
        .zip(&listed)
        .filter(|(_, s)| s.load != "not-found")
        .map(|(n, _)| n.clone())
        .collect();
    let snapshots = sd.snapshots(&known).unwrap_or_else(|_| {
        known
            .iter()
            .map(|u| sd.snapshot(u).unwrap_or_default())
            .collect()
    });
    let mut currents: std::collections::BTreeMap<String, Current> = names
        .into_iter()
        .zip(listed)
        .map(|(name, s)| {
            (
                name,
                Current {
                    active: s.active,
                    ..Current::default()
                },
            )
        })
        .collect();
    for (name, (state, file)) in known.into_iter().zip(snapshots) {
        let current = Current {
            active: state.active,
            file_state: file.file_state,
            need_reload: file.need_reload,
        };
        currents.insert(name, current);
    }
    currents
}

/// Applies `changes` (from [`changes::plan`]) to the host.
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
            .context("cannot run systemd-sysusers")?;
        if !o.status.success() {
            anyhow::bail!(
                "systemd-sysusers {name} failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            );
        }
    }
    Ok(())
}

/// Granted folders exist before any unit that names them starts.
fn create_folders(root: &Path, folders: &[String]) -> Result<Vec<String>> {
    use std::os::unix::fs::DirBuilderExt as _;
    for f in folders {
        let at = root.join(f.trim_start_matches('/'));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&at)
            .with_context(|| format!("cannot create {}", at.display()))?;
    }
    Ok(folders.to_vec())
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
        std::fs::create_dir_all(dir)?;
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

/// The services whose start this apply caused: watched until they settle.
/// (Starting the group target starts every enabled service.)
fn watched_units(changes: &Changes, steps: &[Step]) -> Vec<String> {
    let target = steps.contains(&Step::Start(GROUP_TARGET.to_owned()));
    let mut w: Vec<String> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Restart(u) | Step::Start(u) if u.ends_with(".service") => Some(u.clone()),
            _ => None,
        })
        .collect();
    if target {
        for (u, _) in &changes.units {
            if u.enabled == Some(true) && u.name.ends_with(".service") && !w.contains(&u.name) {
                w.push(u.name.clone());
            }
        }
    }
    w
}

/// Running, or finished with success (a command that ran to its end).
fn came_up(s: &UnitState) -> bool {
    match s.active.as_str() {
        "active" | "reloading" => true,
        "inactive" => s.result.is_empty() || s.result == "success",
        _ => false,
    }
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

/// Stops, disables and deletes `units` (name, text): only ones wasmunit
/// owns; `keep` are the files that stay.
fn remove_units(
    sd: &dyn Systemd,
    unit_dir: &Path,
    units: &[(String, String)],
    keep: &[write::OutFile],
) -> Result<Vec<String>> {
    if units.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<String> = units.iter().map(|(n, _)| n.clone()).collect();
    for n in &names {
        if sd
            .state(n)
            .is_ok_and(|s| s.active != "inactive" && s.active != "failed")
        {
            sd.stop(n)?;
        }
    }
    sd.disable(&names)?;
    let r = write::write_dir(unit_dir, keep)?;
    sd.reload()?;
    Ok(r.removed)
}

/// What `remove` deleted, and what it kept.
#[derive(Debug, Default)]
pub struct Removed {
    /// Unit files, then identity files, then modules and other files
    /// wasmunit shipped.
    pub removed: Vec<String>,
    /// Identity files of removed apps edited since wasmunit wrote them.
    pub kept: Vec<String>,
}

/// `wasmunit remove`: every unit wasmunit owns in the unit folder (or only
/// `only`), stopped, disabled, deleted, then the identity files of the apps
/// whose service unit is gone (so the next boot creates no account or
/// folder for them; existing accounts stay), then what no installed unit
/// names; never anything else.
pub fn remove(sd: &dyn Systemd, root: &Path, only: Option<&[String]>) -> Result<Removed> {
    let unit_dir = root.join(UNIT_DIR);
    let owned = write::owned_files(&unit_dir)?;
    let mut units = Vec::new();
    let mut keep = Vec::new();
    for name in owned.keys() {
        let Ok(text) = std::fs::read_to_string(unit_dir.join(name)) else {
            continue;
        };
        if only.is_none_or(|o| o.contains(name)) {
            units.push((name.clone(), text));
        } else {
            keep.push(write::OutFile {
                name: name.clone(),
                bytes: text.into_bytes(),
            });
        }
    }
    // An identity file stays while its app's service unit does (also one
    // a wasmunit without this rule left behind is collected).
    let identity = unwanted_identity_files(root, &|node: &str| {
        let name = node.rsplit('/').next().unwrap_or_default();
        identity_app(name).is_some_and(|app| keep.iter().any(|f| f.name == app.service_unit()))
    })?;
    if units.is_empty() && identity.removable.is_empty() {
        bail!("wasmunit owns no unit to remove in {}", unit_dir.display());
    }
    // Before the first stop: every folder it deletes from can be written.
    let mut folders = std::collections::BTreeSet::new();
    if !units.is_empty() {
        folders.insert(unit_dir.clone());
    }
    for f in &identity.removable {
        let at = root.join(f.trim_start_matches('/'));
        folders.insert(at.parent().unwrap_or(root).to_path_buf());
    }
    let problems: Vec<String> = folders.iter().filter_map(|f| unwritable(f)).collect();
    if !problems.is_empty() {
        bail!(
            "refusing to remove; nothing was changed:\n  {}",
            problems.join("\n  ")
        );
    }
    let mut removed = remove_units(sd, &unit_dir, &units, &keep)?;
    removed.extend(remove_identity_files(root, &identity.removable)?);
    if !unit_dir.join(crate::unit::names::FOLLOW_UNIT).exists() {
        removed.extend(remove_follow_dropin(root)?);
    }
    removed.extend(collect_modules(root)?);
    removed.extend(collect_runtimes(root)?);
    removed.extend(collect_shipped(root, None)?);
    Ok(Removed {
        removed,
        kept: identity.edited,
    })
}

/// The follow unit's drop-in on sysupdate, once the unit is gone (only
/// if its bytes are still what wasmunit wrote).
fn remove_follow_dropin(root: &Path) -> Result<Vec<String>> {
    let node = crate::render::follow::sysupdate_dropin_node_path();
    let path = root.join(node.trim_start_matches('/'));
    let Some(dir) = path.parent().filter(|d| d.is_dir()) else {
        return Ok(Vec::new());
    };
    Ok(write::remove_owned_except(dir, &[])?
        .into_iter()
        .map(|n| format!("{}/{n}", dir.display()))
        .collect())
}

pub fn status(sd: &dyn Systemd, units: &[String]) -> Result<Vec<(String, UnitState)>> {
    let snapshots = sd.snapshots(units)?;
    Ok(units
        .iter()
        .cloned()
        .zip(snapshots.into_iter().map(|(state, _)| state))
        .collect())
}

/// Polls until no unit is activating or deactivating and every running
/// service has come up ([`liveness`]), or `timeout` passes. The polls read
/// states only (one call for all units, so as not to keep the manager
/// busy while it starts them); a running service's main process and start
/// time are read once, when everything has settled. `root` is where the
/// manager's `/proc` is.
pub fn wait_settled(
    sd: &dyn Systemd,
    root: &Path,
    units: &[String],
    timeout: Duration,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let mut survivals: std::collections::HashMap<&str, liveness::Survival> =
        std::collections::HashMap::new();
    loop {
        let states = sd.progress(units)?;
        let settled = states
            .iter()
            .all(|s| s.is_settled() && s.sub != "auto-restart");
        // A service seen stopped or restarting is followed afresh.
        for (u, s) in units.iter().zip(&states) {
            if s.sub != "running" {
                survivals.remove(u.as_str());
            }
        }
        let mut up = settled;
        if settled {
            // Main processes and start times of the services not yet
            // followed, read all at once.
            let new: Vec<&String> = units
                .iter()
                .zip(&states)
                .filter(|(u, s)| s.sub == "running" && !survivals.contains_key(u.as_str()))
                .map(|(u, _)| u)
                .collect();
            let names: Vec<String> = new.iter().map(|u| (*u).clone()).collect();
            for (u, main) in new.into_iter().zip(sd.main_processes(&names)?) {
                // No main process (a unit without one): its start time
                // alone decides.
                let survival = liveness::Survival::new(main.pid.unwrap_or(0), main.active_since_us);
                survivals.insert(u, survival);
            }
            let now_us = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
            for (u, s) in units.iter().zip(&states) {
                if s.sub != "running" {
                    continue;
                }
                let Some(survival) = survivals.get_mut(u.as_str()) else {
                    continue;
                };
                up &= survival.has_come_up(root, u, now_us);
            }
        }
        if up {
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(());
        }
        let sleep = if settled {
            liveness::QUIET / 2
        } else {
            Duration::from_millis(100)
        };
        std::thread::sleep(sleep.min(deadline.saturating_duration_since(now)));
    }
}

/// A plain table of unit states, one line per unit.
pub fn format_states(states: &[(String, UnitState)]) -> String {
    use std::fmt::Write as _;
    let mut s = format!(
        "{:<40} {:<10} {:<12} {:<12} {:>8} {:>10} {}\n",
        "UNIT", "ACTIVE", "SUB", "RESULT", "PID", "MEMORY", "EXIT"
    );
    for (name, st) in states {
        let _ = writeln!(
            s,
            "{:<40} {:<10} {:<12} {:<12} {:>8} {:>10} {}",
            name,
            st.active,
            st.sub,
            if st.result.is_empty() {
                "-"
            } else {
                &st.result
            },
            st.main_pid.map_or("-".to_owned(), |p| p.to_string()),
            st.memory
                .map_or("-".to_owned(), |m| format!("{}K", m / 1024)),
            st.exit_status.map_or("-".to_owned(), |c| c.to_string())
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(name: &str, enabled: Option<bool>) -> RenderedUnit {
        RenderedUnit {
            name: name.into(),
            text: String::new(),
            enabled,
        }
    }

    fn current(active: &str, file_state: &str) -> Current {
        Current {
            active: active.into(),
            file_state: file_state.into(),
            need_reload: false,
        }
    }

    #[test]
    fn identity_files_name_their_app() {
        let name = crate::node::paths::identity_file_name("db-2");
        assert_eq!(
            identity_app(&name).map(|a| a.to_string()),
            Some("db-2".into())
        );
        for other in [
            "wasmunit-.conf",
            "wasmunit-Db.conf",
            "db.conf",
            "wasmunit-db.conf~",
        ] {
            assert!(identity_app(other).is_none(), "{other}");
        }
    }

    #[test]
    fn a_repeat_apply_changes_nothing() {
        let units = [
            (unit("wasmunit.target", Some(true)), UnitChange::Same),
            (unit("wasm-a.service", Some(true)), UnitChange::Same),
            (unit("wasm-b.service", Some(false)), UnitChange::Same),
        ];
        let steps = steps_for(
            &units,
            &|n| match n {
                "wasm-b.service" => current("inactive", "disabled"),
                _ => current("active", "enabled"),
            },
            false,
            true,
        );
        assert!(steps.is_empty(), "{steps:?}");
    }

    #[test]
    fn only_effective_changes_restart_and_disabled_units_stop() {
        let changed = |effective| UnitChange::Changed {
            old: String::new(),
            effective,
        };
        let units = [
            (unit("wasmunit.target", Some(true)), UnitChange::Same),
            (unit("wasm-a.service", Some(true)), changed(true)),
            (unit("wasm-c.service", Some(true)), changed(false)),
            (unit("wasm-b.service", Some(false)), changed(true)),
            (unit("wasm-n.service", Some(true)), UnitChange::Added),
        ];
        let steps = steps_for(
            &units,
            &|n| match n {
                "wasm-n.service" => current("inactive", ""),
                _ => current("active", "enabled"),
            },
            true,
            true,
        );
        assert_eq!(
            steps,
            [
                Step::Enable(vec!["wasm-n.service".into()]),
                Step::Disable(vec!["wasm-b.service".into()]),
                Step::Reload,
                Step::Stop("wasm-b.service".into()),
                Step::Restart("wasm-a.service".into()),
                Step::Start("wasm-n.service".into()),
            ]
        );
    }

    #[test]
    fn no_start_means_no_start() {
        let steps = steps_for(
            &[(unit("wasm-a.service", Some(true)), UnitChange::Added)],
            &|_| current("inactive", ""),
            true,
            false,
        );
        assert!(!steps
            .iter()
            .any(|s| matches!(s, Step::Start(_) | Step::Restart(_))));
    }

    #[test]
    fn a_first_apply_starts_the_apps_through_the_target() {
        let units = [
            (unit("wasmunit.target", Some(true)), UnitChange::Added),
            (
                unit("wasmunit-follow.service", Some(true)),
                UnitChange::Added,
            ),
            (unit("wasm-a.service", Some(true)), UnitChange::Added),
            (unit("wasm-s.service", None), UnitChange::Added),
            (unit("wasm-s.timer", Some(true)), UnitChange::Added),
            (unit("wasm-off.service", Some(false)), UnitChange::Added),
        ];
        let steps = steps_for(&units, &|_| current("inactive", ""), true, true);
        assert_eq!(
            steps,
            [
                Step::Enable(vec![
                    "wasmunit.target".into(),
                    "wasmunit-follow.service".into(),
                    "wasm-a.service".into(),
                    "wasm-s.timer".into(),
                ]),
                Step::Reload,
                Step::Start("wasmunit.target".into()),
                Step::Start("wasmunit-follow.service".into()),
            ]
        );
    }
}
