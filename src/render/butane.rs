//! The Butane fragment (Flatcar variant): the rendered units verbatim, the
//! module files at their content-addressed paths, and optionally the wasmtime
//! sysext. Modelled as typed structs and written by the small YAML writer
//! of [`super::yaml`], straight to the output.

use std::io::{self, Write};

use base64::Engine as _;

use super::yaml::Yaml;

use crate::plan::runtime::{ImageOrigin, PinnedRuntime};
use crate::plan::{ModuleOrigin, ModulePlan};

/// Flatcar Butane spec versions wasmunit can emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ButaneVersion {
    /// Ignition 3.3.0
    #[default]
    #[value(name = "1.0.0")]
    V1_0_0,
    /// Ignition 3.4.0
    #[value(name = "1.1.0")]
    V1_1_0,
}

impl ButaneVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            ButaneVersion::V1_0_0 => "1.0.0",
            ButaneVersion::V1_1_0 => "1.1.0",
        }
    }
}

#[derive(Debug)]
pub struct Config<'a> {
    pub variant: &'static str,
    pub version: &'static str,
    pub storage: Storage<'a>,
    pub systemd: SystemdUnits<'a>,
}

#[derive(Debug, Default)]
pub struct Storage<'a> {
    /// Folders to create (empty, root, Ignition's default mode 0755) when
    /// missing. No `mode`: a folder the user's own config also lists keeps
    /// the mode that config gives it when Ignition merges the two.
    pub directories: Vec<String>,
    pub files: Vec<File<'a>>,
    pub links: Vec<Link>,
}

impl Storage<'_> {
    fn is_empty(&self) -> bool {
        let Storage {
            directories,
            files,
            links,
        } = self;
        directories.is_empty() && files.is_empty() && links.is_empty()
    }
}

#[derive(Debug)]
pub struct File<'a> {
    pub path: String,
    /// Bytes of a `local` file (Butane embeds them); 0 otherwise.
    pub size: usize,
    /// Decimal in YAML: 420 is 0644.
    pub mode: u32,
    pub contents: Resource<'a>,
}

#[derive(Debug, Default)]
pub struct Resource<'a> {
    pub source: Option<String>,
    pub local: Option<String>,
    pub inline: Option<Text<'a>>,
    pub verification: Option<Verification>,
}

#[derive(Debug)]
pub struct Verification {
    pub hash: String,
}

#[derive(Debug)]
pub struct Link {
    pub path: String,
    pub target: String,
    pub hard: bool,
}

#[derive(Debug, Default)]
pub struct SystemdUnits<'a> {
    pub units: Vec<Unit<'a>>,
}

#[derive(Debug)]
pub struct Unit<'a> {
    pub name: &'a str,
    pub enabled: Option<bool>,
    pub contents: Option<Text<'a>>,
    pub dropins: Vec<Dropin<'a>>,
}

#[derive(Debug)]
pub struct Dropin<'a> {
    pub name: &'a str,
    pub contents: Text<'a>,
}

/// A multi-line text (unit file, config file): a `|` literal block when
/// that represents it exactly, else an ordinary (quoted) string.
#[derive(Debug, Clone)]
pub struct Text<'a>(pub std::borrow::Cow<'a, str>);

impl<'a> Text<'a> {
    pub fn borrowed(s: &'a str) -> Text<'a> {
        Text(std::borrow::Cow::Borrowed(s))
    }
}

/// The file entry that puts a shipped file on the node (from Butane's
/// `--files-dir`, the manifest's folder).
pub fn shipped_file(f: &crate::plan::shipped::ShippedFile) -> File<'static> {
    File {
        path: f.node_path.clone(),
        size: f.bytes.len(),
        mode: 0o644,
        contents: Resource {
            local: Some(f.source.clone()),
            verification: Some(Verification {
                hash: format!("sha256-{}", f.sha256),
            }),
            ..Resource::default()
        },
    }
}

/// The file entry that puts a module on the node.
pub fn module_file(m: &ModulePlan) -> File<'static> {
    let hash = Some(Verification {
        hash: format!("sha256-{}", m.sha256),
    });
    let contents = match &m.origin {
        ModuleOrigin::Local { rel, .. } => Resource {
            local: Some(rel.clone()),
            verification: hash,
            ..Resource::default()
        },
        // Compiled from WAT: no file to point at, so embed it (such modules are small).
        ModuleOrigin::Compiled { bytes, .. } => Resource {
            source: Some(format!(
                "data:application/wasm;base64,{}",
                base64::engine::general_purpose::STANDARD.encode(bytes.as_slice())
            )),
            verification: hash,
            ..Resource::default()
        },
        ModuleOrigin::Url { url, .. } => Resource {
            source: Some(url.clone()),
            verification: hash,
            ..Resource::default()
        },
    };
    let size = match &m.origin {
        ModuleOrigin::Local { size, .. } => usize::try_from(*size).unwrap_or(usize::MAX),
        _ => 0,
    };
    File {
        path: m.node_path.clone(),
        size,
        mode: 0o644,
        contents,
    }
}

