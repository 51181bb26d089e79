//! Manifest → [`Plan`]: defaults applied, names validated, modules located and
//! hashed, cross-references and cycles checked. Every error keeps the span of
//! the value it is about; all of them are collected before anything renders.

pub mod graph;
pub mod module;
pub mod proposals;
pub mod target;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::Range;

use toml::Spanned;

use crate::diag::{Diagnostic, Diagnostics};
use crate::manifest::app_name::AppName;
use crate::manifest::schema::{AppSpec, DirGrant, Network, RawSection, RawValue, Restart};
use crate::manifest::Loaded;
pub use module::{ModuleOrigin, ModulePlan};
use target::{Target, WasmtimeVersion};

/// Everything the renderers need, with no I/O left to do.
#[derive(Debug, Clone)]
pub struct Plan {
    /// File name of the manifest, for headers in generated files.
    pub manifest_name: String,
    pub target: Target,
    pub apps: Vec<AppPlan>,
}

#[derive(Debug, Clone)]
pub struct AppPlan {
    pub name: AppName,
    pub description: Option<String>,
    pub module: ModulePlan,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub dirs: Vec<Dir>,
    pub network: Network,
    /// Linear-memory limit in bytes.
    pub memory: Option<u64>,
    pub restart: Restart,
    pub after: Vec<AppName>,
    pub wants: Vec<AppName>,
    pub enabled: bool,
    pub kind: AppKind,
    pub raw: RawSections,
    /// wasmtime options the module needs (from `check`), e.g. ("-S", "http=y").
    pub module_flags: Vec<(String, String)>,
}

/// How the app is started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppKind {
    /// A long-running `wasmtime run` service.
    Service,
    /// A oneshot `wasmtime run` started by a timer (`OnCalendar=`).
    Scheduled { on_calendar: String },
    /// A `wasmtime serve` HTTP server (wasi:http proxy component).
    Serve { addr: SocketAddr },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dir {
    pub host: String,
    pub guest: String,
    pub readonly: bool,
}

/// Pass-through `Key=value` lines, per section, in manifest order of keys.
#[derive(Debug, Clone, Default)]
pub struct RawSections {
    pub unit: Vec<(String, String)>,
    pub service: Vec<(String, String)>,
    pub install: Vec<(String, String)>,
}

/// Options of the render run that affect the plan.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Overrides the manifest's `wasmtime` version.
    pub wasmtime: Option<WasmtimeVersion>,
}

pub fn resolve(loaded: &Loaded, opts: &PlanOptions) -> Result<Plan, Diagnostics> {
    let mut errs = Vec::new();
    let m = &loaded.manifest;

    if *m.version.get_ref() != 1 {
        errs.push(
            loaded
                .diag(
                    m.version.span(),
                    format!("unsupported manifest version {}", m.version.get_ref()),
                )
                .with_help("this wasmunit reads `version = 1`"),
        );
    }

    let defaults = m.defaults.clone().unwrap_or_default();
    let version = match (&opts.wasmtime, &defaults.wasmtime) {
        (Some(v), _) => *v,
        (None, Some(text)) => match WasmtimeVersion::parse(text.get_ref()) {
            Ok(v) => v,
            Err(e) => {
                errs.push(loaded.diag(text.span(), e));
                WasmtimeVersion::DEFAULT
            }
        },
        (None, None) => WasmtimeVersion::DEFAULT,
    };
    let target = Target { wasmtime: version };

    // Names first, so references can be checked against all of them.
    let mut names: BTreeMap<String, AppName> = BTreeMap::new();
    for key in m.app.keys() {
        match AppName::parse(key.get_ref()) {
            Ok(n) => {
                names.insert(key.get_ref().clone(), n);
            }
            Err(e) => errs.push(loaded.diag(key.span(), e)),
        }
    }

    let mut modules = module::Resolver::new(loaded.dir());
    let mut apps = Vec::new();
    let mut after_edges = Vec::new();
    for (key, spec) in &m.app {
        let Some(name) = names.get(key.get_ref()) else {
            continue;
        };
        let ctx = AppCtx {
            loaded,
            name,
            table_span: key.span(),
            names: &names,
        };
        match ctx.resolve(&defaults, spec.get_ref(), &mut modules) {
            Ok((app, edges)) => {
                after_edges.extend(edges);
                apps.push(app);
            }
            Err(mut e) => errs.append(&mut e),
        }
    }

    if errs.is_empty() {
        if let Some((span, cycle)) = graph::find_cycle(&after_edges) {
            errs.push(
                loaded
                    .diag(span, format!("`after` forms a cycle: {}", cycle.join(" → ")))
                    .with_help("systemd would drop one of these orderings at random; remove one `after` entry"),
            );
        }
    }

    if errs.is_empty() {
        Ok(Plan {
            manifest_name: loaded.path.file_name().map_or_else(
                || "manifest".to_owned(),
                |n| n.to_string_lossy().into_owned(),
            ),
            target,
            apps,
        })
    } else {
        errs.sort_by_key(|d| d.span.as_ref().map_or(0, |s| s.start));
        Err(Diagnostics(errs))
    }
}

