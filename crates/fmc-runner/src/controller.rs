//! Actions that run on the controller: `debug`, `set_fact`, `assert`, `fail`,
//! `pause`, `include_vars`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fmc_core::lenient::{to_bool, to_string};
use fmc_core::{HostStatus, Map, Value};
use fmc_playbook::Task;
use fmc_template::Vars;

use crate::exec::{ActionResult, located};
use crate::files::{find_in, search_dirs};
use crate::hostvars::HostCtx;
use crate::play::Run;

/// Controller-side actions, by canonical name.
pub(crate) const CONTROLLER_ACTIONS: &[&str] = &[
    "debug",
    "set_fact",
    "assert",
    "fail",
    "pause",
    "include_vars",
];

/// Parameters each controller action accepts (for up-front validation).
pub(crate) fn params_of(action: &str) -> &'static [&'static str] {
    match action {
        "debug" => &["msg", "var", "verbosity"],
        "set_fact" => &[],
        "assert" => &["that", "msg", "fail_msg", "success_msg", "quiet"],
        "fail" => &["msg"],
        "pause" => &["seconds", "minutes", "prompt", "echo"],
        "include_vars" => &[
            "file",
            "dir",
            "name",
            "_raw_params",
            "depth",
            "files_matching",
            "ignore_unknown_extensions",
            "extensions",
        ],
        _ => &[],
    }
}

/// `ansible.builtin.debug` -> `debug`.
pub(crate) fn canonical(name: &str) -> &str {
    name.strip_prefix("ansible.builtin.")
        .or_else(|| name.strip_prefix("ansible.legacy."))
        .unwrap_or(name)
}

pub(crate) fn is_controller_action(name: &str) -> bool {
    CONTROLLER_ACTIONS.contains(&canonical(name))
}

