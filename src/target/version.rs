//! A wasmtime CLI version, and the range of versions wasmunit renders for.

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
}
