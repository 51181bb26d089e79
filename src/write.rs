//! Writing rendered files into an output folder: atomically (temp file +
//! rename), and never over or away a file wasmunit did not write. The files
//! it wrote are listed, with their hashes, in a marker file in the folder.

mod error;
pub mod site;
pub mod squashfs;
pub mod stdout;

pub use crate::render::OutFile;
pub use error::{Conflict, FileError, Op, WriteError, WriteStep};

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// What a write returns: the value, or why nothing (or not all) was written.
pub type Result<T, E = WriteError> = std::result::Result<T, E>;
use sha2::{Digest, Sha256};

const MARKER: &str = ".wasmunit-owned";
const MARKER_HEADER: &str =
    "# Files written by wasmunit into this folder, with the SHA-256 it wrote.\n\
     # wasmunit overwrites or removes only these, and only while unchanged.\n";

#[derive(Debug, Default, PartialEq, Eq)]
pub struct DirWrite {
    pub written: Vec<String>,
    pub unchanged: Vec<String>,
    pub removed: Vec<String>,
    /// Files wasmunit wrote earlier, no longer rendered, but edited since: kept.
    pub kept: Vec<String>,
}

impl DirWrite {
    /// One line for people: what was written, kept and removed.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} written, {} unchanged",
            self.written.len(),
            self.unchanged.len()
        );
        if !self.removed.is_empty() {
            let _ = write!(
                s,
                ", removed no longer rendered: {}",
                self.removed.join(" ")
            );
        }
        if !self.kept.is_empty() {
            let _ = write!(s, ", kept (edited since written): {}", self.kept.join(" "));
        }
        s
    }
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// What wasmunit owns in a folder: each file it wrote, with every content
/// hash it may have left there. Normally one hash; two while a write is in
/// flight, so that a crash between the marker and the renames leaves files
/// the next run still recognises.
pub type Owned = BTreeMap<String, BTreeSet<String>>;

/// The files wasmunit wrote into `dir` (empty when it wrote none).
pub fn owned_files(dir: &Path) -> Result<Owned> {
    read_marker(dir)
}

/// Largest ownership marker read: 64 hex digits and a name per file.
const MAX_MARKER_BYTES: u64 = 64 << 20;

/// The marker: what wasmunit owns, and the temp files a write in flight
/// had planned (removed by the next run, and only those).
#[derive(Default)]
struct Marker {
    owned: Owned,
    temps: BTreeSet<String>,
}

fn read_marker(dir: &Path) -> Result<Owned> {
    Ok(read_marker_full(dir)?.owned)
}

/// The marker, read like every input: no link, a regular file, size known
/// before reading (a FIFO or a link to /dev/zero is an error, not a hang).
fn read_marker_full(dir: &Path) -> Result<Marker> {
    let path = dir.join(MARKER);
    let opened = crate::input::Root::open(dir).and_then(|r| r.open_file(Path::new(MARKER)));
    let bytes = match opened.and_then(|f| f.read_all(MAX_MARKER_BYTES)) {
        Ok(b) => b,
        Err(e) if e.is_not_found() => return Ok(Marker::default()),
        Err(source) => return Err(WriteError::MarkerUnreadable { source }),
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return Err(WriteError::MarkerNotUtf8 { path });
    };
    let mut marker = Marker::default();
    for (n, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        match line.split_once("  ") {
            Some((hash, name)) if is_sha256(hash) && is_plain_name(name) => {
                marker
                    .owned
                    .entry(name.to_owned())
                    .or_default()
                    .insert(hash.to_owned());
            }
            Some((TEMP_TAG, name)) if is_temp_name(name) => {
                marker.temps.insert(name.to_owned());
            }
            _ => return Err(WriteError::MarkerMalformed { path, line: n + 1 }),
        }
    }
    Ok(marker)
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/') && !name.contains('\0')
}

