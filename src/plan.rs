//! Manifest → [`Plan`]: defaults applied, names validated, modules located and
//! hashed, cross-references and cycles checked. Every error keeps the span of
//! the value it is about; all of them are collected before anything renders.

pub mod graph;
pub mod module;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::Range;

use toml::Spanned;

use crate::diag::{Diagnostic, Diagnostics};
use crate::manifest::app_name::AppName;
use crate::manifest::schema::{self, AppSpec, DirGrant, Network, RawSection, Restart};
use crate::manifest::Loaded;
use crate::render::escape::{FreeText, HostPath, Key, RawValue};
use crate::target::WasmtimeVersion;
pub use module::{ModuleOrigin, ModulePlan};

/// Everything the renderers need, with no I/O left to do.
#[derive(Debug, Clone)]
pub struct Plan {
    /// File name of the manifest, for headers in generated files.
    pub manifest_name: String,
    /// The wasmtime CLI the units are rendered for.
    pub wasmtime: WasmtimeVersion,
    pub apps: Vec<AppPlan>,
}

#[derive(Debug, Clone)]
pub struct AppPlan {
    pub name: AppName,
    pub description: Option<FreeText>,
    /// Shared by every app that names the same module.
    pub module: std::sync::Arc<ModulePlan>,
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
}

/// How the app is started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppKind {
    /// A long-running `wasmtime run` service.
    Service,
    /// A oneshot `wasmtime run` started by a timer (`OnCalendar=`).
    Scheduled { on_calendar: FreeText },
    /// A `wasmtime serve` HTTP server (wasi:http proxy component).
    Serve { addr: SocketAddr },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dir {
    pub host: HostPath,
    pub guest: String,
    pub readonly: bool,
}

/// Pass-through `Key=value` lines, per section, in manifest order of keys.
#[derive(Debug, Clone, Default)]
pub struct RawSections {
    pub unit: Vec<(Key, RawValue)>,
    pub service: Vec<(Key, RawValue)>,
    pub install: Vec<(Key, RawValue)>,
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
            wasmtime: version,
            apps,
        })
    } else {
        errs.sort_by_key(|d| d.span.as_ref().map_or(0, |s| s.start));
        Err(Diagnostics(errs))
    }
}

/// The unit names a manifest renders (the group target first), from the
/// app names and kinds alone: no module is read.
pub fn unit_names(loaded: &Loaded) -> Result<Vec<String>, Diagnostics> {
    let m = &loaded.manifest;
    let defaults = m.defaults.clone().unwrap_or_default();
    let mut names = vec![crate::render::systemd::GROUP_TARGET.to_owned()];
    let mut errs = Vec::new();
    for (key, spec) in &m.app {
        match AppName::parse(key.get_ref()) {
            Ok(n) => {
                names.push(n.service_unit());
                if pick(&spec.get_ref().schedule, &defaults.schedule).is_some() {
                    names.push(n.timer_unit());
                }
            }
            Err(e) => errs.push(loaded.diag(key.span(), e)),
        }
    }
    if errs.is_empty() {
        Ok(names)
    } else {
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
            FreeText::new(d.get_ref())
                .map_err(|e| errs.push(self.diag(d.span(), format!("`description` {e}"))))
                .ok()
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
            (None, Some(s)) => match FreeText::new(s.get_ref()) {
                Ok(on_calendar) if !s.get_ref().is_empty() => AppKind::Scheduled { on_calendar },
                Ok(_) => {
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
            let guest = g.guest.get_ref();
            let mut ok = true;
            let host = HostPath::new(g.host.get_ref())
                .map_err(|e| {
                    errs.push(self.diag(g.host.span(), e));
                    ok = false;
                })
                .ok();
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
            if let (true, Some(host)) = (ok, host) {
                out.push(Dir {
                    host,
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
    ) -> Vec<(Key, RawValue)> {
        // Per-key merge: the app's value wins over the default's.
        let mut merged: BTreeMap<&str, (&Spanned<String>, &Spanned<schema::RawValue>)> =
            BTreeMap::new();
        for table in [defaults, app].into_iter().flatten() {
            for (k, v) in table {
                merged.insert(k.get_ref(), (k, v));
            }
        }
        let mut out = Vec::new();
        for (key, (k, v)) in merged {
            let Ok(parsed) = Key::parse(key) else {
                errs.push(
                    self.diag(
                        k.span(),
                        format!("invalid [{section}] key `{}`", key.escape_debug()),
                    )
                    .with_help(
                        "systemd keys are CamelCase letters and digits, e.g. `TimeoutStopSec`",
                    ),
                );
                continue;
            };
            for value in &v.get_ref().0 {
                match RawValue::new(value) {
                    Ok(raw) => out.push((parsed.clone(), raw)),
                    Err(e) => errs.push(
                        self.diag(v.span(), format!("value of `{key}` {e}"))
                            .with_help("pass-through values are written verbatim after `Key=`; systemd must read back exactly that"),
                    ),
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
