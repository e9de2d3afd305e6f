//! Inventory files (YAML and INI) to hosts, groups and vars; host patterns.
//!
//! Architecture invariant: this crate knows nothing of playbooks, SSH or templates.
//! Variables stay untemplated [`Value`]s; the runner templates them later.
//!
//! Entry points: [`Inventory::load`] (what `-i` names), [`Inventory::add_vars_dir`]
//! (the playbook directory's `group_vars/` and `host_vars/`), [`Inventory::select`]
//! (host patterns for `hosts:` and `--limit`) and [`Inventory::host_vars`].

mod hostrange;
mod ini;
mod literal;
mod pattern;
mod source;
mod vars_dir;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fmc_core::{Map, Span, Value};
use indexmap::{IndexMap, IndexSet};

use crate::vars_dir::VarsDir;

/// Why an inventory could not be loaded or a host pattern not resolved.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// A file or directory could not be read.
    #[error("{path}: {msg}")]
    Io { path: String, msg: String },
    /// A YAML syntax error; it names `file:line:col`.
    #[error(transparent)]
    Yaml(#[from] fmc_yaml::YamlError),
    /// Invalid content: INI syntax (`file:line`) or a bad structure (`file`).
    #[error("{span}: {msg}")]
    Invalid { span: Span, msg: String },
    /// A host pattern that cannot be evaluated.
    #[error("invalid host pattern {pattern:?}: {msg}")]
    Pattern { pattern: String, msg: String },
}

impl InventoryError {
    fn invalid(span: Span, msg: impl Into<String>) -> Self {
        InventoryError::Invalid {
            span,
            msg: msg.into(),
        }
    }
}

/// Names Ansible answers with an implicit `localhost` (connection `local`) when the
/// inventory does not define them.
const IMPLICIT_LOCALHOST: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

const ALL: &str = "all";
const UNGROUPED: &str = "ungrouped";

/// Hosts, groups and their variables, in definition order.
///
/// `Debug` shows only names: variables may hold secrets.
#[derive(Clone)]
pub struct Inventory {
    groups: IndexMap<String, Group>,
    hosts: IndexMap<String, Host>,
    /// `group_vars/` and `host_vars/` beside the inventory sources, in source order.
    inventory_vars: Vec<VarsDir>,
    /// Those of playbook directories, in the order they were added.
    playbook_vars: Vec<(PathBuf, VarsDir)>,
    /// Every group to its hosts (recursively), computed by `finalize`.
    members: IndexMap<String, Vec<String>>,
    /// Problems that do not stop loading (see [`Inventory::warnings`]).
    warnings: Vec<String>,
}

#[derive(Clone, Default)]
struct Group {
    children: IndexSet<String>,
    parents: IndexSet<String>,
    vars: Map,
    /// `ansible_group_priority` from the inventory source (default 1).
    priority: i64,
    /// Longest distance from `all` (`all` is 0), computed by `finalize`.
    depth: usize,
}

#[derive(Clone)]
struct Host {
    /// Groups that list this host directly.
    groups: Vec<String>,
    vars: Map,
    /// The source file that first defined the host, for messages.
    file: Arc<str>,
}

