//! `schedule`: a systemd calendar expression (`OnCalendar=`), checked with
//! systemd's own grammar (`src/shared/calendarspec.c`), so a typo is an
//! error at render time instead of a timer systemd refuses to load on the
//! node ("Failed to parse calendar specification", and the app never runs).
//! `tests/systemd_analyze.rs` holds it to `systemd-analyze calendar`.
//!
//! Why not a crate: the grammar is systemd's own (shorthands, `~` for the
//! last days of a month, ranges with repetitions, a zone from the node's
//! zoneinfo); cron and RFC 3339 parsers accept other things, and the one
//! judge of what a timer loads is systemd itself.

use crate::invalid::Invalid;
use std::path::Path;

/// Where systemd looks up a trailing time zone name.
const ZONEINFO: &str = "/usr/share/zoneinfo";

const SHORTHANDS: [&str; 10] = [
    "minutely",
    "hourly",
    "daily",
    "monthly",
    "weekly",
    "yearly",
    "annually",
    "quarterly",
    "semiannually",
    "semi-annually",
];

/// Day names as systemd matches them: the long name first.
const WEEKDAYS: [(&str, u8); 14] = [
    ("monday", 0),
    ("mon", 0),
    ("tuesday", 1),
    ("tue", 1),
    ("wednesday", 2),
    ("wed", 2),
    ("thursday", 3),
    ("thu", 3),
    ("friday", 4),
    ("fri", 4),
    ("saturday", 5),
    ("sat", 5),
    ("sunday", 6),
    ("sun", 6),
];

/// Why systemd would refuse `expr`, or `Ok`.
pub fn check(expr: &str) -> Result<(), Invalid> {
    let refused = || {
        format!(
            "`{}` is not a calendar expression systemd reads (OnCalendar=); \
             see `systemd-analyze calendar`",
            expr.escape_debug()
        )
    };
    let body = strip_time_zone(expr);
    if body.is_empty() {
        return Err(Invalid::from(refused()));
    }
    if SHORTHANDS.iter().any(|s| body.eq_ignore_ascii_case(s)) {
        return Ok(());
    }
    if let Some(epoch) = body.strip_prefix('@') {
        return if !epoch.is_empty() && epoch.bytes().all(|b| b.is_ascii_digit()) {
            Ok(())
        } else {
            Err(Invalid::from(refused()))
        };
    }
    let mut p = Cursor(body.as_bytes());
    let spec = parse(&mut p).ok_or_else(refused)?;
    if !p.0.is_empty() || !spec.valid() {
        return Err(Invalid::from(refused()));
    }
    Ok(())
}

/// Drops a trailing ` UTC` or ` Area/Location` that names a zone.
fn strip_time_zone(expr: &str) -> &str {
    if expr.len() > 4 && expr[expr.len() - 4..].eq_ignore_ascii_case(" utc") {
        return &expr[..expr.len() - 4];
    }
    if let Some((body, zone)) = expr.rsplit_once(' ') {
        if is_time_zone(zone) {
            return body;
        }
    }
    expr
}

/// A zone name systemd would take: a file under the zoneinfo folder (on
/// the node; this machine's is the best guess). Without a zoneinfo folder
/// here, any `Area/Location` name passes.
fn is_time_zone(name: &str) -> bool {
    let plain = !name.is_empty()
        && !name.starts_with('/')
        && !name
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_+-".contains(&b));
    if !plain {
        return false;
    }
    let dir = Path::new(ZONEINFO);
    if dir.is_dir() {
        is_tzif(&dir.join(name))
    } else {
        name.contains('/')
    }
}

/// A time zone file as systemd's verify_timezone() wants it: a regular
/// file that starts with the TZif magic. zoneinfo also holds tables
/// (`zone.tab`, `tzdata.zi`, `leapseconds`) that are files but no zone.
fn is_tzif(path: &Path) -> bool {
    use std::io::Read;
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    let mut magic = [0u8; 4];
    meta.is_file()
        && std::fs::File::open(path).is_ok_and(|mut f| f.read_exact(&mut magic).is_ok())
        && &magic == b"TZif"
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.0.first().copied()
    }
    fn at(&self, i: usize) -> Option<u8> {
        self.0.get(i).copied()
    }
    fn skip(&mut self, n: usize) {
        self.0 = &self.0[n.min(self.0.len())..];
    }
    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.skip(1);
        }
    }
    fn at_end_or_space(&self) -> bool {
        matches!(self.peek(), None | Some(b' '))
    }
}

