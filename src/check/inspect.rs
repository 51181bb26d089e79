//! Bytes → shape: what kind of binary this is, what it imports and exports,
//! and how much memory it asks for. Parsing only; validation is the
//! engine's job. Malformed input gives an error, never a panic.

use crate::invalid::Invalid;
use serde::{Deserialize, Serialize};
use wasmparser::{Chunk, ComponentExternalKind, ExternalKind, Parser, Payload, TypeRef};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    CoreModule,
    Component,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Shape {
    pub kind: Option<Kind>,
    /// Core: `module::name`; component: the import name (`wasi:cli/stdin@0.2.0`).
    pub imports: Vec<String>,
    /// Function exports of a core module, or top-level exports of a component.
    pub exports: Vec<String>,
    /// Largest declared minimum size of a memory, in bytes (core modules and
    /// the core modules inside a component).
    pub min_memory_bytes: u64,
    /// Core imports that are memories (`module::name`).
    pub memory_imports: Vec<String>,
    /// The module defines a shared memory of its own.
    #[serde(default)]
    pub defines_shared_memory: bool,
    /// Core: each function import's type as WAT (`module::name` → type).
    #[serde(default)]
    pub func_import_types: std::collections::BTreeMap<String, String>,
    /// Core: a memory is exported as `memory`, where WASI looks for it.
    #[serde(default)]
    pub exports_memory: bool,
    /// Core: the type (as WAT) of each exported function that `wasmtime
    /// run` may call as the entry (`_start`, the default export ""), and of
    /// `_initialize`, which it calls first.
    #[serde(default)]
    pub entry_types: std::collections::BTreeMap<String, String>,
    /// Core: why instantiation fails whatever the host provides: an active
    /// data or element segment at a constant offset beyond the initial
    /// memory or table (wasmtime refuses it before running anything).
    #[serde(default)]
    pub instantiation_error: Option<String>,
}

/// The index spaces `inspect` follows in a core module at the top level.
#[derive(Default)]
struct CoreSpaces {
    /// Type index of each function, imported first.
    funcs: Vec<u32>,
    /// Initial size of each memory in bytes, imported first.
    memories: Vec<u64>,
    /// Initial size of each table in elements, imported first.
    tables: Vec<u64>,
}

/// Why the bytes are not a WebAssembly binary at all.
fn sniff(bytes: &[u8]) -> Result<Kind, Invalid> {
    let text_start = |b: &[u8]| {
        let t = String::from_utf8_lossy(&b[..b.len().min(256)]);
        let t = t.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
        t.starts_with("(module") || t.starts_with("(component") || t.starts_with(";;")
    };
    match bytes {
        [] => Err(Invalid::from("the file is empty".to_owned())),
        [0x1f, 0x8b, ..] => Err(Invalid::from(
            "the file is gzip-compressed: decompress it first".to_owned(),
        )),
        [b'P', b'K', 3, 4, ..] => Err(Invalid::from(
            "the file is a zip archive (a wheel or jar?), not a module".to_owned(),
        )),
        b if text_start(b) => Err(Invalid::from(
            "the file is WebAssembly text (WAT): compile it to a binary first".to_owned(),
        )),
        [0, b'a', b's', b'm', 1, 0, 0, 0, ..] => Ok(Kind::CoreModule),
        [0, b'a', b's', b'm', 0x0d, 0, 1, 0, ..] => Ok(Kind::Component),
        [0, b'a', b's', b'm', v @ ..] if v.len() >= 4 => Err(Invalid::from(format!(
            "unsupported WebAssembly binary version {:02x} {:02x} {:02x} {:02x}",
            v[0], v[1], v[2], v[3]
        ))),
        [0, b'a', b's', b'm', ..] => Err(Invalid::from(
            "the file is truncated inside the WebAssembly header".to_owned(),
        )),
        _ => Err(Invalid::from(
            "the file is not a WebAssembly binary (no \\0asm header)".to_owned(),
        )),
    }
}

