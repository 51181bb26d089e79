//! Check reports for people (short, coloured on a terminal) and for
//! programs (`--format json`, schema `wasmunit-check/1`, docs/check.md).

use serde::Serialize;
use std::fmt::Write as _;

use super::{Finding, Kind, Severity};
use crate::releases::Flag;
use crate::style::paint;

/// The finding of a module that is fetched on the node, not checked here.
pub const NOT_CHECKED: &str = "not-checked";

/// One checked module, as reported.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub file: String,
    pub app: Option<String>,
    pub sha256: String,
    pub size: u64,
    pub target: String,
    pub kind: Option<Kind>,
    /// Core modules: the export `wasmtime run` calls (`_start` or "").
    pub entrypoint: Option<String>,
    /// Core modules: `_initialize` is called first.
    pub initialize: bool,
    /// Components: "command" (wasi:cli/run) or "proxy" (wasi:http/incoming-handler).
    pub world: Option<String>,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
    /// How the unit starts it, and the manifest keys that takes.
    pub runs: Option<Runs>,
    /// Options the unit's wasmtime command line needs, spelled for the
    /// target, e.g. "-S http=y".
    pub flags: Vec<String>,
    /// The same options by meaning, for the renderer.
    #[serde(skip)]
    pub needs: Vec<Flag>,
    pub findings: Vec<Finding>,
    pub cached: bool,
}

/// `wasmtime run` or `wasmtime serve`, and what the app needs for it:
/// `listen` (a proxy), `network` (sockets, outgoing HTTP; `-S http` itself
/// is in `flags`, render adds it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Runs {
    pub command: String,
    pub manifest_keys: Vec<String>,
}

impl Report {
    fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    pub fn blocks(&self) -> bool {
        self.worst() == Some(Severity::Error)
    }
}

#[derive(Serialize)]
struct JsonDoc<'a> {
    schema: &'static str,
    results: &'a [Report],
    /// 0: nothing blocks deployment; 1: something does.
    status: i32,
}

pub fn exit_status(reports: &[Report]) -> i32 {
    i32::from(reports.iter().any(Report::blocks))
}

pub fn json(reports: &[Report]) -> String {
    let doc = JsonDoc {
        schema: "wasmunit-check/1",
        results: reports,
        status: exit_status(reports),
    };
    serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}")) + "\n"
}

fn describe(r: &Report) -> String {
    let size = if r.size >= 1 << 20 {
        let tenths = r.size * 10 / (1 << 20);
        format!("{}.{} MiB", tenths / 10, tenths % 10)
    } else {
        format!("{} bytes", r.size)
    };
    let kind = match (r.kind, &r.world, &r.entrypoint) {
        (Some(Kind::CoreModule), _, Some(e)) if e.is_empty() => {
            "core module, entry: default export \"\"".to_owned()
        }
        (Some(Kind::CoreModule), _, Some(e)) => {
            format!(
                "core module, entry: {}{e}",
                if r.initialize {
                    "_initialize, then "
                } else {
                    ""
                }
            )
        }
        (Some(Kind::CoreModule), _, None) => "core module, no entry point".to_owned(),
        (Some(Kind::Component), Some(w), _) => format!("component, {w} world"),
        (Some(Kind::Component), None, _) => "component".to_owned(),
        (None, _, _) => "not a module".to_owned(),
    };
    format!(
        "{kind}, {size}, sha256 {}",
        r.sha256.get(..12).unwrap_or(&r.sha256)
    )
}

pub fn human(reports: &[Report], color: bool) -> String {
    let mut s = String::new();
    for r in reports {
        let title = match &r.app {
            Some(a) => format!("{} (app {a})", r.file),
            None => r.file.clone(),
        };
        let _ = writeln!(s, "{}: {}", paint(color, "1", &title), describe(r));
        // A blocked module does not run at all: its findings say why.
        if let Some(runs) = r.runs.as_ref().filter(|_| !r.blocks()) {
            let keys = if runs.manifest_keys.is_empty() {
                String::new()
            } else {
                let keys: Vec<String> = runs
                    .manifest_keys
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect();
                format!("; the app needs {}", keys.join(" and "))
            };
            let flags = if r.flags.is_empty() {
                String::new()
            } else {
                format!(" {}", r.flags.join(" "))
            };
            let _ = writeln!(s, "  runs: `{}{flags}`{keys}", runs.command);
        }
        for f in &r.findings {
            let (label, code) = match f.severity {
                Severity::Error => ("error", "31;1"),
                Severity::Warning => ("warning", "33;1"),
                Severity::Info => ("info", "36"),
            };
            let _ = writeln!(
                s,
                "  {} [{}] {}",
                paint(color, code, label),
                f.code,
                f.message
            );
        }
        if !r.flags.is_empty() {
            let _ = writeln!(s, "  flags: {}", r.flags.join(" "));
        }
        let verdict = if r.blocks() {
            paint(
                color,
                "31;1",
                &format!("will not run under wasmtime {}", r.target),
            )
        } else {
            paint(color, "32;1", &format!("ok for wasmtime {}", r.target))
        };
        let _ = writeln!(s, "  {verdict}{}", if r.cached { " (cached)" } else { "" });
    }
    s
}
