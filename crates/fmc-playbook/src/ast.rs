//! The untemplated playbook AST. Strings that may hold Jinja (`"{{ x }}"`) are kept
//! verbatim; the runner templates them per host at run time.
//!
//! Static structure is resolved at load time: `import_playbook`, `import_tasks` and
//! `import_role` are expanded (an import becomes a [`TaskAction::Block`] carrying the
//! import's keywords), roles are loaded with their dependencies, and every task's
//! `tags` already holds its *effective* tags (its own plus everything inherited from
//! the play, role invocation, role name, blocks and imports). `include_tasks` and
//! `include_role` stay dynamic and are loaded by the runner through
//! [`crate::load_tasks_file`] / [`crate::load_role`] with the same inheritance.

use std::path::PathBuf;
use std::sync::Arc;

use fmc_core::{Map, Span, Value};

#[derive(Clone, Debug)]
pub struct Playbook {
    pub path: PathBuf,
    /// Plays in order, `import_playbook` already expanded.
    pub plays: Vec<Play>,
}

/// `serial:` entries; the last one repeats (Ansible semantics).
#[derive(Clone, Debug, PartialEq)]
pub enum Serial {
    Count(u64),
    Percent(f64),
}

#[derive(Clone, Debug)]
pub struct Play {
    pub name: String,
    /// Host pattern, possibly templated.
    pub hosts: String,
    pub span: Span,
    /// Directory of the playbook file that defined this play (for relative paths,
    /// `playbook_dir`, `group_vars/` and `host_vars/` beside the playbook).
    pub base_dir: PathBuf,
    pub vars: Map,
    /// Paths (possibly templated), relative to `base_dir`.
    pub vars_files: Vec<String>,
    /// From `roles:`, in order; dependencies are inside each [`Role`].
    pub roles: Vec<RoleInvocation>,
    pub pre_tasks: Vec<Task>,
    pub tasks: Vec<Task>,
    pub post_tasks: Vec<Task>,
    pub handlers: Vec<Task>,
    pub gather_facts: bool,
    pub serial: Vec<Serial>,
    pub tags: Vec<String>,
    pub any_errors_fatal: bool,
    pub max_fail_percentage: Option<f64>,
    pub force_handlers: bool,
    /// Keywords every task of the play inherits unless it overrides them.
    pub defaults: TaskDefaults,
}

/// Keywords that plays, role invocations and blocks pass down to their tasks.
#[derive(Clone, Debug, Default)]
pub struct TaskDefaults {
    pub r#become: Option<bool>,
    pub become_user: Option<String>,
    pub become_method: Option<String>,
    pub remote_user: Option<String>,
    pub connection: Option<String>,
    pub environment: Option<Value>,
    /// A boolean, or a template the runner evaluates per host.
    pub no_log: Option<Value>,
    pub check_mode: Option<bool>,
    pub ignore_errors: Option<Value>,
    pub ignore_unreachable: Option<bool>,
    pub any_errors_fatal: Option<bool>,
    pub diff: Option<bool>,
    pub delegate_to: Option<String>,
    pub run_once: Option<bool>,
    /// `timeout:` seconds for the task action (untemplated).
    pub timeout: Option<Value>,
    /// `throttle:` at most this many hosts run the task at once (untemplated).
    pub throttle: Option<Value>,
}

impl TaskDefaults {
    /// `self` over `parent`: every keyword `self` leaves unset comes from `parent`.
    pub fn inherit(&self, parent: &TaskDefaults) -> TaskDefaults {
        fn pick<T: Clone>(own: &Option<T>, parent: &Option<T>) -> Option<T> {
            own.as_ref().or(parent.as_ref()).cloned()
        }
        TaskDefaults {
            r#become: pick(&self.r#become, &parent.r#become),
            become_user: pick(&self.become_user, &parent.become_user),
            become_method: pick(&self.become_method, &parent.become_method),
            remote_user: pick(&self.remote_user, &parent.remote_user),
            connection: pick(&self.connection, &parent.connection),
            environment: pick(&self.environment, &parent.environment),
            no_log: pick(&self.no_log, &parent.no_log),
            check_mode: pick(&self.check_mode, &parent.check_mode),
            ignore_errors: pick(&self.ignore_errors, &parent.ignore_errors),
            ignore_unreachable: pick(&self.ignore_unreachable, &parent.ignore_unreachable),
            any_errors_fatal: pick(&self.any_errors_fatal, &parent.any_errors_fatal),
            diff: pick(&self.diff, &parent.diff),
            delegate_to: pick(&self.delegate_to, &parent.delegate_to),
            run_once: pick(&self.run_once, &parent.run_once),
            timeout: pick(&self.timeout, &parent.timeout),
            throttle: pick(&self.throttle, &parent.throttle),
        }
    }
}

