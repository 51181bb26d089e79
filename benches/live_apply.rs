//! Benchmark: `wasmunit apply` of 100 long-running apps to a real systemd
//! manager (PID 1 in a container, as in tests/all/live_host.rs) against the
//! floor of placing the same rendered units by hand on the same manager
//! (files copied, one `systemctl daemon-reload`, `systemctl enable`,
//! `systemctl start wasmunit.target`, until all 100 services run).
//! Prints each pair and the median of the pairwise ratios (issue 22: at
//! most 1.15), then a re-apply with one changed module and a repeat apply
//! with no change.
//! `cargo bench --bench live_apply` (needs root and `bash tests/install-tools.sh`).

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use wasmunit::deploy::dbus::Systemd as _;

#[path = "../tests/common/mod.rs"]
mod common;

use common::container::Container;

const FOREVER: &str = include_str!("../tests/fixtures/forever.wat");
const APPS: usize = 100;
const PAIRS: usize = 7;

fn variant(tag: &str) -> String {
    FOREVER.replace(
        "(data (i32.const 200) \"up\\n\")",
        &format!("(data (i32.const 200) \"up\\n\") (data (i32.const 400) \"{tag}\")"),
    )
}

struct Bench {
    c: Container,
    dir: tempfile::TempDir,
}

impl Bench {
    fn manifest(&self) -> std::path::PathBuf {
        self.dir.path().join("apps.toml")
    }

    fn wasmunit(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_wasmunit"))
            .args(args)
            .env("DBUS_SYSTEM_BUS_ADDRESS", self.c.bus_address())
            .env("WASMUNIT_CACHE_DIR", self.dir.path().join("cache"))
            .output()
            .expect("wasmunit")
    }

