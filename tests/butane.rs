//! The fragment judged by the real Butane 0.29 and Ignition 2.24 (installed
//! by tests/install-tools.sh from ../shared/tools/coreos): every passing
//! golden case's `butane.yaml` must pass `butane --strict`, its Ignition
//! config `ignition-validate`, and each unit in it must be byte for byte the
//! unit file `render --out` wrote (so the YAML writer loses nothing, also
//! for texts with quotes, `%`, non-ASCII text and YAML's other line breaks).

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

fn tool(name: &str) -> PathBuf {
    let p = PathBuf::from(std::env::var_os("HOME").expect("HOME"))
        .join(".cargo/wasmunit-tools/coreos")
        .join(name);
    assert!(
        p.exists(),
        "{} is missing: run `bash tests/install-tools.sh`",
        p.display()
    );
    p
}

fn passing_cases() -> Vec<(PathBuf, Vec<String>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(common::repo().join("tests/cases")).expect("cases") {
        let p = e.expect("entry").path();
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue;
        };
        if p.extension().is_none_or(|x| x != "toml") || text.contains("## assert-failed") {
            continue;
        }
        let args = text
            .lines()
            .filter_map(|l| l.strip_prefix("## args "))
            .flat_map(|a| a.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .collect();
        out.push((p, args));
    }
    out.sort();
    out
}

fn run(cmd: &mut Command, what: &str) -> Vec<u8> {
    let o = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "{what}: {}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

fn check_case(case: &Path, args: &[String], scratch: &Path) -> usize {
    let name = case
        .file_stem()
        .expect("stem")
        .to_string_lossy()
        .into_owned();
    let dir = case.parent().expect("folder");
    let out = scratch.join(&name);
    run(
        Command::new(env!("CARGO_BIN_EXE_wasmunit"))
            .current_dir(dir)
            .arg("render")
            .arg(case)
            .arg("--out")
            .arg(&out)
            .args(args)
            .env("WASMUNIT_CACHE_DIR", scratch.join("cache"))
            .stderr(std::process::Stdio::null()),
        &format!("{name}: render"),
    );
    let ign = run(
        Command::new(tool("butane"))
            .arg("--strict")
            .arg("--files-dir")
            .arg(dir)
            .arg(out.join("butane.yaml")),
        &format!("{name}: butane --strict"),
    );
    let ign_path = scratch.join(format!("{name}.ign"));
    std::fs::write(&ign_path, &ign).expect("write ign");
    run(
        Command::new(tool("ignition-validate")).arg(&ign_path),
        &format!("{name}: ignition-validate"),
    );
    let config: serde_json::Value = serde_json::from_slice(&ign).expect("Ignition JSON");
    let units = config["systemd"]["units"]
        .as_array()
        .expect("systemd.units");
    let mut compared = 0;
    for e in std::fs::read_dir(&out).expect("out").flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        if !(file.ends_with(".service") || file.ends_with(".timer") || file.ends_with(".target")) {
            continue;
        }
        let text = std::fs::read_to_string(e.path()).expect("unit");
        let entry = units
            .iter()
            .find(|u| u["name"] == file.as_str())
            .unwrap_or_else(|| panic!("{name}: Ignition config lacks {file}"));
        assert_eq!(
            entry["contents"].as_str(),
            Some(text.as_str()),
            "{name}: {file} differs after Butane"
        );
        compared += 1;
    }
    compared
}

#[test]
fn butane_strict_and_ignition_accept_every_fragment_and_keep_every_unit_byte_for_byte() {
    let scratch = tempfile::tempdir().expect("tmp");
    let cases = passing_cases();
    assert!(cases.len() >= 15, "{} cases", cases.len());
    let units: usize = cases
        .iter()
        .map(|(c, a)| check_case(c, a, scratch.path()))
        .sum();
    eprintln!(
        "butane: {} fragments, {units} units byte-identical after butane --strict",
        cases.len()
    );
    assert!(units >= cases.len() * 2);
}
