//! `--every`: how often a node looks for a new bundle.

/// `--every`: a systemd time span (`15min`, `1h 30min`), at least a
/// minute (a fleet polling faster only loads its server).
pub fn interval(s: &str) -> Result<crate::unit::escape::RawValue, String> {
    let refused = || "a systemd time span from a minute to a year, such as 15min or 1h".to_owned();
    let total = crate::plan::time_span::seconds(s).ok_or_else(refused)?;
    // A year at most: systemd refuses spans it cannot hold, and a fleet
    // that looks once a year is not following anything.
    if !(60..=31_557_600).contains(&total) {
        return Err(refused());
    }
    crate::unit::escape::RawValue::new(s.trim()).map_err(|_| refused())
}
