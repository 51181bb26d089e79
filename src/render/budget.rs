//! How large the Ignition config of a fragment becomes, against the
//! user-data limits of common clouds. Local modules and shipped files ride
//! in it as base64 `data:` URLs (Butane gzips them when that is smaller, so
//! this is an upper bound for compressible data, and exact enough for
//! modules, which compress little).

use std::fmt::Write as _;

/// User-data limits, smallest first: (bytes, where).
pub const LIMITS: [(usize, &str); 3] = [
    (16 * 1024, "AWS EC2 user data (16 KB)"),
    (64 * 1024, "Azure custom data (64 KB)"),
    (256 * 1024, "a GCE metadata value (256 KiB)"),
];

/// Bytes a file entry (path, mode, verification) adds besides its data.
const FILE_OVERHEAD: usize = 200;
/// Bytes a unit entry adds besides its name and contents.
const UNIT_OVERHEAD: usize = 48;
/// The config's own frame (`ignition.version`, `storage`, `systemd`).
const FRAME: usize = 120;

#[derive(Debug, Clone, Default)]
pub struct Budget {
    bytes: usize,
    /// Embedded files: (node path, bytes they add).
    embedded: Vec<(String, usize)>,
}

impl Budget {
    pub fn new() -> Self {
        Budget {
            bytes: FRAME,
            embedded: Vec::new(),
        }
    }

    /// A unit as Ignition JSON holds it: its text JSON-escaped.
    pub fn unit(&mut self, name: &str, text: &str) {
        self.bytes += unit_json_len(name, text);
    }

    /// Bytes already measured (see [`unit_json_len`]).
    pub fn add(&mut self, bytes: usize) {
        self.bytes += bytes;
    }

    /// A file embedded as a `data:` URL.
    pub fn embedded(&mut self, path: &str, len: usize) {
        let size = FILE_OVERHEAD + path.len() + len.div_ceil(3) * 4;
        self.bytes += size;
        self.embedded.push((path.to_owned(), size));
    }

    /// A folder entry: its path in JSON and the braces around it.
    pub fn directory(&mut self, path: &str) {
        self.bytes += path.len() + 16;
    }

    /// A file fetched from a URL: only its entry.
    pub fn fetched(&mut self, path: &str, url: &str) {
        self.bytes += FILE_OVERHEAD + path.len() + url.len();
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// One line for stderr, and a warning per exceeded limit naming the
    /// largest embedded files and the way out.
    pub fn report(&self) -> String {
        let mut s = format!(
            "wasmunit: the Ignition config of this fragment is about {} KiB\n",
            self.bytes.div_ceil(1024)
        );
        let exceeded: Vec<&str> = LIMITS
            .iter()
            .filter(|(limit, _)| self.bytes > *limit)
            .map(|(_, what)| *what)
            .collect();
        if exceeded.is_empty() {
            return s;
        }
        let mut largest = self.embedded.clone();
        largest.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let names: Vec<String> = largest
            .iter()
            .take(3)
            .map(|(p, n)| format!("{p} ({} KiB)", n.div_ceil(1024)))
            .collect();
        let _ = writeln!(
            s,
            "warning: it is larger than {}; largest embedded: {}; serve big modules from a URL \
             (`module = {{ url = \"https://…\", sha256 = \"…\" }}`) or pass the config by reference \
             (`ignition.config.replace.source`)",
            exceeded.join(", "),
            if names.is_empty() { "none".to_owned() } else { names.join(", ") }
        );
        s
    }
}

/// A unit entry's size in Ignition JSON: its text JSON-escaped. One pass
/// over the bytes (UTF-8 continuation bytes count as themselves).
pub fn unit_json_len(name: &str, text: &str) -> usize {
    let extra: usize = text
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\t' | b'\r' => 1,
            0..=0x1f => 5,
            _ => 0,
        })
        .sum();
    UNIT_OVERHEAD + name.len() + text.len() + extra
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_limit_warns_once_passed() {
        for (i, (limit, what)) in LIMITS.iter().enumerate() {
            let mut below = Budget::new();
            below.embedded("/m.wasm", (limit - FRAME - FILE_OVERHEAD - 7) * 3 / 4 - 8);
            assert!(below.bytes() <= *limit, "{}", below.bytes());
            assert!(!below.report().contains(what), "{}", below.report());
            let mut above = Budget::new();
            above.embedded("/m.wasm", limit * 3 / 4 + 10);
            let r = above.report();
            assert!(r.contains(what) && r.contains("/m.wasm"), "{r}");
            // Every smaller limit is named too.
            for (_, smaller) in &LIMITS[..i] {
                assert!(r.contains(smaller), "{r}");
            }
        }
    }

    #[test]
    fn units_count_as_escaped_json() {
        let mut b = Budget::new();
        b.unit("a.service", "A=\"b\"\n");
        assert_eq!(b.bytes(), FRAME + UNIT_OVERHEAD + 9 + 9);
    }
}
