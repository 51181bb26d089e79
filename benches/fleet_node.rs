//! Benchmark: how long a fleet node takes to run a new bundle. A node (a
//! real systemd in systemd-nspawn, provisioned by Butane and Ignition from
//! `wasmunit fleet`'s fragment, the real systemd-sysupdate and
//! systemd-pull) runs version 1 of N long-running apps; version 2 changes
//! half of them. Measured from the start of the node's own pull
//! (`systemctl start wasmunit-fleet-update.service`) until every changed
//! app runs its new process (and, apart, until the reconciler has judged
//! them: `--survive 2`). Also: first boot until version 1 runs.
//! `cargo bench --bench fleet_node` (needs root and `bash tests/install-tools.sh`).
#![allow(clippy::cast_precision_loss)] // timings, far from the limits

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

#[path = "../tests/common/mod.rs"]
mod common;

use common::container::Container;
use common::fleet_node::{install_os_sysupdate, pid, publish, reconciled, ServedNetns};

const SURVIVE: &str = "2";

/// A manifest of `apps` long-running apps; `changed` of them print
/// another word than in version 1.
fn manifest(dir: &Path, apps: usize, changed: usize) -> std::path::PathBuf {
    let names: Vec<(String, String)> = (0..apps)
        .map(|i| {
            let word = if i < changed {
                format!("{}", (b'a' + u8::try_from(i % 26).unwrap_or(0)) as char).repeat(2)
            } else {
                format!("{:02}", i % 100)
            };
            (format!("app{i}"), word)
        })
        .collect();
    let pairs: Vec<(&str, &str)> = names
        .iter()
        .map(|(a, w)| (a.as_str(), w.as_str()))
        .collect();
    common::fleet_node::write_manifest(dir, &pairs, false)
}

fn one(tree: &Path, apps: usize) -> (f64, f64, f64) {
    let work = tempfile::tempdir().expect("tmp");
    let w = work.path();
    let (site, home) = (w.join("site"), w.join("gnupg"));
    let key = common::gpg_key(&home, "fleet");
    publish(&manifest(&w.join("v1"), apps, 0), "1", &site, &home, &key);
    let exported = Command::new("gpg")
        .env("GNUPGHOME", &home)
        .args(["--export", &key])
        .output()
        .expect("gpg --export");
    std::fs::write(w.join("fleet.gpg"), exported.stdout).expect("key");
    let frag = w.join("fleet");
    let o = Command::new(env!("CARGO_BIN_EXE_wasmunit"))
        .args([
            "fleet",
            "--url",
            "http://127.0.0.1:8080/",
            "--survive",
            SURVIVE,
        ])
        .arg("--public-key")
        .arg(w.join("fleet.gpg"))
        .arg("--out")
        .arg(&frag)
        .output()
        .expect("wasmunit fleet");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let root =
        common::node::provision_fragment(&frag.join("butane.yaml"), &frag, &w.join("node"), &[]);
    common::node::install_sysext(
        &root,
        tree,
        &common::installed_tool("wasmtime-official-49.0.4/wasmtime"),
    );
    install_os_sysupdate(&root, tree);
    let served = ServedNetns::new(&site);
    let boot = Instant::now();
    let c = Container::first_boot_in_netns(tree, &root, &served.path());
    reconciled(&c, "running bundle 1;");
    let first_boot = boot.elapsed().as_secs_f64();

    let changed = apps / 2;
    let before: Vec<u32> = (0..changed)
        .map(|i| pid(&c, &format!("wasm-app{i}.service")))
        .collect();
    publish(
        &manifest(&w.join("v2"), apps, changed),
        "2",
        &site,
        &home,
        &key,
    );
    let (running, judged) = until_changed_run(&c, changed, &before);
    (first_boot, running, judged)
}

/// From the node's pull until the `changed` first apps run new processes
/// (not `before`), and until the pull (with the reconciler) is done.
fn until_changed_run(c: &Container, changed: usize, before: &[u32]) -> (f64, f64) {
    let start = Instant::now();
    std::thread::scope(|s| {
        let pulled = s.spawn(|| {
            c.exec(&["systemctl", "start", "wasmunit-fleet-update.service"])
                .status
                .success()
        });
        let all_new = c.wait_for(Duration::from_secs(300), || {
            (0..changed).all(|i| {
                let o = c.exec(&[
                    "systemctl",
                    "show",
                    "-p",
                    "MainPID",
                    "--value",
                    &format!("wasm-app{i}.service"),
                ]);
                let now: u32 = String::from_utf8_lossy(&o.stdout)
                    .trim()
                    .parse()
                    .unwrap_or(0);
                now != 0 && now != before[i]
            })
        });
        let running = start.elapsed().as_secs_f64();
        assert!(all_new, "the changed apps did not restart");
        assert!(
            pulled.join().expect("pull"),
            "{}",
            c.journal("wasmunit-fleet-update.service")
        );
        let judged = start.elapsed().as_secs_f64();
        (running, judged)
    })
}

fn main() {
    let trees = [
        ("257", common::container::debian13_tree()),
        ("262", common::container::forky_tree()),
    ];
    println!("| systemd | apps (changed) | first boot → v1 runs | pull start → changed apps run v2 | → v2 judged (--survive {SURVIVE}) |");
    println!("|---|---:|---:|---:|---:|");
    for (release, tree) in &trees {
        for apps in [10, 100] {
            let (boot, running, judged) = one(tree, apps);
            println!(
                "| {release} | {apps} ({}) | {boot:.1} s | {running:.1} s | {judged:.1} s |",
                apps / 2
            );
        }
    }
}
