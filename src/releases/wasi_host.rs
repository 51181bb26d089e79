//! The WASI host the wasmtime CLI links a module against, read from
//! wasmtime-wasi's own linkers (the code the CLI runs; for preview1, via the
//! table they generate, see [`linker_signatures`]): every function of
//! `wasi_snapshot_preview1` and `wasi_unstable` with its signature (both
//! snapshots are frozen, so one table serves every target version), and
//! for a compiled component, the WASI 0.2 linker itself.

use crate::invalid::Invalid;

/// Where the table of preview1/preview0 signatures is committed.
pub const P1_TABLE_PATH: &str = "src/releases/wasi_p1.rs";

/// The preview1 and preview0 functions wasmtime-wasi's linkers define, each
/// with its signature as WAT, sorted. [`p1_table_source`] commits them to
/// [`P1_TABLE_PATH`] (a test keeps it equal to this), and a check reads that
/// table instead of building an engine and a linker every time (3 MiB of
/// peak memory and a millisecond, measured).
pub fn linker_signatures() -> wasmtime::Result<Vec<(String, String, String)>> {
    use wasmtime_wasi::p1::WasiP1Ctx;
    let engine = wasmtime::Engine::default();
    let mut linker: wasmtime::Linker<WasiP1Ctx> = wasmtime::Linker::new(&engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |t| t)?;
    wasmtime_wasi::p0::add_to_linker_sync(&mut linker, |t| t)?;
    let mut store = wasmtime::Store::new(&engine, wasmtime_wasi::WasiCtxBuilder::new().build_p1());
    let defs: Vec<(String, String, wasmtime::Extern)> = linker
        .iter(&mut store)
        .map(|(m, n, e)| (m.to_owned(), n.to_owned(), e))
        .collect();
    let mut out = Vec::new();
    for (module, name, ext) in defs {
        if let wasmtime::Extern::Func(f) = ext {
            let ty = f.ty(&store);
            let params: Vec<String> = ty.params().map(|v| v.to_string()).collect();
            let results: Vec<String> = ty.results().map(|v| v.to_string()).collect();
            out.push((module, name, func_text(&params, &results)));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The text of [`P1_TABLE_PATH`] for `signatures`.
pub fn p1_table_source(signatures: &[(String, String, String)]) -> String {
    use std::fmt::Write as _;
    let mut s = String::from(
        "//! Generated from wasmtime-wasi's preview1 and preview0 linkers by\n\
         //! `tests/all/conventions.rs`, which fails when they differ (`BLESS=1 cargo\n\
         //! test --test conventions` rewrites it). Do not edit.\n\n\
         /// (module, function, signature as WAT), sorted.\n\
         #[rustfmt::skip]\n\
         pub const FUNCS: &[(&str, &str, &str)] = &[\n",
    );
    for (m, n, sig) in signatures {
        let _ = writeln!(s, "    ({m:?}, {n:?}, {sig:?}),");
    }
    s.push_str("];\n");
    s
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
    let funcs = super::wasi_p1::FUNCS;
    funcs
        .binary_search_by(|&(m, n, _)| (m, n).cmp(&(module, name)))
        .ok()
        .map(|i| funcs[i].2)
}

/// The WASI 0.2 packages wasmtime-wasi's own linker defines; the others
/// (wasi:http, wasi:nn, …) come from `-S` options and are judged by name.
pub const P2_PACKAGES: [&str; 6] = ["cli", "clocks", "filesystem", "io", "random", "sockets"];

struct P2Host {
    ctx: wasmtime_wasi::WasiCtx,
    table: wasmtime::component::ResourceTable,
}

impl wasmtime_wasi::WasiView for P2Host {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        wasmtime_wasi::WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

/// A WASI interface name split up: `wasi:http/types@0.2.3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceName<'a> {
    pub namespace: &'a str,
    pub package: &'a str,
    pub interface: &'a str,
    pub version: Option<&'a str>,
}

pub fn parse_interface(name: &str) -> Option<InterfaceName<'_>> {
    let (ns, rest) = name.split_once(':')?;
    let (path, version) = match rest.split_once('@') {
        Some((p, v)) => (p, Some(v)),
        None => (rest, None),
    };
    let (package, interface) = path.split_once('/')?;
    Some(InterfaceName {
        namespace: ns,
        package,
        interface,
        version,
    })
}

/// Links a compiled component the way `wasmtime run` does (wasmtime-wasi's
/// WASI 0.2 linker, default options) and pre-instantiates it: a missing or
/// mistyped WASI 0.2 import is the linker's own error. Imports outside
/// [`P2_PACKAGES`] are stubbed, so only their names are judged (elsewhere).
pub fn link_component(
    engine: &wasmtime::Engine,
    component: &wasmtime::component::Component,
) -> Result<(), Invalid> {
    use wasmtime::component::Linker;
    let mut linker: Linker<P2Host> = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
        .map_err(|e| Invalid::new(format!("{e:#}")))?;
    let ty = component.component_type();
    for (name, item) in ty.imports(engine) {
        let package = parse_interface(name)
            .filter(|i| i.namespace == "wasi")
            .map(|i| i.package);
        if package.is_some_and(|p| P2_PACKAGES.contains(&p)) {
            continue;
        }
        stub(&mut linker.root(), name, &item.ty, engine)
            .map_err(|e| Invalid::new(format!("{e:#}")))?;
    }
    linker
        .instantiate_pre(component)
        .map(drop)
        .map_err(|e| Invalid::new(format!("{e:#}")))
}

/// Defines an import the linker does not provide as something that only
/// satisfies its type (nothing here ever runs).
fn stub(
    at: &mut wasmtime::component::LinkerInstance<'_, P2Host>,
    name: &str,
    item: &wasmtime::component::types::ComponentItem,
    engine: &wasmtime::Engine,
) -> wasmtime::Result<()> {
    use wasmtime::component::types::ComponentItem;
    match item {
        ComponentItem::ComponentFunc(_) => {
            at.func_new(name, |_, _, _, _| wasmtime::bail!("a stub"))?;
        }
        ComponentItem::ComponentInstance(instance) => {
            let mut inner = at.instance(name)?;
            for (n, i) in instance.exports(engine) {
                stub(&mut inner, n, &i.ty, engine)?;
            }
        }
        ComponentItem::Resource(_) => {
            at.resource(
                name,
                wasmtime::component::ResourceType::host::<()>(),
                |_, _| Ok(()),
            )?;
        }
        _ => {}
    }
    Ok(())
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
        let count = |m: &str| {
            super::super::wasi_p1::FUNCS
                .iter()
                .filter(|(module, _, _)| *module == m)
                .count()
        };
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
