//! How each granted host folder exists when its unit starts on a fresh node.
//! The service runs as a dynamic user (`DynamicUser=yes`) whose UID is
//! picked at each start, so it can write only where systemd creates a folder
//! for it; it can read any folder that exists. Everything else is refused
//! here, with the reason, before anything renders.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use crate::unit::escape::{ExecDirectory, ExecDirectoryError, HostPath, EXEC_DIRECTORY_TREES};

use crate::invalid::Invalid;
use crate::manifest::schema::Identity;
use crate::node::grants::{forbidden_for_writes, DataRoots, Forbidden};
use crate::node::paths::{owner_of, Owner};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provision {
    /// Read-write: systemd creates it at start and hands it to the
    /// service's dynamic user (`StateDirectory=` and siblings).
    Managed(ExecDirectory),
    /// Read-only below a data root: created empty (root, 0755) by the
    /// Butane fragment and by `apply` when missing.
    Created,
    /// Read-only anywhere else: it must exist already (the fragment never
    /// lists it, so Ignition never re-modes it).
    Provided,
    /// Read-write outside systemd's managed trees, for an app with a
    /// static identity: created if missing and handed to its user by
    /// systemd-tmpfiles before each start.
    Owned,
}

impl Provision {
    /// How `host` exists for an app, or why it may not be granted: the
    /// node map ([`crate::node`]) decides, on the resolved path.
    pub fn of(
        app: &str,
        host: &HostPath,
        readonly: bool,
        identity: Identity,
        roots: &DataRoots,
    ) -> Result<Provision, Invalid> {
        let shown = host.as_str().escape_debug();
        let claim = owner_of(host.as_str());
        if let Some(c) = claim.filter(|c| c.owner == Owner::Wasmunit) {
            return Err(Invalid::from(format!(
                "host path `{shown}` is inside {}, which wasmunit manages itself ({}); \
                 grant a folder of the app's own",
                c.path, c.what
            )));
        }
        if readonly {
            // Ignition's storage.directories chmods and chowns a folder
            // that exists (0755 root): the fragment creates one only where
            // the user's data lives, below a data root; anywhere else it
            // must exist (/var/tmp, /home/core keep their owner and mode).
            return Ok(
                if claim.is_none() && roots.holding(host.as_str()).is_some() {
                    Provision::Created
                } else {
                    Provision::Provided
                },
            );
        }
        if let Some(f) = forbidden_for_writes(host.as_str()) {
            return Err(forbidden_write(app, host, f, identity, roots));
        }
        match ExecDirectory::new(host) {
            Ok(d) => own_name(app, host, d, roots),
            Err(ExecDirectoryError::Outside) if identity == Identity::Static => {
                if roots.holding(host.as_str()).is_none() {
                    return Err(Invalid::from(format!(
                        "read-write host folder `{shown}` is outside the node's data roots \
                         ({}): an app with a static identity may own a folder below one of \
                         them, or one systemd creates for it below {}; the person running \
                         wasmunit may add a root with --data-root",
                        roots.listed(),
                        managed_trees()
                    )));
                }
                if host.as_str().chars().all(|c| {
                    c.is_ascii_alphanumeric()
                        || matches!(c, '/' | '.' | '_' | '-' | '+' | '@' | '=' | ',')
                }) {
                    Ok(Provision::Owned)
                } else {
                    Err(Invalid::from(format!(
                        "read-write host folder `{shown}` is handed to the app's user by a \
                         systemd-tmpfiles line; use letters, digits and `/._-+@=,` in it"
                    )))
                }
            }
            Err(ExecDirectoryError::Outside) => Err(Invalid::from(format!(
                "read-write host folder `{shown}` cannot be made the service's: it runs as a \
                 dynamic user whose UID systemd picks at each start, so the folders it may \
                 write are those systemd creates for it, below {}; or give the app \
                 `identity = \"static\"` (a system user of its own) and a folder below {}",
                managed_trees(),
                roots.listed()
            ))),
            Err(ExecDirectoryError::NotPlain { key }) => Err(Invalid::from(format!(
                "read-write host folder `{shown}` would be a {key}= entry, and systemd reads \
                 names there split at spaces and `:` with escapes of its own; use letters, \
                 digits and `/._-+@=,` in the part below the tree"
            ))),
            Err(ExecDirectoryError::Reserved { key }) => Err(Invalid::from(format!(
                "read-write host folder `{shown}` is where systemd keeps the {key}= folders \
                 of dynamic users; grant a folder beside it"
            ))),
        }
    }
}

