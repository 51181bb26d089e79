//! Manifest → [`Plan`]: defaults applied, names validated, modules located and
//! hashed, cross-references and cycles checked. Every error keeps the span of
//! the value it is about; all of them are collected before anything renders.

pub(crate) mod app;
pub mod calendar;
pub mod credential;
pub(crate) mod egress;
pub(crate) mod embed_budget;
pub mod folder;
pub(crate) mod graph;
pub(crate) mod guest;
mod model;
pub mod module;
pub mod out_folder;
pub(crate) mod runtime;
mod runtime_image;
pub(crate) mod shipped;
pub mod time_span;

use std::collections::BTreeMap;

use crate::diag::{Diagnostic, Diagnostics};
use crate::manifest::app_name::AppName;
use crate::manifest::schema::{AppSpec, Network};
use crate::manifest::Loaded;
use crate::releases::systemd_release::SystemdVersion;
use crate::releases::{TargetRange, WasmtimeVersion};
pub(crate) use model::NodeSystemd;
pub use model::{
    set_by, AppKind, AppPlan, Dir, Edge, Listener, OperatorGrants, Plan, RawSections, SetByFlag,
    ShippedGrant,
};
pub use module::{ModuleOrigin, ModulePlan};

/// Options of the render run that affect the plan.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Overrides the manifest's `wasmtime` version (or range).
    pub wasmtime: Option<TargetRange>,
    /// Overrides the manifest's `systemd` release.
    pub systemd: Option<SystemdVersion>,
    pub operator: OperatorGrants,
    /// Where wasmunit's own files go: the node's trees, or a bundle's image.
    pub layout: crate::node::paths::Layout,
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
    let version = target_version(loaded, opts, &defaults, &mut errs);
    let systemd = target_systemd(loaded, opts, &defaults, &mut errs);
    // Names first, so references can be checked against all of them.
    let names = app_names(loaded, &mut errs);

    // One budget for every byte the render embeds, whoever reads it.
    let budget = embed_budget::EmbedBudget::default();
    let mut modules = module::Resolver::new(loaded.dir(), budget.clone(), opts.layout);
    let mut shipped_memo = shipped::Memo::new(budget.clone());
    let mut runtimes = runtime::Memo::new(budget);
    let (mut apps, mut after_edges) = (Vec::new(), Vec::new());
    for (key, spec) in &m.app {
        let Some(name) = names.get(key.get_ref()) else {
            continue;
        };
        let ctx = app::AppCtx {
            loaded,
            systemd: NodeSystemd::new(systemd, opts.systemd.is_some()),
            operator: &opts.operator,
            wasmtime: version,
            layout: opts.layout,
            name,
            table_span: key.span(),
            names: &names,
        };
        match ctx.resolve(
            &defaults,
            spec.get_ref(),
            &mut modules,
            &mut shipped_memo,
            &mut runtimes,
        ) {
            Ok((app, edges)) => {
                after_edges.extend(edges);
                apps.push(app);
            }
            Err(mut e) => errs.append(&mut e),
        }
    }

    cross_app_errors(loaded, &apps, &mut errs);

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
            wasmtime_range: version,
            systemd,
            apps,
            layout: opts.layout,
            set_by_flag: SetByFlag {
                wasmtime: opts.wasmtime.is_some(),
                systemd: opts.systemd.is_some(),
            },
        })
    } else {
        errs.sort_by_key(|d| d.span.as_ref().map_or(0, |s| s.start));
        Err(Diagnostics(errs))
    }
}

