//! The options of a `wasmtime run`/`serve` command line as meanings
//! ([`Flag`]), spelled for one target version. Like podlet's downgrade, a
//! flag the target lacks is a typed error naming the versions that have it,
//! never a unit that fails at start.

use std::fmt;

use super::WasmtimeVersion;

/// A `-S` option: a WASI interface or behaviour the CLI enables on request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WasiOption {
    InheritNetwork,
    AllowIpNameLookup,
    Http,
    Cli,
    Nn,
    Config,
    Keyvalue,
    /// wasi-threads' `thread-spawn` (and the shared memory it imports).
    Threads,
}

impl WasiOption {
    fn name(self) -> &'static str {
        match self {
            WasiOption::InheritNetwork => "inherit-network",
            WasiOption::AllowIpNameLookup => "allow-ip-name-lookup",
            WasiOption::Http => "http",
            WasiOption::Cli => "cli",
            WasiOption::Nn => "nn",
            WasiOption::Config => "config",
            WasiOption::Keyvalue => "keyvalue",
            WasiOption::Threads => "threads",
        }
    }
}

/// One option a unit's command line passes, by meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Flag {
    /// `-W max-memory-size=BYTES`
    MaxMemorySize(u64),
    /// `-W NAME=y` turning on a proposal that is off by default.
    Proposal(&'static str),
    /// `-W shared-memory=y`: from 48 the CLI creates a module's own shared
    /// memory only with it (measured: unknown to 31.0.0, needed by 48.0.8).
    SharedMemory,
    /// `-S NAME=y`
    Wasi(WasiOption),
}

/// What `wasmtime serve` needs besides `--addr`: 31.0.0 serves proxy
/// components that import wasi:cli interfaces only with `-S cli=y`
/// (measured); later releases accept it too.
pub const SERVE: &[Flag] = &[Flag::Wasi(WasiOption::Cli)];

/// What a network grant passes: sockets (TCP/UDP, denied by default from
/// 48) and name lookups.
pub const NETWORK: &[Flag] = &[
    Flag::Wasi(WasiOption::InheritNetwork),
    Flag::Wasi(WasiOption::AllowIpNameLookup),
];

/// The target CLI cannot spell a flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    pub flag: String,
    pub target: WasmtimeVersion,
    /// Versions that have it: from `first`, up to `last` when it was removed.
    pub first: WasmtimeVersion,
    pub last: Option<WasmtimeVersion>,
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.last {
            Some(last) if self.target > last => write!(
                f,
                "`{}` was removed after wasmtime {}.x; the target is {}",
                self.flag, last.major, self.target
            ),
            _ => write!(
                f,
                "`{}` needs wasmtime {} or newer; the target is {}",
                self.flag, self.first, self.target
            ),
        }
    }
}

impl std::error::Error for Unsupported {}

const fn v(major: u32) -> WasmtimeVersion {
    WasmtimeVersion::new(major, 0, 0)
}

impl Flag {
    /// The releases that accept the flag: first, and last if removed since.
    pub fn range(self) -> (WasmtimeVersion, Option<WasmtimeVersion>) {
        match self {
            Flag::SharedMemory => (v(48), None),
            // "the `-Sthreads` flag is no longer supported" from 47 (measured
            // on the official 49.0.3 binary; removed with wasi-threads in 47).
            Flag::Wasi(WasiOption::Threads) => (WasmtimeVersion::OLDEST, Some(v(46))),
            Flag::Proposal(name) => {
                let since = super::proposals::flag_since(name).unwrap_or(WasmtimeVersion::OLDEST);
                (since, None)
            }
            Flag::MaxMemorySize(_) | Flag::Wasi(_) => (WasmtimeVersion::OLDEST, None),
        }
    }

    /// Of `flags`, why each that is spelled at one end of a range and not
    /// at the other refuses it: no single unit file runs across that range.
    pub fn split_across(
        flags: &[Flag],
        low: WasmtimeVersion,
        top: WasmtimeVersion,
    ) -> Vec<Unsupported> {
        flags
            .iter()
            .filter_map(|f| f.spell(low).and(f.spell(top)).err())
            .collect()
    }

    /// The option and its value as the argv of the target CLI.
    pub fn spell(self, target: WasmtimeVersion) -> Result<[String; 2], Unsupported> {
        let (first, last) = self.range();
        let words = self.words();
        let within = target >= first && last.is_none_or(|l| target.major <= l.major);
        if within {
            Ok(words)
        } else {
            Err(Unsupported {
                flag: words.join(" "),
                target,
                first,
                last,
            })
        }
    }

    fn words(self) -> [String; 2] {
        match self {
            Flag::MaxMemorySize(n) => ["-W".into(), format!("max-memory-size={n}")],
            Flag::Proposal(name) => ["-W".into(), format!("{name}=y")],
            Flag::SharedMemory => ["-W".into(), "shared-memory=y".into()],
            Flag::Wasi(o) => ["-S".into(), format!("{}=y", o.name())],
        }
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.words().join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_gate_fires_inside_the_supported_range() {
        let old = WasmtimeVersion::OLDEST;
        let new = WasmtimeVersion::NEWEST;
        assert!(Flag::SharedMemory.spell(old).is_err());
        assert!(Flag::SharedMemory.spell(v(48)).is_ok());
        assert!(Flag::Wasi(WasiOption::Threads).spell(old).is_ok());
        assert!(Flag::Wasi(WasiOption::Threads)
            .spell(WasmtimeVersion::new(46, 0, 2))
            .is_ok());
        let e = Flag::Wasi(WasiOption::Threads)
            .spell(v(47))
            .expect_err("removed");
        assert_eq!(
            e.to_string(),
            "`-S threads=y` was removed after wasmtime 46.x; the target is 47.0.0"
        );
        assert!(Flag::Proposal("exceptions").spell(old).is_err());
        assert!(Flag::Proposal("exceptions").spell(v(37)).is_ok());
        for f in [
            Flag::MaxMemorySize(1 << 20),
            Flag::Wasi(WasiOption::Http),
            Flag::Wasi(WasiOption::InheritNetwork),
        ] {
            assert!(f.spell(old).is_ok() && f.spell(new).is_ok(), "{f}");
        }
    }

    #[test]
    fn spelled_as_the_cli_reads_them() {
        assert_eq!(
            Flag::MaxMemorySize(65536).spell(v(31)).expect("ok"),
            ["-W".to_owned(), "max-memory-size=65536".to_owned()]
        );
        assert_eq!(Flag::Wasi(WasiOption::Http).to_string(), "-S http=y");
    }
}
