//! When a started service counts as come up.
//!
//! A `Type=exec` service is "running" as soon as wasmtime is exec'd, before
//! it has loaded, compiled and instantiated the module and before the
//! guest's first instruction: a module that traps at once, a missing
//! import or a refused option all fail after that. wasmtime does none of
//! that work asleep, so a service whose every thread has slept, without a
//! nanosecond of CPU time, for [`QUIET`] is past it: the guest is waiting
//! for something (a timer, a socket, a request). A service that never goes
//! quiet (a guest that computes, a module still compiling) counts as come
//! up once it has run for [`SURVIVE`]. The process is read through the
//! kernel's own accounting (`/proc/PID/task/*/stat` and `schedstat` below
//! the root), after checking it belongs to the unit's cgroup; anything
//! unreadable leaves only [`SURVIVE`].

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long every thread of a service must sleep, using no CPU time, to
/// count as waiting in the guest.
pub(crate) const QUIET: Duration = Duration::from_millis(100);

/// How long a service that never goes quiet must run to count as come up.
pub(crate) const SURVIVE: Duration = Duration::from_millis(1500);

/// What one look at a service's main process found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Look {
    /// Every thread asleep; the CPU time all of them have used, in ns.
    Asleep(u64),
    /// A thread is running, runnable, in uninterruptible I/O or exiting.
    Busy,
    /// Not readable, not this unit's, or the kernel keeps no run times.
    Unknown,
}

/// Reads `pid` below `root` (the root the manager runs in: its `/proc`
/// shows the manager's PIDs), if it is in `unit`'s cgroup.
pub(crate) fn look(root: &Path, pid: u32, unit: &str) -> Look {
    let proc_dir = root.join("proc").join(pid.to_string());
    match std::fs::read_to_string(proc_dir.join("cgroup")) {
        Ok(cgroups) if in_unit(&cgroups, unit) => {}
        _ => return Look::Unknown,
    }
    look_at_tasks(&proc_dir)
}

/// Every thread of the process at `proc_dir` (`/proc/PID`).
fn look_at_tasks(proc_dir: &Path) -> Look {
    let Ok(tasks) = std::fs::read_dir(proc_dir.join("task")) else {
        return Look::Unknown;
    };
    let mut run_ns: u64 = 0;
    for task in tasks {
        let Ok(task) = task else {
            return Look::Unknown;
        };
        let dir: PathBuf = task.path();
        let (Ok(stat), Ok(schedstat)) = (
            std::fs::read_to_string(dir.join("stat")),
            std::fs::read_to_string(dir.join("schedstat")),
        ) else {
            // A thread that ended between the listing and the read.
            return Look::Busy;
        };
        match task_state(&stat) {
            Some('S') => {}
            Some(_) => return Look::Busy,
            None => return Look::Unknown,
        }
        match schedstat.split_whitespace().next().map(str::parse::<u64>) {
            Some(Ok(ns)) => run_ns = run_ns.saturating_add(ns),
            _ => return Look::Unknown,
        }
    }
    // A kernel without scheduler accounting prints zeros; a process that
    // was exec'd has run.
    if run_ns == 0 {
        Look::Unknown
    } else {
        Look::Asleep(run_ns)
    }
}

/// Whether one line of `/proc/PID/cgroup` (v2 `0::/…/UNIT`, or v1's
/// `name=systemd` hierarchy) puts the process in `unit`'s own cgroup.
fn in_unit(cgroups: &str, unit: &str) -> bool {
    cgroups.lines().any(|line| {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        (controllers.is_empty() || controllers == "name=systemd")
            && path.rsplit('/').next() == Some(unit)
    })
}

/// The state letter of a `/proc/PID/task/TID/stat` line: the field after
/// the command name, which is in parentheses and may hold any byte.
fn task_state(stat: &str) -> Option<char> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().next()?.chars().next()
}

/// One service's way to come up, followed across polls.
#[derive(Debug)]
pub(crate) struct Survival {
    pid: u32,
    /// When it became active, µs since the epoch.
    since_us: u64,
    /// The first look of the current quiet stretch: run time, when.
    quiet_from: Option<(u64, Instant)>,
}

impl Survival {
    pub(crate) fn new(pid: u32, since_us: u64) -> Survival {
        Survival {
            pid,
            since_us,
            quiet_from: None,
        }
    }

