//! The oracle is systemd: every passing golden case is rendered by the real
//! binary, its unit files are loaded into a real systemd manager (PID 1 in
//! a container, tests/common/container.rs), and what systemd parsed is read
//! back over D-Bus and compared with what the manifest says: Description,
//! After, Wants, the ExecStart argv, Environment, ReadOnlyPaths,
//! ReadWritePaths, StateDirectory, and every pass-through key that has a
//! property of the same name.
//!
//! Every key is compared for every app, whatever its raw tables hold: a raw
//! key that could widen an app (paths, credentials, the environment, the
//! network) is refused without `--allow-key` (src/node/raw_keys.rs), so
//! those properties come from the manifest alone. The expected values are
//! written here from the manifest's plan (module, args, grants), not taken
//! from wasmunit's renderer; and the oracle counts the values systemd read
//! back equal, per key, so a reader that reads nothing fails.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Command;

use wasmunit::deploy::dbus::Systemd;
use wasmunit::plan::folder::Provision;
use wasmunit::plan::{AppKind, AppPlan, Listener};
use wasmunit::releases::{Flag, WasiOption};
use wasmunit::unit::escape::{FreeText, EXEC_DIRECTORY_TREES};
use zbus::zvariant::OwnedValue;

use crate::common;
use crate::common::container::Container;

const UNIT: &str = "org.freedesktop.systemd1.Unit";
const SERVICE: &str = "org.freedesktop.systemd1.Service";

fn render(case: &Path, args: &[String], out: &Path, cache: &Path) {
    let o = Command::new(env!("CARGO_BIN_EXE_wasmunit"))
        .current_dir(case.parent().expect("folder"))
        .arg("render")
        .arg(case)
        .arg("--out")
        .arg(out)
        .args(args)
        .env("WASMUNIT_CACHE_DIR", cache)
        .output()
        .expect("run wasmunit");
    assert!(
        o.status.success(),
        "{}: {}",
        case.display(),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// What the manifest says, by the pipeline `render` runs.
fn prepared(case: &Path, args: &[String]) -> wasmunit::render::Rendered {
    let wasmtime = args
        .iter()
        .position(|a| a == "--wasmtime")
        .and_then(|i| args.get(i + 1))
        .map(|v| wasmunit::releases::TargetRange::parse(v).expect("version"));
    let systemd = args
        .iter()
        .position(|a| a == "--systemd")
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            wasmunit::releases::systemd_release::SystemdVersion::parse(v.parse().expect("release"))
                .expect("release")
        });
    let no_check = args.iter().any(|a| a == "--no-check");
    // What the case's person running wasmunit allows (`--allow-port 80`).
    let allowed_ports = args
        .windows(2)
        .filter(|w| w[0] == "--allow-port")
        .map(|w| w[1].parse().expect("a port"))
        .collect();
    let request = wasmunit::pipeline::Request {
        systemd,
        no_check,
        operator: wasmunit::plan::OperatorGrants {
            allowed_ports,
            ..Default::default()
        },
        ..wasmunit::pipeline::Request::new(case, wasmtime)
    };
    wasmunit::pipeline::run(&request)
        .unwrap_or_else(|e| panic!("{}: {}", case.display(), e.render(false)))
}

/// What the oracle found: the mismatches, how many comparisons it made,
/// and per key how many values systemd read back equal to the manifest's.
#[derive(Default)]
struct Mismatches {
    found: Vec<String>,
    compared: usize,
    values: BTreeMap<String, usize>,
    /// Raw keys with no property to compare them with, shown in the summary.
    raw_not_compared: std::collections::BTreeSet<String>,
}

impl Mismatches {
    fn check<T: PartialEq + std::fmt::Debug + Values>(
        &mut self,
        at: &str,
        key: &str,
        got: &T,
        want: &T,
    ) {
        self.compared += 1;
        if got == want {
            *self.values.entry(key.to_owned()).or_default() += want.values();
        } else {
            self.found.push(format!(
                "{at} {key}: systemd read {got:?}, the manifest says {want:?}"
            ));
        }
    }

