//! A generated fleet of 12 apps at first boot: odd arguments, network
//! grants, read-only folders the fragment creates, shipped files, timers,
//! disabled apps.

use std::fmt::Write as _;
use std::path::Path;

use super::{finished, install_sysext, official_wasmtime, provision, settled};
use crate::common;
use crate::common::container::Container;
use wasmunit::deploy::dbus::Systemd;

/// What one app of a generated fleet must show after the first boot.
enum Expect {
    /// A command that ran once and printed this line.
    Ran { unit: String, line: String },
    /// A scheduled app: its timer waits, its service has not run.
    Waiting { timer: String },
    /// `enabled = false`: nothing started it.
    Disabled { unit: String },
}

/// A deterministic fleet of `n` apps mixing what nodes run: commands with
/// odd arguments and a network grant, read-only host folders with odd paths
/// (which the fragment must create), shipped files with read-write folders
/// in each tree systemd manages, timers, and disabled apps.
fn write_fleet_manifest(dir: &Path, n: usize) -> (Vec<Expect>, Vec<String>) {
    let modules = dir.join("modules");
    std::fs::create_dir_all(&modules).expect("mkdir");
    for m in ["hello.wat", "files.wat"] {
        std::fs::copy(
            common::repo().join("examples/modules").join(m),
            modules.join(m),
        )
        .expect("module");
    }
    let q = |s: &str| common::toml_string(s);
    let mut toml = String::from("version = 1\n[defaults]\nrestart = \"no\"\n\n");
    let (mut expect, mut created) = (Vec::new(), Vec::new());
    for i in 0..n {
        let name = format!("fleet{i}");
        let _ = writeln!(toml, "[app.{name}]");
        match i % 4 {
            0 | 3 if i % 8 != 3 => {
                let args = [
                    name.clone(),
                    "a b".into(),
                    "100%".into(),
                    "$X".into(),
                    "q\"uote".into(),
                    "données".into(),
                ];
                let ro = format!("/srv/fleet {i}/données #%");
                let list: Vec<String> = args.iter().map(|a| q(a)).collect();
                let network = if i % 4 == 0 { "outbound" } else { "inherit" };
                let _ = writeln!(
                    toml,
                    "module = \"modules/hello.wat\"\nargs = [{}]\nenv = {{ GREETING = {} }}\n\
                     network = \"{network}\"\ndirs = [{{ host = {}, guest = \"/ro\", readonly = true }}]",
                    list.join(", "),
                    q(&format!("g{i}")),
                    q(&ro)
                );
                if i > 0 {
                    let _ = writeln!(toml, "after = [\"fleet{}\"]", i - 1);
                }
                created.push(ro);
                expect.push(Expect::Ran {
                    unit: format!("wasm-{name}.service"),
                    line: format!("hello from wasm: {} g{i}\n", args.join(" ")),
                });
            }
            1 => {
                let shipped = dir.join(format!("files{i}"));
                std::fs::create_dir_all(&shipped).expect("mkdir");
                std::fs::write(shipped.join("in.txt"), format!("fleet {i}\n")).expect("in.txt");
                let tree = ["/var/lib", "/var/cache", "/var/log"][(i / 4) % 3];
                let _ = writeln!(
                    toml,
                    "module = \"modules/files.wat\"\nfiles = [{{ source = \"files{i}\", guest = \"/config\" }}]\n\
                     dirs = [{{ host = \"{tree}/wasm-fleet{i}\", guest = \"/data\" }}]"
                );
                expect.push(Expect::Ran {
                    unit: format!("wasm-{name}.service"),
                    line: format!("read fleet {i}\nwrite-rw 0\n"),
                });
            }
            2 => {
                let _ = writeln!(
                    toml,
                    "module = \"modules/hello.wat\"\nschedule = \"*-*-* 03:00:00\""
                );
                expect.push(Expect::Waiting {
                    timer: format!("wasm-{name}.timer"),
                });
            }
            _ => {
                let _ = writeln!(toml, "module = \"modules/hello.wat\"\nenabled = false");
                expect.push(Expect::Disabled {
                    unit: format!("wasm-{name}.service"),
                });
            }
        }
        toml.push('\n');
    }
    std::fs::write(dir.join("apps.toml"), toml).expect("manifest");
    (expect, created)
}

fn first_boot_of_a_fleet(tree: &Path, wasmtime: &Path) {
    let work = tempfile::tempdir().expect("tmp");
    let src = work.path().join("src");
    let (expect, created) = write_fleet_manifest(&src, 12);
    let root = provision(&src.join("apps.toml"), work.path());
    // Ignition created every read-only folder the manifest grants.
    for path in &created {
        let md = std::fs::metadata(root.join(path.trim_start_matches('/')))
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(md.is_dir(), "{path}");
    }
    install_sysext(&root, tree, wasmtime);
    let c = Container::first_boot(tree, &root);
    let sd = c.systemd();
    for e in &expect {
        match e {
            Expect::Ran { unit, line } => {
                let state = finished(&c, unit);
                let journal = c.journal(unit);
                assert_eq!(
                    (state.result.as_str(), state.exit_status, state.restarts),
                    ("success", Some(0), Some(0)),
                    "{unit}: {journal}"
                );
                assert!(
                    journal.contains(line.as_str()),
                    "{unit}: want {line:?} in:\n{journal}"
                );
                assert_eq!(
                    sd.unit_file(unit).expect("file").file_state,
                    "enabled",
                    "{unit}"
                );
            }
            Expect::Waiting { timer } => {
                assert_eq!(settled(&c, timer).active, "active", "{timer}");
                assert_eq!(
                    sd.unit_file(timer).expect("file").file_state,
                    "enabled",
                    "{timer}"
                );
                let service = timer.replace(".timer", ".service");
                let state = sd.state(&service).expect("state");
                assert_eq!(
                    (state.active.as_str(), state.active_since_us),
                    ("inactive", 0),
                    "{service}"
                );
            }
            Expect::Disabled { unit } => {
                assert_eq!(
                    sd.unit_file(unit).expect("file").file_state,
                    "disabled",
                    "{unit}"
                );
                let state = sd.state(unit).expect("state");
                assert_eq!(
                    (state.active.as_str(), state.active_since_us),
                    ("inactive", 0),
                    "{unit}"
                );
            }
        }
    }
    assert_eq!(settled(&c, "wasmunit.target").active, "active");
    assert_eq!(settled(&c, "user-hello.service").active, "active");
}

first_boot_test!(a_generated_fleet_runs_at_first_boot_on_systemd_252 => first_boot_of_a_fleet(Path::new("/"), &common::require_wasmtime_cli()));

first_boot_test!(a_generated_fleet_runs_at_first_boot_on_systemd_257_under_the_official_newest_binary => first_boot_of_a_fleet(&common::container::debian13_tree(), &official_wasmtime()));

first_boot_test!(a_generated_fleet_runs_at_first_boot_on_systemd_262_under_the_official_newest_binary => first_boot_of_a_fleet(&common::container::forky_tree(), &official_wasmtime()));
