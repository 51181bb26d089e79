//! Command-line interface (clap derive): parse arguments, call the
//! [`pipeline`] and the writers, print.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::error::{Error, Exit};
use crate::invalid::Invalid;
use crate::releases::{TargetRange, WasmtimeVersion};
use crate::render::butane::ButaneVersion;
use crate::render::sysext::{Arch, SysextOptions};
use crate::{check, deploy, pipeline, render, write};

#[derive(Debug, Parser)]
#[command(
    name = "wasmunit",
    version = crate::version(),
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

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Module files (.wasm), or manifests (.toml) whose modules to check.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Target wasmtime CLI version, or a range such as ">=31.0.0, <48"
    /// (judged at both ends); default: the manifest's, else 31.0.0.
    #[arg(long, value_name = "VERSION|RANGE", value_parser = parse_range)]
    pub wasmtime: Option<TargetRange>,
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
        })
    }
}

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// The manifest (TOML, format version 1).
    pub manifest: PathBuf,
    /// Install below this root instead of / (unit files, modules and every
    /// other node path of docs/threat-model.md below ROOT).
    /// The service manager is still the one on the system bus
    /// ($DBUS_SYSTEM_BUS_ADDRESS honoured), whatever the root.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// A user's service manager: not supported (the units are system
    /// units); refused with the reason before anything is touched.
    #[arg(long)]
    pub user: bool,
    /// Render for this wasmtime CLI version, or a range such as
    /// ">=31.0.0, <48" (overrides the manifest).
    #[arg(long, value_name = "VERSION|RANGE", value_parser = parse_range)]
    pub wasmtime: Option<TargetRange>,
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
    /// Where the units were installed (see `apply --root`).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// Not supported (see `apply --user`).
    #[arg(long)]
    pub user: bool,
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
    /// Where the units were installed (see `apply --root`).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// Not supported (see `apply --user`).
    #[arg(long)]
    pub user: bool,
}

#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// The manifest (TOML, format version 1).
    pub manifest: PathBuf,
    /// Write the units and butane.yaml into this folder instead of printing
    /// the Butane fragment.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Render for this wasmtime CLI version, or a range such as
    /// ">=31.0.0, <48" (overrides the manifest).
    #[arg(long, value_name = "VERSION|RANGE", value_parser = parse_range)]
    pub wasmtime: Option<TargetRange>,
    /// Render for nodes running this systemd release (252 to 260; 257 is
    /// Flatcar stable's): its sandbox settings (overrides the manifest).
    #[arg(long, value_name = "RELEASE", value_parser = parse_systemd)]
    pub systemd: Option<crate::releases::systemd_release::SystemdVersion>,
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

/// Text on stdout: a closed pipe (`| head`) is an error that says so,
/// never a panic.
fn to_stdout(text: &str) -> Result<(), Error> {
    Ok(write::stdout::text(text)?)
}

fn parse_systemd(s: &str) -> Result<crate::releases::systemd_release::SystemdVersion, Invalid> {
    let n: i64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a systemd release number, such as 257"))?;
    crate::releases::systemd_release::SystemdVersion::parse(n)
}

fn parse_version(s: &str) -> Result<WasmtimeVersion, Invalid> {
    WasmtimeVersion::parse(s)
}

fn parse_range(s: &str) -> Result<TargetRange, Invalid> {
    TargetRange::parse(s)
}

/// Runs one command; its exit status on success (a report may still say
/// "something failed"), or the one error type that maps to one.
pub fn run(cli: Cli) -> Result<Exit, Error> {
    crate::style::init(cli.color);
    match cli.command {
        Command::Render(args) => render_cmd(&args),
        Command::Apply(args) => apply_cmd(&args),
        Command::Status(args) => status_cmd(&args),
        Command::Diff(args) => diff_cmd(&args),
        Command::Remove(args) => remove_cmd(&args),
        Command::Check(args) => check_cmd(&args),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "wasmunit", &mut script);
            to_stdout(&String::from_utf8_lossy(&script))?;
            Ok(Exit::Success)
        }
        Command::Man { out } => man_cmd(&out),
        Command::Schema => {
            to_stdout(&crate::manifest::json_schema::schema_text())?;
            Ok(Exit::Success)
        }
    }
}

