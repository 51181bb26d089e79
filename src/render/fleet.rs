//! The fragment of a fleet node (`wasmunit fleet`): the node pulls its
//! workloads as bundles ([`super::bundle`]) with systemd-sysupdate, and a
//! reconciler runs each new one.
//!
//! - `/etc/sysupdate.wasmunit-apps.d/wasmunit-apps.transfer`: a `url-file`
//!   source at the user's URL, images kept in /opt/extensions/wasmunit-apps,
//!   the link /etc/extensions/wasmunit-apps.raw that systemd-sysext merges.
//! - `wasmunit-fleet-update.service` (at boot, then its timer):
//!   `systemd-sysupdate -C wasmunit-apps update`, then the reconciler. Our
//!   own unit, so neither 262's rename of systemd-sysupdate.service nor its
//!   sandbox matter; a drop-in on the OS's sysupdate runs the reconciler too,
//!   should the OS's own timer move the link (262 updates every component).
//! - `wasmunit-fleet.service`, the reconciler ([`reconciler`]): merges the
//!   bundle the link names (`systemctl restart systemd-sysext`, which also
//!   re-reads the units: the image asks systemd 255+ to with
//!   `EXTENSION_RELOAD_MANAGER=1`, the script does it on older ones), then
//!   restarts exactly the apps whose hash moved, starts the new ones and
//!   stops the removed ones; unchanged apps keep their process. An app
//!   that does not stay up sends the node back to the last bundle that held.

mod interval;
mod public_key;
mod reconciler;
mod source;

pub use interval::interval;
pub use public_key::PublicKey;
use reconciler::{script, script_node_path, RECONCILER_UNIT};
pub use source::FleetUrl;

use super::butane::{
    ButaneVersion, Config, Dropin, File, Resource, Storage, SystemdUnits, Text, Unit,
};
use super::error::RenderError;
use crate::node::paths::{self, FLEET_EXTENSION};
use crate::unit::escape::{Comment, ExecWord, Value};
use crate::unit::file::{Section, UnitFile};

const UPDATE_UNIT: &str = "wasmunit-fleet-update.service";
const UPDATE_TIMER: &str = "wasmunit-fleet-update.timer";
/// The drop-in on the OS's sysupdate (an alias of 262's
/// systemd-sysupdate-update.service: drop-ins of an alias apply).
const OS_SYSUPDATE_DROPIN: &str = "wasmunit-fleet.conf";

/// What a fleet node's fragment is made of.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    pub url: FleetUrl,
    pub public_key: Option<PublicKey>,
    /// How often the node looks for a new bundle (a systemd time span).
    pub every: crate::unit::escape::RawValue,
    /// How long each started app must stay up before the bundle holds.
    pub survive_secs: u32,
    pub butane: ButaneVersion,
}

/// How many bundles a node keeps: the one it runs, the one before (what a
/// rollback returns to) and one more.
const INSTANCES_MAX: u32 = 3;

fn transfer(o: &FleetOptions) -> String {
    let pattern = super::bundle::image_pattern();
    format!(
        "# Shipped by wasmunit: where this node pulls its workloads from.\n\
         [Transfer]\n\
         Verify={}\n\
         \n\
         [Source]\n\
         Type=url-file\n\
         Path={}\n\
         MatchPattern={pattern}\n\
         \n\
         [Target]\n\
         Type=regular-file\n\
         Path={}\n\
         MatchPattern={pattern}\n\
         CurrentSymlink={}\n\
         InstancesMax={INSTANCES_MAX}\n",
        if o.public_key.is_some() { "yes" } else { "no" },
        o.url.as_str(),
        paths::FLEET_IMAGE_DIR.path,
        paths::FLEET_LINK.path,
    )
}

/// A unit a target wants without waiting for it (a target orders itself
/// after what it wants unless the unit has `DefaultDependencies=no`): its
/// own ordering, after `after`, and stopped for shutdown like any other.
fn off_the_boot_transaction(unit: &mut Section, after: &'static str) {
    unit.fixed("DefaultDependencies", "no");
    unit.fixed("After", after);
    unit.fixed("Conflicts", "shutdown.target");
    unit.fixed("Before", "shutdown.target");
}

