//! The wasmtime command line of an app, as unescaped argv groups. The unit
//! renderer escapes it; the tests run the very same argv with the real CLI.

use super::error::RenderError;
use super::listen::{self, Listener};
use crate::manifest::schema::Network;
use crate::plan::{AppKind, AppPlan, Plan};
use crate::releases::{flags, serve, Flag, WasmtimeVersion};

/// Path of the wasmtime binary once Flatcar's sysext is merged into /usr.
pub use crate::node::paths::WASMTIME;

/// The flags an app's grants ask for, before those its module needs.
fn grant_flags(app: &AppPlan) -> Vec<Flag> {
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
) -> Result<Vec<Vec<String>>, RenderError> {
    let mut g: Vec<Vec<String>> = Vec::new();
    let pair = |a: &str, b: String| vec![a.to_owned(), b];
    match &app.kind {
        AppKind::Serve { addr, idle, via } => {
            g.push(vec![WASMTIME.to_owned(), "serve".to_owned()]);
            match via {
                Listener::OwnPort => g.push(pair("--addr", addr.to_string())),
                Listener::Proxy => g.push(pair("--addr", listen::inner_addr(*addr).to_string())),
                Listener::Handover => {
                    g.push(vec![serve::LISTENFD_OPTION.to_owned()]);
                    if let Some(secs) = idle {
                        g.push(vec![format!("{}={secs}s", serve::IDLE_OPTION)]);
                    }
                }
            }
        }
        AppKind::Service | AppKind::Scheduled { .. } => {
            g.push(vec![WASMTIME.to_owned(), "run".to_owned()]);
        }
    }
    common_argv(plan, app, needs, g)
}

/// The `wasmtime run` that compiles a server's module into the cache with
/// the same compile options as its `serve` (its `ExecReload=`): the cache
/// is keyed by module and options, not by subcommand (measured on 31.0.0:
/// `serve` answered its first request in 0.3 s after it, 9 s without).
pub fn warm_argv(
    plan: &Plan,
    app: &AppPlan,
    needs: &[Flag],
) -> Result<Vec<Vec<String>>, RenderError> {
    let g = vec![vec![WASMTIME.to_owned(), "run".to_owned()]];
    common_argv(plan, app, needs, g)
}

/// Everything after the subcommand: options, folders, the module.
fn common_argv(
    plan: &Plan,
    app: &AppPlan,
    needs: &[Flag],
    mut g: Vec<Vec<String>>,
) -> Result<Vec<Vec<String>>, RenderError> {
    let pair = |a: &str, b: String| vec![a.to_owned(), b];
    let mut flags = grant_flags(app);
    for f in needs {
        if !flags.contains(f) {
            flags.push(*f);
        }
    }
    for f in flags {
        let words = f
            .spell(plan.range_of(app).low)
            .map_err(|source| RenderError::Flag {
                app: app.name.to_string(),
                source,
            })?;
        g.push(words.to_vec());
    }
    for s in &app.files {
        g.push(pair("--dir", format!("{}::{}", s.host.as_str(), s.guest)));
    }
    for d in &app.dirs {
        g.push(pair("--dir", format!("{}::{}", d.host.as_str(), d.guest)));
    }
    if !app.credentials.is_empty() {
        // The unit's own credentials folder, where systemd puts them.
        g.push(pair(
            "--dir",
            format!(
                "{}::{}",
                credentials_folder(app),
                crate::plan::credential::GUEST_DIR
            ),
        ));
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

/// Where systemd puts the unit's credentials (`$CREDENTIALS_DIRECTORY`,
/// the same path on every systemd that has credentials).
fn credentials_folder(app: &AppPlan) -> String {
    crate::node::paths::CREDENTIALS_RUN_DIR.join(&app.name.service_unit())
}

/// The wasmtime releases a unit may start under: from `low`, and below
/// the major release `below_major` when there is an upper bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guard {
    pub low: WasmtimeVersion,
    pub below_major: Option<u32>,
}

impl std::fmt::Display for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.below_major {
            None => write!(f, ">={}", self.low),
            Some(b) => write!(f, ">={}, <{b}", self.low),
        }
    }
}

/// The releases a unit may start under, when that is narrower than "any":
/// the manifest's range, or (for one version) the releases where every flag
/// of its command line exists. `None`: no guard needed.
pub fn guarded_versions(plan: &Plan, app: &AppPlan, needs: &[Flag]) -> Option<Guard> {
    if app.pin.is_some() {
        // The unit names its image: it runs that release or not at all.
        return None;
    }
    let range = plan.wasmtime_range;
    if range.is_range() {
        return Some(Guard {
            low: range.low,
            below_major: range.below_major,
        });
    }
    let mut low = WasmtimeVersion::OLDEST;
    let mut last: Option<u32> = None;
    for f in grant_flags(app).iter().chain(needs) {
        let (from, until) = f.range();
        low = low.max(from);
        if let Some(u) = until {
            last = Some(last.map_or(u.major, |l| l.min(u.major)));
        }
    }
    if app.kind.listener() == Some(Listener::Handover) {
        // `--systemd-listenfd`: a 49 would refuse the command line.
        low = low.max(serve::TAKES_SOCKET_SINCE);
    }
    let below_major = last.map(|l| l + 1);
    (low != WasmtimeVersion::OLDEST || below_major.is_some()).then_some(Guard { low, below_major })
}

/// The `ExecCondition=` script: starts the unit only under a wasmtime the
/// guard admits, else says which version it found and exits 1, which
/// systemd takes as "condition failed": the unit is skipped, not restarted.
pub fn guard_script(guard: Guard) -> String {
    let low = guard.low;
    let low_n = low.ordinal();
    let ordinal = WasmtimeVersion::shell_ordinal("$1", "$2", "$3");
    let below = guard
        .below_major
        .map_or_else(String::new, |b| format!(" && [ \"$1\" -lt {b} ]"));
    format!(
        "v=$({WASMTIME} --version 2>/dev/null); v=${{v#wasmtime }}; v=${{v%% *}}; \
         IFS=.; set -- $v; \
         case \"$1.$2.$3\" in *[!0-9.]*|.*|*..*|*.) \
         echo \"wasmunit: cannot read the version of {WASMTIME} ($v); not starting\" >&2; exit 1;; esac; \
         if [ \"{ordinal}\" -ge {low_n} ]{below}; then exit 0; fi; \
         echo \"wasmunit: rendered for wasmtime {guard}, but {WASMTIME} is $v: not starting \
         (render the manifest again for $v, or pin the sysext)\" >&2; exit 1"
    )
}
