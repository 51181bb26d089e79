//! Locating and hashing modules. A module is addressed on the node by its
//! content hash, so two apps sharing a module share one file, and a changed
//! module is a new path (and therefore a changed unit) in review.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use toml::Spanned;

use crate::input::{InputError, OpenFile, Root, MAX_MODULE_BYTES};
use crate::manifest::schema::ModuleSource;

/// Where modules live on the node.

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
    /// `base` is the manifest's folder, which `rel` is read beneath (no
    /// link followed); `size` what it held when hashed.
    Local {
        rel: String,
        abs: PathBuf,
        base: PathBuf,
        size: u64,
    },
    /// A `.wat` file next to the manifest, compiled to a binary by wasmunit.
    Compiled {
        rel: String,
        abs: PathBuf,
        bytes: Arc<Vec<u8>>,
    },
    /// Fetched by Ignition and verified against the hash. `shown` is the
    /// URL without its credentials, for text others may read.
    Url { url: String, shown: String },
}

impl ModuleOrigin {
    /// Path of a local source as written in the manifest, or the URL.
    pub fn display(&self) -> &str {
        match self {
            ModuleOrigin::Local { rel, .. } | ModuleOrigin::Compiled { rel, .. } => rel,
            ModuleOrigin::Url { shown, .. } => shown,
        }
    }
}

impl ModulePlan {
    /// The module's size in bytes, without reading it (`None` for a URL, or
    /// a file that cannot be read).
    pub fn size(&self) -> Option<u64> {
        match &self.origin {
            ModuleOrigin::Compiled { bytes, .. } => Some(bytes.len() as u64),
            ModuleOrigin::Local { size, .. } => Some(*size),
            ModuleOrigin::Url { .. } => None,
        }
    }

    /// The module's bytes, read from disk (beneath the manifest's folder,
    /// no link followed, and only while they still hash as planned) or
    /// from the compiled WAT.
    pub fn read_bytes(&self) -> std::io::Result<Arc<Vec<u8>>> {
        match &self.origin {
            ModuleOrigin::Compiled { bytes, .. } => Ok(bytes.clone()),
            ModuleOrigin::Local { rel, base, .. } => {
                let bytes = Root::open(base)
                    .and_then(|root| root.open_file(Path::new(rel)))
                    .and_then(|f| f.read_all(MAX_MODULE_BYTES))
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                if hex::encode(Sha256::digest(&bytes)) != self.sha256 {
                    return Err(std::io::Error::other(format!(
                        "`{rel}` changed since it was hashed; run again"
                    )));
                }
                Ok(Arc::new(bytes))
            }
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
    budget: super::embed_budget::EmbedBudget,
    layout: crate::node::paths::Layout,
    seen: HashMap<ModuleSource, Result<Arc<ModulePlan>, (String, String)>>,
}

impl Resolver {
    pub fn new(
        base: &Path,
        budget: super::embed_budget::EmbedBudget,
        layout: crate::node::paths::Layout,
    ) -> Self {
        Resolver {
            base: base.to_path_buf(),
            budget,
            layout,
            seen: HashMap::new(),
        }
    }

    pub fn resolve(&mut self, src: &Spanned<ModuleSource>) -> Result<Arc<ModulePlan>, ModuleError> {
        if let Some(r) = self.seen.get(src.get_ref()) {
            return r
                .clone()
                .map_err(|(message, help)| ModuleError { message, help });
        }
        let r = resolve_uncached(&self.base, src.get_ref(), &self.budget, &self.layout)
            .map(Arc::new)
            .map_err(|e| (e.message, e.help));
        self.seen.insert(src.get_ref().clone(), r.clone());
        r.map_err(|(message, help)| ModuleError { message, help })
    }
}

/// A module Ignition fetches: its URL and hash checked, nothing read.
fn url_module(
    url: &str,
    sha256: &str,
    layout: &crate::node::paths::Layout,
) -> Result<ModulePlan, ModuleError> {
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
        node_path: node_path(layout, &sha256),
        sha256,
        origin: ModuleOrigin::Url {
            url: url.to_owned(),
            shown: without_credentials(url),
        },
    })
}

fn resolve_uncached(
    base: &Path,
    src: &ModuleSource,
    budget: &super::embed_budget::EmbedBudget,
    layout: &crate::node::paths::Layout,
) -> Result<ModulePlan, ModuleError> {
    match src {
        ModuleSource::Url { url, sha256 } => url_module(url, sha256, layout),
        ModuleSource::Local(rel) => {
            let rel_norm = check_relative(rel)?;
            let abs = base.join(&rel_norm);
            let unreadable = |e: InputError| ModuleError {
                message: match e {
                    InputError::Io { err, .. } => {
                        format!("cannot read module `{}`: {err}", abs.display())
                    }
                    e => format!("cannot use module: {e}"),
                },
                help: "module paths are relative to the manifest's folder; no link is followed \
                       and only regular files are read"
                    .to_owned(),
            };
            let file = Root::open(base)
                .and_then(|root| root.open_file(Path::new(&rel_norm)))
                .map_err(unreadable)?;
            budget
                .take(file.size, &format!("module `{rel}`"))
                .map_err(|e| ModuleError {
                    message: e.reason().to_owned(),
                    help: "a manifest embeds at most 2 GiB of local files".to_owned(),
                })?;
            if crate::input::has_extension(Path::new(&rel_norm), "wat") {
                let raw = file.read_all(MAX_MODULE_BYTES).map_err(unreadable)?;
                let bytes = wat::parse_bytes(&raw)
                    .map(std::borrow::Cow::into_owned)
                    .map_err(|mut e| {
                        e.set_path(&abs);
                        ModuleError {
                            message: format!("cannot compile `{rel}` from WAT: {e}"),
                            help: "fix the WAT text, or point `module` at a compiled .wasm"
                                .to_owned(),
                        }
                    })?;
                let sha256 = hex::encode(Sha256::digest(&bytes));
                Ok(ModulePlan {
                    node_path: node_path(layout, &sha256),
                    sha256,
                    origin: ModuleOrigin::Compiled {
                        rel: rel_norm,
                        abs,
                        bytes: Arc::new(bytes),
                    },
                })
            } else {
                let (sha256, size) = hash_open_file(file).map_err(unreadable)?;
                Ok(ModulePlan {
                    node_path: node_path(layout, &sha256),
                    sha256,
                    origin: ModuleOrigin::Local {
                        rel: rel_norm,
                        abs,
                        base: base.to_path_buf(),
                        size,
                    },
                })
            }
        }
    }
}

