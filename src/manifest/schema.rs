//! The manifest as written: serde structs that mirror the TOML (format
//! version 1) one to one. Unknown keys are errors; leaves that later checks
//! must point at keep their byte spans.
//!
//! The doc comment of each key is its documentation, once: it becomes the
//! key's `description` in the JSON Schema (`wasmunit schema`, which editors
//! read) and the key table of docs/manifest.md (see [`super::json_schema`]).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use crate::invalid::Invalid;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

/// A wasmunit manifest (format version 1): WebAssembly apps to run as
/// hardened systemd units on Flatcar.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Manifest format; must be `1`.
    #[schemars(with = "i64", range(min = 1, max = 1))]
    pub version: Spanned<i64>,
    /// Values for every app key an app leaves out.
    #[serde(default)]
    pub defaults: Option<AppSpec>,
    /// One table per workload: `[app.NAME]`, where NAME is
    /// `[a-z0-9][a-z0-9-]{0,62}` and gives the unit `wasm-NAME.service`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<AppKey, AppSpec>")]
    pub app: BTreeMap<Spanned<String>, Spanned<AppSpec>>,
}

/// An app name as a table key (schema only).
#[derive(JsonSchema)]
#[schemars(transparent)]
#[expect(dead_code, reason = "described in the schema, never built")]
struct AppKey(#[schemars(regex(pattern = r"^[a-z0-9][a-z0-9-]{0,62}$"))] String);

/// Every key of an app; `[defaults]` takes the same keys.
#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppSpec {
    /// The systemd release the nodes run (252 to 260; default 252, which
    /// every supported node loads). From 257 (Flatcar stable) the units
    /// add that release's sandbox: `PrivateTmp=disconnected`,
    /// `ProtectControlGroups=strict`, and start
    /// only under systemd 257 or newer (an older manager would ignore the
    /// keys and run the app with less): elsewhere they are skipped with the
    /// reason in the journal, and `apply` refuses. **Only in
    /// `[defaults]`**; `render --systemd` overrides it.
    #[schemars(
        with = "Option<i64>",
        range(
            min = crate::releases::systemd_release::OLDEST_RELEASE,
            max = crate::releases::systemd_release::NEWEST_RELEASE
        )
    )]
    pub systemd: Option<Spanned<i64>>,
    /// Target wasmtime CLI version `X.Y.Z`, from 31.0.0 to 50.x, or a range
    /// `">=31.0.0, <48"` (a version, then the first major release the node
    /// may not run) for nodes whose sysext systemd-sysupdate moves on:
    /// modules are checked at both ends and render refuses a command line
    /// the two ends would read differently. **Only in `[defaults]`** (a
    /// node runs one wasmtime). `--wasmtime` overrides it.
    #[schemars(with = "Option<String>", extend("default" = crate::releases::WasmtimeVersion::DEFAULT.to_string()))]
    pub wasmtime: Option<Spanned<String>>,
    /// Run this app (in `[defaults]`: every app) on a wasmtime of its own,
    /// whatever the node merges: `{ wasmtime = "31.0.0" }` gives the unit
    /// the bakery's sysext image of exactly that release as a private
    /// `/usr` overlay (`ExtensionImages=`). The module is checked against
    /// that release; a host sysext update does not restart the app; two
    /// apps may pin two releases. `image` names another image: a path
    /// relative to the manifest (a squashfs sysext image holding an
    /// executable `/usr/bin/wasmtime` and `extension-release.wasmtime` of
    /// the pin's architecture, read to be sure, embedded with its hash) or
    /// a URL: `https://` (`sha256` then verifies it; the bakery's URL is
    /// used without one), any other scheme Ignition fetches only with
    /// `sha256`. `arch` (default `x86-64`, or `arm64`) picks the bakery's
    /// image. On the node the image lives in wasmunit's own runtimes
    /// folder, `wasmtime-vVERSION-ARCH/wasmtime.raw`.
    #[schemars(with = "Option<PinSpec>")]
    pub pin: Option<Spanned<PinSpec>>,
    /// `Description=` of the unit (default: `WebAssembly app NAME
    /// (module)`): free text, `%` escaped for systemd; one line with no
    /// surrounding whitespace and no trailing odd run of backslashes
    /// (systemd would read the next line into it).
    #[schemars(with = "Option<String>")]
    pub description: Option<Spanned<String>>,
    /// Required. A path to a `.wasm` file (embedded via `butane
    /// --files-dir`), a `.wat` file (compiled by wasmunit and embedded as a
    /// `data:` URL), or `{ url = "…", sha256 = "…" }` fetched by Ignition
    /// and verified (https, http, s3, gs, tftp).
    #[schemars(with = "Option<ModuleSource>")]
    pub module: Option<Spanned<ModuleSource>>,
    /// Arguments after the module, passed literally (no NUL).
    #[schemars(with = "Option<Vec<String>>", extend("default" = []))]
    pub args: Option<Vec<Spanned<String>>>,
    /// Guest environment (`--env K=V`); names `[A-Za-z_][A-Za-z0-9_]*`;
    /// literal values; merged per variable with `[defaults]`.
    #[schemars(with = "Option<BTreeMap<EnvName, String>>", extend("default" = {}))]
    pub env: Option<Pairs<Spanned<String>, Spanned<String>>>,
    /// Preopened host folders (`--dir HOST::GUEST`), in this order. `host`
    /// is any absolute, normalized Linux path (spaces, quotes, `%`, `#`,
    /// non-ASCII text are fine: each setting gets it quoted by its own
    /// rules); refused only where a tool cannot carry it: a control
    /// character (systemd's path lists cannot), a `::` or a trailing `:`
    /// (wasmtime's `--dir HOST::GUEST` could not tell where the host path
    /// ends), names over 255 bytes. `guest` is absolute. `readonly` (default
    /// false) is enforced by systemd (`ReadOnlyPaths=`), since wasmtime's
    /// `--dir` is always read-write. Every granted folder exists when the
    /// unit starts on a fresh node: a **read-write** folder must be one
    /// systemd creates for the service's dynamic user (whose UID is picked
    /// at each start, so it could write nowhere else): below `/var/lib/`
    /// (`StateDirectory=`), `/var/cache/` (`CacheDirectory=`), `/var/log/`
    /// (`LogsDirectory=`) or `/run/` (`RuntimeDirectory=`, emptied when the
    /// service stops), with a plain name below the tree (letters, digits,
    /// `/._-+@=,`), granted to one app only; anything else is an error that
    /// says why. A **read-only** folder below a data root (`/srv`, `/mnt`,
    /// `/var/mnt`) is created empty (root, mode 0755) by the Butane fragment
    /// (`storage.directories`) and by `apply` when missing, and never
    /// removed; anywhere else it must exist (Ignition would re-mode and
    /// re-own a folder it lists that exists, such as `/var/tmp`). wasmunit's
    /// own folders (its state below /var/lib and its caches) cannot be
    /// granted at all; docs/threat-model.md has the whole map.
    #[schemars(with = "Option<Vec<DirGrant>>", extend("default" = []))]
    pub dirs: Option<Vec<Spanned<DirGrant>>>,
    /// Files shipped with the app: `source` is a file or a folder (its whole
    /// tree; no links) relative to the manifest's folder, installed on the
    /// node in wasmunit's own folder, `files/APP/N/` (by the Butane fragment
    /// through `--files-dir`, and by `apply`) and preopened read-only at the
    /// guest folder `guest` (a file lands there under its own name);
    /// preopened before `dirs`, in manifest order; a guest folder is either
    /// shipped or granted from the host.
    #[schemars(with = "Option<Vec<FileGrant>>", extend("default" = []))]
    pub files: Option<Vec<Spanned<FileGrant>>>,
    /// Secrets, delivered by systemd's credentials and never written into
    /// a unit, the fragment, the command line or `status`: each `{ name,
    /// file }` (`LoadCredential=`, a plain file), `{ name, encrypted }`
    /// (`LoadCredentialEncrypted=`, made with `systemd-creds encrypt`) or
    /// `{ name, import = true }` (`ImportCredential=`, systemd 257 or newer:
    /// the file `wasmunit.APP.NAME` in any store, never the system's own
    /// credentials) names a file of the app's own, `wasmunit.APP.…`, directly
    /// in one of systemd's credential stores (which also hold the system's
    /// own credentials and other apps' secrets:
    /// `/etc/credstore`, `/run/credstore`, `/usr/local/lib/credstore`,
    /// `/usr/lib/credstore`, or their `.encrypted` twins, those made with
    /// `systemd-creds encrypt --name=NAME`), which your own provisioning puts on the node
    /// (root-only, mode 0600); the manager reads it at each start. The
    /// guest reads each secret as the file `/run/secrets/NAME`, a
    /// read-only preopen after `dirs`. NAME: 1 to 64 of `A-Za-z0-9_.-`.
    #[schemars(with = "Option<Vec<CredentialSpec>>", extend("default" = []))]
    pub credentials: Option<Vec<Spanned<CredentialSpec>>>,
    /// Network grant (default `"none"`, for servers too: one whose guest
    /// calls out needs `"outbound"`).
    /// `none`: a private network namespace; with `listen`, the port is held
    /// by a socket unit and handed in (see `listen`). `outbound`: wasmtime
    /// gets `-S inherit-network -S allow-ip-name-lookup`, systemd allows IP
    /// sockets but denies `bind()` (except the `listen` port, which such an
    /// app binds itself). `inherit`: the host's network, listening included.
    #[schemars(with = "Option<Network>")]
    pub network: Option<Spanned<Network>>,
    /// Who the app runs as (default `"dynamic"`: a dynamic user whose UID
    /// systemd picks at each start). `"static"`: the system user and group
    /// `wasm-NAME` (NAME at most 26 characters), created by
    /// systemd-sysusers from `/etc/sysusers.d/wasmunit-NAME.conf`, which the
    /// fragment ships (applied at the first boot) and `apply` writes and
    /// applies. Its read-write `dirs` may then also be a folder below a
    /// data root (`/srv`, `/mnt`, `/var/mnt`, or one the person running
    /// wasmunit adds with `--data-root`; never one holding or inside a
    /// folder a privileged program reads, such as `/etc`):
    /// created if missing and handed to `wasm-NAME` (mode 0750) by
    /// systemd-tmpfiles before each start (`/etc/tmpfiles.d/wasmunit-NAME.conf`),
    /// after its mounts (`RequiresMountsFor=`), in letters, digits and
    /// `/._-+@=,`.
    #[schemars(with = "Option<Identity>")]
    pub identity: Option<Spanned<Identity>>,
    /// Where an app with `network = "outbound"` may connect: IP addresses
    /// and prefixes (`["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"]`),
    /// enforced by the kernel (`IPAddressAllow=` with `IPAddressDeny=any`);
    /// every other address is refused (`connect()` fails with EPERM). The
    /// filter sees addresses only: no names (list the addresses; allow your
    /// resolver, e.g. `127.0.0.53` under systemd-resolved, if the app looks
    /// names up) and no ports. Not with `listen`, whose clients the filter
    /// would cut off. Default: every address.
    #[schemars(with = "Option<Vec<String>>")]
    pub egress: Option<Vec<Spanned<String>>>,
    /// Linear-memory limit (`-W max-memory-size`): bytes as an integer, or
    /// a string such as `"64MiB"` or `"1G"` (K/M/G/T are powers of 1024);
    /// `MemoryMax=` is this plus 256 MiB for wasmtime itself. Default: none.
    #[schemars(with = "Option<ByteSize>")]
    pub memory: Option<Spanned<ByteSize>>,
    /// `Restart=` (default `"on-failure"`, `"no"` when scheduled), with
    /// `RestartSec=2s` and at most 5 starts a minute.
    pub restart: Option<Restart>,
    /// App names to start after (`After=wasm-X.service`); a cycle is an
    /// error.
    #[schemars(with = "Option<Vec<AppKey>>", extend("default" = []))]
    pub after: Option<Vec<Spanned<String>>>,
    /// App names to pull in (`Wants=wasm-X.service`).
    #[schemars(with = "Option<Vec<AppKey>>", extend("default" = []))]
    pub wants: Option<Vec<Spanned<String>>>,
    /// Enabled at boot (Butane `enabled`; for scheduled apps, the timer).
    /// `false` also writes wasmunit's preset (`10-wasmunit.preset`)
    /// with a `disable` line: Ignition writes no preset for `enabled:
    /// false`, and a distribution's own presets (Debian's enable everything)
    /// would otherwise enable the unit at first boot.
    #[schemars(extend("default" = true))]
    pub enabled: Option<bool>,
    /// A systemd calendar expression (`OnCalendar=`, e.g. `hourly`,
    /// `Mon..Fri 09:00`, `*-*-* 03:00:00 UTC`), checked with systemd's own
    /// grammar: renders `wasm-NAME.timer` and a `Type=oneshot` service.
    /// Default: none.
    #[schemars(with = "Option<String>")]
    pub schedule: Option<Spanned<String>>,
    /// `IP:PORT`: serve HTTP with `wasmtime serve` (a wasi:http proxy
    /// component); excludes `schedule` and `args`. With `network = "none"`
    /// (the default) `wasm-NAME.socket` holds the port (below 1024 only
    /// when the person running wasmunit allows it: `--allow-port 80`; two
    /// servers cannot share one) and the app runs with no network but its own loopback: wasmtime
    /// 50 and later take the socket itself (`--systemd-listenfd`); for older
    /// ones `systemd-socket-proxyd` (`wasm-NAME-proxy.service`) forwards
    /// into the app's namespace. Connections wait in the socket while the
    /// app restarts. Default: none.
    #[schemars(with = "Option<String>")]
    pub listen: Option<Spanned<String>>,
    /// With `listen` and `network = "none"`: stop the app after this long
    /// without a connection (a systemd time span from 1s to 1d, such as
    /// `"30s"` or `"5min"`); the next connection starts it again (scale to
    /// zero). Not with `restart = "always"`. Default: the app runs from boot.
    #[schemars(with = "Option<String>")]
    pub idle: Option<Spanned<String>>,
    /// Extra `[Unit]` keys, appended verbatim after wasmunit's own (see
    /// `service`).
    #[schemars(with = "Option<BTreeMap<SectionKey, RawSetting>>", extend("default" = {}))]
    pub unit: Option<RawSection>,
    /// Extra `[Service]` keys, appended verbatim after wasmunit's own (so
    /// they win where systemd lets the last assignment win); keys are
    /// CamelCase; values are systemd syntax written as is, so they are
    /// checked instead: no control character, no leading or trailing
    /// whitespace (systemd strips it), and no odd run of trailing
    /// backslashes (systemd would join the next line into the value); each
    /// refusal is an error at the value's line and column. Default deny:
    /// only keys that cannot widen what the app reaches pass (timeouts,
    /// documentation, conditions, quotas, watchdog, exit statuses, …); a
    /// key that could change its user, privileges, credentials, paths,
    /// exec lines, environment, namespaces, devices, sandbox, network,
    /// other units, priority, limits above the defaults, logs, how it is
    /// stopped, or a setting wasmunit renders from a typed key
    /// (`Description=`, `After=`, `Restart=`, …), and a key no systemd
    /// knows, are refused (the
    /// person running wasmunit may allow one with `--allow-key KEY`; see
    /// docs/threat-model.md). `ExecStart` is
    /// refused: it is the command wasmunit renders. `env` and these
    /// tables merge per key with `[defaults]`; every other key replaces it.
    #[schemars(with = "Option<BTreeMap<SectionKey, RawSetting>>", extend("default" = {}))]
    pub service: Option<RawSection>,
    /// Extra `[Install]` keys, appended verbatim after wasmunit's own (see
    /// `service`).
    #[schemars(with = "Option<BTreeMap<SectionKey, RawSetting>>", extend("default" = {}))]
    pub install: Option<RawSection>,
}

