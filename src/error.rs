//! The one error type of every command, and the exit status each kind gives:
//! 1 for input wasmunit refuses (a manifest error, a module that would not
//! run, a file it may not touch, a failed call), 2 for usage errors.

use std::fmt::{self, Write as _};

use crate::diag::{Diagnostic, Diagnostics};
use crate::pipeline::Blocked;

#[derive(Debug)]
pub enum Error {
    /// Errors in a user's file, each at its `file:line:col`.
    Manifest(Diagnostics),
    /// `check` found a module the target would not run.
    Blocked(Blocked),
    /// A command-line argument that names nothing usable.
    Usage(String),
    /// Anything else: refusals to touch files, I/O, D-Bus; with its causes.
    Other(anyhow::Error),
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => 2,
            Error::Manifest(_) | Error::Blocked(_) | Error::Other(_) => 1,
        }
    }
}

impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Self {
        let e = match e.downcast::<Error>() {
            Ok(typed) => return typed,
            Err(e) => e,
        };
        let e = match e.downcast::<Diagnostics>() {
            Ok(d) => return Error::Manifest(d),
            Err(e) => e,
        };
        let e = match e.downcast::<Diagnostic>() {
            Ok(d) => return Error::Manifest(Diagnostics(vec![d])),
            Err(e) => e,
        };
        match e.downcast::<Blocked>() {
            Ok(b) => Error::Blocked(b),
            Err(e) => Error::Other(e),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
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

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_exit_status_and_text() {
        let usage = Error::Usage("x: not a regular file".into());
        assert_eq!(
            (usage.exit_code(), usage.to_string().as_str()),
            (2, "error: x: not a regular file")
        );
        let other: Error = anyhow::anyhow!("inner").context("outer").into();
        assert_eq!(other.exit_code(), 1);
        assert_eq!(other.to_string(), "error: outer\n  caused by: inner");
        let src: std::sync::Arc<str> = "version = 2\n".into();
        let d = Diagnostic::new(std::path::Path::new("a.toml"), &src, Some(10..11), "bad");
        let manifest: Error = anyhow::Error::new(d).into();
        assert!(matches!(manifest, Error::Manifest(_)));
        assert!(
            manifest.to_string().starts_with("a.toml:1:11: error: bad"),
            "{manifest}"
        );
    }
}
