//! One app of the manifest → its [`AppPlan`]: defaults applied, every
//! field validated, errors kept with the span of the value they are about.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;

use toml::Spanned;

use super::{
    credential, egress, folder, guest, module, runtime, shipped, AppKind, AppPlan, Dir, Edge,
    ModulePlan, RawSections, ShippedGrant,
};
use crate::diag::Diagnostic;
use crate::invalid::Invalid;
use crate::manifest::app_name::AppName;
use crate::manifest::schema::{
    self, AppSpec, ByteSize, DirGrant, FileGrant, Identity, ModuleSource, Network, RawSection,
    Restart,
};
use crate::manifest::Loaded;
use crate::node::raw_keys::Section;
use crate::unit::escape::{FreeText, HostPath, Key, RawValue};

/// Largest linear-memory limit (`memory`): 16 TiB. Far above any node, and
/// far below where `MemoryMax=` stops being a limit (2^63 bytes, where the
/// kernel clamps it to "max", and 2^64-1, systemd's "infinity").
const MAX_MEMORY: u64 = 16 << 40;

/// Ports below this need CAP_NET_BIND_SERVICE in the host's network
/// namespace, which a service with `PrivateUsers=yes` cannot hold.
const FIRST_UNPRIVILEGED_PORT: u16 = 1024;

/// Raw keys that keep a stopped unit active or needed, or start it again:
/// an `idle` server could then never stop, or never start at its next
/// connection.
/// (`Restart=` is refused for every app: `restart` sets it.)
const IDLE_BREAKERS: [&str; 2] = ["StopWhenUnneeded", "RemainAfterExit"];

pub(super) struct AppCtx<'a> {
    pub(super) loaded: &'a Loaded,
    /// The nodes' systemd: what the app's settings may need.
    pub(super) systemd: super::NodeSystemd,
    /// What the person running wasmunit allows beyond the node map.
    pub(super) operator: &'a super::OperatorGrants,
    /// The wasmtime the node merges (an app's pin overrides it).
    pub(super) wasmtime: crate::releases::TargetRange,
    pub(super) layout: crate::node::paths::Layout,
    pub(super) name: &'a AppName,
    pub(super) table_span: Range<usize>,
    pub(super) names: &'a BTreeMap<String, AppName>,
}