pub fn inspect(bytes: &[u8]) -> Result<Shape, Invalid> {
    let kind = sniff(bytes)?;
    let mut shape = Shape {
        kind: Some(kind),
        ..Shape::default()
    };
    // Nesting depth: 0 is the top level of the file.
    let mut depth = 0usize;
    // Core: every type index's function type as WAT (see read_func_types).
    let mut func_types: Vec<Option<String>> = Vec::new();
    let mut spaces = CoreSpaces::default();
    for payload in payloads(bytes, kind) {
        match payload? {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::TypeSection(reader) if depth == 0 && kind == Kind::CoreModule => {
                read_func_types(reader, &mut func_types)?;
            }
            Payload::ImportSection(reader) if depth == 0 && kind == Kind::CoreModule => {
                read_core_imports(reader, &func_types, &mut shape, &mut spaces)?;
            }
            Payload::FunctionSection(reader) if depth == 0 && kind == Kind::CoreModule => {
                for t in reader {
                    spaces
                        .funcs
                        .push(t.map_err(|e| format!("malformed function: {e}"))?);
                }
            }
            Payload::TableSection(reader) if depth == 0 && kind == Kind::CoreModule => {
                for t in reader {
                    let t = t.map_err(|e| format!("malformed table: {e}"))?;
                    spaces.tables.push(t.ty.initial);
                }
            }
            Payload::MemorySection(reader) => {
                for m in reader {
                    let m = m.map_err(|e| format!("malformed memory: {e}"))?;
                    shape.defines_shared_memory |= m.shared;
                    shape.min_memory_bytes = shape.min_memory_bytes.max(memory_bytes(&m));
                    if depth == 0 && kind == Kind::CoreModule {
                        spaces.memories.push(memory_bytes(&m));
                    }
                }
            }
            Payload::DataSection(reader) if depth == 0 && kind == Kind::CoreModule => {
                check_data_segments(reader, &spaces, &mut shape)?;
            }
            Payload::ElementSection(reader) if depth == 0 && kind == Kind::CoreModule => {
                check_element_segments(reader, &spaces, &mut shape)?;
            }
            Payload::ExportSection(reader) if depth == 0 && kind == Kind::CoreModule => {
                read_core_exports(reader, &spaces, &func_types, &mut shape)?;
            }
            Payload::ComponentImportSection(reader) if depth == 0 => {
                for imp in reader {
                    let imp = imp.map_err(|e| format!("malformed import: {e}"))?;
                    shape.imports.push(imp.name.name.to_owned());
                }
            }
            Payload::ComponentExportSection(reader) if depth == 0 => {
                for exp in reader {
                    let exp = exp.map_err(|e| format!("malformed export: {e}"))?;
                    if exp.kind == ComponentExternalKind::Instance
                        || exp.kind == ComponentExternalKind::Func
                    {
                        shape.exports.push(exp.name.name.to_owned());
                    }
                }
            }
            _ => {}
        }
    }
    Ok(shape)
}

/// The payloads `inspect` reads: a core module's without its code section.
fn payloads(
    bytes: &[u8],
    kind: Kind,
) -> Box<dyn Iterator<Item = Result<Payload<'_>, Invalid>> + '_> {
    match kind {
        Kind::CoreModule => Box::new(OutsideCode {
            parser: Parser::new(0),
            rest: bytes,
            done: false,
        }),
        Kind::Component => Box::new(
            Parser::new(0)
                .parse_all(bytes)
                .map(|p| p.map_err(|e| format!("malformed binary: {e}").into())),
        ),
    }
}

/// A core module's payloads with its code section skipped whole: the
/// validator reads every function body (on another core, at the same
/// time); a shape needs none of them, and splitting 30 MB of code into
/// bodies a second time is most of a shape's cost.
struct OutsideCode<'a> {
    parser: Parser,
    rest: &'a [u8],
    done: bool,
}

impl<'a> Iterator for OutsideCode<'a> {
    type Item = Result<Payload<'a>, Invalid>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            let parsed = self.parser.parse(self.rest, true);
            let (consumed, payload) = match parsed {
                Ok(Chunk::Parsed { consumed, payload }) => (consumed, payload),
                Ok(Chunk::NeedMoreData(_)) => return Some(self.fail("unexpected end")),
                Err(e) => return Some(self.fail(&e.to_string())),
            };
            self.rest = &self.rest[consumed..];
            match payload {
                Payload::CodeSectionStart { size, .. } => {
                    self.parser.skip_section();
                    match self.rest.get(size as usize..) {
                        Some(after) => self.rest = after,
                        None => return Some(self.fail("the code section runs past the end")),
                    }
                }
                Payload::End(_) => {
                    self.done = true;
                    return Some(Ok(payload));
                }
                other => return Some(Ok(other)),
            }
        }
    }
}

impl OutsideCode<'_> {
    fn fail<T>(&mut self, why: &str) -> Result<T, Invalid> {
        self.done = true;
        Err(format!("malformed binary: {why}").into())
    }
}

