//! systemd's own tools judge every rendered unit: `systemd-analyze verify`
//! must print nothing, and `systemd-analyze security --offline=true` must
//! score at most 1.0 without a network grant and 1.5 with one.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

/// Every manifest that renders: the example, the passing golden cases and a
/// few generated ones.
fn manifests(scratch: &Path) -> Vec<PathBuf> {
    let repo = common::repo();
    let mut v = vec![repo.join("examples/apps.toml")];
    let mut cases: Vec<PathBuf> = std::fs::read_dir(repo.join("tests/cases"))
        .expect("cases")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "toml")
                && !p
                    .file_name()
                    .expect("name")
                    .to_string_lossy()
                    .starts_with("err-")
        })
        .collect();
    cases.sort();
    v.extend(cases);
    for seed in 0..4 {
        let path = scratch.join(format!("generated-{seed}.toml"));
        common::write_generated_manifest(&path, seed, 6);
        v.push(path);
    }
    v
}

/// A root for `--root=`: the host's unit folder and an executable
/// /usr/bin/wasmtime (verify checks that ExecStart's binary exists).
fn make_root(root: &Path, units: &Path) {
    let sys = root.join("usr/lib/systemd");
    std::fs::create_dir_all(&sys).expect("mkdir");
    let ok = Command::new("cp")
        .args(["-r", "/usr/lib/systemd/system"])
        .arg(&sys)
        .status()
        .expect("cp");
    assert!(ok.success());
    std::fs::create_dir_all(root.join("usr/bin")).expect("mkdir");
    let wasmtime = root.join("usr/bin/wasmtime");
    if let Some(real) = common::wasmtime_cli() {
        std::fs::hard_link(&real, &wasmtime)
            .or_else(|_| std::fs::copy(&real, &wasmtime).map(|_| ()))
            .expect("install wasmtime into root");
    } else {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(&wasmtime, "#!/bin/sh\nexit 1\n").expect("stub");
        std::fs::set_permissions(&wasmtime, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    // The version guard (`ExecCondition=/bin/sh -c …`) runs the OS's shell,
    // wasmunit-follow.service its systemctl.
    std::fs::create_dir_all(root.join("bin")).expect("mkdir");
    std::fs::copy("/bin/sh", root.join("bin/sh")).expect("install /bin/sh into root");
    std::fs::copy("/usr/bin/systemctl", root.join("usr/bin/systemctl"))
        .expect("install systemctl into root");
    let etc = root.join("etc/systemd/system");
    std::fs::create_dir_all(&etc).expect("mkdir");
    for e in std::fs::read_dir(units).expect("units") {
        let p = e.expect("entry").path();
        let name = p.file_name().expect("name").to_string_lossy().into_owned();
        if name.ends_with(".service") || name.ends_with(".timer") || name.ends_with(".target") {
            std::fs::copy(&p, etc.join(&name)).expect("copy unit");
        }
    }
}

fn render(manifest: &Path, out: &Path) {
    let o = Command::new(env!("CARGO_BIN_EXE_wasmunit"))
        .arg("render")
        .arg(manifest)
        .arg("--out")
        .arg(out)
        // The units' syntax is under test here, not the modules (the
        // generated apps serve a core module).
        .arg("--no-check")
        .output()
        .expect("run wasmunit");
    assert!(
        o.status.success(),
        "{}: {}",
        manifest.display(),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn unit_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("out")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".service") || n.ends_with(".timer") || n.ends_with(".target"))
        .collect();
    v.sort();
    v
}

/// Every manifest rendered into its own folder, with a root to verify in:
/// (manifest, output folder, root).
fn rendered(scratch: &Path) -> Vec<(PathBuf, PathBuf, PathBuf)> {
    manifests(scratch)
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            let out = scratch.join(format!("out{i}"));
            render(&m, &out);
            let root = scratch.join(format!("root{i}"));
            make_root(&root, &out);
            (m, out, root)
        })
        .collect()
}

#[test]
fn systemd_analyze_verify_accepts_every_unit() {
    let scratch = tempfile::tempdir().expect("tmp");
    let mut checked = 0;
    for (m, out, root) in rendered(scratch.path()) {
        for name in unit_names(&out) {
            let o = Command::new("systemd-analyze")
                .env("LANG", "C")
                .args(["verify", "--man=no"])
                .arg(format!("--root={}", root.display()))
                .arg(&name)
                .output()
                .expect("systemd-analyze (apt-get install systemd)");
            let stderr = String::from_utf8_lossy(&o.stderr);
            assert!(
                o.status.success() && stderr.trim().is_empty(),
                "{} {name}: systemd-analyze verify said:\n{stderr}\n--- unit ---\n{}",
                m.display(),
                std::fs::read_to_string(out.join(&name)).unwrap_or_default()
            );
            checked += 1;
        }
    }
    assert!(checked > 40, "only {checked} units checked");
}

#[test]
fn every_service_scores_safe_on_systemd_analyze_security() {
    let scratch = tempfile::tempdir().expect("tmp");
    let mut checked = 0;
    for (m, out, root) in rendered(scratch.path()) {
        for name in unit_names(&out)
            .into_iter()
            .filter(|n| n.ends_with(".service"))
        {
            let text = std::fs::read_to_string(out.join(&name)).expect("unit");
            let networked = !text.contains("\nPrivateNetwork=yes\n");
            let threshold = if networked { 15 } else { 10 };
            let o = Command::new("systemd-analyze")
                .env("LANG", "C")
                .args(["security", "--offline=true", "--no-pager"])
                .arg(format!("--threshold={threshold}"))
                .arg(format!("--root={}", root.display()))
                .arg(&name)
                .output()
                .expect("systemd-analyze");
            let stdout = String::from_utf8_lossy(&o.stdout);
            let score = stdout
                .lines()
                .rev()
                .find(|l| l.contains("Overall exposure level"))
                .unwrap_or("no score line")
                .to_owned();
            assert!(
                o.status.success(),
                "{} {name}: {score} (threshold {threshold}, network: {networked})\n{stdout}",
                m.display()
            );
            checked += 1;
        }
    }
    assert!(checked > 30, "only {checked} services checked");
}
