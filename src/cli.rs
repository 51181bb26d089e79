//! Command-line interface (clap derive) and the dispatch of each command.

use std::path::PathBuf;

use anyhow::{anyhow, Result};
use clap::{Parser, Subcommand};

use crate::plan::target::WasmtimeVersion;
use crate::render::butane::ButaneVersion;
use crate::render::sysext::{Arch, SysextOptions};
use crate::{check, deploy, manifest, plan, render, write};

#[derive(Debug, Parser)]
#[command(
    name = "wasmunit",
    version,
    about = "WebAssembly workloads as hardened systemd units for Flatcar"
)]
pub struct Cli {
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
    /// Show the state of every unit of a manifest, as systemd reports it.
    Status(StatusArgs),
    /// Check modules (or every module of a manifest) against the target
    /// wasmtime CLI: loadable, runnable, imports satisfiable, grants fit.
    Check(CheckArgs),
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
    /// Target wasmtime CLI version (default: the manifest's, else 31.0.0).
    #[arg(long, value_name = "VERSION", value_parser = parse_version)]
    pub wasmtime: Option<WasmtimeVersion>,
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
    /// Also compile for this host with Cranelift (cached by content hash).
    #[arg(long)]
    pub compile: bool,
    /// Ignore and do not write the verdict cache.
    #[arg(long)]
    pub no_cache: bool,
}

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// The manifest (TOML, format version 1).
    pub manifest: PathBuf,
    /// Install below this root instead of / (unit files into
    /// ROOT/etc/systemd/system, modules into ROOT/var/lib/wasmunit/modules).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// Render for this wasmtime CLI version (overrides the manifest).
    #[arg(long, value_name = "VERSION", value_parser = parse_version)]
    pub wasmtime: Option<WasmtimeVersion>,
    /// Install, reload and enable, but start nothing.
    #[arg(long)]
    pub no_start: bool,
    /// Seconds to wait for started units to settle.
    #[arg(long, value_name = "SECONDS", default_value = "30")]
    pub wait: u64,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The manifest (TOML, format version 1).
    pub manifest: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// The manifest (TOML, format version 1).
    pub manifest: PathBuf,
    /// Write the units and butane.yaml into this folder instead of printing
    /// the Butane fragment.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Render for this wasmtime CLI version (overrides the manifest).
    #[arg(long, value_name = "VERSION", value_parser = parse_version)]
    pub wasmtime: Option<WasmtimeVersion>,
    /// Butane spec version of the fragment (Flatcar variant).
    #[arg(long, value_enum, default_value = "1.0.0", value_name = "VERSION")]
    pub butane_version: ButaneVersion,
    /// Also provision the wasmtime sysext of this version from the sysext-bakery.
    #[arg(long, value_name = "VERSION", value_parser = parse_version)]
    pub sysext: Option<WasmtimeVersion>,
    /// Architecture of the sysext image.
    #[arg(long, value_enum, default_value = "x86-64", requires = "sysext")]
    pub arch: Arch,
    /// Let systemd-sysupdate move nodes to newer wasmtime releases (the units
    /// were rendered for one version: only enable this knowingly).
    #[arg(long, requires = "sysext")]
    pub sysext_updates: bool,
    /// Skip `check` of the local modules (by default render refuses a module
    /// the target wasmtime would not run, and adds the flags it needs).
    #[arg(long)]
    pub no_check: bool,
}

fn parse_version(s: &str) -> Result<WasmtimeVersion, String> {
    WasmtimeVersion::parse(s)
}

pub fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Render(args) => render_cmd(args),
        Command::Apply(args) => apply_cmd(args),
        Command::Status(args) => status_cmd(args),
        Command::Check(args) => check_cmd(args),
    }
}

fn check_cmd(args: CheckArgs) -> Result<i32> {
    let opts = check::CheckOptions {
        target: args.wasmtime.unwrap_or(WasmtimeVersion::DEFAULT),
        compile: args.compile,
        use_cache: !args.no_cache,
    };
    let mut reports = Vec::new();
    for input in &args.inputs {
        if input.extension().is_some_and(|e| e == "toml") {
            let plan = load_plan(input, args.wasmtime)?;
            reports.extend(check::check_plan(&plan, &opts));
        } else {
            match check::check_file(input, &opts) {
                Ok(r) => reports.push(r),
                Err(e) => {
                    eprintln!("error: {}: {e}", input.display());
                    return Ok(2);
                }
            }
        }
    }
    match args.format {
        Format::Json => print!("{}", check::report::json(&reports)),
        Format::Human => {
            use std::io::IsTerminal;
            let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            print!("{}", check::report::human(&reports, color));
        }
    }
    Ok(check::report::exit_status(&reports))
}

