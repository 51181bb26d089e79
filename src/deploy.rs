//! Deploying rendered units on a live host (or any root with a systemd on
//! D-Bus): install unit files and modules, then reload, enable and start
//! through systemd's API. The order of the D-Bus calls is pure logic
//! ([`steps_before_write`], [`steps_after_write`]), run by [`execute`].

use std::fmt::Write as _;
pub mod systemd;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::plan::{ModuleOrigin, Plan};
use crate::render::{systemd::GROUP_TARGET, Output, RenderedUnit};
use crate::write;
use systemd::{Systemd, UnitState};

/// Where unit files go below the root.
pub const UNIT_DIR: &str = "etc/systemd/system";

/// One call to the service manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Stop(String),
    Disable(Vec<String>),
    Reload,
    Enable(Vec<String>),
    Restart(String),
    Start(String),
}

fn is_unit(name: &str) -> bool {
    name.ends_with(".service") || name.ends_with(".timer") || name.ends_with(".target")
}

/// Units wasmunit installed earlier that the manifest no longer renders:
/// stop and disable them while their files still exist.
pub fn steps_before_write(stale: &[String]) -> Vec<Step> {
    let mut steps: Vec<Step> = stale.iter().map(|u| Step::Stop(u.clone())).collect();
    if !stale.is_empty() {
        steps.push(Step::Disable(stale.to_vec()));
    }
    steps
}

/// After the files are in place: reload, apply `enabled`, restart the
/// enabled units whose file changed, start the group target (which starts
/// every enabled app through its `WantedBy=`).
pub fn steps_after_write(units: &[RenderedUnit], changed: &[String], start: bool) -> Vec<Step> {
    let mut steps = vec![Step::Reload];
    let enabled: Vec<String> = units
        .iter()
        .filter(|u| u.enabled == Some(true))
        .map(|u| u.name.clone())
        .collect();
    let disabled: Vec<String> = units
        .iter()
        .filter(|u| u.enabled == Some(false))
        .map(|u| u.name.clone())
        .collect();
    if !enabled.is_empty() {
        steps.push(Step::Enable(enabled.clone()));
    }
    if !disabled.is_empty() {
        steps.push(Step::Disable(disabled));
    }
    if start {
        for name in changed {
            if enabled.contains(name) && name != GROUP_TARGET {
                steps.push(Step::Restart(name.clone()));
            }
        }
        steps.push(Step::Start(GROUP_TARGET.to_owned()));
    }
    steps
}

pub fn execute(sd: &dyn Systemd, steps: &[Step]) -> Result<()> {
    for step in steps {
        match step {
            // A unit that is already gone is not an error when removing it.
            Step::Stop(u) => {
                let _ = sd.stop(u);
            }
            Step::Disable(us) => sd.disable(us)?,
            Step::Reload => sd.reload()?,
            Step::Enable(us) => sd.enable(us)?,
            Step::Restart(u) => sd.restart(u)?,
            Step::Start(u) => sd.start(u)?,
        }
    }
    Ok(())
}

/// Puts every module the plan needs at its content-addressed path under
/// `root`. An existing file with the right hash is kept; one with another
/// content is never overwritten.
pub fn install_modules(plan: &Plan, root: &Path) -> Result<Vec<String>> {
    let mut written = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for app in &plan.apps {
        let m = &app.module;
        if !seen.insert(m.node_path.clone()) {
            continue;
        }
        let dest = root.join(m.node_path.trim_start_matches('/'));
        if dest.exists() {
            let have = crate::plan::module::hash_file(&dest)
                .with_context(|| format!("cannot read {}", dest.display()))?;
            if have == m.sha256 {
                continue;
            }
            bail!(
                "{} exists with SHA-256 {have}, not {}; refusing to replace it",
                dest.display(),
                m.sha256
            );
        }
        if let ModuleOrigin::Url { url } = &m.origin {
            bail!(
                "module {url} of app `{}` is not on this host; Ignition fetches it at provisioning \
                 (or put it at {} yourself)",
                app.name,
                dest.display()
            );
        }
        let bytes = m
            .read_bytes()
            .with_context(|| format!("cannot read module of app `{}`", app.name))?;
        let dir = dest.parent().context("module path has no folder")?;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let name = dest
            .file_name()
            .context("module file name")?
            .to_string_lossy()
            .into_owned();
        write::atomic_write(dir, &name, &bytes)?;
        written.push(m.node_path.clone());
    }
    Ok(written)
}

#[derive(Debug)]
pub struct Applied {
    pub units: write::Report,
    pub modules: Vec<String>,
    pub states: Vec<(String, UnitState)>,
}

pub struct ApplyOptions {
    pub root: PathBuf,
    pub start: bool,
    /// How long to wait for started units to settle.
    pub wait: Duration,
}

