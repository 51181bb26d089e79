//! Plan → rendered text: unit files and the Butane fragment. Pure: no I/O.

pub(crate) mod app_units;
pub mod budget;
pub mod bundle;
pub(crate) mod butane;
pub mod command;
pub(crate) mod error;
pub mod fleet;
pub(crate) mod follow;
pub(crate) mod ignition;
mod listen;
mod sandbox;
pub(crate) mod sysext;
pub(crate) mod yaml;

use crate::check::checked::{CheckedApp, CheckedPlan};
use crate::plan::runtime::ImageOrigin;
use crate::plan::{AppKind, ModuleOrigin, Plan};
use butane::{ButaneVersion, Config, Storage, SystemdUnits, Text, Unit};
use error::RenderError;
use sysext::SysextOptions;

#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    pub butane: ButaneVersion,
    pub sysext: Option<SysextOptions>,
}

/// One unit file, ready to write or embed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedUnit {
    pub name: String,
    pub text: String,
    /// Whether Ignition enables it; `None` for units started by another.
    pub enabled: Option<bool>,
    /// The app it belongs to; `None` for wasmunit's own units.
    pub app: Option<crate::manifest::app_name::AppName>,
}

/// One file of `--out` (or of a unit folder `apply` writes): its name in
/// the folder and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Everything a checked plan renders to, self-contained: every output
/// (the fragment on stdout, `--out`, `--ignition`, `apply`) is a
/// projection of it.
#[derive(Debug)]
pub struct Rendered {
    pub units: Vec<RenderedUnit>,
    /// The fragment without the units: modules, sysext.
    base: Config<'static>,
    header: String,
    /// What the fragment's `local:` paths name, for the Ignition config.
    local: Vec<(String, LocalSource)>,
    butane_version: ButaneVersion,
    /// What it was rendered from: `apply` installs its modules and files.
    checked: CheckedPlan,
}

/// The bytes behind one `local:` path of the fragment.
#[derive(Debug, Clone)]
enum LocalSource {
    /// Read again when needed, and only while it hashes as planned.
    Module(std::sync::Arc<crate::plan::ModulePlan>),
    Bytes(std::sync::Arc<Vec<u8>>),
}

impl Rendered {
    pub fn plan(&self) -> &Plan {
        self.checked.plan()
    }

    pub fn checked(&self) -> &CheckedPlan {
        &self.checked
    }

    /// Non-blocking findings of the check, one line each, for stderr.
    pub fn warnings(&self) -> &[String] {
        self.checked.warnings()
    }

    /// `--out DIR`: every unit, the fragment, the follow unit's script (for
    /// review: the fragment embeds it) and, when asked, the Ignition config.
    /// Consumes the render: the unit texts move into the files, not copied.
    pub fn into_out_files(self, ignition: bool) -> Result<Vec<OutFile>, RenderError> {
        let butane = self.write_butane(Vec::new())?;
        let ignition = if ignition {
            Some(self.ignition()?)
        } else {
            None
        };
        let mut files: Vec<OutFile> = self
            .units
            .into_iter()
            .map(|u| OutFile {
                name: u.name,
                bytes: u.text.into_bytes(),
            })
            .collect();
        files.push(OutFile {
            name: "butane.yaml".to_owned(),
            bytes: butane,
        });
        files.push(OutFile {
            name: "wasmunit-follow.sh".to_owned(),
            bytes: follow::script().into_bytes(),
        });
        if let Some(json) = ignition {
            files.push(OutFile {
                name: "wasmunit.ign".to_owned(),
                bytes: json.into_bytes(),
            });
        }
        Ok(files)
    }

    /// The Butane fragment, the unit texts embedded verbatim, streamed to
    /// `w`; the units' YAML is made on every core, a batch at a time.
    pub fn write_butane<W: std::io::Write>(&self, w: W) -> std::io::Result<W> {
        use rayon::prelude::*;
        // Small batches: the YAML of one batch is what memory holds beside
        // the units (10,000 apps: peak 1.97 → 1.93 times the output).
        const BATCH: usize = 512;
        let mut w = self.base.write_head(&self.header, w)?;
        for batch in self.units.chunks(BATCH) {
            let chunks: Vec<Vec<u8>> = batch
                .par_iter()
                .map(|u| {
                    butane::Config::write_units(
                        &[unit_entry(u)],
                        Vec::with_capacity(u.text.len() + 512),
                    )
                })
                .collect::<Result<_, std::io::Error>>()?;
            for c in chunks {
                w.write_all(&c)?;
            }
        }
        self.base.write_os_units(w)
    }

