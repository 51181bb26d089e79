//! A static identity's files (sysusers.d, tmpfiles.d) that no app wants
//! any more: found before anything changes, deleted after the units that
//! used them. The accounts stay.

use std::path::Path;

use super::Result;
use crate::write::{self, FileError, Op};

/// The folders of a static identity's files: systemd-sysusers creates the
/// account at each boot from one, systemd-tmpfiles its folders from the
/// other.
const IDENTITY_DIRS: [crate::node::paths::Place; 2] = [
    crate::node::paths::SYSUSERS_DIR,
    crate::node::paths::TMPFILES_DIR,
];

/// Identity files wasmunit wrote that nothing wants any more (node paths).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct UnwantedIdentity {
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
                Err(e) => return Err(FileError::at(Op::Read, &path)(e).into()),
                Ok(md) if md.is_file() => {
                    let have = crate::plan::module::hash_file(&path)
                        .map_err(FileError::at(Op::Read, &path))?;
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
pub(crate) fn remove_identity_files(root: &Path, files: &[String]) -> Result<Vec<String>> {
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
pub(crate) fn identity_app(file_name: &str) -> Option<crate::manifest::app_name::AppName> {
    let probe = crate::node::paths::identity_file_name("\0");
    let (before, after) = probe.split_once('\0')?;
    let app = file_name.strip_prefix(before)?.strip_suffix(after)?;
    crate::manifest::app_name::AppName::parse(app).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
