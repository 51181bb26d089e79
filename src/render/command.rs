//! The wasmtime command line of an app, as unescaped argv groups. The unit
//! renderer escapes it; the tests run the very same argv with the real CLI.

use crate::manifest::schema::Network;
use crate::plan::target::CliFeature;
use crate::plan::{AppKind, AppPlan, Plan};

/// Path of the wasmtime binary once Flatcar's sysext is merged into /usr.
pub const WASMTIME: &str = "/usr/bin/wasmtime";

/// Groups of words: the first is the program and subcommand, then one group
/// per option, then the module and its arguments.
pub fn wasmtime_argv(plan: &Plan, app: &AppPlan) -> Result<Vec<Vec<String>>, String> {
    let t = &plan.target;
    let mut g: Vec<Vec<String>> = Vec::new();
    let pair = |a: &str, b: String| vec![a.to_owned(), b];
    match &app.kind {
        AppKind::Serve { addr } => {
            t.require(CliFeature::Serve)?;
            g.push(vec![WASMTIME.to_owned(), "serve".to_owned()]);
            g.push(pair("--addr", addr.to_string()));
            // 31.0.0 serves proxy components that import wasi:cli only with it.
            g.push(pair("-S", "cli=y".to_owned()));
        }
        AppKind::Service | AppKind::Scheduled { .. } => {
            g.push(vec![WASMTIME.to_owned(), "run".to_owned()]);
        }
    }
    if let Some(bytes) = app.memory {
        t.require(CliFeature::MaxMemorySize)?;
        g.push(pair("-W", format!("max-memory-size={bytes}")));
    }
    if app.network != Network::None {
        t.require(CliFeature::InheritNetwork)?;
        g.push(pair("-S", "inherit-network=y".to_owned()));
        g.push(pair("-S", "allow-ip-name-lookup=y".to_owned()));
    }
    for (opt, value) in &app.module_flags {
        g.push(vec![opt.clone(), value.clone()]);
    }
    for d in &app.dirs {
        g.push(pair("--dir", format!("{}::{}", d.host, d.guest)));
    }
    for (k, v) in &app.env {
        g.push(pair("--env", format!("{k}={v}")));
    }
    g.push(vec![app.module.node_path.clone()]);
    if !app.args.is_empty() {
        g.push(app.args.clone());
    }
    Ok(g)
}

/// The flat argv, as the process receives it.
pub fn flat(groups: &[Vec<String>]) -> Vec<String> {
    groups.iter().flatten().cloned().collect()
}
