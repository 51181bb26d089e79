//! The Butane fragment (Flatcar variant): the rendered units verbatim, the
//! module files at their content-addressed paths, and optionally the wasmtime
//! sysext. Modelled as typed structs and written by a YAML serializer.

use base64::Engine as _;
use serde::Serialize;

use crate::plan::{ModuleOrigin, ModulePlan};

/// Flatcar Butane spec versions wasmunit can emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ButaneVersion {
    /// Ignition 3.3.0
    #[default]
    #[value(name = "1.0.0")]
    V1_0_0,
    /// Ignition 3.4.0
    #[value(name = "1.1.0")]
    V1_1_0,
}

impl ButaneVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            ButaneVersion::V1_0_0 => "1.0.0",
            ButaneVersion::V1_1_0 => "1.1.0",
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Config {
    pub variant: &'static str,
    pub version: &'static str,
    #[serde(skip_serializing_if = "Storage::is_empty")]
    pub storage: Storage,
    pub systemd: Systemd,
}

#[derive(Debug, Default, Serialize)]
pub struct Storage {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<File>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
}

impl Storage {
    fn is_empty(&self) -> bool {
        let Storage { files, links } = self;
        files.is_empty() && links.is_empty()
    }
}

#[derive(Debug, Serialize)]
pub struct File {
    pub path: String,
    /// Decimal in YAML: 420 is 0644.
    pub mode: u32,
    pub contents: Resource,
}

#[derive(Debug, Default, Serialize)]
pub struct Resource {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inline: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
}

#[derive(Debug, Serialize)]
pub struct Verification {
    pub hash: String,
}

#[derive(Debug, Serialize)]
pub struct Link {
    pub path: String,
    pub target: String,
    pub hard: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct Systemd {
    pub units: Vec<Unit>,
}

#[derive(Debug, Serialize)]
pub struct Unit {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contents: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dropins: Vec<Dropin>,
}

#[derive(Debug, Serialize)]
pub struct Dropin {
    pub name: String,
    pub contents: String,
}

/// The file entry that puts a module on the node.
pub fn module_file(m: &ModulePlan) -> File {
    let hash = Some(Verification {
        hash: format!("sha256-{}", m.sha256),
    });
    let contents = match &m.origin {
        ModuleOrigin::Local { rel, .. } => Resource {
            local: Some(rel.clone()),
            verification: hash,
            ..Resource::default()
        },
        // Compiled from WAT: no file to point at, so embed it (such modules are small).
        ModuleOrigin::Compiled { bytes, .. } => Resource {
            source: Some(format!(
                "data:application/wasm;base64,{}",
                base64::engine::general_purpose::STANDARD.encode(bytes.as_slice())
            )),
            verification: hash,
            ..Resource::default()
        },
        ModuleOrigin::Url { url } => Resource {
            source: Some(url.clone()),
            verification: hash,
            ..Resource::default()
        },
    };
    File {
        path: m.node_path.clone(),
        mode: 0o644,
        contents,
    }
}

pub fn to_yaml(header: &str, config: &Config) -> Result<String, String> {
    let body = serde_norway::to_string(config).map_err(|e| format!("cannot write YAML: {e}"))?;
    Ok(format!("{header}{body}"))
}
