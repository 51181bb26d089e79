//! Files shipped with an app (`files = [{ source, guest }]`): read from the
//! manifest's folder and hashed at plan time, installed on the node under
//! [`crate::node::paths::FILES_DIR`]`/APP/N/`, and preopened read-only at the guest
//! path. A source folder ships its whole tree; a source file lands in the
//! guest folder under its own name.

use std::collections::HashMap;
use std::path::Path;

use rustix::fs::FileType;

use crate::input::{shown as shown_path, Entry, Folder, InputError, Root};
use std::sync::Arc;

use crate::invalid::Invalid;
use sha2::{Digest, Sha256};

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

/// Largest file shipped: the Ignition config carries it, base64.
const MAX_FILE_BYTES: u64 = 64 << 20;

/// Deepest folder tree shipped (a guard against pathological trees).
const MAX_DEPTH: usize = 32;

/// Most bytes one `source` ships, all its files together.
const MAX_GRANT_BYTES: u64 = 256 << 20;

/// One file as read below a source: its path inside the source, its path
/// relative to the manifest's folder, its bytes and their hash.
struct Found {
    inner: String,
    source: String,
    bytes: Arc<Vec<u8>>,
    sha256: String,
}

/// Sources already read in this plan: a folder that ten thousand apps ship
/// is read (and held in memory) once.
#[derive(Default)]
pub struct Memo {
    read: HashMap<String, Result<Arc<[Found]>, Invalid>>,
    budget: super::embed_budget::EmbedBudget,
}

impl Memo {
    pub fn new(budget: super::embed_budget::EmbedBudget) -> Memo {
        Memo {
            read: HashMap::new(),
            budget,
        }
    }
}

/// Every file below `source` (a file or a folder, relative to `base`),
/// placed below `node_dir`. Read beneath `base` with no link followed in
/// any component, regular files and folders only. Errors are for the user.
pub fn collect(
    memo: &mut Memo,
    base: &Path,
    source: &str,
    node_dir: &str,
) -> Result<Vec<ShippedFile>, Invalid> {
    let budget = &memo.budget;
    let found = memo
        .read
        .entry(source.to_owned())
        .or_insert_with(|| read_source(base, source, budget).map(Arc::from))
        .clone()?;
    Ok(found
        .iter()
        .map(|f| ShippedFile {
            source: f.source.clone(),
            node_path: format!("{node_dir}/{}", f.inner),
            sha256: f.sha256.clone(),
            bytes: f.bytes.clone(),
        })
        .collect())
}

fn read_source(
    base: &Path,
    source: &str,
    budget: &super::embed_budget::EmbedBudget,
) -> Result<Vec<Found>, Invalid> {
    let rel = super::module::check_relative(source)
        .map_err(|e| e.message.replacen("module path", "source path", 1))?;
    let root = Root::open(base).map_err(|e| e.to_string())?;
    let shown = |e: InputError| format!("{e} (shipped files are read without following links)");
    let mut found: Vec<(String, String, Vec<u8>)> = Vec::new();
    match root.kind_of(Path::new(&rel)).map_err(shown)? {
        Some(FileType::RegularFile) => {
            let name = rel.rsplit('/').next().unwrap_or(&rel).to_owned();
            let file = root.open_file(Path::new(&rel)).map_err(shown)?;
            budget.take(file.size, &format!("`{rel}`"))?;
            let bytes = file.read_all(MAX_FILE_BYTES).map_err(shown)?;
            found.push((name, rel.clone(), bytes));
        }
        Some(FileType::Directory) => {
            let folder = root.open_dir(Path::new(&rel)).map_err(shown)?;
            walk(&folder, &rel, "", 0, &mut found, &mut 0, budget)?;
        }
        Some(FileType::Symlink) => {
            return Err(Invalid::from(shown(InputError::Link {
                at: base.join(&rel),
            })))
        }
        Some(_) => {
            return Err(Invalid::from(format!(
                "`{}` is neither a file nor a folder",
                shown_path(&base.join(&rel))
            )))
        }
        None => {
            return Err(Invalid::from(format!(
                "cannot read `{}`: No such file or directory",
                shown_path(&base.join(&rel))
            )))
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    let total: u64 = found.iter().map(|f| f.2.len() as u64).sum();
    if total > MAX_GRANT_BYTES {
        return Err(Invalid::from(format!(
            "`{source}` holds {total} bytes, more than the {MAX_GRANT_BYTES} one grant ships; \
             ship an archive or fetch it instead"
        )));
    }
    Ok(found
        .into_iter()
        .map(|(inner, source, bytes)| Found {
            inner,
            source,
            sha256: hex::encode(Sha256::digest(&bytes)),
            bytes: Arc::new(bytes),
        })
        .collect())
}

fn walk(
    dir: &Folder,
    source: &str,
    prefix: &str,
    depth: usize,
    out: &mut Vec<(String, String, Vec<u8>)>,
    total: &mut u64,
    budget: &super::embed_budget::EmbedBudget,
) -> Result<(), Invalid> {
    if depth > MAX_DEPTH {
        return Err(Invalid::from(format!(
            "`{}` is more than {MAX_DEPTH} folders deep",
            shown_path(&dir.path)
        )));
    }
    let shown = |e: InputError| format!("{e} (shipped files are read without following links)");
    for entry in dir.entries().map_err(shown)? {
        let name = match &entry {
            Entry::File(n) | Entry::Folder(n) => n.as_str(),
        };
        if name.chars().any(|c| c.is_control() || c == '\\') {
            return Err(Invalid::from(format!(
                "`{}` has a name with a control character or backslash",
                shown_path(&dir.path.join(name))
            )));
        }
        let inner = if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}/{name}")
        };
        match entry {
            Entry::Folder(_) => {
                let sub = dir.open_dir(name).map_err(shown)?;
                walk(&sub, source, &inner, depth + 1, out, total, budget)?;
            }
            Entry::File(_) => {
                if out.len() >= MAX_FILES {
                    return Err(Invalid::from(format!(
                        "`{source}` holds more than {MAX_FILES} files; ship an archive or fetch it instead"
                    )));
                }
                let file = dir.open_file(name).map_err(shown)?;
                budget.take(file.size, &format!("`{source}/{inner}`"))?;
                let bytes = file.read_all(MAX_FILE_BYTES).map_err(shown)?;
                *total += bytes.len() as u64;
                if *total > MAX_GRANT_BYTES {
                    return Err(Invalid::from(format!(
                        "`{source}` holds more than the {MAX_GRANT_BYTES} bytes one grant ships; \
                         ship an archive or fetch it instead"
                    )));
                }
                out.push((inner.clone(), format!("{source}/{inner}"), bytes));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_many_apps_ship_is_read_and_held_once() {
        let d = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(d.path().join("site/sub")).expect("mkdir");
        std::fs::write(d.path().join("site/sub/a.html"), "a").expect("write");
        let mut memo = Memo::new(super::super::embed_budget::EmbedBudget::default());
        let one = collect(&mut memo, d.path(), "site", "/n/1").expect("one");
        std::fs::remove_dir_all(d.path().join("site")).expect("rm");
        let two = collect(&mut memo, d.path(), "site", "/n/2").expect("two");
        assert_eq!(one[0].node_path, "/n/1/sub/a.html");
        assert_eq!(two[0].node_path, "/n/2/sub/a.html");
        assert!(Arc::ptr_eq(&one[0].bytes, &two[0].bytes));
    }
}
