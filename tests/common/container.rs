//! A throw-away container with a real systemd (PID 1) and a real D-Bus,
//! booted with systemd-nspawn over the host's /usr (recipe and pitfalls:
//! ../shared/notes/real-systemd.md). Dropping it shuts it down and removes
//! its cgroups and state, also when the test panicked.

use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const CGROUP_ROOTS: [&str; 2] = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"];

/// The Debian 13 tree `tests/install-tools.sh` bootstraps (systemd 257):
/// `$WASMUNIT_DEBIAN13`, else ~/.cache/wasmunit-debian13/tree.
pub fn debian13_tree() -> PathBuf {
    let p = std::env::var_os("WASMUNIT_DEBIAN13").map_or_else(
        || {
            PathBuf::from(std::env::var_os("HOME").expect("HOME"))
                .join(".cache/wasmunit-debian13/tree")
        },
        PathBuf::from,
    );
    assert!(
        p.join("usr/lib/systemd/systemd").exists(),
        "{} is not a Debian 13 tree: run `bash tests/install-tools.sh`",
        p.display()
    );
    p
}

/// The Debian forky tree `tests/install-tools.sh` bootstraps (systemd
/// 262): `$WASMUNIT_DEBIAN_FORKY`, else ~/.cache/wasmunit-debian-forky/tree.
pub fn forky_tree() -> PathBuf {
    let p = std::env::var_os("WASMUNIT_DEBIAN_FORKY").map_or_else(
        || {
            PathBuf::from(std::env::var_os("HOME").expect("HOME"))
                .join(".cache/wasmunit-debian-forky/tree")
        },
        PathBuf::from,
    );
    assert!(
        p.join("usr/lib/systemd/systemd").exists(),
        "{} is not a Debian forky tree: run `bash tests/install-tools.sh`",
        p.display()
    );
    p
}

/// systemd 258 and newer refuse cgroup v1; these machines run a hybrid
/// hierarchy, and nspawn gives the container the unified one on request.
fn needs_unified_hierarchy(tree: &Path) -> bool {
    let Ok(os) = std::fs::read_to_string(tree.join("usr/lib/os-release")) else {
        return false;
    };
    // Debian forky/sid: no VERSION_ID, and their systemd is 262.
    !os.lines().any(|l| l.starts_with("VERSION_ID=")) && os.lines().any(|l| l == "ID=debian")
}

pub struct Container {
    pub name: String,
    state: tempfile::TempDir,
    nspawn: Child,
    leader: u32,
}

/// How many loop devices a node gets: the kernel hands out the lowest free
/// index, and systemd removes the devices it allocated when done.
const LOOP_DEVICES: u32 = 32;

/// `--bind=` for /dev/loop-control and /dev/loop0..31 (block 7:N), made
/// in `state`: the container's /dev is its own, and the host's devtmpfs
/// loses a node whenever systemd removes a loop device it allocated, so
/// binding the host's nodes would give a node nothing after a few runs.
/// Opening a node of a removed index creates that device again.
fn loop_device_args(state: &Path) -> Vec<String> {
    let dir = state.join("loop-devices");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mut args = vec!["--bind=/dev/loop-control".to_owned()];
    for n in 0..LOOP_DEVICES {
        let node = dir.join(format!("loop{n}"));
        let c = CString::new(node.as_os_str().as_encoded_bytes()).expect("path");
        // SAFETY: a valid C string; mknod has no other preconditions.
        let r = unsafe { libc::mknod(c.as_ptr(), libc::S_IFBLK | 0o660, libc::makedev(7, n)) };
        assert_eq!(
            r,
            0,
            "mknod {}: {}",
            node.display(),
            std::io::Error::last_os_error()
        );
        args.push(format!("--bind={}:/dev/loop{n}", node.display()));
    }
    args
}

fn random_hex32() -> String {
    let uuid = std::fs::read_to_string("/proc/sys/kernel/random/uuid").expect("uuid");
    uuid.trim().replace('-', "")
}

/// What of the kernel the container's manager gets beyond nspawn's
/// defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kernel {
    AsNspawnGives,
    /// /dev/loop-control and loop devices (sysext images).
    LoopDevices,
    /// `bpf()` (systemd's IP firewall).
    Bpf,
}

