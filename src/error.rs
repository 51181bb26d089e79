//! The one error type of every command, and the exit status each outcome
//! gives: one meaning per status, so that a script can tell `diff` finding
//! changes from `diff` failing ([`EXIT_CODES`], printed by `--help`).

use std::fmt::Write as _;

use crate::check::checked::Blocked;
use crate::diag::Diagnostics;
use crate::render::error::RenderError;

/// How a command ended, as its exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done; `diff`: nothing would change; `check`: every module runs.
    Success = 0,
    /// Input wasmunit refuses: a manifest error, a module the target would
    /// not run, a file it may not touch; or a call that failed (I/O,
    /// D-Bus). Nothing was changed.
    Refused = 1,
    /// Arguments that name nothing usable.
    Usage = 2,
    /// `diff`: something would change.
    Changes = 3,
    /// A unit failed on the host: `apply` rolled it back, or `apply` and
    /// `status` show a unit in the `failed` state.
    UnitFailed = 4,
}

/// Every exit status and what it means, for `--help` and docs.
pub const EXIT_CODES: [(Exit, &str); 5] = [
    (Exit::Success, "success; `diff`: nothing would change"),
    (
        Exit::Refused,
        "refused input (manifest error, a module the target would not run, a file wasmunit may not touch) or a failed call; nothing changed",
    ),
    (Exit::Usage, "usage error (arguments)"),
    (Exit::Changes, "`diff`: something would change"),
    (
        Exit::UnitFailed,
        "a unit failed on the host (`apply` rolled it back, or `apply`/`status` show it failed)",
    ),
];

impl Exit {
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// The exit-status table as `--help` prints it.
pub fn exit_codes_help() -> String {
    let mut s = String::from(
        "Exit status:
",
    );
    for (exit, meaning) in EXIT_CODES {
        let _ = writeln!(s, "  {}  {meaning}", exit.code());
    }
    s
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Errors in a user's file, each at its `file:line:col`.
    #[error("{0}")]
    Manifest(Diagnostics),
    /// `check` found a module the target would not run.
    #[error("{0}")]
    Blocked(Blocked),
    /// A command-line argument that names nothing usable.
    #[error("{0}")]
    Usage(String),
    /// New units that did not come up: rolled back to their previous files.
    #[error("{} did not come up within {wait_s} s; their previous unit files were restored and restarted", units.join(", "))]
    RolledBack { units: Vec<String>, wait_s: u64 },
    /// A value or line of the manifest that no unit can carry.
    #[error("{}: {source}", manifest.display())]
    Render {
        manifest: std::path::PathBuf,
        source: RenderError,
    },
    /// Anything else: refusals to touch files, I/O, D-Bus; with its causes.
    #[error("{0}")]
    Other(anyhow::Error),
}

impl Error {
    pub fn exit(&self) -> Exit {
        match self {
            Error::Usage(_) => Exit::Usage,
            Error::RolledBack { .. } => Exit::UnitFailed,
            Error::Manifest(_) | Error::Blocked(_) | Error::Render { .. } | Error::Other(_) => {
                Exit::Refused
            }
        }
    }

    pub fn exit_code(&self) -> i32 {
        self.exit().code()
    }
}

/// Refusals and failed calls of the writers and the host (files, D-Bus):
/// the stages' typed errors arrive as their own variants.
impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Self {
        Error::Other(e)
    }
}

impl Error {
    /// The report, styled for a terminal when `styled`.
    pub fn render(&self, styled: bool) -> String {
        use crate::style::{paint, sgr};
        let error = paint(styled, sgr::ERROR, "error");
        match self {
            Error::Manifest(d) => d.render(styled),
            Error::Blocked(b) => b.to_string(),
            Error::Usage(m) => format!("{error}: {m}"),
            Error::RolledBack { .. } | Error::Render { .. } => format!("{error}: {self}"),
            Error::Other(e) => {
                let mut s = format!("{error}: {e}");
                for cause in e.chain().skip(1) {
                    let _ = write!(s, "\n  caused by: {cause}");
                }
                s
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Diagnostic;

    #[test]
    fn each_kind_has_its_exit_status_and_text() {
        let usage = Error::Usage("x: not a regular file".into());
        assert_eq!(
            (usage.exit_code(), usage.render(false).as_str()),
            (2, "error: x: not a regular file")
        );
        let other: Error = anyhow::anyhow!("inner").context("outer").into();
        assert_eq!(other.exit_code(), 1);
        assert_eq!(other.render(false), "error: outer\n  caused by: inner");
        let src: std::sync::Arc<str> = "version = 2\n".into();
        let d = Diagnostic::new(std::path::Path::new("a.toml"), &src, Some(10..11), "bad");
        let manifest = Error::Manifest(Diagnostics(vec![d]));
        assert_eq!(manifest.exit_code(), 1);
        assert!(
            manifest
                .render(false)
                .starts_with("a.toml:1:11: error: bad"),
            "{manifest}"
        );
    }
}
