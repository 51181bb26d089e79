//! The [`Plan`] itself: what every later stage reads, never changed once
//! [`resolve`](super::resolve) built it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::Range;

use super::{credential, egress, folder, runtime, shipped, ModulePlan};
use crate::manifest::app_name::AppName;
use crate::manifest::schema::{Identity, Network, Restart};
use crate::releases::systemd_release::SystemdVersion;
use crate::releases::{TargetRange, WasmtimeVersion};
use crate::unit::escape::{FreeText, HostPath, Key, RawValue};

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
    /// Where wasmunit's own files go on the node.
    pub layout: crate::node::paths::Layout,
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

impl NodeSystemd {
    /// The release, and whether `--systemd` chose it (the manifest's else).
    pub(crate) fn new(version: SystemdVersion, by_flag: bool) -> Self {
        NodeSystemd { version, by_flag }
    }
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
        self.layout
            .sysusers
            .join(&crate::node::paths::identity_file_name(self.name.as_str()))
    }

    /// Its systemd-tmpfiles file on the node (the folders its user owns).
    pub fn tmpfiles_node_path(&self) -> String {
        self.layout
            .tmpfiles
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
    /// Where its module, shipped files and identity files go.
    pub layout: crate::node::paths::Layout,
}

/// How the app is started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppKind {
    /// A long-running `wasmtime run` service.
    Service,
    /// A oneshot `wasmtime run` started by a timer (`OnCalendar=`).
    Scheduled { on_calendar: FreeText },
    /// A `wasmtime serve` HTTP server (wasi:http proxy component).
    Serve {
        addr: SocketAddr,
        /// Seconds without a connection after which it stops (`idle`).
        idle: Option<u32>,
        /// How it gets its port.
        via: Listener,
    },
}

/// How a server gets its port (docs/units.md, "HTTP apps"), decided once
/// from its network grant and the wasmtime it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// It binds its address itself, in the host's network (a network grant).
    OwnPort,
    /// Its socket unit's connections reach it through systemd-socket-proxyd
    /// (wasmtime 31–49 bind their own port).
    Proxy,
    /// wasmtime takes its socket unit's socket (50 and later).
    Handover,
}

impl AppKind {
    /// How a server gets its port; `None` for other apps.
    pub fn listener(&self) -> Option<Listener> {
        match self {
            AppKind::Serve { via, .. } => Some(*via),
            _ => None,
        }
    }

    /// Whether its service is started by another unit, not at boot: a
    /// scheduled app's by its timer, an idle server's by its socket.
    pub fn service_started_by_another(&self) -> bool {
        matches!(
            self,
            AppKind::Scheduled { .. } | AppKind::Serve { idle: Some(_), .. }
        )
    }

    /// Whether a socket unit holds its port.
    pub fn has_socket(&self) -> bool {
        matches!(self.listener(), Some(Listener::Proxy | Listener::Handover))
    }
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

/// What the person running wasmunit (trusted, per docs/threat-model.md)
/// allows beyond the node map's defaults. Only the command line sets it:
/// no manifest key can.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OperatorGrants {
    /// `--data-root`: more folders below which a static identity may own one.
    pub data_roots: crate::node::grants::DataRoots,
    /// `--allow-key`: raw unit keys allowed although they could widen an app.
    pub allowed_keys: Vec<String>,
    /// `--allow-port`: ports below 1024 a server's socket may hold (the
    /// node's own services, sshd and the resolver among them, live there).
    pub allowed_ports: Vec<u16>,
}