/// systemd-nspawn for `tree`: its cgroup hierarchy, its network, what of
/// the kernel it gets (state in `s`).
fn nspawn(tree: &Path, kernel: Kernel, netns: Option<&Path>, s: &Path) -> Command {
    let mut cmd = Command::new("systemd-nspawn");
    if needs_unified_hierarchy(tree) {
        cmd.env("SYSTEMD_NSPAWN_UNIFIED_HIERARCHY", "1");
    }
    match netns {
        None => cmd.arg("--private-network"),
        Some(ns) => cmd.arg(format!("--network-namespace-path={}", ns.display())),
    };
    match kernel {
        Kernel::AsNspawnGives => {}
        Kernel::LoopDevices => {
            cmd.args(loop_device_args(s));
        }
        Kernel::Bpf => {
            cmd.env("SYSTEMD_SECCOMP", "0");
        }
    }
    cmd
}

impl Container {
    /// Boots a container over the host's /usr (systemd 252) with `wasmtime`
    /// as its /usr/bin/wasmtime (as the sysext would provide it) and waits
    /// until systemd reports `running`.
    pub fn boot(wasmtime: &Path) -> Container {
        Self::boot_tree(Path::new("/"), wasmtime)
    }

    /// [`Self::boot`] with the host's loop devices, so units can mount
    /// images (`ExtensionImages=`) as on a real node.
    pub fn boot_with_loop_devices(wasmtime: &Path) -> Container {
        Self::spawn(Path::new("/"), Some(wasmtime), None, Kernel::LoopDevices)
    }

    /// The same over the /usr of another OS tree (the Debian 13 tree of
    /// [`debian13_tree`]: systemd 257, as Flatcar stable ships).
    pub fn boot_tree(tree: &Path, wasmtime: &Path) -> Container {
        Self::spawn(tree, Some(wasmtime), None, Kernel::AsNspawnGives)
    }

    /// A node's first boot: `root` is what `ignition-apply --root` laid
    /// down; its /etc, /var and /opt are the container's, there is no
    /// machine-id (so systemd applies the presets Ignition wrote), and
    /// wasmtime arrives only through the sysext ROOT/etc/extensions selects.
    pub fn first_boot(tree: &Path, root: &Path) -> Container {
        Self::spawn(tree, None, Some(root), Kernel::AsNspawnGives)
    }

    /// [`Self::first_boot`] with the host's loop devices, so the node can
    /// merge sysext images (`*.raw`) as a real node does.
    pub fn first_boot_with_loop_devices(tree: &Path, root: &Path) -> Container {
        Self::spawn(tree, None, Some(root), Kernel::LoopDevices)
    }

    /// [`Self::first_boot_with_loop_devices`] in the network namespace at
    /// `netns` (made and served from before the boot; e.g. `ip netns add`)
    /// instead of a private one of its own.
    pub fn first_boot_in_netns(tree: &Path, root: &Path, netns: &Path) -> Container {
        Self::spawn_in(tree, None, Some(root), Kernel::LoopDevices, Some(netns))
    }

    /// [`Self::first_boot`] where the manager may load BPF programs, as on
    /// a node: nspawn's own seccomp filter refuses `bpf()` to everything in
    /// the container, so `IPAddressDeny=` would silently filter nothing
    /// (measured: an allow-listed app reached every address).
    /// `SYSTEMD_SECCOMP=0` lifts nspawn's filter; the units' own
    /// `SystemCallFilter=` still applies.
    pub fn first_boot_with_bpf(tree: &Path, root: &Path) -> Container {
        Self::spawn(tree, None, Some(root), Kernel::Bpf)
    }

    fn spawn(
        tree: &Path,
        wasmtime: Option<&Path>,
        node_root: Option<&Path>,
        kernel: Kernel,
    ) -> Container {
        Self::spawn_in(tree, wasmtime, node_root, kernel, None)
    }

