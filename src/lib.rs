//! wasmunit: a TOML manifest of WebAssembly workloads → hardened systemd
//! units and a Flatcar Butane fragment.
//!
//! Data flow, one [`pipeline`] for every command: [`manifest`] (parse, with
//! spans) → [`plan`] (resolved names, paths, hashes) → [`check`] (facts
//! about each module for the target CLI, and the flags it needs) →
//! [`render`] (units, Butane; pure) → [`write`] (files) or [`deploy`]
//! (D-Bus). Beneath them: what is known about each wasmtime and systemd
//! release ([`releases`]), the map of the node and what an app may be
//! granted on it ([`node`]), unit-file values as types ([`unit`]). The
//! entry is [`cli::main_with_args`]; this file only wires the modules.

pub mod check;
pub mod cli;
pub mod deploy;
mod diag;
pub mod error;
pub mod input;
mod invalid;
pub mod manifest;
pub mod node;
pub mod pipeline;
pub mod plan;
mod progress;
pub mod releases;
pub mod render;
mod style;
pub mod unit;
mod write;
