//! The one error type of every command, and the exit status each outcome
//! gives: one meaning per status, so that a script can tell `diff` finding
//! changes from `diff` failing ([`EXIT_CODES`], printed by `--help`).
//!
//! As in just's `src/error.rs`: each stage has its own enum with one
//! variant per failure, naming the path, unit or call and the cause
//! (`WriteError`, `DeployError`, `SystemdError`, `InputError`,
//! `RenderError`, `CheckError`); [`Error`] holds them, [`Error::kind`]
//! names each variant's [`Kind`], and the kind decides the status. README's
//! table ([`exit_table_markdown`]) lists every kind.

use std::fmt::Write as _;

use crate::check::checked::CheckError;
use crate::deploy::dbus::SystemdError;
use crate::deploy::DeployError;
use crate::diag::Diagnostics;
use crate::input::InputError;
use crate::render::error::RenderError;
use crate::write::site::SiteError;
use crate::write::{FileError, WriteError};

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

/// How a command ends without an error, when that is not plain success
/// of a run that changed nothing: its status, and when it is given.
const OUTCOMES: [(Exit, &str); 4] = [
    (
        Exit::Success,
        "success; `diff`: nothing would change; `check`: every module runs",
    ),
    (
        Exit::Refused,
        "`check`: a module the target would not run (the report says which and why)",
    ),
    (Exit::Changes, "`diff`: something would change"),
    (
        Exit::UnitFailed,
        "`apply`, `status`: a unit is in the `failed` state on the host",
    ),
];

