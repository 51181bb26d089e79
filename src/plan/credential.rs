//! Secrets an app reads, delivered by systemd's credentials: the unit names
//! the file (`LoadCredential=NAME:PATH`, `LoadCredentialEncrypted=`), the
//! manager reads it at each start into the unit's own credentials folder
//! (`/run/credentials/UNIT`, readable by the service's user only), and the
//! guest sees that folder read-only at [`GUEST_DIR`]. The value never
//! appears in a unit, the fragment, the command line or `status`.
//!
//! Only files in systemd's credential stores can be named: the manager
//! reads them as root and hands them to the app's dynamic user, so a
//! manifest that could name any path could hand an app `/etc/shadow`.

use crate::invalid::Invalid;

/// Where the guest finds its credentials, one file per name.
pub const GUEST_DIR: &str = "/run/secrets";

/// systemd's credential stores, as the node map lists them: the only
/// trees a credential may come from. The `.encrypted` ones hold
/// `systemd-creds encrypt` output.
fn stores() -> impl Iterator<Item = &'static str> {
    crate::node::paths::CREDENTIAL_STORES.iter().map(|s| s.path)
}

/// The store file name an imported credential is read from: a name
/// systemd's own credentials never use. `ImportCredential=NAME` would also
/// reach the credentials passed to the manager (measured on 257 and 262:
/// they win over every store; `passwd.hashed-password.root` included), so
/// an app imports only `wasmunit.APP.NAME`, renamed to NAME (257's
/// `GLOB:RENAME`).
pub fn imported_name(app: &str, name: &CredentialName) -> String {
    format!("wasmunit.{app}.{}", name.as_str())
}

/// A credential name: systemd takes any valid file name; wasmunit asks for
/// one that needs no quoting anywhere (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CredentialName(String);

impl CredentialName {
    pub fn new(s: &str) -> Result<CredentialName, Invalid> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && !s.starts_with(['.', '-'])
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if ok {
            Ok(CredentialName(s.to_owned()))
        } else {
            Err(Invalid::from(format!(
                "credential name `{}` must be 1 to 64 letters, digits, `_`, `.` or `-`, \
                 not starting with `.` or `-`",
                s.escape_debug()
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How systemd loads the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `LoadCredential=`: a plain file, root-only on the node.
    File,
    /// `LoadCredentialEncrypted=`: `systemd-creds encrypt` output.
    Encrypted,
    /// `ImportCredential=` (systemd 257's rename form): the store file
    /// [`imported_name`], never a credential of the system's own.
    Imported,
}

impl Source {
    pub fn key(self) -> &'static str {
        match self {
            Source::File => "LoadCredential",
            Source::Encrypted => "LoadCredentialEncrypted",
            Source::Imported => "ImportCredential",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub name: CredentialName,
    pub source: Source,
    /// A file below one of the [`stores`], in plain characters; for an
    /// imported one, its store file name ([`imported_name`]).
    pub path: Option<String>,
}

impl Credential {
    /// `NAME:PATH` (or `NAME` when imported), the value of
    /// [`Source::key`]; every part is plain.
    pub fn setting(&self) -> String {
        match (self.source, &self.path) {
            // GLOB:RENAME: the store file, seen by the app as NAME.
            (Source::Imported, Some(stored)) => format!("{stored}:{}", self.name.as_str()),
            (_, Some(p)) => format!("{}:{p}", self.name.as_str()),
            (_, None) => self.name.as_str().to_owned(),
        }
    }
}

/// Checks a store path: absolute, normalized, a file below one of
/// [`stores`], in characters no setting needs to quote.
pub fn store_path(app: &str, p: &str) -> Result<String, Invalid> {
    let shown = p.escape_debug();
    let plain = p.bytes().all(|b| {
        b.is_ascii_alphanumeric()
            || matches!(b, b'/' | b'_' | b'.' | b'-' | b'+' | b'@' | b'=' | b',')
    });
    if !plain {
        return Err(Invalid::from(format!(
            "credential path `{shown}` may hold only letters, digits and `/_.-+@=,`"
        )));
    }
    let normal = p.starts_with('/')
        && !p.ends_with('/')
        && p.split('/')
            .skip(1)
            .all(|s| !s.is_empty() && s != "." && s != "..")
        && p.split('/').all(|s| s.len() <= 255);
    if !normal {
        return Err(Invalid::from(format!(
            "credential path `{shown}` must be absolute and normalized (no //, . or .., no trailing /)"
        )));
    }
    let in_store = stores().any(|s| p != s && crate::node::paths::within(p, s));
    if !in_store {
        return Err(Invalid::from(format!(
            "credential path `{shown}` is not a file in one of systemd's credential stores ({}): \
             the manager reads it as root for the app, so it may name no other file",
            stores().collect::<Vec<_>>().join(", ")
        )));
    }
    // The stores also hold the system's own credentials (root's password
    // hash, SSH keys, WireGuard keys) and other apps' secrets; a folder
    // there would load all of it. An app names only files of its own,
    // directly in a store, as `import` does.
    let own = format!("wasmunit.{app}.");
    let file = p.rsplit('/').next().unwrap_or_default();
    let dir = &p[..p.len() - file.len() - 1];
    if !stores().any(|s| s == dir) || !file.starts_with(&own) || file.len() == own.len() {
        return Err(Invalid::from(format!(
            "credential path `{shown}` is not a file of this app's in a credential store: the \
             stores also hold the system's own credentials and other apps' secrets, so an app \
             names only `STORE/{own}NAME` (e.g. /etc/credstore/{own}token)"
        )));
    }
    Ok(p.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_in_the_stores_are_credentials() {
        let store_path = |p| store_path("a", p);
        assert!(store_path("/etc/credstore/wasmunit.a.api-key").is_ok());
        assert!(store_path("/etc/credstore.encrypted/wasmunit.a.db.cred").is_ok());
        for other in [
            "/etc/credstore/api-key",
            "/etc/credstore/passwd.hashed-password.root",
            "/etc/credstore/wasmunit.b.token",
            "/etc/credstore/wasmunit.a.",
            "/run/credstore/sub/wasmunit.a.x",
        ] {
            assert!(store_path(other).is_err(), "{other}");
        }
        for bad in [
            "/etc/shadow",
            "/etc/credstore",
            "/etc/credstore/",
            "/etc/credstore/../shadow",
            "/etc/credstorex/a",
            "etc/credstore/a",
            "/etc/credstore/a b",
            "/etc/credstore/%n",
            "/etc/credstore//a",
        ] {
            assert!(store_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_need_no_quoting() {
        assert!(CredentialName::new("api-key.v2_x").is_ok());
        for bad in ["", ".hidden", "-x", "a/b", "a:b", "a b", &"x".repeat(65)] {
            assert!(CredentialName::new(bad).is_err(), "{bad}");
        }
    }
}
