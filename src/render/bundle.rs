//! A rendered plan → the tree of a bundle: the sysext image a fleet pulls
//! with systemd-sysupdate (`wasmunit bundle`). Pure: the image file itself
//! is written by [`crate::write::squashfs`].
//!
//! Everything lives below `/usr`, where systemd-sysext merges it: the units
//! in `/usr/lib/systemd/system` with the `.wants` links their `[Install]`
//! sections name (so the set starts at boot without `systemctl enable`),
//! the modules and shipped files below `/usr/lib/wasmunit`, the identity
//! files in `/usr/lib/sysusers.d` and `/usr/lib/tmpfiles.d`, an index of
//! the apps for the fleet reconciler ([`super::fleet`]) and the
//! extension-release that names the bundle's version.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use sha2::{Digest as _, Sha256};

use super::error::{BundleError, RenderError};
use super::sysext::Arch;
use super::{follow, Rendered};
use crate::node::paths::{self, FLEET_EXTENSION};
use crate::plan::Listener;
use crate::plan::{AppKind, AppPlan, ModuleOrigin};
use crate::unit::escape::Comment;

/// A bundle's version: what sysupdate orders and the node reports. Digits
/// first, then letters, digits and `.+-`, at most 64: what sysupdate's own
/// check of a version takes (`~` and `^` it ignores, silently), without `_`
/// (it separates the version from the architecture in the image's name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleVersion(String);

impl BundleVersion {
    pub fn parse(s: &str) -> Result<BundleVersion, String> {
        let ok_char = |c: char| c.is_ascii_alphanumeric() || ".+-".contains(c);
        if s.is_empty() || s.len() > 64 {
            return Err(format!(
                "a bundle version has 1 to 64 characters, got {}",
                s.len()
            ));
        }
        if !s.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format!(
                "`{}`: a bundle version starts with a digit (sysupdate orders versions like `systemd-analyze compare-versions`)",
                s.escape_debug()
            ));
        }
        if let Some(c) = s.chars().find(|&c| !ok_char(c)) {
            return Err(format!(
                "`{}`: a bundle version holds letters, digits and `.+-` only, not `{}` \
                 (sysupdate takes no other)",
                s.escape_debug(),
                c.escape_debug()
            ));
        }
        Ok(BundleVersion(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What sysupdate's ordering sees of it: its runs of digits (without
    /// leading zeros) and of letters, separators dropped. Two versions with
    /// the same key may compare equal (`7` and `07`, `3` and `3+`): nodes
    /// could hold different bytes under one version.
    pub fn order_key(&self) -> Vec<String> {
        let mut runs: Vec<String> = Vec::new();
        let mut last: Option<bool> = None;
        for c in self.0.chars() {
            if !c.is_ascii_alphanumeric() {
                last = None;
                continue;
            }
            let digit = c.is_ascii_digit();
            if last == Some(digit) {
                if let Some(r) = runs.last_mut() {
                    r.push(c);
                }
            } else {
                runs.push(c.to_string());
            }
            last = Some(digit);
        }
        for r in &mut runs {
            if r.starts_with(|c: char| c.is_ascii_digit()) {
                let t = r.trim_start_matches('0');
                *r = if t.is_empty() {
                    "0".to_owned()
                } else {
                    t.to_owned()
                };
            }
        }
        runs
    }
}

/// The image's file name: what sysupdate's `MatchPattern=` reads back.
pub fn image_name(version: &BundleVersion, arch: Arch) -> String {
    format!(
        "{FLEET_EXTENSION}_{}_{}.raw",
        version.as_str(),
        arch.as_str()
    )
}

/// sysupdate's pattern for [`image_name`].
pub fn image_pattern() -> String {
    format!("{FLEET_EXTENSION}_@v_%a.raw")
}

/// The version and architecture of an image name [`image_name`] made.
pub fn parse_image_name(name: &str) -> Option<(BundleVersion, &str)> {
    let rest = name
        .strip_prefix(FLEET_EXTENSION)?
        .strip_prefix('_')?
        .strip_suffix(".raw")?;
    let (v, arch) = rest.rsplit_once('_')?;
    let arch = [Arch::X86_64, Arch::Arm64]
        .into_iter()
        .find(|a| a.as_str() == arch)?;
    Some((BundleVersion::parse(v).ok()?, arch.as_str()))
}

/// One entry of the image, by its path below the image's root (no leading
/// `/`). Folders are implied, 0755.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    File { bytes: Arc<Vec<u8>>, mode: u16 },
    Link { target: String },
}

