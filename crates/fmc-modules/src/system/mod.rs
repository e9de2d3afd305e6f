//! System modules: commands, services, packages, users, kernel settings, facts.

use fmc_core::ModuleFactory;

/// All modules of this group.
pub fn factories() -> Vec<Box<dyn ModuleFactory>> {
    vec![]
}
