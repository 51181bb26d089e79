//! The command line as clap reads it: the commands, their arguments, and
//! the groups several share (the target releases, the node, what the
//! person running wasmunit allows). Each command's arguments build the
//! whole [`pipeline::Request`] it runs.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::error::Error;
use crate::invalid::Invalid;
use crate::releases::systemd_release::{SystemdVersion, OLDEST_RELEASE};
use crate::releases::{TargetRange, WasmtimeVersion};
use crate::render::butane::ButaneVersion;
use crate::render::sysext::{Arch, SysextOptions};
use crate::{pipeline, render};

#[derive(Debug, Parser)]
#[command(
    name = "wasmunit",
    version = super::about::version(),
    about = "WebAssembly workloads as hardened systemd units for Flatcar",
    after_help = crate::error::exit_codes_help()
)]
pub struct Cli {
    /// When to colour diagnostics: on a terminal (`auto`, unless NO_COLOR
    /// is set), `always` or `never`.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "auto",
        value_name = "WHEN"
    )]
    pub color: crate::style::ColorChoice,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render systemd units and a Butane fragment from a manifest.
    Render(RenderArgs),
    /// Install the units and modules on this host and start them through
    /// systemd's D-Bus API.
    Apply(ApplyArgs),
    /// Show what `apply` would change (units, modules, starts), changing
    /// nothing; exit status 3 when something would change.
    Diff(ApplyArgs),
    /// Show the state of every unit of a manifest (or every unit wasmunit
    /// installed), as systemd reports it, and where the files drifted.
    Status(StatusArgs),
    /// Stop, disable and delete the units of a manifest (or `--all` units
    /// wasmunit installed); never anything else.
    Remove(RemoveArgs),
    /// Check modules (or every module of a manifest) against the target
    /// wasmtime CLI: loadable, runnable, imports satisfiable, grants fit.
    Check(CheckArgs),
    /// Publish the manifest's apps as one versioned sysext image (a bundle)
    /// into the folder a fleet pulls from, with its SHA256SUMS.
    #[command(disable_version_flag = true)]
    Bundle(BundleArgs),
    /// The Butane fragment of a fleet node: it pulls the bundles published
    /// at a URL with systemd-sysupdate and runs each (docs/fleet.md).
    Fleet(FleetArgs),
    /// Print a shell completion script (bash, zsh or fish) to stdout.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write man pages (wasmunit.1 and one per subcommand) into a folder.
    Man {
        /// The folder, e.g. ~/.local/share/man/man1.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Print the JSON Schema of the manifest format, for editors.
    Schema,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
}

/// The releases the units are rendered for (override the manifest's).
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct TargetArgs {
    /// The wasmtime CLI the units (and checks) are for: a version, or a
    /// range such as ">=31.0.0, <48" judged at both ends (overrides the
    /// manifest's; default 31.0.0).
    #[arg(long, value_name = "VERSION|RANGE", value_parser = parse_range)]
    pub wasmtime: Option<TargetRange>,
    /// The systemd release the nodes run (252 to 260; 257 is Flatcar
    /// stable's): its sandbox settings (overrides the manifest's).
    #[arg(long, value_name = "RELEASE", value_parser = parse_systemd)]
    pub systemd: Option<SystemdVersion>,
}

/// The node a host command acts on.
#[derive(Debug, Clone, clap::Args)]
pub struct HostArgs {
    /// Act below this root instead of / (unit files, modules and every
    /// other node path of docs/threat-model.md below ROOT). The service
    /// manager is still the one on the system bus ($DBUS_SYSTEM_BUS_ADDRESS
    /// honoured), whatever the root.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// A user's service manager: not supported (the units are system
    /// units); refused with the reason before anything is touched.
    #[arg(long)]
    pub user: bool,
}

/// What the person running wasmunit allows beyond the node map's
/// defaults (docs/threat-model.md); a manifest can say neither.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct OperatorArgs {
    /// Also let apps with a static identity own folders below DIR
    /// (besides /srv, /mnt, /var/mnt). Repeatable.
    #[arg(long = "data-root", value_name = "DIR")]
    pub data_roots: Vec<String>,
    /// Let the manifest's raw [app.X.unit]/[service]/[install] tables set
    /// KEY although it could widen what an app reaches (User, ReadWritePaths,
    /// ExecStartPre, ...). Repeatable.
    #[arg(long = "allow-key", value_name = "KEY")]
    pub allowed_keys: Vec<String>,
    /// Let a server (`listen`) hold PORT although it is below 1024, where
    /// the node's own services listen (sshd on 22, the resolver on 53).
    /// Repeatable.
    #[arg(long = "allow-port", value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..1024))]
    pub allowed_ports: Vec<u16>,
}