/// The whole tree, in path order: the same plan and version give the same
/// tree, and so (with [`crate::write::squashfs`]) the same bytes.
#[derive(Debug, Default)]
pub struct ImageTree {
    pub entries: BTreeMap<String, Entry>,
}

impl ImageTree {
    fn file(&mut self, node_path: &str, bytes: Arc<Vec<u8>>) {
        self.entries.insert(
            node_path.trim_start_matches('/').to_owned(),
            Entry::File { bytes, mode: 0o644 },
        );
    }

    fn text(&mut self, node_path: &str, text: String) {
        self.file(node_path, Arc::new(text.into_bytes()));
    }
}

/// What a bundle cannot carry (it holds every byte it runs, below /usr).
fn refusal(app: &AppPlan) -> Option<BundleError> {
    if let ModuleOrigin::Url { shown, .. } = &app.module.origin {
        return Some(BundleError::UrlModule {
            app: app.name.to_string(),
            url: shown.clone(),
        });
    }
    if app.pin.is_some() {
        return Some(BundleError::Pinned {
            app: app.name.to_string(),
        });
    }
    app.dirs
        .iter()
        .find(|d| d.provision == crate::plan::folder::Provision::Created)
        .map(|d| BundleError::CreatedFolder {
            app: app.name.to_string(),
            folder: d.host.as_str().to_owned(),
        })
}

/// The image tree of a rendered plan (rendered with
/// [`paths::IMAGE_LAYOUT`]): every unit, link, module, file and the index.
pub fn tree(
    rendered: &Rendered,
    version: &BundleVersion,
    arch: Arch,
) -> Result<ImageTree, RenderError> {
    let plan = rendered.plan();
    if plan.layout != paths::IMAGE_LAYOUT {
        return Err(BundleError::NotForAnImage.into());
    }
    if let Some(why) = plan.apps.iter().find_map(refusal) {
        return Err(why.into());
    }
    let mut t = ImageTree::default();
    let units = paths::IMAGE_UNIT_DIR;
    for u in &rendered.units {
        if let Some(key) = unbundled_install_key(&u.text) {
            return Err(BundleError::InstallKey {
                unit: u.name.clone(),
                key: key.to_owned(),
            }
            .into());
        }
        t.text(&units.join(&u.name), u.text.clone());
        if u.enabled == Some(false) {
            continue;
        }
        for target in wanted_by(&u.text) {
            if !is_unit_name(target) {
                return Err(BundleError::WantedBy {
                    unit: u.name.clone(),
                    target: target.escape_debug().to_string(),
                }
                .into());
            }
            t.entries.insert(
                units
                    .join(&format!("{target}.wants/{}", u.name))
                    .trim_start_matches('/')
                    .to_owned(),
                Entry::Link {
                    target: format!("../{}", u.name),
                },
            );
        }
    }
    t.text(&follow::script_node_path(&plan.layout), follow::script());
    for app in &plan.apps {
        // A module several apps name is read once.
        let key = app.module.node_path.trim_start_matches('/');
        if !t.entries.contains_key(key) {
            let bytes = app
                .module
                .read_bytes()
                .map_err(|source| RenderError::LocalUnreadable {
                    rel: app.module_at.clone(),
                    source,
                })?;
            t.file(&app.module.node_path, bytes);
        }
        for (path, text) in app.identity_files() {
            t.text(&path, text);
        }
    }
    for f in plan.shipped_files() {
        t.file(&f.node_path, f.bytes.clone());
    }
    t.text(paths::IMAGE_FLEET_INDEX.path, index(rendered));
    t.text(
        &extension_release_path(),
        extension_release(version, arch, &plan.manifest_name),
    );
    Ok(t)
}