fn reconciler_unit(o: &FleetOptions, script: &str) -> UnitFile {
    let mut unit = Section::new("Unit");
    unit.fixed(
        "Description",
        "Run the wasmunit bundle this node holds: start, restart and stop its apps",
    );
    // Boot does not wait for its survival window.
    off_the_boot_transaction(&mut unit, "sysinit.target systemd-sysext.service");
    unit.set(
        crate::unit::names::references::FILE,
        Value::plain(script.to_owned()),
    );
    let mut service = Section::new("Service");
    service.fixed("Type", "oneshot");
    service.command(
        "ExecStart",
        vec![vec![
            ExecWord::program(paths::SH),
            ExecWord::new(script).expect("a plain path"),
        ]],
    );
    // Up to four windows (a rollback, a newer bundle meanwhile) and the merges.
    service.set(
        "TimeoutStartSec",
        Value::plain(format!("{}s", 4 * o.survive_secs + 600)),
    );
    service.set("StateDirectory", Value::fixed("wasmunit-fleet"));
    service.comment(
        "Root: it merges images, moves /etc/extensions' link and drives the manager. Nothing",
    );
    service
        .comment("that needs a mount namespace of its own: it reads /usr as the merge leaves it.");
    for (k, v) in [
        ("NoNewPrivileges", "yes"),
        ("RestrictRealtime", "yes"),
        ("LockPersonality", "yes"),
        ("SystemCallArchitectures", "native"),
    ] {
        service.fixed(k, v);
    }
    let mut install = Section::new("Install");
    install.fixed("WantedBy", "multi-user.target");
    UnitFile {
        name: RECONCILER_UNIT.to_owned(),
        header: vec![Comment::new(
            "Shipped by wasmunit fleet: runs the bundle the node pulled. Do not edit.",
        )],
        sections: vec![unit, service, install],
    }
}

fn update_unit() -> UnitFile {
    let mut unit = Section::new("Unit");
    unit.fixed(
        "Description",
        "Pull the newest wasmunit bundle with systemd-sysupdate, then run it",
    );
    unit.fixed("Wants", "network-online.target");
    // Boot does not wait for the download.
    off_the_boot_transaction(
        &mut unit,
        "sysinit.target network-online.target systemd-sysext.service",
    );
    let mut service = Section::new("Service");
    service.fixed("Type", "oneshot");
    service.command(
        "ExecStart",
        vec![vec![
            ExecWord::program("/usr/lib/systemd/systemd-sysupdate"),
            ExecWord::program_arg("--component"),
            ExecWord::program_arg(FLEET_EXTENSION),
            ExecWord::program_arg("update"),
        ]],
    );
    service.command(
        "ExecStartPost",
        vec![vec![
            ExecWord::program(paths::SYSTEMCTL),
            ExecWord::program_arg("start"),
            ExecWord::program_arg(RECONCILER_UNIT),
        ]],
    );
    service.fixed("TimeoutStartSec", "30min");
    for (k, v) in [
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("ProtectClock", "yes"),
        ("RestrictRealtime", "yes"),
        ("LockPersonality", "yes"),
        ("SystemCallArchitectures", "native"),
    ] {
        service.fixed(k, v);
    }
    let mut install = Section::new("Install");
    // A node looks at every boot: the first boot pulls the fleet's bundle.
    install.fixed("WantedBy", "multi-user.target");
    UnitFile {
        name: UPDATE_UNIT.to_owned(),
        header: vec![Comment::new(
            "Shipped by wasmunit fleet: pulls the fleet's newest bundle. Do not edit.",
        )],
        sections: vec![unit, service, install],
    }
}

fn update_timer(o: &FleetOptions) -> UnitFile {
    let mut unit = Section::new("Unit");
    unit.fixed("Description", "Look for a new wasmunit bundle");
    let mut timer = Section::new("Timer");
    timer.set("OnUnitInactiveSec", Value::raw(&o.every));
    // Spread a fleet's downloads over the interval.
    timer.set("RandomizedDelaySec", Value::raw(&o.every));
    let mut install = Section::new("Install");
    install.fixed("WantedBy", "timers.target");
    UnitFile {
        name: UPDATE_TIMER.to_owned(),
        header: vec![Comment::new("Shipped by wasmunit fleet. Do not edit.")],
        sections: vec![unit, timer, install],
    }
}

