//! The embedded wasmtime, configured like the target CLI: the proposals it
//! enables by default plus the `-W` flags the unit will pass. It validates
//! (in parallel), and on request compiles with Cranelift for this host.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use wasmparser::{Validator, WasmFeatures};

use super::inspect::Kind;
use crate::invalid::Invalid;
use crate::releases::proposals::{self, Proposal};
use crate::releases::WasmtimeVersion;

/// An engine whose accepted proposals are exactly `features` (the target's
/// baseline and the `-W` flags of the unit: `proposals::defaults_of` and more).
pub fn engine(features: WasmFeatures) -> Result<wasmtime::Engine, Invalid> {
    let f = |x| features.contains(x);
    let mut c = wasmtime::Config::new();
    c.wasm_threads(f(WasmFeatures::THREADS))
        .wasm_memory64(f(WasmFeatures::MEMORY64))
        .wasm_function_references(f(WasmFeatures::FUNCTION_REFERENCES) || f(WasmFeatures::GC))
        .wasm_gc(f(WasmFeatures::GC))
        .wasm_exceptions(f(WasmFeatures::EXCEPTIONS))
        .wasm_wide_arithmetic(f(WasmFeatures::WIDE_ARITHMETIC))
        .wasm_custom_page_sizes(f(WasmFeatures::CUSTOM_PAGE_SIZES))
        // The rest of the target's baseline (releases::proposals::baseline),
        // read from `features` too: the facts live there, not here.
        .wasm_tail_call(f(WasmFeatures::TAIL_CALL))
        .wasm_multi_memory(f(WasmFeatures::MULTI_MEMORY))
        .wasm_simd(f(WasmFeatures::SIMD))
        .wasm_relaxed_simd(f(WasmFeatures::RELAXED_SIMD))
        .wasm_extended_const(f(WasmFeatures::EXTENDED_CONST))
        .wasm_component_model(f(WasmFeatures::COMPONENT_MODEL))
        // A check discards the machine code: skip the address map kept only
        // for backtraces and debuggers, and the unwind tables kept for the
        // system's unwinder (neither can make a compile fail).
        .generate_address_map(false)
        .native_unwind_info(false);
    wasmtime::Engine::new(&c).map_err(|e| Invalid::new(format!("{e:#}")))
}

/// Validates as the target would, with the validator the engine embeds
/// (the same wasmparser wasmtime 48 runs) given the target CLI's proposals.
/// Function bodies are validated in parallel, as wasmtime and wasm-tools
/// do, and in batches handed out while the sections are still being read,
/// so that the second core starts on the first bodies instead of waiting
/// for the whole code section. Of several errors, the one earliest in the
/// file is reported, as a validator reading in order would.
pub fn validate(features: WasmFeatures, bytes: &[u8]) -> Result<(), Invalid> {
    use wasmparser::{Parser, ValidPayload};
    /// Enough code per batch that handing it over costs nothing, small
    /// enough that both cores finish together.
    const BATCH_BYTES: usize = 256 << 10;
    let first = FirstError::default();
    rayon::scope(|s| {
        let mut batch = Vec::new();
        let mut batch_bytes = 0;
        let mut validator = Validator::new_with_features(features);
        for payload in Parser::new(0).parse_all(bytes) {
            let valid = payload.and_then(|p| validator.payload(&p));
            match valid {
                Ok(ValidPayload::Func(to_validate, body)) => {
                    batch_bytes += body.range().len();
                    batch.push((to_validate, body));
                    if batch_bytes >= BATCH_BYTES {
                        hand_out(s, std::mem::take(&mut batch), &first);
                        batch_bytes = 0;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    first.record(e.offset(), e.to_string());
                    break;
                }
            }
        }
        if !batch.is_empty() {
            hand_out(s, batch, &first);
        }
    });
    match first
        .error
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
    {
        Some((_, message)) => Err(message.into()),
        None => Ok(()),
    }
}

/// The error earliest in the file among those the workers found; bodies
/// after it are not validated (they could not change the answer).
struct FirstError {
    at: AtomicUsize,
    error: Mutex<Option<(usize, String)>>,
}

impl Default for FirstError {
    fn default() -> FirstError {
        FirstError {
            at: AtomicUsize::new(usize::MAX),
            error: Mutex::new(None),
        }
    }
}

impl FirstError {
    fn record(&self, offset: usize, message: String) {
        let mut e = self.error.lock().unwrap_or_else(PoisonError::into_inner);
        if e.as_ref().is_none_or(|(at, _)| offset < *at) {
            *e = Some((offset, message));
            self.at.store(offset, Ordering::Relaxed);
        }
    }

    fn known_before(&self, offset: usize) -> bool {
        self.at.load(Ordering::Relaxed) < offset
    }
}

type Batch<'b> = Vec<(
    wasmparser::FuncToValidate<wasmparser::ValidatorResources>,
    wasmparser::FunctionBody<'b>,
)>;

