//! The WASI host the wasmtime CLI links a core module against, read from
//! wasmtime-wasi's own linker (the code the CLI runs): every function of
//! `wasi_snapshot_preview1` and `wasi_unstable` with its signature. Both
//! snapshots are frozen, so one table serves every target version.

use std::collections::BTreeMap;
use std::sync::OnceLock;

/// (module, function) → signature as WAT, e.g. `(func (param i32) (result i32))`.
type Table = BTreeMap<(String, String), String>;

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| read_linker().unwrap_or_default())
}

fn read_linker() -> wasmtime::Result<Table> {
    use wasmtime_wasi::p1::WasiP1Ctx;
    let engine = wasmtime::Engine::default();
    let mut linker: wasmtime::Linker<WasiP1Ctx> = wasmtime::Linker::new(&engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |t| t)?;
    wasmtime_wasi::p0::add_to_linker_sync(&mut linker, |t| t)?;
    let mut store = wasmtime::Store::new(&engine, wasmtime_wasi::WasiCtxBuilder::new().build_p1());
    let mut out = Table::new();
    let defs: Vec<(String, String, wasmtime::Extern)> = linker
        .iter(&mut store)
        .map(|(m, n, e)| (m.to_owned(), n.to_owned(), e))
        .collect();
    for (module, name, ext) in defs {
        if let wasmtime::Extern::Func(f) = ext {
            let ty = f.ty(&store);
            let params: Vec<String> = ty.params().map(|v| v.to_string()).collect();
            let results: Vec<String> = ty.results().map(|v| v.to_string()).collect();
            out.insert((module, name), func_text(&params, &results));
        }
    }
    Ok(out)
}

/// A function type as WAT text, the way wasmtime's errors spell it.
pub fn func_text<S: AsRef<str>>(params: &[S], results: &[S]) -> String {
    let mut s = String::from("(func");
    let mut group = |kw: &str, items: &[S]| {
        if !items.is_empty() {
            s.push_str(" (");
            s.push_str(kw);
            for i in items {
                s.push(' ');
                s.push_str(i.as_ref());
            }
            s.push(')');
        }
    };
    group("param", params);
    group("result", results);
    s.push(')');
    s
}

/// The signature the host gives `module::name`, if it defines it.
pub fn signature(module: &str, name: &str) -> Option<&'static str> {
    table()
        .get(&(module.to_owned(), name.to_owned()))
        .map(String::as_str)
}

/// Whether `module` is one of the WASI snapshots the host implements.
pub fn is_wasi_snapshot(module: &str) -> bool {
    matches!(module, "wasi_snapshot_preview1" | "wasi_unstable")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_linker_defines_both_snapshots() {
        let count = |m: &str| table().keys().filter(|(module, _)| module == m).count();
        assert_eq!(count("wasi_snapshot_preview1"), 46);
        // preview0 has no sock_accept.
        assert_eq!(count("wasi_unstable"), 45);
        assert_eq!(
            signature("wasi_snapshot_preview1", "fd_write"),
            Some("(func (param i32 i32 i32 i32) (result i32))")
        );
        assert_eq!(
            signature("wasi_snapshot_preview1", "proc_exit"),
            Some("(func (param i32))")
        );
        assert_eq!(signature("wasi_snapshot_preview1", "nope"), None);
        assert_eq!(signature("env", "fd_write"), None);
    }
}
