//! Any relative path through the one way in (`wasmunit::input`) over a
//! tree full of links: whatever it opens is a regular file reached
//! through no link at all.
#![no_main]

use std::os::unix::fs::symlink;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wasmunit::input::Root;

fn tree() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("wasmunit-fuzz-tree-{}", std::process::id()));
        std::fs::create_dir_all(d.join("a/b")).expect("mkdir");
        std::fs::write(d.join("a/f"), "f").expect("w");
        std::fs::write(d.join("a/b/g"), "g").expect("w");
        let _ = symlink("a", d.join("l"));
        let _ = symlink("f", d.join("a/lf"));
        let _ = symlink("/etc", d.join("a/b/etc"));
        let _ = symlink("../..", d.join("a/b/up"));
        let _ = symlink("/proc/self", d.join("self"));
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let rel = String::from_utf8_lossy(data);
    let root = Root::open(tree()).expect("root");
    let Ok(f) = root.open_file(Path::new(rel.as_ref())) else {
        return;
    };
    // Opened: walk it again by hand, component by component.
    let mut at = tree().to_path_buf();
    for c in Path::new(rel.as_ref()).components() {
        match c {
            Component::Normal(s) => at.push(s),
            Component::CurDir => {}
            other => panic!("opened {rel:?} through {other:?}"),
        }
        let m = std::fs::symlink_metadata(&at).expect("exists");
        assert!(!m.file_type().is_symlink(), "opened {rel:?} through a link at {at:?}");
    }
    assert!(f.stat.st_size >= 0);
});
