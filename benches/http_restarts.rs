//! Benchmark: what a restart and a runtime update cost the clients of an
//! HTTP app. A node (a real systemd in systemd-nspawn, provisioned by
//! Butane and Ignition from `wasmunit render`'s fragment) serves the
//! componentize-js handler (tests/guest-http.sh); 16 clients inside the
//! node send one request per connection for 30 s while the app is
//! restarted twice (`systemctl restart`, at 10 s and 20 s), or while the
//! sysext moves from wasmtime 31.0.0 to the official 49.0.4 (the follow
//! unit). Layouts:
//! - `own port`: the app binds its port itself (`network = "outbound"`),
//!   which is what every `listen` app was before the socket units;
//! - `proxy (31)`: the socket unit, systemd-socket-proxyd, wasmtime 31;
//! - `socket (50)`: the socket handed to wasmtime 50.0.1.
//!
//! Also the first answer after boot and after scale to zero (`idle`).
//! `cargo bench --bench http_restarts` (needs root and `bash
//! tests/install-tools.sh`); `HTTP_BENCH_SYSTEMD=252,257,262` picks the
//! managers (default 257), `HTTP_BENCH_SECONDS` the load (default 30).
#![allow(clippy::cast_precision_loss)] // timings, far from the limits

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

#[path = "../tests/common/mod.rs"]
mod common;

use common::container::Container;
use common::http_load::{get_in, load, Tally};

const HELLO: &str = "hello from wasm";
const CLIENTS: usize = 16;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    OwnPort,
    Proxy,
    Socket,
}

impl Layout {
    fn name(self) -> &'static str {
        match self {
            Layout::OwnPort => "own port (before)",
            Layout::Proxy => "proxy (31)",
            Layout::Socket => "socket (50)",
        }
    }

    fn manifest(self) -> String {
        let (target, network) = match self {
            Layout::OwnPort => ("31.0.0", "network = \"outbound\"\n"),
            Layout::Proxy => ("31.0.0", ""),
            Layout::Socket => ("50.0.1", ""),
        };
        format!(
            "version = 1\n[defaults]\nwasmtime = \"{target}\"\nmodule = \"modules/hello.wasm\"\n\
             [app.hello]\nlisten = \"127.0.0.1:8080\"\n{network}"
        ) + if self == Layout::OwnPort {
            ""
        } else {
            "[app.lazy]\nlisten = \"127.0.0.1:8081\"\nidle = \"2s\"\n"
        }
    }

    fn wasmtime(self) -> PathBuf {
        match self {
            Layout::Socket => common::require_wasmtime_cli_version("50.0.1"),
            _ => common::require_wasmtime_cli(),
        }
    }
}

fn tree(release: &str) -> PathBuf {
    match release {
        "252" => PathBuf::from("/"),
        "257" => common::container::debian13_tree(),
        "262" => common::container::forky_tree(),
        other => panic!("HTTP_BENCH_SYSTEMD: no tree for {other}"),
    }
}

fn boot(tree: &Path, layout: Layout, work: &Path) -> (Container, PathBuf) {
    let src = work.join("src");
    std::fs::create_dir_all(src.join("modules")).expect("mkdir");
    std::fs::copy(common::http_guest(), src.join("modules/hello.wasm")).expect("guest");
    std::fs::write(src.join("apps.toml"), layout.manifest()).expect("manifest");
    let out = work.join("rendered");
    let o = Command::new(env!("CARGO_BIN_EXE_wasmunit"))
        .arg("render")
        .arg(src.join("apps.toml"))
        .arg("--out")
        .arg(&out)
        .env("WASMUNIT_CACHE_DIR", work.join("cache"))
        .output()
        .expect("wasmunit render");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let root = common::node::provision_fragment(&out.join("butane.yaml"), &src, work, &[]);
    common::node::install_sysext(&root, tree, &layout.wasmtime());
    (Container::first_boot_with_bpf(tree, &root), root)
}