/// One comma-separated element: start, optional `..stop`, optional `/repeat`.
#[derive(Clone, Copy)]
struct Component {
    start: u64,
    stop: Option<u64>,
    repeat: u64,
}

/// `None`: `*`, every value.
type Chain = Option<Vec<Component>>;

#[derive(Default)]
struct Spec {
    year: Chain,
    month: Chain,
    day: Chain,
    end_of_month: bool,
    hour: Chain,
    minute: Chain,
    /// In microseconds.
    second: Chain,
}

const USEC: u64 = 1_000_000;

fn parse(p: &mut Cursor<'_>) -> Option<Spec> {
    let mut spec = Spec::default();
    weekdays(p)?;
    date(p, &mut spec)?;
    time(p, &mut spec)?;
    Some(spec)
}

/// `Mon`, `Mon,Fri`, `Mon..Fri`, `Mon-Fri`; nothing at all is fine.
fn weekdays(p: &mut Cursor<'_>) -> Option<()> {
    // The start of an open range (`Mon..`), as systemd's `l`.
    let mut range_from: Option<u8> = None;
    let mut first = true;
    loop {
        let lower: Vec<u8> = p.0.iter().take(9).map(u8::to_ascii_lowercase).collect();
        let Some(&(name, nr)) = WEEKDAYS
            .iter()
            .find(|(name, _)| lower.starts_with(name.as_bytes()))
        else {
            return first.then_some(());
        };
        if !matches!(p.at(name.len()), None | Some(b'-' | b'.' | b',' | b' ')) {
            return None;
        }
        if range_from.is_some_and(|l| l > nr) {
            return None;
        }
        p.skip(name.len());
        match p.peek() {
            None => return Some(()),
            Some(b' ') => {
                p.skip_spaces();
                return Some(());
            }
            Some(b'.') => {
                if range_from.is_some() || p.at(1) != Some(b'.') {
                    return None;
                }
                range_from = Some(nr);
                p.skip(2);
            }
            Some(b'-') => {
                if range_from.is_some() {
                    return None;
                }
                range_from = Some(nr);
                p.skip(1);
            }
            _ => {
                range_from = None;
                p.skip(1);
            }
        }
        // A trailing comma is fine, an open range is not.
        if p.at_end_or_space() {
            p.skip_spaces();
            return range_from.is_none().then_some(());
        }
        first = false;
    }
}

/// `[YEAR-]MONTH-DAY` (or `~DAY` from the month's end), if what follows
/// is a date and not a time (left unread then).
fn date(p: &mut Cursor<'_>, spec: &mut Spec) -> Option<()> {
    if p.0.is_empty() {
        return Some(());
    }
    let mut t = Cursor(p.0);
    let first = chain(&mut t, false)?;
    if matches!(t.peek(), None | Some(b':')) {
        return Some(());
    }
    separator(&mut t, spec)?;
    let second = chain(&mut t, false)?;
    if t.at_end_or_space() {
        t.skip_spaces();
        spec.month = first;
        spec.day = second;
        *p = t;
        return Some(());
    }
    if spec.end_of_month {
        return None;
    }
    separator(&mut t, spec)?;
    let third = chain(&mut t, false)?;
    if !t.at_end_or_space() {
        return None;
    }
    t.skip_spaces();
    spec.year = first.map(|c| c.into_iter().map(full_year).collect());
    spec.month = second;
    spec.day = third;
    *p = t;
    Some(())
}

/// `-` between date parts, or `~` (the day counts from the month's end).
fn separator(t: &mut Cursor<'_>, spec: &mut Spec) -> Option<()> {
    match t.peek() {
        Some(b'~') => spec.end_of_month = true,
        Some(b'-') => {}
        _ => return None,
    }
    t.skip(1);
    Some(())
}

/// Two-digit years, as systemd reads them: 26 is 2026, 89 is 1989.
fn full_year(c: Component) -> Component {
    let fix = |y: u64| match y {
        0..70 => y + 2000,
        70..100 => y + 1900,
        _ => y,
    };
    Component {
        start: fix(c.start),
        stop: c.stop.map(fix),
        repeat: c.repeat,
    }
}

