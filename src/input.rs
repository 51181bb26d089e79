//! The one way in for every file wasmunit reads: the manifest, modules,
//! shipped files and folders, the ownership marker, module files named to
//! `check`. A path below a root (the manifest's folder, `--out`) is opened
//! one component at a time with `O_NOFOLLOW`, so no link in any component
//! is followed; only regular files are read, and only after `fstat` says
//! what they are and how large; a FIFO or device is never opened for
//! reading (it could block or never end).
//!
//! Why not openat2(RESOLVE_BENEATH): seccomp filters of container runtimes
//! answer it with ENOSYS or EPERM, and the paths here are already plain
//! (no `..`, checked at parse time), so walking them costs one openat per
//! component and works on every kernel.

use std::ffi::{CStr, OsStr};
use std::fmt;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

/// Largest module file read (the largest real modules seen are ~70 MB).
pub const MAX_MODULE_BYTES: u64 = 1 << 30;

/// Why an input could not be read, naming the path where it went wrong.
#[derive(Debug)]
pub enum InputError {
    /// A component (or the file itself) is a symbolic link.
    Link {
        at: PathBuf,
    },
    /// Not a regular file (or, for a folder component, not a folder).
    NotRegular {
        at: PathBuf,
        found: &'static str,
    },
    TooLarge {
        at: PathBuf,
        size: u64,
        max: u64,
    },
    /// A name that is not UTF-8 (Butane and Ignition configs are UTF-8).
    NotUtf8 {
        at: PathBuf,
    },
    Io {
        at: PathBuf,
        err: std::io::Error,
    },
}

impl InputError {
    /// The path it names, as the user would type it.
    pub fn path(&self) -> &Path {
        match self {
            InputError::Link { at }
            | InputError::NotRegular { at, .. }
            | InputError::TooLarge { at, .. }
            | InputError::NotUtf8 { at }
            | InputError::Io { at, .. } => at,
        }
    }

    /// The file does not exist (some callers treat that as "none yet").
    pub fn is_not_found(&self) -> bool {
        matches!(self, InputError::Io { err, .. } if err.kind() == std::io::ErrorKind::NotFound)
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = shown(self.path());
        match self {
            InputError::Link { .. } => write!(
                f,
                "`{at}` is a symbolic link; wasmunit follows no links (name the file it points to)"
            ),
            InputError::NotRegular { found, .. } => {
                write!(f, "`{at}` is {found}, not a regular file")
            }
            InputError::TooLarge { size, max, .. } => write!(
                f,
                "`{at}` is {size} bytes, more than the {max} bytes wasmunit reads"
            ),
            InputError::NotUtf8 { .. } => write!(
                f,
                "`{at}` has a name that is not UTF-8, which Butane and Ignition cannot carry"
            ),
            InputError::Io { err, .. } => write!(f, "cannot read `{at}`: {err}"),
        }
    }
}

impl std::error::Error for InputError {}

/// A path as shown in a message: control characters escaped, so a file
/// name cannot move the cursor or forge lines on the user's terminal.
pub fn shown(path: &Path) -> String {
    let s = path.to_string_lossy();
    if s.chars().any(char::is_control) {
        s.escape_debug().to_string()
    } else {
        s.into_owned()
    }
}

/// The file name ends in `.EXT`, in any case (`m.WAT` is a `.wat` file,
/// `APPS.TOML` a manifest): the one place a file's kind is read off its
/// name. `ext` is given in lower case, without the dot.
pub fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension()
        .is_some_and(|e| e.as_encoded_bytes().eq_ignore_ascii_case(ext.as_bytes()))
}

/// A regular file opened for reading, with what `fstat` said of it.
pub struct OpenFile {
    pub file: std::fs::File,
    pub size: u64,
    pub path: PathBuf,
    pub stat: rustix::fs::Stat,
}

