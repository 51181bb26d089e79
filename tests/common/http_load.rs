//! HTTP clients inside a node: threads that enter the node's network
//! namespace (`setns`, per thread) and speak plain HTTP/1.1 to a port on
//! its loopback, as a client on the node would. The tests and the benches
//! use them to count what a restart or an update costs the clients.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::os::fd::AsRawFd as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Runs `f` on a thread inside the network namespace of process `pid`.
pub fn in_netns<T: Send + 'static>(pid: u32, f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        enter_netns(pid);
        f()
    })
    .join()
    .expect("client thread")
}

fn enter_netns(pid: u32) {
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/net")).expect("the node's netns");
    // SAFETY: setns on a valid descriptor changes this thread's namespace only.
    let r = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
}

/// One `GET path` on 127.0.0.1:port, a connection of its own: the status
/// and the body, or what went wrong.
pub fn get(port: u16, path: &str, timeout: Duration) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("send: {e}"))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no HTTP response: {text:?}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no status: {head:?}"))?;
    // The handler's body is short; a chunked one is one chunk.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body.split("\r\n").nth(1).unwrap_or_default().to_owned()
    } else {
        body.to_owned()
    };
    Ok((status, body))
}

/// [`get`] from inside the namespace of `pid`, with how long it took.
pub fn get_in(pid: u32, port: u16, path: &str) -> (Result<(u16, String), String>, Duration) {
    let path = path.to_owned();
    in_netns(pid, move || {
        let t = Instant::now();
        let r = get(port, &path, Duration::from_secs(120));
        (r, t.elapsed())
    })
}

/// What a load saw.
#[derive(Debug, Default)]
pub struct Tally {
    pub ok: u64,
    /// Every request that did not get its answer.
    pub failed: u64,
    /// Of those, the connections refused, reset or closed without an HTTP
    /// answer (what a closed port or a killed process gives).
    pub dropped: u64,
    /// The first few failures, as the client saw them.
    pub failures: Vec<String>,
    /// The slowest answer.
    pub slowest: Duration,
}

/// `clients` threads in the namespace of `pid`, each sending one request
/// after another (a connection each) to 127.0.0.1:port until `during` has
/// returned and `tail` more has passed; an answer is good when it is 200
/// with `want` in its body. A request waits at most 60 s.
pub fn load(
    pid: u32,
    port: u16,
    clients: usize,
    want: &str,
    tail: Duration,
    during: impl FnOnce(),
) -> Tally {
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (stop, tally, want) = (stop.clone(), tally.clone(), want.to_owned());
            std::thread::spawn(move || {
                enter_netns(pid);
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let r = get(port, "/", Duration::from_secs(60));
                    let took = t.elapsed();
                    let mut tally = tally.lock().expect("tally");
                    tally.slowest = tally.slowest.max(took);
                    match r {
                        Ok((200, body)) if body.contains(&want) => tally.ok += 1,
                        other => {
                            tally.failed += 1;
                            tally.dropped += u64::from(other.is_err());
                            if tally.failures.len() < 5 {
                                // The status line and the start of the body.
                                let seen = format!("{other:?}");
                                tally.failures.push(seen.chars().take(80).collect());
                            }
                        }
                    }
                }
            })
        })
        .collect();
    during();
    std::thread::sleep(tail);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("client");
    }
    Arc::try_unwrap(tally)
        .expect("clients joined")
        .into_inner()
        .expect("tally")
}
