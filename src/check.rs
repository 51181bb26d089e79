//! `wasmunit check`: bytes → embedded wasmtime → facts → findings → report.
//!
//! Facts depend only on the bytes, the target version and whether compiled,
//! so they are cached by content hash. Findings add what the manifest says
//! about the app (grants, listen address, memory limit).

pub mod assess;
pub(crate) mod cache;
pub(crate) mod checked;
pub(crate) mod engine;
mod facts;
pub(crate) mod finding;
pub(crate) mod inspect;
pub(crate) mod report;

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::manifest::schema::Network;
use crate::plan::{AppKind, ModuleOrigin, Plan};
use crate::releases::WasmtimeVersion;
pub use assess::assess;
pub use facts::{facts, CheckOptions, Compiled, Facts};
pub use finding::{Finding, Severity};
pub use inspect::Kind;
pub use report::{Report, Runs, NOT_CHECKED};

/// Bumped whenever [`Facts`] learn something new: older cached verdicts
/// lack it and must not be trusted.
const FACTS_VERSION: u32 = 4;

fn cache_key(o: &CheckOptions) -> String {
    format!(
        "f{FACTS_VERSION}-{}{}",
        o.target,
        if o.compile { "-compiled" } else { "" }
    )
}

/// Facts of a planned module (hashed when the plan was resolved), whether
/// they came from the cache, and its size. A cached verdict needs only the
/// size: the bytes are read on a miss only.
fn module_facts(
    m: &crate::plan::ModulePlan,
    o: &CheckOptions,
    progress: &crate::progress::Progress,
) -> (Facts, bool, u64) {
    if o.use_cache {
        if let (Some(f), Some(size)) = (cache::load(&m.sha256, &cache_key(o)), m.size()) {
            return (f, true, size);
        }
    }
    match m.read_bytes() {
        Ok(bytes) => {
            progress.step(format!("checking {}", m.origin.display()));
            let f = facts(&bytes, o);
            if o.use_cache {
                cache::store(&m.sha256, &cache_key(o), &f);
            }
            (f, false, bytes.len() as u64)
        }
        Err(e) => (
            Facts {
                not_wasm: Some(format!("cannot read: {e}")),
                ..Facts::default()
            },
            false,
            0,
        ),
    }
}

/// Checks one module file on its own, for each of `targets` (the ends of
/// a range): read and hashed at most once, and not at all when every
/// verdict is cached for the unchanged file. An unreadable file is an
/// error that names it and why.
pub fn check_file(
    path: &Path,
    targets: &[WasmtimeVersion],
    o: &CheckOptions,
) -> Result<Vec<Report>, crate::input::InputError> {
    let opened =
        crate::input::Root::of_file(path).and_then(|(root, name)| root.open_file(&name))?;
    let id = cache::Identity::of(&opened.stat);
    let file = crate::input::shown(path);
    let known = o.use_cache.then(|| cache::known_module(&id)).flatten();
    let mut opened = Some(opened);
    let mut read: Option<ModuleFile> = None;
    let mut out = Vec::new();
    for &target in targets {
        let o = CheckOptions { target, ..*o };
        if let (None, Some((sha, size))) = (&read, &known) {
            if let Some(f) = cache::load(sha, &cache_key(&o)) {
                let mut r = assess(&file, sha, *size, &f, target, None);
                r.cached = true;
                out.push(r);
                continue;
            }
        }
        let (m, f) = if let Some(m) = read.take() {
            let f = m.facts(&o);
            (m, f)
        } else {
            let Some(f) = opened.take() else {
                return Err(crate::input::InputError::Io {
                    at: path.to_path_buf(),
                    err: std::io::Error::other("internal error: module read twice"),
                });
            };
            let (m, f) = if o.use_cache && id.is_racy() {
                // Changed a moment ago: its identity proves nothing, its
                // hash does (a verdict for these bytes may still be cached).
                let m = ModuleFile::read(path, f)?;
                let cached = m
                    .cacheable()
                    .then(|| cache::load(&m.sha256, &cache_key(&o)))
                    .flatten();
                if let Some(f) = cached {
                    let mut r = assess(&file, &m.sha256, m.bytes.len() as u64, &f, target, None);
                    r.cached = true;
                    out.push(r);
                    read = Some(m);
                    continue;
                }
                let f = m.facts(&o);
                (m, f)
            } else {
                ModuleFile::read_and_check(path, f, &o)?
            };
            if o.use_cache && m.cacheable() {
                cache::remember_module(&id, &m.sha256, m.bytes.len() as u64);
            }
            (m, f)
        };
        if o.use_cache && m.cacheable() {
            cache::store(&m.sha256, &cache_key(&o), &f);
        }
        out.push(assess(
            &file,
            &m.sha256,
            m.bytes.len() as u64,
            &f,
            target,
            None,
        ));
        read = Some(m);
    }
    Ok(out)
}

