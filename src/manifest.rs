//! Reading a manifest: file → TOML → typed [`schema::Manifest`], with every
//! syntax or type error turned into a `file:line:col` diagnostic.

pub mod app_name;
mod chunked;
pub mod json_schema;
pub mod schema;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diag::Diagnostic;

/// A parsed manifest together with the text and path its spans refer to.
#[derive(Debug)]
pub struct Loaded {
    pub path: PathBuf,
    pub source: Arc<str>,
    pub manifest: schema::Manifest,
}

impl Loaded {
    /// A diagnostic about a span of this manifest.
    pub fn diag(&self, span: std::ops::Range<usize>, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(&self.path, &self.source, Some(span), message)
    }

    /// The span of `part` (a byte range of the string value `text`) in
    /// the manifest, when the string at `span` is written without escapes
    /// (so its bytes are the value's); else the whole value's span.
    pub fn span_within(
        &self,
        span: std::ops::Range<usize>,
        text: &str,
        part: std::ops::Range<usize>,
    ) -> std::ops::Range<usize> {
        let written = self.source.get(span.clone()).unwrap_or("");
        let plain = [('"', '"'), ('\'', '\'')].iter().any(|&(open, close)| {
            written.len() == text.len() + 2
                && written.starts_with(open)
                && written.ends_with(close)
                && &written[1..written.len() - 1] == text
        });
        if plain && part.end <= text.len() && part.start < part.end {
            span.start + 1 + part.start..span.start + 1 + part.end
        } else {
            span
        }
    }

    /// The folder that relative paths in the manifest are resolved against.
    pub fn dir(&self) -> &Path {
        // An empty parent joins to plain relative paths, as the user wrote them.
        self.path.parent().unwrap_or(Path::new(""))
    }
}

/// Largest manifest accepted; a bigger file is almost certainly a mistake.
const MAX_MANIFEST_BYTES: u64 = 64 << 20;

pub fn load(path: &Path) -> Result<Loaded, Diagnostic> {
    let empty: Arc<str> = Arc::from("");
    // A link as the manifest could show another file's lines in errors.
    let bytes = crate::input::Root::of_file(path)
        .and_then(|(root, name)| root.open_file(&name))
        .and_then(|f| f.read_all(MAX_MANIFEST_BYTES))
        .map_err(|e| {
            let message = match e {
                crate::input::InputError::NotRegular { .. } => {
                    "manifest is not a regular file".to_owned()
                }
                crate::input::InputError::TooLarge { .. } => {
                    "manifest is larger than 64 MiB".to_owned()
                }
                crate::input::InputError::Link { .. } => {
                    format!("manifest is a symbolic link; name the file it points to ({e})")
                }
                crate::input::InputError::Io { err, .. } => format!("cannot read manifest: {err}"),
                crate::input::InputError::NotUtf8 { .. } => format!("cannot read manifest: {e}"),
            };
            Diagnostic::new(path, &empty, None, message)
        })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let src: Arc<str> = Arc::from(String::from_utf8_lossy(e.as_bytes()).as_ref());
        Diagnostic::new(path, &src, Some(at..at + 1), "manifest is not valid UTF-8")
    })?;
    parse(path, Arc::from(text))
}

pub fn parse(path: &Path, source: Arc<str>) -> Result<Loaded, Diagnostic> {
    if let Some(manifest) = chunked::parse(&source) {
        return Ok(Loaded {
            path: path.to_path_buf(),
            source,
            manifest,
        });
    }
    match toml::from_str::<schema::Manifest>(&source) {
        Ok(manifest) => Ok(Loaded {
            path: path.to_path_buf(),
            source,
            manifest,
        }),
        Err(e) => {
            let message = e.message().trim_end().to_owned();
            let help = help_for(&message);
            let mut d = Diagnostic::new(path, &source, e.span(), message);
            if let Some(h) = help {
                d = d.with_help(h);
            }
            Err(d)
        }
    }
}

fn help_for(message: &str) -> Option<&'static str> {
    if message.contains("missing field `version`") {
        Some("start the manifest with `version = 1`")
    } else if message.contains("missing field `module`") {
        Some("every app needs `module = \"path/to/module.wasm\"` (or a `[defaults]` module)")
    } else if message.contains("unknown field") {
        Some("see docs/manifest.md for the keys each table accepts")
    } else if message.contains("duplicate key") {
        Some("each app and each key may appear once")
    } else {
        None
    }
}
