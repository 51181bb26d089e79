//! Provisioning of Flatcar's wasmtime sysext from the sysext-bakery: the
//! image, the link that activates it, and (only on request) sysupdate.
//!
//! The published snippet nests `source:` of `noop.conf` beside `contents:`,
//! which `butane --strict` rejects; here every file carries its contents
//! inline, so nothing is fetched without a hash except the image itself.

use super::butane::{Config, Dropin, File, Link, Resource, Text, Unit};
use crate::node::paths;
use crate::releases::WasmtimeVersion;

pub const BAKERY: &str = "https://extensions.flatcar.org/extensions";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Arch {
    #[value(name = "x86-64")]
    X86_64,
    #[value(name = "arm64")]
    Arm64,
}

impl Arch {
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86-64",
            Arch::Arm64 => "arm64",
        }
    }
}

#[derive(Debug, Clone)]
pub struct SysextOptions {
    pub version: WasmtimeVersion,
    pub arch: Arch,
    /// Let systemd-sysupdate move the node to newer wasmtime releases.
    pub updates: bool,
}

fn sysupdate_conf() -> String {
    format!(
        "\
[Transfer]
Verify=false

[Source]
Type=url-file
Path={BAKERY}/wasmtime/
MatchPattern=wasmtime-@v-%a.raw

[Target]
InstancesMax=3
Type=regular-file
Path={}
CurrentSymlink={}
",
        paths::SYSEXT_DIR.path,
        paths::SYSEXT_LINK.path
    )
}

/// As the bakery documents it: update, then refresh the sysext only when
/// the image the link points at actually changed (not on every timer run).
/// The refresh restarts `wasmunit-follow.service` (see [`super::follow`]),
/// which moves the running workloads onto the new binary.
fn sysupdate_dropin() -> String {
    let (link, before) = (paths::SYSEXT_LINK.path, paths::SYSEXT_BEFORE.path);
    format!(
        "\
[Service]
ExecStartPre=/usr/bin/sh -c 'readlink --canonicalize {link} > {before} || true'
ExecStartPre=/usr/lib/systemd/systemd-sysupdate -C wasmtime update
ExecStartPost=/usr/bin/sh -c 'readlink --canonicalize {link} | cmp -s - {before} || systemctl restart systemd-sysext'
"
    )
}

/// sysupdate needs at least one transfer in its default folder to run at all.
const NOOP_CONF: &str = "\
[Source]
Type=regular-file
Path=/
MatchPattern=invalid@v.raw

[Target]
Type=regular-file
Path=/
";

pub fn add(config: &mut Config<'_>, o: &SysextOptions) {
    let image = format!("wasmtime-v{}-{}.raw", o.version, o.arch.as_str());
    let image_path = paths::SYSEXT_DIR.join(&image);
    config.storage.files.push(File {
        path: image_path.clone(),
        size: 0,
        mode: 0o644,
        contents: Resource {
            source: Some(format!("{BAKERY}/{image}")),
            ..Resource::default()
        },
    });
    config.storage.links.push(Link {
        path: paths::SYSEXT_LINK.path.to_owned(),
        target: image_path,
        hard: false,
    });
    if !o.updates {
        return;
    }
    for (path, text) in [
        (
            paths::SYSUPDATE_WASMTIME_DIR.join("wasmtime.conf"),
            Text(sysupdate_conf().into()),
        ),
        (
            paths::SYSUPDATE_NOOP.path.to_owned(),
            Text::borrowed(NOOP_CONF),
        ),
    ] {
        config.storage.files.push(File {
            path,
            size: 0,
            mode: 0o644,
            contents: Resource {
                inline: Some(text),
                ..Resource::default()
            },
        });
    }
    config.systemd.units.push(Unit {
        name: "systemd-sysupdate.timer",
        enabled: Some(true),
        contents: None,
        dropins: Vec::new(),
    });
    config.systemd.units.push(Unit {
        name: "systemd-sysupdate.service",
        enabled: None,
        contents: None,
        dropins: vec![Dropin {
            name: "wasmtime.conf",
            contents: Text(sysupdate_dropin().into()),
        }],
    });
}
