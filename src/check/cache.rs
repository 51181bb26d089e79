//! Verdicts cached by content hash and target version, so checking an
//! unchanged module again costs one hash and one small file read.

use std::path::PathBuf;

use super::Facts;

/// Bump when `Facts` or how they are computed changes.
const FORMAT: u32 = 3;

pub fn dir() -> Option<PathBuf> {
    let base = std::env::var_os("WASMUNIT_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|x| PathBuf::from(x).join("wasmunit")))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/wasmunit")))?;
    Some(base.join("check"))
}

fn path(sha256: &str, key: &str) -> Option<PathBuf> {
    Some(dir()?.join(format!(
        "v{FORMAT}-{}-{sha256}-{key}.json",
        env!("CARGO_PKG_VERSION")
    )))
}

pub fn load(sha256: &str, key: &str) -> Option<Facts> {
    let text = std::fs::read_to_string(path(sha256, key)?).ok()?;
    serde_json::from_str(&text).ok()
}

/// Best effort: a cache that cannot be written is no error.
pub fn store(sha256: &str, key: &str, facts: &Facts) {
    let Some(p) = path(sha256, key) else { return };
    let Some(dir) = p.parent() else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    if let Ok(text) = serde_json::to_string(facts) {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let _ = crate::write::replace_unsynced(dir, &name, text.as_bytes());
    }
}

/// The content hash and size of the module a file holds (a `.wat` file's
/// compiled binary), when the file's identity (device, inode, size, mtime
/// to the nanosecond) is unchanged since it was read, as git's index does:
/// a re-check of an unchanged module then neither reads nor hashes it.
pub fn known_module(path: &std::path::Path) -> Option<(String, u64)> {
    let text = std::fs::read_to_string(index_path(path)?).ok()?;
    let (hash, size) = text.trim().split_once(' ')?;
    let hex = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
    Some((hash.to_owned(), size.parse().ok()?)).filter(|_| hex)
}

pub fn remember_module(path: &std::path::Path, sha256: &str, size: u64) {
    let Some(p) = index_path(path) else { return };
    let Some(dir) = p.parent() else { return };
    if std::fs::create_dir_all(dir).is_ok() {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let entry = format!("{sha256} {size}");
        let _ = crate::write::replace_unsynced(dir, &name, entry.as_bytes());
    }
}

fn index_path(path: &std::path::Path) -> Option<PathBuf> {
    use sha2::Digest;
    use std::os::unix::fs::MetadataExt;
    let abs = std::fs::canonicalize(path).ok()?;
    let m = std::fs::metadata(&abs).ok()?;
    let identity = format!(
        "{}\0{}\0{}\0{}\0{}\0{}",
        abs.display(),
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec()
    );
    let key = hex::encode(sha2::Sha256::digest(identity.as_bytes()));
    Some(dir()?.join("index").join(key))
}