/// An environment variable name (schema only).
#[derive(JsonSchema)]
#[schemars(transparent)]
#[expect(dead_code, reason = "described in the schema, never built")]
struct EnvName(#[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))] String);

/// A unit-file key (schema only).
#[derive(JsonSchema)]
#[schemars(transparent)]
#[expect(dead_code, reason = "described in the schema, never built")]
struct SectionKey(#[schemars(regex(pattern = r"^[A-Z][A-Za-z0-9]*$"))] String);

/// Extra `Key=value` lines for one unit section, passed through verbatim.
pub type RawSection = Pairs<Spanned<String>, Spanned<RawSetting>>;

/// A table of a few keys, kept as its pairs in the order written (toml
/// itself refuses a key twice). Every user merges them with `[defaults]`
/// into a map of its own; a `BTreeMap` here cost about 1 KiB per app per
/// table (10,000 apps: 9 MiB more at the parse's peak, measured).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pairs<K, V>(pub Vec<(K, V)>);

impl<K, V> Pairs<K, V> {
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.into_iter()
    }
}

impl<'a, K, V> IntoIterator for &'a Pairs<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (K, V)>, fn(&'a (K, V)) -> (&'a K, &'a V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for Pairs<K, V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct PairsVisitor<K, V>(std::marker::PhantomData<(K, V)>);
        impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Visitor<'de> for PairsVisitor<K, V> {
            type Value = Pairs<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
                while let Some(pair) = map.next_entry()? {
                    pairs.push(pair);
                }
                Ok(Pairs(pairs))
            }
        }
        d.deserialize_map(PairsVisitor(std::marker::PhantomData))
    }
}

