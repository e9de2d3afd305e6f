//! Name -> module lookup, accepting bare names, `ansible.builtin.NAME` and the
//! collection names real roles use (`ansible.posix.sysctl`, ...).

use std::collections::HashMap;
use std::sync::OnceLock;

use fmc_core::ModuleFactory;

pub struct Registry {
    modules: Vec<Box<dyn ModuleFactory>>,
    by_name: HashMap<&'static str, usize>,
}

impl Registry {
    fn build() -> Registry {
        let mut modules = crate::files::factories();
        modules.extend(crate::system::factories());
        let mut by_name = HashMap::new();
        for (i, m) in modules.iter().enumerate() {
            let info = m.info();
            by_name.insert(info.name, i);
            for a in info.aliases {
                by_name.insert(*a, i);
            }
        }
        Registry { modules, by_name }
    }

    /// Looks a module up by any of its names (`copy`, `ansible.builtin.copy`).
    pub fn get(&self, name: &str) -> Option<&dyn ModuleFactory> {
        let key = self
            .by_name
            .get(name)
            .or_else(|| self.by_name.get(name.strip_prefix("ansible.builtin.")?))
            .or_else(|| self.by_name.get(name.strip_prefix("ansible.legacy.")?));
        key.map(|i| self.modules[*i].as_ref())
    }

    /// Canonical names of all modules, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        let mut v: Vec<_> = self.modules.iter().map(|m| m.info().name).collect();
        v.sort_unstable();
        v
    }

    /// Every accepted name (canonical and aliases), for "did you mean" hints.
    pub fn all_names(&self) -> Vec<&'static str> {
        let mut v: Vec<_> = self.by_name.keys().copied().collect();
        v.sort_unstable();
        v
    }
}

/// The process-wide registry.
pub fn registry() -> &'static Registry {
    static REG: OnceLock<Registry> = OnceLock::new();
    REG.get_or_init(Registry::build)
}