    fn values_of(&self, key: &str) -> usize {
        self.values.get(key).copied().unwrap_or(0)
    }
}

/// How many values an expectation holds: an empty list or `None` none, so
/// a reader that finds nothing where the manifest says nothing counts for
/// nothing.
trait Values {
    fn values(&self) -> usize;
}

impl Values for String {
    fn values(&self) -> usize {
        1
    }
}

impl Values for bool {
    fn values(&self) -> usize {
        1
    }
}

impl Values for u64 {
    fn values(&self) -> usize {
        1
    }
}

impl<T: Values> Values for Option<T> {
    fn values(&self) -> usize {
        self.as_ref().map_or(0, Values::values)
    }
}

impl<T: Values> Values for Vec<T> {
    fn values(&self) -> usize {
        self.iter().map(Values::values).sum()
    }
}

/// The keys the oracle compares for every app (pass-through keys aside),
/// each of which the golden corpus must exercise with at least one value.
const KEYS: &[&str] = &[
    "LoadState",
    "Description",
    "After",
    "Wants",
    "ExecStart",
    "Environment",
    "ReadOnlyPaths",
    "ReadWritePaths",
    "DynamicUser",
    "User",
    "StateDirectory",
    "CacheDirectory",
    "LogsDirectory",
    "RuntimeDirectory",
    "ExtensionImages",
    "LoadCredential",
    "LoadCredentialEncrypted",
    "IPAddressAllow",
    PASS_THROUGH,
];

/// The tally of the raw keys compared as text.
const PASS_THROUGH: &str = "pass-through";

/// Comparisons made for every app whatever it holds: LoadState,
/// Description, After, Wants, ExecStart, Environment, ReadOnlyPaths,
/// ReadWritePaths, DynamicUser, the four exec-directory trees,
/// ExtensionImages, the two credential keys, IPAddressAllow.
const COMPARED_PER_APP: usize = 17;

/// Values read back equal, on average over the cases, at least (19 when
/// counted, with 26 cases).
const MIN_VALUES_PER_CASE: usize = 12;

/// The oracle's own manifests, beside the golden cases: each gives a value
/// to a key no golden case does (checked by [`KEYS`]).
const OWN_CASES: &[(&str, &str)] = &[(
    "oracle-runtime-directory",
    r#"version = 1

[app.runner]
module = "modules/tiny.wat"
dirs = [{ host = "/run/wasm-runner", guest = "/run" }]
"#,
)];

/// [`OWN_CASES`] written below `dir`, with the golden cases' module.
fn own_cases(dir: &Path) -> Vec<(std::path::PathBuf, Vec<String>)> {
    std::fs::create_dir_all(dir.join("modules")).expect("mkdir");
    std::fs::copy(
        common::repo().join("tests/cases/modules/tiny.wat"),
        dir.join("modules/tiny.wat"),
    )
    .expect("module");
    OWN_CASES
        .iter()
        .map(|(name, text)| {
            let path = dir.join(format!("{name}.toml"));
            std::fs::write(&path, text).expect("manifest");
            (path, Vec::new())
        })
        .collect()
}

