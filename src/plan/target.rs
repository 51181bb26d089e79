//! The target wasmtime CLI: which versions wasmunit renders for, and the
//! per-version table of the CLI flags the units use. Like podlet's
//! `--podman-version` downgrade, the renderer asks this table before it emits
//! a flag, and an unsupported flag is an error naming the first version that
//! has it, never a unit that fails at start.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WasmtimeVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl WasmtimeVersion {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        WasmtimeVersion {
            major,
            minor,
            patch,
        }
    }

    /// The version Flatcar's sysext ships today, and so the default target.
    pub const DEFAULT: Self = Self::new(31, 0, 0);
    /// The oldest CLI whose flag syntax this table knows.
    pub const OLDEST: Self = Self::new(31, 0, 0);
    /// The newest wasmtime release this table was written against.
    pub const NEWEST: Self = Self::new(50, 0, 1);

    pub fn parse(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split('.').collect();
        let nums: Option<Vec<u32>> = match parts.as_slice() {
            [_, _, _] => parts
                .iter()
                .map(|p| {
                    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 6 {
                        None
                    } else {
                        p.parse().ok()
                    }
                })
                .collect(),
            _ => None,
        };
        let Some(&[major, minor, patch]) = nums.as_deref() else {
            return Err(format!(
                "invalid wasmtime version `{}`: expected MAJOR.MINOR.PATCH, e.g. \"31.0.0\"",
                text.escape_debug()
            ));
        };
        let v = Self::new(major, minor, patch);
        if v < Self::OLDEST || v.major > Self::NEWEST.major {
            return Err(format!(
                "wasmtime {v} is not supported: wasmunit knows the CLI flags of {} to {}.x",
                Self::OLDEST,
                Self::NEWEST.major
            ));
        }
        Ok(v)
    }
}

impl fmt::Display for WasmtimeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// A CLI feature a unit may need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CliFeature {
    /// `-C cache=n`
    CacheOption,
    /// `-W max-memory-size=BYTES`
    MaxMemorySize,
    /// `-S inherit-network=y`, `-S allow-ip-name-lookup=y`
    InheritNetwork,
    /// `-S http=y` for `wasmtime run`
    WasiHttp,
    /// `wasmtime serve --addr`, with `-S cli=y`
    Serve,
    /// `-W shared-memory=y`: newer CLIs refuse to create a module's own
    /// shared memory without it (measured: absent in 31.0.0, needed in 48.0.8).
    SharedMemory,
}

impl CliFeature {
    /// The flag as a user would search for it in `wasmtime run --help`.
    pub fn flag(self) -> &'static str {
        match self {
            CliFeature::CacheOption => "-C cache",
            CliFeature::MaxMemorySize => "-W max-memory-size",
            CliFeature::InheritNetwork => "-S inherit-network",
            CliFeature::WasiHttp => "-S http",
            CliFeature::Serve => "wasmtime serve -S cli",
            CliFeature::SharedMemory => "-W shared-memory",
        }
    }

    /// First and (if dropped since) last release that accepts the flag.
    fn range(self) -> (WasmtimeVersion, Option<WasmtimeVersion>) {
        let v = WasmtimeVersion::new;
        match self {
            CliFeature::CacheOption
            | CliFeature::MaxMemorySize
            | CliFeature::InheritNetwork
            | CliFeature::WasiHttp
            | CliFeature::Serve => (v(14, 0, 0), None),
            CliFeature::SharedMemory => (v(48, 0, 0), None),
        }
    }
}

/// What a unit is rendered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub wasmtime: WasmtimeVersion,
}

impl Target {
    pub fn supports(&self, feature: CliFeature) -> bool {
        let (first, last) = feature.range();
        self.wasmtime >= first && last.is_none_or(|l| self.wasmtime <= l)
    }

    /// `Ok` when the target CLI accepts `feature`, else an error that says why.
    pub fn require(&self, feature: CliFeature) -> Result<(), String> {
        if self.supports(feature) {
            return Ok(());
        }
        let (first, last) = feature.range();
        Err(match last {
            Some(last) if self.wasmtime > last => format!(
                "`{}` was removed after wasmtime {last}; the target is {}",
                feature.flag(),
                self.wasmtime
            ),
            _ => format!(
                "`{}` needs wasmtime {first} or newer; the target is {}",
                feature.flag(),
                self.wasmtime
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_bounds_versions() {
        assert_eq!(
            WasmtimeVersion::parse("31.0.0"),
            Ok(WasmtimeVersion::DEFAULT)
        );
        assert!(WasmtimeVersion::parse("50.0.1").is_ok());
        for bad in [
            "31", "31.0", "v31.0.0", "31.0.0.1", "30.0.0", "99.0.0", "31.-1.0", "", "31..0",
        ] {
            assert!(WasmtimeVersion::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_flag_the_units_use_exists_in_the_supported_range() {
        for v in [WasmtimeVersion::OLDEST, WasmtimeVersion::NEWEST] {
            let t = Target { wasmtime: v };
            for f in [
                CliFeature::CacheOption,
                CliFeature::MaxMemorySize,
                CliFeature::InheritNetwork,
                CliFeature::WasiHttp,
                CliFeature::Serve,
            ] {
                assert!(t.require(f).is_ok(), "{v} {f:?}");
            }
        }
    }
}
