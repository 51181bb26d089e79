//! What `apply` would change on a host, decided before any side effect:
//! every refusal (a file wasmunit does not own, a unit name another package
//! provides, a module file with other bytes) happens here, so a refused
//! apply leaves the node exactly as it was. `diff` prints the same value.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::dbus::Systemd;
use super::{DeployError, Result};
use crate::plan::runtime::{ImageOrigin, PinnedRuntime};
use crate::plan::{AppPlan, ModuleOrigin, ModulePlan, Plan};
use crate::render::{OutFile, Rendered, RenderedUnit};
use crate::write::{self, FileError, Op};

/// One rendered unit against what is on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitChange {
    Added,
    /// The file differs. `effective`: beyond its comments (a moved or
    /// renamed manifest changes only the header comment: no restart).
    Changed {
        old: String,
        effective: bool,
    },
    Same,
}

/// A module to put on the host, its bytes already read and hashed.
#[derive(Debug, Clone)]
pub struct ModuleCopy {
    pub node_path: String,
    pub bytes: Arc<Vec<u8>>,
}

#[derive(Debug)]
pub struct Changes {
    pub unit_dir: PathBuf,
    /// Every rendered unit, with what it changes.
    pub units: Vec<(RenderedUnit, UnitChange)>,
    /// Units wasmunit installed that the manifest no longer has, with the
    /// text they have now.
    pub removed: Vec<(String, String)>,
    pub modules: Vec<ModuleCopy>,
    /// Read-only host folders the manifest grants that the host lacks
    /// (node paths): created empty, as the Butane fragment does at first
    /// boot. Never removed: they may hold what the user puts there.
    pub folders: Vec<String>,
    /// Every shipped file the manifest has (node paths): the rest of what
    /// wasmunit shipped is collected after a successful apply.
    pub shipped: std::collections::BTreeSet<String>,
    /// The sysusers.d files (node paths) of the apps with a static
    /// identity: applied at every apply (a no-op once the users exist), so
    /// an apply killed after writing one still creates its user next time.
    pub static_users: Vec<String>,
    /// Identity files (sysusers.d, tmpfiles.d) wasmunit wrote, unchanged
    /// since, that the manifest no longer has (an app left it, or its
    /// identity or folders changed): deleted after the removed units are,
    /// so the next boot creates nothing for them (node paths). The
    /// accounts stay.
    pub identity_removed: Vec<String>,
    /// The same, but edited since wasmunit wrote them: kept.
    pub identity_edited: Vec<String>,
    /// What apply and the units it starts need of the node.
    pub needs: NodeNeeds,
}

/// What apply and the enabled apps' units need of the node, each with the
/// apps that need it: checked before apply's first write.
#[derive(Debug, Default)]
pub struct NodeNeeds {
    /// systemd-sysusers, run by apply (every app with a static identity).
    pub sysusers: Vec<String>,
    /// The node's merged wasmtime (an app without a pin).
    pub wasmtime: Vec<String>,
    /// Loop devices: the manager mounts a pinned image (`ExtensionImages=`).
    pub loop_devices: Vec<String>,
    /// systemd-tmpfiles, run before each start (a static identity's folders).
    pub tmpfiles: Vec<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty()
            && self.identity_removed.is_empty()
            && self.modules.is_empty()
            && self.folders.is_empty()
            && self.units.iter().all(|(_, c)| *c == UnitChange::Same)
    }

    /// The new unit files, plus (while the new units come up) the files of
    /// the removed ones, unchanged.
    pub fn files_keeping_removed(&self) -> Vec<OutFile> {
        let mut files = self.new_files();
        files.extend(self.removed.iter().map(|(n, t)| OutFile {
            name: n.clone(),
            bytes: t.clone().into_bytes(),
        }));
        files
    }

    pub fn new_files(&self) -> Vec<OutFile> {
        self.units
            .iter()
            .map(|(u, _)| OutFile {
                name: u.name.clone(),
                bytes: u.text.clone().into_bytes(),
            })
            .collect()
    }

    /// The unit files as they were before: for a rollback.
    pub fn old_files(&self) -> Vec<OutFile> {
        let mut files: Vec<OutFile> = self
            .units
            .iter()
            .filter_map(|(u, c)| {
                let text = match c {
                    UnitChange::Added => return None,
                    UnitChange::Changed { old, .. } => old.clone(),
                    UnitChange::Same => u.text.clone(),
                };
                Some(OutFile {
                    name: u.name.clone(),
                    bytes: text.into_bytes(),
                })
            })
            .collect();
        files.extend(self.removed.iter().map(|(n, t)| OutFile {
            name: n.clone(),
            bytes: t.clone().into_bytes(),
        }));
        files
    }

    /// What `diff` prints: units added, changed (a unified diff), removed;
    /// modules to copy.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        for (u, c) in &self.units {
            match c {
                UnitChange::Added => {
                    let _ = writeln!(s, "+ unit {} (new)", u.name);
                }
                UnitChange::Changed { old, effective } => {
                    let why = if *effective {
                        ""
                    } else {
                        ", comments only: no restart"
                    };
                    let _ = writeln!(s, "~ unit {}{why}", u.name);
                    let diff = similar::TextDiff::from_lines(old.as_str(), u.text.as_str());
                    let _ = write!(
                        s,
                        "{}",
                        diff.unified_diff()
                            .context_radius(2)
                            .header(&format!("a/{}", u.name), &format!("b/{}", u.name))
                    );
                }
                UnitChange::Same => {}
            }
        }
        for (name, _) in &self.removed {
            let _ = writeln!(
                s,
                "- unit {name} (no longer in the manifest: stop, disable, delete)"
            );
        }
        for f in &self.identity_removed {
            let _ = writeln!(
                s,
                "- {} {f} (its app left the manifest or changed identity: delete; the account stays)",
                kind_of(f)
            );
        }
        for f in &self.identity_edited {
            let _ = writeln!(
                s,
                "  {} {f} (no app of the manifest needs it, but it was edited since wasmunit \
                 wrote it: kept)",
                kind_of(f)
            );
        }
        for m in &self.modules {
            let what = kind_of(&m.node_path);
            let _ = writeln!(s, "+ {what} {} ({} bytes)", m.node_path, m.bytes.len());
        }
        for f in &self.folders {
            let _ = writeln!(s, "+ folder {f} (granted read-only; created empty)");
        }
        if s.is_empty() {
            s.push_str("no changes\n");
        }
        s
    }
}

