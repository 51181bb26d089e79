//! What wasmunit knows about the systemd a node runs: the releases it
//! renders for, and the sandbox settings each later release adds. A unit
//! rendered for a release uses them; on an older manager (which would
//! ignore the unknown keys and run the app with a weaker sandbox) it does
//! not start, and says why ([`guard_script`]); `apply` refuses first.

use crate::invalid::Invalid;
use std::fmt;

/// The range of [`SystemdVersion`], as numbers (the schema's bounds).
pub const OLDEST_RELEASE: u32 = 252;
pub const NEWEST_RELEASE: u32 = 260;

/// The releases whose `--dump-configuration-items` the raw-key table
/// classifies (src/node/raw_keys.rs; tests/all/node_map.rs checks each).
pub const CLASSIFIED_RELEASES: [u32; 3] = [252, 257, 262];

/// A feature a unit may use, beside the release that brought it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Since {
    pub feature: &'static str,
    pub release: u32,
}

/// `ImportCredential=GLOB:RENAME` (systemd 257, NEWS "CHANGES WITH 257";
/// measured on 257 and 262): `import` reads only the store file
/// `wasmunit.APP.NAME`.
pub const IMPORT_CREDENTIAL_RENAME: Since = Since {
    feature: "ImportCredential= with a rename",
    release: 257,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SystemdVersion(u32);

impl SystemdVersion {
    /// The oldest systemd wasmunit renders for (Debian 12): every setting
    /// of every unit loads on it, measured under the real 252 manager.
    pub const OLDEST: Self = Self(OLDEST_RELEASE);
    /// Units that load on every supported node.
    pub const DEFAULT: Self = Self::OLDEST;
    /// Flatcar's newest channels ship up to this release.
    pub const NEWEST: Self = Self(NEWEST_RELEASE);

    /// Whether this release has `f`.
    pub fn has(self, f: Since) -> bool {
        self.0 >= f.release
    }

    pub fn parse(n: i64) -> Result<Self, Invalid> {
        match u32::try_from(n) {
            Ok(v) if (Self::OLDEST.0..=Self::NEWEST.0).contains(&v) => Ok(Self(v)),
            _ => Err(Invalid::from(format!(
                "systemd {n} is not supported: wasmunit renders for systemd {} to {} \
                 (Flatcar stable runs 257)",
                Self::OLDEST,
                Self::NEWEST
            ))),
        }
    }

    pub fn major(self) -> u32 {
        self.0
    }
}

impl fmt::Display for SystemdVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A sandbox setting and the release that brought it (systemd.exec(5) of
/// that release); each ran the tests' apps under the real 257 manager
/// (tests/all/first_boot/). Not here: 257's `PrivatePIDs=yes`, under which
/// the 257 manager of the tests could not start any app ("Failed to
/// allocate user namespace", then 226/NAMESPACE), with or without
/// `PrivateUsers=`; and 258's `PrivateBPF=`, with no 258 manager to
/// measure it on.
struct Setting {
    key: &'static str,
    value: &'static str,
    since: u32,
}

const SANDBOX: [Setting; 2] = [
    // A /tmp of its own that no other unit can join.
    Setting {
        key: "PrivateTmp",
        value: "disconnected",
        since: 257,
    },
    // The cgroup tree read-only and limited to its own.
    Setting {
        key: "ProtectControlGroups",
        value: "strict",
        since: 257,
    },
];

/// The value `key` takes for a node running `v`: a stronger one where the
/// release has it, else `base`.
pub fn sandbox_value(v: SystemdVersion, key: &str, base: &'static str) -> &'static str {
    SANDBOX
        .iter()
        .find(|s| s.key == key && v.0 >= s.since)
        .map_or(base, |s| s.value)
}

/// Settings `v` adds that the oldest release has no key for.
pub fn added_settings(
    v: SystemdVersion,
    base: &[(&str, &str)],
) -> Vec<(&'static str, &'static str)> {
    SANDBOX
        .iter()
        .filter(|s| v.0 >= s.since && !base.iter().any(|(k, _)| *k == s.key))
        .map(|s| (s.key, s.value))
        .collect()
}

/// The `ExecCondition=` script of a unit rendered for `v` (above the
/// oldest): starts it only under systemd `v` or newer, else says which it
/// found and exits 1, which systemd takes as "condition failed" (skipped,
/// not restarted). `AssertVersion=` would say it in one line, but 252
/// ignores that key.
pub fn guard_script(v: SystemdVersion) -> String {
    format!(
        "set -- $(systemctl --version); \
         case \"$2\" in ''|*[!0-9]*) echo \"wasmunit: cannot read the systemd version ($2); not starting\" >&2; exit 1;; esac; \
         if [ \"$2\" -ge {v} ]; then exit 0; fi; \
         echo \"wasmunit: rendered for systemd {v} or newer, but this node runs systemd $2: not starting \
         (render with systemd = $2)\" >&2; exit 1"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_outside_the_known_releases_are_refused() {
        assert!(SystemdVersion::parse(251).is_err());
        assert!(SystemdVersion::parse(261).is_err());
        assert!(SystemdVersion::parse(-1).is_err());
        assert_eq!(SystemdVersion::parse(257), Ok(SystemdVersion(257)));
    }

    #[test]
    fn each_release_gets_its_settings_and_no_later_ones() {
        let base = [("PrivateTmp", "yes")];
        assert!(added_settings(SystemdVersion(252), &base).is_empty());
        assert_eq!(
            added_settings(SystemdVersion(257), &base),
            [("ProtectControlGroups", "strict")]
        );
        assert_eq!(
            sandbox_value(SystemdVersion(256), "PrivateTmp", "yes"),
            "yes"
        );
        assert_eq!(
            sandbox_value(SystemdVersion(257), "PrivateTmp", "yes"),
            "disconnected"
        );
    }
}