impl OperatorArgs {
    pub fn grants(&self) -> Result<crate::plan::OperatorGrants, Error> {
        let data_roots = crate::node::grants::DataRoots::with_extra(&self.data_roots)
            .map_err(|e| Error::Usage(e.reason().to_owned()))?;
        for k in &self.allowed_keys {
            if crate::node::raw_keys::known(k).is_none() {
                return Err(Error::Usage(format!(
                    "--allow-key {}: no systemd release wasmunit knows has a [Unit], [Service] \
                     or [Install] key of that name",
                    k.escape_debug()
                )));
            }
        }
        Ok(crate::plan::OperatorGrants {
            data_roots,
            allowed_keys: self.allowed_keys.clone(),
            allowed_ports: self.allowed_ports.clone(),
        })
    }
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Module files (.wasm), or manifests (.toml) whose modules to check.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    #[command(flatten)]
    pub target: TargetArgs,
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
    /// Also compile for this host with Cranelift (cached by content hash).
    #[arg(long)]
    pub compile: bool,
    /// Ignore and do not write the verdict cache.
    #[arg(long)]
    pub no_cache: bool,
    #[command(flatten)]
    pub operator: OperatorArgs,
}

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// The manifest (TOML, format version 1).
    pub manifest: PathBuf,
    #[command(flatten)]
    pub host: HostArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Install, reload and enable, but start nothing.
    #[arg(long)]
    pub no_start: bool,
    /// Seconds to wait for started units to settle.
    #[arg(long, value_name = "SECONDS", default_value = "30")]
    pub wait: u64,
    #[command(flatten)]
    pub operator: OperatorArgs,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The manifest (TOML, format version 1); without it, every unit
    /// wasmunit installed.
    pub manifest: Option<PathBuf>,
    #[command(flatten)]
    pub host: HostArgs,
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub struct RemoveArgs {
    /// The manifest whose units to remove.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub manifest: Option<PathBuf>,
    /// Remove every unit wasmunit installed.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub host: HostArgs,
}

#[derive(Debug, clap::Args)]
pub struct BundleArgs {
    /// The manifest (TOML, format version 1).
    pub manifest: PathBuf,
    /// The bundle's version: digits first, then letters, digits and
    /// `.+-`; nodes move to the highest (`systemd-analyze
    /// compare-versions` order). A published version never changes.
    #[arg(long, value_name = "VERSION", value_parser = parse_bundle_version)]
    pub version: crate::render::bundle::BundleVersion,
    /// The folder the fleet downloads from (created if missing); older
    /// versions published there stay, listed in SHA256SUMS.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Sign SHA256SUMS with this gpg key (SHA256SUMS.gpg), for nodes
    /// whose fragment has --public-key.
    #[arg(long, value_name = "KEYID")]
    pub sign_key: Option<String>,
    /// Architecture of the nodes.
    #[arg(long, value_enum, default_value = "x86-64")]
    pub arch: Arch,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub operator: OperatorArgs,
}

impl BundleArgs {
    /// The pipeline's request: the units as `render` makes them, with
    /// wasmunit's own files below /usr, where the image is merged.
    pub fn request(&self) -> Result<pipeline::Request, Error> {
        if let Some(k) = &self.sign_key {
            if k.is_empty() || k.starts_with('-') || k.chars().any(char::is_control) {
                return Err(Error::Usage(format!(
                    "--sign-key {}: name a key gpg knows (its id, fingerprint or e-mail)",
                    k.escape_debug()
                )));
            }
        }
        Ok(pipeline::Request {
            manifest: self.manifest.clone(),
            wasmtime: self.target.wasmtime,
            systemd: self.target.systemd,
            no_check: false,
            operator: self.operator.grants()?,
            layout: crate::node::paths::IMAGE_LAYOUT,
            render: render::RenderOptions::default(),
        })
    }
}

