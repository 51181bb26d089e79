//! Waiting for the units an apply started: which ones, until when, and
//! whether each came up ([`super::liveness`] decides for a running one).

use std::path::Path;
use std::time::{Duration, Instant};

use super::changes::Changes;
use super::dbus::{Result, Systemd, UnitState};
use super::liveness;
use super::steps::Step;
use crate::unit::names::GROUP_TARGET;

/// Whether a unit's coming up is waited for: a service, and a socket (one
/// that cannot bind its port is `failed`).
fn watched(unit: &str) -> bool {
    unit.ends_with(".service") || unit.ends_with(".socket")
}

/// The services and sockets whose start this apply caused: watched until
/// they settle. (Starting the group target starts every enabled one.)
pub(crate) fn watched_units(changes: &Changes, steps: &[Step]) -> Vec<String> {
    let target = steps.contains(&Step::Start(GROUP_TARGET.to_owned()));
    let mut w: Vec<String> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Restart(u) | Step::Start(u) if watched(u) => Some(u.clone()),
            _ => None,
        })
        .collect();
    if target {
        for (u, _) in &changes.units {
            if u.enabled == Some(true) && watched(&u.name) && !w.contains(&u.name) {
                w.push(u.name.clone());
            }
        }
    }
    w
}

/// Running, or finished with success (a command that ran to its end).
pub(crate) fn came_up(s: &UnitState) -> bool {
    match s.active.as_str() {
        "active" | "reloading" => true,
        "inactive" => s.result.is_empty() || s.result == "success",
        _ => false,
    }
}

/// Polls until no unit is activating or deactivating and every running
/// service has come up ([`liveness`]), or `timeout` passes. The polls read
/// states only (one call for all units, so as not to keep the manager
/// busy while it starts them); a running service's main process and start
/// time are read once, when everything has settled. `root` is where the
/// manager's `/proc` is.
pub fn wait_settled(
    sd: &dyn Systemd,
    root: &Path,
    units: &[String],
    timeout: Duration,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let mut survivals: std::collections::HashMap<&str, liveness::Survival> =
        std::collections::HashMap::new();
    loop {
        let states = sd.progress(units)?;
        let settled = states
            .iter()
            .all(|s| s.is_settled() && s.sub != "auto-restart");
        // A service seen stopped or restarting is followed afresh.
        for (u, s) in units.iter().zip(&states) {
            if s.sub != "running" {
                survivals.remove(u.as_str());
            }
        }
        let mut up = settled;
        if settled {
            // Main processes and start times of the services not yet
            // followed, read all at once.
            let new: Vec<&String> = units
                .iter()
                .zip(&states)
                .filter(|(u, s)| s.sub == "running" && !survivals.contains_key(u.as_str()))
                .map(|(u, _)| u)
                .collect();
            let names: Vec<String> = new.iter().map(|u| (*u).clone()).collect();
            for (u, main) in new.into_iter().zip(sd.main_processes(&names)?) {
                // No main process (a unit without one): its start time
                // alone decides.
                let survival = liveness::Survival::new(main.pid.unwrap_or(0), main.active_since_us);
                survivals.insert(u, survival);
            }
            let now_us = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
            for (u, s) in units.iter().zip(&states) {
                if s.sub != "running" {
                    continue;
                }
                let Some(survival) = survivals.get_mut(u.as_str()) else {
                    continue;
                };
                up &= survival.has_come_up(root, u, now_us);
            }
        }
        if up {
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(());
        }
        let sleep = if settled {
            liveness::QUIET / 2
        } else {
            Duration::from_millis(100)
        };
        std::thread::sleep(sleep.min(deadline.saturating_duration_since(now)));
    }
}