impl OpenFile {
    /// Its whole content, refused when larger than `max` (checked before
    /// reading, and again while reading, should it grow).
    pub fn read_all(mut self, max: u64) -> Result<Vec<u8>, InputError> {
        if self.size > max {
            return Err(InputError::TooLarge {
                at: self.path,
                size: self.size,
                max,
            });
        }
        let mut bytes = Vec::with_capacity(usize::try_from(self.size).unwrap_or(0));
        let read = (&mut self.file)
            .take(max + 1)
            .read_to_end(&mut bytes)
            .map_err(|err| InputError::Io {
                at: self.path.clone(),
                err,
            })?;
        if read as u64 > max {
            return Err(InputError::TooLarge {
                at: self.path,
                size: read as u64,
                max,
            });
        }
        Ok(bytes)
    }
}

impl OpenFile {
    /// [`OpenFile::read_all`], exactly the `fstat` size, handing each piece
    /// to `each` on another core as soon as it is read (a hash is done
    /// when the read is). A file that shrinks or grows while being read is
    /// refused: `each` saw exactly the bytes returned.
    pub fn read_all_with(
        mut self,
        max: u64,
        each: impl FnMut(&[u8]) + Send,
    ) -> Result<Vec<u8>, InputError> {
        /// Small enough for the consumer to start early, large enough
        /// that handing over costs nothing.
        const PIECE: usize = 1 << 20;
        if self.size > max {
            return Err(InputError::TooLarge {
                at: self.path,
                size: self.size,
                max,
            });
        }
        let changed = || std::io::Error::other("it changed while being read");
        let len = usize::try_from(self.size).map_err(|_| InputError::TooLarge {
            at: self.path.clone(),
            size: self.size,
            max,
        })?;
        // Zeroed by the kernel as the read first touches it.
        let mut bytes = vec![0u8; len];
        ask_for_huge_pages(&mut bytes);
        let file = &mut self.file;
        let read = std::thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::channel::<&[u8]>();
            let mut each = each;
            s.spawn(move || rx.into_iter().for_each(&mut each));
            for piece in bytes.chunks_mut(PIECE) {
                file.read_exact(piece).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::UnexpectedEof {
                        changed()
                    } else {
                        e
                    }
                })?;
                let piece: &[u8] = piece;
                // The consumer only ends when the sender does.
                let _ = tx.send(piece);
            }
            let mut probe = [0u8; 1];
            match file.read(&mut probe)? {
                0 => Ok(()),
                _ => Err(changed()),
            }
        });
        read.map_err(|err| InputError::Io { at: self.path, err })?;
        Ok(bytes)
    }
}

/// Asks the kernel to back a large buffer with huge pages: reading yosys
/// 0.55 (30.8 MB) took 8,650 page faults in 4 KiB pages, 1,510 with them
/// (`perf stat`). Only advice: where transparent huge pages are off, or
/// the call fails, nothing changes.
fn ask_for_huge_pages(buf: &mut [u8]) {
    const HUGE: usize = 2 << 20;
    if buf.len() < 2 * HUGE {
        return;
    }
    // SAFETY: sysconf reads a constant of the system.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    let start = buf.as_mut_ptr() as usize;
    let first = start.next_multiple_of(page);
    let end = (start + buf.len()) / page * page;
    // SAFETY: the range lies inside `buf`, which we borrow mutably, and
    // MADV_HUGEPAGE changes how its pages are backed, never their contents.
    unsafe {
        libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
    }
}

/// A folder opened without following links, to open files beneath it.
pub struct Root {
    fd: OwnedFd,
    /// How the folder was named, for messages.
    path: PathBuf,
}