/// Every type index's function type as WAT (None: not a function).
fn read_func_types(
    reader: wasmparser::TypeSectionReader<'_>,
    func_types: &mut Vec<Option<String>>,
) -> Result<(), Invalid> {
    for group in reader {
        let group = group.map_err(|e| format!("malformed type: {e}"))?;
        for sub in group.into_types() {
            func_types.push(match &sub.composite_type.inner {
                wasmparser::CompositeInnerType::Func(f) => {
                    let text = |v: &[wasmparser::ValType]| -> Vec<String> {
                        v.iter().map(ToString::to_string).collect()
                    };
                    Some(crate::releases::wasi_host::func_text(
                        &text(f.params()),
                        &text(f.results()),
                    ))
                }
                _ => None,
            });
        }
    }
    Ok(())
}

/// A core module's imports: names, function types, imported memories.
fn read_core_imports(
    reader: wasmparser::ImportSectionReader<'_>,
    func_types: &[Option<String>],
    shape: &mut Shape,
    spaces: &mut CoreSpaces,
) -> Result<(), Invalid> {
    for imp in reader.into_imports() {
        let imp = imp.map_err(|e| format!("malformed import: {e}"))?;
        let name = format!("{}::{}", imp.module, imp.name);
        match imp.ty {
            TypeRef::Func(t) => spaces.funcs.push(t),
            // The host may give an imported memory or table more than its minimum.
            TypeRef::Memory(_) => spaces.memories.push(u64::MAX),
            TypeRef::Table(_) => spaces.tables.push(u64::MAX),
            _ => {}
        }
        if let TypeRef::Func(t) = imp.ty {
            if let Some(Some(text)) = usize::try_from(t).ok().and_then(|t| func_types.get(t)) {
                shape.func_import_types.insert(name.clone(), text.clone());
            }
        }
        if let TypeRef::Memory(m) = imp.ty {
            shape.min_memory_bytes = shape.min_memory_bytes.max(memory_bytes(&m));
            shape.memory_imports.push(name.clone());
        }
        shape.imports.push(name);
    }
    Ok(())
}

/// A core module's exports: function names, the entry's type, `memory`.
fn read_core_exports(
    reader: wasmparser::ExportSectionReader<'_>,
    spaces: &CoreSpaces,
    func_types: &[Option<String>],
    shape: &mut Shape,
) -> Result<(), Invalid> {
    for exp in reader {
        let exp = exp.map_err(|e| format!("malformed export: {e}"))?;
        if exp.kind == ExternalKind::Func {
            shape.exports.push(exp.name.to_owned());
            if exp.name == "_start" || exp.name.is_empty() || exp.name == "_initialize" {
                let ty = spaces
                    .funcs
                    .get(exp.index as usize)
                    .and_then(|&t| func_types.get(t as usize).cloned().flatten());
                if let Some(ty) = ty {
                    shape.entry_types.insert(exp.name.to_owned(), ty);
                }
            }
        }
        shape.exports_memory |= exp.kind == ExternalKind::Memory && exp.name == "memory";
    }
    Ok(())
}

/// An active data segment at a constant offset past its memory's initial
/// size fails instantiation (imported memories may be larger: skipped).
fn check_data_segments(
    reader: wasmparser::DataSectionReader<'_>,
    spaces: &CoreSpaces,
    shape: &mut Shape,
) -> Result<(), Invalid> {
    for d in reader {
        let d = d.map_err(|e| format!("malformed data segment: {e}"))?;
        let wasmparser::DataKind::Active {
            memory_index,
            offset_expr,
        } = d.kind
        else {
            continue;
        };
        let size = spaces.memories.get(memory_index as usize).copied();
        let end = const_offset(&offset_expr).map(|o| o.saturating_add(d.data.len() as u64));
        if let (Some(end), Some(size)) = (end, size) {
            if end > size && shape.instantiation_error.is_none() {
                shape.instantiation_error = Some(format!(
                    "an active data segment ends at byte {end}, beyond memory \
                     {memory_index}'s initial {size} bytes"
                ));
            }
        }
    }
    Ok(())
}

