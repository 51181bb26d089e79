//! The node map against real trees. What the OS keeps below systemd's
//! per-service trees (/var/lib, /var/cache, /var/log, /run) in the Debian
//! 13 and forky trees, and what their tmpfiles.d lines create there, is
//! never an app's to write. And the raw-key table against the real
//! managers: every key systemd 252 (the
//! host's), 257 (the Debian 13 tree's, Flatcar stable's) and 262 (the
//! Debian forky tree's) know in [Unit], [Service] and [Install] has a
//! verdict in `wasmunit::node::raw_keys`, and the table holds no key none
//! of them knows. A tree is run with `chroot` (`systemd-nspawn --pipe`
//! fails without a system bus); a missing tree or tool fails, never skips.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use wasmunit::node::raw_keys::{self, Section};

const HINT: &str = "run `bash tests/install-tools.sh`";

/// A tree `tests/install-tools.sh` bootstraps: `$VAR`, else `~/DEFAULT`.
fn tree(var: &str, default: &str) -> PathBuf {
    let p = std::env::var_os(var).map_or_else(
        || PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(default),
        PathBuf::from,
    );
    assert!(
        p.join("usr/lib/systemd/systemd").exists(),
        "{} holds no systemd ({var}): {HINT}",
        p.display()
    );
    p
}

/// `systemd ARGS` of the host (`tree` None) or run in `tree` with chroot.
fn systemd(tree: Option<&Path>, args: &[&str]) -> String {
    let mut cmd = match tree {
        None => Command::new("/lib/systemd/systemd"),
        Some(t) => {
            let mut c = Command::new("chroot");
            c.arg(t).arg("/usr/lib/systemd/systemd");
            c
        }
    };
    let out = cmd
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}: {HINT}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}\n{HINT}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// The [Unit], [Service] and [Install] keys of a
/// `--dump-configuration-items` listing (`[Section]` lines, then
/// `Key=TYPE` lines).
fn keys_of_dump(dump: &str) -> BTreeSet<(Section, String)> {
    let mut section = None;
    let mut keys = BTreeSet::new();
    for line in dump.lines().filter(|l| !l.is_empty()) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = match name {
                "Unit" => Some(Section::Unit),
                "Service" => Some(Section::Service),
                "Install" => Some(Section::Install),
                _ => None,
            };
            continue;
        }
        let key = line.split_once('=').map_or(line, |(k, _)| k);
        assert!(
            !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric()),
            "not a `Key=TYPE` line: {line:?}"
        );
        if let Some(s) = section {
            keys.insert((s, key.to_owned()));
        }
    }
    keys
}

/// The keys `tree`'s manager (the host's when None) knows, checked for a
/// sane count; with its `--version` line for messages.
fn known_keys(tree: Option<&Path>) -> (String, BTreeSet<(Section, String)>) {
    let version = systemd(tree, &["--version"]);
    let version = version.lines().next().unwrap_or_default().to_owned();
    let keys = keys_of_dump(&systemd(tree, &["--dump-configuration-items"]));
    let count = |s| keys.iter().filter(|k| k.0 == s).count();
    let (unit, service, install) = (
        count(Section::Unit),
        count(Section::Service),
        count(Section::Install),
    );
    assert!(
        unit > 100 && service > 200 && install >= 5,
        "{version}: [Unit] {unit}, [Service] {service}, [Install] {install} keys: a broken parse?"
    );
    (version, keys)
}

fn every_key_has_a_verdict(tree: Option<&Path>) {
    let (version, keys) = known_keys(tree);
    let missing: Vec<String> = keys
        .iter()
        .filter(|(s, k)| raw_keys::verdict(*s, k).is_none())
        .map(|(s, k)| format!("[{}] {k}", s.name()))
        .collect();
    assert!(
        missing.is_empty(),
        "{version}: {} keys have no verdict in src/node/raw_keys.rs:\n{}",
        missing.len(),
        missing.join("\n")
    );
}

fn debian13() -> PathBuf {
    tree("WASMUNIT_DEBIAN13", ".cache/wasmunit-debian13/tree")
}

fn debian_forky() -> PathBuf {
    tree("WASMUNIT_DEBIAN_FORKY", ".cache/wasmunit-debian-forky/tree")
}

