//! One budget for every byte a render reads to embed (local modules,
//! shipped files, pinned images), taken once a file's size is known and
//! before it is read: however many images, modules or grants a manifest
//! lists, wasmunit reads and embeds at most [`LIMIT`] in all.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::invalid::Invalid;

/// 2 GiB: twice the largest single module or image, far beyond what any
/// Ignition config carries (clouds' user data ends at a few hundred KiB;
/// a config fetched by reference is still read into a node's memory).
const LIMIT: u64 = 2 << 30;

#[derive(Debug, Clone)]
pub struct EmbedBudget(Arc<AtomicU64>);

impl Default for EmbedBudget {
    fn default() -> Self {
        EmbedBudget(Arc::new(AtomicU64::new(LIMIT)))
    }
}

impl EmbedBudget {
    /// Takes `bytes` for `what`, or says the manifest embeds too much.
    pub fn take(&self, bytes: u64, what: &str) -> Result<(), Invalid> {
        self.0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(bytes)
            })
            .map(|_| ())
            .map_err(|_| {
                Invalid::from(format!(
                    "{what} ({} MiB) would take the files this manifest embeds past {} GiB \
                     in all; fetch big modules and images from a URL with their sha256 instead",
                    bytes.div_ceil(1 << 20),
                    LIMIT >> 30
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_budget_is_shared_by_its_clones() {
        let a = EmbedBudget::default();
        let b = a.clone();
        assert!(a.take(LIMIT - 10, "x").is_ok());
        assert!(b.take(11, "y").is_err());
        assert!(b.take(10, "z").is_ok());
        assert!(a.take(1, "w").is_err());
    }
}
