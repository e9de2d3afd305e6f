//! Up-front checks of a loaded playbook, before any host is touched: unknown
//! modules and parameters, notify targets that name no handler, `vars_files` that
//! do not exist. Problems found here make `fmc-run` exit with status 4.

use fmc_core::Value;
use fmc_core::module::{check_param_names, closest};
use fmc_playbook::{Play, Playbook, RoleInvocation, Task, TaskAction};

use crate::controller::{self, canonical};

/// One problem, located.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// `file:line:col`.
    pub location: String,
    /// The task's name; empty for a problem of the play itself.
    pub task: String,
    pub msg: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.task.is_empty() {
            write!(f, "{}: {}", self.location, self.msg)
        } else {
            write!(f, "{}: task '{}': {}", self.location, self.task, self.msg)
        }
    }
}

/// `vars_files` without a template in the path that do not exist.
fn vars_files_problems(play: &Play) -> Vec<Problem> {
    play.vars_files
        .iter()
        .filter(|f| !has_template(&Value::String((*f).clone())))
        .filter_map(|f| {
            let path = play.base_dir.join(f);
            (!path.is_file()).then(|| Problem {
                location: play.span.to_string(),
                task: String::new(),
                msg: format!(
                    "play '{}': vars_files '{f}' not found\nhint: looked for {}",
                    play.name,
                    path.display()
                ),
            })
        })
        .collect()
}

/// Every task of a play, in the order they run (roles included, handlers last).
pub fn play_tasks(play: &Play) -> Vec<&Task> {
    play.all_tasks(true)
}

fn has_template(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains("{{") || s.contains("{%"),
        Value::Array(a) => a.iter().any(has_template),
        Value::Object(m) => m.values().any(has_template),
        _ => false,
    }
}

/// Template syntax errors in a task's strings and conditions.
fn template_problems(templar: &fmc_template::Templar, t: &Task) -> Vec<String> {
    let mut out = vec![];
    let conds = [
        ("when", Some(&t.when)),
        ("changed_when", t.changed_when.as_ref()),
        ("failed_when", t.failed_when.as_ref()),
        ("until", t.until.as_ref()),
    ];
    for (what, list) in conds {
        for c in list.into_iter().flatten() {
            if let Err(e) = templar.check_cond(c) {
                out.push(format!("{what} '{c}': template syntax error: {e}"));
            }
        }
    }
    fn walk(templar: &fmc_template::Templar, what: &str, v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => {
                if let Err(e) = templar.check_syntax(s) {
                    out.push(format!("{what}: template syntax error: {e}"));
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(templar, what, x, out)),
            Value::Object(m) => m
                .iter()
                .for_each(|(k, x)| walk(templar, &format!("{what}.{k}"), x, out)),
            _ => {}
        }
    }
    if let Some(n) = &t.name {
        walk(templar, "name", &Value::String(n.clone()), &mut out);
    }
    if let TaskAction::Module { module, args } = &t.action {
        walk(templar, module, &Value::Object(args.clone()), &mut out);
    }
    if let Some(l) = &t.loop_spec {
        walk(templar, "loop", &l.items, &mut out);
    }
    walk(templar, "vars", &Value::Object(t.vars.clone()), &mut out);
    out
}

/// Checks every play; an empty result means the playbook may run.
pub fn validate(pb: &Playbook) -> Vec<Problem> {
    let reg = fmc_modules::registry();
    let templar = fmc_template::Templar::new();
    let mut problems = vec![];
    for play in &pb.plays {
        problems.extend(vars_files_problems(play));
        let tasks = play_tasks(play);
        // Roles included at run time may bring handlers we cannot see yet.
        let dynamic_roles = tasks
            .iter()
            .any(|t| matches!(t.action, TaskAction::IncludeRole { .. }));
        let handler_names: Vec<&Task> = tasks
            .iter()
            .copied()
            .filter(|t| is_handler(play, t))
            .collect();
        for t in &tasks {
            let problem = |msg: String| Problem {
                location: t.span.to_string(),
                task: t.display_name(),
                msg,
            };
            for msg in template_problems(&templar, t) {
                problems.push(problem(msg));
            }
            if let TaskAction::Module { module, args } = &t.action {
                let name = canonical(module);
                if controller::is_controller_action(name) {
                    let allowed = controller::params_of(name);
                    if name != "set_fact" {
                        for k in args.keys() {
                            if !allowed.contains(&k.as_str()) {
                                let hint = closest(k, allowed)
                                    .map(|h| format!(" (did you mean '{h}'?)"))
                                    .unwrap_or_default();
                                problems.push(problem(format!(
                                    "unsupported parameter '{k}' for module {name}{hint}"
                                )));
                            }
                        }
                    }
                } else {
                    match reg.get(module) {
                        None => {
                            let hint = closest(name, &reg.all_names())
                                .map(|h| format!(" (did you mean '{h}'?)"))
                                .unwrap_or_default();
                            problems.push(problem(format!("unknown module '{module}'{hint}")));
                        }
                        Some(f) => {
                            if let Err(e) = check_param_names(f.info(), args) {
                                problems.push(problem(e.to_string()));
                            } else if !has_template(&Value::Object(args.clone()))
                                && let Err(e) = f.prepare(args)
                            {
                                problems.push(problem(e.to_string()));
                            }
                        }
                    }
                }
            }
            for n in &t.notify {
                if n.contains("{{") || dynamic_roles {
                    continue;
                }
                if !handler_names
                    .iter()
                    .any(|h| crate::play::handler_matches(h, n))
                {
                    problems.push(problem(format!("notify: no handler named '{n}'")));
                }
            }
        }
    }
    problems
}

fn is_handler(play: &Play, t: &Task) -> bool {
    fn in_role(inv: &RoleInvocation, t: &Task) -> bool {
        inv.role.handlers.iter().any(|h| std::ptr::eq(h, t))
            || inv.role.dependencies.iter().any(|d| in_role(d, t))
    }
    play.handlers.iter().any(|h| std::ptr::eq(h, t)) || play.roles.iter().any(|r| in_role(r, t))
}