/// Current content hash of `dir/name`: `None` when absent; an error when it
/// is not a regular file (a symlink or folder is never ours to replace).
fn current_hash(dir: &Path, name: &str) -> Result<Option<String>> {
    let opened = crate::input::Root::open(dir).and_then(|r| r.open_file(Path::new(name)));
    let mut f = match opened {
        Ok(f) => f,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(
            source @ (crate::input::InputError::Link { .. }
            | crate::input::InputError::NotRegular { .. }),
        ) => return Err(WriteError::NotAFile { source }),
        Err(source) => return Err(WriteError::Unreadable { source }),
    };
    let mut h = Sha256::new();
    std::io::copy(&mut f.file, &mut h).map_err(FileError::at(Op::Read, &f.path))?;
    Ok(Some(hex::encode(h.finalize())))
}

/// Whether [`write_dir`] would write `files` into `dir`: the same refusals
/// (files wasmunit did not write, or that were edited since), and nothing
/// touched. `apply` asks before its first side effect.
pub fn preflight(dir: &Path, files: &[OutFile]) -> Result<()> {
    let owned = read_marker(dir)?;
    plan_writes(dir, files, &owned, Unlisted::Remove).map(|_| ())
}

/// Adds `files` (name, SHA-256) to what wasmunit owns in `dir`, before it
/// writes them: a crash in between leaves only files it knows.
pub fn record_owned(dir: &Path, files: &[(String, String)]) -> Result<()> {
    let mut marker = read_marker_full(dir)?;
    let owned = &mut marker.owned;
    for (name, hash) in files {
        if !is_plain_name(name) || name == MARKER {
            return Err(WriteError::BadName { name: name.clone() });
        }
        owned.entry(name.clone()).or_default().insert(hash.clone());
    }
    write_marker(dir, &marker)
}

/// Removes the files wasmunit owns in `dir` but for `keep`, each only while
/// it still holds bytes wasmunit wrote; returns what it removed.
pub fn remove_owned_except(dir: &Path, keep: &[String]) -> Result<Vec<String>> {
    let Marker { mut owned, temps } = read_marker_full(dir)?;
    let mut removed = Vec::new();
    for (name, hashes) in owned.clone() {
        if keep.contains(&name) {
            continue;
        }
        match current_hash(dir, &name)? {
            Some(h) if hashes.contains(&h) => {
                std::fs::remove_file(dir.join(&name))
                    .map_err(FileError::at(Op::Remove, dir.join(&name)))?;
                owned.remove(&name);
                removed.push(name);
            }
            // Edited since: kept, and still listed.
            Some(_) => {}
            None => {
                owned.remove(&name);
            }
        }
    }
    if owned.is_empty() {
        match std::fs::remove_file(dir.join(MARKER)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(FileError::at(Op::Remove, dir.join(MARKER))(e).into());
            }
            _ => {}
        }
    } else {
        write_marker(dir, &Marker { owned, temps })?;
    }
    Ok(removed)
}

/// Writes `files` into `dir`, atomically per file, never over or away a
/// file wasmunit did not write (or that was edited since).
pub fn write_dir(dir: &Path, files: &[OutFile]) -> Result<DirWrite> {
    write_dir_with(dir, files, Unlisted::Remove, &mut |_| Ok(()))
}

/// [`write_dir`] that adds: the files wasmunit wrote earlier and `files`
/// does not name stay (a published folder keeps its older versions).
pub fn write_dir_adding(dir: &Path, files: &[OutFile]) -> Result<DirWrite> {
    write_dir_with(dir, files, Unlisted::Keep, &mut |_| Ok(()))
}

/// What a write does with the files it wrote before and does not name now.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unlisted {
    Remove,
    Keep,
}