/// A role applied by a play's `roles:` (or a role dependency).
#[derive(Clone, Debug)]
pub struct RoleInvocation {
    pub role: Arc<Role>,
    /// Parameters given where the role is applied (`- role: x` + keys, or `vars:`).
    pub vars: Map,
    pub when: Vec<String>,
    /// The invocation's own tags (the role's name is added to every task's tags).
    pub tags: Vec<String>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Role {
    pub name: String,
    pub path: PathBuf,
    /// `defaults/main.yml` (lowest precedence).
    pub defaults: Map,
    /// `vars/main.yml` (high precedence).
    pub vars: Map,
    /// `tasks/main.yml` (or the `tasks_from` file), tags already effective.
    pub tasks: Vec<Task>,
    /// `handlers/main.yml`.
    pub handlers: Vec<Task>,
    /// `meta/main.yml` `dependencies`, run before the role.
    pub dependencies: Vec<RoleInvocation>,
    pub allow_duplicates: bool,
}

/// `loop:` and the `with_*` family.
#[derive(Clone, Debug, PartialEq)]
pub enum LoopKind {
    /// `loop:` and `with_items` (`with_items` flattens one level).
    Loop,
    WithItems,
    WithDict,
    WithFileglob,
    WithFirstFound,
    WithList,
    WithIndexedItems,
    WithNested,
    WithSubelements,
    WithSequence,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LoopSpec {
    pub kind: LoopKind,
    /// Untemplated: a list, or a string such as `"{{ users }}"`.
    pub items: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LoopControl {
    /// Default `item`.
    pub loop_var: String,
    pub index_var: Option<String>,
    /// Template for the per-item label in output.
    pub label: Option<String>,
    /// Seconds between items.
    pub pause: Option<f64>,
    pub extended: bool,
}

impl Default for LoopControl {
    fn default() -> Self {
        LoopControl {
            loop_var: "item".into(),
            index_var: None,
            label: None,
            pause: None,
            extended: false,
        }
    }
}

#[derive(Clone, Debug)]
pub enum TaskAction {
    /// A module call. `module` is the name as written (`copy`, `ansible.builtin.copy`);
    /// free-form text (`command: echo hi`) is in `args["_raw_params"]`; `args:` is
    /// merged in. Values are untemplated.
    Module { module: String, args: Map },
    /// `block`/`rescue`/`always`, and expanded `import_tasks`/`import_role`.
    Block {
        block: Vec<Task>,
        rescue: Vec<Task>,
        always: Vec<Task>,
    },
    /// Dynamic `include_tasks: file` (possibly templated), resolved by the runner
    /// relative to `base_dir` (the including file's role `tasks/` or directory).
    IncludeTasks {
        file: String,
        base_dir: PathBuf,
        apply: Option<Box<Apply>>,
    },
    /// Dynamic `include_role`.
    IncludeRole {
        name: String,
        tasks_from: Option<String>,
        vars: Map,
        search_from: PathBuf,
        apply: Option<Box<Apply>>,
    },
    /// `meta: flush_handlers` etc.
    Meta(String),
}

/// `apply:` of `include_tasks` / `include_role`: block keywords given to every task
/// the include loads (see [`crate::apply_to_included`]).
#[derive(Clone, Debug, Default)]
pub struct Apply {
    pub tags: Vec<String>,
    /// ANDed before each included task's own conditions.
    pub when: Vec<String>,
    pub vars: Map,
    pub keywords: TaskDefaults,
}

#[derive(Clone, Debug)]
pub struct Task {
    /// As written (may be templated); `None` when the task has no `name`.
    pub name: Option<String>,
    pub span: Span,
    pub action: TaskAction,
    /// Role that owns the task (for `role : task` display and `role_path`).
    pub role: Option<Arc<RoleRef>>,
    /// Conditions, ANDed (`when:` string or list), untemplated expressions.
    pub when: Vec<String>,
    pub loop_spec: Option<LoopSpec>,
    pub loop_control: LoopControl,
    pub register: Option<String>,
    pub notify: Vec<String>,
    /// Handlers only: extra topics this handler answers to.
    pub listen: Vec<String>,
    /// Effective tags (own + inherited + role name).
    pub tags: Vec<String>,
    pub vars: Map,
    /// `changed_when` / `failed_when`: a bool or expressions (ANDed / ORed like Ansible:
    /// a list is ANDed for both).
    pub changed_when: Option<Vec<String>>,
    pub failed_when: Option<Vec<String>>,
    pub until: Option<Vec<String>>,
    pub retries: Option<Value>,
    pub delay: Option<Value>,
    pub delegate_facts: bool,
    /// Inherited keywords merged with the task's own (task wins).
    pub keywords: TaskDefaults,
}

/// Which role a task belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleRef {
    pub name: String,
    pub path: PathBuf,
    /// The role's `defaults/main` (same as [`Role::defaults`]), so tasks of a role
    /// expanded by `import_role` can see them.
    pub defaults: Arc<Map>,
    /// The role's `vars/main` (same as [`Role::vars`]).
    pub vars: Arc<Map>,
}

impl Task {
    /// The name shown in output: `role : name`, or the module name when unnamed.
    pub fn display_name(&self) -> String {
        let base = match (&self.name, &self.action) {
            (Some(n), _) => n.clone(),
            (None, TaskAction::Module { module, .. }) => module.clone(),
            (None, TaskAction::Block { .. }) => "block".into(),
            (None, TaskAction::IncludeTasks { file, .. }) => format!("include_tasks {file}"),
            (None, TaskAction::IncludeRole { name, .. }) => format!("include_role {name}"),
            (None, TaskAction::Meta(m)) => format!("meta: {m}"),
        };
        match &self.role {
            Some(r) => format!("{} : {}", r.name, base),
            None => base,
        }
    }
}

/// Every task of `tasks` depth first, each block before its `block`, `rescue` and
/// `always` tasks. Included files are not followed (they are loaded at run time).
pub fn flatten_tasks(tasks: &[Task]) -> Vec<&Task> {
    let mut out = vec![];
    push_flat(tasks, &mut out);
    out
}

fn push_flat<'a>(tasks: &'a [Task], out: &mut Vec<&'a Task>) {
    for t in tasks {
        out.push(t);
        if let TaskAction::Block {
            block,
            rescue,
            always,
        } = &t.action
        {
            for list in [block, rescue, always] {
                push_flat(list, out);
            }
        }
    }
}

impl Play {
    /// Every task of the play in the order they run: `pre_tasks`, the roles (dependencies
    /// first, each role once), `tasks`, `post_tasks`, blocks flattened as in
    /// [`flatten_tasks`]. With `handlers`, each role's handlers follow its tasks and the
    /// play's handlers come last.
    pub fn all_tasks(&self, handlers: bool) -> Vec<&Task> {
        fn role<'a>(
            inv: &'a RoleInvocation,
            handlers: bool,
            out: &mut Vec<&'a Task>,
            seen: &mut std::collections::HashSet<&'a std::path::Path>,
        ) {
            for d in &inv.role.dependencies {
                role(d, handlers, out, seen);
            }
            if seen.insert(&inv.role.path) {
                push_flat(&inv.role.tasks, out);
                if handlers {
                    push_flat(&inv.role.handlers, out);
                }
            }
        }
        let mut out = vec![];
        let mut seen = std::collections::HashSet::new();
        push_flat(&self.pre_tasks, &mut out);
        for r in &self.roles {
            role(r, handlers, &mut out, &mut seen);
        }
        push_flat(&self.tasks, &mut out);
        push_flat(&self.post_tasks, &mut out);
        if handlers {
            push_flat(&self.handlers, &mut out);
        }
        out
    }
}
