//! `AppName`: a validated app name, safe to embed in unit names and paths.

use crate::invalid::Invalid;
use std::fmt;

/// `[a-z0-9][a-z0-9-]{0,62}`: fits a unit name (`wasm-<app>.service`), a
/// directory name and a systemd specifier-free string without escaping.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AppName(String);

impl AppName {
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let mut chars = text.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if first_ok && rest_ok && text.len() <= 63 {
            Ok(AppName(text.to_owned()))
        } else {
            Err(Invalid::from(format!(
                "invalid app name `{}`: use 1 to 63 characters from a-z, 0-9 and '-', starting with a letter or digit",
                text.escape_debug()
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The service unit that runs this app.
    pub fn service_unit(&self) -> String {
        format!("wasm-{}.service", self.0)
    }

    pub fn timer_unit(&self) -> String {
        format!("wasm-{}.timer", self.0)
    }

    /// The socket unit that holds a server's port.
    pub fn socket_unit(&self) -> String {
        format!("wasm-{}.socket", self.0)
    }

    /// The app whose socket unit `unit` is, if it is one.
    pub fn of_socket_unit(unit: &str) -> Option<AppName> {
        let app = unit.strip_prefix("wasm-")?.strip_suffix(".socket")?;
        AppName::parse(app).ok()
    }

    /// The `systemd-socket-proxyd` service that forwards a server's
    /// socket into its network namespace (the plan refuses an app whose
    /// service would have this name).
    pub fn proxy_unit(&self) -> String {
        format!("wasm-{}-proxy.service", self.0)
    }
}

impl fmt::Display for AppName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_alphabet() {
        for ok in ["a", "0", "hello", "web-2", &"x".repeat(63)] {
            assert!(AppName::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            "",
            "-a",
            "Hello",
            "a_b",
            "a.b",
            "a b",
            "é",
            &"x".repeat(64),
            "a/b",
            "a%n",
        ] {
            assert!(AppName::parse(bad).is_err(), "{bad}");
        }
    }
}