impl Root {
    /// The folder the user named (an empty path is the working folder). The
    /// user's own path may pass through links (`/home` on many systems is
    /// one); nothing below it may.
    pub fn open(path: &Path) -> Result<Root, InputError> {
        let name: &Path = if path.as_os_str().is_empty() {
            Path::new(".")
        } else {
            path
        };
        let fd = rustix::fs::open(name, dir_flags(), Mode::empty()).map_err(|e| {
            if e == Errno::NOTDIR {
                InputError::NotRegular {
                    at: path.to_path_buf(),
                    found: "not a folder",
                }
            } else {
                io(path, e)
            }
        })?;
        Ok(Root {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// The folder holding `file` (the user's path to a manifest or module)
    /// and the file's own name in it.
    pub fn of_file(file: &Path) -> Result<(Root, PathBuf), InputError> {
        let name = file.file_name().ok_or_else(|| InputError::NotRegular {
            at: file.to_path_buf(),
            found: "not a file name",
        })?;
        let parent = file.parent().unwrap_or(Path::new(""));
        Ok((Root::open(parent)?, PathBuf::from(name)))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `rel` (plain components joined by `/`) beneath this folder: every
    /// folder on the way opened with `O_NOFOLLOW`, the last one a regular
    /// file.
    pub fn open_file(&self, rel: &Path) -> Result<OpenFile, InputError> {
        let (dir, name, at) = self.walk_to_parent(rel)?;
        open_file_at(dir.as_ref().map_or(self.fd.as_fd(), AsFd::as_fd), name, at)
    }

    /// Like [`Root::open_file`], for a folder.
    pub fn open_dir(&self, rel: &Path) -> Result<Folder, InputError> {
        let (dir, name, at) = self.walk_to_parent(rel)?;
        let parent = dir.as_ref().map_or(self.fd.as_fd(), AsFd::as_fd);
        let fd = open_dir_at(parent, name, &at)?;
        Ok(Folder { fd, path: at })
    }

    /// What `rel` is, without following a link at its end: `None` when
    /// it does not exist.
    pub fn kind_of(&self, rel: &Path) -> Result<Option<FileType>, InputError> {
        let (dir, name, at) = self.walk_to_parent(rel)?;
        let parent = dir.as_ref().map_or(self.fd.as_fd(), AsFd::as_fd);
        match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(FileType::from_raw_mode(st.st_mode))),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(io(&at, e)),
        }
    }

    /// Opens every folder of `rel` but the last component; returns that
    /// folder (None: the root itself), the last name, and the full path.
    fn walk_to_parent<'r>(
        &self,
        rel: &'r Path,
    ) -> Result<(Option<OwnedFd>, &'r OsStr, PathBuf), InputError> {
        let mut parts = Vec::new();
        for c in rel.components() {
            match c {
                std::path::Component::Normal(s) => parts.push(s),
                std::path::Component::CurDir => {}
                _ => {
                    return Err(InputError::NotRegular {
                        at: self.path.join(rel),
                        found: "a path that leaves its folder",
                    })
                }
            }
        }
        let Some((last, folders)) = parts.split_last() else {
            return Err(InputError::NotRegular {
                at: self.path.join(rel),
                found: "no file name",
            });
        };
        let mut at = self.path.clone();
        let mut dir: Option<OwnedFd> = None;
        for part in folders {
            at.push(part);
            let parent = dir.as_ref().map_or(self.fd.as_fd(), AsFd::as_fd);
            dir = Some(open_dir_at(parent, part, &at)?);
        }
        at.push(last);
        Ok((dir, last, at))
    }
}

/// An open folder whose entries can be listed and opened.
pub struct Folder {
    fd: OwnedFd,
    pub path: PathBuf,
}

/// One entry of a [`Folder`].
pub enum Entry {
    File(String),
    Folder(String),
}

impl Folder {
    /// Its entries, names checked to be UTF-8; links and special files are
    /// errors naming them. Sorted by name.
    pub fn entries(&self) -> Result<Vec<Entry>, InputError> {
        let mut dir = rustix::fs::Dir::read_from(&self.fd).map_err(|e| io(&self.path, e))?;
        let mut out = Vec::new();
        while let Some(e) = dir.read() {
            let e = e.map_err(|e| io(&self.path, e))?;
            let raw: &CStr = e.file_name();
            let bytes = raw.to_bytes();
            if bytes == b"." || bytes == b".." {
                continue;
            }
            let at = self.path.join(OsStr::from_bytes(bytes));
            let Ok(name) = std::str::from_utf8(bytes) else {
                return Err(InputError::NotUtf8 { at });
            };
            let st = rustix::fs::statat(&self.fd, raw, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| io(&at, e))?;
            match FileType::from_raw_mode(st.st_mode) {
                FileType::RegularFile => out.push(Entry::File(name.to_owned())),
                FileType::Directory => out.push(Entry::Folder(name.to_owned())),
                FileType::Symlink => return Err(InputError::Link { at }),
                other => {
                    return Err(InputError::NotRegular {
                        at,
                        found: describe(other),
                    })
                }
            }
        }
        out.sort_by(|a, b| entry_name(a).cmp(entry_name(b)));
        Ok(out)
    }

