//! The wasmtime command line of an app, as unescaped argv groups. The unit
//! renderer escapes it; the tests run the very same argv with the real CLI.

use crate::manifest::schema::Network;
use crate::plan::{AppKind, AppPlan, Plan};
use crate::target::{flags, Flag};

/// Path of the wasmtime binary once Flatcar's sysext is merged into /usr.
pub const WASMTIME: &str = "/usr/bin/wasmtime";

/// The flags an app's grants ask for, before those its module needs.
pub fn grant_flags(app: &AppPlan) -> Vec<Flag> {
    let mut flags = Vec::new();
    if let AppKind::Serve { .. } = app.kind {
        flags.extend_from_slice(flags::SERVE);
    }
    if let Some(bytes) = app.memory {
        flags.push(Flag::MaxMemorySize(bytes));
    }
    if app.network != Network::None {
        flags.extend_from_slice(flags::NETWORK);
    }
    flags
}

/// Groups of words: the first is the program and subcommand, then one group
/// per option, then the module and its arguments. `needs` are the flags
/// `check` found the module needs.
pub fn wasmtime_argv(
    plan: &Plan,
    app: &AppPlan,
    needs: &[Flag],
) -> Result<Vec<Vec<String>>, String> {
    let mut g: Vec<Vec<String>> = Vec::new();
    let pair = |a: &str, b: String| vec![a.to_owned(), b];
    match &app.kind {
        AppKind::Serve { addr } => {
            g.push(vec![WASMTIME.to_owned(), "serve".to_owned()]);
            g.push(pair("--addr", addr.to_string()));
        }
        AppKind::Service | AppKind::Scheduled { .. } => {
            g.push(vec![WASMTIME.to_owned(), "run".to_owned()]);
        }
    }
    let mut flags = grant_flags(app);
    for f in needs {
        if !flags.contains(f) {
            flags.push(*f);
        }
    }
    for f in flags {
        let words = f
            .spell(plan.wasmtime)
            .map_err(|e| format!("app `{}`: {e}", app.name))?;
        g.push(words.to_vec());
    }
    for s in &app.files {
        g.push(pair("--dir", format!("{}::{}", s.host.as_str(), s.guest)));
    }
    for d in &app.dirs {
        g.push(pair("--dir", format!("{}::{}", d.host.as_str(), d.guest)));
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