/// The wasmtime command line the manifest asks for, written out here from
/// wasmtime's own options and the manifest's plan (not from wasmunit's
/// renderer): `run` (or `serve --addr`), the grants' options, the options
/// `check` found the module needs, the preopens (shipped files, `dirs`,
/// then the unit's credentials at `/run/secrets`), `env`, the module at
/// its content-addressed path, and `args`.
fn expected_argv(app: &AppPlan, unit: &str, needs: &[Flag]) -> Vec<String> {
    fn opt(a: &str, b: &str) -> [String; 2] {
        [a.to_owned(), b.to_owned()]
    }
    let mut argv = vec!["/usr/bin/wasmtime".to_owned()];
    let mut options = Vec::new();
    match &app.kind {
        AppKind::Serve { addr, idle, via } => {
            argv.push("serve".to_owned());
            match via {
                Listener::OwnPort => argv.extend(["--addr".to_owned(), addr.to_string()]),
                Listener::Proxy => {
                    // Behind systemd-socket-proxyd, on its own namespace's
                    // loopback; no unprivileged bind below 1024 there: 80 → 8080.
                    let port = if addr.port() < 1024 {
                        addr.port() + 8000
                    } else {
                        addr.port()
                    };
                    argv.extend(["--addr".to_owned(), format!("127.0.0.1:{port}")]);
                }
                Listener::Handover => {
                    // 50 takes the socket unit's socket (wasmtime PR #14294).
                    argv.push("--systemd-listenfd".to_owned());
                    if let Some(s) = idle {
                        argv.push(format!("--idle-process-timeout={s}s"));
                    }
                }
            }
            // 31.0.0 serves components that import wasi:cli only with it.
            options.push(opt("-S", "cli=y"));
        }
        AppKind::Service | AppKind::Scheduled { .. } => argv.push("run".to_owned()),
    }
    if let Some(bytes) = app.memory {
        options.push(opt("-W", &format!("max-memory-size={bytes}")));
    }
    if app.network != wasmunit::manifest::schema::Network::None {
        options.push(opt("-S", "inherit-network=y"));
        options.push(opt("-S", "allow-ip-name-lookup=y"));
    }
    for f in needs {
        let o = match *f {
            Flag::MaxMemorySize(n) => opt("-W", &format!("max-memory-size={n}")),
            Flag::Proposal(name) => opt("-W", &format!("{name}=y")),
            Flag::SharedMemory => opt("-W", "shared-memory=y"),
            Flag::Wasi(w) => opt("-S", &format!("{}=y", wasi_option(w))),
        };
        if !options.contains(&o) {
            options.push(o);
        }
    }
    argv.extend(options.into_iter().flatten());
    let dir = |host: &str, guest: &str| ["--dir".to_owned(), format!("{host}::{guest}")];
    for f in &app.files {
        argv.extend(dir(f.host.as_str(), &f.guest));
    }
    for d in &app.dirs {
        argv.extend(dir(d.host.as_str(), &d.guest));
    }
    if !app.credentials.is_empty() {
        // systemd's $CREDENTIALS_DIRECTORY of the unit.
        argv.extend(dir(&format!("/run/credentials/{unit}"), "/run/secrets"));
    }
    for (k, v) in &app.env {
        argv.extend(["--env".to_owned(), format!("{k}={v}")]);
    }
    argv.push(format!(
        "/var/lib/wasmunit/modules/{}.wasm",
        app.module.sha256
    ));
    argv.extend(app.args.iter().cloned());
    argv
}

/// The name of a `-S` option, as `wasmtime run --help` spells it.
fn wasi_option(w: WasiOption) -> &'static str {
    match w {
        WasiOption::InheritNetwork => "inherit-network",
        WasiOption::AllowIpNameLookup => "allow-ip-name-lookup",
        WasiOption::Http => "http",
        WasiOption::Cli => "cli",
        WasiOption::Nn => "nn",
        WasiOption::Config => "config",
        WasiOption::Keyvalue => "keyvalue",
        WasiOption::Threads => "threads",
    }
}

fn strings(props: &HashMap<String, OwnedValue>, key: &str) -> Vec<String> {
    props
        .get(key)
        .and_then(|v| Vec::<String>::try_from(v.try_clone().ok()?).ok())
        .unwrap_or_default()
}

fn string(props: &HashMap<String, OwnedValue>, key: &str) -> Option<String> {
    props
        .get(key)
        .and_then(|v| String::try_from(v.try_clone().ok()?).ok())
}

fn expected_description(app: &AppPlan) -> String {
    match &app.description {
        Some(d) => d.as_str().to_owned(),
        None => FreeText::sanitised(&format!(
            "WebAssembly app {} ({})",
            app.name,
            app.module.origin.display()
        ))
        .as_str()
        .to_owned(),
    }
}