#[derive(Debug, clap::Args)]
pub struct FleetArgs {
    /// The folder the bundles are published at (`https://…/`; `http://`
    /// only with --public-key).
    #[arg(long, value_name = "URL")]
    pub url: String,
    /// The key the nodes check each SHA256SUMS.gpg with (`gpg --export
    /// KEY > key.gpg`): an image not signed by it is refused.
    #[arg(long, value_name = "FILE")]
    pub public_key: Option<PathBuf>,
    /// How often a node looks for a new bundle (a systemd time span).
    #[arg(long, value_name = "SPAN", default_value = "15min")]
    pub every: String,
    /// How long each app a new bundle starts must stay up, in seconds
    /// (1 to 300; it must cover a module's first compile), before the node
    /// keeps the bundle (else it returns to the last one that held).
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=300))]
    pub survive: u32,
    /// Butane spec version of the fragment (Flatcar variant).
    #[arg(long, value_enum, default_value = "1.0.0", value_name = "VERSION")]
    pub butane_version: ButaneVersion,
    /// Write butane.yaml, the units and the reconciler's script into this
    /// folder instead of printing the fragment.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

fn parse_bundle_version(s: &str) -> Result<crate::render::bundle::BundleVersion, String> {
    crate::render::bundle::BundleVersion::parse(s)
}

#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// The manifest (TOML, format version 1).
    pub manifest: PathBuf,
    /// Write the units and butane.yaml into this folder instead of printing
    /// the Butane fragment.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Print (or, with --out, also write as DIR/wasmunit.ign) the Ignition
    /// config the fragment becomes, for machines provisioned without Butane.
    #[arg(long)]
    pub ignition: bool,
    /// Butane spec version of the fragment (Flatcar variant).
    #[arg(long, value_enum, default_value = "1.0.0", value_name = "VERSION")]
    pub butane_version: ButaneVersion,
    /// Also provision the wasmtime sysext of this version from the sysext-bakery.
    #[arg(long, value_name = "VERSION", value_parser = parse_version)]
    pub sysext: Option<WasmtimeVersion>,
    /// Architecture of the sysext image.
    #[arg(long, value_enum, default_value = "x86-64", requires = "sysext")]
    pub arch: Arch,
    /// Let systemd-sysupdate move nodes to newer wasmtime releases; running
    /// workloads are restarted onto each new binary. Units fit the releases
    /// of `wasmtime` only (a range there says which): see docs/updates.md.
    #[arg(long, requires = "sysext")]
    pub sysext_updates: bool,
    /// Skip `check` of the local modules (by default render refuses a module
    /// the target wasmtime would not run, and adds the flags it needs).
    #[arg(long)]
    pub no_check: bool,
    #[command(flatten)]
    pub operator: OperatorArgs,
}

impl RenderArgs {
    /// The pipeline's request: every option of the command.
    pub fn request(&self) -> Result<pipeline::Request, Error> {
        Ok(pipeline::Request {
            manifest: self.manifest.clone(),
            wasmtime: self.target.wasmtime,
            systemd: self.target.systemd,
            no_check: self.no_check,
            operator: self.operator.grants()?,
            layout: crate::node::paths::NODE_LAYOUT,
            render: render::RenderOptions {
                butane: self.butane_version,
                sysext: self.sysext.map(|version| SysextOptions {
                    version,
                    arch: self.arch,
                    updates: self.sysext_updates,
                }),
            },
        })
    }
}

impl ApplyArgs {
    /// The pipeline's request: what `render` would build for this
    /// manifest and these targets (the fragment's own options do not
    /// reach a host).
    pub fn request(&self) -> Result<pipeline::Request, Error> {
        Ok(pipeline::Request {
            manifest: self.manifest.clone(),
            wasmtime: self.target.wasmtime,
            systemd: self.target.systemd,
            no_check: false,
            operator: self.operator.grants()?,
            layout: crate::node::paths::NODE_LAYOUT,
            render: render::RenderOptions::default(),
        })
    }
}

impl CheckArgs {
    /// The plan options of a manifest named to `check`.
    pub fn plan_options(&self) -> Result<crate::plan::PlanOptions, Error> {
        Ok(crate::plan::PlanOptions {
            wasmtime: self.target.wasmtime,
            systemd: self.target.systemd,
            operator: self.operator.grants()?,
            layout: crate::node::paths::NODE_LAYOUT,
        })
    }
}

fn parse_systemd(s: &str) -> Result<SystemdVersion, Invalid> {
    let n: i64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a systemd release number, such as {OLDEST_RELEASE}"))?;
    SystemdVersion::parse(n)
}

fn parse_version(s: &str) -> Result<WasmtimeVersion, Invalid> {
    WasmtimeVersion::parse(s)
}

fn parse_range(s: &str) -> Result<TargetRange, Invalid> {
    TargetRange::parse(s)
}
