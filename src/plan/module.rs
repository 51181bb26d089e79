//! Locating and hashing modules. A module is addressed on the node by its
//! content hash, so two apps sharing a module share one file, and a changed
//! module is a new path (and therefore a changed unit) in review.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use toml::Spanned;

use crate::manifest::schema::ModuleSource;

/// Where modules live on the node.
pub const NODE_MODULE_DIR: &str = "/var/lib/wasmunit/modules";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModulePlan {
    pub origin: ModuleOrigin,
    /// Lowercase hex SHA-256 of the WebAssembly binary.
    pub sha256: String,
    /// Absolute path of the binary on the node.
    pub node_path: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleOrigin {
    /// A `.wasm` file next to the manifest, embedded with `butane --files-dir`.
    Local { rel: String, abs: PathBuf },
    /// A `.wat` file next to the manifest, compiled to a binary by wasmunit.
    Compiled {
        rel: String,
        abs: PathBuf,
        bytes: Arc<Vec<u8>>,
    },
    /// Fetched by Ignition and verified against the hash.
    Url { url: String },
}

impl ModuleOrigin {
    /// Path of a local source as written in the manifest, or the URL.
    pub fn display(&self) -> &str {
        match self {
            ModuleOrigin::Local { rel, .. } | ModuleOrigin::Compiled { rel, .. } => rel,
            ModuleOrigin::Url { url } => url,
        }
    }

    pub fn local_path(&self) -> Option<&Path> {
        match self {
            ModuleOrigin::Local { abs, .. } | ModuleOrigin::Compiled { abs, .. } => Some(abs),
            ModuleOrigin::Url { .. } => None,
        }
    }
}

impl ModulePlan {
    /// The module's size in bytes, without reading it (`None` for a URL, or
    /// a file that cannot be read).
    pub fn size(&self) -> Option<u64> {
        match &self.origin {
            ModuleOrigin::Compiled { bytes, .. } => Some(bytes.len() as u64),
            ModuleOrigin::Local { abs, .. } => std::fs::metadata(abs).ok().map(|m| m.len()),
            ModuleOrigin::Url { .. } => None,
        }
    }

    /// The module's bytes, read from disk or from the compiled WAT.
    pub fn read_bytes(&self) -> std::io::Result<Arc<Vec<u8>>> {
        match &self.origin {
            ModuleOrigin::Compiled { bytes, .. } => Ok(bytes.clone()),
            ModuleOrigin::Local { abs, .. } => std::fs::read(abs).map(Arc::new),
            ModuleOrigin::Url { .. } => Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "module is fetched from a URL on the node",
            )),
        }
    }
}

pub struct ModuleError {
    pub message: String,
    pub help: String,
}

/// Resolves module sources relative to the manifest's folder, hashing each
/// distinct file once.
pub struct Resolver {
    base: PathBuf,
    seen: HashMap<ModuleSource, Result<Arc<ModulePlan>, (String, String)>>,
}

impl Resolver {
    pub fn new(base: &Path) -> Self {
        Resolver {
            base: base.to_path_buf(),
            seen: HashMap::new(),
        }
    }

    pub fn resolve(&mut self, src: &Spanned<ModuleSource>) -> Result<Arc<ModulePlan>, ModuleError> {
        if let Some(r) = self.seen.get(src.get_ref()) {
            return r
                .clone()
                .map_err(|(message, help)| ModuleError { message, help });
        }
        let r = resolve_uncached(&self.base, src.get_ref())
            .map(Arc::new)
            .map_err(|e| (e.message, e.help));
        self.seen.insert(src.get_ref().clone(), r.clone());
        r.map_err(|(message, help)| ModuleError { message, help })
    }
}

