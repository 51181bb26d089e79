//! Is a pinned image what it claims? A local image is embedded in the
//! fragment and run by the manager as an app's `/usr` (`ExtensionImages=`),
//! so its bytes are read, not its magic number: a squashfs file system
//! (backhand, a maintained pure-Rust reader) holding a wasmtime sysext.
//! systemd refuses an image whose extension-release is not named for the
//! file (`wasmtime.raw` on the node) or whose architecture is another
//! (measured: 226/NAMESPACE); a `/usr/bin/wasmtime` that is missing, a
//! link or not executable would fail every start. All three are refused
//! here first.

use std::io::{Cursor, Read as _};

use crate::invalid::Invalid;

/// The extension's name: the node path's file name, `wasmtime.raw`.
const RELEASE_FILE: &str = "/usr/lib/extension-release.d/extension-release.wasmtime";
const BINARY: &str = crate::node::paths::WASMTIME;
/// An extension-release file is a few lines; more is not one.
const MAX_RELEASE_BYTES: usize = 64 << 10;

/// Checks a local image for `arch` (`x86-64`, `arm64`).
pub fn inspect(bytes: &[u8], arch: &str) -> Result<(), Invalid> {
    if bytes.get(1024..1028) == Some(&[0xe2, 0xe1, 0xf5, 0xe0][..]) {
        return Err(Invalid::from(
            "is an erofs image, which wasmunit cannot read to see what it holds; build the \
             image as squashfs (mksquashfs TREE IMAGE -all-root), as the sysext-bakery does"
                .to_owned(),
        ));
    }
    if !bytes.starts_with(b"hsqs") {
        return Err(Invalid::from(
            "is not a sysext image: not a squashfs file system".to_owned(),
        ));
    }
    // The superblock's bytes_used (offset 40): a cut image is refused
    // before any table is read from past its end.
    let used = bytes
        .get(40..48)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_le_bytes);
    if used.is_none_or(|u| u > bytes.len() as u64) {
        return Err(Invalid::from(
            "is a squashfs file system cut short (its superblock counts more bytes than \
             the file has)"
                .to_owned(),
        ));
    }
    // A hostile image must be an error, never a panic of the reader.
    let looked = std::panic::catch_unwind(|| look_inside(bytes, arch));
    looked.unwrap_or_else(|_| {
        Err(Invalid::from(
            "is a damaged squashfs file system (its tables cannot be read)".to_owned(),
        ))
    })
}

fn look_inside(bytes: &[u8], arch: &str) -> Result<(), Invalid> {
    let fs = backhand::FilesystemReader::from_reader(Cursor::new(bytes)).map_err(|_| {
        Invalid::from(
            "is a squashfs file system wasmunit cannot read: damaged, or compressed with \
             other than gzip, xz or zstd"
                .to_owned(),
        )
    })?;
    let node = |path: &str| fs.files().find(|n| n.fullpath.as_os_str() == path);
    let release = match node(RELEASE_FILE).map(|n| &n.inner) {
        Some(backhand::InnerNode::File(f)) if f.file_len() <= MAX_RELEASE_BYTES => {
            let mut text = String::new();
            fs.file(f)
                .reader()
                .take(MAX_RELEASE_BYTES as u64)
                .read_to_string(&mut text)
                .map_err(|e| Invalid::from(format!("holds an unreadable {RELEASE_FILE}: {e}")))?;
            text
        }
        Some(_) => {
            return Err(Invalid::from(format!(
                "holds {RELEASE_FILE}, but not as a small regular file"
            )))
        }
        None => {
            return Err(Invalid::from(format!(
                "is not a wasmtime sysext: it has no {RELEASE_FILE} (systemd would refuse to \
                 use it as wasmtime.raw)"
            )))
        }
    };
    // The last assignment wins, as systemd reads the file.
    let field = |key: &str| {
        release.lines().rev().find_map(|l| {
            l.strip_prefix(key)
                .and_then(|v| v.strip_prefix('='))
                .map(|v| v.trim().trim_matches('"'))
        })
    };
    if field("ID").is_none() {
        return Err(Invalid::from(format!(
            "has no ID= in {RELEASE_FILE} (the bakery's say ID=_any); systemd refuses it"
        )));
    }
    if let Some(a) = field("ARCHITECTURE").filter(|a| *a != arch) {
        return Err(Invalid::from(format!(
            "is built for {} (ARCHITECTURE= in {RELEASE_FILE}), and the pin says {arch}",
            a.escape_debug()
        )));
    }
    match node(BINARY) {
        Some(n) => match &n.inner {
            backhand::InnerNode::File(f)
                if n.header.permissions & 0o111 != 0 && f.file_len() > 0 =>
            {
                // Every block of it decompresses: a cut or damaged image
                // fails here, not at the node's first start.
                let read = std::io::copy(&mut fs.file(f).reader(), &mut std::io::sink());
                match read {
                    Ok(n) if n == f.file_len() as u64 => Ok(()),
                    _ => Err(Invalid::from(format!(
                        "holds a {BINARY} whose data cannot be read whole (a cut or damaged image)"
                    ))),
                }
            }
            backhand::InnerNode::File(_) => Err(Invalid::from(format!(
                "holds {BINARY}, but empty or not executable"
            ))),
            _ => Err(Invalid::from(format!(
                "holds {BINARY}, but not as a regular file (a link could point anywhere)"
            ))),
        },
        None => Err(Invalid::from(format!(
            "is not a wasmtime sysext: it has no {BINARY}"
        ))),
    }
}