/// A module file as read: the bytes checked (a `.wat` file compiled to a
/// binary first, as a manifest's module is, so it checks the same here as
/// in a manifest), their hash, and why not when its WAT does not compile
/// (the bytes are then the file's own).
struct ModuleFile {
    bytes: Vec<u8>,
    sha256: String,
    wat_error: Option<String>,
}

impl ModuleFile {
    /// Reads the file and checks it for `o.target`.
    fn read_and_check(
        path: &Path,
        file: crate::input::OpenFile,
        o: &CheckOptions,
    ) -> Result<(ModuleFile, Facts), crate::input::InputError> {
        let m = ModuleFile::read(path, file)?;
        let f = m.facts(o);
        Ok((m, f))
    }

    /// Reads the file (a vetted regular file) and hashes what is checked:
    /// a binary on another core as it is read, a `.wat` file's compiled
    /// binary once compiled.
    fn read(
        path: &Path,
        file: crate::input::OpenFile,
    ) -> Result<ModuleFile, crate::input::InputError> {
        if !crate::input::has_extension(path, "wat") {
            let mut hash = Sha256::new();
            let bytes =
                file.read_all_with(crate::input::MAX_MODULE_BYTES, |piece| hash.update(piece))?;
            return Ok(ModuleFile {
                bytes,
                sha256: hex::encode(hash.finalize()),
                wat_error: None,
            });
        }
        let raw = file.read_all(crate::input::MAX_MODULE_BYTES)?;
        let (bytes, wat_error) = match wat::parse_bytes(&raw) {
            Ok(compiled) => (compiled.into_owned(), None),
            Err(mut e) => {
                e.set_path(path);
                (raw, Some(format!("cannot compile it from WAT: {e}")))
            }
        };
        Ok(ModuleFile {
            sha256: hex::encode(Sha256::digest(&bytes)),
            bytes,
            wat_error,
        })
    }

    /// A WAT error names the file: it is no verdict on the content.
    fn cacheable(&self) -> bool {
        self.wat_error.is_none()
    }

    fn facts(&self, o: &CheckOptions) -> Facts {
        match &self.wat_error {
            Some(why) => Facts {
                not_wasm: Some(why.clone()),
                ..Facts::default()
            },
            None => facts(&self.bytes, o),
        }
    }
}

/// What `assess` looks at besides the bytes: module, path, serve, network,
/// memory limit.
type Grants = (String, String, bool, Network, Option<u64>, bool);

