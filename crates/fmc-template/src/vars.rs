//! Layered variables for one host and task.

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use fmc_core::{Map, Value};

/// One named layer of variables.
#[derive(Clone)]
pub(crate) struct Layer {
    pub(crate) name: &'static str,
    pub(crate) vars: Arc<Map>,
    /// Literal layers are never templated on access (facts, registered results).
    pub(crate) literal: bool,
}

/// Layered variables for one host and task. Cheap to clone (Arc layers). Later layers win.
///
/// Values of layers added with [`Vars::push`] are templated lazily when a template reads
/// them (`a: "{{ b }}"`). Values added with [`Vars::set`] or [`Vars::push_literal`] are
/// taken as they are: Ansible treats `register` results and facts as unsafe text that is
/// never templated again, so a command printing `{{ x }}` cannot inject a template.
#[derive(Clone, Default)]
pub struct Vars {
    pub(crate) layers: Vec<Layer>,
    pub(crate) runtime: Arc<Map>,
    pub(crate) hostvars: Option<Arc<dyn HostVars>>,
    pub(crate) search_paths: Arc<Vec<PathBuf>>,
}

/// Provider of other hosts' variables for the `hostvars` template variable.
pub trait HostVars: Send + Sync {
    /// Every host name, in inventory order.
    fn host_names(&self) -> Vec<String>;
    /// The full Vars of another host (inventory vars, facts, set_fact, registered results).
    fn vars_of(&self, host: &str) -> Option<Vars>;
}

impl Vars {
    /// An empty variable set.
    pub fn new() -> Vars {
        Vars::default()
    }

    /// Pushes a layer on top (e.g. "role defaults", "inventory", "play vars", "task vars", "extra vars").
    /// Its string values are templated when read.
    pub fn push(&mut self, name: &'static str, layer: Arc<Map>) {
        self.layers.push(Layer {
            name,
            vars: layer,
            literal: false,
        });
    }

    /// Pushes a layer whose values are never templated (gathered facts, registered results).
    pub fn push_literal(&mut self, name: &'static str, layer: Arc<Map>) {
        self.layers.push(Layer {
            name,
            vars: layer,
            literal: true,
        });
    }

    /// Sets one variable in a private top-most "runtime" layer of this Vars value (copy-on-write).
    /// The value is taken literally (never templated again).
    pub fn set(&mut self, key: &str, value: Value) {
        Arc::make_mut(&mut self.runtime).insert(key.to_string(), value);
    }

    /// Raw (untemplated) lookup, top layer first.
    pub fn get_raw(&self, key: &str) -> Option<&Value> {
        self.get_entry(key).map(|(v, _)| v)
    }

    /// Raw lookup that also says whether the value must be taken literally.
    pub(crate) fn get_entry(&self, key: &str) -> Option<(&Value, bool)> {
        if let Some(v) = self.runtime.get(key) {
            return Some((v, true));
        }
        self.layers
            .iter()
            .rev()
            .find_map(|l| l.vars.get(key).map(|v| (v, l.literal)))
    }

    /// Installs the `hostvars` provider (other hosts' variables, lazily).
    pub fn set_hostvars(&mut self, hv: Arc<dyn HostVars>) {
        self.hostvars = Some(hv);
    }

    /// Directories searched by lookup('file'|'template') and the template module's includes, in order
    /// (the runner passes role files/ or templates/ dirs, then the playbook dir).
    pub fn set_search_paths(&mut self, paths: Vec<PathBuf>) {
        self.search_paths = Arc::new(paths);
    }

    /// The directories set by [`Vars::set_search_paths`].
    pub fn search_paths(&self) -> &[PathBuf] {
        &self.search_paths
    }

    /// Every variable name visible (for debug), sorted. Includes `hostvars` when installed.
    pub fn names(&self) -> Vec<String> {
        let mut names: BTreeSet<&str> = self.runtime.keys().map(String::as_str).collect();
        for layer in &self.layers {
            names.extend(layer.vars.keys().map(String::as_str));
        }
        if self.hostvars.is_some() {
            names.insert("hostvars");
        }
        names.into_iter().map(str::to_string).collect()
    }
}

/// Shows layer names and variable names only, never values (they may hold secrets).
impl fmt::Debug for Vars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Vars");
        for layer in &self.layers {
            d.field(layer.name, &layer.vars.keys().collect::<Vec<_>>());
        }
        d.field("runtime", &self.runtime.keys().collect::<Vec<_>>());
        d.field("hostvars", &self.hostvars.is_some());
        d.field("search_paths", &self.search_paths);
        d.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn layer(v: Value) -> Arc<Map> {
        match v {
            Value::Object(m) => Arc::new(m),
            _ => Arc::new(Map::new()),
        }
    }

    #[test]
    fn later_layers_win_and_runtime_is_on_top() {
        let mut v = Vars::new();
        v.push("defaults", layer(json!({"a": 1, "b": 1})));
        v.push("play", layer(json!({"a": 2})));
        assert_eq!(v.get_raw("a"), Some(&json!(2)));
        assert_eq!(v.get_raw("b"), Some(&json!(1)));
        v.set("b", json!(3));
        assert_eq!(v.get_raw("b"), Some(&json!(3)));
        assert_eq!(v.get_raw("c"), None);
    }

    #[test]
    fn set_is_copy_on_write() {
        let mut a = Vars::new();
        a.set("x", json!(1));
        let mut b = a.clone();
        b.set("x", json!(2));
        assert_eq!(a.get_raw("x"), Some(&json!(1)));
        assert_eq!(b.get_raw("x"), Some(&json!(2)));
    }

    #[test]
    fn names_are_sorted_and_unique() {
        let mut v = Vars::new();
        v.push("a", layer(json!({"z": 1, "y": 1})));
        v.push("b", layer(json!({"y": 2})));
        v.set("x", json!(0));
        assert_eq!(v.names(), vec!["x", "y", "z"]);
    }

    #[test]
    fn debug_shows_no_values() {
        let mut v = Vars::new();
        v.push("play", layer(json!({"token": "s3cret"})));
        let s = format!("{v:?}");
        assert!(s.contains("token"));
        assert!(!s.contains("s3cret"));
    }
}
