//! The fragment on stdout, and nothing there unless all of it was made.
//! What is written is rendered and validated first, so only a write can
//! fail: a regular file (a full disk) is cut back to where our bytes
//! began; a pipe that fails is one whose reader is gone.

use std::io::{Seek, Write};
use std::os::fd::AsFd;

use super::{Result, WriteError};

/// Runs `produce` on a buffered stdout; in a regular file, its bytes stay
/// only if it succeeds.
pub fn all_or_nothing(produce: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<()> {
    let failed = |source| WriteError::Stdout { source };
    let out = std::fs::File::from(
        std::io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .map_err(failed)?,
    );
    if out.metadata().is_ok_and(|m| m.is_file()) {
        let start = our_start(&out).map_err(failed)?;
        let mut buffered = std::io::BufWriter::with_capacity(1 << 16, &out);
        let result = produce(&mut buffered).and_then(|()| buffered.flush());
        drop(buffered);
        if result.is_err() {
            let _ = out.set_len(start);
        }
        return result.map_err(failed);
    }
    // A pipe or a terminal: every error but its own (a closed pipe) came
    // before the first byte, as `produce` writes only what was rendered.
    let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    produce(&mut stdout)
        .and_then(|()| stdout.flush())
        .map_err(failed)
}

/// `text` on stdout: a closed pipe (`| head`) is an error that says so,
/// never a panic.
pub fn text(text: &str) -> Result<()> {
    let mut o = std::io::stdout().lock();
    o.write_all(text.as_bytes())
        .and_then(|()| o.flush())
        .map_err(|source| WriteError::Stdout { source })
}

/// Where our bytes begin in a regular file: its end when it was opened to
/// append (`>>`), else the current position.
fn our_start(out: &std::fs::File) -> std::io::Result<u64> {
    let flags = rustix::fs::fcntl_getfl(out)?;
    if flags.contains(rustix::fs::OFlags::APPEND) {
        Ok(out.metadata()?.len())
    } else {
        let mut file = out;
        Ok(file.stream_position()?)
    }
}
