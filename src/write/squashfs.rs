//! An [`ImageTree`] → the bytes of a squashfs image, with backhand (a
//! maintained pure-Rust writer: no `mksquashfs` on the user's machine).
//! Reproducible: every time stamp is 0, every file root's, and entries go
//! in in path order, so the same tree gives the same bytes.

use std::io::Cursor;

use backhand::compression::Compressor;
use backhand::{FilesystemCompressor, FilesystemWriter, NodeHeader};

use crate::render::bundle::{Entry, ImageTree};

/// Why an image could not be made (a path the format refuses, or the
/// writer's own error), as text for the user.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the squashfs image: {0}")]
pub struct ImageError(String);

/// The image, in memory (a bundle is at most the 2 GiB its plan read).
pub fn image_bytes(tree: &ImageTree) -> Result<Vec<u8>, ImageError> {
    let err = |e: backhand::BackhandError| ImageError(e.to_string());
    let mut fs = FilesystemWriter::default();
    fs.set_time(0);
    fs.set_root_mode(0o755);
    fs.set_root_uid(0);
    fs.set_root_gid(0);
    fs.set_only_root_id();
    // gzip: every kernel's squashfs reads it (the bakery's images are gzip too).
    fs.set_compressor(FilesystemCompressor::new(Compressor::Gzip, None).map_err(err)?);
    let dir = NodeHeader::new(0o755, 0, 0, 0);
    let mut made = std::collections::BTreeSet::new();
    for (path, entry) in &tree.entries {
        // Each parent folder once, shallowest first.
        let mut parent = String::new();
        let parts: Vec<&str> = path.split('/').collect();
        for part in &parts[..parts.len() - 1] {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(part);
            if made.insert(parent.clone()) {
                fs.push_dir(&parent, dir).map_err(err)?;
            }
        }
        match entry {
            Entry::File { bytes, mode } => fs
                .push_file(
                    Cursor::new(bytes.as_slice()),
                    path,
                    NodeHeader::new(*mode, 0, 0, 0),
                )
                .map_err(err)?,
            Entry::Link { target } => fs
                .push_symlink(target, path, NodeHeader::new(0o777, 0, 0, 0))
                .map_err(err)?,
        }
    }
    let mut out = Cursor::new(Vec::new());
    fs.write(&mut out).map_err(err)?;
    Ok(out.into_inner())
}