    /// The Ignition config the fragment becomes (what Butane makes of it),
    /// with the local modules and shipped files embedded.
    pub fn ignition(&self) -> Result<String, RenderError> {
        let units: Vec<Unit<'_>> = self.units.iter().map(unit_entry).collect();
        let local = |rel: &str| -> Result<std::sync::Arc<Vec<u8>>, RenderError> {
            let missing = || RenderError::MissingLocal {
                rel: rel.to_owned(),
            };
            match &self
                .local
                .iter()
                .find(|(r, _)| r == rel)
                .ok_or_else(missing)?
                .1
            {
                LocalSource::Module(m) => {
                    m.read_bytes()
                        .map_err(|source| RenderError::LocalUnreadable {
                            rel: rel.to_owned(),
                            source,
                        })
                }
                LocalSource::Bytes(b) => Ok(b.clone()),
            }
        };
        ignition::to_json(&self.base, self.butane_version, &units, &local)
    }

    /// The files beside the units that make the follow unit work on a
    /// live host (its script, its drop-in on sysupdate), as the fragment
    /// ships them: node path and bytes, for `apply` to install.
    pub fn follow_files(&self) -> Vec<(String, std::sync::Arc<Vec<u8>>)> {
        let script = follow::script_node_path(&self.plan().layout);
        let mut out: Vec<(String, std::sync::Arc<Vec<u8>>)> = self
            .base
            .storage
            .files
            .iter()
            .filter(|f| f.path == script)
            .filter_map(|f| f.contents.inline.as_ref())
            .map(|t| (script.clone(), std::sync::Arc::new(t.0.as_bytes().to_vec())))
            .collect();
        let dropins = self
            .base
            .systemd
            .units
            .iter()
            .filter(|u| u.name == follow::SYSUPDATE_UNIT)
            .flat_map(|u| &u.dropins)
            .filter(|d| d.name == follow::SYSUPDATE_DROPIN_NAME);
        for d in dropins {
            out.push((
                follow::sysupdate_dropin_node_path(),
                std::sync::Arc::new(d.contents.0.as_bytes().to_vec()),
            ));
        }
        out
    }

    /// How large the Ignition config of the fragment becomes.
    pub fn budget(&self) -> budget::Budget {
        use rayon::prelude::*;
        let mut b = files_budget(&self.base);
        b.add(
            self.units
                .par_iter()
                .map(|u| budget::unit_json_len(&u.name, &u.text))
                .sum(),
        );
        b
    }
}

fn app_rendered_units(
    plan: &Plan,
    checked: CheckedApp<'_>,
) -> Result<Vec<RenderedUnit>, RenderError> {
    let CheckedApp { app, needs } = checked;
    let mut out = Vec::new();
    for u in app_units::app_units(plan, app, needs)? {
        // Not enabled: a unit another one starts (the forwarder, by its
        // socket; a timer's or an idle server's service).
        let started_by_another = u.name == app.name.proxy_unit()
            || (u.name == app.name.service_unit() && app.kind.service_started_by_another());
        let enabled = (!started_by_another).then_some(app.enabled);
        out.push(RenderedUnit {
            text: u.render()?,
            name: u.name,
            enabled,
            app: Some(app.name.clone()),
        });
    }
    Ok(out)
}

/// Renders every unit and the fragment of a checked plan.
pub fn render(checked: CheckedPlan, opts: &RenderOptions) -> Result<Rendered, RenderError> {
    let plan = checked.plan();
    let (base, header) = fragment_base(plan, opts)?;
    let mut units = shared_units(&plan.layout)?;
    for r in render_apps(&checked) {
        units.extend(r?);
    }
    Ok(Rendered {
        units,
        base,
        header,
        local: local_sources(plan),
        butane_version: opts.butane,
        checked,
    })
}