    pub fn open_file(&self, name: &str) -> Result<OpenFile, InputError> {
        open_file_at(self.fd.as_fd(), OsStr::new(name), self.path.join(name))
    }

    pub fn open_dir(&self, name: &str) -> Result<Folder, InputError> {
        let at = self.path.join(name);
        let fd = open_dir_at(self.fd.as_fd(), OsStr::new(name), &at)?;
        Ok(Folder { fd, path: at })
    }
}

fn entry_name(e: &Entry) -> &str {
    match e {
        Entry::File(n) | Entry::Folder(n) => n,
    }
}

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC
}

fn open_dir_at(parent: BorrowedFd<'_>, name: &OsStr, at: &Path) -> Result<OwnedFd, InputError> {
    match rustix::fs::openat(parent, name, dir_flags() | OFlags::NOFOLLOW, Mode::empty()) {
        Ok(fd) => Ok(fd),
        // O_NOFOLLOW|O_DIRECTORY on a link gives ELOOP or ENOTDIR: say which.
        Err(e) if e == Errno::LOOP || e == Errno::NOTDIR => Err(what_is(parent, name, at)),
        Err(e) => Err(io(at, e)),
    }
}

fn open_file_at(parent: BorrowedFd<'_>, name: &OsStr, at: PathBuf) -> Result<OpenFile, InputError> {
    // O_PATH opens nothing (no FIFO blocks, no device acts): fstat says
    // what it is; only then is a regular file opened for reading, and
    // checked to be the same inode.
    let probe = rustix::fs::openat(
        parent,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io(&at, e))?;
    let st = rustix::fs::fstat(&probe).map_err(|e| io(&at, e))?;
    match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => {}
        FileType::Symlink => return Err(InputError::Link { at }),
        other => {
            return Err(InputError::NotRegular {
                at,
                found: describe(other),
            })
        }
    }
    let fd = rustix::fs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io(&at, e))?;
    let stat = rustix::fs::fstat(&fd).map_err(|e| io(&at, e))?;
    if stat.st_ino != st.st_ino || stat.st_dev != st.st_dev {
        return Err(io(
            &at,
            Errno::AGAIN, // replaced between two opens: someone is racing us
        ));
    }
    Ok(OpenFile {
        file: std::fs::File::from(fd),
        size: u64::try_from(stat.st_size).unwrap_or(0),
        path: at,
        stat,
    })
}

/// The error for a name that could not be opened as a folder.
fn what_is(parent: BorrowedFd<'_>, name: &OsStr, at: &Path) -> InputError {
    match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => match FileType::from_raw_mode(st.st_mode) {
            FileType::Symlink => InputError::Link {
                at: at.to_path_buf(),
            },
            other => InputError::NotRegular {
                at: at.to_path_buf(),
                found: describe(other),
            },
        },
        Err(e) => io(at, e),
    }
}

fn describe(t: FileType) -> &'static str {
    match t {
        FileType::RegularFile => "a regular file",
        FileType::Directory => "a folder",
        FileType::Symlink => "a symbolic link",
        FileType::Fifo => "a FIFO",
        FileType::Socket => "a socket",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        FileType::Unknown => "of an unknown type",
    }
}

