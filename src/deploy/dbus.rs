//! The few calls of systemd's D-Bus API that `apply` and `status` use,
//! behind a small trait so the ordering logic can be tested with a fake.
#![allow(clippy::too_many_arguments)]

use zbus::blocking::Connection;
use zbus::proxy::CacheProperties;
use zbus::zvariant::OwnedObjectPath;

/// A call to the service manager that failed: which call, on what, and
/// what the bus or the manager answered.
#[derive(Debug, thiserror::Error)]
pub enum SystemdError {
    #[error(
        "cannot connect to the D-Bus system bus (is systemd running? is \
         DBUS_SYSTEM_BUS_ADDRESS right?): {source}"
    )]
    SystemBus { source: Box<zbus::Error> },
    #[error("cannot connect to D-Bus at {address}: {source}")]
    Bus {
        address: String,
        source: Box<zbus::Error>,
    },
    /// A method call or property read: the method, and the unit(s) or
    /// interface it was about (empty: the manager itself).
    #[error("systemd {method}{}: {source}", if on.is_empty() { String::new() } else { format!(" {on}") })]
    Call {
        method: &'static str,
        on: String,
        source: Box<zbus::Error>,
    },
    /// The manager's `Version` does not start with its release number.
    #[error("cannot read the systemd release from `{version}`")]
    Release { version: String },
    #[error("a D-Bus reader thread panicked")]
    ReaderPanicked,
}

impl SystemdError {
    /// `map_err` of the call `method` about `on`.
    pub fn call<E: Into<zbus::Error>>(
        method: &'static str,
        on: impl std::fmt::Display,
    ) -> impl FnOnce(E) -> SystemdError {
        let on = on.to_string();
        move |e| SystemdError::Call {
            method,
            on,
            source: Box::new(e.into()),
        }
    }
}

/// What a call to the service manager returns.
pub type Result<T, E = SystemdError> = std::result::Result<T, E>;

/// What `deploy` needs from a service manager.
pub trait Systemd {
    fn reload(&self) -> Result<()>;
    fn enable(&self, units: &[String]) -> Result<()>;
    fn disable(&self, units: &[String]) -> Result<()>;
    fn start(&self, unit: &str) -> Result<()>;
    fn restart(&self, unit: &str) -> Result<()>;
    fn stop(&self, unit: &str) -> Result<()>;
    fn state(&self, unit: &str) -> Result<UnitState>;
    /// Where a unit comes from and how it is installed (read-only).
    fn unit_file(&self, unit: &str) -> Result<UnitFileInfo>;
    /// Both at once (fewer round trips).
    fn snapshot(&self, unit: &str) -> Result<(UnitState, UnitFileInfo)> {
        Ok((self.state(unit)?, self.unit_file(unit)?))
    }
    /// [`Systemd::snapshot`] of many units, in the order given.
    fn snapshots(&self, units: &[String]) -> Result<Vec<(UnitState, UnitFileInfo)>> {
        units.iter().map(|u| self.snapshot(u)).collect()
    }
    /// [`Systemd::unit_file`] of many units, in the order given.
    fn unit_files(&self, units: &[String]) -> Result<Vec<UnitFileInfo>> {
        units.iter().map(|u| self.unit_file(u)).collect()
    }
    /// The few fields a wait polls (load, active and sub state, pending
    /// job; the rest left empty), of many units at once: a poll must not
    /// keep the manager busy while it starts them.
    fn progress(&self, units: &[String]) -> Result<Vec<UnitState>> {
        units.iter().map(|u| self.state(u)).collect()
    }
    /// The manager's release (the leading number of its `Version`).
    fn release(&self) -> Result<u32>;
    /// The main process of a service and when it became active (two
    /// fields, not the whole state: read while other units start).
    fn main_process(&self, unit: &str) -> Result<MainProcess> {
        let s = self.state(unit)?;
        Ok(MainProcess {
            pid: s.main_pid,
            active_since_us: s.active_since_us,
        })
    }
    /// [`Systemd::main_process`] of many services, in the order given.
    fn main_processes(&self, units: &[String]) -> Result<Vec<MainProcess>> {
        units.iter().map(|u| self.main_process(u)).collect()
    }
}

