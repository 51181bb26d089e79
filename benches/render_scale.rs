//! Benchmark: render generated manifests of 1, 100, 1,000 and 10,000 apps
//! with the real binary (to stdout, then `--out` into a fresh folder) and
//! print wall time (best of 5), peak memory (max RSS from wait4), output
//! size, time per app and the 10k/1k time ratio. `cargo bench --bench
//! render_scale`. Targets (issue 7): 10,000 apps to stdout in at most
//! 0.2 s, peak memory at most twice the output, 10k/1k ratio at most 11.
#![allow(clippy::cast_precision_loss, clippy::cast_possible_wrap)] // timings and pids, far from the limits

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

fn write_manifest(dir: &Path, apps: usize) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("modules")).expect("mkdir");
    std::fs::write(
        dir.join("modules/hello.wat"),
        include_str!("../examples/modules/hello.wat"),
    )
    .expect("module");
    let mut s = String::from(
        "version = 1\n\n[defaults]\nmodule = \"modules/hello.wat\"\nmemory = \"64MiB\"\n\n",
    );
    for i in 0..apps {
        let _ = writeln!(
            s,
            "[app.app{i}]\nargs = [\"--id\", \"{i}\", \"100% $x\"]\nenv = {{ N = \"{i}\" }}"
        );
        if i % 3 == 1 {
            s.push_str("network = \"outbound\"\n");
        }
        if i % 5 == 2 {
            let _ = writeln!(
                s,
                "dirs = [{{ host = \"/var/lib/wasm-app{i}\", guest = \"/data\" }}]"
            );
        }
        if i % 7 == 3 {
            s.push_str("schedule = \"hourly\"\n");
        }
        if i > 0 && i % 4 == 0 {
            let _ = writeln!(s, "after = [\"app{}\"]", i - 1);
        }
        s.push('\n');
    }
    let path = dir.join("apps.toml");
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(s.as_bytes()))
        .expect("manifest");
    path
}

/// Runs the command and returns (wall seconds, max RSS in KiB).
#[allow(clippy::zombie_processes)] // reaped by wait4, which also reports its rusage
fn measure(cmd: &mut Command) -> (f64, i64) {
    let start = Instant::now();
    let child = cmd.spawn().expect("spawn");
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child with valid out-pointers.
    let pid = unsafe { libc::wait4(child.id() as i32, &raw mut status, 0, &raw mut usage) };
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(pid, child.id() as i32);
    let st = std::process::ExitStatus::from_raw(status);
    assert!(st.success(), "render failed: {st}");
    (secs, usage.ru_maxrss)
}

fn main() {
    let bin = env!("CARGO_BIN_EXE_wasmunit");
    let scratch = tempfile::tempdir().expect("tmp");
    println!("render to stdout (manifest → plan → units → Butane YAML):");
    table(bin, scratch.path(), false);
    println!("\nrender --out DIR (plus creating every file; bound by the filesystem):");
    table(bin, scratch.path(), true);
}

fn table(bin: &str, scratch: &Path, to_dir: bool) {
    println!(
        "{:>7} {:>10} {:>12} {:>10} {:>9} {:>13} {:>8}",
        "apps", "time (ms)", "peak RSS MiB", "out MiB", "RSS/out", "µs per app", "files"
    );
    let mut times = std::collections::BTreeMap::new();
    for apps in [1usize, 100, 1_000, 10_000] {
        let dir = scratch.join(format!("m{apps}-{to_dir}"));
        let manifest = write_manifest(&dir, apps);
        let mut best = (f64::MAX, 0);
        let stdout_file = dir.join("fragment.yaml");
        for run in 0..5 {
            let mut cmd = Command::new(bin);
            cmd.arg("render")
                .arg(&manifest)
                .stderr(std::process::Stdio::null());
            if to_dir {
                cmd.arg("--out").arg(dir.join(format!("out{run}")));
            } else {
                cmd.stdout(std::fs::File::create(&stdout_file).expect("stdout file"));
            }
            let (t, rss) = measure(&mut cmd);
            if t < best.0 {
                best = (t, rss);
            }
        }
        let files = std::fs::read_dir(dir.join("out0")).map_or(1, std::iter::Iterator::count);
        let out_bytes = if to_dir {
            std::fs::metadata(dir.join("out0/butane.yaml")).map_or(0, |m| m.len())
        } else {
            std::fs::metadata(&stdout_file).map_or(0, |m| m.len())
        };
        let rss_mib = best.1 as f64 / 1024.0;
        let out_mib = out_bytes as f64 / f64::from(1 << 20);
        println!(
            "{:>7} {:>10.1} {:>12.1} {:>10.1} {:>9.2} {:>13.1} {:>8}",
            apps,
            best.0 * 1e3,
            rss_mib,
            out_mib,
            rss_mib / out_mib,
            best.0 * 1e6 / apps as f64,
            files
        );
        times.insert(apps, best.0);
    }
    if let (Some(k1), Some(k10)) = (times.get(&1_000), times.get(&10_000)) {
        println!("10k/1k time ratio: {:.2}", k10 / k1);
    }
}
