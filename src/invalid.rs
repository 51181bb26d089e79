//! Why wasmunit refuses a value from a user's input (a manifest key, an
//! argument, a module's bytes): the reason they read next to where it came
//! from (`file:line:col`, the argument, the module's path). Each validator
//! returns it; the caller knows the place.

/// A refused value's reason, in the words the user reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Invalid {
    reason: String,
}

impl Invalid {
    pub fn new(reason: impl Into<String>) -> Self {
        Invalid {
            reason: reason.into(),
        }
    }

    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl From<String> for Invalid {
    fn from(reason: String) -> Self {
        Invalid { reason }
    }
}

impl From<&str> for Invalid {
    fn from(reason: &str) -> Self {
        Invalid::new(reason)
    }
}

/// Where a reason becomes part of a longer message (a diagnostic, a
/// finding kept in the verdict cache).
impl From<Invalid> for String {
    fn from(i: Invalid) -> Self {
        i.reason
    }
}
