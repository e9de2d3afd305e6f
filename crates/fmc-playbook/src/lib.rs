//! Playbook and role files to the untemplated [`ast`] with source spans.
//!
//! Architecture invariant: this crate never evaluates templates. Strings that may
//! hold Jinja stay verbatim; static structure (`import_playbook`, `import_tasks`,
//! `import_role`, role dependencies, tag and keyword inheritance) is resolved here,
//! dynamic includes are loaded by the runner through [`load_included_tasks`] /
//! [`load_role`].
//!
//! Handlers of statically imported roles (`import_role`) are appended to the
//! handlers of the nearest enclosing role ([`Role::handlers`]), else of the play
//! ([`Play::handlers`], after the play's own), else of [`IncludedTasks::handlers`].
//! Handlers of roles applied with `roles:` stay in their [`Role`].

mod args;
pub mod ast;
mod error;
mod fields;
mod loader;
mod play;
mod role;
mod task;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fmc_core::Span;

pub use ast::*;
pub use error::PlaybookError;

use loader::{Loader, Scope, parent_dir};

/// Where roles are searched, in order: `<playbook dir>/roles`, then these extra paths
/// (the CLI passes `--roles-path`, `ANSIBLE_ROLES_PATH`/`FMC_ROLES_PATH` entries, and
/// `<playbook dir>/../roles`), then `<playbook dir>` itself.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    pub role_paths: Vec<PathBuf>,
}

/// Task keywords (everything else in a task mapping is its module).
pub const TASK_KEYWORDS: &[&str] = &[
    "name",
    "when",
    "loop",
    "with_items",
    "with_dict",
    "with_list",
    "with_fileglob",
    "with_first_found",
    "with_indexed_items",
    "with_nested",
    "with_subelements",
    "with_sequence",
    "loop_control",
    "register",
    "notify",
    "listen",
    "tags",
    "vars",
    "become",
    "become_user",
    "become_method",
    "remote_user",
    "connection",
    "environment",
    "changed_when",
    "failed_when",
    "until",
    "retries",
    "delay",
    "delegate_to",
    "delegate_facts",
    "run_once",
    "no_log",
    "ignore_errors",
    "ignore_unreachable",
    "check_mode",
    "diff",
    "args",
    "any_errors_fatal",
    "timeout",
    "throttle",
    "local_action",
    "action",
    "block",
    "rescue",
    "always",
];

/// Play keywords (anything else is an error).
pub const PLAY_KEYWORDS: &[&str] = &[
    "name",
    "hosts",
    "vars",
    "vars_files",
    "roles",
    "pre_tasks",
    "tasks",
    "post_tasks",
    "handlers",
    "become",
    "become_user",
    "become_method",
    "remote_user",
    "connection",
    "serial",
    "gather_facts",
    "tags",
    "any_errors_fatal",
    "max_fail_percentage",
    "force_handlers",
    "environment",
    "no_log",
    "check_mode",
    "diff",
    "ignore_errors",
    "ignore_unreachable",
    "timeout",
    "throttle",
    "module_defaults",
    "strategy",
    "order",
];

/// Loads a playbook with its imported playbooks, roles and imported task files.
pub fn load_playbook(path: &Path, opts: &LoadOptions) -> Result<Playbook, PlaybookError> {
    let mut ld = Loader::new(opts, parent_dir(path));
    let mut plays = Vec::new();
    ld.playbook_file(
        path,
        &Span::default(),
        &play::Imported::default(),
        &mut plays,
    )?;
    Ok(Playbook {
        path: path.to_path_buf(),
        plays,
    })
}

/// Tasks of a dynamically included file, and the handlers of roles it imports.
#[derive(Clone, Debug, Default)]
pub struct IncludedTasks {
    pub tasks: Vec<Task>,
    /// Handlers of `import_role`s inside the file; register them with the play.
    pub handlers: Vec<Task>,
}

