//! HTTP apps (`listen`) at first boot: the socket unit holds the port, the
//! app runs with no network but its own loopback, behind
//! systemd-socket-proxyd under wasmtime 31 and on the handed-over socket
//! under wasmtime 50. The guest is a real componentize-js handler
//! (tests/guest-http.sh). Requests come from inside the node's network
//! namespace (`common::http_load`), as a client on the node sends them.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{
    install_sysext, official_wasmtime, provision_rendered_with, running_binary, settled,
    swap_the_sysext, systemctl,
};
use crate::common;
use crate::common::container::Container;
use crate::common::http_load::{get_in, load, Tally};

const HELLO: &str = "hello from wasm";

/// `DIR/apps.toml` for `target`: `hello` on 8080 from boot; with `lazy`,
/// also `lazy` on port 80 (allowed by [`provision`]) started by its first
/// connection and stopped after 2 s idle.
fn write_manifest(dir: &Path, target: &str, lazy: bool) -> PathBuf {
    std::fs::create_dir_all(dir.join("modules")).expect("mkdir");
    std::fs::copy(common::http_guest(), dir.join("modules/hello.wasm")).expect("guest");
    let manifest = dir.join("apps.toml");
    std::fs::write(
        &manifest,
        format!(
            "version = 1\n[defaults]\nwasmtime = \"{target}\"\nmodule = \"modules/hello.wasm\"\n\
             [app.hello]\nlisten = \"127.0.0.1:8080\"\n{}",
            if lazy {
                "[app.lazy]\nlisten = \"127.0.0.1:80\"\nidle = \"2s\"\n"
            } else {
                ""
            }
        ),
    )
    .expect("manifest");
    manifest
}

/// The node's root from `manifest`, rendered by a person who allows port 80.
fn provision(manifest: &Path, work: &Path) -> PathBuf {
    provision_rendered_with(manifest, &["--allow-port", "80"], work, &[])
}

/// The first answer on `port`, however long the compile takes.
fn answers(c: &Container, port: u16, what: &str) -> Duration {
    let (r, took) = get_in(c.leader(), port, "/");
    match r {
        Ok((200, body)) if body.contains(HELLO) => {}
        other => panic!(
            "{what}: {other:?}\n{}\n{}",
            c.journal("wasm-hello.service"),
            c.journal("wasm-hello-proxy.service")
        ),
    }
    eprintln!("http: {what}: {:.2} s", took.as_secs_f64());
    took
}

/// The app's processes have a network namespace of their own, with a
/// loopback only.
fn has_a_namespace_of_its_own(c: &Container) {
    let pid = settled(c, "wasm-hello.service")
        .main_pid
        .expect("hello runs")
        .to_string();
    let ns = |p: &str| {
        String::from_utf8_lossy(&c.exec(&["readlink", &format!("/proc/{p}/ns/net")]).stdout)
            .trim()
            .to_owned()
    };
    assert_ne!(
        ns(&pid),
        ns("1"),
        "the app shares the node's network namespace"
    );
    let dev = String::from_utf8_lossy(&c.exec(&["cat", &format!("/proc/{pid}/net/dev")]).stdout)
        .into_owned();
    let links: Vec<&str> = dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    assert_eq!(links, ["lo"], "{dev}");
}

/// [`has_a_namespace_of_its_own`], and from there the guest's own `fetch`
/// reaches nothing the node serves (the node answers on 80, `lazy`; the
/// guest is refused).
fn has_no_network_of_its_own(c: &Container) {
    has_a_namespace_of_its_own(c);
    let (r, _) = get_in(c.leader(), 8080, "/out?to=http://127.0.0.1:80/");
    let (_, body) = r.expect("the guest answers");
    assert!(body.starts_with("blocked "), "the guest got out: {body}");
    // The control: from the node itself, port 80 answers.
    answers(c, 80, "the node reaches port 80 (control)");
}

/// Scale to zero: `lazy` runs only after a connection, stops 2 s after the
/// last, and the next connection starts it again, warm from the cache.
fn scales_to_zero(c: &Container, proxied: bool) {
    let lazy = "wasm-lazy.service";
    assert_eq!(
        settled(c, lazy).active,
        "inactive",
        "started before any connection"
    );
    answers(
        c,
        80,
        "first answer of a socket-started app on port 80 (cold)",
    );
    let gone = c.wait_state(lazy, Duration::from_secs(30), |s| {
        s.active == "inactive" && !s.job_pending
    });
    let journals = || {
        format!(
            "{}\n{}\n{}",
            c.journal(lazy),
            c.journal("wasm-lazy-proxy.service"),
            c.journal("wasm-lazy.socket")
        )
    };
    assert_eq!(gone.active, "inactive", "{}", journals());
    assert_eq!(gone.result, "success", "{}", journals());
    if proxied {
        let proxy = settled(c, "wasm-lazy-proxy.service");
        assert_eq!(proxy.active, "inactive", "{proxy:?}\n{}", journals());
    }
    answers(c, 80, "first answer after scale to zero (warm)");
}

/// `clients` clients on `hello` (8080) while `during` runs and 2 s after;
/// what they saw, also in the test's output as `what`.
fn under_load(c: &Container, clients: usize, what: &str, during: impl FnOnce()) -> Tally {
    let tally = load(
        c.leader(),
        8080,
        clients,
        HELLO,
        Duration::from_secs(2),
        during,
    );
    eprintln!(
        "http: {clients} clients {what}: {} answered, {} failed ({} dropped), slowest {:.2} s; {:?}",
        tally.ok,
        tally.failed,
        tally.dropped,
        tally.slowest.as_secs_f64(),
        tally.failures
    );
    tally
}

