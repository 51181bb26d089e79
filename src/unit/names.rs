//! The names of wasmunit's own units and where unit files live on a node;
//! an app's unit names come from its validated name
//! ([`crate::manifest::app_name::AppName`]).

/// The target every app unit is part of (`units/wasmunit.target`).
pub const GROUP_TARGET: &str = "wasmunit.target";

/// Its text, shipped as is.
pub const GROUP_TARGET_TEXT: &str = include_str!("../../units/wasmunit.target");

/// The unit that restarts the workloads onto a new wasmtime sysext.
pub const FOLLOW_UNIT: &str = "wasmunit-follow.service";

/// The settings by which an app unit names what it needs on the node, as
/// plain absolute paths: `render` writes them, and `apply` and `status`
/// read them back from the installed units (the files on disk are the
/// truth of what is in use, also after a crash between two writes).
pub mod references {
    /// A module, a pinned image or the follow script: a file that must exist.
    pub const FILE: &str = "AssertFileNotEmpty";
    /// A pinned wasmtime image overlaid on /usr for this unit.
    pub const IMAGE: &str = "ExtensionImages";
    /// A folder of shipped files (among the unit's read-only grants).
    pub const SHIPPED: &str = "ReadOnlyPaths";

    /// The values of `key` in a unit's text, as written.
    pub fn values<'a>(text: &'a str, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        text.lines()
            .filter_map(move |l| l.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
    }
}

#[cfg(test)]
mod tests {
    use super::references;

    #[test]
    fn values_are_read_whole_and_only_for_their_key() {
        let text = "[Unit]\nAssertFileNotEmpty=/a\nAssertFileNotEmptyX=/b\n#AssertFileNotEmpty=/c\nAssertFileNotEmpty=/d e\n";
        let got: Vec<&str> = references::values(text, references::FILE).collect();
        assert_eq!(got, ["/a", "/d e"]);
    }
}
