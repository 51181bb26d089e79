//! Where an app may connect: IP addresses and prefixes, enforced by the
//! kernel through systemd (`IPAddressAllow=` with `IPAddressDeny=any`, a
//! cgroup packet filter). The filter sees addresses, not names and not
//! ports: a name is refused (its addresses change under the filter), and
//! so is `ADDRESS:PORT` (nothing in systemd filters a connection's port).

use crate::invalid::Invalid;
use std::fmt;
use std::net::IpAddr;

/// One allowed address or prefix, in canonical form (`10.0.0.0/8`,
/// `2001:db8::/32`, `127.0.0.2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct IpPrefix {
    addr: IpAddr,
    /// `None`: the one address.
    len: Option<u8>,
}

impl IpPrefix {
    pub fn parse(s: &str) -> Result<IpPrefix, Invalid> {
        let shown = s.escape_debug();
        let (addr_text, len_text) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr_text.parse().map_err(|_| {
            if addr_text.rsplit_once(':').is_some_and(|(a, p)| {
                a.parse::<std::net::Ipv4Addr>().is_ok() && p.parse::<u16>().is_ok()
            }) || addr_text.starts_with('[')
            {
                format!(
                    "`{shown}`: systemd filters addresses only, not ports (IPAddressAllow= has no port); \
                     list the address"
                )
            } else {
                format!(
                    "`{shown}` is not an IP address or prefix (such as 10.0.0.0/8); names are not \
                     allowed: the kernel filter sees addresses, and a name's addresses change"
                )
            }
        })?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        // An IPv4 address in IPv6 form, alone or as a prefix of 96 bits or
        // more (one within the mapped range; a shorter one is an IPv6 range).
        let v4_len = match len_text {
            None => Some(None),
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|n| (96..=128).contains(n))
                .map(Some),
        };
        if let (Some(v4), Some(len)) = (ipv4_in_ipv6(addr, addr_text), v4_len) {
            return Err(Invalid::from(ipv4_in_ipv6_refusal(&shown, v4, len)));
        }
        let len = match len_text {
            None => None,
            Some(l) => {
                let n: u8 = l
                    .parse()
                    .ok()
                    .filter(|n| *n <= max)
                    .ok_or_else(|| format!("`{shown}`: a prefix length is 0 to {max}"))?;
                if n == 0 {
                    return Err(Invalid::from(format!(
                        "`{shown}` allows every address: leave out `egress` for that"
                    )));
                }
                Some(n)
            }
        };
        let p = IpPrefix { addr, len };
        if p.masked() != addr {
            return Err(Invalid::from(format!(
                "`{shown}` has host bits set below its prefix; write `{}`",
                IpPrefix {
                    addr: p.masked(),
                    len
                }
            )));
        }
        Ok(p)
    }

    /// The address with every bit below the prefix cleared.
    fn masked(&self) -> IpAddr {
        let Some(len) = self.len else {
            return self.addr;
        };
        match self.addr {
            IpAddr::V4(a) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                IpAddr::V4((u32::from(a) & mask).into())
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                IpAddr::V6((u128::from(a) & mask).into())
            }
        }
    }
}

/// The IPv4 address an IPv6 spelling carries: an IPv4-mapped address
/// (`::ffff:10.0.0.1`, however written), or an IPv4-compatible one written
/// with a dotted quad (`::10.0.0.1`, deprecated by RFC 4291).
fn ipv4_in_ipv6(addr: IpAddr, text: &str) -> Option<std::net::Ipv4Addr> {
    let IpAddr::V6(a) = addr else {
        return None;
    };
    a.to_ipv4_mapped()
        .or_else(|| a.to_ipv4().filter(|_| text.contains('.')))
}

/// Why an IPv4 address in IPv6 form is refused, with the entry to write.
/// The kernel filter compares an IPv4 packet with IPv4 entries only, and a
/// connection to `::ffff:10.0.0.1` (from a dual-stack socket) leaves as an
/// IPv4 packet: the entry would allow nothing, silently.
fn ipv4_in_ipv6_refusal(
    shown: &std::str::EscapeDebug<'_>,
    v4: std::net::Ipv4Addr,
    len: Option<u8>,
) -> String {
    let v4_form = match len.map(|n| n - 96) {
        None | Some(32) => v4.to_string(),
        Some(n) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(n)).unwrap_or(0);
            format!("{}/{n}", std::net::Ipv4Addr::from(u32::from(v4) & mask))
        }
    };
    format!(
        "`{shown}` is an IPv4 address in IPv6 form: the kernel filter matches IPv4 packets \
         against IPv4 entries only, so it would allow nothing; write its IPv4 form `{v4_form}`"
    )
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.len {
            None => write!(f, "{}", self.addr),
            Some(l) => write!(f, "{}/{l}", self.addr),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_prefixes_in_canonical_form() {
        for (text, shown) in [
            ("127.0.0.2", "127.0.0.2"),
            ("10.0.0.0/8", "10.0.0.0/8"),
            ("2001:db8::/32", "2001:db8::/32"),
            ("::1", "::1"),
            ("2001:DB8::1", "2001:db8::1"),
            // NAT64's well-known prefix carries IPv4 too, but as IPv6
            // packets: the filter sees them as written.
            ("64:ff9b::10.0.0.1", "64:ff9b::a00:1"),
            ("::/80", "::/80"),
        ] {
            assert_eq!(IpPrefix::parse(text).expect(text).to_string(), shown);
        }
    }

    #[test]
    fn names_ports_and_sloppy_prefixes_are_refused() {
        for (bad, why) in [
            ("example.org", "names are not allowed"),
            ("10.0.0.1:443", "not ports"),
            ("[::1]:443", "not ports"),
            ("10.0.0.1/8", "write `10.0.0.0/8`"),
            ("10.0.0.0/33", "0 to 32"),
            ("0.0.0.0/0", "every address"),
            ("", "not an IP address"),
            ("::ffff:10.0.0.1", "write its IPv4 form `10.0.0.1`"),
            ("::FFFF:a00:1", "write its IPv4 form `10.0.0.1`"),
            ("0:0:0:0:0:ffff:192.168.1.7", "`192.168.1.7`"),
            ("::ffff:10.0.0.0/104", "write its IPv4 form `10.0.0.0/8`"),
            ("::ffff:10.1.2.3/120", "`10.1.2.0/24`"),
            ("::10.0.0.1", "`10.0.0.1`"),
        ] {
            let e = IpPrefix::parse(bad).expect_err(bad);
            assert!(e.reason().contains(why), "{bad}: {e}");
        }
    }
}
