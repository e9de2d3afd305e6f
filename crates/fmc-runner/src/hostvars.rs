//! Per-host state shared across plays, and the `hostvars` provider built on it.

use std::sync::{Arc, Mutex, PoisonError, RwLock};

use fmc_core::{Facts, HostRecap, Map, Value};
use fmc_template::{HostVars, Vars};
use indexmap::IndexMap;

use crate::probes::ProbeCache;

/// Everything the run knows about one host, shared by all plays.
pub(crate) struct HostCtx {
    pub name: String,
    /// Inventory variables (untemplated).
    pub inventory: Arc<Map>,
    /// `inventory_hostname`, `group_names`, ... for this host.
    pub magic: Arc<Map>,
    /// Gathered facts as variables (`ansible_*`, `ansible_facts`).
    pub facts_vars: RwLock<Arc<Map>>,
    pub facts: RwLock<Option<Facts>>,
    /// `set_fact`, `register` results.
    pub runtime: RwLock<Arc<Map>>,
    /// include_vars results (templated lazily).
    pub included: RwLock<Arc<Map>>,
    pub recap: Mutex<HostRecap>,
    /// Probe outputs prefetched for later tasks of this host.
    pub probes: Mutex<ProbeCache>,
}

impl HostCtx {
    pub fn new(name: &str, inventory: Map, magic: Map) -> Self {
        HostCtx {
            name: name.to_string(),
            inventory: Arc::new(inventory),
            magic: Arc::new(magic),
            facts_vars: RwLock::new(Arc::new(Map::new())),
            facts: RwLock::new(None),
            runtime: RwLock::new(Arc::new(Map::new())),
            included: RwLock::new(Arc::new(Map::new())),
            recap: Mutex::new(HostRecap::default()),
            probes: Mutex::new(ProbeCache::default()),
        }
    }

    pub fn facts_snapshot(&self) -> Arc<Map> {
        self.facts_vars
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn runtime_snapshot(&self) -> Arc<Map> {
        self.runtime
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Variables of `include_vars`: templated when used (unlike set_fact's), below
    /// set_fact/register in precedence.
    pub fn included_snapshot(&self) -> Arc<Map> {
        self.included
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn set_included(&self, key: &str, value: Value) {
        let mut guard = self
            .included
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::make_mut(&mut guard).insert(key.to_string(), value);
    }

    pub fn set_runtime(&self, key: &str, value: Value) {
        let mut guard = self.runtime.write().unwrap_or_else(PoisonError::into_inner);
        Arc::make_mut(&mut guard).insert(key.to_string(), value);
    }

    pub fn set_facts(&self, facts: Facts) {
        let vars = facts.to_vars();
        *self.facts.write().unwrap_or_else(PoisonError::into_inner) = Some(facts);
        *self
            .facts_vars
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(vars);
    }

    /// Merges a module's `ansible_facts` result (service_facts, package_facts, setup)
    /// into the host's facts, both under `ansible_facts` and as `ansible_<name>`.
    pub fn merge_facts(&self, new: &Map) {
        let mut guard = self
            .facts_vars
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let vars = Arc::make_mut(&mut guard);
        let mut af = match vars.remove("ansible_facts") {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        for (k, v) in new {
            af.insert(k.clone(), v.clone());
            vars.insert(format!("ansible_{k}"), v.clone());
        }
        vars.insert("ansible_facts".into(), Value::Object(af));
    }

    /// `meta: clear_facts`.
    pub fn clear_facts(&self) {
        *self.facts.write().unwrap_or_else(PoisonError::into_inner) = None;
        *self
            .facts_vars
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(Map::new());
    }

    pub fn facts(&self) -> Option<Facts> {
        self.facts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn bump(&self, f: impl FnOnce(&mut HostRecap)) {
        f(&mut self.recap.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// The host's probe cache.
    pub fn probe_cache(&self) -> std::sync::MutexGuard<'_, ProbeCache> {
        self.probes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn recap(&self) -> HostRecap {
        *self.recap.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `hostvars[host]`: inventory vars, facts, runtime vars and magic vars of any host,
/// plus the run-wide layers (groups, extra vars).
#[derive(Clone)]
pub(crate) struct RunHostVars {
    pub hosts: Arc<IndexMap<String, Arc<HostCtx>>>,
    /// `groups` and other run-wide magic variables.
    pub global: Arc<Map>,
    pub defaults: Arc<Map>,
    pub extra: Arc<Map>,
}

impl RunHostVars {
    /// The variables of `host` outside any play: what `hostvars[host]` shows.
    pub fn base_vars(&self, host: &HostCtx) -> Vars {
        let mut v = Vars::new();
        v.push("magic (global)", self.global.clone());
        v.push("defaults (flags)", self.defaults.clone());
        v.push("inventory", host.inventory.clone());
        v.push_literal("facts", host.facts_snapshot());
        v.push_literal("set_fact/register", host.runtime_snapshot());
        v.push("magic", host.magic.clone());
        v.push("extra vars", self.extra.clone());
        v.set_hostvars(Arc::new(self.clone()));
        v
    }
}

impl HostVars for RunHostVars {
    fn host_names(&self) -> Vec<String> {
        self.hosts.keys().cloned().collect()
    }

    fn vars_of(&self, host: &str) -> Option<Vars> {
        self.hosts.get(host).map(|h| self.base_vars(h))
    }
}
