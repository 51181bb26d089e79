//! A wasmtime CLI version, and the range of versions wasmunit renders for.

use crate::invalid::Invalid;
use std::fmt;

/// The base of [`WasmtimeVersion::ordinal`]: minor and patch stay below it.
const ORDINAL_STEP: u32 = 1000;

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

    /// One number that orders versions as `Ord` does, for the shell guards
    /// that compare what `wasmtime --version` prints.
    pub fn ordinal(self) -> u64 {
        let step = u64::from(ORDINAL_STEP);
        (u64::from(self.major) * step + u64::from(self.minor)) * step + u64::from(self.patch)
    }

    /// [`Self::ordinal`] as POSIX shell arithmetic over three words.
    pub fn shell_ordinal(major: &str, minor: &str, patch: &str) -> String {
        format!(
            "$(( {major} * {} + {minor} * {ORDINAL_STEP} + {patch} ))",
            ORDINAL_STEP * ORDINAL_STEP
        )
    }

    pub fn parse(text: &str) -> Result<Self, Invalid> {
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
            return Err(Invalid::from(format!(
                "invalid wasmtime version `{}`: expected MAJOR.MINOR.PATCH, e.g. \"31.0.0\"",
                text.escape_debug()
            )));
        };
        let v = Self::new(major, minor, patch);
        if minor >= ORDINAL_STEP || patch >= ORDINAL_STEP {
            return Err(Invalid::from(format!(
                "invalid wasmtime version `{v}`: minor and patch are below {ORDINAL_STEP} in every release"
            )));
        }
        if v < Self::OLDEST || v.major > Self::NEWEST.major {
            return Err(Invalid::from(format!(
                "wasmtime {v} is not supported: wasmunit knows the CLI flags of {} to {}.x",
                Self::OLDEST,
                Self::NEWEST.major
            )));
        }
        Ok(v)
    }
}

/// The wasmtime CLI versions a node may run: exactly one (`"31.0.0"`), or
/// a range `">=31.0.0, <48"` (from a version up to, not including, a major
/// release), for nodes whose sysext systemd-sysupdate moves on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetRange {
    pub low: WasmtimeVersion,
    /// The first major release outside the range; `None`: exactly `low`.
    pub below_major: Option<u32>,
}

impl TargetRange {
    pub const fn exactly(v: WasmtimeVersion) -> Self {
        TargetRange {
            low: v,
            below_major: None,
        }
    }

    pub fn parse(text: &str) -> Result<Self, Invalid> {
        Self::parse_located(text).map_err(|(e, _)| e)
    }

    /// [`Self::parse`], and on refusal the byte range within `text` of the
    /// part at fault (a second bound, an unreadable part), so a manifest's
    /// diagnostic can point at it; `None` when the whole value is.
    pub fn parse_located(text: &str) -> Result<Self, (Invalid, Option<std::ops::Range<usize>>)> {
        let whole = None;
        if !text.contains(['<', '>']) {
            return WasmtimeVersion::parse(text.trim())
                .map(Self::exactly)
                .map_err(|e| (e, whole));
        }
        let bad = |why: &str| {
            Invalid::from(format!(
                "invalid wasmtime range `{}`: {why}; write \">=31.0.0, <48\" (a version, then \
                 the first major release the node may not run)",
                text.escape_debug()
            ))
        };
        // Each bound once: a second one (`>=31.0.0, <40, <48`) would
        // silently replace the first, the wider range winning.
        let mut low: Option<(WasmtimeVersion, &str)> = None;
        let mut below: Option<(u32, &str)> = None;
        let mut offset = 0;
        for raw in text.split(',') {
            let part = raw.trim();
            let start = offset + (raw.len() - raw.trim_start().len());
            let at = Some(start..start + part.len());
            offset += raw.len() + 1;
            if let Some(v) = part.strip_prefix(">=") {
                let v = WasmtimeVersion::parse(v.trim()).map_err(|e| (e, at.clone()))?;
                if let Some((_, first)) = low {
                    return Err((
                        bad(&format!(
                            "it has two lower bounds, `{first}` and `{part}`; keep the one you mean"
                        )),
                        at,
                    ));
                }
                low = Some((v, part));
            } else if let Some(v) = part.strip_prefix('<') {
                let v = v.trim();
                let major = v.strip_suffix(".0.0").unwrap_or(v);
                let major = major.parse::<u32>().map_err(|_| {
                    (
                        bad("the upper bound is a major release, like <48"),
                        at.clone(),
                    )
                })?;
                if let Some((_, first)) = below {
                    return Err((
                        bad(&format!(
                            "it has two upper bounds, `{first}` and `{part}`; keep the one you mean"
                        )),
                        at,
                    ));
                }
                below = Some((major, part));
            } else {
                return Err((
                    bad(&format!("`{part}` is neither >=VERSION nor <MAJOR")),
                    at,
                ));
            }
        }
        let (Some((low, _)), Some((below, _))) = (low, below) else {
            return Err((bad("it needs both ends"), whole));
        };
        if below <= low.major {
            return Err((bad("it is empty"), whole));
        }
        if below - 1 > WasmtimeVersion::NEWEST.major {
            return Err((
                Invalid::from(format!(
                    "wasmtime range `{}` reaches {}.x, but wasmunit knows the CLI flags only up to {}.x: \
                     end it at <{} (or lower) until a wasmunit release knows the newer CLIs",
                    text.escape_debug(),
                    below - 1,
                    WasmtimeVersion::NEWEST.major,
                    WasmtimeVersion::NEWEST.major + 1
                )),
                whole,
            ));
        }
        Ok(TargetRange {
            low,
            below_major: Some(below),
        })
    }

