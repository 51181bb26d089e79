//! Any text as a manifest, parsed and planned beside a real module folder
//! (a module, a shipped folder, a link pointing out): no panic, and every
//! error names a position inside the text.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use wasmunit::plan::{resolve, PlanOptions};

fn project() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("wasmunit-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("modules")).expect("mkdir");
        std::fs::create_dir_all(dir.join("site/sub")).expect("mkdir");
        std::fs::write(dir.join("modules/a.wat"), r#"(module (func (export "_start")))"#)
            .expect("module");
        std::fs::write(dir.join("site/sub/index.html"), "hi").expect("file");
        let _ = std::os::unix::fs::symlink("/etc", dir.join("etc"));
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = project().join("apps.toml");
    let Ok(loaded) = wasmunit::manifest::parse(&path, Arc::from(text)) else {
        return;
    };
    if let Err(diags) = resolve(&loaded, &PlanOptions::default()) {
        for d in diags.0.iter() {
            if let Some(span) = &d.span {
                assert!(span.start <= text.len(), "{d:?}");
            }
        }
    }
});