struct AppCtx<'a> {
    loaded: &'a Loaded,
    name: &'a AppName,
    table_span: Range<usize>,
    names: &'a BTreeMap<String, AppName>,
}

/// An `after` edge: (from, to, span of the entry).
pub type Edge = (AppName, AppName, Range<usize>);

impl AppCtx<'_> {
    fn diag(&self, span: Range<usize>, msg: impl Into<String>) -> Diagnostic {
        self.loaded.diag(span, msg)
    }

    fn resolve(
        &self,
        defaults: &AppSpec,
        app: &AppSpec,
        modules: &mut module::Resolver,
    ) -> Result<(AppPlan, Vec<Edge>), Vec<Diagnostic>> {
        let mut errs = Vec::new();

        if let Some(w) = &app.wasmtime {
            errs.push(
                self.diag(w.span(), "`wasmtime` can only be set in [defaults]")
                    .with_help("a node runs one wasmtime; set the target version once for the whole manifest"),
            );
        }

        let description = pick(&app.description, &defaults.description).and_then(|d| {
            check_single_line(d.get_ref())
                .map_err(|e| errs.push(self.diag(d.span(), format!("`description` {e}"))))
                .ok()
                .map(|()| d.into_inner())
        });

        let module = match pick(&app.module, &defaults.module) {
            Some(m) => match modules.resolve(&m) {
                Ok(p) => Some(p),
                Err(e) => {
                    errs.push(self.diag(m.span(), e.message).with_help(e.help));
                    None
                }
            },
            None => {
                errs.push(
                    self.diag(
                        self.table_span.clone(),
                        format!("app `{}` has no `module`", self.name),
                    )
                    .with_help(
                        "add `module = \"path/to/module.wasm\"` to the app or to [defaults]",
                    ),
                );
                None
            }
        };

        let args: Vec<String> = pick(&app.args, &defaults.args)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|a| match check_no_nul(a.get_ref()) {
                Ok(()) => Some(a.into_inner()),
                Err(e) => {
                    errs.push(self.diag(a.span(), format!("argument {e}")));
                    None
                }
            })
            .collect();

        let env = self.env(defaults, app, &mut errs);
        let dirs = self.dirs(
            pick(&app.dirs, &defaults.dirs).unwrap_or_default(),
            &mut errs,
        );

        let network_spanned = pick(&app.network, &defaults.network);
        let listen = pick(&app.listen, &defaults.listen);
        let schedule = pick(&app.schedule, &defaults.schedule);
        let restart_given = pick(&app.restart, &defaults.restart);

        let kind = match (&listen, &schedule) {
            (Some(l), Some(_)) => {
                errs.push(self.diag(l.span(), "an app cannot have both `listen` and `schedule`"));
                AppKind::Service
            }
            (Some(l), None) => match l.get_ref().parse::<SocketAddr>() {
                Ok(addr) => {
                    if !args.is_empty() {
                        errs.push(self.diag(
                            l.span(),
                            "`wasmtime serve` passes no arguments to the component: remove `args` or `listen`",
                        ));
                    }
                    AppKind::Serve { addr }
                }
                Err(_) => {
                    errs.push(
                        self.diag(
                            l.span(),
                            format!("invalid `listen` address `{}`", l.get_ref().escape_debug()),
                        )
                        .with_help("use IP:PORT, e.g. \"0.0.0.0:8080\" or \"[::]:8080\""),
                    );
                    AppKind::Service
                }
            },
            (None, Some(s)) => match check_single_line(s.get_ref()) {
                Ok(()) if !s.get_ref().trim().is_empty() => AppKind::Scheduled {
                    on_calendar: s.get_ref().trim().to_owned(),
                },
                Ok(()) => {
                    errs.push(self.diag(s.span(), "`schedule` is empty").with_help(
                        "use a systemd calendar expression, e.g. \"hourly\" or \"*-*-* 03:00:00\"",
                    ));
                    AppKind::Service
                }
                Err(e) => {
                    errs.push(self.diag(s.span(), format!("`schedule` {e}")));
                    AppKind::Service
                }
            },
            (None, None) => AppKind::Service,
        };

        let network = match (&kind, &network_spanned) {
            (AppKind::Serve { .. }, Some(n)) if *n.get_ref() == Network::None => {
                errs.push(self.diag(
                    n.span(),
                    "`network = \"none\"` contradicts `listen`: a server needs the network",
                ));
                Network::None
            }
            (AppKind::Serve { .. }, None) => Network::Outbound,
            (_, Some(n)) => *n.get_ref(),
            (_, None) => Network::None,
        };

        let restart = match (&kind, restart_given) {
            (AppKind::Scheduled { .. }, Some(Restart::Always)) => {
                errs.push(self.diag(
                    self.table_span.clone(),
                    "`restart = \"always\"` cannot apply to a scheduled (oneshot) app",
                ));
                Restart::No
            }
            (AppKind::Scheduled { .. }, r) => r.unwrap_or(Restart::No),
            (_, r) => r.unwrap_or(Restart::OnFailure),
        };

        let memory = pick(&app.memory, &defaults.memory).and_then(|m| {
            let bytes = m.get_ref().0;
            if bytes < 65536 {
                errs.push(self.diag(m.span(), "`memory` is below one WebAssembly page (64KiB)"));
                None
            } else {
                Some(bytes)
            }
        });

        let (after, edges) = self.refs("after", pick(&app.after, &defaults.after), &mut errs);
        let (wants, _) = self.refs("wants", pick(&app.wants, &defaults.wants), &mut errs);

        let raw = RawSections {
            unit: self.raw("unit", &defaults.unit, &app.unit, &mut errs),
            service: self.raw("service", &defaults.service, &app.service, &mut errs),
            install: self.raw("install", &defaults.install, &app.install, &mut errs),
        };

        match module {
            Some(module) if errs.is_empty() => Ok((
                AppPlan {
                    name: self.name.clone(),
                    description,
                    module,
                    args,
                    env,
                    dirs,
                    network,
                    memory,
                    restart,
                    after,
                    wants,
                    enabled: pick(&app.enabled, &defaults.enabled).unwrap_or(true),
                    kind,
                    raw,
                    module_flags: Vec::new(),
                },
                edges,
            )),
            _ => Err(errs),
        }
    }

    fn env(
        &self,
        defaults: &AppSpec,
        app: &AppSpec,
        errs: &mut Vec<Diagnostic>,
    ) -> Vec<(String, String)> {
        // Per-key merge: the app's value wins over the default's.
        let mut merged: BTreeMap<String, (Spanned<String>, Spanned<String>)> = BTreeMap::new();
        for table in [&defaults.env, &app.env].into_iter().flatten() {
            for (k, v) in table {
                merged.insert(k.get_ref().clone(), (k.clone(), v.clone()));
            }
        }
        let mut out = Vec::new();
        for (name, (k, v)) in merged {
            let valid_name = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid_name {
                errs.push(
                    self.diag(
                        k.span(),
                        format!(
                            "invalid environment variable name `{}`",
                            name.escape_debug()
                        ),
                    )
                    .with_help("use letters, digits and '_', not starting with a digit"),
                );
                continue;
            }
            if let Err(e) = check_no_nul(v.get_ref()) {
                errs.push(self.diag(v.span(), format!("environment value {e}")));
                continue;
            }
            out.push((name, v.into_inner()));
        }
        out
    }

    fn dirs(&self, grants: Vec<Spanned<DirGrant>>, errs: &mut Vec<Diagnostic>) -> Vec<Dir> {
        let mut out: Vec<Dir> = Vec::new();
        for g in grants {
            let g = g.into_inner();
            let host = g.host.get_ref();
            let guest = g.guest.get_ref();
            let mut ok = true;
            if let Err(e) = check_host_path(host) {
                errs.push(self.diag(g.host.span(), e));
                ok = false;
            }
            if !guest.starts_with('/')
                || check_no_nul(guest).is_err()
                || guest.chars().any(char::is_control)
            {
                errs.push(self.diag(
                    g.guest.span(),
                    format!(
                        "guest path `{}` must be absolute and free of control characters",
                        guest.escape_debug()
                    ),
                ));
                ok = false;
            }
            if out.iter().any(|d| d.guest == *guest) {
                errs.push(self.diag(
                    g.guest.span(),
                    format!("guest path `{guest}` is granted twice"),
                ));
                ok = false;
            }
            if ok {
                out.push(Dir {
                    host: host.clone(),
                    guest: guest.clone(),
                    readonly: g.readonly,
                });
            }
        }
        out
    }

    fn refs(
        &self,
        key: &str,
        list: Option<Vec<Spanned<String>>>,
        errs: &mut Vec<Diagnostic>,
    ) -> (Vec<AppName>, Vec<Edge>) {
        let mut out: Vec<AppName> = Vec::new();
        let mut edges = Vec::new();
        for r in list.unwrap_or_default() {
            match self.names.get(r.get_ref()) {
                Some(n) if n == self.name => {
                    errs.push(self.diag(
                        r.span(),
                        format!("app `{}` lists itself in `{key}`", self.name),
                    ));
                }
                Some(n) => {
                    if !out.contains(n) {
                        out.push(n.clone());
                        edges.push((self.name.clone(), n.clone(), r.span()));
                    }
                }
                None => errs.push(
                    self.diag(
                        r.span(),
                        format!("`{key}` names unknown app `{}`", r.get_ref().escape_debug()),
                    )
                    .with_help(format!(
                        "known apps: {}",
                        self.names.keys().cloned().collect::<Vec<_>>().join(", ")
                    )),
                ),
            }
        }
        (out, edges)
    }

    fn raw(
        &self,
        section: &str,
        defaults: &Option<RawSection>,
        app: &Option<RawSection>,
        errs: &mut Vec<Diagnostic>,
    ) -> Vec<(String, String)> {
        // Per-key merge: the app's value wins over the default's.
        let mut merged: BTreeMap<&str, (&Spanned<String>, &Spanned<RawValue>)> = BTreeMap::new();
        for table in [defaults, app].into_iter().flatten() {
            for (k, v) in table {
                merged.insert(k.get_ref(), (k, v));
            }
        }
        let mut out = Vec::new();
        for (key, (k, v)) in merged {
            let (kspan, vspan) = (k.span(), v.span());
            let valid = key.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && key.chars().all(|c| c.is_ascii_alphanumeric());
            if !valid {
                errs.push(
                    self.diag(
                        kspan,
                        format!("invalid [{section}] key `{}`", key.escape_debug()),
                    )
                    .with_help(
                        "systemd keys are CamelCase letters and digits, e.g. `TimeoutStopSec`",
                    ),
                );
                continue;
            }
            for value in &v.get_ref().0 {
                match check_single_line(value) {
                    Ok(()) => out.push((key.to_owned(), value.clone())),
                    Err(e) => errs.push(self.diag(vspan.clone(), format!("value of `{key}` {e}"))),
                }
            }
        }
        out
    }
}