/// A folder systemd makes for the service is named for the app: its first
/// name below the tree is `wasm-APP`, the app's unit's (or it lies below a
/// data root the person running wasmunit added). Any other name may be
/// one the OS or a program reads as root there (`/var/lib/toolbox`,
/// `/run/issue`, …; no list names them all), and systemd would hand an
/// existing one to the app, recursively, at each start: an allowlist, not
/// a list of names to avoid.
fn own_name(
    app: &str,
    host: &HostPath,
    d: ExecDirectory,
    roots: &DataRoots,
) -> Result<Provision, Invalid> {
    let own = crate::node::paths::app_folder_name(app);
    let first = d.rel().split('/').next().unwrap_or_default();
    if first == own || roots.holding(host.as_str()).is_some() {
        return Ok(Provision::Managed(d));
    }
    let tree = &host.as_str()[..host.as_str().len() - d.rel().len() - 1];
    Err(Invalid::from(format!(
        "read-write host folder `{}` is below {tree} under a name that is not the app's own: \
         systemd would hand whatever the node keeps there to the app's user, recursively, \
         at each start, and names there belong to the OS and its programs; name it \
         {tree}/{own} (or a folder below it), or the person running wasmunit may add a \
         data root with --data-root",
        host.as_str().escape_debug()
    )))
}

/// A read-write grant the node map forbids, with what systemd would do.
fn forbidden_write(
    app: &str,
    host: &HostPath,
    f: Forbidden,
    identity: Identity,
    roots: &DataRoots,
) -> Invalid {
    let and_delete = if host.is_within("/run") {
        ", and delete it at stop"
    } else {
        ""
    };
    let (who, or_below) = match identity {
        Identity::Dynamic => ("dynamic user", String::new()),
        Identity::Static => ("user", format!(" or a folder below {}", roots.listed())),
    };
    Invalid::from(format!(
        "read-write host folder {}; systemd would hand it to the app's {who} at each \
         start{and_delete}; grant a folder of the app's own, e.g. /var/lib/{}{or_below}",
        f.reason(host.as_str()),
        crate::node::paths::app_folder_name(app),
    ))
}

fn managed_trees() -> String {
    let trees: Vec<String> = EXEC_DIRECTORY_TREES
        .iter()
        .map(|(t, k)| format!("{t}/ ({k}=)"))
        .collect();
    trees.join(", ")
}

/// One grant of a host folder, for the checks across apps.
pub struct Grant<'a> {
    pub app: &'a str,
    pub host: &'a HostPath,
    pub provision: &'a Provision,
    pub span: Range<usize>,
}

