//! What each release's `wasmtime serve` can do with a socket systemd holds.
//!
//! 31 to 49 bind their own `--addr` and know no inherited socket: a socket
//! unit can only reach them through `systemd-socket-proxyd`. 50 takes the
//! socket itself (`--systemd-listenfd`, from wasmtime PR #14294) and exits
//! after a time without requests (`--idle-process-timeout`), measured on
//! 50.0.1 built from crates.io (its `serve --help`, and the tests).

use super::{TargetRange, WasmtimeVersion};

/// The first release whose `serve` takes an inherited listening socket.
pub const TAKES_SOCKET_SINCE: WasmtimeVersion = WasmtimeVersion::new(50, 0, 0);

/// `serve`'s option to take the socket (`LISTEN_FDS`/`LISTEN_PID`).
pub const LISTENFD_OPTION: &str = "--systemd-listenfd";

/// `serve`'s option to exit after so many seconds without a request.
pub const IDLE_OPTION: &str = "--idle-process-timeout";

/// Whether every release of `range` takes the socket itself; a range that
/// reaches below 50 gets the proxy, which every release can use.
pub fn takes_socket(range: TargetRange) -> bool {
    range.low >= TAKES_SOCKET_SINCE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_range_from_50_takes_the_socket() {
        let v = |s: &str| TargetRange::parse(s).expect("a range");
        assert!(!takes_socket(v("31.0.0")));
        assert!(!takes_socket(v("49.0.4")));
        assert!(takes_socket(v("50.0.1")));
        assert!(!takes_socket(v(">=49.0.0, <51")));
        assert!(takes_socket(v(">=50.0.0, <51")));
    }
}