/// A pinned wasmtime image at its node path: embedded from a local file
/// (hash checked by Ignition), or fetched (verified when a hash is given).
pub fn runtime_file(p: &PinnedRuntime) -> File<'static> {
    let verification = p.sha256().map(|h| Verification {
        hash: format!("sha256-{h}"),
    });
    let (contents, size) = match &p.image {
        ImageOrigin::Local { rel, bytes, .. } => (
            Resource {
                local: Some(rel.clone()),
                verification,
                ..Resource::default()
            },
            bytes.len(),
        ),
        ImageOrigin::Url { url, .. } => (
            Resource {
                source: Some(url.clone()),
                verification,
                ..Resource::default()
            },
            0,
        ),
    };
    File {
        path: p.node_path.clone(),
        size,
        mode: 0o644,
        contents,
    }
}

impl Config<'_> {
    /// The fragment as YAML, after `header` (comment lines): everything up
    /// to `systemd.units`, whose entries follow: the rendered units
    /// ([`Self::write_units`]), then [`Self::write_os_units`].
    pub fn write_head<W: Write>(&self, header: &str, w: W) -> io::Result<W> {
        let mut y = Yaml::new(w);
        y.raw(header)?;
        y.str(0, false, "variant", self.variant)?;
        y.str(0, false, "version", self.version)?;
        if !self.storage.is_empty() {
            y.open(0, false, "storage")?;
            if !self.storage.directories.is_empty() {
                y.open(2, false, "directories")?;
                for d in &self.storage.directories {
                    y.str(2, true, "path", d)?;
                }
            }
            if !self.storage.files.is_empty() {
                y.open(2, false, "files")?;
                for f in &self.storage.files {
                    f.write(&mut y)?;
                }
            }
            if !self.storage.links.is_empty() {
                y.open(2, false, "links")?;
                for l in &self.storage.links {
                    y.str(2, true, "path", &l.path)?;
                    y.str(4, false, "target", &l.target)?;
                    y.display(4, false, "hard", l.hard)?;
                }
            }
        }
        y.open(0, false, "systemd")?;
        y.open(2, false, "units")?;
        Ok(y.into_inner())
    }

    /// The last entries of `systemd.units`: what the fragment adds to the
    /// OS's own units (sysupdate's drop-ins).
    pub fn write_os_units<W: Write>(&self, w: W) -> io::Result<W> {
        Self::write_units(&self.systemd.units, w)
    }

    /// Entries of `systemd.units`, after [`Self::write_head`].
    pub fn write_units<W: Write>(units: &[Unit<'_>], w: W) -> io::Result<W> {
        let mut y = Yaml::new(w);
        for u in units {
            u.write(&mut y)?;
        }
        Ok(y.into_inner())
    }
}

impl File<'_> {
    fn write<W: Write>(&self, y: &mut Yaml<W>) -> io::Result<()> {
        y.str(2, true, "path", &self.path)?;
        y.display(4, false, "mode", self.mode)?;
        y.open(4, false, "contents")?;
        let r = &self.contents;
        if let Some(s) = &r.source {
            y.str(6, false, "source", s)?;
        }
        if let Some(l) = &r.local {
            y.str(6, false, "local", l)?;
        }
        if let Some(t) = &r.inline {
            y.text(6, false, "inline", &t.0)?;
        }
        if let Some(v) = &r.verification {
            y.open(6, false, "verification")?;
            y.str(8, false, "hash", &v.hash)?;
        }
        Ok(())
    }
}

impl Unit<'_> {
    fn write<W: Write>(&self, y: &mut Yaml<W>) -> io::Result<()> {
        y.str(2, true, "name", self.name)?;
        if let Some(e) = self.enabled {
            y.display(4, false, "enabled", e)?;
        }
        if let Some(t) = &self.contents {
            y.text(4, false, "contents", &t.0)?;
        }
        if !self.dropins.is_empty() {
            y.open(4, false, "dropins")?;
            for d in &self.dropins {
                y.str(4, true, "name", d.name)?;
                y.text(6, false, "contents", &d.contents.0)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(text: &str) -> String {
        let config = Config {
            variant: "flatcar",
            version: "1.0.0",
            storage: Storage::default(),
            systemd: SystemdUnits {
                units: vec![Unit {
                    name: "a.service",
                    enabled: None,
                    contents: Some(Text::borrowed(text)),
                    dropins: vec![],
                }],
            },
        };
        let yaml = config
            .write_head("# header\n", Vec::new())
            .and_then(|w| config.write_os_units(w))
            .expect("yaml");
        let v: serde_norway::Value = serde_norway::from_slice(&yaml).expect("parses");
        v["systemd"]["units"][0]["contents"]
            .as_str()
            .expect("string")
            .to_owned()
    }

    #[test]
    fn awkward_texts_survive() {
        for t in [
            "",
            "x",
            "  leading\n",
            "a\n\n",
            "\n",
            "tab\there\n",
            "trailing  \nx\n",
            "# c\n: x\n- y\n",
            "ls\u{2028}ps\u{2029}nel\u{85}bom\u{feff}\n",
        ] {
            assert_eq!(round_trip(t), t, "{t:?}");
        }
    }

    proptest! {
        #[test]
        fn any_text_round_trips_through_yaml(text in "[ -~\n\t\u{85}\u{a0}\u{2028}\u{2029}\u{feff}é]{0,80}") {
            prop_assert_eq!(round_trip(&text), text);
        }
    }
}
