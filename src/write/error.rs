//! Why a file wasmunit writes was not written: one variant per failure,
//! each naming the path and the cause. A refusal is decided before the
//! first byte is written; the rest are calls that failed on the way.
//! `crate::error` gives each variant its kind and exit status.

use std::path::PathBuf;

use crate::input::{shown, InputError};

/// What a file-system call was doing, for messages (`cannot {op} PATH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Create,
    CreateTempIn,
    Write,
    Read,
    Remove,
    Open,
    Lock,
    Sync,
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Op::Create => "create",
            Op::CreateTempIn => "create a temporary file in",
            Op::Write => "write",
            Op::Read => "read",
            Op::Remove => "remove",
            Op::Open => "open",
            Op::Lock => "lock",
            Op::Sync => "flush the file system of",
        })
    }
}

/// A file-system call that failed: what it did, on which path, and why.
#[derive(Debug, thiserror::Error)]
#[error("cannot {op} {}: {source}", shown(path))]
pub struct FileError {
    pub op: Op,
    pub path: PathBuf,
    pub source: std::io::Error,
}

impl FileError {
    /// `map_err` of a call doing `op` on `path`.
    pub fn at(op: Op, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> FileError {
        let path = path.into();
        move |source| FileError { op, path, source }
    }
}

/// One file in the way of a write, and why it is not wasmunit's to replace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub path: PathBuf,
    /// Listed in the ownership marker, with other bytes than wasmunit wrote.
    pub edited: bool,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let why = if self.edited {
            "edited since wasmunit wrote it"
        } else {
            "not written by wasmunit"
        };
        write!(f, "{}: {why}", self.path.display())
    }
}

/// A point of [`write_dir`](super::write_dir) where a crash may happen;
/// tests inject failures at each one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteStep {
    /// Recording the union of old and new ownership.
    MarkerBefore,
    Rename(String),
    Remove(String),
    /// Recording the new ownership only.
    MarkerAfter,
}

const GUESS: &str = "refusing to guess which files wasmunit owns";

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The folder's ownership marker cannot be read (a link, a FIFO, too
    /// large, an I/O error).
    #[error("{source}; {GUESS}")]
    MarkerUnreadable { source: InputError },
    #[error("{} is not UTF-8; {GUESS}", shown(path))]
    MarkerNotUtf8 { path: PathBuf },
    #[error("{}:{line}: malformed line; {GUESS}", shown(path))]
    MarkerMalformed { path: PathBuf, line: usize },
    /// Where the marker's next version is written first, a file that is
    /// no marker.
    #[error(
        "{} is in the way (wasmunit writes its ownership marker there first); move it away",
        shown(path)
    )]
    MarkerInTheWay { path: PathBuf },
    /// A file wasmunit may replace that cannot be read to hash it.
    #[error("{source}")]
    Unreadable { source: InputError },
    /// A link, folder or other non-file where wasmunit would write one.
    #[error("{source}; wasmunit will not replace it")]
    NotAFile { source: InputError },
    /// Files wasmunit did not write, or edited since: all of them.
    #[error(
        "refusing to overwrite {} file(s); nothing was written:\n  {}\n\
         move them away (or render into another folder) and run again",
        conflicts.len(),
        conflicts.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  ")
    )]
    Conflicts { conflicts: Vec<Conflict> },
    /// The output folder is a file (or another non-folder).
    #[error("{} exists and is not a folder", shown(path))]
    NotAFolder { path: PathBuf },
    /// A name no file of wasmunit's may have (a bug, not an input).
    #[error("internal error: bad output file name {name:?}")]
    BadName { name: String },
    #[error(transparent)]
    File(#[from] FileError),
    /// stdout is a closed pipe, or a full disk.
    #[error("cannot write to stdout: {source}")]
    Stdout { source: std::io::Error },
    /// A test's hook stopped the write before `step`, as a crash would.
    #[error("stopped before {step:?}")]
    Stopped { step: WriteStep },
}