/// Checks the modules of the apps `plan.apps[i]`, `i` in `which`, against
/// each app's grants, for `o.target`: one report each, in that order.
pub fn check_apps(
    plan: &Plan,
    which: &[usize],
    o: &CheckOptions,
    progress: &crate::progress::Progress,
) -> Vec<Report> {
    let mut memo: BTreeMap<String, (Facts, bool, u64)> = BTreeMap::new();
    let mut assessed: BTreeMap<Grants, Report> = BTreeMap::new();
    let mut out = Vec::new();
    for app in which.iter().map(|&i| &plan.apps[i]) {
        let m = &app.module;
        if let ModuleOrigin::Url { shown: url, .. } = &m.origin {
            out.push(Report {
                file: url.clone(),
                app: Some(app.name.to_string()),
                sha256: m.sha256.clone(),
                target: o.target.to_string(),
                findings: vec![Finding::info(
                    NOT_CHECKED,
                    "fetched from a URL at provisioning; check the file itself before deploying",
                )],
                ..Report::default()
            });
            continue;
        }
        let entry = memo
            .entry(m.sha256.clone())
            .or_insert_with(|| module_facts(m, o, progress));
        // Apps that share a module and the grants `assess` looks at share
        // one assessment (a fleet manifest has thousands of such apps).
        let key = (
            m.sha256.clone(),
            m.origin.display().to_owned(),
            matches!(app.kind, AppKind::Serve { .. }),
            app.network,
            app.memory,
            !app.credentials.is_empty(),
        );
        let assessed = assessed.entry(key).or_insert_with(|| {
            let mut r = assess(
                m.origin.display(),
                &m.sha256,
                entry.2,
                &entry.0,
                o.target,
                Some(app),
            );
            r.cached = entry.1;
            r
        });
        let mut r = assessed.clone();
        r.app = Some(app.name.to_string());
        out.push(r);
        progress.done();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn opts() -> CheckOptions {
        CheckOptions {
            target: WasmtimeVersion::DEFAULT,
            compile: false,
            use_cache: false,
        }
    }

    fn report(bytes: &[u8]) -> Report {
        assess(
            "m.wasm",
            "0",
            bytes.len() as u64,
            &facts(bytes, &opts()),
            WasmtimeVersion::DEFAULT,
            None,
        )
    }

    #[test]
    fn every_truncation_of_a_command_blocks() {
        let full = wat::parse_str(
            r#"(module (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
                (memory (export "memory") 1) (func (export "_start")))"#,
        )
        .expect("wat");
        assert!(!report(&full).blocks());
        for cut in 0..full.len() {
            assert!(report(&full[..cut]).blocks(), "cut at {cut}");
        }
    }

    fn report_for(target: WasmtimeVersion, wat: &str) -> Report {
        let bytes = wat::parse_str(wat).expect("wat");
        let o = CheckOptions { target, ..opts() };
        assess(
            "m.wasm",
            "0",
            bytes.len() as u64,
            &facts(&bytes, &o),
            target,
            None,
        )
    }

    #[test]
    fn later_targets_get_flags_or_nothing_where_31_gets_errors() {
        let eh = r#"(module (tag $e) (func (export "_start") (block $l (try_table (catch_all $l) (throw $e)))))"#;
        let wide = r#"(module (func (export "_start") (drop (drop (i64.add128 (i64.const 1) (i64.const 2) (i64.const 3) (i64.const 4))))))"#;
        let shared = r#"(module (memory 1 1 shared) (func (export "_start")))"#;
        assert!(report_for(WasmtimeVersion::DEFAULT, eh).blocks());
        let mid = report_for(WasmtimeVersion::new(40, 0, 0), eh);
        assert!(!mid.blocks(), "{:?}", mid.findings);
        assert_eq!(mid.flags, ["-W exceptions=y"]);
        // On by default from 48.0.0 (measured on 48.0.8).
        let new = report_for(WasmtimeVersion::NEWEST, eh);
        assert!(
            new.flags.is_empty() && new.findings.is_empty(),
            "{:?}",
            new.findings
        );
        assert_eq!(
            report_for(WasmtimeVersion::DEFAULT, wide).flags,
            ["-W wide-arithmetic=y"]
        );
        assert!(report_for(WasmtimeVersion::NEWEST, wide).flags.is_empty());
        assert!(report_for(WasmtimeVersion::DEFAULT, shared)
            .flags
            .is_empty());
        assert_eq!(
            report_for(WasmtimeVersion::new(48, 0, 8), shared).flags,
            ["-W shared-memory=y"]
        );
    }

    #[test]
    fn a_component_header_on_a_core_body_is_rejected() {
        let mut wasm = wat::parse_str(r#"(module (func (export "_start")))"#).expect("wat");
        wasm[4..8].copy_from_slice(&[0x0d, 0, 1, 0]);
        let r = report(&wasm);
        assert!(r.blocks(), "{:?}", r.findings);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn noise_never_panics_and_always_blocks(body in proptest::collection::vec(any::<u8>(), 0..512), component in any::<bool>()) {
            let mut bytes = if component { b"\0asm\x0d\0\x01\0".to_vec() } else { b"\0asm\x01\0\0\0".to_vec() };
            bytes.extend_from_slice(&body);
            let r = report(&bytes);
            // Random bytes may be a valid module by chance, but never a runnable command.
            prop_assert!(r.blocks() || r.entrypoint.is_some() || r.world.is_some());
        }

        #[test]
        fn mutated_modules_never_panic(flips in proptest::collection::vec((0usize..200, any::<u8>()), 1..8)) {
            let mut bytes = wat::parse_str(
                r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
                    (memory (export "memory") 1) (data (i32.const 8) "hi") (func (export "_start") (drop (i32.const 1))))"#,
            ).expect("wat");
            for (at, b) in flips {
                let n = bytes.len();
                bytes[at % n] = b;
            }
            let _ = report(&bytes);
        }
    }
}
