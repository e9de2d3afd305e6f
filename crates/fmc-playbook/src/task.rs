//! One task mapping -> [`Task`]: keywords, the action, blocks and static imports.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fmc_core::{Map, Span, Value};
use fmc_yaml::{Key, Node};

use crate::args::{is_free_form, parse_kv, short_name};
use crate::fields::{self, entries, type_error};
use crate::loader::{Loader, Result, Scope, union_tags};
use crate::{
    Apply, LoopControl, LoopKind, LoopSpec, PlaybookError, Role, RoleRef, TASK_KEYWORDS, Task,
    TaskAction, TaskDefaults,
};

/// Keywords Ansible has that fmc rejects instead of ignoring.
const UNSUPPORTED_TASK_KEYWORDS: &[&str] = &["async", "poll", "module_defaults", "debugger"];

/// Keywords that make no sense on a `block`.
const NOT_ON_BLOCKS: &[&str] = &[
    "loop",
    "loop_control",
    "register",
    "notify",
    "listen",
    "args",
    "action",
    "local_action",
    "changed_when",
    "failed_when",
    "until",
    "retries",
    "delay",
    "delegate_facts",
];

/// `meta:` actions Ansible knows.
const META_ACTIONS: &[&str] = &[
    "flush_handlers",
    "refresh_inventory",
    "noop",
    "clear_facts",
    "clear_host_errors",
    "end_play",
    "end_host",
    "end_batch",
    "end_role",
    "reset_connection",
    "role_complete",
];

const LOOP_CONTROL_KEYS: &[&str] = &["loop_var", "index_var", "label", "pause", "extended"];

fn loop_kind(key: &str) -> Option<LoopKind> {
    Some(match key {
        "loop" => LoopKind::Loop,
        "with_items" => LoopKind::WithItems,
        "with_dict" => LoopKind::WithDict,
        "with_fileglob" => LoopKind::WithFileglob,
        "with_first_found" => LoopKind::WithFirstFound,
        "with_list" => LoopKind::WithList,
        "with_indexed_items" => LoopKind::WithIndexedItems,
        "with_nested" => LoopKind::WithNested,
        "with_subelements" => LoopKind::WithSubelements,
        "with_sequence" => LoopKind::WithSequence,
        _ => return None,
    })
}