/// Every local file the fragment names, once each, with where its bytes
/// are: the same walks of the plan as the fragment's file entries.
fn local_sources(plan: &Plan) -> Vec<(String, LocalSource)> {
    let mut out: Vec<(String, LocalSource)> = Vec::new();
    let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for app in &plan.apps {
        if let ModuleOrigin::Local { rel, .. } = &app.module.origin {
            if seen.insert(rel) {
                out.push((rel.clone(), LocalSource::Module(app.module.clone())));
            }
        }
    }
    for p in plan.pinned_runtimes() {
        if let ImageOrigin::Local { rel, bytes, .. } = &p.image {
            if seen.insert(rel) {
                out.push((rel.clone(), LocalSource::Bytes(bytes.clone())));
            }
        }
    }
    for f in plan.shipped_files() {
        if seen.insert(&f.source) {
            out.push((f.source.clone(), LocalSource::Bytes(f.bytes.clone())));
        }
    }
    out
}

/// Ignition 2.24 writes an `enable` preset for `enabled: true` but no
/// `disable` one for `enabled: false` (measured: `ignition-apply` logs
/// "setting preset to disabled" and writes nothing), so on a first boot the
/// distribution's presets decide, and Debian's enable everything. A preset
/// file of our own, ordered before Ignition's and the distribution's, keeps
/// such units disabled.
fn disabled_presets(plan: &Plan) -> Option<butane::File<'static>> {
    let mut text = String::new();
    for app in plan.apps.iter().filter(|a| !a.enabled) {
        // Its enabled units: the service unless another starts it, the
        // timer, the socket.
        let mut units = Vec::new();
        if !app.kind.service_started_by_another() {
            units.push(app.name.service_unit());
        }
        if matches!(app.kind, AppKind::Scheduled { .. }) {
            units.push(app.name.timer_unit());
        }
        if app.kind.has_socket() {
            units.push(app.name.socket_unit());
        }
        for unit in units {
            text.push_str("disable ");
            text.push_str(&unit);
            text.push('\n');
        }
    }
    if text.is_empty() {
        return None;
    }
    let text = format!("# Generated by wasmunit: apps with `enabled = false`.\n{text}");
    Some(butane::File {
        path: crate::node::paths::PRESET_FILE.path.to_owned(),
        size: 0,
        mode: 0o644,
        contents: butane::Resource {
            inline: Some(Text(text.into())),
            ..butane::Resource::default()
        },
    })
}

/// The Ignition size of the fragment's files (modules, shipped files).
fn files_budget(base: &Config<'_>) -> budget::Budget {
    let mut b = budget::Budget::new();
    for d in &base.storage.directories {
        b.directory(d);
    }
    for f in &base.storage.files {
        match (&f.contents.source, &f.contents.local, &f.contents.inline) {
            (Some(s), _, _) if s.starts_with("data:") => {
                // base64 of the bytes: its length already is the data's size.
                b.embedded(&f.path, s.len() * 3 / 4);
            }
            (Some(s), _, _) => b.fetched(&f.path, s),
            (None, Some(_), _) => b.embedded(&f.path, f.size),
            (None, None, Some(t)) => b.embedded(&f.path, t.0.len()),
            (None, None, None) => {}
        }
    }
    b
}

fn unit_entry(u: &RenderedUnit) -> Unit<'_> {
    Unit {
        name: &u.name,
        enabled: u.enabled,
        contents: Some(Text::borrowed(&u.text)),
        dropins: Vec::new(),
    }
}

/// The units every manifest ships, whatever its apps: the group target and
/// the unit that restarts the workloads onto a new wasmtime.
fn shared_units(layout: &crate::node::paths::Layout) -> Result<Vec<RenderedUnit>, RenderError> {
    let target = RenderedUnit {
        app: None,
        name: crate::unit::names::GROUP_TARGET.to_owned(),
        text: crate::unit::names::GROUP_TARGET_TEXT.to_owned(),
        enabled: Some(true),
    };
    let follow = follow::unit(layout);
    let follow = RenderedUnit {
        app: None,
        text: follow.render()?,
        name: follow.name,
        enabled: Some(true),
    };
    Ok(vec![target, follow])
}