    /// Looks again; true once the service has come up. `now_us` is the
    /// wall clock (µs since the epoch) its start time is compared with.
    pub(crate) fn has_come_up(&mut self, root: &Path, unit: &str, now_us: u64) -> bool {
        let ran = Duration::from_micros(now_us.saturating_sub(self.since_us));
        if ran >= SURVIVE {
            return true;
        }
        self.observe(look(root, self.pid, unit), Instant::now())
    }

    /// Folds one look into the quiet stretch; true once it lasted [`QUIET`].
    fn observe(&mut self, look: Look, at: Instant) -> bool {
        match (look, self.quiet_from) {
            (Look::Asleep(ns), Some((from_ns, from))) if ns == from_ns => {
                at.duration_since(from) >= QUIET
            }
            (Look::Asleep(ns), _) => {
                self.quiet_from = Some((ns, at));
                false
            }
            (Look::Busy | Look::Unknown, _) => {
                self.quiet_from = None;
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_follows_the_last_parenthesis() {
        assert_eq!(task_state("12 (wasmtime) S 1 12 12 0"), Some('S'));
        assert_eq!(task_state("12 (a) R (b) D 1"), Some('D'));
        assert_eq!(task_state("12 (no end"), None);
    }

    #[test]
    fn only_the_units_own_cgroup_counts() {
        let v2 = "0::/system.slice/wasm-a.service\n";
        assert!(in_unit(v2, "wasm-a.service"));
        assert!(!in_unit(v2, "a.service"));
        assert!(!in_unit(
            "0::/system.slice/wasm-a.service/sub\n",
            "wasm-a.service"
        ));
        let v1 = "4:cpu,cpuacct:/x\n1:name=systemd:/machine.slice/m/system.slice/wasm-a.service\n";
        assert!(in_unit(v1, "wasm-a.service"));
        assert!(!in_unit(
            "4:cpu:/system.slice/wasm-a.service\n",
            "wasm-a.service"
        ));
    }

    #[test]
    fn quiet_must_last_without_cpu_time() {
        let t0 = Instant::now();
        let mut s = Survival::new(1, 0);
        assert!(!s.observe(Look::Asleep(5), t0));
        assert!(!s.observe(Look::Asleep(5), t0 + QUIET / 2));
        // It ran in between: the stretch starts again.
        assert!(!s.observe(Look::Asleep(6), t0 + QUIET));
        assert!(!s.observe(Look::Asleep(6), t0 + QUIET + QUIET / 2));
        assert!(s.observe(Look::Asleep(6), t0 + QUIET * 2));
        // Busy or unreadable in between also starts it again.
        let mut s = Survival::new(1, 0);
        assert!(!s.observe(Look::Asleep(5), t0));
        assert!(!s.observe(Look::Busy, t0 + QUIET / 2));
        assert!(!s.observe(Look::Asleep(5), t0 + QUIET));
        assert!(!s.observe(Look::Unknown, t0 + QUIET * 2));
        assert!(!s.observe(Look::Asleep(5), t0 + QUIET * 3));
    }

    #[test]
    fn a_process_outside_the_unit_is_unknown() {
        let me = std::process::id();
        assert_eq!(look(Path::new("/"), me, "wasm-x.service"), Look::Unknown);
        assert_eq!(
            look(Path::new("/nonexistent"), me, "x.service"),
            Look::Unknown
        );
    }

    /// A real sleeping process reads asleep, with its run time, and keeps
    /// it; a real spinning one reads busy.
    #[test]
    fn real_processes_read_asleep_or_busy() {
        let mut sleeper = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .expect("sleep");
        let mut spinner = std::process::Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .expect("sh");
        std::thread::sleep(Duration::from_millis(300));
        let at = |pid: u32| look_at_tasks(&Path::new("/proc").join(pid.to_string()));
        let first = at(sleeper.id());
        assert!(matches!(first, Look::Asleep(ns) if ns > 0), "{first:?}");
        std::thread::sleep(QUIET);
        assert_eq!(at(sleeper.id()), first);
        // Running or waiting for a core: never asleep.
        let spinning: Vec<Look> = (0..5).map(|_| at(spinner.id())).collect();
        assert!(spinning.iter().all(|l| *l == Look::Busy), "{spinning:?}");
        for child in [&mut sleeper, &mut spinner] {
            child.kill().expect("kill");
            child.wait().expect("wait");
        }
    }
}