/// [`write_dir`] with a hook called before each step; an error from it
/// stops the write there, as a crash would.
fn write_dir_with(
    dir: &Path,
    files: &[OutFile],
    unlisted: Unlisted,
    before: &mut dyn FnMut(&WriteStep) -> Result<()>,
) -> Result<DirWrite> {
    for f in files {
        if !is_plain_name(&f.name) || f.name == MARKER {
            return Err(WriteError::BadName {
                name: f.name.clone(),
            });
        }
    }
    // The folder itself may be a link to a folder; the files in it may not.
    let exists = match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => {
            return Err(WriteError::NotAFolder {
                path: dir.to_path_buf(),
            })
        }
        Ok(_) => true,
        Err(_) => false,
    };
    if !exists {
        // A folder that did not exist holds no file to refuse: nothing can
        // fail below but I/O, so creating it first writes nothing early.
        create_dir_all(dir)?;
    }
    let _lock = lock_dir(dir)?;
    let marker = read_marker_full(dir)?;
    let owned = marker.owned;
    let plan = plan_writes(dir, files, &owned, unlisted)?;
    let mut report = plan.report;
    remove_planned_temp_files(dir, &marker.temps)?;

    // Until every rename is done, the marker lists old and new hashes (a
    // crash in between leaves only files a re-run recognises as its own)
    // and the temp files about to be made (a re-run removes those, and
    // never a file it did not plan).
    let mut union = owned.clone();
    for (name, hashes) in &plan.new_owned {
        union
            .entry(name.clone())
            .or_default()
            .extend(hashes.iter().cloned());
    }
    let temps: Vec<String> = plan.to_write.iter().map(|_| temp_name()).collect();
    before(&WriteStep::MarkerBefore)?;
    write_marker(
        dir,
        &Marker {
            owned: union,
            temps: temps.iter().cloned().collect(),
        },
    )?;
    // Every file goes to a temp file first; one syncfs makes them all
    // durable (one fsync per file costs seconds for thousands of units);
    // then each is renamed over its target.
    for (f, tmp) in plan.to_write.iter().zip(&temps) {
        create_new(dir, tmp, &f.bytes)?;
    }
    sync_filesystem(dir)?;
    for (f, tmp) in plan.to_write.iter().zip(&temps) {
        before(&WriteStep::Rename(f.name.clone()))?;
        std::fs::rename(dir.join(tmp), dir.join(&f.name))
            .map_err(FileError::at(Op::Write, dir.join(&f.name)))?;
        report.written.push(f.name.clone());
    }
    for name in plan.stale {
        before(&WriteStep::Remove(name.clone()))?;
        std::fs::remove_file(dir.join(&name))
            .map_err(FileError::at(Op::Remove, dir.join(&name)))?;
        report.removed.push(name);
    }
    before(&WriteStep::MarkerAfter)?;
    if plan.new_owned.is_empty() {
        // wasmunit owns nothing here any more: no record of it either.
        match std::fs::remove_file(dir.join(MARKER)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(FileError::at(Op::Remove, dir.join(MARKER))(e).into());
            }
            _ => {}
        }
    } else {
        write_marker(
            dir,
            &Marker {
                owned: plan.new_owned,
                temps: BTreeSet::new(),
            },
        )?;
    }
    Ok(report)
}

fn shown(p: &Path) -> String {
    crate::input::shown(p)
}

/// Creates `dir` and its missing parents (a folder wasmunit writes into).
pub fn create_dir_all(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| FileError::at(Op::Create, dir)(e).into())
}

/// What a write will do, decided before anything is touched.
struct WritePlan<'a> {
    report: DirWrite,
    to_write: Vec<&'a OutFile>,
    stale: Vec<String>,
    new_owned: Owned,
}

fn plan_writes<'a>(
    dir: &Path,
    files: &'a [OutFile],
    owned: &Owned,
    unlisted: Unlisted,
) -> Result<WritePlan<'a>> {
    let mut report = DirWrite::default();
    let mut conflicts = Vec::new();
    let mut to_write = Vec::new();
    let mut new_owned = Owned::new();
    let ours = |name: &str, h: &str| owned.get(name).is_some_and(|hs| hs.contains(h));

    for f in files {
        let want = sha256(&f.bytes);
        new_owned.insert(f.name.clone(), BTreeSet::from([want.clone()]));
        match current_hash(dir, &f.name)? {
            None => to_write.push(f),
            Some(h) if h == want => report.unchanged.push(f.name.clone()),
            Some(h) if ours(&f.name, &h) => to_write.push(f),
            Some(_) => conflicts.push(Conflict {
                path: dir.join(&f.name),
                edited: owned.contains_key(&f.name),
            }),
        }
    }
    if !conflicts.is_empty() {
        return Err(WriteError::Conflicts { conflicts });
    }

    let mut stale = Vec::new();
    for (name, hashes) in owned {
        if new_owned.contains_key(name) {
            continue;
        }
        match current_hash(dir, name)? {
            Some(h) if hashes.contains(&h) && unlisted == Unlisted::Keep => {
                new_owned.insert(name.clone(), BTreeSet::from([h]));
            }
            Some(h) if hashes.contains(&h) => stale.push(name.clone()),
            // Gone, and the folder keeps what it published: still listed,
            // so a removed version is not published again with other bytes.
            None if unlisted == Unlisted::Keep => {
                new_owned.insert(name.clone(), hashes.clone());
            }
            Some(_) => {
                report.kept.push(name.clone());
                // Still listed, so a later run keeps refusing to touch it silently.
                new_owned.insert(name.clone(), hashes.clone());
            }
            None => {}
        }
    }
    Ok(WritePlan {
        report,
        to_write,
        stale,
        new_owned,
    })
}

