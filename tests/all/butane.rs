//! The fragment judged by the real Butane 0.29 and Ignition 2.24 (installed
//! by tests/install-tools.sh from ../shared/tools/coreos): every passing
//! golden case's `butane.yaml` must pass `butane --strict`, its Ignition
//! config `ignition-validate`, and each unit in it must be byte for byte the
//! unit file `render --out` wrote (so the YAML writer loses nothing, also
//! for texts with quotes, `%`, non-ASCII text and YAML's other line breaks).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common;

fn run(cmd: &mut Command, what: &str) -> Vec<u8> {
    common::run_ok(cmd, what, true).0
}

/// The size render announces, in bytes (it rounds up to KiB).
fn announced(stderr: &str) -> usize {
    stderr
        .split("is about ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse::<usize>().ok())
        .map_or_else(|| panic!("no size announced: {stderr}"), |k| k * 1024)
}

/// `render CASE --out SCRATCH/NAME [extra] [the case's args]`, run in the
/// case's folder: (name, folder, output folder, stderr).
fn render_case(
    case: &Path,
    args: &[String],
    scratch: &Path,
    extra: &[&str],
) -> (String, PathBuf, PathBuf, String) {
    let name = case
        .file_stem()
        .expect("stem")
        .to_string_lossy()
        .into_owned();
    let dir = case.parent().expect("folder").to_path_buf();
    let out = scratch.join(&name);
    let (_, stderr) = common::run_ok(
        Command::new(env!("CARGO_BIN_EXE_wasmunit"))
            .current_dir(&dir)
            .arg("render")
            .arg(case)
            .arg("--out")
            .arg(&out)
            .args(extra)
            .args(args)
            .env("WASMUNIT_CACHE_DIR", scratch.join("cache")),
        &format!("{name}: render"),
        false,
    );
    (name, dir, out, stderr)
}

fn check_case(case: &Path, args: &[String], scratch: &Path) -> usize {
    let (name, dir, out, stderr) = render_case(case, args, scratch, &[]);
    let ign = run(
        Command::new(common::coreos("butane"))
            .arg("--strict")
            .arg("--files-dir")
            .arg(&dir)
            .arg(out.join("butane.yaml")),
        &format!("{name}: butane --strict"),
    );
    let ign_path = scratch.join(format!("{name}.ign"));
    std::fs::write(&ign_path, &ign).expect("write ign");
    run(
        Command::new(common::coreos("ignition-validate")).arg(&ign_path),
        &format!("{name}: ignition-validate"),
    );
    // The announced size bounds what Butane makes, and not loosely.
    let estimate = announced(&stderr);
    assert!(
        ign.len() <= estimate && estimate <= ign.len() + (ign.len() / 2).max(2048),
        "{name}: announced {estimate} bytes, Butane made {}",
        ign.len()
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
    let cases = common::passing_golden_cases();
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

/// A manifest shipping `size` bytes of incompressible data.
fn shipping(dir: &Path, size: usize) -> PathBuf {
    std::fs::create_dir_all(dir.join("modules")).expect("mkdir");
    std::fs::create_dir_all(dir.join("data")).expect("mkdir");
    std::fs::copy(
        common::repo().join("tests/cases/modules/tiny.wat"),
        dir.join("modules/tiny.wat"),
    )
    .expect("module");
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let bytes: Vec<u8> = (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect();
    std::fs::write(dir.join("data/blob"), bytes).expect("blob");
    let m = dir.join("apps.toml");
    std::fs::write(
        &m,
        "version = 1\n[app.a]\nmodule = \"modules/tiny.wat\"\nfiles = [{ source = \"data\", guest = \"/d\" }]\n",
    )
    .expect("manifest");
    m
}

/// Around each cloud limit: no warning below the smallest, and above each
/// one a warning naming it (and the blob), which real Butane confirms.
#[test]
fn the_size_warning_fires_at_each_cloud_limit() {
    let scratch = tempfile::tempdir().expect("tmp");
    let limits = wasmunit::render::budget::LIMITS;
    let mut cases = vec![(limits[0].0 * 3 / 4 - 8192, 0)];
    for (i, (limit, _)) in limits.iter().enumerate() {
        cases.push((limit * 3 / 4 + 1024, i + 1));
    }
    for (size, exceeded) in cases {
        let dir = scratch.path().join(format!("s{size}"));
        let m = shipping(&dir, size);
        let (_, stderr) = common::run_ok(
            Command::new(env!("CARGO_BIN_EXE_wasmunit"))
                .arg("render")
                .arg(&m)
                .arg("--out")
                .arg(dir.join("out"))
                .env("WASMUNIT_CACHE_DIR", scratch.path().join("cache")),
            "render",
            false,
        );
        for (i, (_, what)) in limits.iter().enumerate() {
            assert_eq!(
                stderr.contains(what),
                i < exceeded,
                "{size} bytes: {stderr}"
            );
        }
        assert_eq!(
            stderr.contains("/var/lib/wasmunit/files/a/0/blob"),
            exceeded > 0,
            "{stderr}"
        );
        let ign = run(
            Command::new(common::coreos("butane"))
                .args(["--strict", "--files-dir"])
                .arg(&dir)
                .arg(dir.join("out/butane.yaml")),
            "butane",
        );
        for (i, (limit, _)) in limits.iter().enumerate() {
            assert_eq!(
                ign.len() > *limit,
                i < exceeded,
                "{size} bytes: Butane made {}",
                ign.len()
            );
        }
    }
}

/// A `data:` URL's bytes (`;base64` or percent-encoded).
fn data_url_bytes(url: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    if meta.ends_with(";base64") {
        return base64::engine::general_purpose::STANDARD.decode(data).ok();
    }
    let mut out = Vec::new();
    let b = data.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() + 1 {
            out.push(u8::from_str_radix(std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// An Ignition config as data: each file's contents by its decoded bytes,
/// defaults spelled out, key order irrelevant (serde_json maps sort).
fn as_data(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(files) = v["storage"]["files"].as_array_mut() {
        for f in files {
            let c = &mut f["contents"];
            let gzip = c.get("compression").and_then(|z| z.as_str()) == Some("gzip");
            if let Some(obj) = c.as_object_mut() {
                obj.remove("compression");
            }
            let src = c["source"].as_str().unwrap_or_default().to_owned();
            if let Some(mut bytes) = data_url_bytes(&src) {
                if gzip {
                    let mut plain = Vec::new();
                    std::io::Read::read_to_end(
                        &mut flate2::read::GzDecoder::new(bytes.as_slice()),
                        &mut plain,
                    )
                    .expect("gunzip");
                    bytes = plain;
                }
                c["source"] = serde_json::Value::String(hex::encode(bytes));
            }
        }
    }
    v
}

/// `render --ignition` is, as data, what real Butane makes of the fragment,
/// for every golden case, and `ignition-validate` accepts it.
#[test]
fn render_ignition_equals_butanes_translation() {
    let scratch = tempfile::tempdir().expect("tmp");
    for (case, args) in common::passing_golden_cases() {
        let (name, dir, out, _) = render_case(&case, &args, scratch.path(), &["--ignition"]);
        let ours = std::fs::read(out.join("wasmunit.ign")).expect("wasmunit.ign");
        run(
            Command::new(common::coreos("ignition-validate")).arg(out.join("wasmunit.ign")),
            &format!("{name}: ignition-validate"),
        );
        let butanes = run(
            Command::new(common::coreos("butane"))
                .args(["--strict", "--files-dir"])
                .arg(&dir)
                .arg(out.join("butane.yaml")),
            &format!("{name}: butane"),
        );
        let ours: serde_json::Value = serde_json::from_slice(&ours).expect("ours");
        let theirs: serde_json::Value = serde_json::from_slice(&butanes).expect("butane's");
        assert_eq!(
            as_data(ours),
            as_data(theirs),
            "{name}: render --ignition differs from Butane"
        );
    }
}
