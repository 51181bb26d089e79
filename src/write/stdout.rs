//! The fragment on stdout, and nothing there unless all of it was made: a
//! regular file is written in place and cut back to where our bytes began
//! on an error; anything else (a pipe, a terminal) gets the bytes from a
//! scratch file once they are all there.

use std::io::{Seek, Write};
use std::os::fd::AsFd;

use anyhow::{anyhow, Context, Result};

/// Runs `produce` on a buffered writer whose bytes reach stdout only if it
/// succeeds.
pub fn all_or_nothing<T>(produce: impl FnOnce(&mut dyn Write) -> Result<T>) -> Result<T> {
    let out = std::fs::File::from(std::io::stdout().as_fd().try_clone_to_owned()?);
    if out.metadata().is_ok_and(|m| m.is_file()) {
        let start = our_start(&out)?;
        let mut buffered = std::io::BufWriter::with_capacity(1 << 16, &out);
        let result = produce(&mut buffered).and_then(|t| {
            buffered.flush()?;
            Ok(t)
        });
        drop(buffered);
        if result.is_err() {
            let _ = out.set_len(start);
        }
        return result;
    }
    let scratch = tempfile::tempfile().context("cannot create a scratch file")?;
    let mut buffered = std::io::BufWriter::with_capacity(1 << 16, scratch);
    let t = produce(&mut buffered)?;
    let mut scratch = buffered
        .into_inner()
        .map_err(|e| anyhow!("cannot write a scratch file: {}", e.error()))?;
    scratch.rewind()?;
    let mut stdout = std::io::stdout().lock();
    std::io::copy(&mut scratch, &mut stdout)
        .and_then(|_| stdout.flush())
        .context("cannot write to stdout")?;
    Ok(t)
}

/// Where our bytes begin in a regular file: its end when it was opened to
/// append (`>>`), else the current position.
fn our_start(out: &std::fs::File) -> Result<u64> {
    let flags = rustix::fs::fcntl_getfl(out)?;
    if flags.contains(rustix::fs::OFlags::APPEND) {
        Ok(out.metadata()?.len())
    } else {
        let mut file = out;
        Ok(file.stream_position()?)
    }
}