/// Two apps may not both manage (create, own) one host folder.
fn shared_folder_errors(loaded: &Loaded, apps: &[AppPlan], errs: &mut Vec<Diagnostic>) {
    let grants: Vec<folder::Grant<'_>> = apps
        .iter()
        .flat_map(|a| {
            a.dirs.iter().map(|d| folder::Grant {
                app: a.name.as_str(),
                host: &d.host,
                provision: &d.provision,
                span: d.span.clone(),
            })
        })
        .collect();
    for (span, msg) in folder::shared_managed(&grants) {
        errs.push(loaded.diag(span, msg));
    }
    // The one privileged line of an app's unit (systemd-tmpfiles, `+`)
    // runs in the unit's mount namespace, under a pinned image's /usr:
    // the image would pick the program root runs.
    for a in apps.iter().filter(|a| a.pin.is_some()) {
        for d in a
            .dirs
            .iter()
            .filter(|d| d.provision == folder::Provision::Owned)
        {
            errs.push(
                loaded
                    .diag(
                        d.span.clone(),
                        format!(
                            "host folder `{}` would be handed to app `{}`'s user by \
                             systemd-tmpfiles run as root before each start, and with `pin` \
                             that step runs from the pinned image's /usr: the image would \
                             choose what root runs",
                            d.host.as_str().escape_debug(),
                            a.name
                        ),
                    )
                    .with_help("grant a folder below /var/lib (StateDirectory=), or drop the pin"),
            );
        }
    }
}

/// The target CLI: `--wasmtime`, else the manifest's, else the default.
fn target_version(
    loaded: &Loaded,
    opts: &PlanOptions,
    defaults: &AppSpec,
    errs: &mut Vec<Diagnostic>,
) -> TargetRange {
    let default = TargetRange::exactly(WasmtimeVersion::DEFAULT);
    match (&opts.wasmtime, &defaults.wasmtime) {
        (Some(v), _) => *v,
        (None, Some(text)) => {
            TargetRange::parse_located(text.get_ref()).unwrap_or_else(|(e, part)| {
                let at = part.map_or_else(
                    || text.span(),
                    |part| loaded.span_within(text.span(), text.get_ref(), part),
                );
                errs.push(loaded.diag(at, e));
                default
            })
        }
        (None, None) => default,
    }
}

fn target_systemd(
    loaded: &Loaded,
    opts: &PlanOptions,
    defaults: &AppSpec,
    errs: &mut Vec<Diagnostic>,
) -> SystemdVersion {
    match (&opts.systemd, &defaults.systemd) {
        (Some(v), _) => *v,
        (None, Some(n)) => SystemdVersion::parse(*n.get_ref()).unwrap_or_else(|e| {
            errs.push(loaded.diag(n.span(), e));
            SystemdVersion::DEFAULT
        }),
        (None, None) => SystemdVersion::DEFAULT,
    }
}

/// Every valid app name, by the key it was written as.
fn app_names(loaded: &Loaded, errs: &mut Vec<Diagnostic>) -> BTreeMap<String, AppName> {
    let mut names = BTreeMap::new();
    for key in loaded.manifest.app.keys() {
        match AppName::parse(key.get_ref()) {
            Ok(n) => {
                names.insert(key.get_ref().clone(), n);
            }
            Err(e) => errs.push(loaded.diag(key.span(), e)),
        }
    }
    names
}

/// What no app can be refused for alone: shared folders, unit names,
/// ports.
fn cross_app_errors(loaded: &Loaded, apps: &[AppPlan], errs: &mut Vec<Diagnostic>) {
    shared_folder_errors(loaded, apps, errs);
    proxy_name_errors(loaded, apps, errs);
    listen_overlap_errors(loaded, apps, errs);
}

/// An app named `X-proxy` beside a server `X` that gets a forwarder: its
/// service would be the name of X's (`wasm-X-proxy.service`).
fn proxy_name_errors(loaded: &Loaded, apps: &[AppPlan], errs: &mut Vec<Diagnostic>) {
    for server in apps
        .iter()
        .filter(|a| a.kind.listener() == Some(Listener::Proxy))
    {
        let taken = server.name.proxy_unit();
        for other in apps.iter().filter(|a| a.name.service_unit() == taken) {
            errs.push(
                loaded
                    .diag(
                        app_key_span(loaded, &other.name),
                        format!(
                            "app `{}` would be named like the forwarder of server `{}` ({taken})",
                            other.name, server.name
                        ),
                    )
                    .with_help("rename one of the two apps"),
            );
        }
    }
}