pub fn apply(sd: &dyn Systemd, plan: &Plan, out: &Output, opts: &ApplyOptions) -> Result<Applied> {
    let unit_dir = opts.root.join(UNIT_DIR);
    let new_names: Vec<&str> = out.units.iter().map(|u| u.name.as_str()).collect();
    let stale: Vec<String> = write::owned_files(&unit_dir)?
        .into_keys()
        .filter(|n| is_unit(n) && !new_names.contains(&n.as_str()))
        .collect();

    let modules = install_modules(plan, &opts.root)?;
    execute(sd, &steps_before_write(&stale))?;
    let files: Vec<write::OutFile> = out
        .units
        .iter()
        .map(|u| write::OutFile {
            name: u.name.clone(),
            bytes: u.text.clone().into_bytes(),
        })
        .collect();
    let report = write::write_dir(&unit_dir, &files)?;
    execute(
        sd,
        &steps_after_write(&out.units, &report.written, opts.start),
    )?;

    let names: Vec<String> = out.units.iter().map(|u| u.name.clone()).collect();
    let states = if opts.start {
        wait_settled(sd, &names, opts.wait)?
    } else {
        status(sd, &names)?
    };
    Ok(Applied {
        units: report,
        modules,
        states,
    })
}

pub fn status(sd: &dyn Systemd, units: &[String]) -> Result<Vec<(String, UnitState)>> {
    units
        .iter()
        .map(|u| Ok((u.clone(), sd.state(u)?)))
        .collect()
}

/// Polls until no unit is activating or deactivating, or `timeout` passes.
pub fn wait_settled(
    sd: &dyn Systemd,
    units: &[String],
    timeout: Duration,
) -> Result<Vec<(String, UnitState)>> {
    let deadline = Instant::now() + timeout;
    loop {
        let states = status(sd, units)?;
        if states.iter().all(|(_, s)| s.is_settled()) || Instant::now() >= deadline {
            return Ok(states);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A plain table of unit states, one line per unit.
pub fn format_states(states: &[(String, UnitState)]) -> String {
    let mut s = format!(
        "{:<40} {:<10} {:<12} {:<12} {}\n",
        "UNIT", "ACTIVE", "SUB", "RESULT", "EXIT"
    );
    for (name, st) in states {
        let _ = writeln!(
            s,
            "{:<40} {:<10} {:<12} {:<12} {}",
            name,
            st.active,
            st.sub,
            if st.result.is_empty() {
                "-"
            } else {
                &st.result
            },
            st.exit_status.map_or("-".to_owned(), |c| c.to_string())
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// Records calls; pure-logic tests only (the real manager is in tests/).
    #[derive(Default)]
    struct Recorder(RefCell<Vec<String>>);

    impl Systemd for Recorder {
        fn reload(&self) -> Result<()> {
            self.0.borrow_mut().push("reload".into());
            Ok(())
        }
        fn enable(&self, u: &[String]) -> Result<()> {
            self.0.borrow_mut().push(format!("enable {}", u.join(",")));
            Ok(())
        }
        fn disable(&self, u: &[String]) -> Result<()> {
            self.0.borrow_mut().push(format!("disable {}", u.join(",")));
            Ok(())
        }
        fn start(&self, u: &str) -> Result<()> {
            self.0.borrow_mut().push(format!("start {u}"));
            Ok(())
        }
        fn restart(&self, u: &str) -> Result<()> {
            self.0.borrow_mut().push(format!("restart {u}"));
            Ok(())
        }
        fn stop(&self, u: &str) -> Result<()> {
            self.0.borrow_mut().push(format!("stop {u}"));
            anyhow::bail!("already gone")
        }
        fn state(&self, _: &str) -> Result<UnitState> {
            Ok(UnitState::default())
        }
    }

    fn unit(name: &str, enabled: Option<bool>) -> RenderedUnit {
        RenderedUnit {
            name: name.into(),
            text: String::new(),
            enabled,
        }
    }

    #[test]
    fn reload_enable_restart_changed_then_start_the_target() {
        let units = [
            unit("wasmunit.target", Some(true)),
            unit("wasm-a.service", Some(true)),
            unit("wasm-b.service", Some(false)),
            unit("wasm-c.service", None),
            unit("wasm-c.timer", Some(true)),
        ];
        let changed = [
            "wasm-a.service".to_owned(),
            "wasm-b.service".to_owned(),
            "wasmunit.target".to_owned(),
        ];
        let r = Recorder::default();
        execute(&r, &steps_after_write(&units, &changed, true)).expect("run");
        assert_eq!(
            r.0.into_inner(),
            [
                "reload",
                "enable wasmunit.target,wasm-a.service,wasm-c.timer",
                "disable wasm-b.service",
                "restart wasm-a.service",
                "start wasmunit.target"
            ]
        );
    }

    #[test]
    fn stale_units_are_stopped_and_disabled_even_if_already_stopped() {
        let r = Recorder::default();
        execute(&r, &steps_before_write(&["wasm-old.service".to_owned()])).expect("run");
        assert_eq!(
            r.0.into_inner(),
            ["stop wasm-old.service", "disable wasm-old.service"]
        );
    }

    #[test]
    fn no_start_means_no_start() {
        let steps = steps_after_write(
            &[unit("wasm-a.service", Some(true))],
            &["wasm-a.service".into()],
            false,
        );
        assert!(!steps
            .iter()
            .any(|s| matches!(s, Step::Start(_) | Step::Restart(_))));
    }
}
