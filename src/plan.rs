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
pub mod module;
pub mod out_folder;
pub(crate) mod runtime;
mod runtime_image;
pub(crate) mod shipped;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::Range;

use crate::diag::{Diagnostic, Diagnostics};
use crate::manifest::app_name::AppName;
use crate::manifest::schema::{AppSpec, Identity, Network, Restart};
use crate::manifest::Loaded;
use crate::releases::systemd_release::SystemdVersion;
use crate::releases::{TargetRange, WasmtimeVersion};
use crate::unit::escape::{FreeText, HostPath, Key, RawValue};
pub use module::{ModuleOrigin, ModulePlan};

/// Everything the renderers need, with no I/O left to do.
#[derive(Debug, Clone)]
pub struct Plan {
    /// File name of the manifest, for headers in generated files.
    pub manifest_name: String,
    /// Every CLI version the node may run; the units' flags hold across it.
    pub wasmtime_range: TargetRange,
    /// The systemd release the nodes run: which sandbox the units get.
    pub systemd: SystemdVersion,
    pub apps: Vec<AppPlan>,
    /// The targets the command line chose over the manifest: a refusal
    /// they cause names the flag.
    pub set_by_flag: SetByFlag,
}

/// Which targets a flag set (`--wasmtime`, `--systemd`), not the manifest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetByFlag {
    pub wasmtime: bool,
    pub systemd: bool,
}

/// ` (set by --wasmtime 50.0.1)`, to follow a target a flag chose in a
/// message; empty when the manifest (or the default) chose it.
pub fn set_by(flag: &str, by_flag: bool, value: &dyn std::fmt::Display) -> String {
    if !by_flag {
        return String::new();
    }
    let value = value.to_string();
    if value.contains([' ', '<', '>', ',']) {
        format!(" (set by {flag} '{value}')")
    } else {
        format!(" (set by {flag} {value})")
    }
}

/// The nodes' systemd as an app's settings are judged against; shown with
/// the flag that chose it (`252 (set by --systemd 252)`), so a refusal it
/// causes says where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NodeSystemd {
    pub(crate) version: SystemdVersion,
    pub(crate) by_flag: bool,
}

impl std::ops::Deref for NodeSystemd {
    type Target = SystemdVersion;
    fn deref(&self) -> &SystemdVersion {
        &self.version
    }
}

impl std::fmt::Display for NodeSystemd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let note = set_by("--systemd", self.by_flag, &self.version);
        write!(f, "{}{note}", self.version)
    }
}

impl Plan {
    /// ` (set by --wasmtime …)` when the command line chose the wasmtime
    /// target, for the refusals it causes; else empty.
    pub fn wasmtime_set_by(&self) -> String {
        set_by(
            "--wasmtime",
            self.set_by_flag.wasmtime,
            &self.wasmtime_range,
        )
    }

    /// The wasmtime CLI the units are spelled for: the range's low end.
    pub fn wasmtime(&self) -> WasmtimeVersion {
        self.wasmtime_range.low
    }

    /// The releases `app` runs under: its pinned one, else the node's.
    pub fn range_of(&self, app: &AppPlan) -> TargetRange {
        app.pin
            .as_ref()
            .map_or(self.wasmtime_range, |p| TargetRange::exactly(p.version))
    }

    /// The versions each app is checked at: the node's range ends for the
    /// apps that run the node's wasmtime, each pinned release for its apps.
    pub fn check_targets(&self) -> Vec<(WasmtimeVersion, Vec<usize>)> {
        let mut by_version: BTreeMap<WasmtimeVersion, Vec<usize>> = BTreeMap::new();
        let host: Vec<usize> = (0..self.apps.len())
            .filter(|&i| self.apps[i].pin.is_none())
            .collect();
        if !host.is_empty() {
            for v in [self.wasmtime_range.low, self.wasmtime_range.top()] {
                by_version.entry(v).or_default().extend(&host);
            }
        }
        for (i, a) in self.apps.iter().enumerate() {
            if let Some(p) = &a.pin {
                by_version.entry(p.version).or_default().push(i);
            }
        }
        by_version
            .into_iter()
            .map(|(v, mut idx)| {
                idx.sort_unstable();
                idx.dedup();
                (v, idx)
            })
            .collect()
    }

    /// Every pinned image, once, in app order.
    pub fn pinned_runtimes(&self) -> Vec<&runtime::PinnedRuntime> {
        let mut seen = std::collections::BTreeSet::new();
        self.apps
            .iter()
            .filter_map(|a| a.pin.as_deref())
            .filter(|p| seen.insert(p.node_path.as_str()))
            .collect()
    }

    /// Every file shipped with any app, in app and grant order.
    pub fn shipped_files(&self) -> impl Iterator<Item = &shipped::ShippedFile> {
        self.apps
            .iter()
            .flat_map(|a| a.files.iter().flat_map(|g| &g.files))
    }

    /// The read-only host folders the fragment (and `apply`) create, once
    /// each, in path order.
    pub fn created_folders(&self) -> std::collections::BTreeSet<&str> {
        self.apps
            .iter()
            .flat_map(|a| &a.dirs)
            .filter(|d| d.provision == folder::Provision::Created)
            .map(|d| d.host.as_str())
            .collect()
    }
}

impl AppPlan {
    /// The static user and group of an app with `identity = "static"`.
    pub fn static_user(&self) -> Option<String> {
        (self.identity == Identity::Static).then(|| format!("wasm-{}", self.name))
    }