/// Reads a keyword shared by plays, role entries, blocks and tasks into `kw`.
/// Returns false when `key` is not one of them.
pub(crate) fn keyword(file: &str, key: &Key, v: &Node, kw: &mut TaskDefaults) -> Result<bool> {
    let raw = || (!v.is_null()).then(|| v.to_value());
    match key.name.as_str() {
        "become" => kw.r#become = fields::opt_bool(file, key, v)?,
        "become_user" => kw.become_user = fields::opt_string(file, key, v)?,
        "become_method" => kw.become_method = fields::opt_string(file, key, v)?,
        "remote_user" => kw.remote_user = fields::opt_string(file, key, v)?,
        "connection" => kw.connection = fields::opt_string(file, key, v)?,
        "delegate_to" => kw.delegate_to = fields::opt_string(file, key, v)?,
        "environment" => kw.environment = raw(),
        "no_log" => kw.no_log = fields::opt_bool_or_template(file, key, v)?,
        "check_mode" => kw.check_mode = fields::opt_bool(file, key, v)?,
        "diff" => kw.diff = fields::opt_bool(file, key, v)?,
        "ignore_unreachable" => kw.ignore_unreachable = fields::opt_bool(file, key, v)?,
        "any_errors_fatal" => kw.any_errors_fatal = fields::opt_bool(file, key, v)?,
        "run_once" => kw.run_once = fields::opt_bool(file, key, v)?,
        "ignore_errors" => kw.ignore_errors = fields::opt_bool_or_template(file, key, v)?,
        "timeout" => kw.timeout = fields::opt_count_or_template(file, key, v, false)?,
        "throttle" => kw.throttle = fields::opt_count_or_template(file, key, v, false)?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// Where the action of a task comes from.
enum Source<'n> {
    /// `module: args`.
    Module(&'n Key, &'n Node),
    /// `action:` / `local_action:`.
    Action(&'n Key, &'n Node),
}

/// Parts of a task mapping, sorted out before the action is built.
#[derive(Default)]
struct Parts<'n> {
    name: Option<String>,
    when: Vec<String>,
    loop_spec: Option<(&'n Key, LoopSpec)>,
    loop_control: LoopControl,
    register: Option<String>,
    notify: Vec<String>,
    listen: Vec<String>,
    tags: Vec<String>,
    vars: Map,
    changed_when: Option<Vec<String>>,
    failed_when: Option<Vec<String>>,
    until: Option<Vec<String>>,
    retries: Option<Value>,
    delay: Option<Value>,
    delegate_facts: bool,
    keywords: TaskDefaults,
    args: Option<(&'n Key, Map)>,
    args_node: Option<&'n Node>,
    local: bool,
    block: Option<&'n Node>,
    rescue: Option<(&'n Key, &'n Node)>,
    always: Option<(&'n Key, &'n Node)>,
    actions: Vec<(&'n Key, &'n Node)>,
    action_keyword: Option<(&'n Key, &'n Node)>,
}

impl Loader<'_> {
    /// Parses one task (or block, or import) inheriting from `scope`.
    pub fn task(&mut self, node: &Node, scope: &Scope) -> Result<Task> {
        let file: &str = &scope.file;
        let span = node.span(file);
        let Some(items) = entries(node) else {
            return Err(PlaybookError::invalid(
                span,
                format!("a task must be a mapping, got {}", node.to_value()),
            ));
        };
        let p = parts(file, items)?;
        let in_task = |e: PlaybookError| match (&p.name, e) {
            (Some(n), PlaybookError::Invalid { span, msg, hint }) => PlaybookError::Invalid {
                span,
                msg: format!("task '{n}': {msg}"),
                hint,
            },
            (_, e) => e,
        };
        let source = self.source(file, &span, &p).map_err(in_task)?;
        let mut keywords = p.keywords.clone();
        if p.local {
            if keywords.delegate_to.is_some() {
                return Err(in_task(PlaybookError::invalid(
                    span,
                    "'local_action' and 'delegate_to' cannot be used together",
                )));
            }
            keywords.delegate_to = Some("localhost".into());
        }
        let mut task = Task {
            name: p.name.clone(),
            span: span.clone(),
            action: TaskAction::Meta(String::new()),
            role: scope.role.clone(),
            when: p.when.clone(),
            loop_spec: p.loop_spec.as_ref().map(|(_, l)| l.clone()),
            loop_control: p.loop_control.clone(),
            register: p.register.clone(),
            notify: p.notify.clone(),
            listen: p.listen.clone(),
            tags: union_tags(&scope.tags, &p.tags),
            vars: p.vars.clone(),
            changed_when: p.changed_when.clone(),
            failed_when: p.failed_when.clone(),
            until: p.until.clone(),
            retries: p.retries.clone(),
            delay: p.delay.clone(),
            delegate_facts: p.delegate_facts,
            keywords: keywords.inherit(&scope.keywords),
        };
        let inner = Scope {
            tags: task.tags.clone(),
            keywords: task.keywords.clone(),
            ..scope.clone()
        };
        task.action = match source {
            None => {
                let block = p
                    .block
                    .map_or(Ok(vec![]), |b| self.task_list(b, &inner, "'block'"))?;
                let mut list = |x: Option<(&Key, &Node)>, what| match x {
                    Some((_, n)) => self.task_list(n, &inner, what),
                    None => Ok(vec![]),
                };
                let rescue = list(p.rescue, "'rescue'")?;
                let always = list(p.always, "'always'")?;
                TaskAction::Block {
                    block,
                    rescue,
                    always,
                }
            }
            Some((module, args, at)) => {
                if let Some((k, _)) = &p.loop_spec
                    && matches!(short_name(&module), "import_tasks" | "import_role")
                {
                    return Err(in_task(PlaybookError::with_hint(
                        k.span(file),
                        format!("'{}' cannot be used on {}", k.name, short_name(&module)),
                        "imports are static; use include_tasks / include_role to loop",
                    )));
                }
                let apply = match apply_node(&p) {
                    Some(n) if is_include(&module) => {
                        Some(Box::new(parse_apply(file, n).map_err(in_task)?))
                    }
                    _ => None,
                };
                self.action(&module, args, &at, &task, &inner, apply)
                    .map_err(in_task)?
            }
        };
        Ok(task)
    }

    /// The module name and arguments (with `args:` merged in), or `None` for a block.
    fn source(&self, file: &str, span: &Span, p: &Parts) -> Result<Option<(String, Map, Span)>> {
        let mut sources: Vec<Source> = p
            .actions
            .iter()
            .map(|(k, v)| Source::Module(k, v))
            .collect();
        if let Some((k, v)) = p.action_keyword {
            sources.push(Source::Action(k, v));
        }
        if p.block.is_some() {
            if let Some(s) = sources.first() {
                let k = match s {
                    Source::Module(k, _) | Source::Action(k, _) => k,
                };
                return Err(action_conflict(file, span, &["block", &k.name], &p.actions));
            }
            return Ok(None);
        }
        if let Some((k, _)) = p.rescue.or(p.always) {
            return Err(PlaybookError::invalid(
                k.span(file),
                format!("'{}' is only valid together with 'block'", k.name),
            ));
        }
        let (module, mut args, at) = match sources.as_slice() {
            [] => {
                return Err(PlaybookError::invalid(
                    span.clone(),
                    "no module/action detected in task",
                ));
            }
            [Source::Module(k, v)] => (k.name.clone(), module_args(file, k, v)?, v.span(file)),
            [Source::Action(k, v)] => action_keyword(file, k, v)?,
            many => {
                let names: Vec<&str> = many
                    .iter()
                    .map(|s| match s {
                        Source::Module(k, _) | Source::Action(k, _) => k.name.as_str(),
                    })
                    .collect();
                return Err(action_conflict(file, span, &names, &p.actions));
            }
        };
        if let Some((_, extra)) = &p.args {
            for (k, v) in extra {
                if !args.contains_key(k) {
                    args.insert(k.clone(), v.clone());
                }
            }
        }
        Ok(Some((module, args, at)))
    }

    /// Builds the action of a module-like task; `task` already has its effective
    /// tags and keywords, `inner` is the scope for tasks it imports.
    fn action(
        &mut self,
        module: &str,
        mut args: Map,
        at: &Span,
        task: &Task,
        inner: &Scope,
        apply: Option<Box<Apply>>,
    ) -> Result<TaskAction> {
        let short = short_name(module);
        if is_include(module) && args.remove("apply").is_some() && apply.is_none() {
            return Err(PlaybookError::invalid(
                at.clone(),
                format!("{short}: write 'apply' under the {short} mapping"),
            ));
        }
        match short {
            "meta" => {
                let action = take_string(&mut args, "_raw_params", at, short)?;
                no_other_args(&args, at, short)?;
                if !META_ACTIONS.contains(&action.as_str()) {
                    return Err(fields::unknown_keyword(
                        at.clone(),
                        "meta action",
                        &action,
                        META_ACTIONS,
                    ));
                }
                Ok(TaskAction::Meta(action))
            }
            "include_tasks" | "import_tasks" => {
                let file = match args.remove("file") {
                    Some(v) => string_arg(v, at, short, "file")?,
                    None => take_string(&mut args, "_raw_params", at, short)?,
                };
                no_other_args(&args, at, short)?;
                if short == "include_tasks" {
                    return Ok(TaskAction::IncludeTasks {
                        file,
                        base_dir: inner.dir.clone(),
                        apply,
                    });
                }
                if file.contains("{{") {
                    return Err(PlaybookError::with_hint(
                        at.clone(),
                        format!("import_tasks file '{file}' cannot be templated"),
                        "use include_tasks for file names built from variables",
                    ));
                }
                let path = resolve(&file, &inner.dir, inner.role.as_deref()).map_err(|tried| {
                    PlaybookError::with_hint(
                        at.clone(),
                        format!("imported task file '{file}' not found"),
                        format!("looked for {}", display_paths(&tried)),
                    )
                })?;
                let block = self.tasks_file(&path, at, inner)?;
                Ok(TaskAction::Block {
                    block,
                    rescue: vec![],
                    always: vec![],
                })
            }
            "include_role" | "import_role" => {
                let name = take_string(&mut args, "name", at, short)?;
                let tasks_from = match args.remove("tasks_from") {
                    Some(v) => Some(string_arg(v, at, short, "tasks_from")?),
                    None => None,
                };
                // Accepted for compatibility; fmc has one variable scope per role.
                args.remove("public");
                args.remove("allow_duplicates");
                no_other_args(&args, at, short)?;
                if short == "include_role" {
                    return Ok(TaskAction::IncludeRole {
                        name,
                        tasks_from,
                        vars: task.vars.clone(),
                        search_from: self.search_from.clone(),
                        apply,
                    });
                }
                let extra = inner.role.as_ref().map(|r| parent_of(&r.path));
                let dir = self.find_role(&name, extra.as_deref(), at)?;
                let role = self.load_role_dir(
                    &name,
                    &dir,
                    tasks_from.as_deref(),
                    &task.tags,
                    &task.keywords,
                    at,
                )?;
                collect_handlers(&role, &mut self.handlers);
                let mut block = dependency_blocks(&role, task);
                block.extend(role.tasks.iter().cloned());
                Ok(TaskAction::Block {
                    block,
                    rescue: vec![],
                    always: vec![],
                })
            }
            "import_playbook" => Err(PlaybookError::invalid(
                at.clone(),
                "import_playbook is only allowed at the top level of a playbook",
            )),
            "include" => Err(PlaybookError::with_hint(
                at.clone(),
                "'include' is not supported",
                "use include_tasks or import_tasks",
            )),
            _ => Ok(TaskAction::Module {
                module: module.to_string(),
                args,
            }),
        }
    }
}

/// Keys `apply:` takes besides the keywords tasks inherit.
const APPLY_KEYS: &[&str] = &[
    "tags",
    "when",
    "vars",
    "become",
    "become_user",
    "become_method",
    "remote_user",
    "connection",
    "delegate_to",
    "environment",
    "no_log",
    "check_mode",
    "diff",
    "ignore_unreachable",
    "any_errors_fatal",
    "run_once",
    "ignore_errors",
    "timeout",
    "throttle",
];

fn is_include(module: &str) -> bool {
    matches!(short_name(module), "include_tasks" | "include_role")
}

/// The `apply:` node of an include task (`include_tasks: {file: x, apply: ...}` or
/// under `args:`).
fn apply_node<'n>(p: &Parts<'n>) -> Option<&'n Node> {
    p.actions
        .first()
        .and_then(|(_, v)| v.get("apply"))
        .or_else(|| p.args_node.and_then(|n| n.get("apply")))
}

