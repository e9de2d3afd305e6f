//! Role directories: finding them, loading their parts, and `roles:` entries.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fmc_core::{Map, Span, Value};
use fmc_yaml::{Key, Node, NodeKind};

use crate::fields::{self, entries};
use crate::loader::{Loader, Result, Scope, parent_dir, union_tags};
use crate::task::keyword;
use crate::{PlaybookError, Role, RoleInvocation, RoleRef, TaskDefaults};

/// File names tried for `main` (and `tasks_from`) in a role sub-directory.
const EXTENSIONS: &[&str] = &["", ".yml", ".yaml", ".json"];

/// `dir/<stem>` with the first extension that names a file.
fn find_file(dir: &Path, stem: &str) -> Option<PathBuf> {
    EXTENSIONS
        .iter()
        .map(|ext| dir.join(format!("{stem}{ext}")))
        .find(|p| p.is_file())
}

/// The display name of a role given as a name or a path.
fn role_name(name: &str) -> String {
    Path::new(name)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| name.to_string())
}

impl Loader<'_> {
    /// Finds the directory of role `name`: `<search_from>/roles/<name>`,
    /// `<root>/roles/<name>`, the configured role paths, `<search_from>/<name>`, then `extra/<name>` (the
    /// directory holding the role that asks, for dependencies).
    pub fn find_role(&self, name: &str, extra: Option<&Path>, from: &Span) -> Result<PathBuf> {
        let mut tried: Vec<PathBuf> = Vec::new();
        if name.contains('/') {
            tried.push(self.search_from.join(name));
        } else {
            tried.push(self.search_from.join("roles").join(name));
            tried.push(self.root.join("roles").join(name));
            tried.extend(self.opts.role_paths.iter().map(|p| p.join(name)));
            tried.push(self.search_from.join(name));
            tried.extend(extra.map(|p| p.join(name)));
        }
        let mut seen = Vec::new();
        tried.retain(|p| {
            let new = !seen.contains(p);
            seen.push(p.clone());
            new
        });
        match tried.iter().find(|p| p.is_dir()) {
            Some(p) => Ok(p.clone()),
            None => Err(PlaybookError::RoleNotFound {
                span: from.clone(),
                name: name.to_string(),
                searched: tried,
            }),
        }
    }

    /// Loads the role in `dir`. Its tasks and handlers inherit `tags` (plus the role's
    /// name) and `keywords`; its dependencies are loaded the same way.
    pub fn load_role_dir(
        &mut self,
        name: &str,
        dir: &Path,
        tasks_from: Option<&str>,
        tags: &[String],
        keywords: &TaskDefaults,
        from: &Span,
    ) -> Result<Arc<Role>> {
        self.enter(dir, from, "role dependency", |ld| {
            let name = role_name(name);
            let defaults = ld.vars_dir(&dir.join("defaults"))?;
            let vars = ld.vars_dir(&dir.join("vars"))?;
            let role_ref = Arc::new(RoleRef {
                name: name.clone(),
                path: dir.to_path_buf(),
                defaults: Arc::new(defaults.clone()),
                vars: Arc::new(vars.clone()),
            });
            let tags = union_tags(tags, std::slice::from_ref(&name));
            let (dependencies, allow_duplicates) = ld.meta(dir, &tags, keywords)?;
            let mark = ld.handlers.len();
            let tasks_dir = dir.join("tasks");
            let tasks_file = match tasks_from {
                Some(t) => Some(find_file(&tasks_dir, t).ok_or_else(|| {
                    PlaybookError::invalid(
                        from.clone(),
                        format!(
                            "role '{name}' has no tasks file '{t}' in {}",
                            tasks_dir.display()
                        ),
                    )
                })?),
                None => find_file(&tasks_dir, "main"),
            };
            let scope = Scope {
                file: Arc::from(""),
                dir: tasks_dir,
                role: Some(role_ref),
                tags,
                keywords: keywords.clone(),
            };
            let tasks = match tasks_file {
                Some(p) => ld.tasks_file(&p, from, &scope)?,
                None => vec![],
            };
            let mut handlers = match find_file(&dir.join("handlers"), "main") {
                Some(p) => ld.tasks_file(&p, from, &scope)?,
                None => vec![],
            };
            // Handlers of roles this role imports statically belong to it.
            handlers.extend(ld.handlers.split_off(mark));
            Ok(Arc::new(Role {
                name,
                path: dir.to_path_buf(),
                defaults,
                vars,
                tasks,
                handlers,
                dependencies,
                allow_duplicates,
            }))
        })
    }

    /// `defaults/` or `vars/`: `main.yml` (or `.yaml`, `.json`, no extension), or
    /// every YAML/JSON file of a `main/` directory merged in name order.
    fn vars_dir(&self, dir: &Path) -> Result<Map> {
        if let Some(p) = find_file(dir, "main") {
            return self.vars_file(&p);
        }
        let main = dir.join("main");
        let mut vars = Map::new();
        if !main.is_dir() {
            return Ok(vars);
        }
        let read_err = |e: std::io::Error| PlaybookError::Read {
            span: Span::default(),
            path: main.display().to_string(),
            msg: e.to_string(),
        };
        let mut files: Vec<PathBuf> = fs::read_dir(&main)
            .map_err(read_err)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.extension()
                        .is_some_and(|x| x == "yml" || x == "yaml" || x == "json")
            })
            .collect();
        files.sort();
        for f in files {
            vars.extend(self.vars_file(&f)?);
        }
        Ok(vars)
    }

    fn vars_file(&self, path: &Path) -> Result<Map> {
        let (node, file) = self.read(path, &Span::default())?;
        match node.to_value() {
            Value::Object(m) => Ok(m),
            Value::Null => Ok(Map::new()),
            _ => Err(PlaybookError::invalid(
                node.span(&file),
                "a variables file must be a mapping",
            )),
        }
    }

    /// `meta/main.yml`: dependencies and `allow_duplicates`.
    fn meta(
        &mut self,
        dir: &Path,
        tags: &[String],
        keywords: &TaskDefaults,
    ) -> Result<(Vec<crate::RoleInvocation>, bool)> {
        let Some(path) = find_file(&dir.join("meta"), "main") else {
            return Ok((vec![], false));
        };
        let (node, file) = self.read(&path, &Span::default())?;
        if node.is_null() {
            return Ok((vec![], false));
        }
        let Some(items) = entries(&node) else {
            return Err(PlaybookError::invalid(
                node.span(&file),
                "role metadata must be a mapping",
            ));
        };
        let mut deps = vec![];
        let mut allow_duplicates = false;
        let extra = parent_dir(dir);
        for (k, v) in items {
            match k.name.as_str() {
                "dependencies" => {
                    deps = self.role_entries(&file, k, v, tags, keywords, Some(&extra))?;
                }
                "allow_duplicates" => allow_duplicates = fields::boolean(&file, k, v)?,
                // galaxy_info, argument_specs, collections, ...: documentation only.
                _ => {}
            }
        }
        Ok((deps, allow_duplicates))
    }

    /// `roles:` of a play or `dependencies:` of a role. In an entry, `role`/`name`,
    /// `tags`, `when`, `vars` and the inherited task keywords (`become`, ...) are
    /// keywords; every other key is a role parameter.
    pub fn role_entries(
        &mut self,
        file: &Arc<str>,
        key: &Key,
        v: &Node,
        tags: &[String],
        keywords: &TaskDefaults,
        extra: Option<&Path>,
    ) -> Result<Vec<RoleInvocation>> {
        match &v.kind {
            NodeKind::Scalar(Value::Null) => Ok(vec![]),
            NodeKind::Seq(items) => items
                .iter()
                .map(|n| self.role_entry(file, n, tags, keywords, extra))
                .collect(),
            _ => Err(fields::type_error(file, key, "a list of roles", v)),
        }
    }

    fn role_entry(
        &mut self,
        file: &Arc<str>,
        node: &Node,
        tags: &[String],
        keywords: &TaskDefaults,
        extra: Option<&Path>,
    ) -> Result<RoleInvocation> {
        let span = node.span(file);
        let mut inv_tags = Vec::new();
        let mut when = Vec::new();
        let mut vars = Map::new();
        let mut own = TaskDefaults::default();
        let name = match &node.kind {
            NodeKind::Scalar(Value::String(s)) => s.clone(),
            NodeKind::Map(items) => {
                let mut name = None;
                let mut params = Map::new();
                for (k, v) in items {
                    if keyword(file, k, v, &mut own)? {
                        continue;
                    }
                    match k.name.as_str() {
                        "role" => name = Some(fields::string(file, k, v)?),
                        "name" => {
                            let n = fields::string(file, k, v)?;
                            name.get_or_insert(n);
                        }
                        "tags" => inv_tags = fields::tags(file, k, v)?,
                        "when" => when = fields::conditions(file, k, v)?,
                        "vars" => vars = fields::mapping(file, k, v)?,
                        _ => {
                            params.insert(k.name.clone(), v.to_value());
                        }
                    }
                }
                vars.extend(params);
                name.ok_or_else(|| {
                    PlaybookError::invalid(span.clone(), "role entry needs 'role' (or 'name')")
                })?
            }
            _ => {
                return Err(PlaybookError::invalid(
                    span,
                    format!(
                        "a role entry must be a name or a mapping, got {}",
                        node.to_value()
                    ),
                ));
            }
        };
        let dir = self.find_role(&name, extra, &span)?;
        let role = self.load_role_dir(
            &name,
            &dir,
            None,
            &union_tags(tags, &inv_tags),
            &own.inherit(keywords),
            &span,
        )?;
        Ok(RoleInvocation {
            role,
            vars,
            when,
            tags: inv_tags,
            span,
        })
    }
}