/// Declares [`Kind`]: every kind of failure, with its exit status and
/// what it means, listed once ([`Kind::ALL`]) for `--help` and README.
macro_rules! kinds {
    ($( $(#[$doc:meta])* $kind:ident => $exit:ident, $meaning:literal; )*) => {
        /// Every kind of failure a user can meet, each with its exit
        /// status: [`Error::kind`] decides it for every error.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Kind {
            $( $(#[$doc])* $kind, )*
        }

        impl Kind {
            /// Every kind, in the order README lists them.
            const ALL: &'static [Kind] = &[$(Kind::$kind),*];

            pub fn exit(self) -> Exit {
                match self {
                    $(Kind::$kind => Exit::$exit,)*
                }
            }

            /// When a command fails this way, for people.
            pub fn meaning(self) -> &'static str {
                match self {
                    $(Kind::$kind => $meaning,)*
                }
            }
        }
    };
}

kinds! {
    /// [`Error::Manifest`].
    Manifest => Refused,
        "the manifest (or a file it names) has errors, each at its `file:line:column`, all reported at once; nothing written";
    /// [`Error::Check`] of a blocked module.
    Blocked => Refused,
        "`render`, `apply`, `diff`: a module the target wasmtime would not run (`check`'s report, then the refusal); nothing written";
    /// [`Error::Check`] of flags no single unit spells.
    SplitFlags => Refused,
        "no single unit runs across the wasmtime range (one end needs flags the other does not spell); nothing written";
    /// [`Error::Render`].
    Render => Refused,
        "a value of the manifest no unit file or Ignition config can carry as it is, or a local module that cannot be read again to embed it (the reason named); nothing written";
    /// [`Error::Input`].
    Unreadable => Refused,
        "`check`: a module file that cannot be read (missing, a link, not a regular file, too large), the reason named";
    /// A [`WriteError`] decided before writing.
    WriteRefused => Refused,
        "a file wasmunit may not touch (not written by it, edited since, a link or folder in its place, an unreadable ownership marker), each named; nothing written";
    /// A [`DeployError`] decided before the first change.
    HostRefused => Refused,
        "`apply`, `remove`: the host is not ready (each missing program, unwritable folder, foreign unit name, module file with other bytes named); nothing changed";
    /// A file-system call that failed.
    FileFailed => Refused,
        "a file-system call failed (what, the path and the system's answer named); what was done before it stays, and the next run completes it";
    /// A D-Bus call that failed.
    SystemdFailed => Refused,
        "a D-Bus call to systemd failed (the call, the unit and the answer named); what was done before it stays, and the next run completes it";
    /// `systemd-sysusers` or gpg could not run, or failed.
    ProgramFailed => Refused,
        "`apply`: systemd-sysusers could not run or failed; `bundle`: gpg could not sign (its message shown)";
    /// A [`SiteError`] refusal: what a published folder must keep.
    PublishRefused => Refused,
        "`bundle`: a version already published with other bytes, an image edited since it was published, or a signed folder and no --sign-key; nothing written";
    /// stdout could not take the output.
    Stdout => Refused,
        "stdout could not be written (a closed pipe, a full disk)";
    /// [`Error::Usage`].
    Usage => Usage,
        "usage error: an argument that names nothing usable (or a command line clap refuses)";
    /// [`Error::RolledBack`].
    RolledBack => UnitFailed,
        "`apply`: a unit did not come up; every unit of the apply was rolled back to its previous file and restarted";
}

/// README's exit-status table: every outcome and every kind of failure,
/// by status (tests/all/conventions.rs holds README to it).
pub fn exit_table_markdown() -> String {
    let mut rows: Vec<(i32, &str)> = OUTCOMES.iter().map(|(e, m)| (e.code(), *m)).collect();
    rows.extend(Kind::ALL.iter().map(|k| (k.exit().code(), k.meaning())));
    rows.sort_by_key(|(code, _)| *code);
    let mut s = String::from("| status | when |\n|---|---|\n");
    for (code, meaning) in rows {
        let _ = writeln!(s, "| {code} | {meaning} |");
    }
    s
}

/// One variant per stage, each holding that stage's typed failure; the
/// exit status is decided per failure ([`Error::kind`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Errors in a user's file, each at its `file:line:col`.
    #[error("{0}")]
    Manifest(Diagnostics),
    /// `check` refused the plan: a module the target would not run, or
    /// flags no single unit spells across the range.
    #[error("{0}")]
    Check(#[from] CheckError),
    /// A command-line argument that names nothing usable.
    #[error("{0}")]
    Usage(String),
    /// A module file `check` was given that cannot be read.
    #[error("{0}")]
    Input(#[from] InputError),
    /// New units that did not come up: rolled back to their previous files.
    #[error("{} did not come up within {wait_s} s; their previous unit files were restored and restarted", units.join(", "))]
    RolledBack { units: Vec<String>, wait_s: u64 },
    /// A value or line of the manifest that no unit can carry.
    #[error("{}: {source}", manifest.display())]
    Render {
        manifest: std::path::PathBuf,
        source: RenderError,
    },
    /// Writing an output folder or stdout.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// `apply`, `diff`, `status`, `remove` on the host (files, D-Bus).
    #[error(transparent)]
    Deploy(#[from] DeployError),
    /// `bundle`: publishing into the fleet's folder.
    #[error(transparent)]
    Site(#[from] SiteError),
}

impl From<SystemdError> for Error {
    fn from(e: SystemdError) -> Self {
        Error::Deploy(e.into())
    }
}

impl From<FileError> for Error {
    fn from(e: FileError) -> Self {
        Error::Write(e.into())
    }
}

fn write_kind(e: &WriteError) -> Kind {
    match e {
        WriteError::MarkerUnreadable { .. }
        | WriteError::MarkerNotUtf8 { .. }
        | WriteError::MarkerMalformed { .. }
        | WriteError::MarkerInTheWay { .. }
        | WriteError::NotAFile { .. }
        | WriteError::Conflicts { .. }
        | WriteError::NotAFolder { .. }
        | WriteError::BadName { .. } => Kind::WriteRefused,
        WriteError::Unreadable { .. } | WriteError::File(_) | WriteError::Stopped { .. } => {
            Kind::FileFailed
        }
        WriteError::Stdout { .. } => Kind::Stdout,
    }
}

fn deploy_kind(e: &DeployError) -> Kind {
    match e {
        DeployError::ManagerTooOld { .. }
        | DeployError::RenderedForNewer { .. }
        | DeployError::GrantNotAFolder { .. }
        | DeployError::LinkOnTheWay { .. }
        | DeployError::ForeignUnits { .. }
        | DeployError::ModuleDiffers { .. }
        | DeployError::ModuleNotOnHost { .. }
        | DeployError::ModuleChanged { .. }
        | DeployError::ImageNotOnHost { .. }
        | DeployError::ImageDiffers { .. }
        | DeployError::NotOurs { .. }
        | DeployError::Unready { .. }
        | DeployError::RemoveUnready { .. }
        | DeployError::NothingToRemove { .. } => Kind::HostRefused,
        DeployError::ModuleUnreadable { .. } | DeployError::File(_) => Kind::FileFailed,
        DeployError::SysusersSpawn { .. } | DeployError::Sysusers { .. } => Kind::ProgramFailed,
        DeployError::Write(w) => write_kind(w),
        DeployError::Systemd(_) => Kind::SystemdFailed,
    }
}

impl Error {
    /// Which failure this is: every variant (and every variant of the
    /// stages' errors inside) has its kind, and so its exit status.
    pub fn kind(&self) -> Kind {
        match self {
            Error::Manifest(_) => Kind::Manifest,
            Error::Check(CheckError::Blocked(_)) => Kind::Blocked,
            Error::Check(CheckError::SplitFlags { .. }) => Kind::SplitFlags,
            Error::Usage(_) => Kind::Usage,
            Error::Input(_) => Kind::Unreadable,
            Error::RolledBack { .. } => Kind::RolledBack,
            Error::Render { .. } => Kind::Render,
            Error::Write(w) | Error::Site(SiteError::Write(w)) => write_kind(w),
            Error::Deploy(d) => deploy_kind(d),
            Error::Site(SiteError::GpgSpawn { .. } | SiteError::Gpg { .. }) => Kind::ProgramFailed,
            Error::Site(
                SiteError::Republished { .. }
                | SiteError::SameVersion { .. }
                | SiteError::ImageEdited { .. }
                | SiteError::SignatureWouldGoStale { .. },
            ) => Kind::PublishRefused,
        }
    }

    pub fn exit(&self) -> Exit {
        self.kind().exit()
    }

    pub fn exit_code(&self) -> i32 {
        self.exit().code()
    }

    /// The report, styled for a terminal when `styled`.
    pub fn render(&self, styled: bool) -> String {
        use crate::style::{paint, sgr};
        match self {
            Error::Manifest(d) => d.render(styled),
            Error::Check(CheckError::Blocked(b)) => b.to_string(),
            _ => format!("{}: {self}", paint(styled, sgr::ERROR, "error")),
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
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        let unreadable = Error::Input(InputError::Io {
            at: "m.wasm".into(),
            err: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
        assert_eq!(
            (unreadable.exit_code(), unreadable.render(false)),
            (1, format!("error: cannot read `m.wasm`: {missing}"))
        );
        let refused: Error = WriteError::Conflicts {
            conflicts: vec![crate::write::Conflict {
                path: "out/a.service".into(),
                edited: true,
            }],
        }
        .into();
        assert_eq!(refused.kind(), Kind::WriteRefused);
        assert!(
            refused
                .render(false)
                .contains("out/a.service: edited since wasmunit wrote it"),
            "{refused}"
        );
        let failed: Error = FileError {
            op: crate::write::Op::Remove,
            path: "out/b.service".into(),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        }
        .into();
        assert_eq!(failed.kind(), Kind::FileFailed);
        assert!(
            failed
                .render(false)
                .starts_with("error: cannot remove out/b.service: "),
            "{failed}"
        );
        let call: Error = SystemdError::Call {
            method: "StartUnit",
            on: "wasm-a.service".into(),
            source: Box::new(zbus::Error::InvalidReply),
        }
        .into();
        assert_eq!((call.kind(), call.exit_code()), (Kind::SystemdFailed, 1));
        assert!(
            call.render(false)
                .starts_with("error: systemd StartUnit wasm-a.service: "),
            "{call}"
        );
        let rolled = Error::RolledBack {
            units: vec!["wasm-a.service".into()],
            wait_s: 30,
        };
        assert_eq!(rolled.exit_code(), 4);
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

    /// Every status has a meaning in the table, and every kind's status is
    /// one `--help` explains.
    #[test]
    fn the_table_covers_every_status_and_every_kind() {
        let table = exit_table_markdown();
        for (exit, _) in EXIT_CODES {
            assert!(
                table.contains(&format!("\n| {} | ", exit.code())),
                "{table}"
            );
        }
        for kind in Kind::ALL {
            assert!(EXIT_CODES.iter().any(|(e, _)| *e == kind.exit()));
            assert!(table.contains(kind.meaning()), "{kind:?}");
        }
    }
}