/// What a file wasmunit keeps on a node is, as `diff` and `status` name it
/// (by its node path, from the node map): a unit, a drop-in, a module, the
/// follow unit's script, a pinned runtime image, a shipped file, an
/// identity file (sysusers.d, tmpfiles.d), the preset.
pub fn kind_of(node_path: &str) -> &'static str {
    use crate::node::paths::{self as node, within};
    let in_unit_dir = node_path
        .strip_prefix(node::UNIT_DIR.path)
        .and_then(|rest| rest.strip_prefix('/'));
    if node_path == node::PRESET_FILE.path {
        "preset"
    } else if within(node_path, node::RUNTIME_DIR.path) {
        "runtime image"
    } else if within(node_path, node::FILES_DIR.path) {
        "shipped file"
    } else if within(node_path, node::MODULE_DIR.path) {
        if node_path.ends_with(".sh") {
            "script"
        } else {
            "module"
        }
    } else if within(node_path, node::SYSUSERS_DIR.path)
        || within(node_path, node::TMPFILES_DIR.path)
    {
        "identity file"
    } else if let Some(rest) = in_unit_dir {
        match rest.split_once('/') {
            Some((folder, _)) if folder.ends_with(".d") => "drop-in",
            None if is_unit(rest) => "unit",
            _ => "file",
        }
    } else {
        "file"
    }
}

/// The lines of a unit that systemd reads: no comments, no blank lines.
fn effective_lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with(['#', ';']))
        .collect()
}

fn is_unit(name: &str) -> bool {
    [".service", ".timer", ".target", ".socket"]
        .iter()
        .any(|suffix| name.ends_with(suffix))
}