/// One app's service as systemd parsed it, against the manifest.
struct AppCheck<'a> {
    case: &'a str,
    unit: String,
    app: &'a AppPlan,
    /// A server under a wasmtime before 50 with no network of its own: it
    /// listens on its namespace's loopback for systemd-socket-proxyd.
    behind_proxy: bool,
    unit_props: HashMap<String, OwnedValue>,
    service_props: HashMap<String, OwnedValue>,
}

impl AppCheck<'_> {
    fn at(&self) -> String {
        format!("{} {}", self.case, self.unit)
    }

    fn unit_section(&self, m: &mut Mismatches) {
        let (app, props) = (self.app, &self.unit_props);
        m.check(
            &self.at(),
            "LoadState",
            &string(props, "LoadState"),
            &Some("loaded".into()),
        );
        m.check(
            &self.at(),
            "Description",
            &string(props, "Description"),
            &Some(expected_description(app)),
        );
        // A pinned app brings its own wasmtime: no wait for the host merge.
        let mut after = Vec::new();
        if app.pin.is_none() {
            after.push("systemd-sysext.service".to_owned());
        }
        let mut wants = Vec::new();
        if app.network != wasmunit::manifest::schema::Network::None {
            after.push("network-online.target".into());
            wants.push("network-online.target".to_owned());
        }
        after.extend(
            app.after
                .iter()
                .map(wasmunit::manifest::app_name::AppName::service_unit),
        );
        wants.extend(
            app.wants
                .iter()
                .map(wasmunit::manifest::app_name::AppName::service_unit),
        );
        // systemd adds its implicit dependencies: ours must be among them.
        for (key, ours) in [("After", after), ("Wants", wants)] {
            let read = strings(props, key);
            let found: Vec<String> = ours.iter().filter(|a| read.contains(a)).cloned().collect();
            m.check(&self.at(), key, &found, &ours);
        }
    }

    fn exec_start(
        &self,
        m: &mut Mismatches,
        sd: &wasmunit::deploy::dbus::DbusSystemd,
        p: &wasmunit::render::Rendered,
        i: usize,
    ) {
        let argv = expected_argv(self.app, &self.unit, p.checked().app(i).needs);
        // D-Bus shows argv before exec-time variable expansion, which turns
        // `$$` into `$` (our words never hold a lone `$`; tests/all/real_systemd.rs
        // shows the process receiving the expanded argv).
        let exec = sd.exec_start(&self.unit).expect("ExecStart");
        let read: Vec<Vec<String>> = exec
            .iter()
            .map(|e| e.1.iter().map(|w| w.replace("$$", "$")).collect())
            .collect();
        m.check(&self.at(), "ExecStart", &read, &vec![argv]);
    }

    fn sandbox(&self, m: &mut Mismatches) {
        let (app, props) = (self.app, &self.service_props);
        let home = format!("/var/cache/wasmunit/{}", app.name);
        let env = vec![format!("HOME={home}"), format!("XDG_CACHE_HOME={home}")];
        m.check(
            &self.at(),
            "Environment",
            &strings(props, "Environment"),
            &env,
        );
        // Shipped files first, then the read-only grants.
        let mut read_only: Vec<String> = app
            .files
            .iter()
            .map(|f| f.host.as_str().to_owned())
            .collect();
        read_only.extend(
            app.dirs
                .iter()
                .filter(|d| d.readonly)
                .map(|d| d.host.as_str().to_owned()),
        );
        m.check(
            &self.at(),
            "ReadOnlyPaths",
            &strings(props, "ReadOnlyPaths"),
            &read_only,
        );
        // A static identity's folders, which may not exist yet (`-`).
        let owned: Vec<String> = app
            .owned_folders()
            .map(|h| format!("-{}", h.as_str()))
            .collect();
        m.check(
            &self.at(),
            "ReadWritePaths",
            &strings(props, "ReadWritePaths"),
            &owned,
        );
        // A dynamic user's name is systemd's (the unit's); a static one ours.
        let dynamic = props
            .get("DynamicUser")
            .and_then(|v| bool::try_from(v.try_clone().ok()?).ok());
        m.check(
            &self.at(),
            "DynamicUser",
            &dynamic,
            &Some(app.static_user().is_none()),
        );
        if let Some(user) = app.static_user() {
            m.check(&self.at(), "User", &string(props, "User"), &Some(user));
        }
        for (_, key) in EXEC_DIRECTORY_TREES {
            // wasmtime's own cache comes first.
            let mut expected: Vec<String> = if key == "CacheDirectory" {
                vec![format!("wasmunit/{}", app.name)]
            } else {
                Vec::new()
            };
            expected.extend(app.dirs.iter().filter_map(|d| match &d.provision {
                Provision::Managed(e) if e.key == key => Some(e.rel().to_owned()),
                _ => None,
            }));
            // systemd keeps these sorted (to set up parents first).
            expected.sort();
            let mut read = strings(props, key);
            read.sort();
            m.check(&self.at(), key, &read, &expected);
        }
    }

    /// The pinned image, the credentials and the egress allow-list, as
    /// the manager parsed them.
    fn runtime_secrets_and_egress(&self, m: &mut Mismatches) {
        let (app, props) = (self.app, &self.service_props);
        let images: Vec<String> = props
            .get("ExtensionImages")
            .and_then(|v| {
                Vec::<(String, bool, Vec<(String, String)>)>::try_from(v.try_clone().ok()?).ok()
            })
            .unwrap_or_default()
            .into_iter()
            .map(|(source, _, _)| source)
            .collect();
        let pinned: Vec<String> = app.pin.iter().map(|p| p.node_path.clone()).collect();
        m.check(&self.at(), "ExtensionImages", &images, &pinned);
        for (key, source) in [
            ("LoadCredential", wasmunit::plan::credential::Source::File),
            (
                "LoadCredentialEncrypted",
                wasmunit::plan::credential::Source::Encrypted,
            ),
        ] {
            let read: Vec<String> = props
                .get(key)
                .and_then(|v| Vec::<(String, String)>::try_from(v.try_clone().ok()?).ok())
                .unwrap_or_default()
                .into_iter()
                .map(|(id, path)| format!("{id}:{path}"))
                .collect();
            let ours: Vec<String> = app
                .credentials
                .iter()
                .filter(|c| c.source == source)
                .map(wasmunit::plan::credential::Credential::setting)
                .collect();
            m.check(&self.at(), key, &read, &ours);
        }
        // systemd keeps them as a set: order is its own.
        let mut read: Vec<String> = props
            .get("IPAddressAllow")
            .and_then(|v| Vec::<(i32, Vec<u8>, u32)>::try_from(v.try_clone().ok()?).ok())
            .unwrap_or_default()
            .into_iter()
            .map(|(_, bytes, len)| prefix_text(&bytes, len))
            .collect();
        read.sort();
        let mut ours: Vec<String> = app.egress.iter().map(ToString::to_string).collect();
        if self.behind_proxy {
            // `localhost`: the proxy's connections on its namespace's loopback.
            ours = vec!["127.0.0.0/8".to_owned(), "::1".to_owned()];
        }
        ours.sort();
        m.check(&self.at(), "IPAddressAllow", &read, &ours);
    }

    /// Each raw key systemd shows as a property: of the same name as text
    /// (a string), as words (a list, `Documentation=`) or as a number
    /// (`CPUWeight=`), for a `…Sec` time span as `…USec` microseconds,
    /// `CPUQuota=` as `CPUQuotaPerSecUSec`. Another value with a `%` (a
    /// specifier, systemd's to expand) is not compared, and named in the
    /// summary with every key that has no property to compare.
    fn pass_through(&self, m: &mut Mismatches) {
        for (props, raw) in [
            (&self.unit_props, &self.app.raw.unit),
            (&self.service_props, &self.app.raw.service),
        ] {
            for (k, v) in raw {
                let (key, v) = (k.as_str(), v.as_str());
                let at = format!("{} {key}", self.at());
                let value = props.get(key).and_then(|p| p.try_clone().ok());
                let usec = |name: &str| {
                    props
                        .get(name)
                        .and_then(|p| u64::try_from(p.try_clone().ok()?).ok())
                };
                if key == "CPUQuota" {
                    // `50%`: CPU time per second of wall clock.
                    let pct = v.strip_suffix('%').and_then(|n| n.parse::<u64>().ok());
                    m.check(
                        &at,
                        PASS_THROUGH,
                        &usec("CPUQuotaPerSecUSec"),
                        &pct.map(|p| p * 10_000),
                    );
                } else if v.contains('%') {
                    // A specifier: systemd's to expand.
                    m.raw_not_compared.insert(format!("{key} (a specifier)"));
                } else if let Some(read) = value.clone().and_then(|p| String::try_from(p).ok()) {
                    m.check(&at, PASS_THROUGH, &read, &v.to_owned());
                } else if let Some(read) =
                    value.clone().and_then(|p| Vec::<String>::try_from(p).ok())
                {
                    let words: Vec<String> = v.split_whitespace().map(str::to_owned).collect();
                    let found: Vec<String> =
                        words.iter().filter(|w| read.contains(w)).cloned().collect();
                    m.check(&at, PASS_THROUGH, &found, &words);
                } else if let (Some(read), Ok(n)) =
                    (value.and_then(|p| u64::try_from(p).ok()), v.parse::<u64>())
                {
                    m.check(&at, PASS_THROUGH, &read.to_string(), &n.to_string());
                } else if let (Some(read), Some(want)) = (
                    key.strip_suffix("Sec")
                        .and_then(|stem| usec(&format!("{stem}USec"))),
                    microseconds(v),
                ) {
                    m.check(&at, PASS_THROUGH, &read.to_string(), &want.to_string());
                } else {
                    m.raw_not_compared.insert(key.to_owned());
                }
            }
        }
    }
}

