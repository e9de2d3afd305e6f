//! File-content modules.

use fmc_core::ModuleFactory;

/// All modules of this group.
pub fn factories() -> Vec<Box<dyn ModuleFactory>> {
    vec![]
}