/// Seconds until the first good answer on `port`: an app that binds its
/// own port refuses connections until it has compiled, so it is asked
/// again (every 50 ms, a minute at most).
fn first_answer(c: &Container, port: u16) -> f64 {
    let start = Instant::now();
    loop {
        let (r, _) = get_in(c.leader(), port, "/");
        match &r {
            Ok((200, b)) if b.contains(HELLO) => return start.elapsed().as_secs_f64(),
            Err(e) if e.starts_with("connect") && start.elapsed() < Duration::from_secs(60) => {
                std::thread::sleep(Duration::from_millis(50));
            }
            _ => panic!("{r:?}: {}", c.journal("wasm-hello.service")),
        }
    }
}

fn systemctl(c: &Container, args: &[&str]) {
    let mut command = vec!["systemctl"];
    command.extend_from_slice(args);
    let o = c.exec(&command);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn restarts(c: &Container, seconds: u64) -> Tally {
    let third = Duration::from_secs(seconds / 3);
    load(c.leader(), 8080, CLIENTS, HELLO, third, || {
        for _ in 0..2 {
            std::thread::sleep(third);
            systemctl(c, &["restart", "wasm-hello.service"]);
        }
    })
}

fn update(c: &Container, root: &Path, tree: &Path, seconds: u64) -> Tally {
    let official = common::installed_tool("wasmtime-official-49.0.4/wasmtime");
    let third = Duration::from_secs(seconds / 3);
    load(c.leader(), 8080, CLIENTS, HELLO, third, || {
        std::thread::sleep(third);
        common::node::sysext_image(root, tree, &official, "second");
        common::node::select_sysext(root, "second");
        systemctl(c, &["restart", "systemd-sysext.service"]);
        let follow = "wasmunit-follow.service";
        assert!(c.wait_for(Duration::from_secs(60), || c
            .journal(follow)
            .contains("restarted under wasmtime 49")));
    })
}

/// Scale to zero: the first answer of `lazy` (cold), its stop, the next.
fn lazy(c: &Container) -> (f64, f64) {
    let cold = first_answer(c, 8081);
    let gone = c.wait_state("wasm-lazy.service", Duration::from_secs(30), |s| {
        s.active == "inactive" && !s.job_pending
    });
    assert_eq!(gone.active, "inactive");
    (cold, first_answer(c, 8081))
}

fn row(release: &str, layout: &str, what: &str, t: &Tally) {
    println!(
        "| {release} | {layout} | {what} | {} | {} | {} | {:.2} s |",
        t.ok + t.failed,
        t.failed,
        t.dropped,
        t.slowest.as_secs_f64()
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let releases = std::env::var("HTTP_BENCH_SYSTEMD").unwrap_or_else(|_| "257".to_owned());
    let seconds: u64 = std::env::var("HTTP_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    println!("{CLIENTS} clients, {seconds} s of load each, one connection per request\n");
    println!("| systemd | layout | during | requests | failed | of them dropped | slowest |");
    println!("|---|---|---|---|---|---|---|");
    let mut starts = Vec::new();
    for release in releases.split(',') {
        let tree = tree(release);
        for layout in [Layout::OwnPort, Layout::Proxy, Layout::Socket] {
            let work = tempfile::tempdir().expect("tmp");
            let booted = Instant::now();
            let (c, root) = boot(&tree, layout, work.path());
            let first = first_answer(&c, 8080);
            let boot_to_answer = booted.elapsed().as_secs_f64();
            row(
                release,
                layout.name(),
                "two restarts",
                &restarts(&c, seconds),
            );
            let idle = (layout != Layout::OwnPort).then(|| lazy(&c));
            if layout != Layout::Socket {
                row(
                    release,
                    layout.name(),
                    "update 31 → 49",
                    &update(&c, &root, &tree, seconds),
                );
            }
            starts.push((
                release.to_owned(),
                layout.name(),
                first,
                boot_to_answer,
                idle,
            ));
        }
    }
    println!("\n| systemd | layout | first request after boot | boot → first answer | scale to zero: cold / warm |");
    println!("|---|---|---|---|---|");
    for (release, layout, first, total, idle) in starts {
        let idle = idle.map_or_else(|| "-".to_owned(), |(a, b)| format!("{a:.2} s / {b:.2} s"));
        println!("| {release} | {layout} | {first:.2} s | {total:.1} s | {idle} |");
    }
}