    fn spawn_in(
        tree: &Path,
        wasmtime: Option<&Path>,
        node_root: Option<&Path>,
        kernel: Kernel,
        netns: Option<&Path>,
    ) -> Container {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "wu-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let state = state_dir(wasmtime);
        let s = state.path();
        let procs = own_cgroups(&name);
        let log = std::fs::File::create(s.join("log")).expect("log");
        let mut cmd = nspawn(tree, kernel, netns, s);
        cmd.arg(format!("--directory={}", tree.display()))
            .arg("--volatile=yes")
            .arg("--boot")
            .arg("--register=no")
            .arg("--keep-unit")
            .arg("--console=passive")
            .arg(format!("--machine={name}"))
            .arg(format!("--bind={}:/run/dbus", s.join("dbus").display()));
        match node_root {
            None => {
                cmd.arg(format!(
                    "--bind-ro={}:/etc/machine-id",
                    s.join("machine-id").display()
                ))
                .arg(format!(
                    "--bind={}:/etc/systemd/system",
                    s.join("units").display()
                ))
                .arg(format!(
                    // The lower layer is the tree's own /usr/bin (a host path).
                    "--overlay-ro={}:{}:/usr/bin",
                    tree.join("usr/bin").display(),
                    s.join("extra-bin").display()
                ))
                .arg("--")
                .arg("systemd.firstboot=no")
                .arg("systemd.mask=systemd-machine-id-commit.service");
            }
            Some(root) => {
                cmd.args(node_root_binds(root));
                cmd.arg("--").arg("systemd.firstboot=no");
            }
        }
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        // SAFETY: only async-signal-safe calls (setsid, open, write, close)
        // on memory prepared before the fork.
        unsafe {
            cmd.pre_exec(move || {
                libc::setsid();
                for p in &procs {
                    let fd = libc::open(p.as_ptr(), libc::O_WRONLY);
                    if fd >= 0 {
                        libc::write(fd, b"0".as_ptr().cast(), 1);
                        libc::close(fd);
                    }
                }
                Ok(())
            });
        }
        let nspawn = cmd
            .spawn()
            .expect("systemd-nspawn (apt-get install systemd-container)");
        let mut c = Container {
            name,
            state,
            nspawn,
            leader: 0,
        };
        c.wait_running();
        c
    }

