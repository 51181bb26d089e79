//! The wasmtime command line of an app, as unescaped argv groups. The unit
//! renderer escapes it; the tests run the very same argv with the real CLI.

use crate::manifest::schema::Network;
use crate::plan::{AppKind, AppPlan, Plan};
use crate::target::{flags, Flag, TargetRange, WasmtimeVersion};

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

/// The CLI versions a unit may start under, when that is narrower than
/// "any": the manifest's range, or (for one version) the releases where
/// every flag of its command line exists. `None`: no guard needed.
pub fn guarded_versions(plan: &Plan, app: &AppPlan, needs: &[Flag]) -> Option<TargetRange> {
    if plan.wasmtime_range.is_range() {
        return Some(plan.wasmtime_range);
    }
    let mut first = WasmtimeVersion::OLDEST;
    let mut last: Option<u32> = None;
    for f in grant_flags(app).iter().chain(needs) {
        let (from, until) = f.range();
        first = first.max(from);
        if let Some(u) = until {
            last = Some(last.map_or(u.major, |l| l.min(u.major)));
        }
    }
    if first == WasmtimeVersion::OLDEST && last.is_none() {
        return None;
    }
    Some(TargetRange {
        low: first,
        below_major: Some(last.map_or(u32::MAX, |l| l + 1)),
    })
}

/// The `ExecCondition=` script: starts the unit only under a wasmtime of
/// `range`, else says which version it found and exits 1, which systemd
/// takes as "condition failed": the unit is skipped, not restarted.
pub fn guard_script(range: TargetRange) -> String {
    let low = range.low;
    let low_n =
        u64::from(low.major) * 1_000_000 + u64::from(low.minor) * 1_000 + u64::from(low.patch);
    let below = match range.below_major {
        Some(b) if b != u32::MAX => format!(" && [ \"$1\" -lt {b} ]"),
        _ => String::new(),
    };
    let shown = match range.below_major {
        Some(u32::MAX) | None => format!(">={low}"),
        Some(_) => range.to_string(),
    };
    format!(
        "v=$({WASMTIME} --version 2>/dev/null); v=${{v#wasmtime }}; v=${{v%% *}}; \
         IFS=.; set -- $v; \
         case \"$1.$2.$3\" in *[!0-9.]*|.*|*..*|*.) \
         echo \"wasmunit: cannot read the version of {WASMTIME} ($v); not starting\" >&2; exit 1;; esac; \
         if [ \"$(( $1 * 1000000 + $2 * 1000 + $3 ))\" -ge {low_n} ]{below}; then exit 0; fi; \
         echo \"wasmunit: rendered for wasmtime {shown}, but {WASMTIME} is $v: not starting \
         (render the manifest again for $v, or pin the sysext)\" >&2; exit 1"
    )
}
