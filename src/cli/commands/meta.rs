//! What the command line says of itself: man pages (completions and the
//! schema are one call each, in [`crate::cli::run`]).

use crate::error::{Error, Exit};
use crate::write;

/// Every page rendered first, then written together (never over a file
/// wasmunit did not write).
pub fn man_cmd(out: &std::path::Path) -> Result<Exit, Error> {
    let top = <crate::cli::args::Cli as clap::CommandFactory>::command()
        .version(crate::cli::about::version());
    let mut files = Vec::new();
    let mut page = |name: String, cmd: clap::Command| -> Result<(), Error> {
        let mut bytes = Vec::new();
        clap_mangen::Man::new(cmd)
            .date(crate::cli::about::RELEASE_DATE)
            .render(&mut bytes)
            .map_err(write::FileError::at(
                write::Op::Write,
                out.join(format!("{name}.1")),
            ))?;
        files.push(write::OutFile {
            name: format!("{name}.1"),
            bytes,
        });
        Ok(())
    };
    for sub in top.get_subcommands() {
        let name = format!("wasmunit-{}", sub.get_name());
        page(
            name.clone(),
            sub.clone().name(name).version(crate::cli::about::version()),
        )?;
    }
    page("wasmunit".to_owned(), top.clone())?;
    let r = write::write_dir(out, &files)?;
    crate::say!("wasmunit: {}: {}", out.display(), r.summary());
    Ok(Exit::Success)
}