/// Streams a vetted file through SHA-256 (modules reach 70 MB): its hash
/// and the bytes read, at most [`MAX_MODULE_BYTES`].
fn hash_open_file(f: OpenFile) -> Result<(String, u64), InputError> {
    if f.size > MAX_MODULE_BYTES {
        return Err(InputError::TooLarge {
            at: f.path,
            size: f.size,
            max: MAX_MODULE_BYTES,
        });
    }
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    let mut file = f.file;
    loop {
        let n = file.read(&mut buf).map_err(|err| InputError::Io {
            at: f.path.clone(),
            err,
        })?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > MAX_MODULE_BYTES {
            return Err(InputError::TooLarge {
                at: f.path,
                size: total,
                max: MAX_MODULE_BYTES,
            });
        }
        h.update(&buf[..n]);
    }
    Ok((hex::encode(h.finalize()), total))
}

fn node_path(layout: &crate::node::paths::Layout, sha256: &str) -> String {
    layout.modules.join(&format!("{sha256}.wasm"))
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

/// A URL as Ignition will parse it (Go's net/url, then its scheme list):
/// a URL that parser refuses, Ignition refuses at the node's first boot,
/// after Butane and render accepted it.
fn check_url(url: &str) -> Result<(), ModuleError> {
    url_problem(url).map_or(Ok(()), |why| {
        Err(ModuleError {
            message: format!(
                "invalid module URL `{}`: {why}",
                without_credentials(url).escape_debug()
            ),
            help: "Ignition fetches https://, http://, s3://, gs:// and tftp:// URLs; \
                   write a literal `%` as %25"
                .to_owned(),
        })
    })
}

pub(super) fn url_problem(url: &str) -> Option<String> {
    const SCHEMES: [&str; 5] = ["https", "http", "s3", "gs", "tftp"];
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Some("it contains a space or a control character".to_owned());
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Some("it has no scheme://".to_owned());
    };
    if !SCHEMES.contains(&scheme) {
        return Some(format!("scheme `{scheme}` is not one Ignition fetches"));
    }
    // Go's parser refuses a `%` not followed by two hex digits anywhere.
    let b = url.as_bytes();
    for (i, _) in url.match_indices('%') {
        let hex = |j: usize| b.get(j).is_some_and(u8::is_ascii_hexdigit);
        if !(hex(i + 1) && hex(i + 2)) {
            return Some(format!(
                "`%` at byte {} is not followed by two hex digits",
                i + 1
            ));
        }
    }
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        let Some((inside, after)) = v6.split_once(']') else {
            return Some("an IPv6 host has no closing `]`".to_owned());
        };
        if inside.parse::<std::net::Ipv6Addr>().is_err() {
            return Some(format!("`[{inside}]` is not an IPv6 address"));
        }
        match after.strip_prefix(':') {
            Some(p) => (inside, Some(p)),
            None if after.is_empty() => (inside, None),
            None => return Some("text after the IPv6 host".to_owned()),
        }
    } else {
        match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Some("it names no host (or bucket)".to_owned());
    }
    let host_ok = host_port.starts_with('[')
        || host
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b".-_~!$&'()*+,;=%".contains(&c));
    if !host_ok {
        return Some(format!("host `{host}` has a character a host name cannot"));
    }
    if let Some(p) = port {
        let ok =
            p.is_empty() || (p.bytes().all(|c| c.is_ascii_digit()) && p.parse::<u16>().is_ok());
        if !ok {
            return Some(format!("port `{p}` is not a number from 0 to 65535"));
        }
    }
    None
}

/// The URL with any `user:password@` replaced by `***@`: it may appear in
/// unit files and messages any local user can read.
pub fn without_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => url.to_owned(),
    }
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
        for bad in [
            "ftp://x",
            "https://",
            "https://a b",
            "file:///etc/passwd",
            "https://example.org/a%zz.wasm",
            "https://example.org/100%",
            "https://example.org:http/a.wasm",
            "https://example.org:99999/a.wasm",
            "https://[::1/a.wasm",
            "https://exa mple.org/",
            "https://exa\"mple.org/",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        for good in [
            "https://example.org:8443/a%20b.wasm?x=1#f",
            "http://[::1]:80/a.wasm",
            "s3://bucket/key.wasm",
            "https://u:p@example.org/a.wasm",
        ] {
            assert!(check_url(good).is_ok(), "{good}");
        }
        assert_eq!(
            without_credentials("https://u:p%40ss@example.org/a@b.wasm"),
            "https://***@example.org/a@b.wasm"
        );
    }
}