/// `MainPID` and `ActiveEnterTimestamp` of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MainProcess {
    /// In the manager's PID namespace; `None` when none runs.
    pub pid: Option<u32>,
    /// µs since the epoch, 0: never.
    pub active_since_us: u64,
}

/// Where systemd found a unit and whether it is enabled.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UnitFileInfo {
    /// `FragmentPath`: the unit file systemd loaded, empty when none.
    pub fragment_path: String,
    /// `UnitFileState`: `enabled`, `disabled`, `static`, … (empty if none).
    pub file_state: String,
    /// `NeedDaemonReload`: the file on disk is not what the manager loaded
    /// (an apply interrupted between writing and reloading).
    pub need_reload: bool,
}

/// A unit's state as systemd reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UnitState {
    pub load: String,
    pub active: String,
    pub sub: String,
    /// `Result` of a service or timer (`success`, `exit-code`, …).
    pub result: String,
    /// Exit status of the last main process (services only).
    pub exit_status: Option<i32>,
    pub restarts: Option<u32>,
    /// Main process of a running service.
    pub main_pid: Option<u32>,
    /// `MemoryCurrent` in bytes, when systemd accounts it.
    pub memory: Option<u64>,
    /// `ActiveEnterTimestamp`, microseconds since the epoch (0: never).
    pub active_since_us: u64,
    /// A start, stop or restart job is queued or running (`Job` is set).
    pub job_pending: bool,
}

impl UnitState {
    pub fn is_settled(&self) -> bool {
        !self.job_pending
            && !matches!(
                self.active.as_str(),
                "activating" | "deactivating" | "reloading"
            )
    }
}

/// One unit of `ListUnitsByNames`: name, description, load, active and sub
/// state, followed unit, object path, job id, job type, job path.
pub type ListedUnit = (
    String,
    String,
    String,
    String,
    String,
    String,
    OwnedObjectPath,
    u32,
    String,
    OwnedObjectPath,
);

/// (type, symlink, destination) of each change `EnableUnitFiles` made.
pub type UnitFileChange = (String, String, String);

#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Manager",
    default_service = "org.freedesktop.systemd1",
    default_path = "/org/freedesktop/systemd1"
)]
pub trait Manager {
    fn reload(&self) -> zbus::Result<()>;
    fn enable_unit_files(
        &self,
        files: &[&str],
        runtime: bool,
        force: bool,
    ) -> zbus::Result<(bool, Vec<UnitFileChange>)>;
    fn disable_unit_files(
        &self,
        files: &[&str],
        runtime: bool,
    ) -> zbus::Result<Vec<UnitFileChange>>;
    fn start_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;
    fn restart_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;
    fn stop_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;
    fn load_unit(&self, name: &str) -> zbus::Result<OwnedObjectPath>;
    fn list_units_by_names(&self, names: &[&str]) -> zbus::Result<Vec<ListedUnit>>;
    #[zbus(property)]
    fn system_state(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn version(&self) -> zbus::Result<String>;
}

/// One `ExecStart=` entry: path, argv, ignore-failure, timestamps, pid, code, status.
pub type ExecCommand = (String, Vec<String>, bool, u64, u64, u64, u64, u32, i32, i32);

#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Service",
    default_service = "org.freedesktop.systemd1"
)]
pub trait Service {
    #[zbus(property)]
    fn exec_start(&self) -> zbus::Result<Vec<ExecCommand>>;
    #[zbus(property)]
    fn memory_max(&self) -> zbus::Result<u64>;
}

impl UnitFileInfo {
    /// From the `Unit` interface's GetAll answer.
    fn from_props(u: &std::collections::HashMap<String, zbus::zvariant::OwnedValue>) -> Self {
        UnitFileInfo {
            fragment_path: prop(u, "FragmentPath").unwrap_or_default(),
            file_state: prop(u, "UnitFileState").unwrap_or_default(),
            need_reload: prop(u, "NeedDaemonReload").unwrap_or(false),
        }
    }
}