/// Where a module comes from: a path next to the manifest, or a URL with a
/// mandatory hash.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ModuleSource {
    Local(String),
    Url { url: String, sha256: String },
}

/// `{ wasmtime = "31.0.0", image = "images/wasmtime.raw", sha256 = "…", arch = "x86-64" }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PinSpec {
    /// The exact release `X.Y.Z` the app runs.
    #[schemars(with = "String")]
    pub wasmtime: Spanned<String>,
    /// The sysext image: a path relative to the manifest, or an `https://`
    /// URL (default: the bakery's image of that release and `arch`).
    #[schemars(with = "Option<String>")]
    pub image: Option<Spanned<String>>,
    /// SHA-256 (64 hex digits) of an image fetched from a URL.
    #[schemars(with = "Option<String>")]
    pub sha256: Option<Spanned<String>>,
    /// `x86-64` (default) or `arm64`.
    #[schemars(with = "Option<String>")]
    pub arch: Option<Spanned<String>>,
}

/// `{ host = "/var/lib/app", guest = "/data", readonly = false }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DirGrant {
    /// Absolute host path.
    #[schemars(with = "String")]
    pub host: Spanned<String>,
    /// Absolute path the guest sees.
    #[schemars(with = "String")]
    pub guest: Spanned<String>,
    /// Read-only for the guest, enforced by systemd.
    #[serde(default)]
    pub readonly: bool,
}