/// The app's value, else the default's.
fn pick<T: Clone>(app: &Option<T>, default: &Option<T>) -> Option<T> {
    app.clone().or_else(|| default.clone())
}

fn check_no_nul(s: &str) -> Result<(), String> {
    if s.contains('\0') {
        Err("contains a NUL character, which no process argument can carry".to_owned())
    } else {
        Ok(())
    }
}

fn check_single_line(s: &str) -> Result<(), String> {
    if s.chars().any(char::is_control) {
        Err("contains a control character (newline, tab, …); it must be a single line".to_owned())
    } else {
        Ok(())
    }
}

/// Host paths appear in several unit settings with different quoting rules,
/// so they are restricted to characters that need no quoting anywhere.
pub fn check_host_path(p: &str) -> Result<(), String> {
    let shown = p.escape_debug();
    if !p.starts_with('/') {
        return Err(format!("host path `{shown}` must be absolute"));
    }
    if p == "/" {
        return Err(
            "granting the whole root filesystem is not allowed; grant the folder the app needs"
                .to_owned(),
        );
    }
    if let Some(c) = p
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "/._-+@".contains(*c)))
    {
        return Err(format!(
            "host path `{shown}` contains `{}`; host paths may use only letters, digits and / . _ - + @",
            c.escape_debug()
        ));
    }
    if p.len() > 1 && p.ends_with('/') {
        return Err(format!("host path `{shown}` must not end with '/'"));
    }
    if p.split('/')
        .skip(1)
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return Err(format!(
            "host path `{shown}` must be normalized (no //, . or .. segments)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_paths_are_restricted() {
        assert!(check_host_path("/var/lib/hello").is_ok());
        assert!(check_host_path("/srv/data-1/x_y.z").is_ok());
        for bad in [
            "relative", "/", "/a b", "/a/../b", "/a//b", "/a/", "/a%b", "/a\nb", "/a:b", "/a\"b",
        ] {
            assert!(check_host_path(bad).is_err(), "{bad}");
        }
    }
}