/// Runs `check` on the plan's modules: refuses what would not run, and
/// gives each app the flags its module needs.
fn check_before_render(plan: &mut plan::Plan) -> Result<()> {
    let opts = check::CheckOptions {
        target: plan.target.wasmtime,
        compile: false,
        use_cache: true,
    };
    let reports = check::check_plan(plan, &opts);
    // Byte-stable messages: whether a verdict came from the cache is no
    // business of render's output.
    let blocking: Vec<check::Report> = reports
        .iter()
        .filter(|r| r.blocks())
        .map(|r| check::Report {
            cached: false,
            ..r.clone()
        })
        .collect();
    if !blocking.is_empty() {
        eprint!("{}", check::report::human(&blocking, false));
        anyhow::bail!(
            "{} module(s) would not run under wasmtime {}; nothing was written (--no-check skips this)",
            blocking.len(),
            plan.target.wasmtime
        );
    }
    for (app, r) in plan.apps.iter_mut().zip(&reports) {
        app.module_flags = r.flag_pairs();
        for f in r
            .findings
            .iter()
            .filter(|f| f.severity == check::Severity::Warning)
        {
            eprintln!("warning: app `{}`: [{}] {}", app.name, f.code, f.message);
        }
    }
    Ok(())
}

fn load_plan(path: &std::path::Path, wasmtime: Option<WasmtimeVersion>) -> Result<plan::Plan> {
    let loaded = manifest::load(path)?;
    Ok(plan::resolve(&loaded, &plan::PlanOptions { wasmtime })?)
}

fn apply_cmd(args: ApplyArgs) -> Result<i32> {
    let mut plan = load_plan(&args.manifest, args.wasmtime)?;
    check_before_render(&mut plan)?;
    let out = render::render(&plan, &render::RenderOptions::default())
        .map_err(|e| anyhow!("{}: {e}", args.manifest.display()))?;
    let sd = deploy::systemd::DbusSystemd::connect(None)?;
    let applied = deploy::apply(
        &sd,
        &plan,
        &out,
        &deploy::ApplyOptions {
            root: args.root,
            start: !args.no_start,
            wait: std::time::Duration::from_secs(args.wait),
        },
    )?;
    eprintln!(
        "wasmunit: {} unit file(s) written, {} unchanged, {} module(s) installed",
        applied.units.written.len(),
        applied.units.unchanged.len(),
        applied.modules.len()
    );
    print!("{}", deploy::format_states(&applied.states));
    let failed = applied.states.iter().any(|(_, s)| s.active == "failed");
    Ok(i32::from(failed))
}

fn status_cmd(args: StatusArgs) -> Result<i32> {
    // Only the unit names matter here; checking the modules would add
    // nothing to what systemd reports.
    let plan = load_plan(&args.manifest, None)?;
    let out = render::render(&plan, &render::RenderOptions::default())
        .map_err(|e| anyhow!("{}: {e}", args.manifest.display()))?;
    let sd = deploy::systemd::DbusSystemd::connect(None)?;
    let names: Vec<String> = out.units.iter().map(|u| u.name.clone()).collect();
    let states = deploy::status(&sd, &names)?;
    print!("{}", deploy::format_states(&states));
    Ok(i32::from(states.iter().any(|(_, s)| s.active == "failed")))
}

fn render_cmd(args: RenderArgs) -> Result<i32> {
    let mut plan = load_plan(&args.manifest, args.wasmtime)?;
    if !args.no_check {
        check_before_render(&mut plan)?;
    }
    let opts = render::RenderOptions {
        butane: args.butane_version,
        sysext: args.sysext.map(|version| SysextOptions {
            version,
            arch: args.arch,
            updates: args.sysext_updates,
        }),
    };
    let out =
        render::render(&plan, &opts).map_err(|e| anyhow!("{}: {e}", args.manifest.display()))?;
    match args.out {
        None => {
            print!("{}", out.butane);
        }
        Some(dir) => {
            let mut files: Vec<write::OutFile> = out
                .units
                .into_iter()
                .map(|u| write::OutFile {
                    name: u.name,
                    bytes: u.text.into_bytes(),
                })
                .collect();
            files.push(write::OutFile {
                name: "butane.yaml".to_owned(),
                bytes: out.butane.into_bytes(),
            });
            let r = write::write_dir(&dir, &files)?;
            eprintln!(
                "wasmunit: {}: {} written, {} unchanged{}{}",
                dir.display(),
                r.written.len(),
                r.unchanged.len(),
                if r.removed.is_empty() {
                    String::new()
                } else {
                    format!(", removed no longer rendered: {}", r.removed.join(" "))
                },
                if r.kept.is_empty() {
                    String::new()
                } else {
                    format!(", kept (edited since written): {}", r.kept.join(" "))
                },
            );
        }
    }
    Ok(0)
}
