//! The one path every command takes: manifest → plan → check → render. Each
//! stage returns a new value; none changes the one before it.

use std::path::Path;

use anyhow::Result;

use crate::check::{self, Report, Severity};
use crate::manifest;
use crate::plan::{self, Plan};
use crate::target::systemd::SystemdVersion;
use crate::target::{Flag, TargetRange, WasmtimeVersion};

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Overrides the manifest's target wasmtime version (or range).
    pub wasmtime: Option<TargetRange>,
    /// Overrides the manifest's target systemd release.
    pub systemd: Option<SystemdVersion>,
    /// Skip `check` (no flags are added for the modules then).
    pub no_check: bool,
}

/// A resolved plan with what `check` found about each app's module.
#[derive(Debug)]
pub struct Prepared {
    pub plan: Plan,
    /// `needs[i]`: the flags the module of `plan.apps[i]` needs.
    pub needs: Vec<Vec<Flag>>,
    /// Non-blocking findings, one line each, for stderr.
    pub warnings: Vec<String>,
}

/// Manifest → resolved plan (names, paths, hashes), no check.
pub fn resolve(path: &Path, opts: &plan::PlanOptions) -> Result<Plan> {
    let loaded = manifest::load(path)?;
    // The parser's buffers are gone: hand their pages back before the
    // plan is built on top.
    release_freed_memory();
    Ok(plan::resolve(&loaded, opts)?)
}

/// Manifest → plan → check: refuses a module the target would not run.
pub fn prepare(path: &Path, opts: Options) -> Result<Prepared> {
    let plan = resolve(
        path,
        &plan::PlanOptions {
            wasmtime: opts.wasmtime,
            systemd: opts.systemd,
        },
    )?;
    release_freed_memory();
    if opts.no_check {
        let needs = vec![Vec::new(); plan.apps.len()];
        return Ok(Prepared {
            plan,
            needs,
            warnings: Vec::new(),
        });
    }
    let mut needs = vec![Vec::new(); plan.apps.len()];
    let mut warnings = Vec::new();
    let mut at_top = Vec::new();
    let range = plan.wasmtime_range;
    for (i, (target, which)) in plan.check_targets().into_iter().enumerate() {
        let reports = check::check_apps(
            &plan,
            &which,
            &check::CheckOptions {
                target,
                compile: false,
                use_cache: true,
            },
            &if i == 0 {
                crate::progress::Progress::new(which.len())
            } else {
                crate::progress::Progress::hidden()
            },
        );
        refuse_blocking_at(&plan, &reports, &describe_target(&plan, target))?;
        warnings.extend(self::warnings(&reports));
        for (&app, report) in which.iter().zip(reports) {
            // Each unit is spelled for the oldest release it runs under:
            // its pin, else the range's low end.
            if plan.range_of(&plan.apps[app]).low == target {
                needs[app] = report.needs;
            } else {
                at_top.push((app, report.needs));
            }
        }
    }
    if range.is_range() {
        refuse_split_flags(&plan, &needs, &at_top)?;
    }
    warnings.dedup();
    Ok(Prepared {
        plan,
        needs,
        warnings,
    })
}

/// How a refusal names the release it was judged at.
fn describe_target(plan: &Plan, target: WasmtimeVersion) -> String {
    let range = plan.wasmtime_range;
    if range.is_range() && target == range.top() && target != range.low {
        format!(
            "{target}, the newest release of the range {range} (narrow the range or pin the app)"
        )
    } else {
        target.to_string()
    }
}

/// Every flag either end of the range needs must exist at both ends;
/// else no single unit file runs across it. `at_top`: what the apps that
/// run the node's wasmtime need at its newest release.
fn refuse_split_flags(
    plan: &Plan,
    needs: &[Vec<Flag>],
    at_top: &[(usize, Vec<Flag>)],
) -> Result<()> {
    let range = plan.wasmtime_range;
    let (low, top) = (range.low, range.top());
    let mut problems = Vec::new();
    for (app, top_needs) in at_top {
        let mut all: Vec<Flag> = needs[*app].clone();
        all.extend(top_needs.iter().copied());
        all.sort_by_key(Flag::to_string);
        all.dedup();
        for e in Flag::split_across(&all, low, top) {
            problems.push(format!("app `{}`: {e}", plan.apps[*app].name));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(anyhow::anyhow!(
        "no single unit runs across wasmtime {range}:\n  {}\nnarrow the range (`wasmtime` in [defaults] or --wasmtime) or pin the app to one release; nothing was written",
        problems.join("\n  ")
    ))
}

fn refuse_blocking_at(plan: &Plan, reports: &[Report], target: &str) -> Result<()> {
    // Byte-stable messages: whether a verdict came from the cache is no
    // business of render's output.
    let blocking: Vec<Report> = reports
        .iter()
        .filter(|r| r.blocks())
        .map(|r| Report {
            cached: false,
            ..r.clone()
        })
        .collect();
    if blocking.is_empty() {
        return Ok(());
    }
    // Where each blocked app names its module: file:line:col, as every
    // other manifest error.
    let by_name: std::collections::HashMap<&str, &crate::plan::AppPlan> =
        plan.apps.iter().map(|a| (a.name.as_str(), a)).collect();
    let mut named = String::new();
    for a in blocking
        .iter()
        .filter_map(|r| by_name.get(r.app.as_deref()?))
    {
        use std::fmt::Write as _;
        let _ = writeln!(
            named,
            "{}: error: the module of app `{}` would not run under wasmtime {target}",
            a.module_at, a.name
        );
    }
    Err(Blocked {
        report: named + &check::report::human(&blocking, false),
        summary: format!(
            "{} module(s) would not run under wasmtime {target}; nothing was written (--no-check skips this)",
            blocking.len(),
        ),
    }
    .into())
}

/// `check` found a module the target would not run: its report, then why
/// nothing was done.
#[derive(Debug)]
pub struct Blocked {
    pub report: String,
    pub summary: String,
}

impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}error: {}", self.report, self.summary)
    }
}

impl std::error::Error for Blocked {}

fn warnings(reports: &[Report]) -> Vec<String> {
    let mut out = Vec::new();
    for r in reports {
        let app = r.app.as_deref().unwrap_or("?");
        for f in &r.findings {
            if f.severity == Severity::Warning {
                out.push(format!("app `{app}`: [{}] {}", f.code, f.message));
            } else if f.code == check::NOT_CHECKED {
                out.push(format!(
                    "app `{app}`: module {} was not checked: it is fetched on the node; \
                     download it and run `wasmunit check FILE --wasmtime {}` before deploying",
                    r.file, r.target
                ));
            }
        }
    }
    out
}

/// Hand freed pages back (the parser's buffers once the manifest is typed,
/// the parsed manifest once the plan exists), so the next stage and the
/// renderers' threads (which allocate from their own arenas) do not stack
/// their memory on top: peak memory stays near the output size.
fn release_freed_memory() {
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The unit names a manifest renders, without reading or hashing modules.
pub fn unit_names(path: &Path) -> Result<Vec<String>> {
    let loaded = manifest::load(path)?;
    Ok(plan::unit_names(&loaded)?)
}
