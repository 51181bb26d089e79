//! The oracle is systemd: every passing golden case is rendered by the real
//! binary, its unit files are loaded into a real systemd manager (PID 1 in
//! a container, tests/common/container.rs), and what systemd parsed is read
//! back over D-Bus and compared with what the manifest says: Description,
//! After, Wants, the ExecStart argv, Environment, ReadOnlyPaths,
//! ReadWritePaths, StateDirectory, and every pass-through key that has a
//! property of the same name.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use wasmunit::deploy::systemd::Systemd;
use wasmunit::plan::folder::Provision;
use wasmunit::plan::AppPlan;
use wasmunit::unit::escape::{FreeText, EXEC_DIRECTORY_TREES};
use zbus::zvariant::OwnedValue;

mod common;
use common::container::Container;

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
        .map(|v| wasmunit::target::TargetRange::parse(v).expect("version"));
    let systemd = args
        .iter()
        .position(|a| a == "--systemd")
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            wasmunit::target::systemd::SystemdVersion::parse(v.parse().expect("release"))
                .expect("release")
        });
    let no_check = args.iter().any(|a| a == "--no-check");
    let request = wasmunit::pipeline::Request {
        systemd,
        no_check,
        ..wasmunit::pipeline::Request::new(case, wasmtime)
    };
    wasmunit::pipeline::run(&request)
        .unwrap_or_else(|e| panic!("{}: {}", case.display(), e.render(false)))
}

struct Mismatches {
    found: Vec<String>,
    compared: usize,
}

impl Mismatches {
    fn check<T: PartialEq + std::fmt::Debug>(&mut self, what: &str, got: &T, want: &T) {
        self.compared += 1;
        if got != want {
            self.found.push(format!(
                "{what}: systemd read {got:?}, the manifest says {want:?}"
            ));
        }
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
    unit_props: HashMap<String, OwnedValue>,
    service_props: HashMap<String, OwnedValue>,
}

impl AppCheck<'_> {
    fn at(&self, key: &str) -> String {
        format!("{} {} {key}", self.case, self.unit)
    }

    fn unit_section(&self, m: &mut Mismatches) {
        let (app, props) = (self.app, &self.unit_props);
        m.check(
            &self.at("LoadState"),
            &string(props, "LoadState"),
            &Some("loaded".into()),
        );
        m.check(
            &self.at("Description"),
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
            let missing: Vec<String> = ours.into_iter().filter(|a| !read.contains(a)).collect();
            m.check(&self.at(&format!("{key} (missing)")), &missing, &Vec::new());
        }
    }

    fn exec_start(
        &self,
        m: &mut Mismatches,
        sd: &wasmunit::deploy::systemd::DbusSystemd,
        p: &wasmunit::render::Rendered,
        i: usize,
    ) {
        let argv = wasmunit::render::command::flat(
            &wasmunit::render::command::wasmtime_argv(p.plan(), self.app, p.checked().app(i).needs)
                .expect("argv"),
        );
        // D-Bus shows argv before exec-time variable expansion, which turns
        // `$$` into `$` (our words never hold a lone `$`; tests/real_systemd.rs
        // shows the process receiving the expanded argv).
        let exec = sd.exec_start(&self.unit).expect("ExecStart");
        let read: Vec<Vec<String>> = exec
            .iter()
            .map(|e| e.1.iter().map(|w| w.replace("$$", "$")).collect())
            .collect();
        m.check(&self.at("ExecStart argv"), &read, &vec![argv]);
    }

    fn sandbox(&self, m: &mut Mismatches) {
        let (app, props) = (self.app, &self.service_props);
        let raw_keys: Vec<&str> = app.raw.service.iter().map(|(k, _)| k.as_str()).collect();
        let home = format!("/var/cache/wasmunit/{}", app.name);
        if !raw_keys.contains(&"Environment") {
            let env = vec![format!("HOME={home}"), format!("XDG_CACHE_HOME={home}")];
            m.check(
                &self.at("Environment"),
                &strings(props, "Environment"),
                &env,
            );
        }
        if raw_keys
            .iter()
            .any(|k| k.ends_with("Paths") || k.ends_with("Directory"))
        {
            return;
        }
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
            &self.at("ReadOnlyPaths"),
            &strings(props, "ReadOnlyPaths"),
            &read_only,
        );
        // A static identity's folders, which may not exist yet (`-`).
        let owned: Vec<String> = app
            .owned_folders()
            .map(|h| format!("-{}", h.as_str()))
            .collect();
        m.check(
            &self.at("ReadWritePaths"),
            &strings(props, "ReadWritePaths"),
            &owned,
        );
        // A dynamic user's name is systemd's (the unit's); a static one ours.
        let dynamic = props
            .get("DynamicUser")
            .and_then(|v| bool::try_from(v.try_clone().ok()?).ok());
        m.check(
            &self.at("DynamicUser"),
            &dynamic,
            &Some(app.static_user().is_none()),
        );
        if let Some(user) = app.static_user() {
            m.check(&self.at("User"), &string(props, "User"), &Some(user));
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
            m.check(&self.at(key), &read, &expected);
        }
    }

    /// The pinned image, the credentials and the egress allow-list, as
    /// the manager parsed them.
    fn runtime_secrets_and_egress(&self, m: &mut Mismatches) {
        let (app, props) = (self.app, &self.service_props);
        let raw_keys: Vec<&str> = app.raw.service.iter().map(|(k, _)| k.as_str()).collect();
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
        m.check(&self.at("ExtensionImages"), &images, &pinned);
        for (key, source) in [
            ("LoadCredential", wasmunit::plan::credential::Source::File),
            (
                "LoadCredentialEncrypted",
                wasmunit::plan::credential::Source::Encrypted,
            ),
        ] {
            if raw_keys.contains(&key) {
                continue;
            }
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
            m.check(&self.at(key), &read, &ours);
        }
        if !raw_keys.contains(&"IPAddressAllow") {
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
            ours.sort();
            m.check(&self.at("IPAddressAllow"), &read, &ours);
        }
    }

    fn pass_through(&self, m: &mut Mismatches) {
        for (props, raw) in [
            (&self.unit_props, &self.app.raw.unit),
            (&self.service_props, &self.app.raw.service),
        ] {
            for (k, v) in raw {
                // Only string properties of the same name compare as text.
                if let Some(read) = string(props, k.as_str()) {
                    if !v.as_str().contains('%') {
                        m.check(&self.at(k.as_str()), &read, &v.as_str().to_owned());
                    }
                }
            }
        }
    }
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

fn oracle(container: &Container, version: &str) {
    let sd = container.systemd();
    let reported: String = sd.manager().expect("manager").version().expect("Version");
    assert!(
        reported.starts_with(version),
        "systemd {reported}, not {version}"
    );
    let scratch = tempfile::tempdir().expect("tmp");
    let mut m = Mismatches {
        found: Vec::new(),
        compared: 0,
    };
    let cases = common::passing_golden_cases();
    assert!(
        cases.len() >= 15,
        "only {} passing golden cases",
        cases.len()
    );
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
        for i in 0..p.plan().apps.len() {
            check_app(container, &mut m, &name, &p, i);
        }
    }
    eprintln!(
        "systemd {version} oracle: {} values compared over {} golden cases, {} mismatches",
        m.compared,
        cases.len(),
        m.found.len()
    );
    assert!(m.found.is_empty(), "{}", m.found.join("\n"));
}
