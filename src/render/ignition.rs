//! The Ignition config itself (spec 3.3.0 for Butane `flatcar` 1.0.0,
//! 3.4.0 for 1.1.0), for users who do not run Butane: what
//! `butane --strict --files-dir` makes of the fragment, as data. Embedded
//! files are plain base64 `data:` URLs (Butane may gzip them instead).

use base64::Engine as _;

use super::butane::{ButaneVersion, Config, Unit};

/// The bytes of a `local` file of the fragment, by its path relative to
/// the manifest's folder, or why there are none.
pub type LocalBytes<'a> =
    dyn Fn(&str) -> Result<std::sync::Arc<Vec<u8>>, super::error::RenderError> + 'a;

pub fn spec(v: ButaneVersion) -> &'static str {
    match v {
        ButaneVersion::V1_0_0 => "3.3.0",
        ButaneVersion::V1_1_0 => "3.4.0",
    }
}

fn data_url(bytes: &[u8]) -> String {
    format!(
        "data:;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// The Ignition config, as serde writes it: borrowed from the same
/// Butane structs the YAML comes from. Fields in key order, as Ignition's
/// own JSON and the earlier map-built output have them.
#[derive(serde::Serialize)]
struct Doc<'a> {
    ignition: Version,
    #[serde(skip_serializing_if = "Option::is_none")]
    storage: Option<StorageJson<'a>>,
    systemd: SystemdJson<'a>,
}

#[derive(serde::Serialize)]
struct Version {
    version: &'static str,
}

#[derive(serde::Serialize)]
struct StorageJson<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    directories: Vec<PathJson<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    files: Vec<FileJson<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    links: Vec<LinkJson<'a>>,
}

#[derive(serde::Serialize)]
struct PathJson<'a> {
    path: &'a str,
}

#[derive(serde::Serialize)]
struct FileJson<'a> {
    contents: ContentsJson<'a>,
    mode: u32,
    path: &'a str,
}

#[derive(serde::Serialize)]
struct ContentsJson<'a> {
    source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    verification: Option<HashJson<'a>>,
}

#[derive(serde::Serialize)]
struct HashJson<'a> {
    hash: &'a str,
}

#[derive(serde::Serialize)]
struct LinkJson<'a> {
    hard: bool,
    path: &'a str,
    target: &'a str,
}

#[derive(serde::Serialize)]
struct SystemdJson<'a> {
    units: Vec<UnitJson<'a>>,
}

#[derive(serde::Serialize)]
struct UnitJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    contents: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    dropins: Vec<DropinJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    enabled: Option<bool>,
    name: &'a str,
}

#[derive(serde::Serialize)]
struct DropinJson<'a> {
    contents: &'a str,
    name: &'a str,
}

impl<'a> UnitJson<'a> {
    fn of(u: &'a Unit<'_>) -> UnitJson<'a> {
        UnitJson {
            contents: u.contents.as_ref().map(|t| &*t.0),
            dropins: u
                .dropins
                .iter()
                .map(|d| DropinJson {
                    contents: &d.contents.0,
                    name: d.name,
                })
                .collect(),
            enabled: u.enabled,
            name: u.name,
        }
    }
}

/// The config as pretty JSON, ending in a newline.
pub fn to_json(
    config: &Config<'_>,
    version: ButaneVersion,
    more_units: &[Unit<'_>],
    local: &LocalBytes<'_>,
) -> Result<String, super::error::RenderError> {
    let mut files = Vec::new();
    for f in &config.storage.files {
        let source = match (&f.contents.source, &f.contents.local, &f.contents.inline) {
            (Some(s), _, _) => s.clone(),
            (None, Some(rel), _) => data_url(&local(rel)?),
            (None, None, Some(t)) => data_url(t.0.as_bytes()),
            (None, None, None) => String::new(),
        };
        files.push(FileJson {
            contents: ContentsJson {
                source,
                verification: f
                    .contents
                    .verification
                    .as_ref()
                    .map(|v| HashJson { hash: &v.hash }),
            },
            mode: f.mode,
            path: &f.path,
        });
    }
    let storage = StorageJson {
        directories: config
            .storage
            .directories
            .iter()
            .map(|d| PathJson { path: d })
            .collect(),
        files,
        links: config
            .storage
            .links
            .iter()
            .map(|l| LinkJson {
                hard: l.hard,
                path: &l.path,
                target: &l.target,
            })
            .collect(),
    };
    let has_storage =
        !(storage.directories.is_empty() && storage.files.is_empty() && storage.links.is_empty());
    let doc = Doc {
        ignition: Version {
            version: spec(version),
        },
        storage: has_storage.then_some(storage),
        // In the fragment's order: the rendered units, then the OS's own.
        systemd: SystemdJson {
            units: more_units
                .iter()
                .chain(&config.systemd.units)
                .map(UnitJson::of)
                .collect(),
        },
    };
    let mut s = serde_json::to_string_pretty(&doc)?;
    s.push('\n');
    Ok(s)
}