    /// `wasmunit CMD apps.toml --root ROOT`, timed; must succeed unless `diff`.
    fn run(&self, cmd: &str) -> f64 {
        let start = Instant::now();
        let root = self.c.root();
        let manifest = self.manifest();
        let o = self.wasmunit(&[
            cmd,
            manifest.to_str().expect("utf-8"),
            "--root",
            root.to_str().expect("utf-8"),
        ]);
        assert!(
            o.status.code() == Some(0) || cmd == "diff",
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        start.elapsed().as_secs_f64()
    }

    fn remove_all(&self) {
        let root = self.c.root();
        let o = self.wasmunit(&["remove", "--all", "--root", root.to_str().expect("utf-8")]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    fn systemctl(&self, args: &[&str]) {
        let mut all = vec!["systemctl"];
        all.extend_from_slice(args);
        let o = self.c.exec(&all);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    /// Polls (every 20 ms) until every service runs.
    fn wait_all_running(&self, services: &[String]) {
        let sd = self.c.systemd();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let states = sd.progress(services).expect("states");
            if states.iter().all(|s| s.sub == "running") {
                return;
            }
            assert!(Instant::now() < deadline, "services did not all start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The floor: the rendered files (`staged`: units, modules, follow
    /// script, as apply would lay them out) copied into the root, then
    /// systemd's own commands; timed until every service runs.
    fn by_hand(&self, staged: &Path, units: &[String], services: &[String]) -> f64 {
        let start = Instant::now();
        let root = self.c.root();
        for file in staged_files(staged) {
            std::fs::copy(staged.join(&file), root.join(&file)).expect("copy");
        }
        self.systemctl(&["daemon-reload"]);
        let mut enable = vec!["enable"];
        enable.extend(units.iter().map(String::as_str));
        self.systemctl(&enable);
        self.systemctl(&["start", "wasmunit.target"]);
        self.wait_all_running(services);
        let took = start.elapsed().as_secs_f64();
        // Undone the same way, untimed.
        self.systemctl(&["stop", "wasmunit.target"]);
        let mut disable = vec!["disable"];
        disable.extend(units.iter().map(String::as_str));
        self.systemctl(&disable);
        for file in staged_files(staged) {
            std::fs::remove_file(root.join(&file)).expect("rm");
        }
        self.systemctl(&["daemon-reload"]);
        took
    }
}

/// What a first apply lays down below the root (unit files, modules, the
/// follow script), copied out of the node after a real apply: exactly the
/// files the hand placement copies back in.
fn stage(b: &Bench) -> (tempfile::TempDir, Vec<String>) {
    b.run("apply");
    let staged = tempfile::tempdir().expect("tmp");
    let root = b.c.root();
    let mut units = Vec::new();
    for dir in ["etc/systemd/system", "var/lib/wasmunit/modules"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        std::fs::create_dir_all(staged.path().join(dir)).expect("mkdir");
        for e in entries {
            let e = e.expect("entry");
            let name = e.file_name().into_string().expect("utf-8");
            let owned = dir != "etc/systemd/system"
                || name.starts_with("wasm-")
                || name.starts_with("wasmunit");
            if !owned || !e.file_type().expect("type").is_file() {
                continue;
            }
            std::fs::copy(e.path(), staged.path().join(dir).join(&name)).expect("copy");
            if dir == "etc/systemd/system" {
                units.push(name);
            }
        }
    }
    b.remove_all();
    units.sort();
    (staged, units)
}

/// Every file below `staged`, relative to it.
fn staged_files(staged: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for dir in ["etc/systemd/system", "var/lib/wasmunit/modules"] {
        for e in std::fs::read_dir(staged.join(dir)).expect("staged") {
            files.push(Path::new(dir).join(e.expect("entry").file_name()));
        }
    }
    files
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let c = Container::boot(&common::require_wasmtime_cli());
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(dir.path().join("modules")).expect("mkdir");
    let mut toml = String::from("version = 1\n\n");
    for i in 0..APPS {
        std::fs::write(
            dir.path().join(format!("modules/m{i}.wat")),
            variant(&format!("m{i}")),
        )
        .expect("module");
        let _ = write!(toml, "[app.a{i}]\nmodule = \"modules/m{i}.wat\"\n\n");
    }
    let b = Bench { c, dir };
    std::fs::write(b.manifest(), toml).expect("manifest");
    let plan_only = b.run("diff");
    let (staged, units) = stage(&b);
    let services: Vec<String> = units
        .iter()
        .filter(|u| u.starts_with("wasm-") && u.ends_with(".service"))
        .cloned()
        .collect();
    assert_eq!(services.len(), APPS, "{units:?}");

    println!(
        "{:<6} {:>10} {:>10} {:>7}   (first apply of {APPS} apps vs by hand, real systemd 252)",
        "pair", "hand s", "apply s", "ratio"
    );
    let mut ratios = Vec::new();
    let (mut hands, mut applies) = (Vec::new(), Vec::new());
    for pair in 0..PAIRS {
        // Alternate which goes first, so neither always meets a warmer node.
        let apply_first = || {
            let t = b.run("apply");
            b.remove_all();
            t
        };
        let (hand, apply) = if pair % 2 == 0 {
            let h = b.by_hand(staged.path(), &units, &services);
            (h, apply_first())
        } else {
            let a = apply_first();
            (b.by_hand(staged.path(), &units, &services), a)
        };
        println!("{pair:<6} {hand:>10.2} {apply:>10.2} {:>7.3}", apply / hand);
        ratios.push(apply / hand);
        hands.push(hand);
        applies.push(apply);
    }
    let (lo, hi) = ratios
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
    println!(
        "median {:>10.2} {:>10.2} {:>7.3}   median of the pairwise ratios (min {lo:.3}, max {hi:.3}; goal <= 1.15)",
        median(hands),
        median(applies),
        median(ratios)
    );

    let first = b.run("apply");
    std::fs::write(b.dir.path().join("modules/m7.wat"), variant("m7-v2")).expect("module");
    let one = b.run("apply");
    let repeat = b.run("apply");
    println!();
    println!(
        "{:<44} {:>8}",
        "live apply (100 apps, real systemd 252)", "seconds"
    );
    println!(
        "{:<44} {:>8.2}",
        "diff before it (check 100 modules, plan)", plan_only
    );
    println!(
        "{:<44} {:>8.2}",
        "first apply (all new, started, settled)", first
    );
    println!("{:<44} {:>8.2}", "re-apply, one module changed", one);
    println!("{:<44} {:>8.2}", "repeat apply, nothing changed", repeat);
}
