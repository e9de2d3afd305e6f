//! The task modules and their registry.
//!
//! Architecture invariant: modules are pure planners. Each one turns parameters and
//! a probe's output into a [`fmc_core::Plan`] (changes and actions as data); the
//! runner alone decides whether actions run (never in `--check`). No module performs
//! IO, and none looks at check mode.
//!
//! `files/` holds file-content modules (copy, template, lineinfile, ...), `system/`
//! the rest (command, services, packages, users, facts, ...).

pub mod common;
pub mod files;
pub mod registry;
pub mod system;

pub use registry::{Registry, registry};
