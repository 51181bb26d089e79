//! Benchmark: `wasmunit apply` of 100 long-running apps to a real systemd
//! manager (PID 1 in a container, as in tests/live_host.rs), then a re-apply
//! with one changed module, then a repeat apply with no change. Prints the
//! wall time of each. Goals (issue 9): under 5 s and under 1 s.
//! `cargo bench --bench live_apply` (needs root and `bash tests/install-tools.sh`).

use std::fmt::Write as _;
use std::process::Command;
use std::time::Instant;

#[path = "../tests/common/mod.rs"]
mod common;

const FOREVER: &str = include_str!("../tests/fixtures/forever.wat");

fn variant(tag: &str) -> String {
    FOREVER.replace(
        "(data (i32.const 200) \"up\\n\")",
        &format!("(data (i32.const 200) \"up\\n\") (data (i32.const 400) \"{tag}\")"),
    )
}

fn main() {
    let c = common::container::Container::boot(&common::require_wasmtime_cli());
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(dir.path().join("modules")).expect("mkdir");
    let mut toml = String::from("version = 1\n\n");
    for i in 0..100 {
        std::fs::write(
            dir.path().join(format!("modules/m{i}.wat")),
            variant(&format!("m{i}")),
        )
        .expect("module");
        let _ = write!(toml, "[app.a{i}]\nmodule = \"modules/m{i}.wat\"\n\n");
    }
    let manifest = dir.path().join("apps.toml");
    std::fs::write(&manifest, toml).expect("manifest");
    let run = |cmd: &str| {
        let start = Instant::now();
        let o = Command::new(env!("CARGO_BIN_EXE_wasmunit"))
            .arg(cmd)
            .arg(&manifest)
            .arg("--root")
            .arg(c.root())
            .env("DBUS_SYSTEM_BUS_ADDRESS", c.bus_address())
            .env("WASMUNIT_CACHE_DIR", dir.path().join("cache"))
            .output()
            .expect("apply");
        assert!(
            o.status.code() == Some(0) || cmd == "diff",
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        start.elapsed().as_secs_f64()
    };
    let apply = || run("apply");
    let plan_only = run("diff");
    let first = apply();
    std::fs::write(dir.path().join("modules/m7.wat"), variant("m7-v2")).expect("module");
    let one = apply();
    let repeat = apply();
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
