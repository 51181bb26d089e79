//! Command-line interface (clap derive): [`args`] reads the command line,
//! [`run`] hands it to its command in [`commands`], which calls the
//! [`crate::pipeline`] and the writers, and prints.

pub mod about;
pub mod args;
mod commands;

pub use about::{version, RELEASE_DATE};

use crate::error::{Error, Exit};
use args::{Cli, Command};
use commands::to_stdout;

/// Runs one command; its exit status on success (a report may still say
/// "something failed"), or the one error type that maps to one.
pub fn run(cli: Cli) -> Result<Exit, Error> {
    crate::style::init(cli.color);
    match cli.command {
        Command::Render(args) => commands::render::render_cmd(&args),
        Command::Apply(args) => commands::host::apply_cmd(&args),
        Command::Status(args) => commands::host::status_cmd(&args),
        Command::Diff(args) => commands::host::diff_cmd(&args),
        Command::Remove(args) => commands::host::remove_cmd(&args),
        Command::Check(args) => commands::check::check_cmd(&args),
        Command::Bundle(args) => commands::fleet::bundle_cmd(&args),
        Command::Fleet(args) => commands::fleet::fleet_cmd(&args),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "wasmunit", &mut script);
            to_stdout(&String::from_utf8_lossy(&script))?;
            Ok(Exit::Success)
        }
        Command::Man { out } => commands::meta::man_cmd(&out),
        Command::Schema => {
            to_stdout(&crate::manifest::json_schema::schema_text())?;
            Ok(Exit::Success)
        }
    }
}

/// Runs the CLI and returns the process exit status (the table is
/// [`error::EXIT_CODES`]).
pub fn main_with_args<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::Parser;
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Usage.code()
            } else {
                Exit::Success.code()
            };
        }
    };
    match run(cli) {
        Ok(exit) => exit.code(),
        Err(e) => {
            crate::say!("{}", e.render(crate::style::stderr()));
            e.exit_code()
        }
    }
}
