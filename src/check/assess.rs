//! Facts + context → a report: the findings and the flags the unit needs.
//! Facts depend on the bytes and the target; findings add what the
//! manifest says about the app (grants, listen address, memory limit).

use std::collections::BTreeSet;

use super::{Facts, Finding, Kind, Report};
use crate::manifest::schema::Network;
use crate::plan::{AppKind, AppPlan};
use crate::releases::imports::{self, Linked};
use crate::releases::proposals::PROPOSALS;
use crate::releases::wasi_host::{self, parse_interface};
use crate::releases::{Flag, WasmtimeVersion};

/// A report in the making, with the flags found so far.
struct Assessing<'a> {
    r: Report,
    flags: BTreeSet<Flag>,
    facts: &'a Facts,
    target: WasmtimeVersion,
    app: Option<&'a AppPlan>,
    serve: bool,
}

pub fn assess(
    file: &str,
    sha256: &str,
    size: u64,
    facts: &Facts,
    target: WasmtimeVersion,
    app: Option<&AppPlan>,
) -> Report {
    let shape = facts.shape.as_ref();
    let r = Report {
        file: file.to_owned(),
        app: app.map(|a| a.name.to_string()),
        sha256: sha256.to_owned(),
        size,
        target: target.to_string(),
        kind: shape.and_then(|s| s.kind),
        imports: shape.map(|s| s.imports.clone()).unwrap_or_default(),
        exports: shape.map(|s| s.exports.clone()).unwrap_or_default(),
        ..Report::default()
    };
    let mut a = Assessing {
        r,
        flags: BTreeSet::new(),
        facts,
        target,
        app,
        serve: app.is_some_and(|a| matches!(a.kind, AppKind::Serve { .. })),
    };
    if let Some(e) = &facts.not_wasm {
        a.r.findings.push(Finding::error("not-wasm", e.clone()));
        return a.r;
    }
    if let Some(e) = &facts.invalid {
        a.r.findings.push(Finding::error(
            "invalid",
            format!("not valid WebAssembly: {e}"),
        ));
        return a.r;
    }
    a.proposals();
    match a.r.kind {
        Some(Kind::CoreModule) => a.core_module(),
        Some(Kind::Component) => a.component(),
        None => {}
    }
    a.grants();
    a.runs();
    a.compiled();
    let mut r = a.r;
    r.needs = a.flags.into_iter().collect();
    r.needs.sort_by_key(Flag::to_string);
    r.flags = r.needs.iter().map(Flag::to_string).collect();
    r
}

