//! `--public-key`: the one OpenPGP public key every node checks a
//! bundle's signature with, walked packet by packet before it is shipped.

/// The public key the node checks signatures with: a binary OpenPGP
/// transferable public key (`gpg --export KEY`), at most 1 MiB.
#[derive(Debug, Clone)]
pub struct PublicKey(Vec<u8>);

impl PublicKey {
    pub fn new(bytes: Vec<u8>) -> Result<PublicKey, String> {
        if bytes.starts_with(b"-----BEGIN") {
            return Err(
                "the key is ASCII-armoured; the node's keyring wants the binary form: \
                 `gpg --export KEY > key.gpg`"
                    .to_owned(),
            );
        }
        if bytes.len() > 1 << 20 {
            return Err("the key file is larger than 1 MiB".to_owned());
        }
        let tags = packet_tags(&bytes)
            .ok_or("not an OpenPGP key (export it with `gpg --export KEY > key.gpg`)")?;
        if tags.iter().skip(1).any(|t| *t == 6) {
            return Err(
                "the key file holds several keys; every node would trust each of them: \
                        export the one that signs (`gpg --export KEYID > key.gpg`)"
                    .to_owned(),
            );
        }
        if tags.first() != Some(&6) {
            return Err(
                "not an OpenPGP public key: it starts with no public-key packet \
                        (`gpg --export KEY > key.gpg`)"
                    .to_owned(),
            );
        }
        // Public keys, subkeys, user ids and attributes, signatures, trust:
        // never a secret key, which would land in a world-readable keyring.
        if let Some(t) = tags.iter().find(|t| ![2, 6, 12, 13, 14, 17].contains(*t)) {
            return Err(format!(
                "the key file holds an OpenPGP packet of type {t}{}; export only the public \
                 key: `gpg --export KEY > key.gpg`",
                if [5, 7].contains(t) {
                    " (a secret key)"
                } else {
                    ""
                }
            ));
        }
        Ok(PublicKey(bytes))
    }
}

impl PublicKey {
    /// The key as the node's keyring holds it.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// The tag of every OpenPGP packet in `b` (RFC 4880 4.2), or `None` when
/// the packets do not exactly fill it.
fn packet_tags(b: &[u8]) -> Option<Vec<u8>> {
    let mut tags = Vec::new();
    let mut i = 0usize;
    let be = |s: &[u8]| s.iter().fold(0usize, |n, &x| (n << 8) | usize::from(x));
    while i < b.len() {
        let h = b[i];
        if h & 0x80 == 0 {
            return None;
        }
        let (tag, len, head) = if h & 0x40 != 0 {
            let o1 = *b.get(i + 1)?;
            match o1 {
                0..=191 => (h & 0x3f, usize::from(o1), 2),
                192..=223 => (
                    h & 0x3f,
                    ((usize::from(o1) - 192) << 8) + usize::from(*b.get(i + 2)?) + 192,
                    3,
                ),
                255 => (h & 0x3f, be(b.get(i + 2..i + 6)?), 6),
                // Partial lengths: not in an exported key.
                _ => return None,
            }
        } else {
            let n = match h & 3 {
                0 => 1,
                1 => 2,
                2 => 4,
                _ => return None,
            };
            ((h >> 2) & 0x0f, be(b.get(i + 1..i + 1 + n)?), 1 + n)
        };
        i = i.checked_add(head)?.checked_add(len)?;
        if i > b.len() {
            return None;
        }
        tags.push(tag);
    }
    Some(tags)
}
