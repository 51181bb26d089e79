//! Any bytes through inspection, validation and assessment: no panic, and
//! a report that either blocks or names how the module runs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wasmunit::check::{assess, facts, CheckOptions};
use wasmunit::releases::WasmtimeVersion;

fuzz_target!(|data: &[u8]| {
    let o = CheckOptions {
        target: WasmtimeVersion::DEFAULT,
        compile: false,
        use_cache: false,
    };
    let f = facts(data, &o);
    let r = assess("fuzz.wasm", "0", data.len() as u64, &f, o.target, None);
    assert!(r.blocks() || r.entrypoint.is_some() || r.world.is_some());
});
