//! What the wasmtime CLI reads from its own environment, besides its
//! command line. systemd passes the manager's environment (`DefaultEnvironment=`,
//! `systemctl set-environment`) to every unit, so without care a variable
//! set there for something else changes what every app runs.
//!
//! Measured with the official 49.0.4 binary: each option group is read
//! from a variable after the command line (`WASMTIME_WASM=bogus` fails with
//! "failed to parse env var `WASMTIME_WASM`"; `WASMTIME_WASM=max-memory-size=65536`
//! makes a two-page module fail to instantiate), where 48.0.8 reads none
//! of them. Every version reads the backtrace and log switches.

/// The variables, in the order of the CLI's option groups (-O, -C, -D, -W,
/// -S, -R), then the runtime's.
const CLI_ENVIRONMENT: [&str; 8] = [
    "WASMTIME_OPTIMIZE",
    "WASMTIME_CODEGEN",
    "WASMTIME_DEBUG",
    "WASMTIME_WASM",
    "WASMTIME_WASI",
    "WASMTIME_RECORD",
    "WASMTIME_BACKTRACE_DETAILS",
    "WASMTIME_LOG",
];

/// [`CLI_ENVIRONMENT`] as one `UnsetEnvironment=` value: every unit drops
/// them, so an app runs with exactly the options its unit file shows.
pub fn unset_environment() -> &'static str {
    static JOINED: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| CLI_ENVIRONMENT.join(" "));
    &JOINED
}
