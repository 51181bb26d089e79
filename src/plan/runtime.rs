//! A pinned runtime: the sysext image of one exact wasmtime release that an
//! app runs from (`ExtensionImages=`), whatever the node merges.

use std::path::Path;
use std::sync::Arc;

use sha2::{Digest as _, Sha256};

use crate::input::Root;
use crate::invalid::Invalid;
use crate::releases::WasmtimeVersion;

/// The bakery's published images.
pub const BAKERY: &str = "https://extensions.flatcar.org/extensions";

/// A sysext image is at most this large (the bakery's are ~20 MB).
const MAX_IMAGE_BYTES: u64 = 1 << 30;

/// The architectures the bakery builds wasmtime for.
pub const ARCHES: [&str; 2] = ["x86-64", "arm64"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedRuntime {
    pub version: WasmtimeVersion,
    pub arch: &'static str,
    pub image: ImageOrigin,
    /// The image on the node. Its file name is the extension's name:
    /// systemd matches it against `extension-release.wasmtime` inside
    /// (measured: under the bakery's file name the unit fails, 226/NAMESPACE).
    pub node_path: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageOrigin {
    /// Fetched by Ignition; verified when a hash is known.
    Url {
        url: String,
        shown: String,
        sha256: Option<String>,
    },
    /// A file beside the manifest (embedded by Butane), hashed and checked
    /// to be a squashfs or erofs image.
    Local {
        rel: String,
        sha256: String,
        bytes: Arc<Vec<u8>>,
    },
}

impl PinnedRuntime {
    /// The file name the bakery publishes.
    pub fn bakery_name(version: WasmtimeVersion, arch: &str) -> String {
        format!("wasmtime-v{version}-{arch}.raw")
    }

    pub fn node_path_for(version: WasmtimeVersion, arch: &str) -> String {
        format!(
            "{}/{}/wasmtime.raw",
            crate::node::paths::RUNTIME_DIR.path,
            Self::bakery_name(version, arch).trim_end_matches(".raw")
        )
    }

    pub fn sha256(&self) -> Option<&str> {
        match &self.image {
            ImageOrigin::Url { sha256, .. } => sha256.as_deref(),
            ImageOrigin::Local { sha256, .. } => Some(sha256),
        }
    }

    /// The image as the manifest names it (the URL without credentials).
    pub fn shown(&self) -> &str {
        match &self.image {
            ImageOrigin::Url { shown, .. } => shown,
            ImageOrigin::Local { rel, .. } => rel,
        }
    }
}

/// Local images read so far, by their path (a `[defaults]` pin is read
/// once, not once per app).
#[derive(Debug, Default)]
pub struct Memo {
    budget: super::embed_budget::EmbedBudget,
    read: std::collections::HashMap<String, Result<ImageOrigin, Invalid>>,
    /// Which image each node path holds, and the first app that pinned
    /// it: one release, one image.
    claims: std::collections::HashMap<String, (String, String)>,
}

impl Memo {
    pub fn new(budget: super::embed_budget::EmbedBudget) -> Memo {
        Memo {
            budget,
            ..Memo::default()
        }
    }

    /// Claims `node_path` for `image` on behalf of `app`; another image of
    /// the same release and architecture is refused (one file on the node
    /// holds one).
    pub fn claim(
        &mut self,
        node_path: &str,
        image: &ImageOrigin,
        app: &str,
    ) -> Result<(), Invalid> {
        let (id, shown) = match image {
            ImageOrigin::Url { shown, sha256, .. } => (
                format!("{shown} {}", sha256.as_deref().unwrap_or("")),
                shown,
            ),
            ImageOrigin::Local { rel, sha256, .. } => (format!("{rel} {sha256}"), rel),
        };
        match self.claims.get(node_path) {
            Some((other, first)) if *other != id => Err(Invalid::from(format!(
                "app `{first}` pins the same release and architecture to another image ({}), \
                 this one is {shown}; a node holds one image per release: pin both to one",
                other.split(' ').next().unwrap_or_default()
            ))),
            Some(_) => Ok(()),
            None => {
                self.claims
                    .insert(node_path.to_owned(), (id, app.to_owned()));
                Ok(())
            }
        }
    }

    pub fn local(&mut self, base: &Path, rel: &str, arch: &str) -> Result<ImageOrigin, Invalid> {
        let budget = &self.budget;
        self.read
            .entry(format!("{arch} {rel}"))
            .or_insert_with(|| {
                read_local_image(base, rel, arch, budget).map(|(sha256, bytes)| {
                    ImageOrigin::Local {
                        rel: rel.to_owned(),
                        sha256,
                        bytes,
                    }
                })
            })
            .clone()
    }
}

/// Reads a local image below `base`: no link followed, at most
/// [`MAX_IMAGE_BYTES`], a wasmtime sysext for `arch`
/// ([`super::runtime_image`]).
fn read_local_image(
    base: &Path,
    rel: &str,
    arch: &str,
    budget: &super::embed_budget::EmbedBudget,
) -> Result<(String, Arc<Vec<u8>>), Invalid> {
    let file = Root::open(base)
        .and_then(|root| root.open_file(Path::new(rel)))
        .map_err(|e| format!("cannot read image `{rel}`: {e}"))?;
    if file.size <= MAX_IMAGE_BYTES {
        budget.take(file.size, &format!("image `{rel}`"))?;
    }
    let bytes = file
        .read_all(MAX_IMAGE_BYTES)
        .map_err(|e| format!("cannot read image `{rel}`: {e}"))?;
    super::runtime_image::inspect(&bytes, arch)
        .map_err(|e| Invalid::from(format!("`{rel}` {}", e.reason())))?;
    Ok((hex::encode(Sha256::digest(&bytes)), Arc::new(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_paths_are_per_release_and_named_for_the_extension() {
        let v = WasmtimeVersion::new(31, 0, 0);
        assert_eq!(
            PinnedRuntime::node_path_for(v, "x86-64"),
            format!(
                "{}/wasmtime-v31.0.0-x86-64/wasmtime.raw",
                crate::node::paths::RUNTIME_DIR.path
            )
        );
    }
}