impl Assessing<'_> {
    /// Proposals beyond the target's defaults, shared memories, and what
    /// the engine said.
    fn proposals(&mut self) {
        let target = self.target;
        for name in &self.facts.proposals {
            let Some(p) = PROPOSALS.iter().find(|p| p.name == name) else {
                continue;
            };
            match p.flag_in(target) {
                Some(flag) => {
                    self.flags.insert(Flag::Proposal(flag));
                    self.r.findings.push(Finding::warning(
                        "proposal-flag",
                        format!("uses the {} proposal, off by default in wasmtime {target}: the unit passes `-W {flag}=y`", p.name),
                    ));
                }
                None => self.r.findings.push(Finding::error(
                    "proposal-unsupported",
                    format!(
                        "uses the {} proposal, which wasmtime {target} cannot run; first release that can: {}",
                        p.name,
                        p.first_runnable()
                    ),
                )),
            }
        }
        if let Some(e) = &self.facts.engine_error {
            self.r.findings.push(Finding::error(
                "engine-rejects",
                format!("wasmtime {target} rejects it: {e}"),
            ));
        }
        let shared = self
            .facts
            .shape
            .as_ref()
            .is_some_and(|s| s.defines_shared_memory);
        if shared && Flag::SharedMemory.spell(target).is_ok() {
            self.flags.insert(Flag::SharedMemory);
            self.r.findings.push(Finding::info(
                "shared-memory-flag",
                format!("defines a shared memory, which wasmtime {target} creates only with `-W shared-memory=y` (the unit passes it)"),
            ));
        }
    }

    /// A reactor's `_initialize` is called first, typed as taking and
    /// returning nothing: any other type stops the run before the entry
    /// ("type mismatch with parameters" / "with results", measured on
    /// 31.0.0, 48.0.2 and 49.0.3).
    fn initialize_signature(&mut self) {
        let shape = self.facts.shape.as_ref();
        let init_ty = shape.and_then(|s| s.entry_types.get("_initialize"));
        let Some(ty) = init_ty.filter(|ty| ty.as_str() != "(func)") else {
            return;
        };
        // The CLI checks the parameters first.
        let what = if ty.contains("(param") {
            "parameters"
        } else {
            "results"
        };
        self.r.findings.push(Finding::error(
            "initialize-signature",
            format!(
                "`_initialize` has the type {ty}: `wasmtime run` calls it before the entry \
                 point as a function taking and returning nothing, and refuses to start \
                 (\"type mismatch with {what}\"); export it as (func) or rename it"
            ),
        ));
    }

    fn core_module(&mut self) {
        let has = |n: &str| self.r.exports.iter().any(|e| e == n);
        self.r.initialize = has("_initialize");
        // The CLI looks for "" first, then `_start` (run.rs of 31.0.0 to
        // 49.0.3): a module with both runs "".
        self.r.entrypoint = if has("") {
            Some(String::new())
        } else if has("_start") {
            Some("_start".to_owned())
        } else {
            None
        };
        if self.r.entrypoint.is_none() {
            self.r.findings.push(Finding::error(
                "no-entrypoint",
                "exports neither `_start` nor the default export \"\": `wasmtime run` would exit 0 without running anything (a reactor or library, not a command)",
            ));
        }
        let shape = self.facts.shape.as_ref();
        let entry_ty = self
            .r
            .entrypoint
            .as_ref()
            .and_then(|e| shape.and_then(|s| s.entry_types.get(e)));
        if let (Some(e), Some(ty)) = (&self.r.entrypoint, entry_ty) {
            if ty.contains("(param") {
                self.r.findings.push(Finding::error(
                    "entry-takes-parameters",
                    format!(
                        "the entry point {} has the type {ty}: `wasmtime run` calls it with no \
                         arguments and refuses to start (a command's entry takes none)",
                        if e.is_empty() {
                            "\"\"".to_owned()
                        } else {
                            format!("`{e}`")
                        }
                    ),
                ));
            }
        }
        self.initialize_signature();
        if let Some(why) = shape.and_then(|s| s.instantiation_error.as_ref()) {
            self.r.findings.push(Finding::error(
                "fails-to-instantiate",
                format!("{why}: wasmtime refuses to instantiate it, before running anything"),
            ));
        }
        let threads = self.r.imports.iter().any(|i| i == "wasi::thread-spawn");
        let mut preview0 = false;
        for imp in self.r.imports.clone() {
            let (module, name) = imp.split_once("::").unwrap_or((&imp, ""));
            preview0 |= module == "wasi_unstable";
            // wasi-threads modules import their shared memory as env::memory,
            // which `-S threads` provides (measured on 31.0.0).
            let shared_memory = threads
                && imp == "env::memory"
                && shape.is_some_and(|s| s.memory_imports.contains(&imp));
            let provision = if shared_memory {
                imports::core_import("wasi", "thread-spawn", self.target)
            } else {
                imports::core_import(module, name, self.target)
            };
            if provision == Linked::Provided && wasi_host::is_wasi_snapshot(module) {
                self.check_signature(&imp, module, name);
            }
            self.record_import(&imp, provision);
        }
        self.memory_for_wasi();
        if preview0 {
            self.r.findings.push(Finding::warning(
                "preview0",
                "imports the old `wasi_unstable` (preview0) ABI; rebuild for wasm32-wasip1",
            ));
        }
        if self.serve {
            self.r.findings.push(Finding::error(
                "command-with-listen",
                "a core module cannot be served by `wasmtime serve`: remove `listen` or use a wasi:http proxy component",
            ));
        }
    }

    fn component(&mut self) {
        self.r.world = world_of(&self.r.exports).map(str::to_owned);
        let proxy = self.r.world.as_deref() == Some("proxy");
        match self.r.world.as_deref() {
            None => self.r.findings.push(Finding::error(
                "no-world",
                "exports neither wasi:cli/run (for `wasmtime run`) nor wasi:http/incoming-handler (for `wasmtime serve`)",
            )),
            Some("proxy") if self.app.is_some() && !self.serve => self.r.findings.push(Finding::error(
                "proxy-without-listen",
                "a wasi:http proxy component runs under `wasmtime serve`: give the app a `listen` address",
            )),
            Some("command") if self.serve => self.r.findings.push(Finding::error(
                "command-with-listen",
                "a wasi:cli command component cannot be served: remove `listen`",
            )),
            _ => {}
        }
        let served = self.serve || (self.app.is_none() && proxy);
        for imp in self.r.imports.clone() {
            let provision = imports::component_import(&imp, served);
            self.record_import(&imp, provision);
        }
    }

    /// A WASI function imported with another type than the host gives it:
    /// the CLI refuses it at instantiation.
    fn check_signature(&mut self, imp: &str, module: &str, name: &str) {
        let Some(expected) = wasi_host::signature(module, name) else {
            return;
        };
        let found = self
            .facts
            .shape
            .as_ref()
            .and_then(|s| s.func_import_types.get(imp));
        let found = match found {
            Some(f) if f == expected => return,
            Some(f) => format!("as `{f}`"),
            None => "as something other than a function".to_owned(),
        };
        self.r.findings.push(Finding::error(
            "incompatible-import",
            format!(
                "imports `{imp}` {found}, but wasmtime defines it as `{expected}`: \
                 instantiation fails with \"incompatible import type for `{imp}`\""
            ),
        ));
    }

    /// WASI reads and writes guest memory through the export `memory`; every
    /// WASI call fails without it (measured on 31.0.0, even `proc_exit`).
    fn memory_for_wasi(&mut self) {
        let exports_memory = self.facts.shape.as_ref().is_some_and(|s| s.exports_memory);
        let first = self.r.imports.iter().find(|i| {
            i.split_once("::")
                .is_some_and(|(m, _)| wasi_host::is_wasi_snapshot(m))
        });
        if let (Some(first), false) = (first, exports_memory) {
            self.r.findings.push(Finding::error(
                "no-memory-export",
                format!(
                    "imports WASI (`{first}`) but exports no memory named `memory`: wasmtime \
                     fails at the first WASI call with \"missing required memory export\" \
                     (export the module's memory as `memory`)"
                ),
            ));
        }
    }

    /// How the module is started and which manifest keys that takes.
    fn runs(&mut self) {
        let command = match (self.r.kind, self.r.world.as_deref(), &self.r.entrypoint) {
            (Some(Kind::Component), Some("proxy"), _) => "wasmtime serve",
            (Some(Kind::Component), Some(_), _) | (Some(Kind::CoreModule), _, Some(_)) => {
                "wasmtime run"
            }
            _ => return,
        };
        let mut needs = Vec::new();
        if command == "wasmtime serve" {
            needs.push("listen".to_owned());
        }
        let imports = &self.r.imports;
        let sockets = imports
            .iter()
            .any(|i| i.starts_with("wasi:sockets/") || i.contains("::sock_"));
        // A command that imports wasi:http is a client; a proxy only when it
        // imports the outgoing handler (it always imports wasi:http/types).
        let outgoing_http = imports.iter().any(|i| {
            i.starts_with("wasi:http/outgoing-handler")
                || (command == "wasmtime run" && i.starts_with("wasi:http/"))
        });
        if sockets || outgoing_http {
            needs.push("network".to_owned());
        }
        self.r.runs = Some(super::Runs {
            command: command.to_owned(),
            manifest_keys: needs,
        });
    }

    /// What the app's grants mean for this module.
    fn grants(&mut self) {
        let Some(a) = self.app else { return };
        let sockets = self
            .r
            .imports
            .iter()
            .any(|i| i.starts_with("wasi:sockets/") || i.contains("::sock_"));
        if sockets && a.network == Network::None && !self.serve {
            self.r.findings.push(Finding::warning(
                "sockets-without-network",
                "imports sockets but the app has no network grant: every socket call will fail (set `network`)",
            ));
        }
        let files = self
            .r
            .imports
            .iter()
            .any(|i| i.ends_with("::path_open") || i.starts_with("wasi:filesystem/"));
        if !a.credentials.is_empty() && !files {
            self.r.findings.push(Finding::warning(
                "credentials-unread",
                format!(
                    "the app is given credentials at {} but the module imports no file access: it cannot read them",
                    crate::plan::credential::GUEST_DIR
                ),
            ));
        }
        let min = self.facts.shape.as_ref().map_or(0, |s| s.min_memory_bytes);
        if let Some(limit) = a.memory {
            if min > limit {
                self.r.findings.push(Finding::error(
                    "memory-above-limit",
                    format!("declares {min} bytes of initial memory, above the app's `memory` limit of {limit} bytes: instantiation would fail"),
                ));
            }
        }
    }

    fn compiled(&mut self) {
        if let Some(e) = &self.facts.link_error {
            self.r.findings.push(Finding::error(
                "incompatible-import",
                format!("wasmtime's WASI 0.2 linker refuses its imports: {e}"),
            ));
        }
        let Some(c) = &self.facts.compile else { return };
        self.r.findings.push(match &c.error {
            None => Finding::info(
                "compiled",
                format!(
                    "compiled for this host in {} ms ({} bytes of machine code and metadata)",
                    c.millis, c.artifact_bytes
                ),
            ),
            Some(e) => Finding::error(
                "compile-failed",
                format!("Cranelift cannot compile it: {e}"),
            ),
        });
    }

    /// One import's finding: a flag the unit needs, or why it cannot link.
    fn record_import(&mut self, imp: &str, p: Linked) {
        match p {
            Linked::Provided => {}
            Linked::WithFlag(o) => {
                let flag = Flag::Wasi(o);
                self.flags.insert(flag);
                self.r.findings.push(Finding::info(
                    "import-flag",
                    format!("imports `{imp}`: the unit passes `{flag}`"),
                ));
            }
            Linked::Missing(why) => self.r.findings.push(Finding::error(
                "unknown-import",
                format!("imports `{imp}`, which wasmtime does not provide: {why}"),
            )),
        }
    }
}

fn world_of(exports: &[String]) -> Option<&'static str> {
    let has = |iface: &str| {
        exports.iter().any(|e| {
            parse_interface(e).is_some_and(|i| {
                i.namespace == "wasi"
                    && format!("{}/{}", i.package, i.interface) == iface
                    && i.version.is_some_and(|v| v.starts_with("0.2."))
            })
        })
    };
    if has("cli/run") {
        Some("command")
    } else if has("http/incoming-handler") {
        Some("proxy")
    } else {
        None
    }
}