/// A folder systemd manages for one app's dynamic user belongs to that app
/// alone: systemd hands it (recursively) to whichever unit starts last, and
/// keeps it below a root-only `private/` folder, so any other app granted it
/// or a folder inside it would fail or break the first. Returns each
/// offending grant with the reason.
pub fn shared_managed(grants: &[Grant<'_>]) -> Vec<(Range<usize>, String)> {
    // Managed folders by path, so each grant looks up its own ancestors
    // instead of comparing with every other grant (10,000 apps).
    let mut managed: HashMap<&str, Vec<(usize, &ExecDirectory)>> = HashMap::new();
    for (i, owner) in grants.iter().enumerate() {
        if let Provision::Managed(dir) = owner.provision {
            managed
                .entry(owner.host.as_str())
                .or_default()
                .push((i, dir));
        }
    }
    let mut out = Vec::new();
    for g in grants {
        let mut owners: Vec<(usize, &ExecDirectory)> = ancestors(g.host.as_str())
            .filter_map(|p| managed.get(p))
            .flatten()
            .copied()
            .collect();
        owners.sort_unstable_by_key(|&(i, _)| i);
        for (owner, dir) in owners.into_iter().map(|(i, dir)| (&grants[i], dir)) {
            // Within one app, one service: systemd sets both up for it.
            if owner.app == g.app {
                continue;
            }
            out.push((
                g.span.clone(),
                format!(
                    "host folder `{}` is within app `{}`'s {}={}, which systemd keeps private \
                     to one service's dynamic user; grant it to one app only",
                    g.host.as_str().escape_debug(),
                    owner.app,
                    dir.key,
                    dir.rel()
                ),
            ));
        }
    }
    out.extend(shared_owned(grants));
    // The folders an app can write, by path, for the two checks below.
    let writable: BTreeMap<&str, &str> = grants
        .iter()
        .filter(|g| matches!(g.provision, Provision::Managed(_) | Provision::Owned))
        .map(|g| (g.host.as_str(), g.app))
        .collect();
    out.extend(created_below_writable(grants, &writable));
    out.extend(above_anothers(grants, &writable));
    out
}

/// A grant that holds another app's own folder (`/var/lib/wasm-a` is app
/// `a`'s whether systemd makes it or its static user owns it): an app's
/// folder is its alone, also to read.
fn above_anothers(
    grants: &[Grant<'_>],
    owned: &BTreeMap<&str, &str>,
) -> Vec<(Range<usize>, String)> {
    let mut out = Vec::new();
    for g in grants {
        let below = format!("{}/", g.host.as_str());
        // Keys below `g` sort between "g/" and "g0" ('0' follows '/').
        let end = format!("{}0", g.host.as_str());
        let other = owned
            .range(below.as_str()..end.as_str())
            .find(|(_, app)| **app != g.app);
        if let Some((path, app)) = other {
            out.push((
                g.span.clone(),
                format!(
                    "host folder `{}` holds `{}`, app `{app}`'s own folder; grant a folder \
                     beside it",
                    g.host.as_str().escape_debug(),
                    path.escape_debug()
                ),
            ));
        }
    }
    out
}

/// A folder root creates (a read-only one the fragment and `apply` make, a
/// static user's that systemd-tmpfiles makes as root before each start)
/// may not lie below a folder an app can write: the app could have put a
/// link there, and a privileged step would follow it. Nothing an app can
/// write is read by a privileged step.
fn created_below_writable(
    grants: &[Grant<'_>],
    writable: &BTreeMap<&str, &str>,
) -> Vec<(Range<usize>, String)> {
    grants
        .iter()
        .filter(|g| matches!(g.provision, Provision::Created | Provision::Owned))
        .filter_map(|g| {
            let above = ancestors(g.host.as_str())
                .skip(1)
                .find_map(|p| writable.get(p).map(|app| (p, *app)))?;
            Some((
                g.span.clone(),
                format!(
                    "host folder `{}` is inside `{}`, which app `{}` can write: it could put a \
                     link there that root would follow when it creates this folder; grant a \
                     folder beside it",
                    g.host.as_str().escape_debug(),
                    above.0.escape_debug(),
                    above.1
                ),
            ))
        })
        .collect()
}

/// A folder handed to one app's static user (mode 0750) is that app's:
/// another app granted it, or a folder inside it, could not use it, and
/// two owners would take it from each other at each start.
fn shared_owned(grants: &[Grant<'_>]) -> Vec<(Range<usize>, String)> {
    let mut owned: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, g) in grants.iter().enumerate() {
        if *g.provision == Provision::Owned {
            owned.entry(g.host.as_str()).or_default().push(i);
        }
    }
    let mut out = Vec::new();
    for g in grants {
        let mut owners: Vec<usize> = ancestors(g.host.as_str())
            .filter_map(|p| owned.get(p))
            .flatten()
            .copied()
            .collect();
        owners.sort_unstable();
        for owner in owners.into_iter().map(|i| &grants[i]) {
            if owner.app != g.app {
                out.push((
                    g.span.clone(),
                    format!(
                        "host folder `{}` is within a folder handed to app `{}`'s user; \
                         grant it to one app only",
                        g.host.as_str().escape_debug(),
                        owner.app
                    ),
                ));
            }
        }
    }
    out
}

/// The path itself and every folder above it: `/a/b`, `/a` (not `/`).
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    std::iter::once(path).chain(
        path.char_indices()
            .filter(|&(i, c)| c == '/' && i > 0)
            .map(move |(i, _)| &path[..i]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(p: &str, ro: bool) -> Result<Provision, Invalid> {
        Provision::of(
            "a",
            &HostPath::new(p).expect("valid"),
            ro,
            Identity::Dynamic,
            &DataRoots::default(),
        )
    }

    #[test]
    fn read_write_folders_only_where_systemd_creates_them() {
        assert!(matches!(
            of("/var/lib/wasm-a", false),
            Ok(Provision::Managed(_))
        ));
        assert!(matches!(
            of("/var/log/wasm-a/x", false),
            Ok(Provision::Managed(_))
        ));
        // Any other name may be the OS's: only the app's own is allowed.
        for other in [
            "/var/lib/a",
            "/var/lib/toolbox",
            "/run/issue",
            "/var/lib/wasm-b",
        ] {
            let e = of(other, false).expect_err(other);
            assert!(e.reason().contains("wasm-a"), "{e}");
        }
        let e = of("/srv/spool", false).expect_err("outside");
        assert!(
            e.reason().contains("dynamic user")
                && e.reason().contains("/var/lib/ (StateDirectory=)"),
            "{e}"
        );
        let e = of("/var/lib/wasm-a/my data", false).expect_err("not plain");
        assert!(e.reason().contains("StateDirectory="), "{e}");
        assert!(of("/var/lib/private/x", false).is_err());
        assert!(of(&crate::node::paths::STATE_DIR.join("x"), false).is_err());
        assert!(of("/var/cache/wasmunit", true).is_err());
    }

    #[test]
    fn read_only_folders_are_created_outside_the_os_trees() {
        assert_eq!(of("/srv/my data", true), Ok(Provision::Created));
        assert_eq!(of("/var/lib/a", true), Ok(Provision::Provided));
        assert_eq!(of("/var/tmp", true), Ok(Provision::Provided));
        assert_eq!(of("/srv", true), Ok(Provision::Provided));
        assert_eq!(of("/usr/share/x", true), Ok(Provision::Provided));
        assert_eq!(of("/run/x", true), Ok(Provision::Provided));
        assert_eq!(of("/usrx", true), Ok(Provision::Provided));
    }

    #[test]
    fn a_managed_folder_is_granted_once() {
        let (a, b, c) = (
            HostPath::new("/var/lib/data").expect("p"),
            HostPath::new("/var/lib/data/in").expect("p"),
            HostPath::new("/var/lib/other").expect("p"),
        );
        let managed = |h: &HostPath| Provision::Managed(ExecDirectory::new(h).expect("managed"));
        let (pa, pb, pc) = (managed(&a), Provision::Created, managed(&c));
        let grants = [
            Grant {
                app: "x",
                host: &a,
                provision: &pa,
                span: 1..2,
            },
            Grant {
                app: "y",
                host: &b,
                provision: &pb,
                span: 3..4,
            },
            Grant {
                app: "y",
                host: &c,
                provision: &pc,
                span: 5..6,
            },
            Grant {
                app: "x",
                host: &b,
                provision: &pb,
                span: 7..8,
            },
        ];
        let all = shared_managed(&grants);
        // Both read-only folders below x's are root-created inside a folder
        // an app writes; y's is also inside another app's.
        let below: Vec<_> = all.iter().filter(|f| f.1.contains("can write")).collect();
        assert_eq!(below.len(), 2, "{all:?}");
        let found: Vec<_> = all.iter().filter(|f| !f.1.contains("can write")).collect();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, 3..4);
        assert!(
            found[0].1.contains("app `x`'s StateDirectory=data"),
            "{}",
            found[0].1
        );
    }

    #[test]
    fn ancestors_are_the_path_and_the_folders_above_it() {
        let a: Vec<&str> = ancestors("/var/lib/a b/c").collect();
        assert_eq!(a, ["/var/lib/a b/c", "/var", "/var/lib", "/var/lib/a b"]);
        assert_eq!(ancestors("/x").collect::<Vec<_>>(), ["/x"]);
    }
}
