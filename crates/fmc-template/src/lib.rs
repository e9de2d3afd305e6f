//! Variable layers, the minijinja environment and the Ansible filters.
//!
//! Architecture invariant: pure templating. [`Vars`] holds a host's layered variables
//! (later layers win); [`Templar`] renders strings, values, conditionals and template
//! files against them with Ansible's semantics: lazy templating of variables, strict
//! undefined, native types for single expressions, `omit`, `hostvars`, lookups and the
//! Ansible filters and tests. The only side effects are the controller-side lookups
//! (`file`, `template`, `env`, `pipe`, `first_found`, `fileglob`) and the `file`/`directory`
//! tests. Error messages never contain variable values.

mod chain;
mod context;
mod error;
mod escape;
mod filters;
mod lookups;
mod templar;
mod tests;
mod vars;

pub use error::TemplateError;
pub use lookups::{fileglob_items, first_found_items};
pub use templar::Templar;
pub use vars::{HostVars, Vars};

/// The value Ansible's `omit` renders to (a unique placeholder string).
pub const OMIT: &str = "__omit_place_holder__fmc";
