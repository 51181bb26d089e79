//! Benchmark on a real 30.8 MB module (YoWASP yosys 0.55, a WASI preview1
//! command): `wasmunit check` against `wasm-tools validate`, and
//! `wasmunit check --compile` against `wasmtime compile` of the 31.0.0 CLI,
//! each pair run alternately (A, B, A, B, …) with a cold verdict cache so
//! both see the same machine; prints the median wall time and peak RSS of
//! each side and the median of the pairwise time ratios (21 pairs for
//! validation, as issue 22 measures it), then the cached re-check.
//!
//! Needs `bash tests/fetch-modules.sh` and `bash benches/install-bench-tools.sh`.
//! Run: `cargo bench --bench check_real`.
#![allow(clippy::cast_precision_loss, clippy::cast_possible_wrap)] // timings and pids, far from the limits

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

fn home() -> PathBuf {
    PathBuf::from(std::env::var_os("HOME").expect("HOME"))
}

fn tool(rel: &str, how: &str) -> PathBuf {
    let p = home().join(".cargo/wasmunit-tools").join(rel);
    assert!(p.exists(), "{} is missing: {how}", p.display());
    p
}

/// (wall seconds, max RSS KiB) of one run; panics when the command fails.
#[allow(clippy::zombie_processes)] // reaped by wait4, which also reports its rusage
fn measure(cmd: &mut Command) -> (f64, i64) {
    let start = Instant::now();
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child with valid out-pointers.
    let pid = unsafe { libc::wait4(child.id() as i32, &raw mut status, 0, &raw mut usage) };
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(pid, child.id() as i32);
    assert!(
        std::process::ExitStatus::from_raw(status).success(),
        "{cmd:?} failed"
    );
    (secs, usage.ru_maxrss)
}

fn best(runs: usize, mut make: impl FnMut() -> Command) -> (f64, i64) {
    (0..runs)
        .map(|_| measure(&mut make()))
        .fold((f64::MAX, 0), |(t, m), (t2, m2)| (t.min(t2), m.max(m2)))
}

fn row(name: &str, (t, rss): (f64, i64)) {
    println!("{name:<48} {:>10.1} {:>12.1}", t * 1e3, rss as f64 / 1024.0);
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `a` and `b` run alternately (A, B, A, B, …) so both see the same
/// machine: the median wall time and peak RSS of each, and the ratios of
/// each pair (a user's wait is one whole process, paired).
struct Paired {
    a: (f64, i64),
    b: (f64, i64),
    ratios: Vec<f64>,
}

fn alternate(
    runs: usize,
    mut a: impl FnMut() -> Command,
    mut b: impl FnMut() -> Command,
) -> Paired {
    let (mut ta, mut tb, mut ma, mut mb) = (Vec::new(), Vec::new(), 0, 0);
    let mut ratios = Vec::new();
    for _ in 0..runs {
        let (t1, m) = measure(&mut a());
        ta.push(t1);
        ma = ma.max(m);
        let (t2, m) = measure(&mut b());
        tb.push(t2);
        mb = mb.max(m);
        ratios.push(t1 / t2);
    }
    Paired {
        a: (median(ta), ma),
        b: (median(tb), mb),
        ratios,
    }
}

fn pair(names: (&str, &str), p: Paired) {
    row(names.0, p.a);
    row(names.1, p.b);
    let (lo, hi) = p
        .ratios
        .iter()
        .fold((f64::MAX, 0.0_f64), |(l, h), r| (l.min(*r), h.max(*r)));
    let pairs = p.ratios.len();
    let memory = p.a.1 as f64 / p.b.1 as f64;
    println!(
        "{:<48} {:>10.3} {:>12.2}   (pairs: {pairs}, min {lo:.3}, max {hi:.3})",
        format!("median pairwise ratio {} / {}", names.0, names.1),
        median(p.ratios),
        memory,
    );
}

fn main() {
    let wasmunit = env!("CARGO_BIN_EXE_wasmunit");
    let module = home().join(".cache/wasmunit-test-modules/yosys-0.55.wasm");
    assert!(module.exists(), "run `bash tests/fetch-modules.sh` first");
    let wasm_tools = tool(
        "wasm-tools/bin/wasm-tools",
        "run `bash benches/install-bench-tools.sh`",
    );
    let wasmtime = tool(
        "wasmtime-31.0.0/bin/wasmtime",
        "run `bash tests/install-tools.sh`",
    );
    let scratch = tempfile::tempdir().expect("tmp");
    let cache = scratch.path().join("cache");
    let check = |extra: &[&str], cached: bool| {
        let mut c = Command::new(wasmunit);
        c.arg("check")
            .args(extra)
            .arg(&module)
            .env("WASMUNIT_CACHE_DIR", &cache);
        if !cached {
            c.arg("--no-cache");
        }
        c
    };
    let cwasm: &Path = &scratch.path().join("yosys.cwasm");
    println!(
        "yosys 0.55 ({:.1} MB), {} cores",
        std::fs::metadata(&module).expect("module").len() as f64 / 1e6,
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
    );
    println!(
        "{:<48} {:>10} {:>12}",
        "command", "time (ms)", "peak RSS MiB"
    );
    pair(
        ("wasmunit check (uncached)", "wasm-tools validate"),
        alternate(
            21,
            || check(&[], false),
            || {
                let mut c = Command::new(&wasm_tools);
                c.arg("validate").arg(&module);
                c
            },
        ),
    );
    pair(
        (
            "wasmunit check --compile (uncached)",
            "wasmtime 31.0.0 compile",
        ),
        alternate(
            5,
            || check(&["--compile"], false),
            || {
                let mut c = Command::new(&wasmtime);
                c.arg("compile").arg("-o").arg(cwasm).arg(&module);
                c
            },
        ),
    );
    // Fill the cache once, then measure re-checks of the unchanged module.
    measure(&mut check(&["--compile"], true));
    measure(&mut check(&[], true));
    row(
        "wasmunit check (cached re-check)",
        best(10, || check(&[], true)),
    );
    row(
        "wasmunit check --compile (cached re-check)",
        best(10, || check(&["--compile"], true)),
    );
}