/// `HOUR:MINUTE[:SECOND]`; nothing at all means 00:00:00.
fn time(p: &mut Cursor<'_>, spec: &mut Spec) -> Option<()> {
    if p.0.is_empty() {
        return Some(());
    }
    spec.hour = chain(p, false)?;
    if p.peek() != Some(b':') {
        return None;
    }
    p.skip(1);
    spec.minute = chain(p, false)?;
    if p.0.is_empty() {
        return Some(());
    }
    if p.peek() != Some(b':') {
        return None;
    }
    p.skip(1);
    spec.second = chain(p, true)?;
    p.0.is_empty().then_some(())
}

fn chain(p: &mut Cursor<'_>, usec: bool) -> Option<Chain> {
    if p.peek() == Some(b'*') {
        p.skip(1);
        return Some(None);
    }
    let mut out = Vec::new();
    loop {
        out.push(component(p, usec)?);
        if out.len() > 2048 {
            return None;
        }
        if p.peek() != Some(b',') {
            return Some(Some(out));
        }
        p.skip(1);
    }
}

fn component(p: &mut Cursor<'_>, usec: bool) -> Option<Component> {
    let start = decimal(p, usec)?;
    let mut stop = None;
    let mut repeat = 0;
    if p.peek() == Some(b'.') && p.at(1) == Some(b'.') {
        p.skip(2);
        stop = Some(decimal(p, usec)?);
        repeat = if usec { USEC } else { 1 };
    }
    if p.peek() == Some(b'/') {
        p.skip(1);
        repeat = decimal(p, usec)?;
        if repeat == 0 {
            return None;
        }
    } else if usec && stop.is_some_and(|s| start + repeat > s) {
        return None;
    }
    if !matches!(p.peek(), None | Some(b' ' | b',' | b'-' | b'~' | b':')) {
        return None;
    }
    Some(Component {
        start,
        stop,
        repeat,
    })
}

/// Digits (with up to six decimals for seconds, as microseconds).
fn decimal(p: &mut Cursor<'_>, usec: bool) -> Option<u64> {
    let digits = p.0.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let text = std::str::from_utf8(&p.0[..digits]).ok()?;
    let mut value: u64 = text.parse().ok()?;
    p.skip(digits);
    if usec {
        value = value.checked_mul(USEC)?;
        if p.peek() == Some(b'.') && p.at(1) != Some(b'.') {
            p.skip(1);
            let frac = p.0.iter().take_while(|b| b.is_ascii_digit()).count();
            if frac == 0 {
                return None;
            }
            let mut add = 0u64;
            for (i, b) in p.0[..frac].iter().enumerate() {
                if i < 6 {
                    add = add * 10 + u64::from(b - b'0');
                }
            }
            for _ in frac..6 {
                add *= 10;
            }
            value = value.checked_add(add)?;
            p.skip(frac);
        }
    }
    i32::try_from(value).is_ok().then_some(value)
}

impl Spec {
    fn valid(&self) -> bool {
        chain_valid(self.year.as_deref(), 1970, 2199, false)
            && chain_valid(self.month.as_deref(), 1, 12, false)
            && chain_valid(self.day.as_deref(), 1, 31, self.end_of_month)
            && chain_valid(self.hour.as_deref(), 0, 23, false)
            && chain_valid(self.minute.as_deref(), 0, 59, false)
            && chain_valid(self.second.as_deref(), 0, 60 * USEC - 1, false)
    }
}

fn chain_valid(chain: Option<&[Component]>, from: u64, to: u64, end_of_month: bool) -> bool {
    let to = if end_of_month { to - 3 } else { to };
    chain.unwrap_or_default().iter().all(|c| {
        if c.start < from || c.start > to || c.repeat > to - from {
            return false;
        }
        match c.stop {
            Some(stop) => stop >= from && stop <= to && c.start + c.repeat <= stop,
            None if end_of_month => c.start >= from + c.repeat,
            None => c.start + c.repeat <= to,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_systemd_reads_and_refuses() {
        for ok in [
            "hourly",
            "Daily",
            "*-*-* 03:00:00",
            "Mon..Fri 09:00",
            "Sat,Sun *-*-* 10:00",
            "*:0/15",
            "2026-12-01 12:30:15.5",
            "*-02~03",
            "Mon",
            "03:00 UTC",
            "@1700000000",
        ] {
            assert!(check(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "every tuesday",
            "25:00",
            "*-13-01",
            "Mon..",
            "Fri..Mon",
            "*:0/0",
            "1-2-3-4",
            "03:00 Not/AZone",
        ] {
            assert!(check(bad).is_err(), "{bad}");
        }
    }
}