    /// Its systemd-sysusers file on the node.
    pub fn sysusers_node_path(&self) -> String {
        crate::node::paths::SYSUSERS_DIR
            .join(&crate::node::paths::identity_file_name(self.name.as_str()))
    }

    /// Its systemd-tmpfiles file on the node (the folders its user owns).
    pub fn tmpfiles_node_path(&self) -> String {
        crate::node::paths::TMPFILES_DIR
            .join(&crate::node::paths::identity_file_name(self.name.as_str()))
    }

    /// The read-write folders handed to its static user.
    pub fn owned_folders(&self) -> impl Iterator<Item = &HostPath> {
        self.dirs
            .iter()
            .filter(|d| d.provision == folder::Provision::Owned)
            .map(|d| &d.host)
    }

    /// The node files its identity needs: (path, text).
    pub fn identity_files(&self) -> Vec<(String, String)> {
        use std::fmt::Write as _;
        let Some(user) = self.static_user() else {
            return Vec::new();
        };
        let mut out = vec![(
            self.sysusers_node_path(),
            format!(
                "# Shipped by wasmunit: the static identity of app {}.\nu {user} - \"wasmunit app {}\" - -\n",
                self.name, self.name
            ),
        )];
        let mut folders = String::new();
        for h in self.owned_folders() {
            let _ = writeln!(folders, "d {} 0750 {user} {user} -", h.as_str());
        }
        if !folders.is_empty() {
            out.push((
                self.tmpfiles_node_path(),
                format!(
                    "# Shipped by wasmunit: the folders app {} writes, its user's.\n{folders}",
                    self.name
                ),
            ));
        }
        out
    }
}

#[derive(Debug, Clone)]
pub struct AppPlan {
    pub name: AppName,
    pub description: Option<FreeText>,
    /// Shared by every app that names the same module.
    pub module: std::sync::Arc<ModulePlan>,
    /// `file:line:col` of the app's `module` value (its own or the
    /// default's), for errors about the module found later.
    pub module_at: String,
    /// The wasmtime of its own the app runs (`pin`), if any; else the
    /// node's merged `/usr/bin/wasmtime`.
    pub pin: Option<std::sync::Arc<runtime::PinnedRuntime>>,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub dirs: Vec<Dir>,
    /// Files shipped with the app, each grant preopened read-only (before
    /// `dirs`, in manifest order).
    pub files: Vec<ShippedGrant>,
    /// Secrets systemd loads for the unit, preopened read-only after
    /// `dirs` at [`credential::GUEST_DIR`].
    pub credentials: Vec<credential::Credential>,
    /// Who the service runs as: a dynamic user, or `wasm-NAME`.
    pub identity: Identity,
    pub network: Network,
    /// Where an outbound app may connect; empty: anywhere.
    pub egress: Vec<egress::IpPrefix>,
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
    /// How the folder exists when the unit starts.
    pub provision: folder::Provision,
    /// Of the `host` value in the manifest.
    pub span: Range<usize>,
}

/// Files shipped to one node folder, preopened read-only at `guest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShippedGrant {
    pub host: HostPath,
    pub guest: String,
    pub files: Vec<shipped::ShippedFile>,
    /// Each `source` shipped here, as written (relative to the manifest's
    /// folder), with where (`file:line:col`).
    pub sources: Vec<(String, String)>,
}

/// Pass-through `Key=value` lines, per section, in manifest order of keys.
#[derive(Debug, Clone, Default)]
pub struct RawSections {
    pub unit: Vec<(Key, RawValue)>,
    pub service: Vec<(Key, RawValue)>,
    pub install: Vec<(Key, RawValue)>,
}

/// An `after` edge: (from, to, span of the entry).
pub type Edge = (AppName, AppName, Range<usize>);

/// Options of the render run that affect the plan.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Overrides the manifest's `wasmtime` version (or range).
    pub wasmtime: Option<TargetRange>,
    /// Overrides the manifest's `systemd` release.
    pub systemd: Option<SystemdVersion>,
    pub operator: OperatorGrants,
}

/// What the person running wasmunit (trusted, per docs/threat-model.md)
/// allows beyond the node map's defaults. Only the command line sets it:
/// no manifest key can.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OperatorGrants {
    /// `--data-root`: more folders below which a static identity may own one.
    pub data_roots: crate::node::grants::DataRoots,
    /// `--allow-key`: raw unit keys allowed although they could widen an app.
    pub allowed_keys: Vec<String>,
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
    let mut modules = module::Resolver::new(loaded.dir(), budget.clone());
    let mut shipped_memo = shipped::Memo::new(budget.clone());
    let mut runtimes = runtime::Memo::new(budget);
    let mut apps = Vec::new();
    let mut after_edges = Vec::new();
    for (key, spec) in &m.app {
        let Some(name) = names.get(key.get_ref()) else {
            continue;
        };
        let ctx = app::AppCtx {
            loaded,
            systemd: NodeSystemd {
                version: systemd,
                by_flag: opts.systemd.is_some(),
            },
            operator: &opts.operator,
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

    shared_folder_errors(loaded, &apps, &mut errs);

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
    for (key, spec) in &m.app {
        match AppName::parse(key.get_ref()) {
            Ok(n) => {
                names.push(n.service_unit());
                if app::pick(&spec.get_ref().schedule, &defaults.schedule).is_some() {
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
