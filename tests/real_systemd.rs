//! The rendered units under a real systemd manager (PID 1 in a throw-away
//! container, talking D-Bus) with the real wasmtime 31.0.0 CLI as its
//! /usr/bin/wasmtime: every unit runs with its default hardening.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::container::Container;
use wasmunit::deploy::systemd::{Systemd, UnitState};

mod common;

fn boot() -> Container {
    Container::boot(&common::require_wasmtime_cli())
}

/// `wasmunit apply MANIFEST --root <container root>` on the container's bus.
fn apply(c: &Container, manifest: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_wasmunit"))
        .arg("apply")
        .arg(manifest)
        .arg("--root")
        .arg(c.root())
        .args(extra)
        .env("DBUS_SYSTEM_BUS_ADDRESS", c.bus_address())
        .output()
        .expect("run wasmunit apply")
}

fn state(c: &Container, unit: &str) -> UnitState {
    c.systemd().state(unit).expect("unit state")
}

/// Waits for a service to finish and returns its final state.
fn finished(c: &Container, unit: &str) -> UnitState {
    let mut last = UnitState::default();
    c.wait_for(Duration::from_secs(20), || {
        last = state(c, unit);
        matches!(last.active.as_str(), "inactive" | "failed")
    });
    last
}

fn write_in(c: &Container, path: &str, text: &str) {
    let p = c.root().join(path.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir in container");
    std::fs::write(p, text).expect("write in container");
}

#[test]
fn the_example_runs_under_real_systemd_with_its_hardening() {
    let c = boot();
    write_in(&c, "/etc/wasmunit/files/in.txt", "from the host\n");
    let out = apply(&c, &common::repo().join("examples/apps.toml"), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "apply failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A preview1 command: ran, printed its literal arguments, exited 0.
    let hello = finished(&c, "wasm-hello.service");
    assert_eq!(
        (
            hello.active.as_str(),
            hello.result.as_str(),
            hello.exit_status
        ),
        ("inactive", "success", Some(0)),
        "{}",
        c.journal("wasm-hello.service")
    );
    assert!(
        c.journal("wasm-hello.service")
            .contains("hello from wasm: --name world 100% $literal hi\n"),
        "{}",
        c.journal("wasm-hello.service")
    );

    // Granted folders: the read-only one reads but refuses writes, the
    // read-write StateDirectory takes them.
    let files = finished(&c, "wasm-files.service");
    let journal = c.journal("wasm-files.service");
    assert_eq!(
        (files.result.as_str(), files.exit_status),
        ("success", Some(0)),
        "{journal}"
    );
    assert!(journal.contains("read from the host\n"), "{journal}");
    assert!(journal.contains("write-rw 0\n"), "{journal}");
    // systemd's ReadOnlyPaths= holds: the write fails (wasmtime 31 reports
    // the kernel's EROFS as WASI errno 29, EIO) and no file appears.
    let ro = journal
        .lines()
        .find_map(|l| l.strip_prefix("write-ro "))
        .expect("write-ro line");
    assert_ne!(ro, "0", "{journal}");
    assert!(!c.root().join("etc/wasmunit/files/denied.txt").exists());
    assert_eq!(
        std::fs::read_to_string(c.root().join("var/lib/private/files-app/out.txt"))
            .expect("out.txt"),
        "written by wasm\n"
    );

    // The scheduled app waits for its timer; the group target is up.
    assert_eq!(state(&c, "wasm-report.timer").active, "active");
    assert_eq!(state(&c, "wasmunit.target").active, "active");
    assert!(stdout.contains("wasm-hello.service"), "{stdout}");
}
