//! What the wasmtime CLI provides to a module's imports, and which `-S`
//! flag a provided import needs. Measured on wasmtime-cli 31.0.0: preview1
//! and preview0 functions link by default (their names and signatures are
//! read from wasmtime-wasi's linker, [`super::wasi_host`]); `wasi::thread-spawn` needs
//! `-S threads` (removed in 47); anything else (`env`, `gojs`,
//! wasm-bindgen, a misspelt preview1 function) is "unknown import" at
//! instantiation.

use super::wasi_host::{self, parse_interface};
use super::{Flag, WasiOption, WasmtimeVersion};

/// How the CLI satisfies one import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Linked {
    /// Linked by default.
    Provided,
    /// Linked with this `-S` option.
    WithFlag(WasiOption),
    /// Not provided: instantiation fails with "unknown import".
    Missing(String),
}

/// The last release with wasi-threads: the last that accepts `-S threads`
/// (the one fact, in [`Flag::range`]).
fn last_with_threads() -> u32 {
    Flag::Wasi(WasiOption::Threads)
        .range()
        .1
        .map_or(u32::MAX, |v| v.major)
}

/// A core module import `module::name`, for the target CLI.
pub fn core_import(module: &str, name: &str, target: WasmtimeVersion) -> Linked {
    match module {
        // The names (and signatures) come from wasmtime-wasi's own linker.
        m if wasi_host::is_wasi_snapshot(m) && wasi_host::signature(m, name).is_some() => {
            Linked::Provided
        }
        "wasi_snapshot_preview1" | "wasi_unstable" => Linked::Missing(format!(
            "`{name}` is not a function of {module} (a WASIX or vendor extension?)"
        )),
        "wasi" if name == "thread-spawn" && target.major > last_with_threads() => {
            Linked::Missing(format!(
                "wasi-threads was removed in wasmtime {}; the last CLI that runs it is {}.x",
                last_with_threads() + 1,
                last_with_threads()
            ))
        }
        "wasi" if name == "thread-spawn" => Linked::WithFlag(WasiOption::Threads),
        "wasi_ephemeral_nn" => Linked::WithFlag(WasiOption::Nn),
        "env" => Linked::Missing(
            "`env` imports come from Emscripten or an unresolved C symbol; wasmtime provides none \
             (build for wasm32-wasip1 or wasm32-wasip2 instead)"
                .to_owned(),
        ),
        "gojs" | "go" => Linked::Missing(
            "Go's js/wasm port (GOOS=js) runs only in a browser or Node.js; build with GOOS=wasip1"
                .to_owned(),
        ),
        m if m.starts_with("__wbindgen") || m == "wbg" => Linked::Missing(
            "wasm-bindgen glue expects JavaScript; build for a WASI target instead".to_owned(),
        ),
        m if m.starts_with("wasix") => {
            Linked::Missing("WASIX (Wasmer) imports are not WASI".to_owned())
        }
        _ => Linked::Missing(format!(
            "`{module}` is not an interface the wasmtime CLI provides (a vendor host call?)"
        )),
    }
}

/// The interfaces a component may import from a WASI 0.2 package the CLI
/// links (read from wasmtime-wasi 48.0.8's WIT, `src/p2/wit/deps`, and
/// wasmtime-wasi-http's; `wasi:cli/run` and `wasi:http/incoming-handler`
/// are exports, `wasi:clocks/timezone` is unstable and off). With
/// `--compile` the linker itself judges, names and types.
fn interfaces_of(package: &str) -> Option<&'static [&'static str]> {
    Some(match package {
        "cli" => &[
            "environment",
            "exit",
            "stdin",
            "stdout",
            "stderr",
            "terminal-input",
            "terminal-output",
            "terminal-stdin",
            "terminal-stdout",
            "terminal-stderr",
        ],
        "clocks" => &["monotonic-clock", "wall-clock"],
        "filesystem" => &["types", "preopens"],
        "io" => &["error", "poll", "streams"],
        "random" => &["random", "insecure", "insecure-seed"],
        "sockets" => &[
            "network",
            "instance-network",
            "udp",
            "udp-create-socket",
            "tcp",
            "tcp-create-socket",
            "ip-name-lookup",
        ],
        "http" => &["types", "outgoing-handler"],
        _ => return None,
    })
}