/// A plain systemd time span (`5s`, `1min 30s`, `250ms`, `90`: seconds)
/// in microseconds; `None` for anything else (`infinity`, …).
fn microseconds(v: &str) -> Option<u64> {
    let mut total = 0u64;
    for part in v.split_whitespace() {
        let digits = part
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(part.len());
        let n: u64 = part[..digits].parse().ok()?;
        let unit: u64 = match &part[digits..] {
            "us" | "usec" => 1,
            "ms" | "msec" => 1_000,
            "" | "s" | "sec" => 1_000_000,
            "min" | "m" => 60_000_000,
            "h" | "hr" => 3_600_000_000,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    (!v.trim().is_empty()).then_some(total)
}

/// An address and prefix length as D-Bus gives them, written the way the
/// manifest does (a whole address without its length).
fn prefix_text(bytes: &[u8], len: u32) -> String {
    let (addr, full): (std::net::IpAddr, u32) = match bytes.len() {
        4 => (<[u8; 4]>::try_from(bytes).expect("v4").into(), 32),
        _ => (
            <[u8; 16]>::try_from(bytes)
                .map_or(std::net::Ipv6Addr::UNSPECIFIED, Into::into)
                .into(),
            128,
        ),
    };
    if len == full {
        addr.to_string()
    } else {
        format!("{addr}/{len}")
    }
}

fn check_app(
    container: &Container,
    m: &mut Mismatches,
    case: &str,
    p: &wasmunit::render::Rendered,
    i: usize,
) {
    let app = &p.plan().apps[i];
    let unit = app.name.service_unit();
    let sd = container.systemd();
    let check = AppCheck {
        case,
        app,
        behind_proxy: app.kind.listener() == Some(Listener::Proxy),
        unit_props: sd.properties(&unit, UNIT).expect("Unit properties"),
        service_props: sd.properties(&unit, SERVICE).expect("Service properties"),
        unit,
    };
    check.unit_section(m);
    check.exec_start(m, &sd, p, i);
    check.sandbox(m);
    check.runtime_secrets_and_egress(m);
    check.pass_through(m);
}

#[test]
fn systemd_252_reads_back_what_every_golden_manifest_says() {
    // Loading units needs no runnable wasmtime: any executable will do.
    oracle(&Container::boot(Path::new("/bin/true")), "252");
}

#[test]
fn systemd_257_reads_back_what_every_golden_manifest_says() {
    let tree = common::container::debian13_tree();
    oracle(&Container::boot_tree(&tree, Path::new("/bin/true")), "257");
}

/// The newest manager (Debian forky's), reading units rendered for the
/// releases wasmunit targets.
#[test]
fn systemd_262_reads_back_what_every_golden_manifest_says() {
    let tree = common::container::forky_tree();
    oracle(&Container::boot_tree(&tree, Path::new("/bin/true")), "262");
}

fn oracle(container: &Container, version: &str) {
    let sd = container.systemd();
    let reported: String = sd.manager().expect("manager").version().expect("Version");
    assert!(
        reported.starts_with(version),
        "systemd {reported}, not {version}"
    );
    let scratch = tempfile::tempdir().expect("tmp");
    let mut m = Mismatches::default();
    let mut cases = common::passing_golden_cases();
    assert!(
        cases.len() >= 15,
        "only {} passing golden cases",
        cases.len()
    );
    cases.extend(own_cases(&scratch.path().join("own")));
    for (case, args) in &cases {
        let name = case
            .file_stem()
            .expect("stem")
            .to_string_lossy()
            .into_owned();
        let out = scratch.path().join(&name);
        render(case, args, &out, &scratch.path().join("cache"));
        let units = container.unit_dir();
        for e in std::fs::read_dir(&units).expect("unit dir").flatten() {
            let _ = std::fs::remove_file(e.path());
        }
        for e in std::fs::read_dir(&out).expect("out").flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.ends_with(".service") || n.ends_with(".timer") || n.ends_with(".target") {
                std::fs::copy(e.path(), units.join(&n)).expect("copy unit");
            }
        }
        container.systemd().reload().expect("Reload");
        let p = prepared(case, args);
        let (apps, before) = (p.plan().apps.len(), m.compared);
        for i in 0..apps {
            check_app(container, &mut m, &name, &p, i);
        }
        // Every key of every app, whatever the app holds.
        let compared = m.compared - before;
        if apps == 0 || compared < apps * COMPARED_PER_APP {
            m.found.push(format!(
                "{name}: {compared} comparisons for {apps} apps, at least {COMPARED_PER_APP} each expected"
            ));
        }
    }
    let total: usize = m.values.values().sum();
    eprintln!(
        "systemd {version} oracle: {} comparisons, {total} values read back equal over {} \
         cases, {} mismatches; per key: {:?}; raw keys not compared: {:?}",
        m.compared,
        cases.len(),
        m.found.len(),
        m.values,
        m.raw_not_compared
    );
    assert!(m.found.is_empty(), "{}", m.found.join("\n"));
    // Each key read back at least once with a value in it: a reader that
    // finds nothing, where the manifest says nothing, would pass unseen.
    let unread: Vec<&str> = KEYS
        .iter()
        .copied()
        .filter(|k| m.values_of(k) == 0)
        .collect();
    assert!(
        unread.is_empty(),
        "systemd {version}: no case gave a value to compare for {unread:?}: {:?}",
        m.values
    );
    assert!(
        total >= MIN_VALUES_PER_CASE * cases.len(),
        "systemd {version}: only {total} values compared over {} cases (at least {MIN_VALUES_PER_CASE} a case expected)",
        cases.len()
    );
}