fn io(at: &Path, e: Errno) -> InputError {
    InputError::Io {
        at: at.to_path_buf(),
        err: e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn no_link_in_any_component_is_followed() {
        let d = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(d.path().join("real/sub")).expect("mkdir");
        std::fs::write(d.path().join("real/sub/f"), "x").expect("write");
        symlink("real", d.path().join("link")).expect("link");
        symlink("f", d.path().join("real/sub/g")).expect("link");
        let root = Root::open(d.path()).expect("root");
        let ok = root.open_file(Path::new("real/sub/f")).expect("plain");
        assert_eq!(ok.read_all(10).expect("read"), b"x");
        for (rel, bad) in [("link/sub/f", "link"), ("real/sub/g", "real/sub/g")] {
            match root.open_file(Path::new(rel)) {
                Err(InputError::Link { at }) => assert_eq!(at, d.path().join(bad), "{rel}"),
                Err(e) => panic!("{rel}: {e}"),
                Ok(_) => panic!("{rel}: followed a link"),
            }
        }
        assert!(matches!(
            root.open_dir(Path::new("link")),
            Err(InputError::Link { .. })
        ));
    }

    /// Every byte reaches the consumer, in order, across pieces; a file
    /// that grows or shrinks after `fstat` is refused, not half-read.
    #[test]
    fn read_all_with_sees_exactly_the_bytes_and_refuses_a_moving_file() {
        let d = tempfile::tempdir().expect("tmp");
        let content: Vec<u8> = (0..(3 << 20) + 7).map(|i: u32| (i % 251) as u8).collect();
        std::fs::write(d.path().join("f"), &content).expect("write");
        let root = Root::open(d.path()).expect("root");
        let mut seen = Vec::new();
        let mut pieces = 0;
        let read = root
            .open_file(Path::new("f"))
            .expect("open")
            .read_all_with(1 << 30, |p| {
                seen.extend_from_slice(p);
                pieces += 1;
            })
            .expect("read");
        assert_eq!(read, content);
        assert_eq!(seen, content);
        assert_eq!(pieces, 4);
        for (name, change) in [("grows", 1_i64), ("shrinks", -1)] {
            let opened = root.open_file(Path::new("f")).expect("open");
            let len = content.len() as u64;
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(d.path().join("f"))
                .expect("reopen");
            f.set_len(len.checked_add_signed(change).expect("len"))
                .expect("resize");
            let e = opened.read_all_with(1 << 30, |_| {}).expect_err(name);
            assert!(
                e.to_string().contains("changed while being read"),
                "{name}: {e}"
            );
            f.set_len(len).expect("restore");
        }
        let e = root
            .open_file(Path::new("f"))
            .expect("open")
            .read_all_with(10, |_| panic!("read past the cap"))
            .expect_err("too large");
        assert!(matches!(e, InputError::TooLarge { .. }), "{e}");
    }

    #[test]
    fn a_fifo_is_refused_without_blocking_and_sizes_are_capped() {
        let d = tempfile::tempdir().expect("tmp");
        let fifo = d.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).expect("c");
        // SAFETY: mkfifo reads a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let root = Root::open(d.path()).expect("root");
        let e = root
            .open_file(Path::new("fifo"))
            .err()
            .expect("fifo refused");
        assert!(e.to_string().contains("is a FIFO"), "{e}");
        std::fs::write(d.path().join("big"), vec![0u8; 100]).expect("write");
        let e = root
            .open_file(Path::new("big"))
            .expect("open")
            .read_all(99)
            .expect_err("too large");
        assert!(matches!(e, InputError::TooLarge { size: 100, .. }), "{e}");
    }

    #[test]
    fn entries_refuse_links_and_names_that_are_not_utf8() {
        let d = tempfile::tempdir().expect("tmp");
        std::fs::write(d.path().join("a"), "").expect("write");
        let root = Root::open(d.path()).expect("root");
        let listed = root.open_dir(Path::new(".")).err();
        assert!(listed.is_some(), "`.` names no file");
        std::fs::create_dir(d.path().join("t")).expect("mkdir");
        std::fs::write(d.path().join("t").join(OsStr::from_bytes(b"caf\xe9")), "").expect("w");
        let e = root.open_dir(Path::new("t")).expect("t").entries().err();
        assert!(matches!(e, Some(InputError::NotUtf8 { .. })));
        std::fs::remove_file(d.path().join("t").join(OsStr::from_bytes(b"caf\xe9"))).expect("rm");
        symlink("/etc", d.path().join("t/etc")).expect("link");
        let e = root.open_dir(Path::new("t")).expect("t").entries().err();
        assert!(matches!(e, Some(InputError::Link { .. })));
    }

    #[test]
    fn shown_escapes_control_characters() {
        assert_eq!(shown(Path::new("a\x1b[2Jb")), "a\\u{1b}[2Jb");
        assert_eq!(shown(Path::new("plain/é")), "plain/é");
    }
}