/// Every page rendered first, then written together (never over a file
/// wasmunit did not write).
fn man_cmd(out: &std::path::Path) -> Result<Exit, Error> {
    let top = <Cli as clap::CommandFactory>::command().version(crate::version());
    let mut files = Vec::new();
    let mut page = |name: String, cmd: clap::Command| -> Result<(), Error> {
        let mut bytes = Vec::new();
        clap_mangen::Man::new(cmd)
            .date(crate::RELEASE_DATE)
            .render(&mut bytes)
            .map_err(write::FileError::at(
                write::Op::Write,
                out.join(format!("{name}.1")),
            ))?;
        files.push(write::OutFile {
            name: format!("{name}.1"),
            bytes,
        });
        Ok(())
    };
    for sub in top.get_subcommands() {
        let name = format!("wasmunit-{}", sub.get_name());
        page(
            name.clone(),
            sub.clone().name(name).version(crate::version()),
        )?;
    }
    page("wasmunit".to_owned(), top.clone())?;
    let r = write::write_dir(out, &files)?;
    crate::say!("wasmunit: {}: {}", out.display(), r.summary());
    Ok(Exit::Success)
}

fn check_cmd(args: &CheckArgs) -> Result<Exit, Error> {
    let opts = check::CheckOptions {
        target: args.wasmtime.map_or(WasmtimeVersion::DEFAULT, |r| r.low),
        compile: args.compile,
        use_cache: !args.no_cache,
    };
    let mut reports = Vec::new();
    // Never in JSON output's company, whatever stderr is.
    let progress = match args.format {
        Format::Json => crate::progress::Progress::hidden(),
        Format::Human => crate::progress::Progress::new(args.inputs.len()),
    };
    for input in &args.inputs {
        if crate::input::has_extension(input, "toml") {
            let plan = pipeline::resolve(
                input,
                &crate::plan::PlanOptions {
                    wasmtime: args.wasmtime,
                    systemd: None,
                    operator: args.operator.grants()?,
                },
            )?;
            // Counted per app, in place of the manifest itself.
            progress.grow(plan.apps.len().saturating_sub(1));
            // Each app at the releases it runs under: its pin, else both
            // ends of the node's range.
            for (target, which) in plan.check_targets() {
                let o = check::CheckOptions { target, ..opts };
                reports.extend(check::check_apps(&plan, &which, &o, &progress));
            }
            continue;
        }
        let size = std::fs::metadata(input).map_or(0, |m| m.len());
        #[allow(clippy::cast_precision_loss)] // a size shown to one decimal
        let mb = size as f64 / 1e6;
        progress.step(format!("checking {} ({mb:.1} MB)", input.display()));
        let range = args
            .wasmtime
            .unwrap_or(TargetRange::exactly(WasmtimeVersion::DEFAULT));
        match check::check_file(input, &range.ends(), &opts) {
            Ok(r) => reports.extend(r),
            // Unreadable: exit 1, the file and the reason named.
            Err(e) => return Err(e.into()),
        }
        progress.done();
    }
    drop(progress);
    match args.format {
        Format::Json => to_stdout(&check::report::json(&reports))?,
        Format::Human => {
            to_stdout(&check::report::human(&reports, crate::style::stdout()))?;
        }
    }
    Ok(if reports.iter().any(check::Report::blocks) {
        Exit::Refused
    } else {
        Exit::Success
    })
}

/// The whole pipeline for one request; the check's warnings on stderr.
fn rendered(request: &pipeline::Request) -> Result<render::Rendered, Error> {
    let rendered = pipeline::run(request)?;
    let warning = crate::style::paint(
        crate::style::stderr(),
        crate::style::sgr::WARNING,
        "warning",
    );
    for w in rendered.warnings() {
        crate::say!("{warning}: {w}");
    }
    Ok(rendered)
}

