//! What an app may write on the node: default deny. A read-write grant is
//! allowed only where the user's data lives:
//! - systemd's per-service trees (`/var/lib/NAME` and its siblings, which
//!   systemd creates and hands to the service) where no place of
//!   [`super::paths`] claims the name;
//! - for an app with a static identity, also below a data root: `/srv`,
//!   `/mnt`, `/var/mnt`, and any root the person running wasmunit adds
//!   with `--data-root` (the manifest cannot).
//!
//! Never a place wasmunit or a privileged program reads, nor a folder
//! above or below one. The rule is checked on the resolved host path,
//! whatever key produced it.

use super::paths::{claim_below, owner_of, within, Owner, Place};
use crate::invalid::Invalid;
use crate::unit::escape::HostPath;

/// The data roots every node has (Flatcar mounts disks below these).
const DATA_ROOTS: [&str; 3] = ["/srv", "/mnt", "/var/mnt"];

/// The data roots of one run: [`DATA_ROOTS`] and the command line's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataRoots {
    extra: Vec<HostPath>,
}

impl DataRoots {
    /// Adds `--data-root` folders; one that is, or is inside, or holds a
    /// place wasmunit or a privileged program owns is refused even there:
    /// an app's user would own the files that place's reader trusts.
    pub fn with_extra(extra: &[String]) -> Result<DataRoots, Invalid> {
        let mut out = Vec::new();
        for e in extra {
            let p = HostPath::new(e).map_err(|err| {
                Invalid::from(format!(
                    "--data-root {}: {}",
                    e.escape_debug(),
                    err.reason()
                ))
            })?;
            if let Some(f) = forbidden_for_writes(p.as_str()) {
                return Err(Invalid::from(format!(
                    "--data-root {}: {}",
                    e.escape_debug(),
                    f.reason(p.as_str())
                )));
            }
            out.push(p);
        }
        Ok(DataRoots { extra: out })
    }

    /// Every root, built-in first.
    pub fn all(&self) -> impl Iterator<Item = &str> {
        DATA_ROOTS
            .iter()
            .copied()
            .chain(self.extra.iter().map(HostPath::as_str))
    }

    /// The root `path` is strictly below, if any.
    pub fn holding(&self, path: &str) -> Option<&str> {
        self.all().find(|r| path != *r && within(path, r))
    }

    /// For messages: `/srv, /mnt, /var/mnt`.
    pub fn listed(&self) -> String {
        self.all().collect::<Vec<_>>().join(", ")
    }
}

/// Why a path may not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forbidden {
    /// A place of the map it is in, or (wasmunit's or a privileged
    /// program's) below it.
    Claim(Place),
    /// Below a per-service tree, a name shaped like a configuration folder
    /// or file (`NAME.d`, `NAME.conf`, a dot file): privileged programs
    /// read such names below /run and /var (modprobe.d, sysctl.d, …), more
    /// of them than any list could name.
    ConfigName { tree: &'static str },
}

impl Forbidden {
    /// Why `path` may not be written, in the words of a message.
    pub fn reason(self, path: &str) -> String {
        match self {
            Forbidden::Claim(c) => refusal_of(path, c),
            Forbidden::ConfigName { tree } => format!(
                "`{}` is below {tree} under a name shaped like a configuration folder or \
                 file (NAME.d, NAME.conf, .NAME), which privileged programs read there",
                path.escape_debug()
            ),
        }
    }
}

/// What forbids writing `path`: a place it is in (any owner but a managed
/// tree's own root, `/run`, of which only the root is the OS's), a place
/// of wasmunit's or a privileged program's below it, or a configuration
/// name below a per-service tree.
pub fn forbidden_for_writes(path: &str) -> Option<Forbidden> {
    let trees = crate::unit::escape::EXEC_DIRECTORY_TREES;
    let managed_root = |p: &str| trees.iter().any(|(t, _)| *t == p);
    if let Some(c) = owner_of(path)
        .filter(|c| !managed_root(c.path) || c.path == path)
        .or_else(|| claim_below(path))
    {
        return Some(Forbidden::Claim(c));
    }
    trees.iter().find_map(|&(tree, _)| {
        let first = path
            .strip_prefix(tree)?
            .strip_prefix('/')?
            .split('/')
            .next()?;
        let config = first.starts_with('.')
            || first.ends_with(".d")
            || first.contains(".conf")
            || first.ends_with(".lock")
            || first.ends_with(".pid");
        config.then_some(Forbidden::ConfigName { tree })
    })
}

/// Why `path` may not be written, given the place that forbids it.
fn refusal_of(path: &str, c: Place) -> String {
    let shown = path.escape_debug();
    if !within(path, c.path) {
        return format!(
            "`{shown}` holds {} ({}), which {} reads: a folder above it cannot be handed to an app",
            c.path,
            c.what,
            reader(c.owner)
        );
    }
    match c.owner {
        Owner::Wasmunit => format!(
            "`{shown}` is inside {}, which wasmunit manages itself ({})",
            c.path, c.what
        ),
        Owner::Privileged => format!(
            "`{shown}` is within {} ({}), which {} reads: an app that could write it could \
             change what runs as root",
            c.path,
            c.what,
            reader(c.owner)
        ),
        Owner::Os => format!(
            "`{shown}` is within {} ({}), which the OS owns",
            c.path, c.what
        ),
    }
}

fn reader(owner: Owner) -> &'static str {
    match owner {
        Owner::Wasmunit => "wasmunit",
        Owner::Privileged | Owner::Os => "a privileged program",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_refused_in_above_and_below_privileged_places() {
        for bad in [
            "/etc",
            "/etc/tmpfiles.d",
            "/etc/app",
            "/var/lib",
            "/var",
            "/opt",
            "/opt/extensions",
            "/var/lib/wasmunit/files/x",
            "/run",
            "/run/credstore",
            "/run/systemd/x",
        ] {
            assert!(forbidden_for_writes(bad).is_some(), "{bad}");
        }
        for bad in [
            "/run/modprobe.d",
            "/run/x.conf/y",
            "/var/lib/.hidden",
            "/run/nologin",
        ] {
            assert!(forbidden_for_writes(bad).is_some(), "{bad}");
        }
        for ok in [
            "/srv/a",
            "/var/lib/app",
            "/run/app",
            "/mnt/disk/x",
            "/tmp",
            "/var/lib/app/x.d",
        ] {
            assert!(forbidden_for_writes(ok).is_none(), "{ok}");
        }
    }

    #[test]
    fn a_data_root_from_the_command_line_may_not_hold_a_privileged_place() {
        assert!(DataRoots::with_extra(&["/data".into()]).is_ok());
        for bad in ["/var", "/etc", "/", "/var/lib/wasmunit", "relative"] {
            assert!(DataRoots::with_extra(&[bad.into()]).is_err(), "{bad}");
        }
        let r = DataRoots::with_extra(&["/data".into()]).expect("ok");
        assert_eq!(r.holding("/data/x"), Some("/data"));
        assert_eq!(r.holding("/srv/x/y"), Some("/srv"));
        assert_eq!(r.holding("/srv"), None);
        assert_eq!(r.holding("/tmp/x"), None);
    }
}