/// An `[Install]` key other than `WantedBy=` (`RequiredBy=`, `Alias=`, …,
/// passed by `--allow-key`): an image holds no link made by `enable`, so
/// it would be silently ignored.
fn unbundled_install_key(text: &str) -> Option<&str> {
    install_entries(text)
        .map(|(key, _)| key)
        .find(|key| *key != "WantedBy")
}

/// The bundle's extension-release on the node, once merged.
pub fn extension_release_path() -> String {
    paths::EXTENSION_RELEASE_DIR.join(&format!("extension-release.{FLEET_EXTENSION}"))
}

/// The units an `[Install]` section's `WantedBy=` names.
fn wanted_by(text: &str) -> Vec<&str> {
    install_entries(text)
        .filter(|(key, _)| *key == "WantedBy")
        .flat_map(|(_, value)| value.split_whitespace())
        .collect()
}

/// The `KEY=value` lines of a unit's `[Install]` section (the units are
/// wasmunit's own text: one setting per line, no continuation).
fn install_entries(text: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut in_install = false;
    text.lines().filter_map(move |line| {
        if line.starts_with('[') {
            in_install = line == "[Install]";
            None
        } else if in_install {
            line.split_once('=')
        } else {
            None
        }
    })
}

/// A unit name systemd would accept: no `/`, no leading `.`, its own
/// characters only, a known suffix.
fn is_unit_name(s: &str) -> bool {
    let ok = |c: char| c.is_ascii_alphanumeric() || ":-_.@\\".contains(c);
    let suffix = [".target", ".service", ".timer", ".socket", ".path"]
        .iter()
        .any(|x| s.len() > x.len() && s.ends_with(x));
    s.len() <= 255 && !s.starts_with('.') && s.chars().all(ok) && suffix
}

/// The extension-release: any OS (`ID=_any`, as the bakery's images), the
/// architecture sysext checks, the version (`IMAGE_VERSION=`, the field
/// os-release(5) has for it), and `EXTENSION_RELOAD_MANAGER=1`: systemd
/// 255 and newer reload the manager after merging, so the bundle's units
/// are known whoever refreshed.
fn extension_release(version: &BundleVersion, arch: Arch, manifest: &str) -> String {
    format!(
        "# wasmunit bundle of {}\n\
         ID=_any\n\
         ARCHITECTURE={}\n\
         IMAGE_ID={FLEET_EXTENSION}\n\
         IMAGE_VERSION={}\n\
         EXTENSION_RELOAD_MANAGER=1\n",
        Comment::new(manifest).as_str(),
        arch.as_str(),
        version.as_str()
    )
}

/// A unit's name and text into an app's hash.
fn hash_unit(h: &mut Sha256, name: &str, texts: &std::collections::HashMap<&str, &str>) {
    h.update(name.as_bytes());
    h.update([0]);
    h.update(texts.get(name).copied().unwrap_or("").as_bytes());
    h.update([0]);
}

