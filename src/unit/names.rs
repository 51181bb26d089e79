//! The names of wasmunit's own units and where unit files live on a node;
//! an app's unit names come from its validated name
//! ([`crate::manifest::app_name::AppName`]).

/// The target every app unit is part of (`units/wasmunit.target`).
pub const GROUP_TARGET: &str = "wasmunit.target";

/// Its text, shipped as is.
pub const GROUP_TARGET_TEXT: &str = include_str!("../../units/wasmunit.target");

/// The unit that restarts the workloads onto a new wasmtime sysext.
pub const FOLLOW_UNIT: &str = "wasmunit-follow.service";