#[test]
fn every_key_of_the_hosts_systemd_252_has_a_verdict() {
    every_key_has_a_verdict(None);
}

#[test]
fn every_key_of_systemd_257_has_a_verdict() {
    every_key_has_a_verdict(Some(&debian13()));
}

#[test]
fn every_key_of_systemd_262_has_a_verdict() {
    every_key_has_a_verdict(Some(&debian_forky()));
}

/// No stale or misspelt entry: each key of the table is known by at least
/// one of the three managers.
#[test]
fn every_key_of_the_table_is_known_by_a_manager() {
    let mut known = BTreeSet::new();
    for tree in [None, Some(debian13()), Some(debian_forky())] {
        known.extend(known_keys(tree.as_deref()).1);
    }
    let stale: Vec<String> = raw_keys::KEYS
        .iter()
        .filter(|(s, k, _)| !known.contains(&(*s, (*k).to_owned())))
        .map(|(s, k, _)| format!("[{}] {k}", s.name()))
        .collect();
    assert!(
        stale.is_empty(),
        "keys no manager knows (252, 257, 262):\n{}",
        stale.join("\n")
    );
}

/// The first component below a per-service tree of every path the tree
/// holds there, and of every path its tmpfiles.d lines name there.
fn os_names_below_service_trees(root: &Path) -> BTreeSet<String> {
    let trees = ["var/lib", "var/cache", "var/log", "run"];
    let mut out = BTreeSet::new();
    for t in trees {
        let dir = root.join(t);
        let entries =
            std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}; {HINT}", dir.display()));
        for e in entries.flatten() {
            out.insert(format!("/{t}/{}", e.file_name().to_string_lossy()));
        }
    }
    let conf = root.join("usr/lib/tmpfiles.d");
    let entries =
        std::fs::read_dir(&conf).unwrap_or_else(|e| panic!("{}: {e}; {HINT}", conf.display()));
    let mut lines = 0;
    for e in entries.flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        for path in text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter_map(|l| l.split_whitespace().nth(1))
        {
            lines += 1;
            for t in trees {
                let Some(rest) = path.strip_prefix(&format!("/{t}/")) else {
                    continue;
                };
                let first = rest.split('/').next().unwrap_or("");
                // `%`-specifiers (a user's, a machine's) are not names.
                if !first.is_empty() && !first.contains('%') {
                    out.insert(format!("/{t}/{first}"));
                }
            }
        }
    }
    assert!(
        lines > 50,
        "{}: only {lines} tmpfiles.d lines",
        conf.display()
    );
    out
}

fn no_os_name_is_writable(root: &Path) {
    let names = os_names_below_service_trees(root);
    assert!(names.len() > 20, "{}: only {names:?}", root.display());
    let writable: Vec<&String> = names
        .iter()
        .filter(|n| wasmunit::node::grants::forbidden_for_writes(n).is_none())
        .collect();
    assert!(
        writable.is_empty(),
        "{}: the node map lets an app write {writable:?}; claim them in src/node/paths.rs",
        root.display()
    );
}

#[test]
fn what_debian_13_keeps_below_the_service_trees_is_never_an_apps() {
    no_os_name_is_writable(&debian13());
}

#[test]
fn what_debian_forky_keeps_below_the_service_trees_is_never_an_apps() {
    no_os_name_is_writable(&debian_forky());
}

/// `raw_keys::since` against the dumps: a key is known from the first of
/// 252, 257, 262 whose manager lists it.
#[test]
fn each_key_is_known_from_the_release_whose_manager_first_lists_it() {
    let (_, k252) = known_keys(None);
    let (_, k257) = known_keys(Some(&debian13()));
    let (_, k262) = known_keys(Some(&debian_forky()));
    let mut wrong = Vec::new();
    for (s, k) in k252.iter().chain(&k257).chain(&k262) {
        let first = if k252.contains(&(*s, k.clone())) {
            252
        } else if k257.contains(&(*s, k.clone())) {
            257
        } else {
            262
        };
        if raw_keys::since(*s, k) != first {
            wrong.push(format!(
                "[{}] {k}: first in {first}, table says {}",
                s.name(),
                raw_keys::since(*s, k)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