/// Validates a batch of function bodies on the pool, recording the first
/// error and leaving the rest of the batch.
fn hand_out<'s, 'b: 's>(s: &rayon::Scope<'s>, batch: Batch<'b>, first: &'s FirstError) {
    s.spawn(move |_| {
        let mut allocs = wasmparser::FuncValidatorAllocations::default();
        for (to_validate, body) in batch {
            if first.known_before(body.range().start) {
                return;
            }
            let mut v = to_validate.into_validator(allocs);
            if let Err(e) = v.validate(&body) {
                first.record(e.offset(), e.to_string());
                return;
            }
            allocs = v.into_allocations();
        }
    });
}

/// Compiles for this host, as `wasmtime compile` would.
pub fn compile(engine: &wasmtime::Engine, kind: Kind, bytes: &[u8]) -> Result<usize, Invalid> {
    let r = match kind {
        Kind::CoreModule => engine.precompile_module(bytes),
        Kind::Component => engine.precompile_component(bytes),
    };
    r.map(|artifact| artifact.len())
        .map_err(|e| Invalid::new(format!("{e:#}")))
}

/// Compiles a component and links it against the CLI's WASI 0.2 host:
/// the size of its artifact, and what the linker says of its imports.
pub fn compile_and_link_component(
    engine: &wasmtime::Engine,
    bytes: &[u8],
) -> Result<(usize, Result<(), Invalid>), Invalid> {
    let component = wasmtime::component::Component::new(engine, bytes)
        .map_err(|e| Invalid::new(format!("{e:#}")))?;
    let size = component.serialize().map_or(0, |a| a.len());
    Ok((
        size,
        crate::releases::wasi_host::link_component(engine, &component),
    ))
}

/// Why validation against the target failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Diagnosis {
    /// Invalid under every proposal wasmunit knows.
    Invalid(String),
    /// Valid once these proposals (not on by default in the target) are on.
    NeedsProposals(Vec<&'static Proposal>),
}

fn validates(features: WasmFeatures, bytes: &[u8]) -> Result<(), Invalid> {
    Validator::new_with_features(features)
        .validate_all(bytes)
        .map(|_| ())
        .map_err(|e| Invalid::new(e.to_string()))
}

/// The proposal a validation error message is about, if it names one.
fn proposal_in_message(message: &str) -> Option<&'static Proposal> {
    let m = message.to_ascii_lowercase();
    let name = if m.contains("exception") {
        "exception-handling"
    } else if m.contains("wide arithmetic") {
        "wide-arithmetic"
    } else if m.contains("custom page size") {
        "custom-page-sizes"
    } else if m.contains("function reference") {
        "function-references"
    } else if m.contains("gc types") || m.contains("gc feature") || m.contains("gc proposal") {
        "gc"
    } else {
        return None;
    };
    proposals::PROPOSALS.iter().find(|p| p.name == name)
}

/// Finds the proposals a module needs beyond the target's defaults: first
/// by following the validator's messages (one validation per proposal),
/// then, should a message name none, by trying each proposal in turn.
pub fn diagnose(target: WasmtimeVersion, bytes: &[u8]) -> Diagnosis {
    let all = proposals::everything();
    let defaults = proposals::defaults_of(target);
    let mut features = defaults;
    let mut needed: Vec<&'static Proposal> = Vec::new();
    loop {
        match validates(features, bytes) {
            Ok(()) => return Diagnosis::NeedsProposals(needed),
            Err(e) => match proposal_in_message(e.reason()) {
                Some(p) if !needed.contains(&p) && !features.contains(p.features) => {
                    needed.push(p);
                    features |= p.features;
                    if p.features.contains(WasmFeatures::GC) {
                        features |= WasmFeatures::FUNCTION_REFERENCES;
                    }
                }
                _ => break,
            },
        }
    }
    if let Err(e) = validates(all, bytes) {
        return Diagnosis::Invalid(e.into());
    }
    let needed: Vec<&'static Proposal> = proposals::PROPOSALS
        .iter()
        .filter(|p| !p.on_by_default(target))
        .filter(|p| {
            // Required when the module is invalid without the proposal's own
            // bits (GC cannot stay on without the typed function references it
            // builds on).
            let mut own = p.features.difference(defaults);
            if own.contains(WasmFeatures::FUNCTION_REFERENCES) {
                own |= WasmFeatures::GC;
            }
            !own.is_empty() && validates(all.difference(own), bytes).is_err()
        })
        .collect();
    Diagnosis::NeedsProposals(needed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two invalid functions in two batches: the error reported is the
    /// first in the file, as the validator reading in order reports it.
    #[test]
    fn the_earliest_error_is_reported_whichever_batch_finishes_first() {
        let long_and_wrong = format!("(func (result i32) {})", "nop ".repeat(300_000));
        let wat = format!("(module {long_and_wrong} (func (result i64) i32.const 0))");
        let wasm = wat::parse_str(&wat).expect("wat");
        let features = WasmFeatures::default();
        let in_order = Validator::new_with_features(features)
            .validate_all(&wasm)
            .err()
            .expect("invalid")
            .to_string();
        for _ in 0..20 {
            let parallel = validate(features, &wasm).expect_err("invalid");
            assert_eq!(parallel.reason(), in_order);
        }
        let valid = wat::parse_str("(module (func (result i32) i32.const 1))").expect("wat");
        assert!(validate(features, &valid).is_ok());
    }
}