fn resolve_uncached(base: &Path, src: &ModuleSource) -> Result<ModulePlan, ModuleError> {
    match src {
        ModuleSource::Url { url, sha256 } => {
            check_url(url)?;
            let ok = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit());
            if !ok {
                return Err(ModuleError {
                    message: format!(
                        "`sha256` must be 64 hex digits, got `{}`",
                        sha256.escape_debug()
                    ),
                    help: "compute it with `sha256sum module.wasm`".to_owned(),
                });
            }
            let sha256 = sha256.to_ascii_lowercase();
            Ok(ModulePlan {
                node_path: node_path(&sha256),
                sha256,
                origin: ModuleOrigin::Url { url: url.clone() },
            })
        }
        ModuleSource::Local(rel) => {
            let rel_norm = check_relative(rel)?;
            let abs = base.join(&rel_norm);
            let missing = |e: std::io::Error| ModuleError {
                message: format!("cannot read module `{}`: {e}", abs.display()),
                help: "module paths are relative to the manifest's folder".to_owned(),
            };
            let meta = std::fs::metadata(&abs).map_err(missing)?;
            if !meta.is_file() {
                return Err(ModuleError {
                    message: format!("module `{}` is not a regular file", abs.display()),
                    help: "point `module` at a .wasm (or .wat) file".to_owned(),
                });
            }
            if rel_norm.ends_with(".wat") {
                let text = std::fs::read_to_string(&abs).map_err(missing)?;
                let bytes = wat::parse_str(&text).map_err(|mut e| {
                    e.set_path(&abs);
                    ModuleError {
                        message: format!("cannot compile `{rel}` from WAT: {e}"),
                        help: "fix the WAT text, or point `module` at a compiled .wasm".to_owned(),
                    }
                })?;
                let sha256 = hex::encode(Sha256::digest(&bytes));
                Ok(ModulePlan {
                    node_path: node_path(&sha256),
                    sha256,
                    origin: ModuleOrigin::Compiled {
                        rel: rel_norm,
                        abs,
                        bytes: Arc::new(bytes),
                    },
                })
            } else {
                let sha256 = hash_file(&abs).map_err(missing)?;
                Ok(ModulePlan {
                    node_path: node_path(&sha256),
                    sha256,
                    origin: ModuleOrigin::Local { rel: rel_norm, abs },
                })
            }
        }
    }
}

fn node_path(sha256: &str) -> String {
    format!("{NODE_MODULE_DIR}/{sha256}.wasm")
}

pub fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Butane resolves `contents.local` inside `--files-dir`, so a local module
/// must be a plain relative path that stays inside the manifest's folder.
pub(super) fn check_relative(rel: &str) -> Result<String, ModuleError> {
    let err = |why: &str| ModuleError {
        message: format!("module path `{}` {why}", rel.escape_debug()),
        help: "module paths are relative to the manifest's folder, which is Butane's --files-dir"
            .to_owned(),
    };
    if rel.is_empty() {
        return Err(err("is empty"));
    }
    if rel.chars().any(|c| c.is_control() || c == '\\') {
        return Err(err("contains a control character or a backslash"));
    }
    let p = Path::new(rel);
    let mut parts = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => return Err(err("leaves the manifest's folder (`..`)")),
            Component::RootDir | Component::Prefix(_) => return Err(err("must be relative")),
        }
    }
    if parts.is_empty() {
        return Err(err("names no file"));
    }
    Ok(parts.join("/"))
}

fn check_url(url: &str) -> Result<(), ModuleError> {
    let scheme_ok = ["https://", "http://", "s3://", "gs://", "tftp://"]
        .iter()
        .any(|s| url.starts_with(s) && url.len() > s.len());
    if !scheme_ok || url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(ModuleError {
            message: format!("invalid module URL `{}`", url.escape_debug()),
            help: "Ignition fetches https://, http://, s3://, gs:// and tftp:// URLs".to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_stay_inside() {
        assert_eq!(
            check_relative("./modules/a.wasm").ok(),
            Some("modules/a.wasm".to_owned())
        );
        for bad in ["", "/abs.wasm", "../x.wasm", "a/../../x", ".", "a\nb"] {
            assert!(check_relative(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn urls_need_a_known_scheme() {
        assert!(check_url("https://example.org/a.wasm").is_ok());
        for bad in ["ftp://x", "https://", "https://a b", "file:///etc/passwd"] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