/// Parses `apply:` (a mapping of block keywords).
fn parse_apply(file: &str, node: &Node) -> Result<Apply> {
    let mut apply = Apply::default();
    if node.is_null() {
        return Ok(apply);
    }
    let Some(items) = entries(node) else {
        return Err(PlaybookError::invalid(
            node.span(file),
            format!(
                "'apply' must be a mapping of keywords, got {}",
                node.to_value()
            ),
        ));
    };
    for (k, v) in items {
        if keyword(file, k, v, &mut apply.keywords)? {
            continue;
        }
        match k.name.as_str() {
            "tags" => apply.tags = fields::tags(file, k, v)?,
            "when" => apply.when = fields::conditions(file, k, v)?,
            "vars" => apply.vars = fields::mapping(file, k, v)?,
            other => {
                return Err(fields::unknown_keyword(
                    k.span(file),
                    "'apply' keyword",
                    other,
                    APPLY_KEYS,
                ));
            }
        }
    }
    Ok(apply)
}

/// The directory holding a role directory.
fn parent_of(role_dir: &Path) -> PathBuf {
    role_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Handlers of a role and of its dependencies, dependencies first.
fn collect_handlers(role: &Role, out: &mut Vec<Task>) {
    for dep in &role.dependencies {
        collect_handlers(&dep.role, out);
    }
    out.extend(role.handlers.iter().cloned());
}

/// A role's dependencies as blocks (each with the dependency's `when`, tags and
/// params), for `import_role`; `import` is the import task.
fn dependency_blocks(role: &Role, import: &Task) -> Vec<Task> {
    role.dependencies
        .iter()
        .map(|dep| {
            let mut block = dependency_blocks(&dep.role, import);
            block.extend(dep.role.tasks.iter().cloned());
            let own_tags = union_tags(&dep.tags, std::slice::from_ref(&dep.role.name));
            Task {
                name: None,
                span: dep.span.clone(),
                action: TaskAction::Block {
                    block,
                    rescue: vec![],
                    always: vec![],
                },
                role: Some(Arc::new(RoleRef {
                    name: dep.role.name.clone(),
                    path: dep.role.path.clone(),
                    defaults: Arc::new(dep.role.defaults.clone()),
                    vars: Arc::new(dep.role.vars.clone()),
                })),
                when: dep.when.clone(),
                loop_spec: None,
                loop_control: LoopControl::default(),
                register: None,
                notify: vec![],
                listen: vec![],
                tags: union_tags(&import.tags, &own_tags),
                vars: dep.vars.clone(),
                changed_when: None,
                failed_when: None,
                until: None,
                retries: None,
                delay: None,
                delegate_facts: false,
                keywords: import.keywords.clone(),
            }
        })
        .collect()
}

/// Finds a task file: `base_dir/file`, then the role's `tasks/file`. `Err` lists
/// the paths tried.
pub(crate) fn resolve(
    file: &str,
    base_dir: &Path,
    role: Option<&RoleRef>,
) -> std::result::Result<PathBuf, Vec<PathBuf>> {
    let mut tried = vec![base_dir.join(file)];
    if let Some(r) = role {
        let in_role = r.path.join("tasks").join(file);
        if !tried.contains(&in_role) {
            tried.push(in_role);
        }
    }
    match tried.iter().find(|p| p.is_file()) {
        Some(p) => Ok(p.clone()),
        None => Err(tried),
    }
}

pub(crate) fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn action_conflict(
    file: &str,
    span: &Span,
    names: &[&str],
    actions: &[(&Key, &Node)],
) -> PlaybookError {
    // A misspelt keyword is the likelier mistake than two modules.
    for (k, _) in actions {
        if let Some(c) = fmc_core::module::closest(&k.name, TASK_KEYWORDS) {
            return PlaybookError::invalid(
                k.span(file),
                format!("unknown keyword '{}' (did you mean '{c}'?)", k.name),
            );
        }
    }
    PlaybookError::invalid(
        span.clone(),
        format!("conflicting action statements: {}", names.join(", ")),
    )
}

/// Sorts a task mapping into keywords and action candidates.
fn parts<'n>(file: &str, items: &'n [(Key, Node)]) -> Result<Parts<'n>> {
    let mut p = Parts::default();
    for (k, v) in items {
        let name = k.name.as_str();
        if UNSUPPORTED_TASK_KEYWORDS.contains(&name) {
            return Err(PlaybookError::invalid(
                k.span(file),
                format!("keyword '{name}' is not supported"),
            ));
        }
        if keyword(file, k, v, &mut p.keywords)? {
            continue;
        }
        if let Some(kind) = loop_kind(name) {
            if let Some((prev, _)) = &p.loop_spec {
                return Err(PlaybookError::invalid(
                    k.span(file),
                    format!("only one loop per task: '{}' and '{name}'", prev.name),
                ));
            }
            p.loop_spec = Some((
                k,
                LoopSpec {
                    kind,
                    items: v.to_value(),
                },
            ));
            continue;
        }
        match name {
            "name" => p.name = fields::opt_string(file, k, v)?,
            "when" => p.when = fields::conditions(file, k, v)?,
            "loop_control" => p.loop_control = loop_control(file, k, v)?,
            "register" => p.register = fields::opt_string(file, k, v)?,
            "notify" => p.notify = fields::string_list(file, k, v)?,
            "listen" => p.listen = fields::string_list(file, k, v)?,
            "tags" => p.tags = fields::tags(file, k, v)?,
            "vars" => p.vars = fields::mapping(file, k, v)?,
            "changed_when" => p.changed_when = Some(fields::conditions(file, k, v)?),
            "failed_when" => p.failed_when = Some(fields::conditions(file, k, v)?),
            "until" => p.until = Some(fields::conditions(file, k, v)?),
            "retries" => p.retries = fields::opt_count_or_template(file, k, v, false)?,
            "delay" => p.delay = fields::opt_count_or_template(file, k, v, true)?,
            "delegate_facts" => p.delegate_facts = fields::boolean(file, k, v)?,
            "args" => {
                p.args = Some((k, fields::mapping(file, k, v)?));
                p.args_node = Some(v);
            }
            "action" | "local_action" => {
                if let Some((prev, _)) = p.action_keyword {
                    return Err(PlaybookError::invalid(
                        k.span(file),
                        format!("conflicting action statements: {}, {name}", prev.name),
                    ));
                }
                p.local = name == "local_action";
                p.action_keyword = Some((k, v));
            }
            "block" => p.block = Some(v),
            "rescue" => p.rescue = Some((k, v)),
            "always" => p.always = Some((k, v)),
            _ => p.actions.push((k, v)),
        }
    }
    if p.block.is_some()
        && let Some((k, _)) = items
            .iter()
            .find(|(k, _)| NOT_ON_BLOCKS.contains(&k.name.as_str()) || k.name.starts_with("with_"))
    {
        return Err(PlaybookError::invalid(
            k.span(file),
            format!("'{}' is not allowed on a block", k.name),
        ));
    }
    Ok(p)
}

