//! A bundle into the folder a fleet downloads from: the image, and the
//! `SHA256SUMS` (optionally `SHA256SUMS.gpg`) that systemd-sysupdate's
//! `url-file` source reads beside it, listing every version wasmunit
//! published there. A published version is never rewritten with other
//! bytes: nodes may hold it already.

use std::collections::BTreeSet;
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
        "{}: version {new} would be the same version to sysupdate (`systemd-analyze \
         compare-versions`): nodes could hold other bytes under it; publish a higher version",
        path.display()
    )]
    SameVersion { path: PathBuf, new: String },
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
///
/// Which older images the sums list: the ones wasmunit's marker in the
/// folder names, unchanged since; when signing, also only those the
/// folder's current `SHA256SUMS` lists under a good signature of the same
/// key (whoever can write the folder can write the marker, but cannot make
/// the key vouch for an image it never signed).
pub fn publish(dir: &Path, image: OutFile, sign_key: Option<&str>) -> Result<Published, SiteError> {
    let new_folder = std::fs::symlink_metadata(dir).is_err();
    if new_folder {
        // A new folder: sign first, so a failing gpg leaves no folder behind.
        if let Some(key) = sign_key {
            sign(b"", key)?;
        }
    }
    super::create_dir_all(dir)?;
    if new_folder {
        // A web server reads it, whatever the publisher's umask.
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
            .map_err(super::FileError::at(super::Op::Create, dir))
            .map_err(WriteError::from)?;
    }
    // Held until the sums are written: two publishes at once both land.
    let _lock = lock_dir(dir)?;
    let new_hash = super::sha256(&image.bytes);
    let owned = owned_files(dir)?;
    let vouched = match sign_key {
        Some(key) => Some(signed_sums(dir, key)?),
        None => None,
    };
    let mut sums = older_images(dir, &owned, &image.name, vouched.as_ref())?;
    // One version, one image: also under another spelling sysupdate equates.
    if let Some((v, arch)) = parse_image_name(&image.name) {
        for name in owned.keys().filter(|n| **n != image.name) {
            if let Some((old, old_arch)) = parse_image_name(name) {
                if old_arch == arch && old.order_key() == v.order_key() {
                    return Err(SiteError::SameVersion {
                        path: dir.join(name),
                        new: v.as_str().to_owned(),
                    });
                }
            }
        }
    }
    // A version is published once, even if its file was removed since.
    let republished = match current_hash(dir, &image.name)? {
        Some(h) => h != new_hash,
        None => owned
            .get(&image.name)
            .is_some_and(|hs| !hs.contains(&new_hash)),
    };
    if republished {
        return Err(SiteError::Republished {
            path: dir.join(&image.name),
        });
    }
    sums.push((image.name.clone(), new_hash));
    sums.sort();
    let text = sums.iter().fold(String::new(), |mut t, (n, h)| {
        t.push_str(h);
        t.push_str("  ");
        t.push_str(n);
        t.push('\n');
        t
    });
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

/// The images wasmunit published in `dir` before, but `new`: each still
/// holding the bytes it wrote and, when `vouched` (signing), listed there
/// under the key's signature.
fn older_images(
    dir: &Path,
    owned: &super::Owned,
    new: &str,
    vouched: Option<&BTreeSet<(String, String)>>,
) -> Result<Vec<(String, String)>, SiteError> {
    let mut sums: Vec<(String, String)> = Vec::new();
    for (name, hashes) in owned {
        if parse_image_name(name).is_none() || name == new {
            continue;
        }
        match current_hash(dir, name)? {
            Some(h) if hashes.contains(&h) => {
                if vouched
                    .as_ref()
                    .is_none_or(|v| v.contains(&(name.clone(), h.clone())))
                {
                    sums.push((name.clone(), h));
                } else {
                    crate::say!(
                        "wasmunit: {}: not listed again: SHA256SUMS holds no good signature of \
                         this key for it",
                        dir.join(name).display()
                    );
                }
            }
            Some(_) => {
                return Err(SiteError::ImageEdited {
                    path: dir.join(name),
                })
            }
            None => {}
        }
    }
    Ok(sums)
}

/// What the folder's `SHA256SUMS` lists, when `SHA256SUMS.gpg` is a good
/// signature of it by `key`'s primary key; empty otherwise (a first signed
/// publish, another key, no signature). Both read like every input.
fn signed_sums(dir: &Path, key: &str) -> Result<BTreeSet<(String, String)>, SiteError> {
    let read = |name: &str| -> Option<Vec<u8>> {
        let root = crate::input::Root::open(dir).ok()?;
        root.open_file(Path::new(name))
            .ok()?
            .read_all(16 << 20)
            .ok()
    };
    let (Some(sums), Some(sig)) = (read(SUMS), read(SIGNATURE)) else {
        return Ok(BTreeSet::new());
    };
    let want = primary_fingerprint(key)?;
    let tmp = tempfile::tempdir().map_err(|source| SiteError::GpgSpawn { source })?;
    let (s, g) = (tmp.path().join("sums"), tmp.path().join("sig"));
    std::fs::write(&s, &sums)
        .and_then(|()| std::fs::write(&g, &sig))
        .map_err(|source| SiteError::GpgSpawn { source })?;
    let out = gpg()
        .args(["--no-auto-key-retrieve", "--max-output", "16777216"])
        .args(["--status-fd", "1", "--verify"])
        .arg(&g)
        .arg(&s)
        .output()
        .map_err(|source| SiteError::GpgSpawn { source })?;
    // `[GNUPG:] VALIDSIG <signing key> … <primary key>`: the last word; and
    // nothing that says the signing key or signature is revoked or expired
    // (gpg still prints VALIDSIG for those).
    let status = String::from_utf8_lossy(&out.stdout);
    let refused = [
        "REVKEYSIG",
        "EXPKEYSIG",
        "EXPSIG",
        "KEYREVOKED",
        "BADSIG",
        "ERRSIG",
    ];
    let good = out.status.success()
        && status.lines().any(|l| l.starts_with("[GNUPG:] GOODSIG "))
        && !status.lines().any(|l| {
            l.strip_prefix("[GNUPG:] ")
                .and_then(|r| r.split_whitespace().next())
                .is_some_and(|w| refused.contains(&w))
        })
        && status.lines().any(|l| {
            l.strip_prefix("[GNUPG:] VALIDSIG ")
                .and_then(|rest| rest.split_whitespace().last())
                .is_some_and(|fpr| fpr.eq_ignore_ascii_case(&want))
        });
    if !good {
        return Ok(BTreeSet::new());
    }
    Ok(String::from_utf8_lossy(&sums)
        .lines()
        .filter_map(|l| l.split_once("  "))
        .map(|(h, n)| (n.to_owned(), h.to_owned()))
        .collect())
}

/// The fingerprint of `key`'s primary key, from the user's secret keyring.
fn primary_fingerprint(key: &str) -> Result<String, SiteError> {
    let out = gpg()
        .args(["--with-colons", "--list-secret-keys", "--", key])
        .output()
        .map_err(|source| SiteError::GpgSpawn { source })?;
    let text = String::from_utf8_lossy(&out.stdout);
    // The first `fpr` record after the first `sec` record.
    let fpr = text
        .lines()
        .skip_while(|l| !l.starts_with("sec:"))
        .find_map(|l| l.strip_prefix("fpr:"))
        .and_then(|rest| rest.split(':').find(|f| !f.is_empty()));
    match fpr {
        Some(f) if out.status.success() => Ok(f.to_owned()),
        _ => Err(SiteError::Gpg {
            key: key.to_owned(),
            status: out.status.to_string(),
            stderr: format!(
                "no secret key of that name: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        }),
    }
}

/// gpg as every call here runs it: no terminal, no questions.
fn gpg() -> std::process::Command {
    let mut c = std::process::Command::new("gpg");
    c.args(["--batch", "--no-tty"]);
    c.stdin(std::process::Stdio::null());
    c
}

/// A detached signature of `data` by `key`, made by the user's gpg (their
/// keyring, `GNUPGHOME` honoured): what systemd-pull checks with `gpg`.
fn sign(data: &[u8], key: &str) -> Result<Vec<u8>, SiteError> {
    use std::io::Write as _;
    let mut child = gpg()
        .args(["--yes", "--local-user", key])
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