impl Run<'_> {
    pub(crate) async fn run_controller(
        &self,
        name: &str,
        raw: &Map,
        task: &Task,
        vars: &Vars,
        host: &Arc<HostCtx>,
        delegate: Option<&str>,
    ) -> ActionResult {
        // `var` and `that` are expressions, not templates.
        let mut args = Map::new();
        for (k, v) in raw {
            if (name == "debug" && k == "var") || (name == "assert" && k == "that") {
                args.insert(k.clone(), v.clone());
                continue;
            }
            match self.templar.render_value(v, vars) {
                Ok(r) => {
                    args.insert(k.clone(), r);
                }
                Err(e) => return ActionResult::failed(self.tmpl_err(task, k, &e)),
            }
        }
        match name {
            "debug" => self.debug(&args, task, vars),
            "set_fact" => {
                let target = if task.delegate_facts {
                    delegate.and_then(|d| self.hosts.get(d)).unwrap_or(host)
                } else {
                    host
                };
                let mut facts = Map::new();
                for (k, v) in args {
                    if k == "cacheable" {
                        continue;
                    }
                    target.set_runtime(&k, v.clone());
                    facts.insert(k, v);
                }
                let mut res = Map::new();
                res.insert("ansible_facts".into(), Value::Object(facts));
                ActionResult::ok(res)
            }
            "assert" => self.assert(&args, task, vars),
            "fail" => ActionResult::failed(
                args.get("msg")
                    .and_then(to_string)
                    .unwrap_or_else(|| "Failed as requested from task".into()),
            ),
            "pause" => {
                if args.contains_key("prompt") {
                    return ActionResult::failed(
                        "pause with a prompt is not supported (fmc runs non-interactively); use seconds/minutes",
                    );
                }
                let secs = args
                    .get("seconds")
                    .and_then(to_string)
                    .and_then(|s| s.parse::<f64>().ok())
                    .unwrap_or(0.0)
                    + 60.0
                        * args
                            .get("minutes")
                            .and_then(to_string)
                            .and_then(|s| s.parse::<f64>().ok())
                            .unwrap_or(0.0);
                tokio::time::sleep(Duration::from_secs_f64(secs.max(0.0))).await;
                // Hosts may change while the play waits: probe afresh afterwards.
                self.conns.invalidate_probes();
                ActionResult::ok(Map::new())
            }
            "include_vars" => self.include_vars(&args, task, host),
            other => ActionResult::failed(format!("unknown controller action '{other}'")),
        }
    }

    fn debug(&self, args: &Map, task: &Task, vars: &Vars) -> ActionResult {
        let verbosity = args
            .get("verbosity")
            .and_then(to_string)
            .and_then(|s| s.parse::<u8>().ok())
            .unwrap_or(0);
        if verbosity > self.opts.verbosity {
            return ActionResult::skipped(format!("verbosity threshold not met ({verbosity})"));
        }
        let mut res = Map::new();
        if let Some(var) = args.get("var").and_then(to_string) {
            let v = match self.templar.eval_expr(&var, vars) {
                Ok(v) => v,
                Err(e) if e.undefined().is_some() => {
                    Value::String("VARIABLE IS NOT DEFINED!".into())
                }
                Err(e) => return ActionResult::failed(self.tmpl_err(task, "var", &e)),
            };
            res.insert(var, v);
        } else {
            let msg = args
                .get("msg")
                .cloned()
                .unwrap_or_else(|| Value::String("Hello world!".into()));
            res.insert("msg".into(), msg);
        }
        let mut r = ActionResult::ok(res);
        r.show = true;
        r
    }

    fn assert(&self, args: &Map, task: &Task, vars: &Vars) -> ActionResult {
        let conds: Vec<String> = match args.get("that") {
            Some(Value::Array(a)) => a.iter().filter_map(to_string).collect(),
            Some(v) => to_string(v).into_iter().collect(),
            None => return ActionResult::failed("assert: missing required parameter 'that'"),
        };
        for c in &conds {
            match self.templar.eval_cond(c, vars) {
                Ok(true) => {}
                Ok(false) => {
                    let msg = args
                        .get("fail_msg")
                        .or_else(|| args.get("msg"))
                        .and_then(to_string)
                        .unwrap_or_else(|| "Assertion failed".into());
                    let mut r = ActionResult::failed(msg);
                    r.result
                        .insert("assertion".into(), Value::String(c.clone()));
                    r.result.insert("evaluated_to".into(), Value::Bool(false));
                    return r;
                }
                Err(e) => {
                    return ActionResult::failed(self.tmpl_err(task, &format!("assert '{c}'"), &e));
                }
            }
        }
        let quiet = args.get("quiet").and_then(to_bool).unwrap_or(false);
        let mut res = Map::new();
        res.insert(
            "msg".into(),
            Value::String(
                args.get("success_msg")
                    .and_then(to_string)
                    .unwrap_or_else(|| "All assertions passed".into()),
            ),
        );
        let mut r = ActionResult::ok(res);
        r.show = !quiet;
        r
    }

    fn include_vars(&self, args: &Map, task: &Task, host: &HostCtx) -> ActionResult {
        let failed = |msg: String| ActionResult::failed(located(task, &msg));
        let file = args
            .get("file")
            .or_else(|| args.get("_raw_params"))
            .and_then(to_string);
        let dir = args.get("dir").and_then(to_string);
        // like Ansible: the role's vars/, the role, then the playbook directory's vars/
        // and the playbook directory
        let dirs = search_dirs(
            task.role.as_ref().map(|r| r.path.as_path()),
            &self.playbook_dir,
            "vars",
        );
        let mut files: Vec<PathBuf> = vec![];
        match (file, dir) {
            (Some(f), _) => match find_in(&dirs, &f) {
                Ok(p) => files.push(p),
                Err(e) => return failed(e),
            },
            (None, Some(d)) => {
                let dir = match find_in(&dirs, &d) {
                    Ok(p) => p,
                    Err(e) => return failed(e),
                };
                match std::fs::read_dir(&dir) {
                    Ok(rd) => {
                        let mut v: Vec<PathBuf> = rd
                            .filter_map(Result::ok)
                            .map(|e| e.path())
                            .filter(|p| {
                                matches!(
                                    p.extension().and_then(|e| e.to_str()),
                                    Some("yml" | "yaml" | "json")
                                )
                            })
                            .collect();
                        v.sort();
                        files.extend(v);
                    }
                    Err(e) => return failed(format!("{}: {e}", dir.display())),
                }
            }
            (None, None) => return failed("include_vars needs 'file' or 'dir'".into()),
        }
        let mut loaded = Map::new();
        for f in &files {
            match fmc_yaml::load(f) {
                Ok(Value::Object(m)) => {
                    for (k, v) in m {
                        loaded.insert(k, v);
                    }
                }
                Ok(Value::Null) => {}
                Ok(_) => return failed(format!("{}: must be a mapping of variables", f.display())),
                Err(e) => return failed(e.to_string()),
            }
        }
        match args.get("name").and_then(to_string) {
            Some(n) => host.set_included(&n, Value::Object(loaded.clone())),
            None => {
                for (k, v) in &loaded {
                    host.set_included(k, v.clone());
                }
            }
        }
        let mut res = Map::new();
        res.insert(
            "ansible_included_var_files".into(),
            serde_json::json!(
                files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
            ),
        );
        let mut r = ActionResult::ok(res);
        r.status = HostStatus::Ok;
        r
    }
}
