//! The Butane fragment (Flatcar variant): the rendered units verbatim, the
//! module files at their content-addressed paths, and optionally the wasmtime
//! sysext. Modelled as typed structs and written by a YAML serializer.

use base64::Engine as _;
use serde::Serialize;

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

#[derive(Debug, Serialize)]
pub struct Config<'a> {
    pub variant: &'static str,
    pub version: &'static str,
    #[serde(skip_serializing_if = "Storage::is_empty")]
    pub storage: Storage<'a>,
    pub systemd: Systemd<'a>,
}

#[derive(Debug, Default, Serialize)]
pub struct Storage<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<File<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
}

impl Storage<'_> {
    fn is_empty(&self) -> bool {
        let Storage { files, links } = self;
        files.is_empty() && links.is_empty()
    }
}

#[derive(Debug, Serialize)]
pub struct File<'a> {
    pub path: String,
    /// Decimal in YAML: 420 is 0644.
    pub mode: u32,
    pub contents: Resource<'a>,
}

#[derive(Debug, Default, Serialize)]
pub struct Resource<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inline: Option<Text<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
}

#[derive(Debug, Serialize)]
pub struct Verification {
    pub hash: String,
}

#[derive(Debug, Serialize)]
pub struct Link {
    pub path: String,
    pub target: String,
    pub hard: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct Systemd<'a> {
    pub units: Vec<Unit<'a>>,
}

#[derive(Debug, Serialize)]
pub struct Unit<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contents: Option<Text<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dropins: Vec<Dropin<'a>>,
}

#[derive(Debug, Serialize)]
pub struct Dropin<'a> {
    pub name: &'a str,
    pub contents: Text<'a>,
}

/// A multi-line text (unit file, config file): a `|` literal block when
/// that represents it exactly, else an ordinary (quoted) string.
#[derive(Debug, Clone, Copy)]
pub struct Text<'a>(pub &'a str);

impl Text<'_> {
    /// Literal style keeps every byte only if the text ends in exactly one
    /// newline, its first line has no leading space, and it holds no control
    /// character but newline.
    fn fits_literal_block(&self) -> bool {
        let t = self.0;
        let ascii_controls = t.bytes().any(|b| (b < 0x20 && b != b'\n') || b == 0x7f);
        // C1 controls exist only where there is non-ASCII text at all.
        // C1 controls and YAML's other line breaks exist only in non-ASCII text.
        let c1_controls = !t.is_ascii()
            && t
                .chars()
                .any(|c| (c.is_control() && c != '\n') || super::escape::is_yaml_break(c));
        t.ends_with('\n')
            && !t.ends_with("\n\n")
            && !t.starts_with([' ', '\n'])
            && !ascii_controls
            && !c1_controls
    }
}

impl Serialize for Text<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.fits_literal_block() {
            serde_saphyr::LitStr(self.0).serialize(s)
        } else {
            s.serialize_str(self.0)
        }
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
        ModuleOrigin::Url { url } => Resource {
            source: Some(url.clone()),
            verification: hash,
            ..Resource::default()
        },
    };
    File {
        path: m.node_path.clone(),
        mode: 0o644,
        contents,
    }
}

pub fn to_yaml(header: &str, config: &Config) -> Result<String, String> {
    // Block scalars only where `Text` asks for them, and nothing folded:
    // unit texts must stay byte-identical to the unit files.
    let opts = serde_saphyr::ser_options! {
        prefer_block_scalars: false,
        min_fold_chars: usize::MAX,
        folded_wrap_chars: usize::MAX,
    };
    let body = serde_saphyr::to_string_with_options(config, opts)
        .map_err(|e| format!("cannot write YAML: {e}"))?;
    Ok(format!("{header}{body}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Serialize)]
    struct Doc<'a> {
        contents: Text<'a>,
    }

    fn round_trip(text: &str) -> String {
        let yaml = to_yaml(
            "# header\n",
            &Config {
                variant: "flatcar",
                version: "1.0.0",
                storage: Storage::default(),
                systemd: Systemd {
                    units: vec![Unit {
                        name: "a.service",
                        enabled: None,
                        contents: Some(Text(text)),
                        dropins: vec![],
                    }],
                },
            },
        )
        .expect("yaml");
        let v: serde_norway::Value = serde_norway::from_str(&yaml).expect("parses");
        v["systemd"]["units"][0]["contents"]
            .as_str()
            .expect("string")
            .to_owned()
    }

    #[test]
    fn unit_text_becomes_a_literal_block() {
        let yaml = serde_saphyr::to_string(&Doc {
            contents: Text("[Unit]\nA=b\n"),
        })
        .expect("yaml");
        assert_eq!(yaml, "contents: |\n  [Unit]\n  A=b\n");
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
        ] {
            assert_eq!(round_trip(t), t, "{t:?}");
        }
    }

    proptest! {
        #[test]
        fn any_text_round_trips_through_yaml(text in "[ -~\n\t]{0,80}") {
            prop_assert_eq!(round_trip(&text), text);
        }
    }
}