/// `clients` clients for the whole time while `hello` is restarted twice.
fn restarts_under_load(c: &Container, clients: usize) -> Tally {
    under_load(c, clients, "across two restarts", || {
        for _ in 0..2 {
            std::thread::sleep(Duration::from_secs(2));
            systemctl(c, &["restart", "wasm-hello.service"]);
        }
    })
}

/// A sysext update from wasmtime 31 to the official 49.0.4 under load: the
/// follow unit compiles with 49 first (`systemctl reload`), then restarts.
fn an_update_moves_it_warm(c: &Container, root: &Path, tree: &Path) {
    let official = official_wasmtime();
    let clients = 8;
    let tally = under_load(c, clients, "across an update 31 → 49", || {
        swap_the_sysext(c, root, tree, &official, "restarted under wasmtime 49");
    });
    assert!(tally.ok > 100, "{tally:?}");
    assert!(tally.failed <= clients as u64, "{tally:?}");
    assert_eq!(
        running_binary(c, "wasm-hello.service"),
        wasmunit::plan::module::hash_file(&official).expect("hash"),
        "not on the new wasmtime"
    );
    // Warm: 49's compile was cached before the restart.
    let took = answers(c, 8080, "first answer after the update");
    assert!(took < Duration::from_secs(3), "{took:?}");
    let cache = c.exec(&["ls", "/var/cache/private/wasmunit/hello/wasmtime/modules"]);
    assert_eq!(
        String::from_utf8_lossy(&cache.stdout).lines().count(),
        2,
        "one compile per wasmtime: {}",
        String::from_utf8_lossy(&cache.stdout)
    );
}

/// wasmtime 31: through systemd-socket-proxyd. With `all`, also scale to
/// zero, the guest's own `fetch` refused, and a runtime update under load
/// (one node does those: each more app is a cold compile).
fn serves_behind_the_proxy(tree: &Path, all: bool) {
    let work = tempfile::tempdir().expect("tmp");
    let manifest = write_manifest(&work.path().join("src"), "31.0.0", all);
    let root = provision(&manifest, work.path());
    install_sysext(&root, tree, &common::require_wasmtime_cli());
    let boot = Instant::now();
    let c = Container::first_boot_with_bpf(tree, &root);
    answers(&c, 8080, "first answer after boot (cold compile)");
    eprintln!(
        "http: boot to first answer: {:.1} s",
        boot.elapsed().as_secs_f64()
    );
    if all {
        scales_to_zero(&c, true);
        has_no_network_of_its_own(&c);
    } else {
        has_a_namespace_of_its_own(&c);
    }
    let clients = 8;
    let tally = restarts_under_load(&c, clients);
    assert!(tally.ok > 100, "{tally:?}");
    // wasmtime 31 finishes no request when it stops, and the proxy restarts
    // with it: at most the requests in flight, one per client per restart.
    assert!(tally.failed <= 2 * clients as u64, "{tally:?}");
    if all {
        an_update_moves_it_warm(&c, &root, tree);
    }
}

/// wasmtime 50: the socket handed over; it drains on SIGINT.
fn serves_on_the_socket(tree: &Path) {
    let work = tempfile::tempdir().expect("tmp");
    let manifest = write_manifest(&work.path().join("src"), "50.0.1", true);
    let root = provision(&manifest, work.path());
    install_sysext(&root, tree, &common::require_wasmtime_cli_version("50.0.1"));
    let boot = Instant::now();
    let c = Container::first_boot_with_bpf(tree, &root);
    answers(&c, 8080, "first answer after boot (cold compile)");
    eprintln!(
        "http: boot to first answer: {:.1} s",
        boot.elapsed().as_secs_f64()
    );
    scales_to_zero(&c, false);
    has_no_network_of_its_own(&c);
    let clients = 16;
    let tally = restarts_under_load(&c, clients);
    assert!(tally.ok > 100, "{tally:?}");
    // Every connection is answered: those that arrive while it restarts
    // wait in the socket. wasmtime 50.0.1 answers 500 to a request whose
    // connection it accepted just before SIGINT: its serve closes its
    // request semaphore as soon as its accept loop ends
    // (src/commands/serve.rs:784), before such a request takes a permit.
    assert_eq!(tally.dropped, 0, "{tally:?}");
    assert!(tally.failed <= 2 * clients as u64, "{tally:?}");
}

first_boot_test!(
    /// On the host's systemd 252.
    an_http_app_serves_behind_the_proxy_on_252 =>
    serves_behind_the_proxy(Path::new("/"), false)
);
first_boot_test!(
    /// On systemd 257 (Debian 13; Flatcar stable), then a runtime update
    /// under load.
    an_http_app_serves_behind_the_proxy_and_moves_warm_on_257 =>
    serves_behind_the_proxy(&common::container::debian13_tree(), true)
);
first_boot_test!(
    /// On systemd 262 (Debian forky; Flatcar beta and alpha ship 260).
    an_http_app_serves_behind_the_proxy_on_262 =>
    serves_behind_the_proxy(&common::container::forky_tree(), false)
);
first_boot_test!(
    /// wasmtime 50 on systemd 257 (the bench covers 252 and 262).
    an_http_app_serves_on_its_socket_on_257 =>
    serves_on_the_socket(&common::container::debian13_tree())
);
