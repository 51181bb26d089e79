//! The Ignition config itself (spec 3.3.0 for Butane `flatcar` 1.0.0,
//! 3.4.0 for 1.1.0), for users who do not run Butane: what
//! `butane --strict --files-dir` makes of the fragment, as data. Embedded
//! files are plain base64 `data:` URLs (Butane may gzip them instead).

use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::butane::{ButaneVersion, Config, Unit};

/// The bytes of a `local` file of the fragment, by its path relative to
/// the manifest's folder.
pub type LocalBytes<'a> = dyn Fn(&str) -> Option<std::sync::Arc<Vec<u8>>> + 'a;

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

/// The config as pretty JSON, ending in a newline.
pub fn to_json(
    config: &Config<'_>,
    version: ButaneVersion,
    more_units: &[Unit<'_>],
    local: &LocalBytes<'_>,
) -> Result<String, super::error::RenderError> {
    let mut files = Vec::new();
    for f in &config.storage.files {
        let mut contents = Map::new();
        let source = match (&f.contents.source, &f.contents.local, &f.contents.inline) {
            (Some(s), _, _) => s.clone(),
            (None, Some(rel), _) => data_url(
                &local(rel)
                    .ok_or_else(|| super::error::RenderError::MissingLocal { rel: rel.clone() })?,
            ),
            (None, None, Some(t)) => data_url(t.0.as_bytes()),
            (None, None, None) => String::new(),
        };
        contents.insert("source".into(), Value::String(source));
        if let Some(v) = &f.contents.verification {
            contents.insert("verification".into(), json!({ "hash": v.hash }));
        }
        files.push(json!({ "path": f.path, "mode": f.mode, "contents": contents }));
    }
    let links: Vec<Value> = config
        .storage
        .links
        .iter()
        .map(|l| json!({ "path": l.path, "target": l.target, "hard": l.hard }))
        .collect();
    // In the fragment's order: the rendered units, then the OS's own.
    let units: Vec<Value> = more_units
        .iter()
        .chain(&config.systemd.units)
        .map(unit_json)
        .collect();
    let mut storage = Map::new();
    if !config.storage.directories.is_empty() {
        let dirs = config
            .storage
            .directories
            .iter()
            .map(|d| json!({ "path": d }))
            .collect();
        storage.insert("directories".into(), Value::Array(dirs));
    }
    if !files.is_empty() {
        storage.insert("files".into(), Value::Array(files));
    }
    if !links.is_empty() {
        storage.insert("links".into(), Value::Array(links));
    }
    let mut doc = Map::new();
    doc.insert("ignition".into(), json!({ "version": spec(version) }));
    if !storage.is_empty() {
        doc.insert("storage".into(), Value::Object(storage));
    }
    doc.insert("systemd".into(), json!({ "units": units }));
    let mut s = serde_json::to_string_pretty(&Value::Object(doc))?;
    s.push('\n');
    Ok(s)
}

fn unit_json(u: &Unit<'_>) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), Value::String(u.name.to_owned()));
    if let Some(e) = u.enabled {
        m.insert("enabled".into(), Value::Bool(e));
    }
    if let Some(t) = &u.contents {
        m.insert("contents".into(), Value::String(t.0.clone().into_owned()));
    }
    if !u.dropins.is_empty() {
        let d: Vec<Value> = u
            .dropins
            .iter()
            .map(|d| json!({ "name": d.name, "contents": &*d.contents.0 }))
            .collect();
        m.insert("dropins".into(), Value::Array(d));
    }
    Value::Object(m)
}
