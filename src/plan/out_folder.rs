//! `render --out DIR` against the files a manifest ships (`files`): the
//! output folder may not lie in a shipped folder (each render would ship
//! the last one's output: the fragment would never be the same twice), be
//! one, or hold one or a shipped file (what a render writes there is
//! wasmunit's to replace, and the next render would ship it).

use std::path::{Component, Path, PathBuf};

use super::Plan;

/// Why `out` (as given on the command line) may not be the output folder
/// of `plan`, rendered from `manifest`; `None` when it may.
pub fn refusal(plan: &Plan, manifest: &Path, out: &Path) -> Option<String> {
    let folder = manifest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let base = resolved(folder)?;
    let shown = crate::input::shown(out);
    if let Some(link) = link_in(&base, out) {
        return Some(format!(
            "--out {shown} passes through `{}`, a link inside the manifest's folder, which the \
             manifest's author controls: wasmunit would write wherever it points; name the \
             folder itself, or one outside the manifest's folder",
            crate::input::shown(&link)
        ));
    }
    let out_at = resolved(out)?;
    for app in &plan.apps {
        for (source, at) in app.files.iter().flat_map(|g| &g.sources) {
            let shipped = below(&base, source);
            let what = format!(
                "`{}`, which app `{}` ships (`files` at {at})",
                crate::input::shown(Path::new(source)),
                app.name
            );
            if out_at == shipped {
                return Some(format!(
                    "--out {shown} is {what}: each render would ship the last one's output, \
                     and never converge; write the output to a folder of its own, outside \
                     every shipped folder"
                ));
            }
            if out_at.starts_with(&shipped) {
                return Some(format!(
                    "--out {shown} is inside {what}: each render would ship the last one's \
                     output, and never converge; write the output outside every shipped folder"
                ));
            }
            if shipped.starts_with(&out_at) {
                return Some(format!(
                    "--out {shown} holds {what}: the output folder is wasmunit's to write, and \
                     the next render would ship what it wrote there; write the output to a \
                     folder of its own"
                ));
            }
        }
    }
    None
}

/// The first link on the way to `out` that lies in `base` (the manifest's
/// folder, resolved): links above it are the person's who runs wasmunit
/// (`/home` often is one), links in it the manifest's author's.
fn link_in(base: &Path, out: &Path) -> Option<PathBuf> {
    let abs = if out.is_absolute() {
        out.to_path_buf()
    } else {
        std::env::current_dir().ok()?.join(out)
    };
    let mut at = PathBuf::from("/");
    for c in abs.components() {
        match c {
            Component::Normal(n) => {
                let next = at.join(n);
                let is_link =
                    std::fs::symlink_metadata(&next).is_ok_and(|m| m.file_type().is_symlink());
                if is_link && at.starts_with(base) {
                    return Some(next);
                }
                at = next.canonicalize().unwrap_or(next);
            }
            Component::ParentDir => {
                at = at.join("..").canonicalize().unwrap_or_else(|_| {
                    let mut p = at.clone();
                    p.pop();
                    p
                });
            }
            _ => {}
        }
    }
    None
}

/// A checked `source` (relative, no `..`) below the manifest's folder.
fn below(base: &Path, source: &str) -> PathBuf {
    let mut p = base.to_path_buf();
    for c in Path::new(source).components() {
        if let Component::Normal(n) = c {
            p.push(n);
        }
    }
    p
}

/// `p` made absolute with every link in the part that exists resolved (a
/// folder `--out` may name through a link, and may not exist yet); the
/// rest is taken as written.
fn resolved(p: &Path) -> Option<PathBuf> {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().ok()?.join(p)
    };
    let mut at = PathBuf::from("/");
    let mut exists = true;
    for c in abs.components() {
        match c {
            Component::Prefix(_) | Component::RootDir | Component::CurDir => {}
            Component::ParentDir if exists => at = at.join("..").canonicalize().ok()?,
            Component::ParentDir => {
                at.pop();
            }
            Component::Normal(n) => {
                at.push(n);
                if exists {
                    match at.canonicalize() {
                        Ok(real) => at = real,
                        Err(_) => exists = false,
                    }
                }
            }
        }
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_through_links_and_past_what_exists() {
        let tmp = tempfile::tempdir().expect("tmp");
        let real = tmp.path().canonicalize().expect("real");
        std::fs::create_dir_all(real.join("repo/data")).expect("mkdir");
        std::os::unix::fs::symlink(real.join("repo"), real.join("link")).expect("link");
        assert_eq!(
            resolved(&real.join("link/data/out/../x/./y")),
            Some(real.join("repo/data/x/y"))
        );
        assert_eq!(
            resolved(&real.join("link/data/../data")),
            Some(real.join("repo/data"))
        );
        assert_eq!(below(&real, "./data/"), real.join("data"));
    }
}
