//! The calls that bring the units to what the manifest says: from what
//! changed and what the manager has of each unit now, the enables and
//! disables, one reload, the stops, restarts and starts; nothing for a
//! unit already right.

use super::changes::UnitChange;
use super::dbus::{Result, Systemd, UnitState};
use crate::render::RenderedUnit;
use crate::unit::names::{FOLLOW_UNIT, GROUP_TARGET};

/// One call to the service manager that changes its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Stop(String),
    Disable(Vec<String>),
    Reload,
    Enable(Vec<String>),
    Restart(String),
    Start(String),
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Stop(u) => write!(f, "stop {u}"),
            Step::Disable(us) => write!(f, "disable {}", us.join(" ")),
            Step::Reload => f.write_str("reload"),
            Step::Enable(us) => write!(f, "enable {}", us.join(" ")),
            Step::Restart(u) => write!(f, "restart {u}"),
            Step::Start(u) => write!(f, "start {u}"),
        }
    }
}

pub fn execute(sd: &dyn Systemd, steps: &[Step]) -> Result<()> {
    for step in steps {
        match step {
            Step::Stop(u) => sd.stop(u)?,
            Step::Disable(us) => sd.disable(us)?,
            Step::Reload => sd.reload()?,
            Step::Enable(us) => sd.enable(us)?,
            Step::Restart(u) => sd.restart(u)?,
            Step::Start(u) => sd.start(u)?,
        }
    }
    Ok(())
}

/// A unit's state and install state, as read before acting.
#[derive(Debug, Clone, Default)]
pub struct Current {
    pub active: String,
    pub file_state: String,
    /// The manager runs an older text than the file on disk.
    pub need_reload: bool,
}

/// Of the changed running units another one starts, those to restart and
/// those to stop. Not restarted: one whose starter is being stopped (a
/// server disabled: its restart would start the socket again through
/// Requires=), nor a timer's command, which runs to its end and takes the
/// new file at its next run. Stopped: a process of the app's old kind when
/// it has just become a timer's command (a server made scheduled).
fn restarts_of_started(
    changes: &[(RenderedUnit, UnitChange)],
    stop: &[String],
    candidates: Vec<&RenderedUnit>,
) -> (Vec<String>, Vec<String>) {
    let change_of = |unit: &str| changes.iter().find(|(u, _)| u.name == unit).map(|(_, c)| c);
    let (mut restart, mut stops) = (Vec::new(), Vec::new());
    for u in candidates {
        match &u.app {
            Some(app) if stop.contains(&app.socket_unit()) => {}
            Some(app) => match change_of(&app.timer_unit()) {
                Some(UnitChange::Added) => stops.push(u.name.clone()),
                Some(_) => {}
                None => restart.push(u.name.clone()),
            },
            None => restart.push(u.name.clone()),
        }
    }
    (restart, stops)
}

/// The calls that bring the units to what the manifest says, given what
/// changed and their current state: nothing for a unit already right.
pub fn steps_for(
    changes: &[(RenderedUnit, UnitChange)],
    current: &dyn Fn(&str) -> Current,
    files_changed: bool,
    start: bool,
) -> Vec<Step> {
    let mut steps = Vec::new();
    let stale_loaded: Vec<bool> = changes
        .iter()
        .map(|(u, _)| current(&u.name).need_reload)
        .collect();
    let any_stale = stale_loaded.contains(&true);
    let mut enable = Vec::new();
    let mut disable = Vec::new();
    let mut stop = Vec::new();
    let mut restart = Vec::new();
    let mut starts = Vec::new();
    let mut started_by_another = Vec::new();
    let mut start_target = false;
    for ((u, change), stale) in changes.iter().zip(stale_loaded) {
        let now = current(&u.name);
        let running = matches!(now.active.as_str(), "active" | "activating" | "reloading");
        // A file the manager never loaded (an interrupted apply) counts as
        // changed.
        let effective = stale
            || matches!(
                change,
                UnitChange::Changed {
                    effective: true,
                    ..
                }
            );
        match u.enabled {
            Some(true) => {
                if now.file_state != "enabled" || *change == UnitChange::Added {
                    enable.push(u.name.clone());
                }
                if u.name == GROUP_TARGET {
                    start_target |= !running;
                } else if running {
                    if effective {
                        restart.push(u.name.clone());
                    }
                } else if *change != UnitChange::Same || u.name.ends_with(".timer") {
                    // Started by name: starting an already active group
                    // target does not pull in units added since.
                    starts.push(u.name.clone());
                }
            }
            Some(false) => {
                if now.file_state == "enabled" {
                    disable.push(u.name.clone());
                }
                if running {
                    stop.push(u.name.clone());
                }
            }
            // Started by another unit (a timer's service, an idle server, a
            // forwarder): never enabled; one that was (an app that became
            // idle) is disabled, and a running one whose file changed
            // restarts like any other.
            None => {
                if now.file_state == "enabled" {
                    disable.push(u.name.clone());
                }
                if running && effective {
                    started_by_another.push(u);
                }
            }
        }
    }
    let (more_restarts, more_stops) = restarts_of_started(changes, &stop, started_by_another);
    restart.extend(more_restarts);
    stop.extend(more_stops);
    // Links first, then one reload, as `systemctl enable` does: the
    // reload loads the group target's new wants with the new files.
    let links_changed = !enable.is_empty() || !disable.is_empty();
    if !enable.is_empty() {
        steps.push(Step::Enable(enable));
    }
    if !disable.is_empty() {
        steps.push(Step::Disable(disable));
    }
    if files_changed || links_changed || any_stale {
        steps.push(Step::Reload);
    }
    steps.extend(stop.into_iter().map(Step::Stop));
    if start {
        steps.extend(restart.into_iter().map(Step::Restart));
        if start_target {
            // One transaction starts every enabled app with the target;
            // a start per app would queue them one round trip at a time
            // while the manager is busy spawning the first ones.
            steps.push(Step::Start(GROUP_TARGET.to_owned()));
            starts.retain(|u| !wanted_by_group_target(changes, u));
        }
        steps.extend(starts.into_iter().map(Step::Start));
    }
    steps
}