const TEMP_PREFIX: &str = ".wasmunit-tmp-";
/// A marker line naming a temp file a write in flight planned.
const TEMP_TAG: &str = "temp";
/// The marker's own next version (it cannot list itself): removed only
/// when it holds a marker's header.
const MARKER_NEXT: &str = ".wasmunit-owned.new";

/// A fresh temp name: the prefix and 16 hex digits nobody else picks.
fn temp_name() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    format!("{TEMP_PREFIX}{:016x}", h.finish())
}

fn is_temp_name(name: &str) -> bool {
    name.strip_prefix(TEMP_PREFIX)
        .is_some_and(|r| r.len() == 16 && r.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Temp files an interrupted run planned (listed in its marker): removed,
/// while regular files. A user's file of a similar name is never touched.
fn remove_planned_temp_files(dir: &Path, temps: &BTreeSet<String>) -> Result<()> {
    for name in temps {
        let path = dir.join(name);
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file()) {
            std::fs::remove_file(&path).map_err(FileError::at(Op::Remove, &path))?;
        }
    }
    Ok(())
}

/// Creates `dir/name` (which must not exist), mode 0644, holding `bytes`;
/// not synced.
fn create_new(dir: &Path, name: &str, bytes: &[u8]) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(name);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&path)
        .map_err(FileError::at(Op::Create, &path))?;
    f.write_all(bytes)
        .and_then(|()| f.set_permissions(std::fs::Permissions::from_mode(0o644)))
        .map_err(FileError::at(Op::Write, &path))?;
    Ok(f)
}

fn write_marker(dir: &Path, marker: &Marker) -> Result<()> {
    let mut text = MARKER_HEADER.to_owned();
    for (name, hashes) in &marker.owned {
        for hash in hashes {
            let _ = writeln!(text, "{hash}  {name}");
        }
    }
    for name in &marker.temps {
        let _ = writeln!(text, "{TEMP_TAG}  {name}");
    }
    // A crash may have left the next marker half-written: it is ours when
    // it starts as a marker does, and anything else is in the way.
    let next = dir.join(MARKER_NEXT);
    if let Ok(m) = std::fs::symlink_metadata(&next) {
        let ours = m.file_type().is_file()
            && crate::input::Root::open(dir)
                .and_then(|r| r.open_file(Path::new(MARKER_NEXT)))
                .and_then(|f| f.read_all(MAX_MARKER_BYTES))
                .is_ok_and(|b| b.is_empty() || b.starts_with(MARKER_HEADER.as_bytes()));
        if !ours {
            return Err(WriteError::MarkerInTheWay { path: next });
        }
        std::fs::remove_file(&next).map_err(FileError::at(Op::Remove, &next))?;
    }
    let f = create_new(dir, MARKER_NEXT, text.as_bytes())?;
    f.sync_all().map_err(FileError::at(Op::Write, &next))?;
    std::fs::rename(&next, dir.join(MARKER)).map_err(FileError::at(Op::Write, dir.join(MARKER)))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// A temp file in `dir` holding `bytes`, mode 0644, not yet synced.
fn stage(dir: &Path, bytes: &[u8]) -> Result<tempfile::NamedTempFile> {
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)
        .map_err(FileError::at(Op::CreateTempIn, dir))?;
    tmp.write_all(bytes)
        .and_then(|()| {
            tmp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o644))
        })
        .map_err(FileError::at(Op::Write, tmp.path()))?;
    Ok(tmp)
}