    fn wait_running(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(st)) = self.nspawn.try_wait() {
                panic!("systemd-nspawn exited ({st}):\n{}", self.log());
            }
            // The container's PID 1 is the nspawn child running `systemd`
            // (nspawn forks short-lived helpers first).
            let children = format!("/proc/{0}/task/{0}/children", self.nspawn.id());
            self.leader = std::fs::read_to_string(children)
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok())
                .find(|pid| {
                    std::fs::read_to_string(format!("/proc/{pid}/comm"))
                        .is_ok_and(|c| c.trim() == "systemd")
                })
                .unwrap_or(0);
            if self.leader != 0 && self.state.path().join("dbus/system_bus_socket").exists() {
                if let Ok(sd) =
                    wasmunit::deploy::dbus::DbusSystemd::connect(Some(&self.bus_address()))
                {
                    if let Some(state) = sd.manager().ok().and_then(|m| m.system_state().ok()) {
                        if state == "running" {
                            return;
                        }
                        assert_ne!(
                            state,
                            "degraded",
                            "container booted degraded:\n{}",
                            self.log()
                        );
                    }
                }
            }
            if Instant::now() >= deadline {
                let jobs = if self.leader == 0 {
                    String::new()
                } else {
                    let o = self.exec(&["sh", "-c", "systemctl list-jobs --no-pager; networkctl --no-pager list; ls /etc/systemd/network; journalctl -b -u systemd-networkd --no-pager | tail -20"]);
                    String::from_utf8_lossy(&o.stdout).into_owned()
                };
                panic!(
                    "container did not boot in 60 s:\n{}\njobs:\n{jobs}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.state.path().join("log")).unwrap_or_default()
    }

    /// D-Bus address of the container's system bus, reachable from the host.
    pub fn bus_address(&self) -> String {
        format!(
            "unix:path={}",
            self.state.path().join("dbus/system_bus_socket").display()
        )
    }

    pub fn systemd(&self) -> wasmunit::deploy::dbus::DbusSystemd {
        wasmunit::deploy::dbus::DbusSystemd::connect(Some(&self.bus_address())).expect("connect")
    }

    /// The folder the container sees as /etc/systemd/system.
    pub fn unit_dir(&self) -> PathBuf {
        self.state.path().join("units")
    }

    /// The container's root file system, as seen from the host.
    pub fn root(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root", self.leader))
    }

    /// Runs a command inside the container.
    /// `USER:GROUP MODE` of each path inside the node, one line each.
    pub fn owner_and_mode(&self, paths: &[&str]) -> String {
        let mut args = vec!["stat", "-c", "%U:%G %a"];
        args.extend_from_slice(paths);
        let o = self.exec(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// SHA-256 of the binary process `pid` executes, read through
    /// /proc/PID/exe inside the node: the image it was started from,
    /// merged or not.
    pub fn exe_sha256(&self, pid: u32) -> String {
        let o = self.exec(&["sha256sum", &format!("/proc/{pid}/exe")]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .next()
            .expect("digest")
            .to_owned()
    }

    /// The container's init (PID 1 inside), as the host sees it: its
    /// namespaces are the node's.
    pub fn leader(&self) -> u32 {
        self.leader
    }

    pub fn exec(&self, args: &[&str]) -> Output {
        Command::new("nsenter")
            .arg(format!("--target={}", self.leader))
            .arg("--all")
            // The container's root and its own binaries, not the host's.
            .args(["--root", "--wd"])
            .arg("--")
            .args(args)
            .output()
            .expect("nsenter")
    }

    /// The messages a unit's processes wrote (`journalctl -u UNIT -o cat`).
    pub fn journal(&self, unit: &str) -> String {
        let o = self.exec(&["journalctl", "--no-pager", "-o", "cat", "-u", unit]);
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Polls a unit's state until `done` holds or `timeout` passes; the
    /// last state read.
    pub fn wait_state(
        &self,
        unit: &str,
        timeout: Duration,
        done: impl Fn(&wasmunit::deploy::dbus::UnitState) -> bool,
    ) -> wasmunit::deploy::dbus::UnitState {
        use wasmunit::deploy::dbus::Systemd as _;
        let mut last = wasmunit::deploy::dbus::UnitState::default();
        self.wait_for(timeout, || {
            last = self.systemd().state(unit).expect("unit state");
            done(&last)
        });
        last
    }

    /// Waits until `f` holds or `timeout` passes; returns whether it held.
    #[allow(clippy::unused_self)] // read as `container.wait_for(…)` in tests
    pub fn wait_for(&self, timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if f() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        f()
    }
}

/// Binds for every top-level folder Ignition laid down in a node's root
/// (/etc, /var, /srv, /home, …); /usr is the OS's.
fn node_root_binds(root: &Path) -> Vec<String> {
    for d in ["etc", "var", "opt"] {
        std::fs::create_dir_all(root.join(d)).expect("node folder");
    }
    let mut tops: Vec<String> = std::fs::read_dir(root)
        .expect("node root")
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|d| d != "usr")
        .collect();
    tops.sort();
    tops.iter()
        .map(|d| format!("--bind={}:/{d}", root.join(d).display()))
        .collect()
}

impl Drop for Container {
    fn drop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(
                libc::pid_t::try_from(self.nspawn.id()).unwrap_or(0),
                libc::SIGTERM,
            );
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.nspawn.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Ok(None) = self.nspawn.try_wait() {
            let _ = self.nspawn.kill();
            let _ = self.nspawn.wait();
        }
        for root in CGROUP_ROOTS {
            remove_cgroup_tree(&Path::new(root).join(&self.name));
        }
    }
}

/// Cgroup folders are removed leaves first; their files are not removable.
fn remove_cgroup_tree(dir: &Path) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup_tree(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// The container's state folder: unit, D-Bus and extra-bin folders, a
/// machine-id, and the wasmtime to overlay onto /usr/bin.
fn state_dir(wasmtime: Option<&Path>) -> tempfile::TempDir {
    let state = tempfile::Builder::new()
        .prefix("wasmunit-ct-")
        .tempdir()
        .expect("state dir");
    let s = state.path();
    for d in ["units", "dbus", "extra-bin"] {
        std::fs::create_dir_all(s.join(d)).expect("mkdir");
    }
    std::fs::write(s.join("machine-id"), format!("{}\n", random_hex32())).expect("machine-id");
    if let Some(wasmtime) = wasmtime {
        std::fs::hard_link(wasmtime, s.join("extra-bin/wasmtime"))
            .or_else(|_| std::fs::copy(wasmtime, s.join("extra-bin/wasmtime")).map(|_| ()))
            .expect("wasmtime into extra-bin");
    }
    state
}

/// nspawn must not put its cgroups into the host's root cgroup: the
/// `cgroup.procs` files of a cgroup of its own, which the child joins
/// before exec.
fn own_cgroups(name: &str) -> Vec<CString> {
    let mut procs = Vec::new();
    for root in CGROUP_ROOTS {
        let dir = Path::new(root).join(name);
        if Path::new(root).exists() {
            std::fs::create_dir_all(&dir).expect("cgroup dir");
            procs.push(
                CString::new(
                    dir.join("cgroup.procs")
                        .into_os_string()
                        .into_encoded_bytes(),
                )
                .expect("path"),
            );
        }
    }
    procs
}

/// `unit` once it settled, and not between two automatic restarts.
pub fn settled(c: &Container, unit: &str) -> wasmunit::deploy::dbus::UnitState {
    c.wait_state(unit, Duration::from_secs(30), |s| {
        s.is_settled() && s.sub != "auto-restart"
    })
}
