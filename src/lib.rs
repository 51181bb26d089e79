//! wasmunit: a TOML manifest of WebAssembly workloads → hardened systemd
//! units and a Flatcar Butane fragment.
//!
//! Data flow, one [`pipeline`] for every command: [`manifest`] (parse, with
//! spans) → [`plan`] (resolved names, paths, hashes) → [`check`] (facts
//! about each module for the [`target`] CLI, and the flags it needs) →
//! [`render`] (units, Butane; pure) → [`write`] (files) or [`deploy`]
//! (D-Bus). What is known about each wasmtime CLI version is in [`target`].

/// A line on stderr. Unlike `eprintln!`, a stderr that is a closed pipe
/// is no panic: the message is lost, the run goes on.
#[macro_export]
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

/// Text on stderr as is (no newline added); see [`say!`].
#[macro_export]
macro_rules! say_raw {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($t)*);
    }};
}

pub mod check;
pub mod cli;
pub mod deploy;
mod diag;
pub mod error;
pub mod input;
mod invalid;
pub mod manifest;
pub mod node;
pub mod pipeline;
pub mod plan;
mod progress;
pub mod releases;
pub mod render;
mod style;
pub mod unit;
mod write;

/// `--version`: the crate, the embedded engine `check` uses, and the CLI
/// versions it renders for.
pub fn version() -> String {
    use releases::WasmtimeVersion;
    format!(
        "{} (embedded engine: wasmtime {}; renders for the wasmtime CLI {} to {}.x)",
        env!("CARGO_PKG_VERSION"),
        env!("WASMUNIT_ENGINE_VERSION"),
        WasmtimeVersion::OLDEST,
        WasmtimeVersion::NEWEST.major,
    )
}

/// The date of this version, for the man pages' `.TH` line (bumped with
/// the version; a fixed value keeps the pages byte-stable).
pub const RELEASE_DATE: &str = "2026-12-04";

/// Runs the CLI and returns the process exit status (the table is
/// [`error::EXIT_CODES`]).
pub fn main_with_args<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::Parser;
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                error::Exit::Usage.code()
            } else {
                error::Exit::Success.code()
            };
        }
    };
    match cli::run(cli) {
        Ok(exit) => exit.code(),
        Err(e) => {
            say!("{}", e.render(style::stderr()));
            e.exit_code()
        }
    }
}