/// An exclusive lock on a folder wasmunit writes (`--out`, the unit
/// folder `apply` installs into), held until dropped: a second run waits
/// for it, saying so, and so never reads a marker a first run is about to
/// replace. Re-entrant within one process (`apply` holds it while its
/// writes take it again).
pub struct DirLock {
    /// The locked folder (None: the lock was held already by this process).
    fd: Option<std::os::fd::OwnedFd>,
    key: (u64, u64),
}

fn held_locks() -> &'static std::sync::Mutex<BTreeSet<(u64, u64)>> {
    static HELD: std::sync::OnceLock<std::sync::Mutex<BTreeSet<(u64, u64)>>> =
        std::sync::OnceLock::new();
    HELD.get_or_init(Default::default)
}

pub fn lock_dir(dir: &Path) -> Result<DirLock> {
    use rustix::fs::{flock, FlockOperation, Mode, OFlags};
    let fd = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| FileError::at(Op::Open, dir)(e.into()))?;
    let st = rustix::fs::fstat(&fd).map_err(|e| FileError::at(Op::Open, dir)(e.into()))?;
    let key = (st.st_dev, st.st_ino);
    {
        let mut held = held_locks()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if held.contains(&key) {
            return Ok(DirLock {
                fd: None,
                key: (u64::MAX, u64::MAX),
            });
        }
        held.insert(key);
    }
    let release = |e| {
        held_locks()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&key);
        e
    };
    if flock(&fd, FlockOperation::NonBlockingLockExclusive).is_err() {
        crate::say!(
            "wasmunit: waiting for another wasmunit run that is writing {}",
            shown(dir)
        );
        flock(&fd, FlockOperation::LockExclusive)
            .map_err(|e| release(FileError::at(Op::Lock, dir)(e.into())))?;
    }
    Ok(DirLock { fd: Some(fd), key })
}

impl Drop for DirLock {
    fn drop(&mut self) {
        if self.fd.is_some() {
            held_locks()
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&self.key);
        }
    }
}

/// Flushes the filesystem holding `dir` (data and metadata) in one call.
fn sync_filesystem(dir: &Path) -> Result<()> {
    let d = std::fs::File::open(dir).map_err(FileError::at(Op::Open, dir))?;
    // SAFETY: syncfs only reads the descriptor, which `d` keeps open.
    let rc = unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&d)) };
    if rc != 0 {
        return Err(FileError::at(Op::Sync, dir)(std::io::Error::last_os_error()).into());
    }
    Ok(())
}

