//! What `status` shows: each unit's state as systemd reports it, what it
//! adds to that view (drift of the installed files from what wasmunit
//! wrote, missing modules), as a table or JSON.

use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::dbus::{Systemd, UnitState};
use super::Result;
use crate::unit::names::references;
use crate::write;

/// Each unit's state, as the manager reports it.
pub fn status(sd: &dyn Systemd, units: &[String]) -> super::dbus::Result<Vec<(String, UnitState)>> {
    let snapshots = sd.snapshots(units)?;
    Ok(units
        .iter()
        .cloned()
        .zip(snapshots.into_iter().map(|(state, _)| state))
        .collect())
}

/// A plain table of unit states, one line per unit.
pub fn format_states(states: &[(String, UnitState)]) -> String {
    use std::fmt::Write as _;
    let mut s = format!(
        "{:<40} {:<10} {:<12} {:<12} {:>8} {:>10} {}\n",
        "UNIT", "ACTIVE", "SUB", "RESULT", "PID", "MEMORY", "EXIT"
    );
    for (name, st) in states {
        let _ = writeln!(
            s,
            "{:<40} {:<10} {:<12} {:<12} {:>8} {:>10} {}",
            name,
            st.active,
            st.sub,
            if st.result.is_empty() {
                "-"
            } else {
                &st.result
            },
            st.main_pid.map_or("-".to_owned(), |p| p.to_string()),
            st.memory
                .map_or("-".to_owned(), |m| format!("{}K", m / 1024)),
            st.exit_status.map_or("-".to_owned(), |c| c.to_string())
        );
    }
    s
}

/// Units whose file on disk is not what wasmunit wrote (edited, missing),
/// or whose module is gone: `(unit, why)`.
pub fn drift(root: &Path, names: &[String]) -> Result<Vec<(String, String)>> {
    let unit_dir = &crate::node::paths::UNIT_DIR.under(root);
    let owned = write::owned_files(unit_dir)?;
    let mut out = Vec::new();
    for name in names {
        let path = unit_dir.join(name);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                let why = if e.kind() == std::io::ErrorKind::NotFound {
                    "unit file missing".to_owned()
                } else {
                    format!("unit file unreadable: {e}")
                };
                out.push((name.clone(), why));
                continue;
            }
        };
        let hash = hex::encode(Sha256::digest(text.as_bytes()));
        match owned.get(name) {
            None => out.push((name.clone(), "not installed by wasmunit".to_owned())),
            Some(hashes) if !hashes.contains(&hash) => {
                out.push((
                    name.clone(),
                    "unit file edited since wasmunit wrote it".to_owned(),
                ));
            }
            Some(_) => {}
        }
        // A module, a pinned runtime image, the follow unit's script: each
        // named for what it is.
        for file in references::values(&text, references::FILE) {
            if !root.join(file.trim_start_matches('/')).exists() {
                let what = super::changes::kind_of(file);
                out.push((name.clone(), format!("{what} {file} missing")));
            }
        }
    }
    Ok(out)
}

#[derive(Serialize)]
struct Doc<'a> {
    schema: &'static str,
    units: Vec<UnitDoc<'a>>,
}

#[derive(Serialize)]
struct UnitDoc<'a> {
    unit: &'a str,
    load: &'a str,
    active: &'a str,
    sub: &'a str,
    result: &'a str,
    main_pid: Option<u32>,
    memory_bytes: Option<u64>,
    /// Microseconds since the epoch; absent when never active.
    active_since_us: Option<u64>,
    restarts: Option<u32>,
    exit_status: Option<i32>,
    drift: Vec<&'a str>,
}

/// `status --format json`, schema `wasmunit-status/1`.
pub fn json(states: &[(String, UnitState)], drift: &[(String, String)]) -> String {
    let units = states
        .iter()
        .map(|(name, s)| UnitDoc {
            unit: name,
            load: &s.load,
            active: &s.active,
            sub: &s.sub,
            result: &s.result,
            main_pid: s.main_pid,
            memory_bytes: s.memory,
            active_since_us: (s.active_since_us != 0).then_some(s.active_since_us),
            restarts: s.restarts,
            exit_status: s.exit_status,
            drift: drift
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, w)| w.as_str())
                .collect(),
        })
        .collect();
    let mut s = serde_json::to_string_pretty(&Doc {
        schema: "wasmunit-status/1",
        units,
    })
    .unwrap_or_default();
    s.push('\n');
    s
}