fn loop_control(file: &str, key: &Key, v: &Node) -> Result<LoopControl> {
    let mut lc = LoopControl::default();
    if v.is_null() {
        return Ok(lc);
    }
    let Some(items) = entries(v) else {
        return Err(type_error(file, key, "a mapping", v));
    };
    for (k, v) in items {
        match k.name.as_str() {
            "loop_var" => lc.loop_var = fields::string(file, k, v)?,
            "index_var" => lc.index_var = fields::opt_string(file, k, v)?,
            "label" => lc.label = fields::opt_string(file, k, v)?,
            "extended" => lc.extended = fields::boolean(file, k, v)?,
            "pause" => {
                let secs = match v.to_value() {
                    Value::Number(n) => n.as_f64(),
                    Value::String(s) => s.trim().parse().ok(),
                    _ => None,
                };
                lc.pause = Some(secs.filter(|s| *s >= 0.0).ok_or_else(|| {
                    PlaybookError::invalid(
                        k.span(file),
                        format!("'pause' must be a number of seconds, got {}", v.to_value()),
                    )
                })?);
            }
            other => {
                return Err(fields::unknown_keyword(
                    k.span(file),
                    "loop_control option",
                    other,
                    LOOP_CONTROL_KEYS,
                ));
            }
        }
    }
    Ok(lc)
}

