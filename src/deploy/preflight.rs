//! Everything `apply` relies on beyond the manifest, asked before its
//! first write: every folder it writes can be written, the programs it
//! and the units run are there. Every problem at once.

use std::path::{Path, PathBuf};

use super::changes::Changes;
use super::error::Unready;
use super::{DeployError, Result};
use crate::node::paths::LOOP_CONTROL;

/// How an apply runs: below which root, whether it starts the units, and
/// how long it waits for them to settle.
pub struct ApplyOptions {
    pub root: PathBuf,
    pub start: bool,
    /// How long to wait for started units to settle.
    pub wait: std::time::Duration,
}

/// Why `path` (a folder apply writes into or creates) could not be
/// written, if it could not: its nearest existing ancestor must be a
/// folder this process may write into (root may not on a read-only file
/// system).
pub(crate) fn unwritable(path: &Path) -> Option<Unready> {
    let mut at = path;
    loop {
        match std::fs::metadata(at) {
            Ok(md) if md.is_dir() => break,
            Ok(_) => {
                return Some(Unready::NotAFolder {
                    at: at.to_path_buf(),
                    path: path.to_path_buf(),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match at.parent() {
                Some(p) => at = p,
                None => {
                    return Some(Unready::NoParent {
                        path: path.to_path_buf(),
                    })
                }
            },
            Err(e) => {
                return Some(Unready::Unreadable {
                    at: at.to_path_buf(),
                    why: e.to_string(),
                })
            }
        }
    }
    let access = rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK;
    rustix::fs::access(at, access)
        .err()
        .map(|e| Unready::Unwritable {
            at: at.to_path_buf(),
            path: path.to_path_buf(),
            why: std::io::Error::from(e).to_string(),
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
/// files and modules are [`super::changes::plan`]'s refusals. Every problem at
/// once; nothing is changed.
pub fn preflight(changes: &Changes, opts: &ApplyOptions) -> Result<()> {
    use crate::node::paths;
    let root = &opts.root;
    let below = |node: &str| root.join(node.trim_start_matches('/'));
    let mut problems: Vec<Unready> = written_folders(changes, root)
        .iter()
        .filter_map(|f| unwritable(f))
        .collect();

    let needs = &changes.needs;
    if !needs.sysusers.is_empty() {
        if let Some(why) = sysusers_missing() {
            problems.push(Unready::Program {
                why,
                needed_by: format!(
                    "apply creates the static user of {} with it (systemd's sysusers tool, on PATH)",
                    apps_named(&needs.sysusers)
                ),
            });
        }
    }
    if opts.start {
        if !needs.wasmtime.is_empty() {
            if let Some(why) = not_executable(&below(paths::WASMTIME)) {
                problems.push(Unready::Program {
                    why,
                    needed_by: format!(
                        "the node's wasmtime runs {} (merge the wasmtime sysext first, or \
                         apply with --no-start)",
                        apps_named(&needs.wasmtime)
                    ),
                });
            }
        }
        if !needs.tmpfiles.is_empty() {
            if let Some(why) = not_executable(&below(paths::SYSTEMD_TMPFILES)) {
                problems.push(Unready::Program {
                    why,
                    needed_by: format!(
                        "the units of {} create their folders with it before each start",
                        apps_named(&needs.tmpfiles)
                    ),
                });
            }
        }
        if !needs.loop_devices.is_empty() {
            use std::os::unix::fs::FileTypeExt as _;
            let at = below(LOOP_CONTROL);
            let char_device = std::fs::metadata(&at).is_ok_and(|m| m.file_type().is_char_device());
            if !char_device {
                problems.push(Unready::NoLoopControl {
                    path: at,
                    apps: apps_named(&needs.loop_devices),
                });
            }
        }
    }
    if !problems.is_empty() {
        return Err(DeployError::Unready { problems });
    }
    Ok(())
}
