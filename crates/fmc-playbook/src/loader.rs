//! Shared loading state: file reading, cycle detection and the inheritance scope.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fmc_core::{Span, Value};
use fmc_yaml::{Node, NodeKind};

use crate::{LoadOptions, PlaybookError, RoleRef, Task, TaskDefaults};

pub(crate) type Result<T> = std::result::Result<T, PlaybookError>;

/// State of one load call.
pub(crate) struct Loader<'a> {
    pub opts: &'a LoadOptions,
    /// Directory whose `roles/` is searched first (the current play's playbook dir).
    pub search_from: PathBuf,
    /// The directory of the file the load started from; its `roles/` is searched
    /// after `search_from`'s for plays of imported playbooks in other directories.
    pub root: PathBuf,
    /// Files and role directories being loaded, outermost first (cycle detection):
    /// canonical path and the path as written.
    stack: Vec<(PathBuf, PathBuf)>,
    /// Handlers of statically imported roles, waiting for the enclosing role or play.
    pub handlers: Vec<Task>,
}

/// What tasks parsed in one place inherit, and where relative paths start.
#[derive(Clone, Debug)]
pub(crate) struct Scope {
    pub file: Arc<str>,
    /// Directory of `file`.
    pub dir: PathBuf,
    pub role: Option<Arc<RoleRef>>,
    pub tags: Vec<String>,
    pub keywords: TaskDefaults,
}

/// The directory holding `path` (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `inherited ∪ own`, inherited first, without duplicates.
pub(crate) fn union_tags(inherited: &[String], own: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(inherited.len() + own.len());
    for t in inherited.iter().chain(own) {
        if !out.contains(t) {
            out.push(t.clone());
        }
    }
    out
}

impl<'a> Loader<'a> {
    pub fn new(opts: &'a LoadOptions, search_from: PathBuf) -> Self {
        Loader {
            opts,
            root: search_from.clone(),
            search_from,
            stack: Vec::new(),
            handlers: Vec::new(),
        }
    }

    /// Reads and parses a YAML file; `from` is where it was referenced.
    pub fn read(&self, path: &Path, from: &Span) -> Result<(Node, Arc<str>)> {
        let text = fs::read_to_string(path).map_err(|e| PlaybookError::Read {
            span: from.clone(),
            path: path.display().to_string(),
            msg: e.to_string(),
        })?;
        let file: Arc<str> = path.display().to_string().into();
        let node = fmc_yaml::parse_spanned(&text, &file)?;
        Ok((node, file))
    }

    /// Runs `f` with `path` on the stack of files being loaded; loading a file that
    /// is already being loaded is an error ("import cycle: a -> b -> a").
    pub fn enter<T>(
        &mut self,
        path: &Path,
        from: &Span,
        what: &str,
        f: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<T> {
        let key = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if let Some(pos) = self.stack.iter().position(|(k, _)| *k == key) {
            let chain: Vec<String> = self.stack[pos..]
                .iter()
                .map(|(_, shown)| shown)
                .chain([&path.to_path_buf()])
                .map(|p| p.display().to_string())
                .collect();
            return Err(PlaybookError::invalid(
                from.clone(),
                format!("{what} cycle: {}", chain.join(" -> ")),
            ));
        }
        self.stack.push((key, path.to_path_buf()));
        let r = f(self);
        self.stack.pop();
        r
    }

    /// A list of tasks (`what` names it in errors); null is empty.
    pub fn task_list(&mut self, node: &Node, scope: &Scope, what: &str) -> Result<Vec<Task>> {
        match &node.kind {
            NodeKind::Scalar(Value::Null) => Ok(vec![]),
            NodeKind::Seq(items) => items.iter().map(|n| self.task(n, scope)).collect(),
            _ => Err(PlaybookError::invalid(
                node.span(&scope.file),
                format!("{what} must be a list of tasks"),
            )),
        }
    }

    /// Loads a task file into tasks that inherit `scope`'s tags, keywords and role.
    pub fn tasks_file(&mut self, path: &Path, from: &Span, scope: &Scope) -> Result<Vec<Task>> {
        self.enter(path, from, "import", |ld| {
            let (node, file) = ld.read(path, from)?;
            let scope = Scope {
                file,
                dir: parent_dir(path),
                ..scope.clone()
            };
            ld.task_list(&node, &scope, "a task file")
        })
    }
}
