//! Bytes → [`Facts`], for one target: what the bytes are (`inspect`),
//! whether the embedded wasmtime validates and compiles them (`engine`),
//! and the proposals they need. A pure function, so cached by content hash.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::engine;
use super::inspect::{self, Kind, Shape};
use crate::releases::proposals;
use crate::releases::WasmtimeVersion;

/// How to check: for which target, whether to compile, whether the cache
/// may answer.
#[derive(Debug, Clone, Copy)]
pub struct CheckOptions {
    pub target: WasmtimeVersion,
    /// Also compile for this host with Cranelift.
    pub compile: bool,
    pub use_cache: bool,
}

/// What the bytes are, for one target: a pure function, so cacheable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    pub shape: Option<Shape>,
    /// Not a WebAssembly binary, or malformed.
    pub not_wasm: Option<String>,
    /// Invalid under every proposal wasmunit knows.
    pub invalid: Option<String>,
    /// Proposals used beyond the target's defaults.
    pub proposals: Vec<String>,
    /// The engine's message when it rejects the module even with the flags.
    pub engine_error: Option<String>,
    pub compile: Option<Compiled>,
    /// A compiled component's imports as wasmtime-wasi's WASI 0.2 linker
    /// judged them: its error when it refused one.
    #[serde(default)]
    pub link_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compiled {
    pub error: Option<String>,
    pub artifact_bytes: usize,
    pub millis: u64,
}

pub fn facts(bytes: &[u8], o: &CheckOptions) -> Facts {
    let mut f = Facts::default();
    let mut features = proposals::defaults_of(o.target);
    // The shape and the validation under the target's defaults read the
    // same bytes independently: both at once, on two cores (with
    // --compile, compiling validates instead).
    let (shape, validated) = std::thread::scope(|s| {
        let validation = (!o.compile).then(|| s.spawn(|| engine::validate(features, bytes)));
        let shape = inspect::inspect(bytes);
        let validated = validation.map(|v| {
            v.join()
                .unwrap_or_else(|_| Err(crate::invalid::Invalid::new("the validator panicked")))
        });
        (shape, validated)
    });
    let shape = match shape {
        Ok(s) => s,
        Err(e) => {
            f.not_wasm = Some(e.into());
            return f;
        }
    };
    let kind = shape.kind.unwrap_or(Kind::CoreModule);
    f.shape = Some(shape);
    // Compiling validates too: with --compile, try that first and diagnose
    // only when it fails.
    if o.compile && kind == Kind::CoreModule {
        let start = Instant::now();
        if let Ok(n) = engine::engine(features).and_then(|e| engine::compile(&e, kind, bytes)) {
            f.compile = Some(Compiled {
                millis: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
                artifact_bytes: n,
                error: None,
            });
            return f;
        }
    }
    if validated
        .unwrap_or_else(|| engine::validate(features, bytes))
        .is_err()
    {
        match engine::diagnose(o.target, bytes) {
            engine::Diagnosis::Invalid(e) => {
                f.invalid = Some(e);
                return f;
            }
            engine::Diagnosis::NeedsProposals(ps) => {
                f.proposals = ps.iter().map(|p| p.name.to_owned()).collect();
                if ps.iter().any(|p| p.flag_in(o.target).is_none()) {
                    return f;
                }
                for p in ps {
                    features |= p.features;
                }
                if let Err(e) = engine::validate(features, bytes) {
                    f.engine_error = Some(e.into());
                    return f;
                }
            }
        }
    }
    if o.compile {
        let start = Instant::now();
        let r = engine::engine(features).and_then(|e| match kind {
            Kind::CoreModule => engine::compile(&e, kind, bytes),
            Kind::Component => engine::compile_and_link_component(&e, bytes).map(|(n, link)| {
                f.link_error = link.err().map(String::from);
                n
            }),
        });
        f.compile = Some(Compiled {
            millis: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
            artifact_bytes: *r.as_ref().unwrap_or(&0),
            error: r.err().map(String::from),
        });
    }
    f
}