/// One line per app: `NAME HASH START UNIT…`. HASH covers everything of
/// the app the node runs (its units, module, identity and shipped files),
/// so the reconciler restarts exactly the apps whose HASH moved. START is
/// the unit that runs it (`-`: `enabled = false`); UNIT… all of its units.
/// A server's socket has a line of its own, `NAME:socket`.
fn index(rendered: &Rendered) -> String {
    let plan = rendered.plan();
    let mut out = String::from(
        "# Shipped by wasmunit: the apps of this bundle, for wasmunit-fleet.service.\n\
         # app hash start-unit units...\n",
    );
    let mut apps: Vec<&AppPlan> = plan.apps.iter().collect();
    apps.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
    // Unit texts by name, once: an app's units are looked up, not searched.
    let texts: std::collections::HashMap<&str, &str> = rendered
        .units
        .iter()
        .map(|u| (u.name.as_str(), u.text.as_str()))
        .collect();
    for app in apps {
        let listener = app.kind.listener();
        let mut names = vec![app.name.service_unit()];
        let scheduled = matches!(app.kind, AppKind::Scheduled { .. });
        if scheduled {
            names.push(app.name.timer_unit());
        }
        if listener == Some(Listener::Proxy) {
            names.push(app.name.proxy_unit());
        }
        let mut h = Sha256::new();
        for n in &names {
            hash_unit(&mut h, n, &texts);
        }
        h.update(app.module.sha256.as_bytes());
        for (path, text) in app.identity_files() {
            h.update(path.as_bytes());
            h.update(text.as_bytes());
        }
        for f in app.files.iter().flat_map(|g| &g.files) {
            h.update(f.node_path.as_bytes());
            h.update(f.sha256.as_bytes());
        }
        let start = match (app.enabled, scheduled) {
            (false, _) => "-".to_owned(),
            (true, true) => app.name.timer_unit(),
            // A server's service pulls its socket in (Requires=); an idle
            // one exits once idle.
            (true, false) => app.name.service_unit(),
        };
        // Enabled or not, service or timer: a change starts or stops it.
        h.update(start.as_bytes());
        let _ = writeln!(
            out,
            "{} {} {start} {}",
            app.name,
            hex::encode(h.finalize()),
            names.join(" ")
        );
        if app.kind.has_socket() {
            // A line of its own, `APP:socket` (no app name holds a `:`):
            // the socket restarts only when its own text changes (a new
            // address), never with its app, so its port stays open while
            // the app restarts.
            let socket = app.name.socket_unit();
            let mut h = Sha256::new();
            hash_unit(&mut h, &socket, &texts);
            let start = if app.enabled { socket.as_str() } else { "-" };
            h.update(start.as_bytes());
            let _ = writeln!(
                out,
                "{}:socket {} {start} {socket}",
                app.name,
                hex::encode(h.finalize())
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_what_sysupdate_orders_and_names_carry() {
        for ok in ["1", "7", "2026.12.06", "3-rc1", "10+build.2", "1-2"] {
            assert!(BundleVersion::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "v1",
            "1_2",
            "1/2",
            "1 2",
            "1\n",
            "1~rc1",
            "1^x",
            &"9".repeat(65),
        ] {
            assert!(BundleVersion::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn versions_sysupdate_would_call_equal_share_a_key() {
        let key = |s: &str| BundleVersion::parse(s).expect("valid").order_key();
        assert_eq!(key("7"), key("07"));
        assert_eq!(key("3"), key("3+"));
        assert_eq!(key("1.2"), key("1-02"));
        assert_ne!(key("1.2"), key("12"));
        assert_ne!(key("1.2"), key("1.3"));
    }

    #[test]
    fn image_names_read_back() {
        let v = BundleVersion::parse("12.1").expect("valid");
        let name = image_name(&v, Arch::Arm64);
        assert_eq!(name, "wasmunit-apps_12.1_arm64.raw");
        assert_eq!(parse_image_name(&name), Some((v, "arm64")));
        assert_eq!(parse_image_name("wasmunit-apps_1_mips.raw"), None);
        assert_eq!(parse_image_name("other_1_x86-64.raw"), None);
    }

    #[test]
    fn wanted_by_reads_the_install_section_only() {
        let text = "[Unit]\nWantedBy=x.target\n[Install]\nWantedBy=a.target b.target\n";
        assert_eq!(wanted_by(text), ["a.target", "b.target"]);
    }

    #[test]
    fn only_unit_names_become_links() {
        assert!(is_unit_name("multi-user.target"));
        assert!(is_unit_name("getty@tty1.service"));
        for bad in [
            "../x.target",
            "a/b.target",
            ".target",
            "x.wants",
            "",
            "a b.target",
        ] {
            assert!(!is_unit_name(bad), "{bad}");
        }
    }
}
