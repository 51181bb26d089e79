//! Taking units off the node: `wasmunit remove`, and the units an apply
//! dropped. Stopped, disabled and deleted, then their identity files and
//! what no installed unit names; only what wasmunit wrote.

use std::path::Path;

use super::collect::{collect_modules, collect_runtimes, collect_shipped};
use super::dbus::Systemd;
use super::identity::{identity_app, remove_identity_files, unwanted_identity_files};
use super::preflight::unwritable;
use super::{DeployError, Result};
use crate::node::paths::UNIT_DIR;
use crate::render::OutFile;
use crate::write;

/// Stops, disables and deletes `units` (name, text): only ones wasmunit
/// owns; `keep` are the files that stay.
pub(crate) fn remove_units(
    sd: &dyn Systemd,
    unit_dir: &Path,
    units: &[(String, String)],
    keep: &[OutFile],
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
    let unit_dir = UNIT_DIR.under(root);
    let owned = write::owned_files(&unit_dir)?;
    let mut units = Vec::new();
    let mut keep = Vec::new();
    for name in owned.keys() {
        let Some(text) = super::changes::installed_text(&unit_dir, name)? else {
            continue;
        };
        if only.is_none_or(|o| o.contains(name)) {
            units.push((name.clone(), text));
        } else {
            keep.push(OutFile {
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
        return Err(DeployError::NothingToRemove { unit_dir });
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
    let problems: Vec<_> = folders.iter().filter_map(|f| unwritable(f)).collect();
    if !problems.is_empty() {
        return Err(DeployError::RemoveUnready { problems });
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