/// Several new files into `dir` at once, each atomic (temp file, rename),
/// all made durable by one `syncfs` instead of one fsync each.
pub fn atomic_write_all(dir: &Path, files: &[(String, &[u8])]) -> Result<()> {
    let staged = files
        .iter()
        .map(|(name, bytes)| stage(dir, bytes).map(|t| (name, t)))
        .collect::<Result<Vec<_>>>()?;
    sync_filesystem(dir)?;
    for (name, tmp) in staged {
        let target = dir.join(name);
        tmp.persist(&target)
            .map_err(|e| FileError::at(Op::Write, &target)(e.error))?;
    }
    sync_filesystem(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> OutFile {
        OutFile {
            name: name.into(),
            bytes: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn writes_then_rewrites_its_own_files() {
        let d = tempfile::tempdir().expect("tempdir");
        let r =
            write_dir(d.path(), &[file("a.service", "1"), file("b.service", "2")]).expect("write");
        assert_eq!(r.written, ["a.service", "b.service"]);
        let r = write_dir(d.path(), &[file("a.service", "1b")]).expect("rewrite");
        assert_eq!(r.written, ["a.service"]);
        assert_eq!(r.removed, ["b.service"]);
        assert_eq!(
            std::fs::read_to_string(d.path().join("a.service")).expect("read"),
            "1b"
        );
        assert!(!d.path().join("b.service").exists());
    }

    #[test]
    fn refuses_foreign_and_edited_files_and_writes_nothing() {
        let d = tempfile::tempdir().expect("tempdir");
        write_dir(d.path(), &[file("a.service", "1")]).expect("write");
        std::fs::write(d.path().join("a.service"), "edited").expect("edit");
        std::fs::write(d.path().join("mine.service"), "user").expect("user file");
        let e = write_dir(
            d.path(),
            &[
                file("a.service", "2"),
                file("mine.service", "x"),
                file("new.service", "n"),
            ],
        )
        .expect_err("conflicts")
        .to_string();
        assert!(
            e.contains("a.service: edited since wasmunit wrote it"),
            "{e}"
        );
        assert!(e.contains("mine.service: not written by wasmunit"), "{e}");
        assert!(!d.path().join("new.service").exists());
        assert_eq!(
            std::fs::read_to_string(d.path().join("mine.service")).expect("read"),
            "user"
        );
    }

    #[test]
    fn keeps_edited_stale_files() {
        let d = tempfile::tempdir().expect("tempdir");
        write_dir(d.path(), &[file("a.service", "1"), file("b.service", "2")]).expect("write");
        std::fs::write(d.path().join("b.service"), "edited").expect("edit");
        let r = write_dir(d.path(), &[file("a.service", "1")]).expect("write");
        assert_eq!(r.kept, ["b.service"]);
        assert!(d.path().join("b.service").exists());
    }

    /// A crash before any step leaves, for every file, the old or the new
    /// content, and the next run completes the new set.
    #[test]
    fn a_crash_at_any_step_leaves_old_or_new_and_the_next_run_proceeds() {
        let old = [
            file("a.service", "a1"),
            file("b.service", "b1"),
            file("gone.service", "g1"),
        ];
        let new = [
            file("a.service", "a2"),
            file("b.service", "b1"),
            file("c.service", "c2"),
        ];
        let steps = {
            let d = tempfile::tempdir().expect("tempdir");
            write_dir(d.path(), &old).expect("old");
            let mut seen = Vec::new();
            write_dir_with(d.path(), &new, Unlisted::Remove, &mut |s| {
                seen.push(s.clone());
                Ok(())
            })
            .expect("new");
            seen
        };
        assert_eq!(steps.len(), 5, "{steps:?}");
        for crash_at in 0..steps.len() {
            let d = tempfile::tempdir().expect("tempdir");
            write_dir(d.path(), &old).expect("old");
            let mut n = 0;
            let crashed = write_dir_with(d.path(), &new, Unlisted::Remove, &mut |s| {
                n += 1;
                if n > crash_at {
                    return Err(WriteError::Stopped { step: s.clone() });
                }
                Ok(())
            });
            assert!(crashed.is_err());
            for (o, w) in old.iter().zip(&new) {
                let have = std::fs::read(d.path().join(&o.name)).ok();
                if o.name == w.name {
                    assert!(
                        have == Some(o.bytes.clone()) || have == Some(w.bytes.clone()),
                        "{crash_at} {}",
                        o.name
                    );
                }
            }
            let r = write_dir(d.path(), &new)
                .unwrap_or_else(|e| panic!("after a crash at step {crash_at}: {e:#}"));
            assert!(r.kept.is_empty(), "{r:?}");
            for f in &new {
                assert_eq!(
                    std::fs::read(d.path().join(&f.name)).expect("read"),
                    f.bytes
                );
            }
            assert!(!d.path().join("gone.service").exists());
            let marker = std::fs::read_to_string(d.path().join(MARKER)).expect("marker");
            assert_eq!(
                marker.lines().filter(|l| !l.starts_with('#')).count(),
                3,
                "{marker}"
            );
        }
    }

    #[test]
    fn never_replaces_a_symlink() {
        let d = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::symlink("/etc/hostname", d.path().join("a.service")).expect("symlink");
        assert!(write_dir(d.path(), &[file("a.service", "1")]).is_err());
    }
}