impl AppCtx<'_> {
    fn diag(&self, span: Range<usize>, msg: impl Into<String>) -> Diagnostic {
        self.loaded.diag(span, msg)
    }

    pub(super) fn resolve(
        &self,
        defaults: &AppSpec,
        app: &AppSpec,
        modules: &mut module::Resolver,
        shipped_memo: &mut shipped::Memo,
        runtimes: &mut runtime::Memo,
    ) -> Result<(AppPlan, Vec<Edge>), Vec<Diagnostic>> {
        let mut errs = Vec::new();

        self.refuse_node_wide_keys(app, &mut errs);

        let description = pick(&app.description, &defaults.description).and_then(|d| {
            FreeText::new(d.get_ref())
                .map_err(|e| errs.push(self.diag(d.span(), format!("`description` {e}"))))
                .ok()
        });
        let module_source = pick(&app.module, &defaults.module);
        let module_at = module_source.as_ref().map_or_else(String::new, |m| {
            let (line, col) = crate::diag::line_col(&self.loaded.source, m.span().start);
            format!("{}:{line}:{col}", crate::input::shown(&self.loaded.path))
        });
        let module = self.module(module_source, modules, &mut errs);
        let args = self.args(pick(&app.args, &defaults.args), &mut errs);
        let env = self.env(defaults, app, &mut errs);
        let identity = self.identity(pick(&app.identity, &defaults.identity), &mut errs);
        let dirs = self.dirs(
            pick(&app.dirs, &defaults.dirs).unwrap_or_default(),
            identity,
            &mut errs,
        );
        let files = self.files(
            pick(&app.files, &defaults.files).unwrap_or_default(),
            &dirs,
            shipped_memo,
            &mut errs,
        );
        let credentials = self.credentials(
            pick(&app.credentials, &defaults.credentials).unwrap_or_default(),
            &dirs,
            &files,
            &mut errs,
        );
        let (kind, network, egress) =
            self.kind_and_network(defaults, app, !args.is_empty(), &mut errs);
        let pin = pick(&app.pin, &defaults.pin).and_then(|p| self.pin(&p, runtimes, &mut errs));
        let kind = self.listener(kind, network, pin.as_deref());
        let restart = self.restart(&kind, pick(&app.restart, &defaults.restart), &mut errs);
        self.idle_fits(&kind, restart, [defaults, app], &mut errs);
        let memory = self.memory(pick(&app.memory, &defaults.memory), &mut errs);
        let (after, edges) = self.refs("after", pick(&app.after, &defaults.after), &mut errs);
        let (wants, _) = self.refs("wants", pick(&app.wants, &defaults.wants), &mut errs);
        let raw = RawSections {
            unit: self.raw(Section::Unit, &defaults.unit, &app.unit, &mut errs),
            service: self.raw(Section::Service, &defaults.service, &app.service, &mut errs),
            install: self.raw(Section::Install, &defaults.install, &app.install, &mut errs),
        };

        match module {
            Some(module) if errs.is_empty() => Ok((
                AppPlan {
                    name: self.name.clone(),
                    description,
                    module,
                    module_at,
                    pin,
                    args,
                    env,
                    dirs,
                    files,
                    credentials,
                    identity,
                    network,
                    egress,
                    memory,
                    restart,
                    after,
                    wants,
                    enabled: pick(&app.enabled, &defaults.enabled).unwrap_or(true),
                    kind,
                    raw,
                    layout: self.layout,
                },
                edges,
            )),
            _ => Err(errs),
        }
    }

    fn module(
        &self,
        source: Option<Spanned<ModuleSource>>,
        modules: &mut module::Resolver,
        errs: &mut Vec<Diagnostic>,
    ) -> Option<Arc<ModulePlan>> {
        let Some(m) = source else {
            errs.push(
                self.diag(
                    self.table_span.clone(),
                    format!("app `{}` has no `module`", self.name),
                )
                .with_help("add `module = \"path/to/module.wasm\"` to the app or to [defaults]"),
            );
            return None;
        };
        modules
            .resolve(&m)
            .map_err(|e| errs.push(self.diag(m.span(), e.message).with_help(e.help)))
            .ok()
    }

    /// Shipped files, grouped by guest folder; a guest folder is either
    /// shipped or granted from the host, not both.
    fn files(
        &self,
        grants: Vec<Spanned<FileGrant>>,
        dirs: &[Dir],
        shipped_memo: &mut shipped::Memo,
        errs: &mut Vec<Diagnostic>,
    ) -> Vec<ShippedGrant> {
        let mut out: Vec<ShippedGrant> = Vec::new();
        for g in grants {
            let g = g.into_inner();
            // One spelling per guest place: `/config/` ships into `/config`.
            let guest = &match guest::normalize(g.guest.get_ref()) {
                Ok(normal) => normal,
                Err(e) => {
                    errs.push(self.diag(g.guest.span(), e));
                    continue;
                }
            };
            if dirs.iter().any(|d| d.guest == *guest) {
                errs.push(self.diag(
                    g.guest.span(),
                    format!(
                        "guest path {} is both shipped (`files`) and granted (`dirs`)",
                        guest::shown(g.guest.get_ref(), guest)
                    ),
                ));
                continue;
            }
            let n = out
                .iter()
                .position(|s| s.guest == *guest)
                .unwrap_or(out.len());
            let node_dir = self.layout.files.join(&format!("{}/{n}", self.name));
            let collected = match shipped::collect(
                shipped_memo,
                self.loaded.dir(),
                g.source.get_ref(),
                &node_dir,
            ) {
                Ok(f) => f,
                Err(e) => {
                    errs.push(self.diag(g.source.span(), e).with_help(
                        "`source` is a file or folder relative to the manifest's folder",
                    ));
                    continue;
                }
            };
            if n == out.len() {
                let Ok(host) = HostPath::new(&node_dir) else {
                    continue;
                };
                out.push(ShippedGrant {
                    host,
                    guest: guest.clone(),
                    files: Vec::new(),
                    sources: Vec::new(),
                });
            }
            let grant = &mut out[n];
            let (line, col) = crate::diag::line_col(&self.loaded.source, g.source.span().start);
            grant.sources.push((
                g.source.get_ref().clone(),
                format!("{}:{line}:{col}", crate::input::shown(&self.loaded.path)),
            ));
            for f in collected {
                if grant.files.iter().any(|have| have.node_path == f.node_path) {
                    errs.push(self.diag(
                        g.source.span(),
                        format!("`{}` is shipped twice to `{guest}`", f.source),
                    ));
                } else {
                    grant.files.push(f);
                }
            }
        }
        out
    }

    fn args(&self, args: Option<Vec<Spanned<String>>>, errs: &mut Vec<Diagnostic>) -> Vec<String> {
        args.unwrap_or_default()
            .into_iter()
            .filter_map(|a| match check_no_nul(a.get_ref()) {
                Ok(()) => Some(a.into_inner()),
                Err(e) => {
                    errs.push(self.diag(a.span(), format!("argument {e}")));
                    None
                }
            })
            .collect()
    }

    /// How the app starts: a service, a `wasmtime serve` server, or a
    /// timer's oneshot.
    fn kind(
        &self,
        listen: Option<Spanned<String>>,
        schedule: Option<Spanned<String>>,
        has_args: bool,
        errs: &mut Vec<Diagnostic>,
    ) -> AppKind {
        match (listen, schedule) {
            (Some(l), Some(_)) => {
                errs.push(self.diag(l.span(), "an app cannot have both `listen` and `schedule`"));
                AppKind::Service
            }
            (Some(l), None) => self.serve(&l, has_args, errs),
            (None, Some(s)) => match FreeText::new(s.get_ref()) {
                Ok(on_calendar) if !s.get_ref().is_empty() => {
                    if let Err(e) = super::calendar::check(s.get_ref()) {
                        errs.push(self.diag(s.span(), format!("`schedule` {e}")).with_help(
                            "for example \"hourly\", \"Mon..Fri 09:00\" or \"*-*-* 03:00:00\"",
                        ));
                    }
                    AppKind::Scheduled { on_calendar }
                }
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
        }
    }

    fn serve(&self, l: &Spanned<String>, has_args: bool, errs: &mut Vec<Diagnostic>) -> AppKind {
        if let Ok(addr) = l.get_ref().parse::<SocketAddr>() {
            if addr.port() == 0 {
                errs.push(self.diag(
                    l.span(),
                    format!(
                        "cannot listen on `{}`: port 0 asks the kernel for any free port, which no \
                         client could find",
                        l.get_ref()
                    ),
                ));
            }
            if let SocketAddr::V6(v6) = addr {
                if v6.scope_id() != 0 || v6.flowinfo() != 0 {
                    errs.push(
                        self.diag(
                            l.span(),
                            format!(
                            "cannot listen on `{}`: systemd's ListenStream= takes no IPv6 scope",
                            l.get_ref()
                        ),
                        )
                        .with_help(
                            "use the address without `%SCOPE`, or a wildcard such as \"[::]:8080\"",
                        ),
                    );
                }
            }
            if has_args {
                errs.push(self.diag(
                    l.span(),
                    "`wasmtime serve` passes no arguments to the component: remove `args` or `listen`",
                ));
            }
            AppKind::Serve {
                addr,
                idle: None,
                via: super::Listener::OwnPort,
            }
        } else {
            errs.push(
                self.diag(
                    l.span(),
                    format!("invalid `listen` address `{}`", l.get_ref().escape_debug()),
                )
                .with_help("use IP:PORT, e.g. \"0.0.0.0:8080\" or \"[::]:8080\""),
            );
            AppKind::Service
        }
    }

    fn network(
        &self,
        kind: &AppKind,
        given: Option<&Spanned<Network>>,
        listen_at: Range<usize>,
        errs: &mut Vec<Diagnostic>,
    ) -> Network {
        let network = given.map_or(Network::None, |n| *n.get_ref());
        let AppKind::Serve { addr, .. } = kind else {
            return network;
        };
        let port = addr.port();
        if port == 0 || port >= FIRST_UNPRIVILEGED_PORT {
            return network;
        }
        match given {
            // Only a socket unit (network "none") binds as the manager, which
            // may; the app binding its own port may not.
            Some(n) if network != Network::None => errs.push(
                self.diag(
                    n.span(),
                    format!(
                        "with `network = \"{}\"` the app binds port {port} itself, and it is \
                         privileged: that needs CAP_NET_BIND_SERVICE in the host's network \
                         namespace, which the sandboxed service (DynamicUser=, PrivateUsers=) \
                         does not have, so it could never start",
                        network.as_str()
                    ),
                )
                .with_help(
                    "remove `network` (the socket unit holds the port), or listen on a port \
                     from 1024 up",
                ),
            ),
            _ if !self.operator.allowed_ports.contains(&port) => errs.push(
                self.diag(
                    listen_at,
                    format!(
                        "port {port} is below 1024, where the node's own services listen (sshd \
                         on 22, the resolver on 53): a manifest cannot take one"
                    ),
                )
                .with_help(format!(
                    "listen on a port from 1024 up, or have the person running wasmunit allow \
                     it: --allow-port {port}"
                )),
            ),
            _ => {}
        }
        network
    }

    /// How a server gets its port: its own bind with a network grant; else
    /// the socket unit's, handed to a wasmtime that takes it (its pin's, or
    /// every release of the node's range) or forwarded by the proxy.
    fn listener(
        &self,
        kind: AppKind,
        network: Network,
        pin: Option<&runtime::PinnedRuntime>,
    ) -> AppKind {
        let AppKind::Serve { addr, idle, .. } = kind else {
            return kind;
        };
        let range = pin.map_or(self.wasmtime, |p| {
            crate::releases::TargetRange::exactly(p.version)
        });
        let via = if network != Network::None {
            super::Listener::OwnPort
        } else if crate::releases::serve::takes_socket(range) {
            super::Listener::Handover
        } else {
            super::Listener::Proxy
        };
        AppKind::Serve { addr, idle, via }
    }

    /// `idle`: for a server whose socket systemd holds, a span from 1 s to
    /// a day (proxyd's and wasmtime's timers take that; a longer one is
    /// "never").
    fn idle(
        &self,
        kind: AppKind,
        network: Network,
        given: Option<Spanned<String>>,
        errs: &mut Vec<Diagnostic>,
    ) -> AppKind {
        let Some(idle) = given else {
            return kind;
        };
        let AppKind::Serve { addr, .. } = kind else {
            errs.push(self.diag(
                idle.span(),
                "`idle` needs `listen`: only a server is started by its next connection",
            ));
            return kind;
        };
        if network != Network::None {
            errs.push(self.diag(
                idle.span(),
                format!(
                    "`idle` needs `network = \"none\"`: with `network = \"{}\"` the app binds its \
                     own port, and nothing would start it again",
                    network.as_str()
                ),
            ));
            return kind;
        }
        if let Some(secs @ 1..=86_400) = super::time_span::seconds(idle.get_ref()) {
            return AppKind::Serve {
                addr,
                idle: u32::try_from(secs).ok(),
                via: super::Listener::OwnPort,
            };
        }
        errs.push(
            self.diag(
                idle.span(),
                format!("invalid `idle` `{}`", idle.get_ref().escape_debug()),
            )
            .with_help("whole seconds from 1s to 1d, such as \"30s\" or \"5min\""),
        );
        kind
    }

    /// An idle app exits when idle, cleanly: `restart = "always"` would
    /// start it again at once, and raw keys that keep a stopped unit
    /// active or needed would keep its socket from starting it again.
    fn idle_fits(
        &self,
        kind: &AppKind,
        restart: Restart,
        specs: [&AppSpec; 2],
        errs: &mut Vec<Diagnostic>,
    ) {
        if !matches!(kind, AppKind::Serve { idle: Some(_), .. }) {
            return;
        }
        if restart == Restart::Always {
            errs.push(self.diag(
                self.table_span.clone(),
                "`restart = \"always\"` would start an `idle` app again as soon as it stops: \
                 use \"on-failure\"",
            ));
        }
        for spec in specs {
            let tables = [&spec.unit, &spec.service].into_iter().flatten();
            for (k, _) in tables.flat_map(schema::Pairs::iter) {
                if IDLE_BREAKERS.contains(&k.get_ref().as_str()) {
                    errs.push(self.diag(
                        k.span(),
                        format!(
                            "`{}` would keep an `idle` app from stopping, or from starting again \
                             at its next connection",
                            k.get_ref()
                        ),
                    ));
                }
            }
        }
    }

    /// How the app starts (with a server's `idle`), its `network` and its
    /// `egress` allow-list.
    fn kind_and_network(
        &self,
        defaults: &AppSpec,
        app: &AppSpec,
        has_args: bool,
        errs: &mut Vec<Diagnostic>,
    ) -> (AppKind, Network, Vec<egress::IpPrefix>) {
        let kind = self.kind(
            pick(&app.listen, &defaults.listen),
            pick(&app.schedule, &defaults.schedule),
            has_args,
            errs,
        );
        let (network, egress) = self.network_grant(&kind, defaults, app, errs);
        let kind = self.idle(kind, network, pick(&app.idle, &defaults.idle), errs);
        (kind, network, egress)
    }

    /// `network` and its `egress` allow-list.
    fn network_grant(
        &self,
        kind: &AppKind,
        defaults: &AppSpec,
        app: &AppSpec,
        errs: &mut Vec<Diagnostic>,
    ) -> (Network, Vec<egress::IpPrefix>) {
        let listen_at = pick(&app.listen, &defaults.listen)
            .map_or_else(|| self.table_span.clone(), |l| l.span());
        let network = self.network(
            kind,
            pick(&app.network, &defaults.network).as_ref(),
            listen_at,
            errs,
        );
        let egress = self.egress(pick(&app.egress, &defaults.egress), network, kind, errs);
        (network, egress)
    }

    /// `egress`: addresses and prefixes, for an outbound app only.
    fn egress(
        &self,
        given: Option<Vec<Spanned<String>>>,
        network: Network,
        kind: &AppKind,
        errs: &mut Vec<Diagnostic>,
    ) -> Vec<egress::IpPrefix> {
        let Some(list) = given else {
            return Vec::new();
        };
        if network != Network::Outbound || matches!(kind, AppKind::Serve { .. }) {
            let at = list.first().map_or(self.table_span.clone(), Spanned::span);
            errs.push(self.diag(
                at,
                "`egress` needs `network = \"outbound\"` and no `listen` (the filter would \
                 also drop a server's clients)",
            ));
            return Vec::new();
        }
        if list.is_empty() {
            errs.push(self.diag(
                self.table_span.clone(),
                "`egress = []` allows nothing: use `network = \"none\"` for that",
            ));
        }
        let mut out = Vec::new();
        for item in list {
            match egress::IpPrefix::parse(item.get_ref()) {
                Ok(p) if !out.contains(&p) => out.push(p),
                Ok(p) => errs.push(self.diag(item.span(), format!("`{p}` is listed twice"))),
                Err(e) => errs.push(self.diag(item.span(), format!("`egress`: {e}"))),
            }
        }
        out
    }

    fn restart(
        &self,
        kind: &AppKind,
        given: Option<Restart>,
        errs: &mut Vec<Diagnostic>,
    ) -> Restart {
        match (kind, given) {
            (AppKind::Scheduled { .. }, Some(Restart::Always)) => {
                errs.push(self.diag(
                    self.table_span.clone(),
                    "`restart = \"always\"` cannot apply to a scheduled (oneshot) app",
                ));
                Restart::No
            }
            (AppKind::Scheduled { .. }, r) => r.unwrap_or(Restart::No),
            (_, r) => r.unwrap_or(Restart::OnFailure),
        }
    }

    fn memory(&self, given: Option<Spanned<ByteSize>>, errs: &mut Vec<Diagnostic>) -> Option<u64> {
        let m = given?;
        let bytes = m.get_ref().0;
        if bytes < 65536 {
            errs.push(self.diag(m.span(), "`memory` is below one WebAssembly page (64KiB)"));
            None
        } else if bytes > MAX_MEMORY {
            // MemoryMax= is this plus headroom: near 2^64 it saturates to
            // systemd's "infinity", and the kernel clamps anything above
            // 2^63 bytes to "max": no limit at all, silently.
            errs.push(
                self.diag(
                    m.span(),
                    "`memory` is above 16TiB, which no node could enforce",
                )
                .with_help("leave `memory` out for no limit, or give a real one, e.g. \"512MiB\""),
            );
            None
        } else {
            Some(bytes)
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

    fn dirs(
        &self,
        grants: Vec<Spanned<DirGrant>>,
        identity: Identity,
        errs: &mut Vec<Diagnostic>,
    ) -> Vec<Dir> {
        let mut out: Vec<Dir> = Vec::new();
        for g in grants {
            let g = g.into_inner();
            let mut ok = true;
            // One spelling per guest place, so `/data/` is `/data` twice.
            let guest = &guest::normalize(g.guest.get_ref()).unwrap_or_else(|e| {
                errs.push(self.diag(g.guest.span(), e));
                ok = false;
                g.guest.get_ref().clone()
            });
            let host = HostPath::new(g.host.get_ref())
                .map_err(|e| {
                    errs.push(self.diag(g.host.span(), e));
                    ok = false;
                })
                .ok();
            if let Some(first) = out.iter().find(|d| d.guest == *guest) {
                let (line, col) = crate::diag::line_col(&self.loaded.source, first.span.start);
                errs.push(
                    self.diag(
                        g.guest.span(),
                        format!(
                            "guest path {} is granted twice (first by the grant at {}:{line}:{col})",
                            guest::shown(g.guest.get_ref(), guest),
                            crate::input::shown(&self.loaded.path)
                        ),
                    )
                    .with_help("a guest folder is one preopen: keep one grant for it"),
                );
                ok = false;
            }
            let provision = host.as_ref().and_then(|h| {
                folder::Provision::of(
                    self.name.as_str(),
                    h,
                    g.readonly,
                    identity,
                    &self.operator.data_roots,
                )
                .map_err(|e| errs.push(self.diag(g.host.span(), e)))
                .ok()
            });
            if let (true, Some(host), Some(provision)) = (ok, host, provision) {
                out.push(Dir {
                    host,
                    guest: guest.clone(),
                    readonly: g.readonly,
                    provision,
                    span: g.host.span(),
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

    #[allow(clippy::ref_option)] // the schema's optional tables, as they are
    fn raw(
        &self,
        sec: Section,
        defaults: &Option<RawSection>,
        app: &Option<RawSection>,
        errs: &mut Vec<Diagnostic>,
    ) -> Vec<(Key, RawValue)> {
        // Per-key merge: the app's value wins over the default's.
        let mut merged: BTreeMap<&str, (&Spanned<String>, &Spanned<schema::RawSetting>)> =
            BTreeMap::new();
        for table in [defaults, app].into_iter().flatten() {
            for (k, v) in table {
                merged.insert(k.get_ref(), (k, v));
            }
        }
        // The manifest's table: `[app.X.service]` for [Service].
        let section = sec.name().to_ascii_lowercase();
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
            if sec == Section::Service && key == "ExecStart" {
                // Type=exec allows one ExecStart=, so systemd would refuse to
                // load the unit; a oneshot would run it after the app.
                errs.push(
                    self.diag(
                        k.span(),
                        "`ExecStart` is the command wasmunit renders from `module` and `args`",
                    )
                    .with_help("wasmunit renders the one command an app runs"),
                );
                continue;
            }
            if let Some((msg, help)) = self.raw_key_refusal(sec, &section, key) {
                errs.push(self.diag(k.span(), msg).with_help(help));
                continue;
            }
            for value in &v.get_ref().0 {
                if value.is_empty() {
                    // `Key=` resets the list: it would drop wasmunit's own
                    // (an empty Assert… removes every assert it renders).
                    errs.push(
                        self.diag(v.span(), format!("value of `{key}` is empty"))
                            .with_help("an empty value resets what systemd read for the key so far, wasmunit's own settings included"),
                    );
                    continue;
                }
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

impl AppCtx<'_> {
    /// Why a raw table may not set `key` (default deny, `None` when it
    /// may): a key no classified systemd release knows (it would ignore it), or
    /// one that could change what the app reaches, unless the person
    /// running wasmunit allowed it by name (`--allow-key`).
    fn raw_key_refusal(&self, sec: Section, section: &str, key: &str) -> Option<(String, String)> {
        use crate::node::raw_keys::{verdict, Verdict};
        let header = format!("[{section}] key `{}`", key.escape_debug());
        let since = crate::node::raw_keys::since(sec, key);
        let (msg, help) = match verdict(sec, key) {
            // Known, but not to the nodes' manager: it would ignore it.
            Some(_) if since > self.systemd.major() => (
                format!(
                    "{header} is known from systemd {since}, and the nodes run systemd {}: \
                     it would ignore it",
                    *self.systemd
                ),
                format!("set `systemd = {since}` (or newer) in [defaults] if the nodes run it"),
            ),
            Some(Verdict::Pass) => return None,
            _ if self.operator.allowed_keys.iter().any(|a| a == key) => return None,
            None => (
                format!(
                    "{header} is not a [{}] key of systemd {}",
                    sec.name(),
                    crate::releases::systemd_release::CLASSIFIED_RELEASES
                        .map(|r| r.to_string())
                        .join(", ")
                ),
                "systemd ignores a key it does not know (with a warning in the journal); \
                 check its spelling in systemd.unit(5), systemd.service(5), systemd.exec(5)"
                    .to_owned(),
            ),
            Some(Verdict::Refuse(reach)) => (
                format!(
                    "{header} could change {}; a raw table may set only keys that cannot \
                     widen what an app reaches",
                    reach.what()
                ),
                format!(
                    "if you run wasmunit and trust this manifest with it, allow it with \
                     `--allow-key {key}`; the manifest itself cannot"
                ),
            ),
        };
        Some((msg, help))
    }

    /// `identity`: a static user's name, `wasm-NAME`, must be one every
    /// tool takes (systemd-sysusers, useradd: at most 31 characters).
    fn identity(&self, given: Option<Spanned<Identity>>, errs: &mut Vec<Diagnostic>) -> Identity {
        let Some(id) = given else {
            return Identity::Dynamic;
        };
        if *id.get_ref() == Identity::Static && self.name.as_str().len() > 26 {
            errs.push(self.diag(
                id.span(),
                format!(
                    "app `{}`'s static user would be `wasm-{}`, longer than the 31 characters \
                     systemd-sysusers takes; shorten the app's name to 26 characters",
                    self.name, self.name
                ),
            ));
        }
        *id.get_ref()
    }

    /// Keys that describe the node, not one app: `[defaults]` only.
    fn refuse_node_wide_keys(&self, app: &AppSpec, errs: &mut Vec<Diagnostic>) {
        if let Some(w) = &app.wasmtime {
            errs.push(
                self.diag(w.span(), "`wasmtime` can only be set in [defaults]")
                    .with_help("a node runs one wasmtime; set the target version once for the whole manifest"),
            );
        }
        if let Some(v) = &app.systemd {
            errs.push(
                self.diag(v.span(), "`systemd` can only be set in [defaults]")
                    .with_help(
                        "a node runs one systemd; set its release once for the whole manifest",
                    ),
            );
        }
    }

    /// `credentials`: names and store paths; the guest folder they appear
    /// at is granted nothing else.
    fn credentials(
        &self,
        specs: Vec<Spanned<schema::CredentialSpec>>,
        dirs: &[Dir],
        files: &[ShippedGrant],
        errs: &mut Vec<Diagnostic>,
    ) -> Vec<credential::Credential> {
        let guest = credential::GUEST_DIR;
        if !specs.is_empty()
            && (dirs.iter().any(|d| d.guest == guest) || files.iter().any(|f| f.guest == guest))
        {
            errs.push(self.diag(
                specs[0].span(),
                format!("guest path `{guest}` holds the credentials; grant no folder there"),
            ));
        }
        let mut out: Vec<credential::Credential> = Vec::new();
        for spec in specs {
            let at = spec.span();
            let c = spec.into_inner();
            let name = credential::CredentialName::new(c.name.get_ref())
                .map_err(|e| errs.push(self.diag(c.name.span(), e)))
                .ok();
            let (Some((source, path)), Some(name)) = (self.credential_source(&c, at, errs), name)
            else {
                continue;
            };
            if out.iter().any(|o| o.name == name) {
                errs.push(self.diag(
                    c.name.span(),
                    format!("credential `{}` is named twice", name.as_str()),
                ));
                continue;
            }
            let path = match source {
                credential::Source::Imported => {
                    Some(credential::imported_name(self.name.as_str(), &name))
                }
                _ => path,
            };
            out.push(credential::Credential { name, source, path });
        }
        out
    }

    /// Where one credential comes from: a checked store path, or none for
    /// an imported one; `None` after an error (reported).
    fn credential_source(
        &self,
        c: &schema::CredentialSpec,
        at: Range<usize>,
        errs: &mut Vec<Diagnostic>,
    ) -> Option<(credential::Source, Option<String>)> {
        let import = c.import.as_ref().is_some_and(|i| *i.get_ref());
        let (source, path) = match (&c.file, &c.encrypted, import) {
            (Some(p), None, false) => (credential::Source::File, Some(p)),
            (None, Some(p), false) => (credential::Source::Encrypted, Some(p)),
            (None, None, true) => (credential::Source::Imported, None),
            _ => {
                errs.push(self.diag(
                    at,
                    "a credential names exactly one of `file`, `encrypted` and `import = true`",
                ));
                return None;
            }
        };
        let rename = crate::releases::systemd_release::IMPORT_CREDENTIAL_RENAME;
        if source == credential::Source::Imported && !self.systemd.has(rename) {
            let span = c.import.as_ref().map_or(at, Spanned::span);
            errs.push(
                self.diag(
                    span,
                    format!(
                        "`import` needs systemd {} or newer ({}, so that only the store file \
                         wasmunit.APP.NAME is read, never a credential of the system's own), \
                         and the nodes run systemd {}",
                        rename.release, rename.feature, self.systemd
                    ),
                )
                .with_help(if self.systemd.by_flag {
                    format!("render with `--systemd {}` or newer", rename.release)
                } else {
                    format!(
                        "set `systemd = {}` (or newer) in [defaults]",
                        rename.release
                    )
                }),
            );
            return None;
        }
        let checked = match path {
            None => None,
            Some(p) => Some(
                credential::store_path(self.name.as_str(), p.get_ref())
                    .map_err(|e| errs.push(self.diag(p.span(), e)))
                    .ok()?,
            ),
        };
        Some((source, checked))
    }

    /// `pin`: the exact release and its image, read (once per manifest)
    /// when local.
    fn pin(
        &self,
        spec: &Spanned<schema::PinSpec>,
        memo: &mut runtime::Memo,
        errs: &mut Vec<Diagnostic>,
    ) -> Option<Arc<runtime::PinnedRuntime>> {
        let p = spec.get_ref();
        let version = crate::releases::WasmtimeVersion::parse(p.wasmtime.get_ref())
            .map_err(|e| errs.push(self.diag(p.wasmtime.span(), format!("`pin.wasmtime`: {e}"))))
            .ok();
        let arch = self.pin_arch(p.arch.as_ref(), errs);
        let sha256 = p.sha256.as_ref().and_then(|h| {
            let t = h.get_ref();
            if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
                Some(t.to_ascii_lowercase())
            } else {
                errs.push(
                    self.diag(h.span(), "`pin.sha256` must be 64 hex digits")
                        .with_help("compute it with `sha256sum IMAGE`"),
                );
                None
            }
        });
        let (version, arch) = (version?, arch?);
        let image = self.pin_image(p, version, arch, sha256, memo, errs)?;
        let node_path = runtime::PinnedRuntime::node_path_for(version, arch);
        if let Err(e) = memo.claim(&node_path, &image, self.name.as_str()) {
            errs.push(self.diag(spec.span(), format!("`pin`: {e}")));
            return None;
        }
        Some(Arc::new(runtime::PinnedRuntime {
            version,
            arch,
            image,
            node_path,
        }))
    }

    fn pin_arch(
        &self,
        arch: Option<&Spanned<String>>,
        errs: &mut Vec<Diagnostic>,
    ) -> Option<&'static str> {
        let Some(a) = arch else {
            return Some(runtime::ARCHES[0]);
        };
        let found = runtime::ARCHES.iter().copied().find(|x| x == a.get_ref());
        if found.is_none() {
            errs.push(self.diag(
                a.span(),
                format!(
                    "`pin.arch` must be `x86-64` or `arm64`, got `{}`",
                    a.get_ref().escape_debug()
                ),
            ));
        }
        found
    }

    /// Where the pinned image comes from: the bakery by default, a URL,
    /// or a file beside the manifest (hashed here).
    fn pin_image(
        &self,
        p: &schema::PinSpec,
        version: crate::releases::WasmtimeVersion,
        arch: &'static str,
        sha256: Option<String>,
        memo: &mut runtime::Memo,
        errs: &mut Vec<Diagnostic>,
    ) -> Option<runtime::ImageOrigin> {
        Some(match &p.image {
            None => {
                let url = format!(
                    "{}/{}",
                    runtime::BAKERY,
                    runtime::PinnedRuntime::bakery_name(version, arch)
                );
                runtime::ImageOrigin::Url {
                    shown: url.clone(),
                    url,
                    sha256,
                }
            }
            Some(img) if img.get_ref().contains("://") => {
                if let Some(why) = module::url_problem(img.get_ref()) {
                    errs.push(self.diag(
                        img.span(),
                        format!(
                            "invalid image URL `{}`: {why}",
                            module::without_credentials(img.get_ref()).escape_debug()
                        ),
                    ));
                    return None;
                }
                if sha256.is_none() && !img.get_ref().starts_with("https://") {
                    errs.push(
                        self.diag(
                            img.span(),
                            format!(
                                "image URL `{}` is neither https nor pinned by a hash: anyone \
                                 on the way could hand the node another wasmtime",
                                module::without_credentials(img.get_ref()).escape_debug()
                            ),
                        )
                        .with_help("add `sha256 = \"…\"` to the pin (sha256sum IMAGE), or fetch it over https"),
                    );
                    return None;
                }
                runtime::ImageOrigin::Url {
                    url: img.get_ref().clone(),
                    shown: module::without_credentials(img.get_ref()),
                    sha256,
                }
            }
            Some(img) => {
                if let Some(h) = &p.sha256 {
                    errs.push(
                        self.diag(h.span(), "`pin.sha256` is for an image fetched from a URL")
                            .with_help("wasmunit hashes a local image itself"),
                    );
                }
                let read = module::check_relative(img.get_ref())
                    .map_err(|e| Invalid::new(e.message))
                    .and_then(|rel| memo.local(self.loaded.dir(), &rel, arch));
                match read {
                    Ok(origin) => origin,
                    Err(e) => {
                        errs.push(self.diag(img.span(), format!("`pin.image`: {e}")));
                        return None;
                    }
                }
            }
        })
    }
}

/// The app's value, else the default's.
#[allow(clippy::ref_option)] // takes the schema's fields as they are
pub(super) fn pick<T: Clone>(app: &Option<T>, default: &Option<T>) -> Option<T> {
    app.clone().or_else(|| default.clone())
}

fn check_no_nul(s: &str) -> Result<(), Invalid> {
    if s.contains('\0') {
        Err(Invalid::from(
            "contains a NUL character, which no process argument can carry".to_owned(),
        ))
    } else {
        Ok(())
    }
}