/// Everything `apply` will do, or why it may not; reads only.
pub fn plan(sd: &dyn Systemd, out: &Rendered, root: &Path) -> Result<Changes> {
    let plan = out.plan();
    let unit_dir = crate::node::paths::UNIT_DIR.under(root);
    let new_files: Vec<OutFile> = out
        .units
        .iter()
        .map(|u| OutFile {
            name: u.name.clone(),
            bytes: u.text.clone().into_bytes(),
        })
        .collect();
    refuse_older_manager(sd, plan)?;
    write::preflight(&unit_dir, &new_files)?;
    let owned = write::owned_files(&unit_dir)?;
    refuse_foreign_names(sd, out, &owned)?;

    let mut units = Vec::new();
    for u in &out.units {
        let change = match std::fs::read_to_string(unit_dir.join(&u.name)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => UnitChange::Added,
            Err(e) => return Err(FileError::at(Op::Read, unit_dir.join(&u.name))(e).into()),
            Ok(old) if old == u.text => UnitChange::Same,
            Ok(old) => UnitChange::Changed {
                effective: effective_lines(&old) != effective_lines(&u.text),
                old,
            },
        };
        units.push((u.clone(), change));
    }
    // The identity files wasmunit wrote that no app of the manifest has.
    let identity_keep: std::collections::BTreeSet<String> = plan
        .apps
        .iter()
        .flat_map(crate::plan::AppPlan::identity_files)
        .map(|(path, _)| path)
        .collect();
    let identity =
        super::identity::unwanted_identity_files(root, &|p: &str| identity_keep.contains(p))?;
    let mut removed = Vec::new();
    for name in owned.keys() {
        if is_unit(name) && !out.units.iter().any(|u| &u.name == name) {
            if let Some(text) = installed_text(&unit_dir, name)? {
                removed.push((name.clone(), text));
            }
        }
    }
    Ok(Changes {
        unit_dir,
        units,
        removed,
        modules: modules_to_copy(out, root)?,
        folders: folders_to_create(plan, root)?,
        shipped: plan.shipped_files().map(|f| f.node_path.clone()).collect(),
        static_users: plan
            .apps
            .iter()
            .filter(|a| a.static_user().is_some())
            .map(crate::plan::AppPlan::sysusers_node_path)
            .collect(),
        identity_removed: identity.removable,
        identity_edited: identity.edited,
        needs: node_needs(plan),
    })
}

/// What apply and the enabled apps' units need of the node.
fn node_needs(plan: &Plan) -> NodeNeeds {
    let mut needs = NodeNeeds {
        sysusers: plan
            .apps
            .iter()
            .filter(|a| a.static_user().is_some())
            .map(|a| a.name.as_str().to_owned())
            .collect(),
        ..NodeNeeds::default()
    };
    for app in plan.apps.iter().filter(|a| a.enabled) {
        let name = app.name.as_str().to_owned();
        if app.pin.is_some() {
            needs.loop_devices.push(name.clone());
        } else {
            needs.wasmtime.push(name.clone());
        }
        if app.owned_folders().next().is_some() {
            needs.tmpfiles.push(name);
        }
    }
    needs
}

/// Units rendered for a newer systemd than the host's would load with
/// their new sandbox keys ignored (and then skip their start): refused.
/// Also for the oldest release wasmunit renders for: a manager older than
/// that is older than every plan.
fn refuse_older_manager(sd: &dyn Systemd, plan: &Plan) -> Result<()> {
    let host = sd.release()?;
    let oldest = crate::releases::systemd_release::SystemdVersion::OLDEST;
    if host < oldest.major() {
        return Err(DeployError::ManagerTooOld { host, oldest });
    }
    if host < plan.systemd.major() {
        return Err(DeployError::RenderedForNewer {
            host,
            rendered: plan.systemd,
        });
    }
    Ok(())
}

/// The read-only grants the host lacks; a non-folder in the way is a
/// refusal.
fn folders_to_create(plan: &Plan, root: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for host in plan.created_folders() {
        let at = root.join(host.trim_start_matches('/'));
        // No link on the way below the root: refused before any write
        // (creating follows none either).
        let mut on_the_way = root.to_path_buf();
        for name in host.split('/').filter(|n| !n.is_empty()) {
            on_the_way.push(name);
            if std::fs::symlink_metadata(&on_the_way).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(DeployError::LinkOnTheWay {
                    path: at,
                    link: on_the_way,
                });
            }
        }
        match std::fs::metadata(&at) {
            Ok(md) if md.is_dir() => {}
            Ok(_) => return Err(DeployError::GrantNotAFolder { path: at }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => out.push(host.to_owned()),
            Err(e) => return Err(FileError::at(Op::Read, &at)(e).into()),
        }
    }
    Ok(out)
}

/// A rendered unit name that systemd already loads from somewhere else
/// (a package's unit in /usr/lib, a runtime unit in /run) is not ours to
/// shadow.
fn refuse_foreign_names(
    sd: &dyn Systemd,
    out: &Rendered,
    owned: &BTreeMap<String, std::collections::BTreeSet<String>>,
) -> Result<()> {
    let mut clashes = Vec::new();
    let names: Vec<String> = out.units.iter().map(|u| u.name.clone()).collect();
    for (u, info) in out.units.iter().zip(sd.unit_files(&names)?) {
        let ours = crate::node::paths::UNIT_DIR.join(&u.name);
        let elsewhere = !info.fragment_path.is_empty() && info.fragment_path != ours;
        if elsewhere && !owned.contains_key(&u.name) {
            clashes.push((u.name.clone(), info.fragment_path));
        }
    }
    if !clashes.is_empty() {
        return Err(DeployError::ForeignUnits { clashes });
    }
    Ok(())
}