/// For dynamic include_tasks at run time: loads a task file with inherited tags
/// applied (the runner passes the include task's effective tags and its role).
/// Roles imported by the file are searched from the file's directory only, and
/// their handlers are dropped: use [`load_included_tasks`] when that matters.
pub fn load_tasks_file(
    path: &Path,
    inherited_tags: &[String],
    role: Option<Arc<RoleRef>>,
) -> Result<Vec<Task>, PlaybookError> {
    let search_from = parent_dir(path);
    load_included_tasks(
        path,
        inherited_tags,
        role,
        &search_from,
        &LoadOptions::default(),
    )
    .map(|i| i.tasks)
}

/// [`load_tasks_file`] with the role search path of the play (`search_from` is the
/// play's `base_dir`) and the handlers of roles the file imports.
pub fn load_included_tasks(
    path: &Path,
    inherited_tags: &[String],
    role: Option<Arc<RoleRef>>,
    search_from: &Path,
    opts: &LoadOptions,
) -> Result<IncludedTasks, PlaybookError> {
    let mut ld = Loader::new(opts, search_from.to_path_buf());
    let scope = Scope {
        file: Arc::from(""),
        dir: parent_dir(path),
        role,
        tags: inherited_tags.to_vec(),
        keywords: TaskDefaults::default(),
    };
    let tasks = ld.tasks_file(path, &Span::default(), &scope)?;
    Ok(IncludedTasks {
        tasks,
        handlers: ld.handlers,
    })
}

/// For include_role / import_role: finds and loads a role (`tasks_from` selects
/// `tasks/<x>.yml`). Its tasks carry the role's name as a tag; apply the include
/// task's tags and keywords with [`apply_inherited`].
pub fn load_role(
    name: &str,
    tasks_from: Option<&str>,
    search_from: &Path,
    opts: &LoadOptions,
) -> Result<Arc<Role>, PlaybookError> {
    let mut ld = Loader::new(opts, search_from.to_path_buf());
    let from = Span::default();
    let dir = ld.find_role(name, None, &from)?;
    ld.load_role_dir(name, &dir, tasks_from, &[], &TaskDefaults::default(), &from)
}

/// Finds a task file named by `include_tasks`/`import_tasks`: relative to
/// `base_dir`, then to the role's `tasks/`. `None` when neither exists.
pub fn resolve_tasks_file(file: &str, base_dir: &Path, role: Option<&RoleRef>) -> Option<PathBuf> {
    task::resolve(file, base_dir, role).ok()
}

/// Applies an include's `apply:` to the tasks it loaded (recursively, into blocks), as
/// Ansible's parent block would: its `tags` are added, its keywords fill what a task
/// leaves unset, its `when` is ANDed before every task's own conditions (so it is
/// evaluated per task), and its `vars` sit under each top-level task's own.
/// Call before [`apply_inherited`] so `apply:` wins over the include task's keywords.
pub fn apply_to_included(tasks: &mut [Task], apply: &Apply) {
    apply_inherited(tasks, &apply.tags, &apply.keywords);
    prepend_when(tasks, &apply.when);
    for t in tasks {
        for (k, v) in &apply.vars {
            if !t.vars.contains_key(k) {
                t.vars.insert(k.clone(), v.clone());
            }
        }
    }
}

fn prepend_when(tasks: &mut [Task], when: &[String]) {
    if when.is_empty() {
        return;
    }
    for t in tasks {
        t.when.splice(0..0, when.iter().cloned());
        if let TaskAction::Block {
            block,
            rescue,
            always,
        } = &mut t.action
        {
            for list in [block, rescue, always] {
                prepend_when(list, when);
            }
        }
    }
}

/// Applies what an include task passes down to the tasks it loaded (recursively,
/// into blocks): `tags` are added and unset keywords are taken from `keywords`.
pub fn apply_inherited(tasks: &mut [Task], tags: &[String], keywords: &TaskDefaults) {
    for t in tasks {
        t.tags = loader::union_tags(tags, &t.tags);
        t.keywords = t.keywords.inherit(keywords);
        if let TaskAction::Block {
            block,
            rescue,
            always,
        } = &mut t.action
        {
            for list in [block, rescue, always] {
                apply_inherited(list, tags, keywords);
            }
        }
    }
}
