//! Guest paths (`dirs` and `files` `guest = "/data"`): the names the
//! guest's preopens get. One spelling per place: `/config/`, `/./config`,
//! `//config` and `/x/../config` all name `/config`, so two grants of one
//! place are found as duplicates, and the unit preopens the plain name (a
//! guest that opens `/config/a` finds no preopen named `/x/../config`).

/// The one spelling of a guest path: absolute, no empty, `.` or `..`
/// component (`..` is resolved by name: the guest's tree is only its
/// preopens, there is no link to follow), no trailing `/`. Refuses a
/// relative path and control characters (NUL included).
pub(crate) fn normalize(raw: &str) -> Result<String, String> {
    if !raw.starts_with('/') || raw.chars().any(char::is_control) {
        return Err(format!(
            "guest path `{}` must be absolute and free of control characters",
            raw.escape_debug()
        ));
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in raw.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    Ok(format!("/{}", parts.join("/")))
}

/// How a duplicate reads: the spelling the user wrote, and, when it
/// differs, the place it names.
pub(crate) fn shown(raw: &str, normal: &str) -> String {
    if raw == normal {
        format!("`{normal}`")
    } else {
        format!("`{}` (that is `{normal}`)", raw.escape_debug())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_place_is_one_name() {
        for (raw, normal) in [
            ("/config", "/config"),
            ("/config/", "/config"),
            ("//config", "/config"),
            ("/./config/.", "/config"),
            ("/x/../config", "/config"),
            ("/a//b/./c/", "/a/b/c"),
            ("/../config", "/config"),
            ("/", "/"),
            ("//", "/"),
            ("/x/..", "/"),
            ("/..data", "/..data"),
        ] {
            assert_eq!(normalize(raw).as_deref(), Ok(normal), "{raw}");
        }
        for bad in ["config", "./config", "", "/a\nb", "/a\0b"] {
            assert!(normalize(bad).is_err(), "{bad:?}");
        }
    }
}