/// Whether starting the group target starts `unit`: an enabled app unit
/// (each is `WantedBy=` it; wasmunit-follow is wanted by the system).
fn wanted_by_group_target(changes: &[(RenderedUnit, UnitChange)], unit: &str) -> bool {
    unit != FOLLOW_UNIT
        && unit != GROUP_TARGET
        && changes
            .iter()
            .any(|(u, _)| u.name == unit && u.enabled == Some(true))
}

/// What the manager has of each unit now (a unit it cannot read: nothing).
/// One call lists them all; only the ones the manager knows are read
/// whole (on a first apply, none).
pub(crate) fn currents(
    sd: &dyn Systemd,
    units: &[(RenderedUnit, UnitChange)],
) -> std::collections::BTreeMap<String, Current> {
    let names: Vec<String> = units.iter().map(|(u, _)| u.name.clone()).collect();
    // Unreadable in one call: read each whole.
    let listed = sd
        .progress(&names)
        .unwrap_or_else(|_| vec![UnitState::default(); names.len()]);
    let known: Vec<String> = names
        .iter()
        .zip(&listed)
        .filter(|(_, s)| s.load != "not-found")
        .map(|(n, _)| n.clone())
        .collect();
    let snapshots = sd.snapshots(&known).unwrap_or_else(|_| {
        known
            .iter()
            .map(|u| sd.snapshot(u).unwrap_or_default())
            .collect()
    });
    let mut currents: std::collections::BTreeMap<String, Current> = names
        .into_iter()
        .zip(listed)
        .map(|(name, s)| {
            (
                name,
                Current {
                    active: s.active,
                    ..Current::default()
                },
            )
        })
        .collect();
    for (name, (state, file)) in known.into_iter().zip(snapshots) {
        let current = Current {
            active: state.active,
            file_state: file.file_state,
            need_reload: file.need_reload,
        };
        currents.insert(name, current);
    }
    currents
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(name: &str, enabled: Option<bool>) -> RenderedUnit {
        RenderedUnit {
            name: name.into(),
            text: String::new(),
            enabled,
            app: name
                .strip_prefix("wasm-")
                .and_then(|n| n.split(['.']).next())
                .map(|n| n.strip_suffix("-proxy").unwrap_or(n))
                .and_then(|n| crate::manifest::app_name::AppName::parse(n).ok()),
        }
    }

    fn current(active: &str, file_state: &str) -> Current {
        Current {
            active: active.into(),
            file_state: file_state.into(),
            need_reload: false,
        }
    }

    #[test]
    fn a_changed_forwarder_restarts_unless_its_server_is_being_disabled() {
        let changed = UnitChange::Changed {
            old: String::new(),
            effective: true,
        };
        let units = [
            (unit("wasm-web.service", Some(true)), UnitChange::Same),
            (unit("wasm-web.socket", Some(true)), UnitChange::Same),
            (unit("wasm-web-proxy.service", None), changed.clone()),
            (unit("wasm-off.service", None), changed.clone()),
            (unit("wasm-off.socket", Some(false)), UnitChange::Same),
            (unit("wasm-job.service", None), changed.clone()),
            (unit("wasm-job.timer", Some(true)), UnitChange::Same),
        ];
        let steps = steps_for(
            &units,
            &|n| match n {
                // Never enabled: started by their socket or timer.
                "wasm-web-proxy.service" | "wasm-job.service" => current("active", "static"),
                // An idle server, enabled before it became idle.
                _ => current("active", "enabled"),
            },
            true,
            true,
        );
        assert!(
            steps.contains(&Step::Restart("wasm-web-proxy.service".into())),
            "{steps:?}"
        );
        assert!(
            steps.contains(&Step::Stop("wasm-off.socket".into())),
            "{steps:?}"
        );
        assert!(
            steps.contains(&Step::Disable(vec![
                "wasm-off.service".into(),
                "wasm-off.socket".into()
            ])),
            "{steps:?}"
        );
        assert!(
            !steps.contains(&Step::Restart("wasm-off.service".into())),
            "{steps:?}"
        );
        assert!(
            !steps.contains(&Step::Restart("wasm-job.service".into())),
            "{steps:?}"
        );
    }

    #[test]
    fn a_server_made_scheduled_loses_its_old_process() {
        let changed = UnitChange::Changed {
            old: String::new(),
            effective: true,
        };
        let units = [
            (unit("wasm-web.service", None), changed),
            (unit("wasm-web.timer", Some(true)), UnitChange::Added),
        ];
        let steps = steps_for(
            &units,
            &|n| match n {
                "wasm-web.service" => current("active", "static"),
                _ => current("inactive", ""),
            },
            true,
            true,
        );
        assert!(
            steps.contains(&Step::Stop("wasm-web.service".into())),
            "{steps:?}"
        );
        assert!(
            !steps.contains(&Step::Restart("wasm-web.service".into())),
            "{steps:?}"
        );
    }

    #[test]
    fn a_repeat_apply_changes_nothing() {
        let units = [
            (unit("wasmunit.target", Some(true)), UnitChange::Same),
            (unit("wasm-a.service", Some(true)), UnitChange::Same),
            (unit("wasm-b.service", Some(false)), UnitChange::Same),
        ];
        let steps = steps_for(
            &units,
            &|n| match n {
                "wasm-b.service" => current("inactive", "disabled"),
                _ => current("active", "enabled"),
            },
            false,
            true,
        );
        assert!(steps.is_empty(), "{steps:?}");
    }

    #[test]
    fn only_effective_changes_restart_and_disabled_units_stop() {
        let changed = |effective| UnitChange::Changed {
            old: String::new(),
            effective,
        };
        let units = [
            (unit("wasmunit.target", Some(true)), UnitChange::Same),
            (unit("wasm-a.service", Some(true)), changed(true)),
            (unit("wasm-c.service", Some(true)), changed(false)),
            (unit("wasm-b.service", Some(false)), changed(true)),
            (unit("wasm-n.service", Some(true)), UnitChange::Added),
        ];
        let steps = steps_for(
            &units,
            &|n| match n {
                "wasm-n.service" => current("inactive", ""),
                _ => current("active", "enabled"),
            },
            true,
            true,
        );
        assert_eq!(
            steps,
            [
                Step::Enable(vec!["wasm-n.service".into()]),
                Step::Disable(vec!["wasm-b.service".into()]),
                Step::Reload,
                Step::Stop("wasm-b.service".into()),
                Step::Restart("wasm-a.service".into()),
                Step::Start("wasm-n.service".into()),
            ]
        );
    }

    #[test]
    fn no_start_means_no_start() {
        let steps = steps_for(
            &[(unit("wasm-a.service", Some(true)), UnitChange::Added)],
            &|_| current("inactive", ""),
            true,
            false,
        );
        assert!(!steps
            .iter()
            .any(|s| matches!(s, Step::Start(_) | Step::Restart(_))));
    }

    #[test]
    fn a_first_apply_starts_the_apps_through_the_target() {
        let units = [
            (unit("wasmunit.target", Some(true)), UnitChange::Added),
            (
                unit("wasmunit-follow.service", Some(true)),
                UnitChange::Added,
            ),
            (unit("wasm-a.service", Some(true)), UnitChange::Added),
            (unit("wasm-s.service", None), UnitChange::Added),
            (unit("wasm-s.timer", Some(true)), UnitChange::Added),
            (unit("wasm-off.service", Some(false)), UnitChange::Added),
        ];
        let steps = steps_for(&units, &|_| current("inactive", ""), true, true);
        assert_eq!(
            steps,
            [
                Step::Enable(vec![
                    "wasmunit.target".into(),
                    "wasmunit-follow.service".into(),
                    "wasm-a.service".into(),
                    "wasm-s.timer".into(),
                ]),
                Step::Reload,
                Step::Start("wasmunit.target".into()),
                Step::Start("wasmunit-follow.service".into()),
            ]
        );
    }
}