/// The text of the unit file `name` installed in `unit_dir`; `None` when
/// it is gone. Any other failure to read it is an error (a unit that
/// cannot be read would otherwise look unused, and what it names would be
/// collected).
pub(crate) fn installed_text(unit_dir: &Path, name: &str) -> Result<Option<String>> {
    let path = unit_dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(FileError::at(Op::Read, path)(e).into()),
    }
}

/// A file's SHA-256, read now.
fn hash_of(path: &Path) -> Result<String> {
    crate::plan::module::hash_file(path).map_err(|e| FileError::at(Op::Read, path)(e).into())
}

/// The modules and wasmunit's own files the host lacks, read and hashed
/// now; an existing file with other bytes, or a local module that changed
/// since it was planned, is a refusal.
fn modules_to_copy(out: &Rendered, root: &Path) -> Result<Vec<ModuleCopy>> {
    let plan = out.plan();
    let mut copies: Vec<ModuleCopy> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for app in &plan.apps {
        if seen.insert(app.module.node_path.clone()) {
            copies.extend(module_to_copy(app, root)?);
        }
    }
    for f in plan.shipped_files() {
        copies.extend(wasmunit_file(root, &f.node_path, &f.sha256, &f.bytes)?);
    }
    for p in plan.pinned_runtimes() {
        copies.extend(runtime_to_copy(root, p)?);
    }
    // A static identity's sysusers.d and tmpfiles.d files, as the fragment
    // ships them.
    for app in &plan.apps {
        for (node_path, text) in app.identity_files() {
            let bytes = Arc::new(text.into_bytes());
            let sha = hex::encode(Sha256::digest(bytes.as_slice()));
            copies.extend(wasmunit_file(root, &node_path, &sha, &bytes)?);
        }
    }
    // The follow unit's script, and its drop-in on sysupdate, as the
    // fragment ships them: wasmunit's own files, like the shipped ones.
    for (node_path, bytes) in out.follow_files() {
        let sha = hex::encode(Sha256::digest(bytes.as_slice()));
        copies.extend(wasmunit_file(root, &node_path, &sha, &bytes)?);
    }
    Ok(copies)
}

/// The module of `app` when the host lacks it, read and hashed now.
fn module_to_copy(app: &AppPlan, root: &Path) -> Result<Option<ModuleCopy>> {
    let m: &ModulePlan = &app.module;
    let dest = root.join(m.node_path.trim_start_matches('/'));
    if dest.exists() {
        let have = hash_of(&dest)?;
        if have != m.sha256 {
            return Err(DeployError::ModuleDiffers {
                path: dest,
                have,
                want: m.sha256.clone(),
            });
        }
        return Ok(None);
    }
    if let ModuleOrigin::Url { shown: url, .. } = &m.origin {
        return Err(DeployError::ModuleNotOnHost {
            app: app.name.to_string(),
            url: url.clone(),
            path: dest,
        });
    }
    let bytes = m
        .read_bytes()
        .map_err(|source| DeployError::ModuleUnreadable {
            app: app.name.to_string(),
            source,
        })?;
    let have = hex::encode(Sha256::digest(bytes.as_slice()));
    if have != m.sha256 {
        return Err(DeployError::ModuleChanged {
            app: app.name.to_string(),
            origin: m.origin.display().to_owned(),
            have,
            planned: m.sha256.clone(),
        });
    }
    Ok(Some(ModuleCopy {
        node_path: m.node_path.clone(),
        bytes,
    }))
}

/// A pinned wasmtime image the host lacks: a local one is copied (as
/// wasmunit's own file); one fetched from a URL must already be there,
/// with its hash when the manifest gives one.
fn runtime_to_copy(root: &Path, p: &PinnedRuntime) -> Result<Option<ModuleCopy>> {
    match &p.image {
        // The bytes the plan read and hashed: what is copied is what was hashed.
        ImageOrigin::Local { sha256, bytes, .. } => {
            wasmunit_file(root, &p.node_path, sha256, bytes)
        }
        ImageOrigin::Url { shown, sha256, .. } => {
            let dest = root.join(p.node_path.trim_start_matches('/'));
            if !dest.exists() {
                return Err(DeployError::ImageNotOnHost {
                    version: p.version.to_string(),
                    url: shown.clone(),
                    path: dest,
                });
            }
            if let Some(want) = sha256 {
                let have = hash_of(&dest)?;
                if have != *want {
                    return Err(DeployError::ImageDiffers {
                        path: dest,
                        have,
                        want: want.clone(),
                    });
                }
            }
            Ok(None)
        }
    }
}

