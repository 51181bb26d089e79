//! Benchmark: `wasmunit bundle` of generated manifests of 10 and 1,000
//! apps (each with its own module, as a fleet's apps are) with the real
//! binary: wall time (best of 3), the image's size, and whether a second
//! run gives the same bytes. `cargo bench --bench bundle_scale`.
//! The node side (a pull until the changed apps run) is measured by
//! `cargo test --test all first_boot::bundles` in its journal and
//! documented in docs/fleet.md.
#![allow(clippy::cast_precision_loss)] // sizes and timings, far from the limits

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// `apps` long-running apps, each with a module of its own (a WAT that
/// differs in one data byte string).
fn write_manifest(dir: &Path, apps: usize) -> std::path::PathBuf {
    let modules = dir.join("modules");
    std::fs::create_dir_all(&modules).expect("mkdir");
    let wat = include_str!("../tests/fixtures/forever.wat");
    let mut toml = String::from("version = 1\n");
    for i in 0..apps {
        let m = wat.replace("\"up\\n\"", &format!("\"{i:>2}\\n\"").replace(' ', "0"));
        let m = m.replace(
            "(memory (export \"memory\") 1)",
            &format!("(memory (export \"memory\") 1)\n  (global i32 (i32.const {i}))"),
        );
        std::fs::write(modules.join(format!("m{i}.wat")), m).expect("module");
        let _ = writeln!(
            toml,
            "[app.app{i}]\nmodule = \"modules/m{i}.wat\"\nargs = [\"--id\", \"{i}\"]"
        );
    }
    let path = dir.join("apps.toml");
    std::fs::write(&path, toml).expect("manifest");
    path
}

fn bundle(bin: &str, manifest: &Path, site: &Path, version: &str) -> f64 {
    let start = Instant::now();
    let o = Command::new(bin)
        .arg("bundle")
        .arg(manifest)
        .args(["--version", version, "--out"])
        .arg(site)
        .output()
        .expect("wasmunit bundle");
    let secs = start.elapsed().as_secs_f64();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    secs
}

fn main() {
    let bin = env!("CARGO_BIN_EXE_wasmunit");
    let scratch = tempfile::tempdir().expect("tmp");
    println!("| apps | bundle (best of 3) | image | per app | same bytes twice |");
    println!("|---:|---:|---:|---:|:---:|");
    for apps in [10, 1000] {
        let dir = scratch.path().join(format!("m{apps}"));
        let manifest = write_manifest(&dir, apps);
        let mut best = f64::MAX;
        let mut images = Vec::new();
        for run in 0..3 {
            let site = dir.join(format!("site{run}"));
            best = best.min(bundle(bin, &manifest, &site, "1"));
            images.push(std::fs::read(site.join("wasmunit-apps_1_x86-64.raw")).expect("image"));
        }
        let same = images.windows(2).all(|w| w[0] == w[1]);
        let size = images[0].len();
        println!(
            "| {apps} | {best:.2} s | {:.1} KiB | {:.1} ms, {} B | {} |",
            size as f64 / 1024.0,
            best * 1000.0 / apps as f64,
            size / apps,
            if same { "yes" } else { "NO" }
        );
    }
}