/// `{ source = "data/config", guest = "/config" }`: a file or folder
/// relative to the manifest, shipped to the node and preopened read-only.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileGrant {
    /// A file or folder, relative to the manifest's folder.
    #[schemars(with = "String")]
    pub source: Spanned<String>,
    /// Absolute guest folder it is preopened at, read-only.
    #[schemars(with = "String")]
    pub guest: Spanned<String>,
}

/// `{ name = "api-key", file = "/etc/credstore/wasmunit.APP.api-key" }` or
/// `{ name = "db", encrypted = "/etc/credstore.encrypted/wasmunit.APP.db" }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialSpec {
    /// The file name the guest reads below `/run/secrets`.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// A plain secret file in a credential store.
    #[schemars(with = "Option<String>")]
    pub file: Option<Spanned<String>>,
    /// An encrypted credential in a credential store.
    #[schemars(with = "Option<String>")]
    pub encrypted: Option<Spanned<String>>,
    /// `true`: imported from the file `wasmunit.APP.NAME` of whichever
    /// store holds it (`ImportCredential=wasmunit.APP.NAME:NAME`, systemd
    /// 257 or newer: set `systemd` in [defaults]).
    #[schemars(with = "Option<bool>")]
    pub import: Option<Spanned<bool>>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, JsonSchema, Default,
)]
#[serde(rename_all = "kebab-case")]
pub enum Identity {
    /// A dynamic user (`DynamicUser=yes`).
    #[default]
    Dynamic,
    /// The static system user and group `wasm-NAME`.
    Static,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Network {
    /// No network at all: a private network namespace.
    None,
    /// Outgoing connections and DNS; binding a listening socket is denied.
    Outbound,
    /// The host's network, listening included.
    Inherit,
}

impl Network {
    /// As the manifest spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Network::None => "none",
            Network::Outbound => "outbound",
            Network::Inherit => "inherit",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
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
pub struct RawSetting(pub Vec<String>);

impl JsonSchema for ModuleSource {
    fn schema_name() -> Cow<'static, str> {
        "ModuleSource".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "oneOf": [
                { "type": "string", "description": "A .wasm or .wat file, relative to the manifest's folder." },
                {
                    "type": "object",
                    "description": "A module Ignition fetches and verifies.",
                    "properties": {
                        "url": { "type": "string", "pattern": "^(https?|s3|gs|tftp)://" },
                        "sha256": { "type": "string", "pattern": "^[0-9a-fA-F]{64}$" }
                    },
                    "required": ["url", "sha256"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

impl JsonSchema for ByteSize {
    fn schema_name() -> Cow<'static, str> {
        "ByteSize".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "oneOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string", "pattern": "^\\s*[0-9]+\\s*(B|K|KiB|k|M|MiB|G|GiB|T|TiB)?\\s*$" }
            ]
        })
    }
}

impl JsonSchema for RawSetting {
    fn schema_name() -> Cow<'static, str> {
        "RawSetting".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A systemd value as written; a list repeats the key.",
            "oneOf": [
                { "type": "string" },
                { "type": "boolean" },
                { "type": "integer" },
                { "type": "array", "items": { "type": "string" } }
            ]
        })
    }
}

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
fn parse_size(text: &str) -> Result<u64, Invalid> {
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
        _ => return Err(Invalid::from(bad())),
    };
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| Invalid::new(format!("size `{text}` is too large")))
}

impl<'de> Deserialize<'de> for RawSetting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawSetting;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawSetting, E> {
                Ok(RawSetting(vec![v.to_owned()]))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawSetting, E> {
                Ok(RawSetting(vec![if v { "yes" } else { "no" }.to_owned()]))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawSetting, E> {
                Ok(RawSetting(vec![v.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawSetting, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(RawSetting(out))
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
