//! The check stage's artifact: a plan with, for each app, the flags its
//! module needs; built only here, so an app and its flags never drift
//! apart. Refuses a plan with a module the target would not run, or one
//! whose flags no single unit spells across the node's range.

use std::fmt::Write as _;

use super::{check_apps, report, CheckOptions, Report, Severity, NOT_CHECKED};
use crate::plan::{AppPlan, Plan};
use crate::progress::Progress;
use crate::releases::{Flag, WasmtimeVersion};

/// A plan, checked: every app with the flags its module needs.
#[derive(Debug)]
pub struct CheckedPlan {
    plan: Plan,
    /// One entry per app of `plan`, in its order (an invariant of `new`).
    needs: Vec<Vec<Flag>>,
    warnings: Vec<String>,
}

/// One app and the flags its module needs (none when not checked).
#[derive(Debug, Clone, Copy)]
pub struct CheckedApp<'a> {
    pub app: &'a AppPlan,
    pub needs: &'a [Flag],
}

/// Why a plan is refused: nothing is rendered, written or applied.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// A module the target would not run.
    #[error("{0}")]
    Blocked(Blocked),
    /// Flags one end of the range needs that the other does not spell.
    #[error(
        "no single unit runs across wasmtime {range}:\n  {}\nnarrow the range (`wasmtime` in [defaults] or --wasmtime) or pin the app to one release; nothing was written",
        problems.join("\n  ")
    )]
    SplitFlags {
        range: crate::releases::TargetRange,
        problems: Vec<String>,
    },
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

impl CheckedPlan {
    /// `--no-check`: no module read, no flag added.
    pub fn unchecked(plan: Plan) -> CheckedPlan {
        let needs = vec![Vec::new(); plan.apps.len()];
        CheckedPlan {
            plan,
            needs,
            warnings: Vec::new(),
        }
    }

    /// Checks each app at the releases it runs under (its pin, else both
    /// ends of the node's range); refuses what would not run there.
    pub fn check(plan: Plan) -> Result<CheckedPlan, CheckError> {
        let mut needs = vec![Vec::new(); plan.apps.len()];
        let mut warnings = Vec::new();
        let mut at_top = Vec::new();
        for (i, (target, which)) in plan.check_targets().into_iter().enumerate() {
            // Progress for the first pass only: later ones hit the cache.
            let progress = if i == 0 {
                Progress::new(which.len())
            } else {
                Progress::hidden()
            };
            let reports = check_apps(
                &plan,
                &which,
                &CheckOptions {
                    target,
                    compile: false,
                    use_cache: true,
                },
                &progress,
            );
            refuse_blocking_at(&plan, &reports, &describe_target(&plan, target))?;
            warnings.extend(self::warnings(&reports));
            for (&app, report) in which.iter().zip(reports) {
                // Each unit is spelled for the oldest release it runs
                // under: its pin, else the range's low end.
                if plan.range_of(&plan.apps[app]).low == target {
                    needs[app] = report.needs;
                } else {
                    at_top.push((app, report.needs));
                }
            }
        }
        if plan.wasmtime_range.is_range() {
            refuse_split_flags(&plan, &needs, &at_top)?;
        }
        warnings.dedup();
        Ok(CheckedPlan {
            plan,
            needs,
            warnings,
        })
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn app(&self, i: usize) -> CheckedApp<'_> {
        CheckedApp {
            app: &self.plan.apps[i],
            needs: &self.needs[i],
        }
    }

    pub fn apps(&self) -> impl ExactSizeIterator<Item = CheckedApp<'_>> {
        self.plan
            .apps
            .iter()
            .zip(&self.needs)
            .map(|(app, needs)| CheckedApp { app, needs })
    }

    /// Non-blocking findings, one line each, for stderr.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

/// How a refusal names the release it was judged at, and the flag that
/// chose it (`--wasmtime`) when the manifest did not.
fn describe_target(plan: &Plan, target: WasmtimeVersion) -> String {
    let range = plan.wasmtime_range;
    let set_by = plan.wasmtime_set_by();
    if range.is_range() && target == range.top() && target != range.low {
        format!(
            "{target}, the newest release of the range {range}{set_by} (narrow the range or pin the app)"
        )
    } else if plan.apps.iter().all(|a| a.pin.is_none()) || range.contains(target) {
        format!("{target}{set_by}")
    } else {
        // A pinned release: the app's own, whatever the flag says.
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
) -> Result<(), CheckError> {
    let range = plan.wasmtime_range;
    let mut problems = Vec::new();
    for (app, top_needs) in at_top {
        let mut all: Vec<Flag> = needs[*app].clone();
        all.extend(top_needs.iter().copied());
        all.sort_by_key(Flag::to_string);
        all.dedup();
        for e in Flag::split_across(&all, range.low, range.top()) {
            problems.push(format!("app `{}`: {e}", plan.apps[*app].name));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(CheckError::SplitFlags { range, problems })
    }
}

fn refuse_blocking_at(plan: &Plan, reports: &[Report], target: &str) -> Result<(), CheckError> {
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
    let by_name: std::collections::HashMap<&str, &AppPlan> =
        plan.apps.iter().map(|a| (a.name.as_str(), a)).collect();
    let mut named = String::new();
    for a in blocking
        .iter()
        .filter_map(|r| by_name.get(r.app.as_deref()?))
    {
        let _ = writeln!(
            named,
            "{}: error: the module of app `{}` would not run under wasmtime {target}",
            a.module_at, a.name
        );
    }
    Err(CheckError::Blocked(Blocked {
        report: named + &report::human(&blocking, false),
        summary: format!(
            "{} module(s) would not run under wasmtime {target}; nothing was written (--no-check skips this)",
            blocking.len(),
        ),
    }))
}

fn warnings(reports: &[Report]) -> Vec<String> {
    let mut out = Vec::new();
    for r in reports {
        let app = r.app.as_deref().unwrap_or("?");
        for f in &r.findings {
            if f.severity == Severity::Warning {
                out.push(format!("app `{app}`: [{}] {}", f.code, f.message));
            } else if f.code == NOT_CHECKED {
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