/// Arguments written as the value of the module key.
fn module_args(file: &str, key: &Key, v: &Node) -> Result<Map> {
    let module = key.name.as_str();
    match v.to_value() {
        Value::Null => Ok(Map::new()),
        Value::Object(m) => Ok(m),
        Value::String(s) => {
            parse_kv(module, &s).map_err(|e| PlaybookError::invalid(v.span(file), e))
        }
        scalar @ (Value::Number(_) | Value::Bool(_)) if is_free_form(module) => {
            let mut m = Map::new();
            m.insert(
                "_raw_params".into(),
                Value::String(fmc_core::lenient::to_string(&scalar).unwrap_or_default()),
            );
            Ok(m)
        }
        _ => Err(PlaybookError::invalid(
            v.span(file),
            format!("arguments of '{module}' must be a mapping or 'key=value' text"),
        )),
    }
}

/// `action: copy src=a dest=b` or `action: {module: copy, src: a}`.
fn action_keyword(file: &str, key: &Key, v: &Node) -> Result<(String, Map, Span)> {
    let at = v.span(file);
    match v.to_value() {
        Value::String(s) => {
            let s = s.trim_start();
            let (module, rest) = s.split_once(|c: char| c.is_whitespace()).unwrap_or((s, ""));
            if module.is_empty() {
                return Err(PlaybookError::invalid(
                    at,
                    format!("'{}' has no module name", key.name),
                ));
            }
            let args = parse_kv(module, rest).map_err(|e| PlaybookError::invalid(at.clone(), e))?;
            Ok((module.to_string(), args, at))
        }
        Value::Object(mut m) => match m.remove("module") {
            Some(Value::String(module)) => Ok((module, m, at)),
            _ => Err(PlaybookError::invalid(
                at,
                format!("'{}' needs a 'module' name", key.name),
            )),
        },
        _ => Err(type_error(file, key, "a string or a mapping", v)),
    }
}

fn string_arg(v: Value, at: &Span, module: &str, name: &str) -> Result<String> {
    fmc_core::lenient::to_string(&v).ok_or_else(|| {
        PlaybookError::invalid(
            at.clone(),
            format!("{module}: '{name}' must be a string, got {v}"),
        )
    })
}

fn take_string(args: &mut Map, name: &str, at: &Span, module: &str) -> Result<String> {
    match args.remove(name) {
        Some(v) => string_arg(v, at, module, name),
        None if name == "_raw_params" => Err(PlaybookError::invalid(
            at.clone(),
            format!("{module} needs an argument"),
        )),
        None => Err(PlaybookError::invalid(
            at.clone(),
            format!("{module} needs '{name}'"),
        )),
    }
}

fn no_other_args(args: &Map, at: &Span, module: &str) -> Result<()> {
    match args.keys().next() {
        Some(k) => Err(PlaybookError::invalid(
            at.clone(),
            format!("{module}: unsupported option '{k}'"),
        )),
        None => Ok(()),
    }
}