    /// The newest release of the range, as far as flags go (they change
    /// with major releases only).
    /// The versions a range is judged at: its oldest and its newest release.
    pub fn ends(self) -> Vec<WasmtimeVersion> {
        if self.top() == self.low {
            vec![self.low]
        } else {
            vec![self.low, self.top()]
        }
    }

    pub fn top(self) -> WasmtimeVersion {
        match self.below_major {
            Some(b) if b - 1 > self.low.major => WasmtimeVersion::new(b - 1, 0, 0),
            _ => self.low,
        }
    }

    pub fn is_range(self) -> bool {
        self.below_major.is_some()
    }

    pub fn contains(self, v: WasmtimeVersion) -> bool {
        match self.below_major {
            None => v == self.low,
            Some(b) => v >= self.low && v.major < b,
        }
    }
}

impl fmt::Display for TargetRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.below_major {
            None => write!(f, "{}", self.low),
            Some(b) => write!(f, ">={}, <{b}", self.low),
        }
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

    /// The shell guard's order is `Ord`'s, computed by a real `sh`.
    #[test]
    fn the_shell_ordinal_orders_as_ord_does() {
        let vs = [
            WasmtimeVersion::new(31, 0, 0),
            WasmtimeVersion::new(31, 0, 999),
            WasmtimeVersion::new(31, 999, 0),
            WasmtimeVersion::new(48, 0, 8),
            WasmtimeVersion::new(50, 0, 1),
        ];
        for w in vs.windows(2) {
            assert!(w[0].ordinal() < w[1].ordinal(), "{} {}", w[0], w[1]);
        }
        for v in vs {
            let script = format!(
                "set -- {} {} {}; echo {}",
                v.major,
                v.minor,
                v.patch,
                WasmtimeVersion::shell_ordinal("$1", "$2", "$3")
            );
            let out = std::process::Command::new("sh")
                .args(["-c", &script])
                .output()
                .expect("sh");
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).trim(),
                v.ordinal().to_string()
            );
        }
        assert!(WasmtimeVersion::parse("31.1000.0").is_err());
    }

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
    fn ranges_parse_with_both_ends() {
        let r = TargetRange::parse(">=31.0.0, <48").expect("range");
        assert_eq!(
            (r.low, r.top()),
            (
                WasmtimeVersion::new(31, 0, 0),
                WasmtimeVersion::new(47, 0, 0)
            )
        );
        assert_eq!(r.to_string(), ">=31.0.0, <48");
        assert!(r.contains(WasmtimeVersion::new(47, 0, 1)));
        assert!(!r.contains(WasmtimeVersion::new(48, 0, 0)));
        assert_eq!(
            TargetRange::parse("31.0.0").map(TargetRange::is_range),
            Ok(false)
        );
        assert!(TargetRange::parse(">=31.0.0").is_err());
        assert!(TargetRange::parse(">=40.0.0, <40").is_err());
        assert!(TargetRange::parse(">=31.0.0, <52")
            .expect_err("beyond")
            .reason()
            .contains("only up to 50.x"));
        assert!(TargetRange::parse("~31").is_err());
    }

    /// A second bound of either kind is refused, and located: before, the
    /// last one silently replaced the first.
    #[test]
    fn a_range_has_each_bound_once() {
        for (text, what, second) in [
            (">=31.0.0, <40, <48", "two upper bounds", "<48"),
            (">=31.0.0,<48,<40", "two upper bounds", "<40"),
            (">=31.0.0, >=40.0.0, <48", "two lower bounds", ">=40.0.0"),
        ] {
            let (e, at) = TargetRange::parse_located(text).expect_err(text);
            assert!(e.reason().contains(what), "{text}: {e}");
            assert_eq!(at.map(|at| &text[at]), Some(second), "{text}");
        }
        let (_, at) = TargetRange::parse_located(">=31.0.0,  ~40").expect_err("junk");
        assert_eq!(at.map(|at| &">=31.0.0,  ~40"[at]), Some("~40"));
        let (_, at) = TargetRange::parse_located(">=31.0.0, <52").expect_err("beyond");
        assert_eq!(at, None);
    }
}
