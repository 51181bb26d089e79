//! After a successful apply or remove: the files wasmunit shipped that no
//! unit it installed names any more (modules, pinned images, shipped
//! files), deleted; only files whose bytes are still what wasmunit wrote,
//! never one it did not write.

use std::path::{Path, PathBuf};

use super::Result;
use crate::node::paths::{FILES_DIR, MODULE_DIR, RUNTIME_DIR, UNIT_DIR};
use crate::unit::names::references;
use crate::write::{self, FileError, Op};

/// Deletes the modules wasmunit copied that no unit it installed names
/// (`AssertFileNotEmpty=`); never a module it did not copy.
pub fn collect_modules(root: &Path) -> Result<Vec<String>> {
    let referenced: Vec<String> = owned_unit_values(root, references::FILE)?
        .iter()
        .filter_map(|path| path.rsplit('/').next().map(str::to_owned))
        .collect();
    let dir = MODULE_DIR.under(root);
    if !dir.exists() {
        return Ok(Vec::new());
    }
    Ok(write::remove_owned_except(&dir, &referenced)?)
}

/// Deletes the pinned wasmtime images wasmunit copied that no unit it
/// installed names (`ExtensionImages=`), and their emptied folders.
pub fn collect_runtimes(root: &Path) -> Result<Vec<String>> {
    let base = RUNTIME_DIR.path;
    let dir = root.join(base.trim_start_matches('/'));
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let referenced = owned_unit_values(root, references::IMAGE)?;
    let mut removed = Vec::new();
    let mut subdirs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(FileError::at(Op::Read, &dir))?
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
    let unit_dir = UNIT_DIR.under(root);
    let mut out = Vec::new();
    for name in write::owned_files(&unit_dir)?.keys() {
        let Some(text) = super::changes::installed_text(&unit_dir, name)? else {
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
    let files_root = FILES_DIR.under(root);
    if !files_root.is_dir() {
        return Ok(Vec::new());
    }
    let referenced: std::collections::BTreeSet<String> =
        owned_unit_values(root, references::SHIPPED)?
            .into_iter()
            .filter(|p| p.starts_with(FILES_DIR.path))
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
    let unreadable = FileError::at(Op::Read, dir);
    let entries: Vec<std::fs::DirEntry> = std::fs::read_dir(dir)
        .and_then(Iterator::collect)
        .map_err(unreadable)?;
    for e in entries {
        let is_dir = e
            .file_type()
            .map_err(FileError::at(Op::Read, e.path()))?
            .is_dir();
        if is_dir {
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