/// A component import. `serve` is true for `wasmtime serve`, which links
/// wasi:http itself.
pub fn component_import(name: &str, serve: bool) -> Linked {
    let Some(i) = parse_interface(name) else {
        return Linked::Missing(format!("`{name}` is not a WASI interface"));
    };
    if i.namespace != "wasi" {
        return Linked::Missing(format!(
            "`{}:{}` is not a WASI package; the wasmtime CLI provides only WASI interfaces",
            i.namespace, i.package
        ));
    }
    match i.version {
        Some(v) if v.starts_with("0.2.") => {}
        Some(v) => {
            return Linked::Missing(format!(
                "WASI {v} is not implemented by this wasmtime CLI, which implements WASI 0.2"
            ))
        }
        None => return Linked::Missing("an unversioned WASI import".to_owned()),
    }
    if let Some(known) = interfaces_of(i.package) {
        if !known.contains(&i.interface) {
            return Linked::Missing(format!(
                "`wasi:{}` has no interface `{}` the wasmtime CLI provides (it has {})",
                i.package,
                i.interface,
                known.join(", ")
            ));
        }
    }
    match i.package {
        p if wasi_host::P2_PACKAGES.contains(&p) => Linked::Provided,
        "http" if serve => Linked::Provided,
        "http" => Linked::WithFlag(WasiOption::Http),
        "nn" => Linked::WithFlag(WasiOption::Nn),
        "config" => Linked::WithFlag(WasiOption::Config),
        "keyvalue" => Linked::WithFlag(WasiOption::Keyvalue),
        other => Linked::Missing(format!(
            "`wasi:{other}` is not provided by the wasmtime CLI"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V31: WasmtimeVersion = WasmtimeVersion::DEFAULT;

    #[test]
    fn core_imports() {
        assert_eq!(
            core_import("wasi_snapshot_preview1", "fd_write", V31),
            Linked::Provided
        );
        assert_eq!(
            core_import("wasi_unstable", "proc_exit", V31),
            Linked::Provided
        );
        assert_eq!(
            core_import("wasi", "thread-spawn", V31),
            Linked::WithFlag(WasiOption::Threads)
        );
        assert!(matches!(
            core_import("wasi_snapshot_preview1", "sock_open", V31),
            Linked::Missing(_)
        ));
        assert!(matches!(
            core_import("env", "memcpy", V31),
            Linked::Missing(_)
        ));
        assert!(matches!(
            core_import("gojs", "runtime.ticks", V31),
            Linked::Missing(_)
        ));
        assert!(matches!(
            core_import("wasi", "thread-spawn", WasmtimeVersion::new(47, 0, 0)),
            Linked::Missing(_)
        ));
    }

    #[test]
    fn component_imports() {
        assert_eq!(
            component_import("wasi:cli/environment@0.2.0", false),
            Linked::Provided
        );
        assert_eq!(
            component_import("wasi:io/streams@0.2.12", false),
            Linked::Provided
        );
        assert_eq!(
            component_import("wasi:http/types@0.2.3", false),
            Linked::WithFlag(WasiOption::Http)
        );
        assert_eq!(
            component_import("wasi:http/types@0.2.3", true),
            Linked::Provided
        );
        assert!(matches!(
            component_import("wasi:cli/environment@0.3.0", false),
            Linked::Missing(_)
        ));
        assert!(matches!(
            component_import("fermyon:spin/key-value@2.0.0", false),
            Linked::Missing(_)
        ));
        assert!(matches!(
            component_import("not-an-interface", false),
            Linked::Missing(_)
        ));
    }
}
