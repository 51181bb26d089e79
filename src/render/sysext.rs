//! Provisioning of Flatcar's wasmtime sysext from the sysext-bakery: the
//! image, the link that activates it, and (only on request) sysupdate.
//!
//! The published snippet nests `source:` of `noop.conf` beside `contents:`,
//! which `butane --strict` rejects; here every file carries its contents
//! inline, so nothing is fetched without a hash except the image itself.

use super::butane::{Config, Dropin, File, Link, Resource, Text, Unit};
use crate::target::WasmtimeVersion;

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

const SYSUPDATE_CONF: &str = "\
[Transfer]
Verify=false

[Source]
Type=url-file
Path=https://extensions.flatcar.org/extensions/wasmtime/
MatchPattern=wasmtime-@v-%a.raw

[Target]
InstancesMax=3
Type=regular-file
Path=/opt/extensions/wasmtime
CurrentSymlink=/etc/extensions/wasmtime.raw
";

/// As the bakery documents it: update, then refresh the sysext only when
/// the image the link points at actually changed (not on every timer run).
/// The refresh restarts `wasmunit-follow.service` (see [`super::follow`]),
/// which moves the running workloads onto the new binary.
const SYSUPDATE_DROPIN: &str = "\
[Service]
ExecStartPre=/usr/bin/sh -c 'readlink --canonicalize /etc/extensions/wasmtime.raw > /run/wasmunit-wasmtime-before || true'
ExecStartPre=/usr/lib/systemd/systemd-sysupdate -C wasmtime update
ExecStartPost=/usr/bin/sh -c 'readlink --canonicalize /etc/extensions/wasmtime.raw | cmp -s - /run/wasmunit-wasmtime-before || systemctl restart systemd-sysext'
";

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
    let image_path = format!("/opt/extensions/wasmtime/{image}");
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
        path: "/etc/extensions/wasmtime.raw".to_owned(),
        target: image_path,
        hard: false,
    });
    if !o.updates {
        return;
    }
    for (path, text) in [
        ("/etc/sysupdate.wasmtime.d/wasmtime.conf", SYSUPDATE_CONF),
        ("/etc/sysupdate.d/noop.conf", NOOP_CONF),
    ] {
        config.storage.files.push(File {
            path: path.to_owned(),
            size: 0,
            mode: 0o644,
            contents: Resource {
                inline: Some(Text::borrowed(text)),
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
            contents: Text::borrowed(SYSUPDATE_DROPIN),
        }],
    });
}
