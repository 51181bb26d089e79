//! One file per command (or family of commands), and what they share:
//! stdout that fails loudly, the pipeline with its warnings on stderr.

pub mod check;
pub mod fleet;
pub mod host;
pub mod meta;
pub mod render;

use crate::error::Error;
use crate::{pipeline, render as rendering, write};

/// Text on stdout: a closed pipe (`| head`) is an error that says so,
/// never a panic.
pub fn to_stdout(text: &str) -> Result<(), Error> {
    Ok(write::stdout::text(text)?)
}

/// The whole pipeline for one request; the check's warnings on stderr.
pub fn rendered(request: &pipeline::Request) -> Result<rendering::Rendered, Error> {
    let rendered = pipeline::run(request)?;
    let warning = crate::style::paint(
        crate::style::stderr(),
        crate::style::sgr::WARNING,
        "warning",
    );
    for w in rendered.warnings() {
        crate::say!("{warning}: {w}");
    }
    Ok(rendered)
}
