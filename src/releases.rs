//! Everything wasmunit knows about a wasmtime CLI version, in one place:
//! the supported versions ([`version`]), the options a unit passes and when
//! each exists ([`flags`]), the WebAssembly proposals each version runs
//! ([`proposals`]), what the CLI links to a module's imports
//! ([`imports`]), and what it reads from its environment ([`environment`]);
//! and, for the node under it, what each systemd release adds ([`systemd`]).
//!
//! Facts that hold for every supported version (31.0.0 to 50.x), said once
//! here instead of as gates that cannot fire: `wasmtime run` and
//! `wasmtime serve --addr`, `-W max-memory-size=BYTES`,
//! `-S inherit-network=y`, `-S allow-ip-name-lookup=y`, `-S http=y`,
//! `-S cli=y`, `--dir HOST::GUEST` (always read-write), `--env NAME=VALUE`,
//! and the compilation cache in `$XDG_CACHE_HOME`.

pub(crate) mod environment;
pub(crate) mod flags;
pub(crate) mod imports;
pub mod proposals;
pub mod serve;
pub mod systemd_release;
pub(crate) mod version;
pub mod wasi_host;
mod wasi_p1;

pub use flags::{Flag, Unsupported, WasiOption};
pub use version::{TargetRange, WasmtimeVersion};
