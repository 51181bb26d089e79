//! What a unit file may hold, below every stage that makes one: the value
//! types (the only constructors of text that reaches a unit), the unit-file
//! model that serializes them, and the names of wasmunit's own units.

pub mod escape;
pub mod file;
pub(crate) mod names;