/// The system manager. `--user` is refused before anything is read or
/// written: the units are system units (`DynamicUser=`, modules and unit
/// files in the system's folders), which a user manager neither finds nor
/// may run.
fn connect(user: bool) -> Result<deploy::systemd::DbusSystemd, Error> {
    if user {
        return Err(Error::Usage(format!(
            "--user is not supported: wasmunit renders system units (DynamicUser=, \
             modules under {}, unit files in {}) that a user's service manager neither \
             loads nor may run; use the system manager (run as root, or with \
             DBUS_SYSTEM_BUS_ADDRESS)",
            crate::node::paths::STATE_DIR.path,
            crate::node::paths::UNIT_DIR.path
        )));
    }
    Ok(deploy::systemd::DbusSystemd::connect(None)?)
}

/// The manifest's plan, its units, and what applying them would change;
/// with `lock`, decided while holding the lock on the unit folder (taken
/// once the manifest is known to be valid), so that two runs at once
/// never both decide from the same state.
fn planned_changes(
    args: &ApplyArgs,
    sd: &dyn deploy::systemd::Systemd,
    lock: bool,
) -> Result<(deploy::changes::Changes, Option<write::DirLock>), Error> {
    let out = rendered(&pipeline::Request {
        operator: args.operator.grants()?,
        ..pipeline::Request::new(&args.manifest, args.wasmtime)
    })?;
    let held = if lock {
        let unit_dir = args.root.join(deploy::UNIT_DIR);
        if !unit_dir.is_dir() {
            // Creating the folder to lock is a write: everything that
            // could refuse is asked first (and again under the lock).
            let unlocked = deploy::changes::plan(sd, &out, &args.root)?;
            deploy::preflight(&unlocked, &apply_options(args))?;
            write::create_dir_all(&unit_dir)?;
        }
        Some(write::lock_dir(&unit_dir)?)
    } else {
        None
    };
    let changes = deploy::changes::plan(sd, &out, &args.root)?;
    Ok((changes, held))
}

fn diff_cmd(args: &ApplyArgs) -> Result<Exit, Error> {
    let sd = connect(args.user)?;
    let (changes, _) = planned_changes(args, &sd, false)?;
    to_stdout(&changes.describe())?;
    Ok(if changes.is_empty() {
        Exit::Success
    } else {
        Exit::Changes
    })
}

fn apply_options(args: &ApplyArgs) -> deploy::ApplyOptions {
    deploy::ApplyOptions {
        root: args.root.clone(),
        start: !args.no_start,
        wait: std::time::Duration::from_secs(args.wait),
    }
}

fn apply_cmd(args: &ApplyArgs) -> Result<Exit, Error> {
    let sd = connect(args.user)?;
    let (changes, _lock) = planned_changes(args, &sd, true)?;
    let progress = crate::progress::Progress::new(1);
    if !changes.is_empty() {
        progress.step(format!(
            "applying: {} unit(s), {} file(s); waiting up to {} s for units to come up",
            changes.units.len(),
            changes.modules.len(),
            args.wait
        ));
    }
    let applied = deploy::apply(&sd, &changes, &apply_options(args));
    drop(progress);
    let applied = applied?;
    for f in &applied.folders {
        crate::say!("wasmunit: created folder {f} (granted read-only)");
    }
    for step in &applied.steps {
        crate::say!("wasmunit: {step}");
    }
    if changes.is_empty() && applied.steps.is_empty() {
        crate::say!("wasmunit: nothing to change");
    } else {
        crate::say!(
            "wasmunit: {} unit file(s) written, {} unchanged, {} module(s) installed, {} unit(s) removed",
            applied.units.written.len(),
            applied.units.unchanged.len(),
            applied.modules.len(),
            applied.removed.len()
        );
    }
    for f in &applied.identity_removed {
        crate::say!("wasmunit: deleted {f} (no app of the manifest needs it; the account stays)");
    }
    if applied.rolled_back.is_empty() {
        for f in &changes.identity_edited {
            crate::say!(
                "wasmunit: kept {f}: no app of the manifest needs it, but it was edited since \
                 wasmunit wrote it (the next boot still applies it)"
            );
        }
    }
    for f in &applied.modules_removed {
        crate::say!("wasmunit: deleted {f} (no installed unit names it)");
    }
    to_stdout(&deploy::format_states(&applied.states))?;
    if !applied.rolled_back.is_empty() {
        return Err(Error::RolledBack {
            units: applied.rolled_back,
            wait_s: args.wait,
        });
    }
    Ok(unit_outcome(&applied.states))
}

