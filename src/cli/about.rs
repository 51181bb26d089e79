//! What the command line says of wasmunit itself: its version line and
//! the date its man pages carry.

/// `--version`: the crate, the embedded engine `check` uses, and the CLI
/// versions it renders for.
pub fn version() -> String {
    use crate::releases::WasmtimeVersion;
    format!(
        "{} (embedded engine: wasmtime {}; renders for the wasmtime CLI {} to {}.x)",
        env!("CARGO_PKG_VERSION"),
        env!("WASMUNIT_ENGINE_VERSION"),
        WasmtimeVersion::OLDEST,
        WasmtimeVersion::NEWEST.major,
    )
}

/// The date of this version, for the man pages' `.TH` line (bumped with
/// the version; a fixed value keeps the pages byte-stable).
pub const RELEASE_DATE: &str = "2026-12-04";