/// Like [`check_data_segments`], for element segments and tables.
fn check_element_segments(
    reader: wasmparser::ElementSectionReader<'_>,
    spaces: &CoreSpaces,
    shape: &mut Shape,
) -> Result<(), Invalid> {
    for e in reader {
        let e = e.map_err(|e| format!("malformed element segment: {e}"))?;
        let wasmparser::ElementKind::Active {
            table_index,
            offset_expr,
        } = e.kind
        else {
            continue;
        };
        let count = match &e.items {
            wasmparser::ElementItems::Functions(r) => u64::from(r.count()),
            wasmparser::ElementItems::Expressions(_, r) => u64::from(r.count()),
        };
        let size = spaces
            .tables
            .get(table_index.unwrap_or(0) as usize)
            .copied();
        let end = const_offset(&offset_expr).map(|o| o.saturating_add(count));
        if let (Some(end), Some(size)) = (end, size) {
            if end > size && shape.instantiation_error.is_none() {
                shape.instantiation_error = Some(format!(
                    "an active element segment ends at entry {end}, beyond the \
                     table's initial {size} entries"
                ));
            }
        }
    }
    Ok(())
}

/// The offset of a segment when it is a constant (`i32.const N` or
/// `i64.const N`); `None` when it reads a global.
fn const_offset(expr: &wasmparser::ConstExpr<'_>) -> Option<u64> {
    let mut ops = expr.get_operators_reader();
    let value = match ops.read().ok()? {
        wasmparser::Operator::I32Const { value } => {
            u64::from(u32::from_ne_bytes(value.to_ne_bytes()))
        }
        wasmparser::Operator::I64Const { value } => u64::from_ne_bytes(value.to_ne_bytes()),
        _ => return None,
    };
    matches!(ops.read().ok()?, wasmparser::Operator::End).then_some(value)
}

fn memory_bytes(m: &wasmparser::MemoryType) -> u64 {
    let page = m
        .page_size_log2
        .map_or(65536u64, |l| 1u64.checked_shl(l).unwrap_or(u64::MAX));
    m.initial.saturating_mul(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_the_usual_suspects() {
        assert!(sniff(b"").expect_err("rejected").reason().contains("empty"));
        assert!(sniff(&[0x1f, 0x8b, 8, 0])
            .expect_err("rejected")
            .reason()
            .contains("gzip"));
        assert!(sniff(b"(module)")
            .expect_err("rejected")
            .reason()
            .contains("WAT"));
        assert!(sniff(b"\0as")
            .expect_err("rejected")
            .reason()
            .contains("not a WebAssembly binary"));
        assert!(sniff(b"\0asm\x01\0")
            .expect_err("rejected")
            .reason()
            .contains("truncated"));
        assert!(sniff(b"\0asm\x02\0\0\0")
            .expect_err("rejected")
            .reason()
            .contains("version"));
        assert_eq!(sniff(b"\0asm\x01\0\0\0"), Ok(Kind::CoreModule));
        assert_eq!(sniff(b"\0asm\x0d\0\x01\0"), Ok(Kind::Component));
    }

    #[test]
    fn reads_imports_exports_and_memory() {
        let wasm = wat::parse_str(
            r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
                (memory (export "memory") 3) (func (export "_start")))"#,
        )
        .expect("wat");
        let s = inspect(&wasm).expect("inspect");
        assert_eq!(s.imports, ["wasi_snapshot_preview1::fd_write"]);
        assert_eq!(s.exports, ["_start"]);
        assert_eq!(s.min_memory_bytes, 3 * 65536);
    }

    /// Skipping the code section sees every other section, and a code
    /// section cut short is still malformed.
    #[test]
    fn the_code_section_is_skipped_not_ignored() {
        let wasm = wat::parse_str(
            r#"(module (func $f (export "_start") (drop (i32.const 1)))
                (memory 1) (data (i32.const 70000) "x") (export "memory" (memory 0)))"#,
        )
        .expect("wat");
        let s = inspect(&wasm).expect("inspect");
        assert_eq!(s.exports, ["_start"]);
        assert!(s.exports_memory);
        assert!(s.instantiation_error.is_some(), "{s:?}");
        // Here the code section is the last: cut inside it.
        let last = wat::parse_str(r#"(module (func (export "_start") (drop (i32.const 1))))"#)
            .expect("wat");
        assert!(inspect(&last).is_ok());
        assert!(inspect(&last[..last.len() - 2]).is_err());
    }

    #[test]
    fn trailing_garbage_is_an_error() {
        let mut wasm = wat::parse_str(r#"(module (func (export "_start")))"#).expect("wat");
        wasm.extend_from_slice(b"garbage");
        assert!(inspect(&wasm).is_err());
    }
}