/// One property of a GetAll answer, converted; `None` when absent or of
/// another type.
fn prop<T>(
    props: &std::collections::HashMap<String, zbus::zvariant::OwnedValue>,
    key: &str,
) -> Option<T>
where
    T: TryFrom<zbus::zvariant::OwnedValue>,
{
    T::try_from(props.get(key)?.try_clone().ok()?).ok()
}

/// `read` of every unit, in the order given, by a few readers at once
/// over the one connection: each call mostly waits for the manager's
/// reply (100 units: 2 or 3 round trips each).
fn read_each<T: Send>(units: &[String], read: impl Fn(&str) -> Result<T> + Sync) -> Result<Vec<T>> {
    const READERS: usize = 4;
    let per_reader = units.len().div_ceil(READERS).max(1);
    let read = &read;
    std::thread::scope(|s| {
        let readers: Vec<_> = units
            .chunks(per_reader)
            .map(|chunk| s.spawn(move || chunk.iter().map(|u| read(u)).collect::<Result<Vec<_>>>()))
            .collect();
        let mut out = Vec::with_capacity(units.len());
        for r in readers {
            out.extend(r.join().map_err(|_| SystemdError::ReaderPanicked)??);
        }
        Ok(out)
    })
}

/// systemd on a D-Bus system bus.
pub struct DbusSystemd {
    conn: Connection,
    /// Object paths already learnt (from `ListUnitsByNames` or
    /// `LoadUnit`): a unit's path is fixed by its name, and asking for it
    /// again is one more round trip through the broker per unit.
    paths: std::sync::Mutex<std::collections::HashMap<String, OwnedObjectPath>>,
}

impl DbusSystemd {
    /// Connects to `address` (a D-Bus address such as
    /// `unix:path=/run/dbus/system_bus_socket`), or to the system bus, which
    /// honours `$DBUS_SYSTEM_BUS_ADDRESS`.
    pub fn connect(address: Option<&str>) -> Result<Self> {
        let conn = match address {
            Some(a) => zbus::blocking::connection::Builder::address(a)
                .and_then(zbus::blocking::connection::Builder::build)
                .map_err(|e| SystemdError::Bus {
                    address: a.to_owned(),
                    source: Box::new(e),
                })?,
            None => Connection::system().map_err(|e| SystemdError::SystemBus {
                source: Box::new(e),
            })?,
        };
        Ok(DbusSystemd {
            conn,
            paths: std::sync::Mutex::default(),
        })
    }

    pub fn manager(&self) -> Result<ManagerProxyBlocking<'_>> {
        ManagerProxyBlocking::builder(&self.conn)
            .cache_properties(CacheProperties::No)
            .build()
            .map_err(SystemdError::call("Manager", ""))
    }

    fn unit_path(&self, unit: &str) -> Result<OwnedObjectPath> {
        if let Some(p) = self.known_paths().get(unit) {
            return Ok(p.clone());
        }
        let path = self
            .manager()?
            .load_unit(unit)
            .map_err(SystemdError::call("LoadUnit", unit))?;
        self.known_paths().insert(unit.to_owned(), path.clone());
        Ok(path)
    }

    fn known_paths(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, OwnedObjectPath>> {
        // A reader that panicked left nothing half-written: a map insert.
        self.paths
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A proxy of type `P` for the object at `path`, reading properties
    /// afresh on every call (states change under us).
    fn at<'a, P>(&'a self, path: OwnedObjectPath) -> Result<P>
    where
        P: zbus::proxy::Defaults + From<zbus::Proxy<'a>>,
    {
        let on = path.to_string();
        zbus::blocking::proxy::Builder::<P>::new(&self.conn)
            .path(path)
            .and_then(|b| b.cache_properties(CacheProperties::No).build())
            .map_err(SystemdError::call("proxy", on))
    }

    fn service(&self, unit: &str) -> Result<ServiceProxyBlocking<'_>> {
        self.at(self.unit_path(unit)?)
    }

    /// The `ExecStart=` commands of a service as systemd parsed them.
    pub fn exec_start(&self, unit: &str) -> Result<Vec<ExecCommand>> {
        self.service(unit)?
            .exec_start()
            .map_err(SystemdError::call("ExecStart of", unit))
    }

    /// The standard Properties interface of one of systemd's objects, read
    /// afresh on every call.
    fn properties_at(
        &self,
        path: OwnedObjectPath,
    ) -> Result<zbus::blocking::fdo::PropertiesProxy<'_>> {
        let on = path.to_string();
        zbus::blocking::fdo::PropertiesProxy::builder(&self.conn)
            .destination("org.freedesktop.systemd1")
            .and_then(|b| b.path(path))
            .and_then(|b| b.cache_properties(CacheProperties::No).build())
            .map_err(SystemdError::call("Properties proxy", on))
    }

    /// Every property of `interface` of `unit` (at `path`).
    fn get_all(
        &self,
        unit: &str,
        path: &OwnedObjectPath,
        interface: &str,
    ) -> Result<std::collections::HashMap<String, zbus::zvariant::OwnedValue>> {
        let on = format!("{interface} of {unit}");
        let name = zbus::names::InterfaceName::try_from(interface.to_owned())
            .map_err(SystemdError::call("GetAll", &on))?;
        self.properties_at(path.clone())?
            .get_all(name)
            .map_err(SystemdError::call("GetAll", on))
    }

    /// Every property of one D-Bus interface of a unit (`Unit`, `Service`,
    /// `Timer`, …), as systemd parsed the unit file.
    pub fn properties(
        &self,
        unit: &str,
        interface: &str,
    ) -> Result<std::collections::HashMap<String, zbus::zvariant::OwnedValue>> {
        self.get_all(unit, &self.unit_path(unit)?, interface)
    }

    /// `MemoryMax=` of a service in bytes (`u64::MAX` when unlimited).
    pub fn memory_max(&self, unit: &str) -> Result<u64> {
        self.service(unit)?
            .memory_max()
            .map_err(SystemdError::call("MemoryMax of", unit))
    }
}