/// What the follow unit needs beside itself: its script, and the drop-in
/// that runs it after sysupdate (merged into sysupdate's entry when the
/// fragment has one).
fn add_follow_support(config: &mut Config<'static>, layout: &crate::node::paths::Layout) {
    config.storage.files.push(butane::File {
        path: follow::script_node_path(layout),
        size: 0,
        mode: 0o644,
        contents: butane::Resource {
            inline: Some(Text(follow::script().into())),
            ..butane::Resource::default()
        },
    });
    let dropin = butane::Dropin {
        name: follow::SYSUPDATE_DROPIN_NAME,
        contents: Text::borrowed(follow::SYSUPDATE_DROPIN),
    };
    let units = &mut config.systemd.units;
    match units.iter_mut().find(|u| u.name == follow::SYSUPDATE_UNIT) {
        Some(unit) => unit.dropins.push(dropin),
        None => units.push(Unit {
            name: follow::SYSUPDATE_UNIT,
            enabled: None,
            contents: None,
            dropins: vec![dropin],
        }),
    }
}

/// The units of every app, rendered on every core and gathered in manifest
/// order (the first error in that order is the one reported).
fn render_apps(checked: &CheckedPlan) -> Vec<Result<Vec<RenderedUnit>, RenderError>> {
    use rayon::prelude::*;
    (0..checked.plan().apps.len())
        .into_par_iter()
        .map(|i| app_rendered_units(checked.plan(), checked.app(i)))
        .collect()
}

/// Everything of the fragment but the app units (modules, sysext), and its
/// header comment.
fn fragment_base(
    plan: &Plan,
    opts: &RenderOptions,
) -> Result<(Config<'static>, String), RenderError> {
    if let Some(s) = &opts.sysext {
        // Pinned apps bring their own wasmtime; the rest run the node's.
        let host_apps = plan.apps.iter().any(|a| a.pin.is_none());
        if host_apps && !plan.wasmtime_range.contains(s.version) {
            return Err(RenderError::SysextOutsideRange {
                range: plan.wasmtime_range,
                sysext: s.version,
            });
        }
    }

    let mut config = Config {
        variant: "flatcar",
        version: opts.butane.as_str(),
        storage: Storage::default(),
        systemd: SystemdUnits::default(),
    };
    let mut files_dir_needed = false;
    let mut seen = std::collections::BTreeSet::new();
    for app in &plan.apps {
        if seen.insert(app.module.node_path.as_str()) {
            files_dir_needed |= matches!(app.module.origin, ModuleOrigin::Local { .. });
            config.storage.files.push(butane::module_file(&app.module));
        }
    }
    for p in plan.pinned_runtimes() {
        files_dir_needed |= matches!(p.image, ImageOrigin::Local { .. });
        config.storage.files.push(butane::runtime_file(p));
    }
    for f in plan.shipped_files() {
        files_dir_needed = true;
        config.storage.files.push(butane::shipped_file(f));
    }
    config.storage.directories = plan
        .created_folders()
        .into_iter()
        .map(str::to_owned)
        .collect();
    for app in &plan.apps {
        for (path, text) in app.identity_files() {
            config.storage.files.push(butane::File {
                path,
                size: 0,
                mode: 0o644,
                contents: butane::Resource {
                    inline: Some(Text(text.into())),
                    ..butane::Resource::default()
                },
            });
        }
    }
    if let Some(file) = disabled_presets(plan) {
        config.storage.files.push(file);
    }
    if let Some(s) = &opts.sysext {
        sysext::add(&mut config, s);
    }
    add_follow_support(&mut config, &plan.layout);
    let mut header = format!(
        "# Butane fragment generated by wasmunit from {}.\n\
         # Merge it into your Butane config (variant flatcar) and translate with\n",
        crate::unit::escape::Comment::new(&plan.manifest_name).as_str()
    );
    if files_dir_needed {
        header.push_str(
            "#   butane --strict --files-dir <folder of the manifest> config.bu > config.ign\n",
        );
    } else {
        header.push_str("#   butane --strict config.bu > config.ign\n");
    }
    Ok((config, header))
}
