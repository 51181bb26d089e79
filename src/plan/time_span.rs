//! A systemd time span (`30s`, `5min`, `1h 30min`) as whole seconds: the
//! words `parse_sec()` knows, without fractions, which wasmunit never
//! writes.

const UNITS: [(&str, u64); 21] = [
    ("seconds", 1),
    ("second", 1),
    ("sec", 1),
    ("s", 1),
    ("minutes", 60),
    ("minute", 60),
    ("min", 60),
    ("m", 60),
    ("hours", 3600),
    ("hour", 3600),
    ("hr", 3600),
    ("h", 3600),
    ("days", 86400),
    ("day", 86400),
    ("d", 86400),
    ("weeks", 604_800),
    ("week", 604_800),
    ("w", 604_800),
    ("months", 2_629_800),
    ("month", 2_629_800),
    ("M", 2_629_800),
];

/// Seconds of `s`, or `None` when it is not a span of numbers with units
/// (every number needs one: a bare number would be read as seconds by
/// some keys and as microseconds by others).
pub fn seconds(s: &str) -> Option<u64> {
    let mut rest = s.trim();
    if rest.is_empty() || s.len() > 64 {
        return None;
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 || digits > 6 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = rest[digits..].trim_start();
        let (unit, mult) = UNITS.iter().find(|(u, _)| {
            rest.starts_with(u) && !rest[u.len()..].starts_with(|c: char| c.is_ascii_alphabetic())
        })?;
        total = total.saturating_add(n.saturating_mul(*mult));
        rest = rest[unit.len()..].trim_start();
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::seconds;

    #[test]
    fn reads_what_systemd_reads() {
        assert_eq!(seconds("30s"), Some(30));
        assert_eq!(seconds("1h 30min"), Some(5400));
        assert_eq!(seconds("2 minutes"), Some(120));
        for bad in ["", "30", "s", "1x", "1.5s", "-1s", "1sec2", "1234567s"] {
            assert_eq!(seconds(bad), None, "{bad}");
        }
    }
}
