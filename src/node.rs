//! The node: where wasmunit's files and the OS's live on it ([`paths`]),
//! what an app may be granted there ([`grants`]), and which raw unit keys
//! a manifest may pass through ([`raw_keys`]). Default deny: every grant,
//! raw key, credential and image is checked against this one map.

pub mod grants;
pub mod paths;
pub mod raw_keys;