impl fmt::Debug for Inventory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inventory")
            .field("hosts", &self.hosts.keys().collect::<Vec<_>>())
            .field("groups", &self.groups.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Where the host entries being added come from (sets `inventory_file`/`inventory_dir`).
pub(crate) struct SourceCtx {
    /// The path as given, for messages.
    file: Arc<str>,
    inventory_file: Option<Value>,
    inventory_dir: Option<Value>,
}

impl SourceCtx {
    fn for_file(path: &Path) -> Self {
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let dir = abs.parent().map(|d| Value::String(d.display().to_string()));
        SourceCtx {
            file: path.display().to_string().into(),
            inventory_file: Some(Value::String(abs.display().to_string())),
            inventory_dir: dir,
        }
    }

    fn for_host_list(list: &str) -> Self {
        SourceCtx {
            file: list.into(),
            inventory_file: None,
            inventory_dir: None,
        }
    }

    fn span(&self) -> Span {
        Span::file(self.file.clone())
    }

    fn line(&self, line: usize) -> Span {
        Span::new(
            self.file.clone(),
            u32::try_from(line).unwrap_or(u32::MAX),
            0,
        )
    }
}

impl Inventory {
    /// Loads every source in order (like repeated `-i`): a YAML or INI file, a
    /// directory (its files sorted, recursively, skipping `group_vars/`, `host_vars/`,
    /// hidden files, `~` backups and `.md .txt .rst .cfg .retry .orig .bak .swp .pyc
    /// .pyo .rpm`), or a comma-separated host list such as `web1,web2:2222,`.
    /// `group_vars/` and `host_vars/` beside each file source (inside each directory
    /// source) are loaded too. A file is YAML if it ends in `.yml`/`.yaml`/`.json` or
    /// parses as a mapping of groups, INI otherwise.
    pub fn load(sources: &[PathBuf]) -> Result<Inventory, InventoryError> {
        let mut inv = Inventory::empty();
        let mut basedirs: Vec<PathBuf> = Vec::new();
        for src in sources {
            if let Some(dir) = source::load_source(&mut inv, src)?
                && !basedirs.contains(&dir)
            {
                basedirs.push(dir);
            }
        }
        inv.finalize()?;
        for dir in basedirs {
            let vars = inv.load_vars_dir(&dir)?;
            inv.add_warnings(&vars.warnings);
            inv.inventory_vars.push(vars);
        }
        Ok(inv)
    }

    /// An inventory with no hosts: only the implicit `localhost` (ansible_connection
    /// `local`) is available, and it is not part of `all`. Used when no `-i` is given
    /// and no default inventory exists.
    pub fn localhost_only() -> Inventory {
        let mut inv = Inventory::empty();
        inv.compute_members();
        inv
    }

    /// Loads `group_vars/` and `host_vars/` found in `dir` (the playbook's directory).
    /// These take precedence over the inventory-adjacent ones (Ansible precedence).
    /// Adding the same directory twice has no further effect.
    pub fn add_vars_dir(&mut self, dir: &Path) -> Result<(), InventoryError> {
        let key = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        if self.playbook_vars.iter().any(|(p, _)| *p == key) {
            return Ok(());
        }
        let vars = self.load_vars_dir(dir)?;
        self.add_warnings(&vars.warnings);
        self.playbook_vars.push((key, vars));
        Ok(())
    }

    /// Problems found while loading that do not stop the run, for the user to see:
    /// a `group_vars/`/`host_vars/` file ignored because a directory (or an earlier
    /// extension) of the same name wins, as in Ansible.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    fn add_warnings(&mut self, warnings: &[String]) {
        for w in warnings {
            if !self.warnings.contains(w) {
                self.warnings.push(w.clone());
            }
        }
    }

    /// Host names in definition order (without the implicit localhost).
    pub fn host_names(&self) -> Vec<String> {
        self.hosts.keys().cloned().collect()
    }

    /// Whether `name` is an inventory host or a name of the implicit localhost
    /// (`localhost`, `127.0.0.1`, `::1`), i.e. whether [`Inventory::host_vars`] knows it.
    pub fn has_host(&self, name: &str) -> bool {
        self.hosts.contains_key(name) || IMPLICIT_LOCALHOST.contains(&name)
    }

    /// Resolves a host pattern to host names, without duplicates, as Ansible does:
    /// `all`/`*`, host and group names, `a:b` / `a,b` (union, in pattern order),
    /// `a:&b` (intersection), `a:!b` (exclusion), applied unions first, then
    /// intersections, then exclusions; globs (`web*`, `10.0.0.*`), regexes (`~web\d+`)
    /// and subscripts (`web[0]`, `web[-1]`, `web[0:2]` inclusive). A pattern that
    /// matches nothing gives `Ok(vec![])`, except that `localhost`/`127.0.0.1`/`::1`
    /// give the implicit localhost. Invalid regexes and out-of-range single
    /// subscripts are errors.
    pub fn select(&self, pattern: &str) -> Result<Vec<String>, InventoryError> {
        pattern::select(self, pattern)
    }

    /// The parts of a host pattern that name no host and no group (see Ansible's
    /// "Could not match supplied host pattern" warning); empty groups, `all`, the
    /// implicit localhost and regexes count as named, `web[0]` is checked as `web`.
    pub fn unmatched(&self, pattern: &str) -> Vec<String> {
        pattern::unmatched(self, pattern)
    }

    /// The host's merged inventory variables (untemplated), in Ansible's default
    /// precedence, lowest first (later entries replace top-level keys):
    /// 1. inventory-file vars of `all`;
    /// 2. inventory-file vars of the host's other groups, ordered by depth below
    ///    `all`, then `ansible_group_priority`, then name;
    /// 3. `group_vars/all` beside the inventory sources, then in playbook dirs;
    /// 4. `group_vars/<group>` (same group order) beside the sources, then in playbook dirs;
    /// 5. the host's inventory-file vars (with `inventory_file`, `inventory_dir`, and
    ///    `ansible_port` from `host:port`);
    /// 6. `host_vars/<host>` beside the sources, then in playbook dirs.
    ///
    /// The implicit localhost gets levels 1, 3, `ansible_connection: local` and 6.
    /// An unknown host gets an empty map.
    pub fn host_vars(&self, host: &str) -> Map {
        let mut out = Map::new();
        let entry = self.hosts.get(host);
        if entry.is_none() && !IMPLICIT_LOCALHOST.contains(&host) {
            return out;
        }
        let groups = self.vars_groups(host);
        let dirs: Vec<&VarsDir> = self
            .inventory_vars
            .iter()
            .chain(self.playbook_vars.iter().map(|(_, v)| v))
            .collect();
        if let Some(all) = self.groups.get(ALL) {
            merge(&mut out, &all.vars);
        }
        for g in &groups {
            if let Some(group) = self.groups.get(*g) {
                merge(&mut out, &group.vars);
            }
        }
        for dir in &dirs {
            if let Some(v) = dir.groups.get(ALL) {
                merge(&mut out, v);
            }
        }
        for dir in &dirs {
            for g in &groups {
                if let Some(v) = dir.groups.get(*g) {
                    merge(&mut out, v);
                }
            }
        }
        match entry {
            Some(h) => merge(&mut out, &h.vars),
            None => {
                out.insert("ansible_connection".into(), Value::String("local".into()));
            }
        }
        for dir in &dirs {
            if let Some(v) = dir.hosts.get(host) {
                merge(&mut out, v);
            }
        }
        out
    }

    /// Groups the host belongs to (directly or through children), excluding `all`,
    /// sorted by name: `["ungrouped"]` for a host in no other group, as in Ansible.
    pub fn group_names(&self, host: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .ancestors(host)
            .into_iter()
            .filter(|g| *g != ALL)
            .map(str::to_string)
            .collect();
        names.sort();
        names
    }

    /// Every group (including `all` and `ungrouped`) to its hosts (recursively
    /// through children) in definition order. This is the `groups` template variable.
    pub fn groups(&self) -> IndexMap<String, Vec<String>> {
        self.members.clone()
    }

    fn empty() -> Inventory {
        let mut groups = IndexMap::new();
        groups.insert(ALL.to_string(), Group::new());
        groups.insert(UNGROUPED.to_string(), Group::new());
        Inventory {
            groups,
            hosts: IndexMap::new(),
            inventory_vars: Vec::new(),
            playbook_vars: Vec::new(),
            members: IndexMap::new(),
            warnings: Vec::new(),
        }
    }

    fn add_group(&mut self, name: &str) {
        if !self.groups.contains_key(name) {
            self.groups.insert(name.to_string(), Group::new());
        }
    }

    /// Adds `host` to `group` (creating both as needed) and returns the host to set
    /// variables on.
    fn add_host(&mut self, host: &str, group: &str, ctx: &SourceCtx) -> &mut Host {
        self.add_group(group);
        let entry = self.hosts.entry(host.to_string()).or_insert_with(|| {
            let mut vars = Map::new();
            if let Some(f) = &ctx.inventory_file {
                vars.insert("inventory_file".into(), f.clone());
            }
            if let Some(d) = &ctx.inventory_dir {
                vars.insert("inventory_dir".into(), d.clone());
            }
            Host {
                groups: Vec::new(),
                vars,
                file: ctx.file.clone(),
            }
        });
        if !entry.groups.iter().any(|g| g == group) {
            entry.groups.push(group.to_string());
        }
        entry
    }

    /// Sets a group variable from an inventory source; `ansible_group_priority` also
    /// sets the group's priority.
    fn set_group_var(
        &mut self,
        group: &str,
        key: &str,
        value: Value,
        span: &Span,
    ) -> Result<(), InventoryError> {
        self.add_group(group);
        let Some(g) = self.groups.get_mut(group) else {
            return Ok(());
        };
        if key == "ansible_group_priority" {
            g.priority = match &value {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            }
            .ok_or_else(|| {
                InventoryError::invalid(
                    span.clone(),
                    format!("group {group}: ansible_group_priority must be an integer"),
                )
            })?;
        }
        g.vars.insert(key.to_string(), value);
        Ok(())
    }

    /// Makes `child` a child group of `parent`; refuses cycles.
    fn add_child(&mut self, parent: &str, child: &str, span: &Span) -> Result<(), InventoryError> {
        if child == ALL || parent == child || self.is_descendant(parent, child) {
            return Err(InventoryError::invalid(
                span.clone(),
                format!("adding group {child} as a child of {parent} creates a cycle"),
            ));
        }
        self.add_group(parent);
        self.add_group(child);
        if let Some(p) = self.groups.get_mut(parent) {
            p.children.insert(child.to_string());
        }
        if let Some(c) = self.groups.get_mut(child) {
            c.parents.insert(parent.to_string());
        }
        Ok(())
    }

    /// Whether `group` is reachable from `from` through children.
    fn is_descendant(&self, group: &str, from: &str) -> bool {
        let mut stack = vec![from];
        let mut seen = HashSet::new();
        while let Some(g) = stack.pop() {
            if !seen.insert(g) {
                continue;
            }
            if let Some(entry) = self.groups.get(g) {
                for c in &entry.children {
                    if c == group {
                        return true;
                    }
                    stack.push(c);
                }
            }
        }
        false
    }

    /// Checks names, assigns `ungrouped`, computes depths and group members.
    fn finalize(&mut self) -> Result<(), InventoryError> {
        if let Some((name, host)) = self
            .hosts
            .iter()
            .find(|(name, _)| self.groups.contains_key(name.as_str()))
        {
            return Err(InventoryError::invalid(
                Span::file(host.file.clone()),
                format!(
                    "{name} is both a host and a group\nhint: give the host or the group another name"
                ),
            ));
        }
        for host in self.hosts.values_mut() {
            let grouped = host.groups.iter().any(|g| g != ALL && g != UNGROUPED);
            host.groups.retain(|g| g != UNGROUPED);
            if !grouped {
                host.groups.push(UNGROUPED.to_string());
            }
        }
        self.compute_depths();
        self.compute_members();
        Ok(())
    }

    /// Longest distance from `all`, parents before children (the graph is acyclic).
    fn compute_depths(&mut self) {
        let mut pending: HashMap<String, usize> = HashMap::new();
        let mut queue: Vec<String> = Vec::new();
        for (name, g) in &self.groups {
            if g.parents.is_empty() {
                queue.push(name.clone());
            } else {
                pending.insert(name.clone(), g.parents.len());
            }
        }
        let mut depth: HashMap<String, usize> = HashMap::new();
        for name in &queue {
            depth.insert(name.clone(), usize::from(name != ALL));
        }
        while let Some(name) = queue.pop() {
            let d = depth.get(&name).copied().unwrap_or(1);
            let children = self
                .groups
                .get(&name)
                .map(|g| g.children.clone())
                .unwrap_or_default();
            for c in children {
                let e = depth.entry(c.clone()).or_insert(0);
                *e = (*e).max(d + 1);
                if let Some(n) = pending.get_mut(&c) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        queue.push(c);
                    }
                }
            }
        }
        for (name, g) in &mut self.groups {
            g.depth = depth.get(name).copied().unwrap_or(1);
        }
    }

    fn compute_members(&mut self) {
        let mut members: IndexMap<String, Vec<String>> = self
            .groups
            .keys()
            .map(|g| (g.clone(), Vec::new()))
            .collect();
        for host in self.hosts.keys() {
            for g in self.ancestors(host) {
                if let Some(list) = members.get_mut(g) {
                    list.push(host.clone());
                }
            }
        }
        self.members = members;
    }

    /// Every group the host is in, directly or through children, including `all`.
    fn ancestors(&self, host: &str) -> Vec<&str> {
        let Some(h) = self.hosts.get(host) else {
            return Vec::new();
        };
        let mut out: Vec<&str> = Vec::new();
        let mut seen: HashSet<&str> = HashSet::new();
        let mut stack: Vec<&str> = h.groups.iter().map(String::as_str).collect();
        stack.push(ALL);
        while let Some(g) = stack.pop() {
            if !seen.insert(g) {
                continue;
            }
            out.push(g);
            if let Some(entry) = self.groups.get(g) {
                stack.extend(entry.parents.iter().map(String::as_str));
            }
        }
        out
    }

    /// The host's groups other than `all`, in variable precedence order (lowest first).
    fn vars_groups(&self, host: &str) -> Vec<&str> {
        let mut groups: Vec<(&str, &Group)> = self
            .ancestors(host)
            .into_iter()
            .filter(|g| *g != ALL)
            .filter_map(|g| self.groups.get(g).map(|e| (g, e)))
            .collect();
        groups.sort_by(|(an, a), (bn, b)| {
            (a.depth, a.priority, *an).cmp(&(b.depth, b.priority, *bn))
        });
        groups.into_iter().map(|(n, _)| n).collect()
    }

    fn load_vars_dir(&self, dir: &Path) -> Result<VarsDir, InventoryError> {
        vars_dir::load(dir, |g| self.groups.contains_key(g), |h| self.has_host(h))
    }
}

impl Group {
    fn new() -> Self {
        Group {
            priority: 1,
            ..Group::default()
        }
    }
}

/// Ansible's default `hash_behaviour = replace`: top-level keys are replaced.
fn merge(into: &mut Map, from: &Map) {
    for (k, v) in from {
        into.insert(k.clone(), v.clone());
    }
}
