//! Why `apply`, `diff`, `status` or `remove` stopped: one variant per
//! failure, each naming the path, unit or call and the cause. A refusal is
//! decided before the first change to the node; the rest are calls that
//! failed on the way (what was done before them stays, and the next run
//! completes it). `crate::error` gives each variant its kind and exit
//! status.

use std::path::PathBuf;

use super::dbus::SystemdError;
use crate::releases::systemd_release::SystemdVersion;
use crate::write::{FileError, WriteError};

/// Why the node cannot take an apply (or a remove) as it is: each found
/// before the first change, all of them reported at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unready {
    /// A folder apply writes into, creates or deletes from that this
    /// process may not write (`why`: the system's answer).
    Unwritable {
        /// The nearest existing folder on the way.
        at: PathBuf,
        /// The folder apply writes (`at` itself or below it).
        path: PathBuf,
        why: String,
    },
    /// Something that is not a folder on the way to one.
    NotAFolder { at: PathBuf, path: PathBuf },
    /// No existing folder on the way.
    NoParent { path: PathBuf },
    /// The way to a folder cannot be looked at.
    Unreadable { at: PathBuf, why: String },
    /// A program apply runs, or the units run, is missing or cannot run:
    /// `why`, then what needs it (`needed_by`: e.g. "the units of app `a`
    /// create their folders with it").
    Program { why: String, needed_by: String },
    /// No loop device control: the manager mounts pinned images with one.
    NoLoopControl { path: PathBuf, apps: String },
}

impl std::fmt::Display for Unready {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unready::Unwritable { at, path, why } if at == path => {
                write!(f, "{} is not writable: {why}", path.display())
            }
            Unready::Unwritable { at, path, why } => write!(
                f,
                "{} is not writable: {why} (apply creates {} in it)",
                at.display(),
                path.display()
            ),
            Unready::NotAFolder { at, path } => write!(
                f,
                "{} is not a folder (apply writes {})",
                at.display(),
                path.display()
            ),
            Unready::NoParent { path } => write!(f, "{} has no existing parent", path.display()),
            Unready::Unreadable { at, why } => write!(f, "cannot read {}: {why}", at.display()),
            Unready::Program { why, needed_by } => write!(f, "{why}; {needed_by}"),
            Unready::NoLoopControl { path, apps } => write!(
                f,
                "{} is missing or no device; the manager mounts the pinned wasmtime image of \
                 {apps} with a loop device",
                path.display()
            ),
        }
    }
}

fn lines<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n  ")
}

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The host's manager is older than every release wasmunit renders for.
    #[error(
        "this host runs systemd {host}; wasmunit's units need systemd {oldest} or newer \
         (an older manager would ignore their sandbox settings); nothing was changed"
    )]
    ManagerTooOld { host: u32, oldest: SystemdVersion },
    /// The units are rendered for a newer manager than the host's.
    #[error(
        "the units are rendered for systemd {rendered} or newer (`systemd` in [defaults]), but \
         this host runs systemd {host}: it would ignore their sandbox settings; set \
         `systemd = {host}` (or lower) for this host; nothing was changed"
    )]
    RenderedForNewer { host: u32, rendered: SystemdVersion },
    /// A read-only grant whose host path is there but no folder.
    #[error("{} is granted as a folder but is not one; nothing was changed", path.display())]
    GrantNotAFolder { path: PathBuf },
    /// A link on the way to a folder `apply` would create as root: an app
    /// may have put it there.
    #[error(
        "refusing to create {path}: {link} is a link (an app that could write there may \
         have planted it, and root would follow it); remove the link or grant another folder"
    )]
    LinkOnTheWay { path: PathBuf, link: PathBuf },
    /// Rendered unit names systemd loads from elsewhere: (unit, its file).
    #[error(
        "refusing to apply; nothing was changed:\n  {}\n\
         rename the app, or remove the other unit first",
        clashes.iter().map(|(u, at)| format!("{u} is already provided by {at}"))
            .collect::<Vec<_>>().join("\n  ")
    )]
    ForeignUnits { clashes: Vec<(String, String)> },
    /// A module (content-addressed) path holding other bytes.
    #[error(
        "{} exists with SHA-256 {have}, not {want}; refusing to replace it; nothing was changed",
        path.display()
    )]
    ModuleDiffers {
        path: PathBuf,
        have: String,
        want: String,
    },
    /// A module fetched from a URL at provisioning, not on this host.
    #[error(
        "module {url} of app `{app}` is not on this host; Ignition fetches it at provisioning \
         (or put it at {} yourself); nothing was changed",
        path.display()
    )]
    ModuleNotOnHost {
        app: String,
        url: String,
        path: PathBuf,
    },
    /// A local module rewritten since the plan hashed it.
    #[error(
        "the module of app `{app}` ({origin}) changed since it was read (SHA-256 {have}, \
         planned {planned}); run again; nothing was changed"
    )]
    ModuleChanged {
        app: String,
        origin: String,
        have: String,
        planned: String,
    },
    /// A local module that cannot be read again to copy it.
    #[error("cannot read the module of app `{app}`: {source}")]
    ModuleUnreadable { app: String, source: std::io::Error },
    /// A pinned image fetched from a URL at provisioning, not on this host.
    #[error(
        "the wasmtime {version} image {url} is not on this host; Ignition fetches it at \
         provisioning (or put it at {} yourself, or pin a local `image`); nothing was changed",
        path.display()
    )]
    ImageNotOnHost {
        version: String,
        url: String,
        path: PathBuf,
    },
    /// A pinned image with other bytes than the manifest's hash.
    #[error(
        "{} has SHA-256 {have}, not the pinned {want}; nothing was changed",
        path.display()
    )]
    ImageDiffers {
        path: PathBuf,
        have: String,
        want: String,
    },
    /// A file at a path of wasmunit's own files that it did not write.
    #[error(
        "{} exists and was not written by wasmunit; refusing to replace it; nothing was changed",
        path.display()
    )]
    NotOurs { path: PathBuf },
    /// What the node lacks for an apply, all at once.
    #[error("refusing to apply; nothing was changed:\n  {}", lines(problems))]
    Unready { problems: Vec<Unready> },
    /// What the node lacks for a remove, all at once.
    #[error("refusing to remove; nothing was changed:\n  {}", lines(problems))]
    RemoveUnready { problems: Vec<Unready> },
    /// `remove` found nothing of wasmunit's to remove.
    #[error("wasmunit owns no unit to remove in {}", unit_dir.display())]
    NothingToRemove { unit_dir: PathBuf },
    /// `systemd-sysusers` could not be started.
    #[error("cannot run systemd-sysusers: {source}")]
    SysusersSpawn { source: std::io::Error },
    /// `systemd-sysusers FILE` failed; its message.
    #[error("systemd-sysusers {file} failed: {stderr}")]
    Sysusers { file: String, stderr: String },
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error(transparent)]
    Systemd(#[from] SystemdError),
}

/// What a deploy step returns.
pub type Result<T, E = DeployError> = std::result::Result<T, E>;