/// Two servers whose sockets cannot both be bound: the same port on the
/// same address, or on a wildcard (`0.0.0.0`, `[::]`, which take every
/// address of their family, and `[::]` the IPv4 ones too). At boot one
/// socket would fail and its app never start.
fn listen_overlap_errors(loaded: &Loaded, apps: &[AppPlan], errs: &mut Vec<Diagnostic>) {
    let servers: Vec<(&AppPlan, std::net::SocketAddr)> = apps
        .iter()
        .filter_map(|a| match a.kind {
            AppKind::Serve { addr, .. } => Some((a, addr)),
            _ => None,
        })
        .collect();
    for (i, (a, x)) in servers.iter().enumerate() {
        for (b, y) in &servers[..i] {
            if x.port() == y.port() && addresses_overlap(x.ip(), y.ip()) {
                errs.push(
                    loaded
                        .diag(
                            app_key_span(loaded, &a.name),
                            format!(
                                "app `{}` listens on {x}, which app `{}` takes already ({y}): one \
                                 of them could never start",
                                a.name, b.name
                            ),
                        )
                        .with_help("give each server a port of its own"),
                );
            }
        }
    }
}

fn addresses_overlap(a: std::net::IpAddr, b: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    let v4 = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    };
    let (a, b) = (v4(a), v4(b));
    a == b
        || a.is_unspecified() && (a.is_ipv6() || b.is_ipv4())
        || b.is_unspecified() && (b.is_ipv6() || a.is_ipv4())
}

/// Where the manifest names an app (its table's key).
fn app_key_span(loaded: &Loaded, name: &AppName) -> std::ops::Range<usize> {
    loaded
        .manifest
        .app
        .keys()
        .find(|k| k.get_ref() == name.as_str())
        .map_or(0..0, toml::Spanned::span)
}

/// The unit names a manifest renders (the shared units first), from the
/// app names and kinds alone: no module is read.
pub fn unit_names(loaded: &Loaded) -> Result<Vec<String>, Diagnostics> {
    let m = &loaded.manifest;
    let defaults = m.defaults.clone().unwrap_or_default();
    let mut names = vec![
        crate::unit::names::GROUP_TARGET.to_owned(),
        crate::unit::names::FOLLOW_UNIT.to_owned(),
    ];
    let mut errs = Vec::new();
    // The manifest's own target (or an app's pin): rendered with another
    // `--wasmtime`, a server may have a forwarder `status` and `remove`
    // with the manifest do not name (`remove --all` finds it).
    let takes_socket = defaults
        .wasmtime
        .as_ref()
        .and_then(|w| TargetRange::parse(w.get_ref()).ok())
        .is_some_and(crate::releases::serve::takes_socket);
    for (key, spec) in &m.app {
        match AppName::parse(key.get_ref()) {
            Ok(n) => {
                names.push(n.service_unit());
                let spec = spec.get_ref();
                if app::pick(&spec.schedule, &defaults.schedule).is_some() {
                    names.push(n.timer_unit());
                }
                let network = app::pick(&spec.network, &defaults.network);
                let own_port = network.is_some_and(|n| *n.get_ref() != Network::None);
                if app::pick(&spec.listen, &defaults.listen).is_some() && !own_port {
                    names.push(n.socket_unit());
                    let pinned = app::pick(&spec.pin, &defaults.pin)
                        .and_then(|p| WasmtimeVersion::parse(p.get_ref().wasmtime.get_ref()).ok());
                    let takes = pinned.map_or(takes_socket, |v| {
                        crate::releases::serve::takes_socket(TargetRange::exactly(v))
                    });
                    if !takes {
                        names.push(n.proxy_unit());
                    }
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