/// The drop-in on the OS's sysupdate: whoever moves the link, the
/// reconciler runs after.
fn os_dropin() -> String {
    format!(
        "# Shipped by wasmunit fleet: when the OS's sysupdate moved the bundle link too\n\
         # (262 updates every component), {RECONCILER_UNIT} runs the new bundle.\n\
         [Service]\n\
         ExecStartPost=-{} --no-block start {RECONCILER_UNIT}\n",
        paths::SYSTEMCTL
    )
}

/// The fragment's files: the transfer, the reconciler's script and, with
/// signed bundles, the keyring.
fn node_files(o: &FleetOptions, script_path: String, script: &str) -> Vec<File<'static>> {
    let text = |path: String, mode: u32, t: String| File {
        path,
        size: 0,
        mode,
        contents: Resource {
            inline: Some(Text(t.into())),
            ..Resource::default()
        },
    };
    let mut files = vec![
        text(
            paths::FLEET_SYSUPDATE_DIR.join(&format!("{FLEET_EXTENSION}.transfer")),
            0o644,
            transfer(o),
        ),
        text(script_path, 0o644, script.to_owned()),
    ];
    if let Some(key) = &o.public_key {
        use base64::Engine as _;
        files.push(File {
            path: paths::IMPORT_PUBRING.path.to_owned(),
            size: key.bytes().len(),
            mode: 0o644,
            contents: Resource {
                source: Some(format!(
                    "data:;base64,{}",
                    base64::engine::general_purpose::STANDARD.encode(key.bytes())
                )),
                ..Resource::default()
            },
        });
    }
    files
}

/// Every file and unit of a fleet node's fragment, and the fragment's text.
pub struct FleetFragment {
    pub units: Vec<(String, String)>,
    pub script: String,
    pub butane: String,
}

pub fn fragment(o: &FleetOptions) -> Result<FleetFragment, RenderError> {
    let script = script(o.survive_secs);
    let script_path = script_node_path(&script);
    let units = [
        reconciler_unit(o, &script_path),
        update_unit(),
        update_timer(o),
    ]
    .into_iter()
    .map(|u| Ok((u.name.clone(), u.render()?)))
    .collect::<Result<Vec<_>, RenderError>>()?;
    let files = node_files(o, script_path, &script);
    let mut config = Config {
        variant: "flatcar",
        version: o.butane.as_str(),
        storage: Storage {
            files,
            ..Storage::default()
        },
        systemd: SystemdUnits::default(),
    };
    for (name, body) in &units {
        config.systemd.units.push(Unit {
            name,
            enabled: Some(true),
            contents: Some(Text::borrowed(body)),
            dropins: Vec::new(),
        });
    }
    // The merge the bundles need (Flatcar enables it; other systems may not).
    config.systemd.units.push(Unit {
        name: "systemd-sysext.service",
        enabled: Some(true),
        contents: None,
        dropins: Vec::new(),
    });
    config.systemd.units.push(Unit {
        name: super::follow::SYSUPDATE_UNIT,
        enabled: None,
        contents: None,
        dropins: vec![Dropin {
            name: OS_SYSUPDATE_DROPIN,
            contents: Text(os_dropin().into()),
        }],
    });
    let header = format!(
        "# Butane fragment generated by wasmunit fleet: this node runs the bundles\n\
         # published at {} (wasmunit bundle), pulled by systemd-sysupdate.\n\
         # Merge it into your Butane config (variant flatcar); translate with\n\
         #   butane --strict config.bu > config.ign\n",
        Comment::new(o.url.as_str()).as_str()
    );
    let out = config.write_head(&header, Vec::new())?;
    let out = config.write_os_units(out)?;
    let butane = String::from_utf8(out)
        .map_err(|e| RenderError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
    Ok(FleetFragment {
        units,
        script,
        butane,
    })
}