/// A file wasmunit keeps on the node: nothing to do when it holds `sha`
/// already; replaced only when the record says wasmunit wrote what is there.
fn wasmunit_file(
    root: &Path,
    node_path: &str,
    sha: &str,
    bytes: &Arc<Vec<u8>>,
) -> Result<Option<ModuleCopy>> {
    let dest = root.join(node_path.trim_start_matches('/'));
    if dest.exists() {
        let have = hash_of(&dest)?;
        if have == sha {
            return Ok(None);
        }
        let dir = dest.parent().unwrap_or(root);
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let owned = write::owned_files(dir)?;
        if !owned.get(&name).is_some_and(|hs| hs.contains(&have)) {
            return Err(DeployError::NotOurs { path: dest });
        }
    }
    Ok(Some(ModuleCopy {
        node_path: node_path.to_owned(),
        bytes: bytes.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_node_file_is_named_for_what_it_is() {
        use crate::node::paths as node;
        let sha = "ab".repeat(32);
        for (path, kind) in [
            (format!("{}/{sha}.wasm", node::MODULE_DIR.path), "module"),
            (format!("{}/{sha}.sh", node::MODULE_DIR.path), "script"),
            (
                format!(
                    "{}/wasmtime-v31.0.0-x86-64/wasmtime.raw",
                    node::RUNTIME_DIR.path
                ),
                "runtime image",
            ),
            (
                format!("{}/web/0/index.html", node::FILES_DIR.path),
                "shipped file",
            ),
            (
                format!("{}/wasmunit-web.conf", node::SYSUSERS_DIR.path),
                "identity file",
            ),
            (
                format!("{}/wasmunit-web.conf", node::TMPFILES_DIR.path),
                "identity file",
            ),
            (node::PRESET_FILE.path.to_owned(), "preset"),
            (format!("{}/wasm-web.service", node::UNIT_DIR.path), "unit"),
            (
                format!(
                    "{}/systemd-sysupdate.service.d/wasmunit-follow.conf",
                    node::UNIT_DIR.path
                ),
                "drop-in",
            ),
        ] {
            assert_eq!(kind_of(&path), kind, "{path}");
        }
        // The follow unit's own files, as the fragment and apply ship them.
        let follow = [
            crate::render::follow::script_node_path(&crate::node::paths::NODE_LAYOUT),
            crate::render::follow::sysupdate_dropin_node_path(),
        ];
        assert_eq!(follow.map(|p| kind_of(&p)), ["script", "drop-in"]);
    }

    /// What apply installs beside the follow unit is what the fragment
    /// ships: taken from the render, byte for byte.
    #[test]
    fn the_follow_files_come_from_the_render() {
        use crate::render::follow;
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            d.path().join("m.wat"),
            "(module (func (export \"_start\")))",
        )
        .expect("module");
        let manifest = d.path().join("apps.toml");
        std::fs::write(&manifest, "version = 1\n[app.a]\nmodule = \"m.wat\"\n").expect("manifest");
        let loaded = crate::manifest::load(&manifest).expect("manifest");
        let plan = crate::plan::resolve(&loaded, &crate::plan::PlanOptions::default())
            .unwrap_or_else(|d| panic!("{d}"));
        let out = crate::render::render(
            crate::check::checked::CheckedPlan::unchecked(plan),
            &crate::render::RenderOptions::default(),
        )
        .expect("render");
        let files = out.follow_files();
        let want = [
            (
                follow::script_node_path(&crate::node::paths::NODE_LAYOUT),
                follow::script().into_bytes(),
            ),
            (
                follow::sysupdate_dropin_node_path(),
                follow::SYSUPDATE_DROPIN.as_bytes().to_vec(),
            ),
        ];
        assert_eq!(files.len(), want.len());
        for ((path, bytes), (want_path, want_bytes)) in files.iter().zip(&want) {
            assert_eq!((path, bytes.as_slice()), (want_path, want_bytes.as_slice()));
        }
    }

    #[test]
    fn comments_alone_are_no_effective_change() {
        let a = "# from a.toml\n[Unit]\nDescription=x\n";
        let b = "# from b.toml\n\n[Unit]\n  Description=x\n";
        assert_eq!(effective_lines(a), effective_lines(b));
        assert_ne!(
            effective_lines(a),
            effective_lines("[Unit]\nDescription=y\n")
        );
    }
}
