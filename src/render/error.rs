//! Why a plan could not be rendered: each a value or line the real tools
//! would refuse, caught before anything is written.

use crate::releases::flags::Unsupported;
use crate::releases::{TargetRange, WasmtimeVersion};
use crate::unit::escape::ValueError;
use crate::unit::file::LineError;

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A line too long for systemd or Ignition.
    #[error(transparent)]
    Line(#[from] LineError),
    /// A value of an app that no unit file can carry as it is.
    #[error("app `{app}`: {what}{source}")]
    Value {
        app: String,
        /// Which value, with a trailing space (empty: the message says).
        what: &'static str,
        source: ValueError,
    },
    /// A flag the app needs that its wasmtime release does not have.
    #[error("app `{app}`: {source}")]
    Flag { app: String, source: Unsupported },
    /// `--sysext` provisions a release the units were not rendered for.
    #[error(
        "the units are rendered for wasmtime {range} but --sysext provisions {sysext}; \
         set `wasmtime = \"{sysext}\"` in [defaults] or pass --wasmtime {sysext}"
    )]
    SysextOutsideRange {
        range: TargetRange,
        sysext: WasmtimeVersion,
    },
    /// A local file of the plan whose bytes are gone (read at plan time).
    #[error("no bytes for the local file `{rel}`")]
    MissingLocal { rel: String },
    /// A local module read again to embed it (the plan kept its hash, not
    /// its bytes) that cannot be read, or changed since it was hashed.
    #[error("cannot embed the module `{rel}`: {source}")]
    LocalUnreadable { rel: String, source: std::io::Error },
    /// What a bundle cannot carry.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error("cannot write the fragment: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot write the Ignition config: {0}")]
    Json(#[from] serde_json::Error),
}

impl RenderError {
    /// `map_err` of a value of `app`; the name is copied on error only.
    pub fn value<'a, D: std::fmt::Display>(
        app: &'a D,
        what: &'static str,
    ) -> impl FnOnce(ValueError) -> RenderError + 'a {
        move |source| RenderError::Value {
            app: app.to_string(),
            what,
            source,
        }
    }
}

/// Why a plan cannot become a bundle: one variant per refusal.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("rendered for the node's trees, not an image")]
    NotForAnImage,
    #[error(
        "app `{app}`: its module comes from a URL ({url}); a bundle carries its modules: \
         download it and name the file"
    )]
    UrlModule { app: String, url: String },
    #[error(
        "app `{app}`: a pinned wasmtime does not travel in a bundle; drop `pin` (the node's \
         sysext runs it) or provision the app with `render`"
    )]
    Pinned { app: String },
    #[error(
        "app `{app}`: the read-only folder {folder} would have to be created on the node, and \
         an image only holds /usr; create it in your own config or grant one that exists"
    )]
    CreatedFolder { app: String, folder: String },
    #[error(
        "{unit}: `{key}=` in [Install]: a bundle links only `WantedBy=` (an image is not \
         `systemctl enable`d); drop it"
    )]
    InstallKey { unit: String, key: String },
    #[error("{unit}: `WantedBy={target}` is not a unit name; the image would link it as a path")]
    WantedBy { unit: String, target: String },
    /// The writer's refusal (its message says what it was building).
    #[error("{0}")]
    Image(String),
}