impl Systemd for DbusSystemd {
    fn unit_file(&self, unit: &str) -> Result<UnitFileInfo> {
        let u = self.get_all(
            unit,
            &self.unit_path(unit)?,
            "org.freedesktop.systemd1.Unit",
        )?;
        Ok(UnitFileInfo::from_props(&u))
    }

    fn release(&self) -> Result<u32> {
        let v = self
            .manager()?
            .version()
            .map_err(SystemdError::call("Version", ""))?;
        parse_release(&v).ok_or(SystemdError::Release { version: v })
    }

    fn reload(&self) -> Result<()> {
        self.manager()?
            .reload()
            .map_err(SystemdError::call("Reload", ""))
    }

    fn enable(&self, units: &[String]) -> Result<()> {
        let names: Vec<&str> = units.iter().map(String::as_str).collect();
        self.manager()?
            .enable_unit_files(&names, false, true)
            .map_err(SystemdError::call("EnableUnitFiles", names.join(" ")))?;
        Ok(())
    }

    fn disable(&self, units: &[String]) -> Result<()> {
        let names: Vec<&str> = units.iter().map(String::as_str).collect();
        self.manager()?
            .disable_unit_files(&names, false)
            .map_err(SystemdError::call("DisableUnitFiles", names.join(" ")))?;
        Ok(())
    }

    fn start(&self, unit: &str) -> Result<()> {
        self.manager()?
            .start_unit(unit, "replace")
            .map_err(SystemdError::call("StartUnit", unit))?;
        Ok(())
    }

    fn restart(&self, unit: &str) -> Result<()> {
        self.manager()?
            .restart_unit(unit, "replace")
            .map_err(SystemdError::call("RestartUnit", unit))?;
        Ok(())
    }

    fn stop(&self, unit: &str) -> Result<()> {
        self.manager()?
            .stop_unit(unit, "replace")
            .map_err(SystemdError::call("StopUnit", unit))?;
        Ok(())
    }

    fn state(&self, unit: &str) -> Result<UnitState> {
        Ok(self.snapshot(unit)?.0)
    }

