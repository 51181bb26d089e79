//! The manifest as written: serde structs that mirror the TOML (format
//! version 1) one to one. Unknown keys are errors; leaves that later checks
//! must point at keep their byte spans.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub version: Spanned<i64>,
    #[serde(default)]
    pub defaults: Option<AppSpec>,
    #[serde(default)]
    pub app: BTreeMap<Spanned<String>, Spanned<AppSpec>>,
}

/// Every key of an app; `[defaults]` takes the same keys.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSpec {
    /// Target wasmtime CLI version; meaningful in `[defaults]` only.
    pub wasmtime: Option<Spanned<String>>,
    pub description: Option<Spanned<String>>,
    pub module: Option<Spanned<ModuleSource>>,
    pub args: Option<Vec<Spanned<String>>>,
    pub env: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    pub dirs: Option<Vec<Spanned<DirGrant>>>,
    /// Files or folders next to the manifest, installed on the node and
    /// granted to the guest read-only.
    pub files: Option<Vec<Spanned<FileGrant>>>,
    pub network: Option<Spanned<Network>>,
    pub memory: Option<Spanned<ByteSize>>,
    pub restart: Option<Restart>,
    pub after: Option<Vec<Spanned<String>>>,
    pub wants: Option<Vec<Spanned<String>>>,
    pub enabled: Option<bool>,
    pub schedule: Option<Spanned<String>>,
    pub listen: Option<Spanned<String>>,
    pub unit: Option<RawSection>,
    pub service: Option<RawSection>,
    pub install: Option<RawSection>,
}

/// Extra `Key=value` lines for one unit section, passed through verbatim.
pub type RawSection = BTreeMap<Spanned<String>, Spanned<RawValue>>;

/// Where a module comes from: a path next to the manifest, or a URL with a
/// mandatory hash.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ModuleSource {
    Local(String),
    Url { url: String, sha256: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirGrant {
    pub host: Spanned<String>,
    pub guest: Spanned<String>,
    #[serde(default)]
    pub readonly: bool,
}

/// `{ source = "data/config", guest = "/config" }`: a file or folder
/// relative to the manifest, shipped to the node and preopened read-only.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileGrant {
    pub source: Spanned<String>,
    pub guest: Spanned<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Network {
    /// No network at all: a private network namespace.
    None,
    /// Outgoing connections and DNS; binding a listening socket is denied.
    Outbound,
    /// The host's network, listening included.
    Inherit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Restart {
    No,
    OnFailure,
    Always,
}

/// A size in bytes: an integer, or a string such as "64MiB" or "1G".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

/// A pass-through value: one string, or a list repeated as several lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawValue(pub Vec<String>);

impl<'de> Deserialize<'de> for ModuleSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ModuleSource;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a path string, or a table { url = \"https://…\", sha256 = \"<hex>\" }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ModuleSource, E> {
                Ok(ModuleSource::Local(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ModuleSource, A::Error> {
                let (mut url, mut sha256) = (None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "url" if url.is_none() => url = Some(map.next_value::<String>()?),
                        "sha256" if sha256.is_none() => sha256 = Some(map.next_value::<String>()?),
                        "url" | "sha256" => return Err(de::Error::duplicate_field("url")),
                        other => return Err(de::Error::unknown_field(other, &["url", "sha256"])),
                    }
                }
                let url = url.ok_or_else(|| de::Error::missing_field("url"))?;
                let sha256 = sha256.ok_or_else(|| {
                    de::Error::custom(
                        "missing field `sha256`: a module fetched from a URL needs its SHA-256 \
                         so every node verifies what it runs",
                    )
                })?;
                Ok(ModuleSource::Url { url, sha256 })
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size: bytes as an integer, or a string such as \"64MiB\" or \"1G\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom("a size cannot be negative"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                parse_size(v).map(ByteSize).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses "123", "64K", "64KiB", "1.5G"-style sizes; K/M/G/T are powers of 1024
/// as in systemd's `MemoryMax=`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let bad = || {
        format!("invalid size `{text}`: expected an integer with an optional unit K, M, G or T (powers of 1024), e.g. \"64MiB\"")
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let shift = match unit.trim() {
        "" | "B" => 0,
        "K" | "KiB" | "k" => 10,
        "M" | "MiB" => 20,
        "G" | "GiB" => 30,
        "T" | "TiB" => 40,
        _ => return Err(bad()),
    };
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("size `{text}` is too large"))
}

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawValue, E> {
                Ok(RawValue(vec![v.to_owned()]))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawValue, E> {
                Ok(RawValue(vec![if v { "yes" } else { "no" }.to_owned()]))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawValue, E> {
                Ok(RawValue(vec![v.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawValue, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(RawValue(out))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("99999999999T").is_err());
    }
}
