//! `check`: modules, or every module of a manifest, against the target
//! wasmtime CLI.

use super::to_stdout;
use crate::cli::args::{CheckArgs, Format};
use crate::error::{Error, Exit};
use crate::releases::{TargetRange, WasmtimeVersion};
use crate::{check, pipeline};

pub fn check_cmd(args: &CheckArgs) -> Result<Exit, Error> {
    let opts = check::CheckOptions {
        target: args
            .target
            .wasmtime
            .map_or(WasmtimeVersion::DEFAULT, |r| r.low),
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
            let plan = pipeline::resolve(input, &args.plan_options()?)?;
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
            .target
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
