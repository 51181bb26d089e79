//! Files shipped with an app (`files = [{ source, guest }]`): read from the
//! manifest's folder and hashed at plan time, installed on the node under
//! `/var/lib/wasmunit/files/APP/N/`, and preopened read-only at the guest
//! path. A source folder ships its whole tree; a source file lands in the
//! guest folder under its own name.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

/// Where shipped files live on the node.
pub const NODE_FILES_DIR: &str = "/var/lib/wasmunit/files";

/// Largest tree one grant may ship: the Ignition config carries it.
const MAX_FILES: usize = 1000;

/// One file to put on the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShippedFile {
    /// Relative to the manifest's folder (Butane's `--files-dir`), with `/`.
    pub source: String,
    /// Absolute path on the node.
    pub node_path: String,
    pub sha256: String,
    pub bytes: Arc<Vec<u8>>,
}

/// Every file below `source` (a file or a folder, relative to `base`),
/// placed below `node_dir`. Errors are for the user.
pub fn collect(base: &Path, source: &str, node_dir: &str) -> Result<Vec<ShippedFile>, String> {
    let rel = super::module::check_relative(source)
        .map_err(|e| e.message.replacen("module path", "source path", 1))?;
    let root = base.join(&rel);
    let meta = std::fs::symlink_metadata(&root)
        .map_err(|e| format!("cannot read `{}`: {e}", root.display()))?;
    let mut found: Vec<(String, PathBuf)> = Vec::new();
    if meta.is_file() {
        let name = rel.rsplit('/').next().unwrap_or(&rel).to_owned();
        found.push((name, root.clone()));
    } else if meta.is_dir() {
        walk(&root, "", &mut found)?;
    } else {
        return Err(format!(
            "`{}` is neither a file nor a folder (links are not shipped)",
            root.display()
        ));
    }
    found.sort();
    if found.len() > MAX_FILES {
        return Err(format!(
            "`{source}` holds more than {MAX_FILES} files; ship an archive or fetch it instead"
        ));
    }
    found
        .into_iter()
        .map(|(inner, path)| {
            let bytes = std::fs::read(&path)
                .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
            let source_rel = if meta.is_file() {
                rel.clone()
            } else {
                format!("{rel}/{inner}")
            };
            Ok(ShippedFile {
                source: source_rel,
                node_path: format!("{node_dir}/{inner}"),
                sha256: hex::encode(Sha256::digest(&bytes)),
                bytes: Arc::new(bytes),
            })
        })
        .collect()
}

fn walk(dir: &Path, prefix: &str, out: &mut Vec<(String, PathBuf)>) -> Result<(), String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot list `{}`: {e}", dir.display()))?;
    for e in entries {
        let e = e.map_err(|e| format!("cannot list `{}`: {e}", dir.display()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.chars().any(|c| c.is_control() || c == '\\') {
            return Err(format!(
                "`{}` has a name with a control character or backslash",
                e.path().display()
            ));
        }
        let inner = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let t = e.file_type().map_err(|e| e.to_string())?;
        if t.is_dir() {
            walk(&e.path(), &inner, out)?;
        } else if t.is_file() {
            out.push((inner, e.path()));
        } else {
            return Err(format!(
                "`{}` is a link or special file; only files and folders are shipped",
                e.path().display()
            ));
        }
    }
    Ok(())
}