    fn progress(&self, units: &[String]) -> Result<Vec<UnitState>> {
        // One call for every unit.
        let names: Vec<&str> = units.iter().map(String::as_str).collect();
        let listed = self
            .manager()?
            .list_units_by_names(&names)
            .map_err(SystemdError::call("ListUnitsByNames", names.join(" ")))?;
        // In the order asked for, by name: systemd skips names it rejects.
        let mut paths = self.known_paths();
        let mut by_name: std::collections::HashMap<String, UnitState> = listed
            .into_iter()
            .map(|(name, _, load, active, sub, _, path, job, _, _)| {
                paths.insert(name.clone(), path);
                let st = UnitState {
                    load,
                    active,
                    sub,
                    job_pending: job != 0,
                    ..UnitState::default()
                };
                (name, st)
            })
            .collect();
        drop(paths);
        Ok(units
            .iter()
            .map(|u| by_name.remove(u).unwrap_or_default())
            .collect())
    }

    fn main_process(&self, unit: &str) -> Result<MainProcess> {
        let props = self.properties_at(self.unit_path(unit)?)?;
        let get = |interface: &'static str, name: &str| {
            props.get(
                zbus::names::InterfaceName::from_static_str_unchecked(interface),
                name,
            )
        };
        let since = get("org.freedesktop.systemd1.Unit", "ActiveEnterTimestamp")
            .map_err(SystemdError::call("Get ActiveEnterTimestamp of", unit))?;
        let pid = get("org.freedesktop.systemd1.Service", "MainPID")
            .map_err(SystemdError::call("Get MainPID of", unit))?;
        Ok(MainProcess {
            pid: u32::try_from(pid).ok().filter(|&p| p != 0),
            active_since_us: u64::try_from(since).unwrap_or(0),
        })
    }

    fn snapshots(&self, units: &[String]) -> Result<Vec<(UnitState, UnitFileInfo)>> {
        read_each(units, |u| self.snapshot(u))
    }

    fn main_processes(&self, units: &[String]) -> Result<Vec<MainProcess>> {
        read_each(units, |u| self.main_process(u))
    }

    fn unit_files(&self, units: &[String]) -> Result<Vec<UnitFileInfo>> {
        read_each(units, |u| self.unit_file(u))
    }

    fn snapshot(&self, unit: &str) -> Result<(UnitState, UnitFileInfo)> {
        // One GetAll per interface: three round trips whatever is read.
        let path = self.unit_path(unit)?;
        let u = self.get_all(unit, &path, "org.freedesktop.systemd1.Unit")?;
        let file = UnitFileInfo::from_props(&u);
        let mut st = UnitState {
            load: prop(&u, "LoadState").unwrap_or_default(),
            active: prop(&u, "ActiveState").unwrap_or_default(),
            sub: prop(&u, "SubState").unwrap_or_default(),
            active_since_us: prop(&u, "ActiveEnterTimestamp").unwrap_or(0),
            // `Job` is (id, path); id 0 means none.
            job_pending: prop::<(u32, OwnedObjectPath)>(&u, "Job").is_some_and(|(id, _)| id != 0),
            ..UnitState::default()
        };
        if unit.ends_with(".service") {
            let s = self.get_all(unit, &path, "org.freedesktop.systemd1.Service")?;
            st.result = prop(&s, "Result").unwrap_or_default();
            st.exit_status = prop(&s, "ExecMainStatus");
            st.restarts = prop(&s, "NRestarts");
            st.main_pid = prop::<u32>(&s, "MainPID").filter(|&p| p != 0);
            // u64::MAX: not accounted.
            st.memory = prop::<u64>(&s, "MemoryCurrent").filter(|&m| m != u64::MAX);
        } else if unit.ends_with(".timer") {
            let t = self.get_all(unit, &path, "org.freedesktop.systemd1.Timer")?;
            st.result = prop(&t, "Result").unwrap_or_default();
        }
        Ok((st, file))
    }
}

/// `252.39-1~deb12u1` → 252, `v257.9` → 257.
fn parse_release(v: &str) -> Option<u32> {
    let digits: String = v
        .trim_start_matches('v')
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[cfg(test)]
mod release_tests {
    #[test]
    fn releases_are_the_leading_number() {
        assert_eq!(super::parse_release("252.39-1~deb12u1"), Some(252));
        assert_eq!(super::parse_release("257.9"), Some(257));
        assert_eq!(super::parse_release("v258"), Some(258));
        assert_eq!(super::parse_release("unknown"), None);
    }
}
