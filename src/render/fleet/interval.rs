//! `--every`: how often a node looks for a new bundle.

/// `--every`: a systemd time span (`15min`, `1h 30min`), at least a
/// minute (a fleet polling faster only loads its server).
pub fn interval(s: &str) -> Result<crate::unit::escape::RawValue, String> {
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
    let refused = || "a systemd time span from a minute to a year, such as 15min or 1h".to_owned();
    let mut rest = s.trim();
    let mut total: u64 = 0;
    if rest.is_empty() || s.len() > 64 {
        return Err(refused());
    }
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 6 {
            return Err(refused());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| refused())?;
        rest = rest[digits..].trim_start();
        let (unit, mult) = UNITS
            .iter()
            .find(|(u, _)| {
                rest.starts_with(u)
                    && !rest[u.len()..].starts_with(|c: char| c.is_ascii_alphabetic())
            })
            .ok_or_else(refused)?;
        total = total.saturating_add(n.saturating_mul(*mult));
        rest = rest[unit.len()..].trim_start();
    }
    // A year at most: systemd refuses spans it cannot hold, and a fleet
    // that looks once a year is not following anything.
    if !(60..=31_557_600).contains(&total) {
        return Err("a systemd time span from a minute to a year, such as 15min or 1h".to_owned());
    }
    crate::unit::escape::RawValue::new(s.trim()).map_err(|_| refused())
}
