//! A bundle into the folder a fleet downloads from: the image, and the
//! `SHA256SUMS` (optionally `SHA256SUMS.gpg`) that systemd-sysupdate's
//! `url-file` source reads beside it, listing every version wasmunit
//! published there. A published version is never rewritten with other
//! bytes: nodes may hold it already.

use std::path::{Path, PathBuf};

use super::{current_hash, lock_dir, owned_files, DirWrite, OutFile, WriteError};
use crate::render::bundle::parse_image_name;

/// The index sysupdate reads (`sha256sum` format), and its signature.
const SUMS: &str = "SHA256SUMS";
const SIGNATURE: &str = "SHA256SUMS.gpg";

/// Why a bundle was not published: one variant per refusal or failure.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error(
        "{}: this version is already published with other bytes; a published version never \
         changes (nodes may hold it): publish the next version",
        path.display()
    )]
    Republished { path: PathBuf },
    #[error(
        "{}: the image changed since wasmunit published it; SHA256SUMS would vouch for bytes \
         wasmunit did not write: restore it or remove it",
        path.display()
    )]
    ImageEdited { path: PathBuf },
    #[error(
        "{} exists: the folder's versions are signed; pass --sign-key (an unsigned SHA256SUMS \
         beside an old signature would be refused by every node)",
        path.display()
    )]
    SignatureWouldGoStale { path: PathBuf },
    #[error("cannot run gpg to sign SHA256SUMS: {source}")]
    GpgSpawn { source: std::io::Error },
    #[error("gpg could not sign SHA256SUMS with key `{key}` ({status}): {stderr}")]
    Gpg {
        key: String,
        status: String,
        stderr: String,
    },
}

/// What a publish did: the folder write, and every version now listed.
pub struct Published {
    pub write: DirWrite,
    pub listed: Vec<String>,
}

/// Adds `image` (its file name and bytes) to `dir`, and rewrites the sums
/// of every image wasmunit published there; signed with `sign_key` when
/// given. Nothing is written unless everything (the signature too) is ready.
pub fn publish(dir: &Path, image: OutFile, sign_key: Option<&str>) -> Result<Published, SiteError> {
    super::create_dir_all(dir)?;
    // Held until the sums are written: two publishes at once both land.
    let _lock = lock_dir(dir)?;
    let new_hash = super::sha256(&image.bytes);
    let mut sums: Vec<(String, String)> = Vec::new();
    for (name, hashes) in owned_files(dir)? {
        if parse_image_name(&name).is_none() || name == image.name {
            continue;
        }
        match current_hash(dir, &name)? {
            Some(h) if hashes.contains(&h) => sums.push((name, h)),
            Some(_) => {
                return Err(SiteError::ImageEdited {
                    path: dir.join(name),
                })
            }
            None => {}
        }
    }
    match current_hash(dir, &image.name)? {
        Some(h) if h != new_hash => {
            return Err(SiteError::Republished {
                path: dir.join(&image.name),
            })
        }
        _ => {}
    }
    sums.push((image.name.clone(), new_hash));
    sums.sort();
    let text: String = sums.iter().map(|(n, h)| format!("{h}  {n}\n")).collect();
    let mut files = vec![
        image,
        OutFile {
            name: SUMS.to_owned(),
            bytes: text.into_bytes(),
        },
    ];
    match sign_key {
        Some(key) => files.push(OutFile {
            name: SIGNATURE.to_owned(),
            bytes: sign(&files[1].bytes, key)?,
        }),
        None if dir.join(SIGNATURE).symlink_metadata().is_ok() => {
            return Err(SiteError::SignatureWouldGoStale {
                path: dir.join(SIGNATURE),
            })
        }
        None => {}
    }
    let write = super::write_dir_adding(dir, &files)?;
    Ok(Published {
        write,
        listed: sums.into_iter().map(|(n, _)| n).collect(),
    })
}

/// A detached signature of `data` by `key`, made by the user's gpg (their
/// keyring, `GNUPGHOME` honoured): what systemd-pull checks with `gpg`.
fn sign(data: &[u8], key: &str) -> Result<Vec<u8>, SiteError> {
    use std::io::Write as _;
    let mut child = std::process::Command::new("gpg")
        .args(["--batch", "--yes", "--no-tty", "--local-user", key])
        .args(["--output", "-", "--detach-sign"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|source| SiteError::GpgSpawn { source })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(data)
            .map_err(|source| SiteError::GpgSpawn { source })?;
    }
    let out = child
        .wait_with_output()
        .map_err(|source| SiteError::GpgSpawn { source })?;
    if !out.status.success() || out.stdout.is_empty() {
        return Err(SiteError::Gpg {
            key: key.to_owned(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(out.stdout)
}
