//! Verdicts cached by content hash and target version, so checking an
//! unchanged module again costs one hash and one small file read.

use std::path::{Path, PathBuf};

use super::Facts;

/// Bump when `Facts` or how they are computed changes.
const FORMAT: u32 = 6;

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
    if let Ok(text) = serde_json::to_string(facts) {
        store_entry(&p, text.as_bytes());
    }
}

/// A cache entry may be lost but never torn: a temporary file renamed over
/// it, no fsync. Best effort: an entry that cannot be written is no error.
fn store_entry(path: &Path, bytes: &[u8]) {
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt as _;
    let Some(dir) = path.parent() else { return };
    let _ = std::fs::create_dir_all(dir)
        .and_then(|()| tempfile::NamedTempFile::new_in(dir))
        .and_then(|mut tmp| {
            tmp.write_all(bytes)?;
            tmp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o644))?;
            tmp.persist(path).map(drop).map_err(|e| e.error)
        });
}

/// What identifies a file's content without reading it, as git's index
/// does: device, inode, size, and mtime and ctime to the nanosecond. ctime
/// is the one no user can set (`cp -p`, `touch -d` and reproducible builds
/// set mtime), and any write changes it.
pub struct Identity {
    key: String,
    /// The file changed recently enough that a second write could land in
    /// the same timestamp tick (the kernel's clock for file times is coarse):
    /// its identity then proves nothing, so it is not remembered.
    racy: bool,
}

/// Younger than this, a file's identity is not trusted (jiffies are up to
/// 10 ms; filesystems with coarser times exist).
const RACY_SECONDS: i64 = 3;

impl Identity {
    pub fn is_racy(&self) -> bool {
        self.racy
    }

    pub fn of(st: &rustix::fs::Stat) -> Identity {
        let key = format!(
            "{}\0{}\0{}\0{}.{}\0{}.{}",
            st.st_dev,
            st.st_ino,
            st.st_size,
            st.st_mtime,
            st.st_mtime_nsec,
            st.st_ctime,
            st.st_ctime_nsec
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let newest = st.st_ctime.max(st.st_mtime);
        Identity {
            key,
            racy: now - newest < RACY_SECONDS,
        }
    }
}

/// The content hash and size of the module a file holds (a `.wat` file's
/// compiled binary), when the file's [`Identity`] is unchanged since it
/// was read: a re-check of an unchanged module then neither reads nor
/// hashes it.
pub fn known_module(id: &Identity) -> Option<(String, u64)> {
    if id.racy {
        return None;
    }
    let text = std::fs::read_to_string(index_path(id)?).ok()?;
    let (hash, size) = text.trim().split_once(' ')?;
    let hex = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
    Some((hash.to_owned(), size.parse().ok()?)).filter(|_| hex)
}

pub fn remember_module(id: &Identity, sha256: &str, size: u64) {
    if id.racy {
        return;
    }
    let Some(p) = index_path(id) else { return };
    store_entry(&p, format!("{sha256} {size}").as_bytes());
}

fn index_path(id: &Identity) -> Option<PathBuf> {
    use sha2::Digest;
    let key = hex::encode(sha2::Sha256::digest(id.key.as_bytes()));
    Some(dir()?.join("index").join(key))
}
