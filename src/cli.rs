//! Command-line interface (clap derive) and the dispatch of each command.

use std::path::PathBuf;

use anyhow::{anyhow, Result};
use clap::{Parser, Subcommand};

use crate::plan::target::WasmtimeVersion;
use crate::render::butane::ButaneVersion;
use crate::render::sysext::{Arch, SysextOptions};
use crate::{manifest, plan, render, write};

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
}

fn parse_version(s: &str) -> Result<WasmtimeVersion, String> {
    WasmtimeVersion::parse(s)
}

pub fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Render(args) => render_cmd(args),
    }
}

fn render_cmd(args: RenderArgs) -> Result<i32> {
    let loaded = manifest::load(&args.manifest)?;
    let plan = plan::resolve(
        &loaded,
        &plan::PlanOptions {
            wasmtime: args.wasmtime,
        },
    )?;
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
