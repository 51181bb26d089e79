//! `--url`: where a fleet's bundles come from, checked before it reaches
//! the node's sysupdate transfer.

/// Where the bundles come from: an `https://` folder, or `http://` only
/// when the node checks signatures (a plain download is otherwise anyone's
/// on the way). Letters, digits and the URL punctuation that needs no
/// quoting in a sysupdate file; no `%` (sysupdate expands specifiers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetUrl(String);

impl FleetUrl {
    pub fn parse(s: &str, signed: bool) -> Result<FleetUrl, String> {
        let shown = s.escape_debug();
        let rest = if let Some(r) = s.strip_prefix("https://") {
            r
        } else if let Some(r) = s.strip_prefix("http://") {
            if !signed {
                return Err(format!(
                    "`{shown}`: an http:// source needs --public-key (signed bundles): \
                     otherwise anyone on the way chooses what the fleet runs"
                ));
            }
            r
        } else {
            return Err(format!("`{shown}`: the bundles' URL starts with https://"));
        };
        if s.len() > 2048 {
            return Err("the bundles' URL is longer than 2048 characters".to_owned());
        }
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.contains('@') {
            return Err(format!(
                "`{shown}`: name a host, without credentials (the transfer file is world-readable)"
            ));
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~:/+,!*()[]$".contains(c);
        if let Some(c) = s.chars().find(|&c| !allowed(c)) {
            return Err(format!(
                "`{shown}`: `{}` has no place in the bundles' URL (letters, digits and \
                 -._~:/+,!*()[]$; no query: sysupdate appends SHA256SUMS to it)",
                c.escape_debug()
            ));
        }
        host_and_port(authority).map_err(|why| format!("`{shown}`: {why}"))?;
        if !s.ends_with('/') {
            return Err(format!(
                "`{shown}`: the URL of the folder holding SHA256SUMS ends with `/`"
            ));
        }
        Ok(FleetUrl(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `host[:port]`: a DNS name (labels of letters, digits and `-`, not at
/// either end), an IPv4 address or a bracketed IPv6 one; a port 1–65535.
fn host_and_port(authority: &str) -> Result<(), String> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (v6, after) = rest.split_once(']').ok_or("an IPv6 host ends with `]`")?;
        v6.parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("`{v6}` is not an IPv6 address"))?;
        (
            None,
            after
                .strip_prefix(':')
                .map(str::to_owned)
                .or_else(|| (!after.is_empty()).then(|| after.to_owned())),
        )
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (Some(h), Some(p.to_owned())),
            None => (Some(authority), None),
        }
    };
    if let Some(h) = host {
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if h.is_empty() || h.len() > 253 || !h.split('.').all(label_ok) {
            return Err(format!("`{h}` is not a host name"));
        }
        let numeric = h.split('.').all(|l| l.chars().all(|c| c.is_ascii_digit()));
        if numeric && h.parse::<std::net::Ipv4Addr>().is_err() {
            return Err(format!("`{h}` is not an IPv4 address"));
        }
    }
    if let Some(p) = port {
        match p.parse::<u16>() {
            Ok(n) if n > 0 && p.chars().all(|c| c.is_ascii_digit()) => {}
            _ => return Err(format!("`{p}` is not a port (1 to 65535)")),
        }
    }
    Ok(())
}
