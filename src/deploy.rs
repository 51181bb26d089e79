//! Deploying rendered units on a live host (or any root with a systemd on
//! D-Bus). [`changes::plan`] decides everything and refuses before any side
//! effect; [`apply`] then copies modules, writes unit files atomically,
//! reloads once, enables, starts and restarts only what changed, waits for
//! the changed units to come up, rolls them back when they do not, and only
//! then stops, disables and deletes the units the manifest dropped.
//!
//! One job per file:
//! - [`changes`]: what an apply would change, and every refusal (`diff`
//!   prints it);
//! - [`preflight`]: what the node must offer beyond the manifest (writable
//!   folders, the programs apply and the units run), asked before the
//!   first write;
//! - [`steps`]: the calls to the manager that bring the units to the
//!   manifest, from what changed and what the manager has now;
//! - [`apply`](mod@apply): doing it, in order, with the rollback;
//! - [`wait`] and [`liveness`]: which started units to watch, and when one
//!   has come up;
//! - [`remove`](mod@remove): taking units off (`remove`, and the units an
//!   apply dropped); [`identity`]: a static identity's files no app wants;
//!   [`collect`]: shipped files no installed unit names;
//! - [`status`](mod@status): the manager's view, drift, the table and JSON;
//! - [`dbus`]: the D-Bus calls; [`error`]: why any of it stopped.

pub(crate) mod apply;
pub(crate) mod changes;
pub(crate) mod collect;
pub mod dbus;
pub(crate) mod error;
pub(crate) mod identity;
pub(crate) mod liveness;
pub(crate) mod preflight;
pub(crate) mod remove;
pub(crate) mod status;
pub(crate) mod steps;
pub(crate) mod wait;

pub use apply::{apply, Applied};
pub use error::{DeployError, Result, Unready};
pub use preflight::{preflight, ApplyOptions};
pub use remove::{remove, Removed};
pub use status::{format_states, status};