/// A unit in the `failed` state is the host's failure, not wasmunit's.
fn unit_outcome(states: &[(String, deploy::systemd::UnitState)]) -> Exit {
    if states.iter().any(|(_, s)| s.active == "failed") {
        Exit::UnitFailed
    } else {
        Exit::Success
    }
}

fn status_cmd(args: &StatusArgs) -> Result<Exit, Error> {
    let unit_dir = args.root.join(deploy::UNIT_DIR);
    // Only the unit names matter: no module is read, hashed or checked.
    let names = match &args.manifest {
        Some(m) => pipeline::unit_names(m)?,
        None => write::owned_files(&unit_dir)?.into_keys().collect(),
    };
    let sd = connect(args.user)?;
    let states = deploy::status(&sd, &names)?;
    let drift = deploy::status::drift(&args.root, &names)?;
    match args.format {
        Format::Human => {
            to_stdout(&deploy::format_states(&states))?;
            for (name, why) in &drift {
                to_stdout(&format!("drift: {name}: {why}\n"))?;
            }
        }
        Format::Json => to_stdout(&deploy::status::json(&states, &drift))?,
    }
    Ok(unit_outcome(&states))
}

fn remove_cmd(args: &RemoveArgs) -> Result<Exit, Error> {
    let only = match &args.manifest {
        Some(m) => Some(pipeline::unit_names(m)?),
        None => None,
    };
    let sd = connect(args.user)?;
    let unit_dir = args.root.join(deploy::UNIT_DIR);
    let _lock = if unit_dir.is_dir() {
        Some(write::lock_dir(&unit_dir)?)
    } else {
        None
    };
    let removed = deploy::remove(&sd, &args.root, only.as_deref())?;
    crate::say!("wasmunit: removed {}", removed.removed.join(" "));
    for f in &removed.kept {
        crate::say!(
            "wasmunit: kept {f}: edited since wasmunit wrote it (the next boot still applies it)"
        );
    }
    Ok(Exit::Success)
}

fn render_cmd(args: &RenderArgs) -> Result<Exit, Error> {
    let out = rendered(&pipeline::Request {
        manifest: args.manifest.clone(),
        wasmtime: args.wasmtime,
        systemd: args.systemd,
        no_check: args.no_check,
        operator: args.operator.grants()?,
        render: render::RenderOptions {
            butane: args.butane_version,
            sysext: args.sysext.map(|version| SysextOptions {
                version,
                arch: args.arch,
                updates: args.sysext_updates,
            }),
        },
    })?;
    let in_manifest = |e: render::error::RenderError| Error::Render {
        manifest: args.manifest.clone(),
        source: e,
    };
    let budget = out.budget();
    // The process ends here: what is left of the render is not freed
    // (freeing thousands of apps string by string would cost more than
    // everything but parsing).
    match &args.out {
        None if args.ignition => {
            to_stdout(&out.ignition().map_err(in_manifest)?)?;
            std::mem::forget(out);
        }
        None => {
            write::stdout::all_or_nothing(|w| out.write_butane(w).map(drop))?;
            std::mem::forget(out);
        }
        Some(dir) => {
            if let Some(why) = crate::plan::out_folder::refusal(out.plan(), &args.manifest, dir) {
                return Err(Error::Usage(why));
            }
            let files = out.into_out_files(args.ignition).map_err(in_manifest)?;
            let r = write::write_dir(dir, &files)?;
            crate::say!("wasmunit: {}: {}", dir.display(), r.summary());
            std::mem::forget(files);
        }
    }
    crate::say_raw!("{}", budget.report());
    Ok(Exit::Success)
}
