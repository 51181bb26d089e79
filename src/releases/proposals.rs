//! Which WebAssembly proposals each target wasmtime CLI runs, by default or
//! with a `-W` flag: per-version facts about the CLI the units run.
//!
//! Sources: measured by running one module per proposal with wasmtime-cli
//! 31.0.0 and 48.0.8 (default flags, then `-W NAME=y`; tests/all/check_cli.rs
//! repeats this on every run), and wasmtime's RELEASES.md for what lies
//! between or beyond (37.0.0 adds `-W exceptions`; 49.0.0 turns
//! wide-arithmetic on by default). Where a default changed between 31 and
//! 48, the table says 48.0.0: the earliest release measured to have it.

use wasmparser::WasmFeatures;

use super::WasmtimeVersion;

/// A proposal a module may use beyond what every supported CLI accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proposal {
    pub name: &'static str,
    /// The validator features that make up the proposal.
    pub features: WasmFeatures,
    /// First CLI version that accepts it without any flag.
    pub default_since: Option<WasmtimeVersion>,
    /// The `-W` option that turns it on, and the first version that has it.
    pub flag: Option<(&'static str, WasmtimeVersion)>,
}

const fn v(major: u32) -> WasmtimeVersion {
    WasmtimeVersion::new(major, 0, 0)
}

/// Every proposal wasmunit tells apart, in the order findings name them.
pub const PROPOSALS: &[Proposal] = &[
    Proposal {
        name: "function-references",
        features: WasmFeatures::FUNCTION_REFERENCES,
        default_since: Some(v(48)),
        flag: Some(("function-references", v(31))),
    },
    Proposal {
        name: "gc",
        // GC types build on typed function references; the engine turns those
        // on with GC, as `-W gc=y` does in the 31.0.0 CLI (measured).
        features: WasmFeatures::GC,
        default_since: Some(v(48)),
        flag: Some(("gc", v(31))),
    },
    Proposal {
        name: "exception-handling",
        features: WasmFeatures::EXCEPTIONS,
        default_since: Some(v(48)),
        flag: Some(("exceptions", v(37))),
    },
    Proposal {
        // The pre-standard `try`/`catch` encoding: neither CLI runs it.
        name: "legacy-exception-handling",
        features: WasmFeatures::LEGACY_EXCEPTIONS,
        default_since: None,
        flag: None,
    },
    Proposal {
        name: "wide-arithmetic",
        features: WasmFeatures::WIDE_ARITHMETIC,
        default_since: Some(v(49)),
        flag: Some(("wide-arithmetic", v(31))),
    },
    Proposal {
        name: "custom-page-sizes",
        features: WasmFeatures::CUSTOM_PAGE_SIZES,
        default_since: None,
        flag: Some(("custom-page-sizes", v(31))),
    },
];

/// What every supported CLI accepts by default (measured on 31.0.0 and
/// 48.0.8: the MVP extensions, SIMD and relaxed SIMD, multi-memory, tail
/// calls, extended constants, the component model, threads and memory64).
/// A proposal on by default in every supported version is a fact of the
/// baseline, not a row of [`PROPOSALS`] whose gates could never fire.
pub fn baseline() -> WasmFeatures {
    WasmFeatures::MUTABLE_GLOBAL
        | WasmFeatures::SATURATING_FLOAT_TO_INT
        | WasmFeatures::SIGN_EXTENSION
        | WasmFeatures::REFERENCE_TYPES
        | WasmFeatures::MULTI_VALUE
        | WasmFeatures::BULK_MEMORY
        | WasmFeatures::SIMD
        | WasmFeatures::RELAXED_SIMD
        | WasmFeatures::FLOATS
        | WasmFeatures::MULTI_MEMORY
        | WasmFeatures::TAIL_CALL
        | WasmFeatures::EXTENDED_CONST
        | WasmFeatures::COMPONENT_MODEL
        | WasmFeatures::GC_TYPES
        | WasmFeatures::THREADS
        | WasmFeatures::MEMORY64
}

impl Proposal {
    pub fn on_by_default(&self, t: WasmtimeVersion) -> bool {
        self.default_since.is_some_and(|d| t >= d)
    }

    /// The `-W NAME=y` flag the target has for it, if any.
    pub fn flag_in(&self, t: WasmtimeVersion) -> Option<&'static str> {
        self.flag
            .filter(|(_, since)| t >= *since)
            .map(|(name, _)| name)
    }

    /// "the first version that runs it", for messages.
    pub fn first_runnable(&self) -> String {
        match (self.default_since, self.flag) {
            (Some(d), Some((f, since))) if since < d => {
                format!("wasmtime {since} with `-W {f}=y`, {d} by default")
            }
            (Some(d), _) => format!("wasmtime {d} (on by default)"),
            (None, Some((f, since))) => format!("wasmtime {since} with `-W {f}=y`"),
            (None, None) => "no wasmtime release known to wasmunit".to_owned(),
        }
    }
}

/// The first version with the `-W NAME=y` option `name`.
pub fn flag_since(name: &str) -> Option<WasmtimeVersion> {
    PROPOSALS
        .iter()
        .find_map(|p| p.flag.filter(|(f, _)| *f == name).map(|(_, since)| since))
}

/// The features the target CLI validates with by default.
pub fn defaults_of(t: WasmtimeVersion) -> WasmFeatures {
    PROPOSALS
        .iter()
        .filter(|p| p.on_by_default(t))
        .fold(baseline(), |acc, p| acc | p.features)
}

/// Everything wasmunit knows, for telling "uses a proposal" from "invalid".
pub fn everything() -> WasmFeatures {
    PROPOSALS.iter().fold(baseline(), |acc, p| acc | p.features)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measured_defaults_of_31() {
        let d = defaults_of(WasmtimeVersion::DEFAULT);
        assert!(
            d.contains(WasmFeatures::THREADS | WasmFeatures::MEMORY64 | WasmFeatures::TAIL_CALL)
        );
        for p in PROPOSALS {
            assert!(
                !p.on_by_default(WasmtimeVersion::OLDEST),
                "{} is on in every supported version: it belongs to the baseline",
                p.name
            );
        }
        assert!(!d.contains(WasmFeatures::EXCEPTIONS));
        assert!(!d.contains(WasmFeatures::GC));
        assert!(!d.contains(WasmFeatures::WIDE_ARITHMETIC));
        assert!(defaults_of(WasmtimeVersion::NEWEST).contains(WasmFeatures::WIDE_ARITHMETIC));
    }

    #[test]
    fn exceptions_have_no_flag_in_31() {
        let eh = PROPOSALS
            .iter()
            .find(|p| p.name == "exception-handling")
            .expect("listed");
        assert_eq!(eh.flag_in(WasmtimeVersion::DEFAULT), None);
        assert_eq!(
            eh.flag_in(WasmtimeVersion::new(40, 0, 0)),
            Some("exceptions")
        );
        assert!(eh.on_by_default(WasmtimeVersion::NEWEST));
        assert_eq!(
            eh.first_runnable(),
            "wasmtime 37.0.0 with `-W exceptions=y`, 48.0.0 by default"
        );
    }
}
