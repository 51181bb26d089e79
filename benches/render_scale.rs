//! Benchmark: render generated manifests of 1, 100, 1,000 and 10,000 apps
//! with the real binary (`--out` into a fresh folder) and print wall time,
//! peak memory (max RSS from wait4) and time per app. `cargo bench`.

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
        s.push_str(&format!(
            "[app.app{i}]\nargs = [\"--id\", \"{i}\", \"100% $x\"]\nenv = {{ N = \"{i}\" }}\n"
        ));
        if i % 3 == 1 {
            s.push_str("network = \"outbound\"\n");
        }
        if i % 5 == 2 {
            s.push_str(&format!(
                "dirs = [{{ host = \"/var/lib/app{i}\", guest = \"/data\" }}]\n"
            ));
        }
        if i % 7 == 3 {
            s.push_str("schedule = \"hourly\"\n");
        }
        if i > 0 && i % 4 == 0 {
            s.push_str(&format!("after = [\"app{}\"]\n", i - 1));
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
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
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
        "{:>7} {:>10} {:>12} {:>13} {:>8}",
        "apps", "time (ms)", "peak RSS MiB", "µs per app", "files"
    );
    for apps in [1usize, 100, 1_000, 10_000] {
        let dir = scratch.join(format!("m{apps}-{to_dir}"));
        let manifest = write_manifest(&dir, apps);
        let mut best = (f64::MAX, 0);
        for run in 0..3 {
            let mut cmd = Command::new(bin);
            cmd.arg("render")
                .arg(&manifest)
                .stderr(std::process::Stdio::null());
            if to_dir {
                cmd.arg("--out").arg(dir.join(format!("out{run}")));
            } else {
                cmd.stdout(std::process::Stdio::null());
            }
            let (t, rss) = measure(&mut cmd);
            if t < best.0 {
                best = (t, rss);
            }
        }
        let files = std::fs::read_dir(dir.join("out0")).map_or(1, |d| d.count());
        println!(
            "{:>7} {:>10.1} {:>12.1} {:>13.1} {:>8}",
            apps,
            best.0 * 1e3,
            best.1 as f64 / 1024.0,
            best.0 * 1e6 / apps as f64,
            files
        );
    }
}
