//! One task on one host: conditions, loops, retries, module execution, results.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fmc_core::secret::{redact_text, redact_value};
use fmc_core::{
    Action, CheckSupport, Connection, Event, ExecOutput, ExecRequest, FileDiff, HostStatus, Map,
    ModuleCtx, TransportError, Value,
};
use fmc_playbook::{LoopKind, Task, TaskAction};
use fmc_template::Vars;

use crate::connect::{Endpoint, HostConn, become_spec};
use crate::controller::{self, canonical};
use crate::files::TaskFiles;
use crate::hostvars::HostCtx;
use crate::play::{Run, Scope};
use crate::probes::{self, ProbeKey};

/// What the probe lookahead does with a later task.
enum Ahead {
    /// Prefetch this probe (if it runs on the same endpoint with the same `become`
    /// and environment).
    Probe(Box<(Endpoint, ProbeKey)>),
    /// Not prefetched; look further.
    Skip,
    /// Not prefetched; stop looking.
    Stop,
}

/// The tasks after the current one in its task list (same scope), whose probes may
/// ride along with the current task's probe.
#[derive(Clone, Copy)]
pub(crate) struct Lookahead<'a> {
    pub tasks: &'a [Task],
    pub scope: &'a Scope,
}

/// What the batch needs to know about a task's result on one host.
#[derive(Clone, Debug)]
pub(crate) struct TaskHostOutcome {
    pub status: HostStatus,
    pub ignored: bool,
    pub changed: bool,
    pub end_host: bool,
    pub registered: Option<Value>,
    /// The result of a failure that was not ignored (`ansible_failed_result`).
    pub failed_result: Option<Value>,
}

/// The result of running the action once (one item, one attempt).
#[derive(Clone, Debug)]
pub(crate) struct ActionResult {
    pub status: HostStatus,
    pub result: Map,
    pub msg: Option<String>,
    pub diff: Option<FileDiff>,
    pub changes: Vec<String>,
    /// Show the result even without -v (debug).
    pub show: bool,
}

impl ActionResult {
    pub fn ok(result: Map) -> Self {
        ActionResult {
            status: HostStatus::Ok,
            result,
            msg: None,
            diff: None,
            changes: vec![],
            show: false,
        }
    }
    pub fn failed(msg: impl Into<String>) -> Self {
        ActionResult {
            status: HostStatus::Failed,
            result: Map::new(),
            msg: Some(msg.into()),
            diff: None,
            changes: vec![],
            show: false,
        }
    }
    pub fn skipped(msg: impl Into<String>) -> Self {
        ActionResult {
            status: HostStatus::Skipped,
            result: Map::new(),
            msg: Some(msg.into()),
            diff: None,
            changes: vec![],
            show: false,
        }
    }
    fn unreachable(msg: impl Into<String>) -> Self {
        ActionResult {
            status: HostStatus::Unreachable,
            ..ActionResult::failed(msg)
        }
    }
    fn changed(&self) -> bool {
        self.status == HostStatus::Changed
    }
    /// The registered form: module fields plus `changed`, `failed`, `skipped`, `msg`.
    fn registered(&self) -> Map {
        let mut m = self.result.clone();
        m.insert("changed".into(), Value::Bool(self.changed()));
        m.insert(
            "failed".into(),
            Value::Bool(matches!(self.status, HostStatus::Failed)),
        );
        if self.status == HostStatus::Skipped {
            m.insert("skipped".into(), Value::Bool(true));
        }
        if self.status == HostStatus::Unreachable {
            m.insert("unreachable".into(), Value::Bool(true));
        }
        if let Some(msg) = &self.msg {
            m.entry("msg").or_insert_with(|| Value::String(msg.clone()));
        }
        m
    }
}

const CENSORED: &str =
    "the output has been hidden due to the fact that 'no_log: true' was specified for this result";

impl Run<'_> {
    /// The connection variables, templated. As in Ansible, one that fails to template
    /// fails the host: the error names the variable and the template error.
    fn conn_vars(&self, vars: &Vars) -> Result<Map, String> {
        const KEYS: &[&str] = &[
            "ansible_connection",
            "ansible_host",
            "ansible_ssh_host",
            "ansible_port",
            "ansible_ssh_port",
            "ansible_user",
            "ansible_ssh_user",
            "ansible_ssh_private_key_file",
            "ansible_private_key_file",
            "ansible_ssh_common_args",
            "ansible_ssh_extra_args",
            "ansible_become",
            "ansible_become_user",
            "ansible_become_method",
            "ansible_become_password",
            "ansible_become_pass",
        ];
        let mut m = Map::new();
        for k in KEYS {
            let Some(raw) = vars.get_raw(k) else {
                continue;
            };
            let v = self
                .templar
                .render_value(raw, vars)
                .map_err(|e| format!("connection variable '{k}': {}", with_var(&e)))?;
            m.insert((*k).to_string(), v);
        }
        Ok(m)
    }

    /// The endpoint to run on: the host itself, or the `delegate_to` target.
    fn endpoint(
        &self,
        host: &HostCtx,
        vars: &Vars,
        task: &Task,
        delegate: Option<&str>,
    ) -> Result<(Endpoint, Map), String> {
        let remote_user = task.keywords.remote_user.as_deref();
        if let Some(d) = delegate {
            if let Some(dh) = self.hosts.get(d) {
                let dvars = self.hostvars.base_vars(dh);
                let cv = self.conn_vars(&dvars)?;
                return Ok((Endpoint::from_vars(d, &cv, remote_user)?, cv));
            }
            if d == "localhost" || d == "127.0.0.1" {
                return Ok((Endpoint::local(d), Map::new()));
            }
            let mut cv = Map::new();
            cv.insert("ansible_host".into(), Value::String(d.to_string()));
            return Ok((Endpoint::from_vars(d, &cv, remote_user)?, cv));
        }
        let mut cv = self.conn_vars(vars)?;
        if let Some(c) = &task.keywords.connection {
            cv.insert("ansible_connection".into(), Value::String(c.clone()));
        }
        Ok((Endpoint::from_vars(&host.name, &cv, remote_user)?, cv))
    }

    pub(crate) async fn gather_one(&self, host: &Arc<HostCtx>) -> TaskHostOutcome {
        let start = Instant::now();
        let vars = self.hostvars.base_vars(host);
        let probe = fmc_modules::system::setup::facts_probe();
        let res = async {
            let ep = self
                .conn_vars(&vars)
                .and_then(|cv| Endpoint::from_vars(&host.name, &cv, None))
                .map_err(|e| ActionResult::failed(format!("gathering facts: {e}")))?;
            let conn = self
                .conns
                .get(&ep)
                .await
                .map_err(|e| ActionResult::unreachable(e.to_string()))?;
            let out = conn
                .probe(ExecRequest {
                    script: probe.script.clone(),
                    stdin: probe.stdin.clone(),
                    ..Default::default()
                })
                .await
                .map_err(|e| transport_result(&e))?;
            let facts = fmc_modules::system::setup::parse_facts(&out)
                .map_err(|e| ActionResult::failed(format!("gathering facts: {e}")))?;
            host.set_facts(facts);
            Ok::<_, ActionResult>(ActionResult::ok(Map::new()))
        }
        .await;
        let r = res.unwrap_or_else(|e| e);
        self.finish_host(host, "Gathering Facts", None, &r, start, false, false);
        TaskHostOutcome {
            status: r.status,
            ignored: false,
            changed: false,
            end_host: false,
            registered: None,
            failed_result: None,
        }
    }

    /// Records the recap and emits the result event of a finished task on a host.
    #[allow(clippy::too_many_arguments)]
    fn finish_host(
        &self,
        host: &HostCtx,
        task: &str,
        item: Option<String>,
        r: &ActionResult,
        start: Instant,
        ignored: bool,
        no_log: bool,
    ) {
        self.emit_result(host, task, item, r, start, ignored, no_log, None);
        host.bump(|c| count(c, r.status, ignored));
    }

    #[allow(clippy::too_many_arguments)]
    fn emit_result(
        &self,
        host: &HostCtx,
        task: &str,
        item: Option<String>,
        r: &ActionResult,
        start: Instant,
        ignored: bool,
        no_log: bool,
        delegated_to: Option<String>,
    ) {
        // Vault plaintexts are added as files are decrypted, also during the run.
        let mut secrets = self.opts.secrets.clone();
        secrets.extend(fmc_yaml::revealed_secrets());
        let secrets = &secrets;
        let (msg, result, diff) = if no_log {
            (
                r.msg.as_ref().map(|_| CENSORED.to_string()),
                Some(serde_json::json!({ "censored": CENSORED })),
                None,
            )
        } else {
            let show = r.show
                || self.opts.verbosity >= 1
                || matches!(r.status, HostStatus::Failed | HostStatus::Unreachable);
            let result = show.then(|| {
                let mut v = Value::Object(r.result.clone());
                redact_value(&mut v, secrets);
                v
            });
            let diff = r.diff.as_ref().map(|d| FileDiff {
                before: redact_text(&d.before, secrets),
                after: redact_text(&d.after, secrets),
                ..d.clone()
            });
            (
                r.msg.as_ref().map(|m| redact_text(m, secrets)),
                result,
                diff,
            )
        };
        self.emit(Event::HostResult {
            host: host.name.clone(),
            task: task.to_string(),
            status: r.status,
            ignored,
            delegated_to,
            item,
            msg,
            diff,
            changes: r.changes.clone(),
            result,
            duration_ms: start.elapsed().as_millis() as u64,
        });
    }

    pub(crate) async fn run_task_host(
        &self,
        task: &Task,
        scope: &Scope,
        host: &Arc<HostCtx>,
        ahead: &[Task],
    ) -> TaskHostOutcome {
        let start = Instant::now();
        let title = task.display_name();
        let vars = self.vars_for(host, Some(task), scope);
        // a no_log template that cannot be evaluated hides the result (the safe side)
        let no_log = match &task.keywords.no_log {
            None => false,
            Some(v) => match self.templar.render_value(v, &vars) {
                Ok(r) => fmc_core::lenient::to_bool(&r).unwrap_or(true),
                Err(_) => true,
            },
        };
        let ignore_errors = match &task.keywords.ignore_errors {
            None => false,
            Some(v) => match self.templar.render_value(v, &vars) {
                Ok(r) => fmc_core::lenient::to_bool(&r).unwrap_or(false),
                Err(_) => false,
            },
        };
        let ignore_unreachable = task.keywords.ignore_unreachable.unwrap_or(false);
        let delegate = match &task.keywords.delegate_to {
            None => None,
            Some(d) => match self.templar.render_str(d, &vars) {
                Ok(s) => Some(s),
                Err(e) => {
                    let r = ActionResult::failed(self.tmpl_err(task, "delegate_to", &e));
                    self.finish_host(host, &title, None, &r, start, false, no_log);
                    return outcome(&r, false, None);
                }
            },
        };

        // Without a loop, `when` is evaluated once; with a loop, per item.
        if task.loop_spec.is_none() {
            match self.eval_all(&task.when, &vars) {
                Ok(true) => {}
                Ok(false) => {
                    let r = ActionResult::skipped("Conditional result was False");
                    self.finish_host(host, &title, None, &r, start, false, no_log);
                    let reg = self.register(task, host, &r);
                    return outcome(&r, false, reg);
                }
                Err((expr, e)) => {
                    let r =
                        ActionResult::failed(self.tmpl_err(task, &format!("when '{expr}'"), &e));
                    self.finish_host(host, &title, None, &r, start, ignore_errors, no_log);
                    return outcome(&r, ignore_errors, None);
                }
            }
        }

        let items = match self.loop_items(task, &vars) {
            Ok(i) => i,
            Err(msg) => {
                let r = ActionResult::failed(located(task, &format!("loop: {msg}")));
                self.finish_host(host, &title, None, &r, start, ignore_errors, no_log);
                return outcome(&r, ignore_errors, None);
            }
        };

        let Some(items) = items else {
            let r = self
                .run_attempts(
                    task,
                    &vars,
                    host,
                    delegate.as_deref(),
                    Some(&Lookahead {
                        tasks: ahead,
                        scope,
                    }),
                )
                .await;
            let ignored = ignorable(&r, ignore_errors, ignore_unreachable);
            self.finish_host(host, &title, None, &r, start, ignored, no_log);
            let reg = self.register(task, host, &r);
            let mut o = outcome(&r, ignored, reg);
            o.end_host = r.result.get("_fmc_end_host").is_some();
            return o;
        };

        if items.is_empty() {
            let mut r = ActionResult::skipped("No items in the list");
            r.result.insert("results".into(), Value::Array(vec![]));
            self.finish_host(host, &title, None, &r, start, false, no_log);
            let reg = self.register(task, host, &r);
            return outcome(&r, false, reg);
        }

        // Loop: one event per item, one recap entry for the task.
        let lc = &task.loop_control;
        let mut results = Vec::with_capacity(items.len());
        let mut any_changed = false;
        let mut any_failed = false;
        let mut all_skipped = true;
        let mut unreachable = None;
        for (n, item) in items.iter().enumerate() {
            let item_start = Instant::now();
            let mut iv = vars.clone();
            iv.set(&lc.loop_var, item.clone());
            if let Some(ix) = &lc.index_var {
                iv.set(ix, Value::from(n));
            }
            if lc.extended {
                iv.set(
                    "ansible_loop",
                    serde_json::json!({"index": n + 1, "index0": n, "first": n == 0,
                        "last": n + 1 == items.len(), "length": items.len()}),
                );
            }
            let label = match &lc.label {
                Some(l) => self
                    .templar
                    .render_str(l, &iv)
                    .unwrap_or_else(|_| l.clone()),
                None => item_label(item),
            };
            let r = match self.eval_all(&task.when, &iv) {
                Ok(true) => {
                    self.run_attempts(task, &iv, host, delegate.as_deref(), None)
                        .await
                }
                Ok(false) => ActionResult::skipped("Conditional result was False"),
                Err((expr, e)) => {
                    ActionResult::failed(self.tmpl_err(task, &format!("when '{expr}'"), &e))
                }
            };
            self.emit_result(
                host,
                &title,
                Some(label),
                &r,
                item_start,
                ignorable(&r, ignore_errors, ignore_unreachable),
                no_log,
                delegate.clone(),
            );
            any_changed |= r.changed();
            any_failed |= r.status == HostStatus::Failed;
            all_skipped &= r.status == HostStatus::Skipped;
            if r.status == HostStatus::Unreachable {
                unreachable = Some(r.clone());
            }
            let mut reg = r.registered();
            reg.insert(lc.loop_var.clone(), item.clone());
            reg.insert("item".into(), item.clone());
            results.push(Value::Object(reg));
            if r.status == HostStatus::Unreachable {
                break;
            }
            if let Some(p) = lc.pause {
                tokio::time::sleep(Duration::from_secs_f64(p.max(0.0))).await;
            }
        }
        let agg = if let Some(u) = unreachable {
            u
        } else {
            let status = if any_failed {
                HostStatus::Failed
            } else if all_skipped {
                // Every item skipped, or no items at all (Ansible: "skipping: no items").
                HostStatus::Skipped
            } else if any_changed {
                HostStatus::Changed
            } else {
                HostStatus::Ok
            };
            let mut m = Map::new();
            m.insert("results".into(), Value::Array(results));
            ActionResult {
                status,
                result: m,
                msg: any_failed.then(|| "One or more items failed".to_string()),
                diff: None,
                changes: vec![],
                show: false,
            }
        };
        let ignored = ignorable(&agg, ignore_errors, ignore_unreachable);
        host.bump(|c| count(c, agg.status, ignored));
        let reg = self.register(task, host, &agg);
        outcome(&agg, ignored, reg)
    }

    fn register(&self, task: &Task, host: &HostCtx, r: &ActionResult) -> Option<Value> {
        let name = task.register.as_ref()?;
        let v = Value::Object(r.registered());
        host.set_runtime(name, v.clone());
        Some(v)
    }

    // The error path is rare and short-lived: boxing would only add noise.
    #[allow(clippy::result_large_err)]
    fn eval_all(
        &self,
        conds: &[String],
        vars: &Vars,
    ) -> Result<bool, (String, fmc_template::TemplateError)> {
        for c in conds {
            match self.templar.eval_cond(c, vars) {
                Ok(true) => {}
                Ok(false) => return Ok(false),
                Err(e) => return Err((c.clone(), e)),
            }
        }
        Ok(true)
    }

    pub(crate) fn tmpl_err(
        &self,
        task: &Task,
        what: &str,
        e: &fmc_template::TemplateError,
    ) -> String {
        located(task, &format!("{what}: {}", with_var(e)))
    }

    /// Items of `loop`/`with_*`, or `None` without a loop.
    pub(crate) fn loop_items(
        &self,
        task: &Task,
        vars: &Vars,
    ) -> Result<Option<Vec<Value>>, String> {
        let Some(spec) = &task.loop_spec else {
            return Ok(None);
        };
        match spec.kind {
            LoopKind::WithFileglob => return self.fileglob_items(&spec.items, vars).map(Some),
            LoopKind::WithFirstFound => {
                return self.first_found_items(task, &spec.items, vars).map(Some);
            }
            _ => {}
        }
        let rendered = match &spec.items {
            Value::String(s) if !s.contains("{{") && spec.kind != LoopKind::Loop => {
                // `with_items: users` (bare name, old style) -> the variable.
                match self.templar.eval_expr(s, vars) {
                    Ok(v) => v,
                    Err(_) => Value::String(s.clone()),
                }
            }
            other => self
                .templar
                .render_value(other, vars)
                .map_err(|e| with_var(&e))?,
        };
        let list = |v: Value| -> Result<Vec<Value>, String> {
            match v {
                Value::Array(a) => Ok(a),
                Value::Null => Ok(vec![]),
                other => Err(format!("expected a list, got {other}")),
            }
        };
        let items = match spec.kind {
            // (fileglob and first_found items were returned above)
            LoopKind::Loop
            | LoopKind::WithList
            | LoopKind::WithFileglob
            | LoopKind::WithFirstFound => list(rendered)?,
            LoopKind::WithItems => {
                let mut out = vec![];
                let v = match rendered {
                    Value::Array(a) => a,
                    other => vec![other],
                };
                for x in v {
                    match x {
                        Value::Array(inner) => out.extend(inner),
                        other => out.push(other),
                    }
                }
                out
            }
            LoopKind::WithDict => match rendered {
                Value::Object(m) => m
                    .into_iter()
                    .map(|(k, v)| serde_json::json!({"key": k, "value": v}))
                    .collect(),
                other => return Err(format!("with_dict expects a mapping, got {other}")),
            },
            LoopKind::WithIndexedItems => list(rendered)?
                .into_iter()
                .enumerate()
                .map(|(i, v)| serde_json::json!([i, v]))
                .collect(),
            LoopKind::WithNested => {
                let lists: Vec<Vec<Value>> = list(rendered)?
                    .into_iter()
                    .map(|l| match l {
                        Value::Array(a) => a,
                        other => vec![other],
                    })
                    .collect();
                let mut acc: Vec<Vec<Value>> = vec![vec![]];
                for l in lists {
                    let mut next = vec![];
                    for prefix in &acc {
                        for x in &l {
                            let mut p = prefix.clone();
                            p.push(x.clone());
                            next.push(p);
                        }
                    }
                    acc = next;
                }
                acc.into_iter().map(Value::Array).collect()
            }
            LoopKind::WithSubelements => {
                let args = list(rendered)?;
                let (Some(Value::Array(outer)), Some(key)) = (
                    args.first().cloned(),
                    args.get(1).and_then(fmc_core::lenient::to_string),
                ) else {
                    return Err("with_subelements expects [list, 'key']".into());
                };
                let mut out = vec![];
                for o in outer {
                    if let Some(Value::Array(subs)) = o.get(&key) {
                        for s in subs {
                            out.push(Value::Array(vec![o.clone(), s.clone()]));
                        }
                    }
                }
                out
            }
            LoopKind::WithSequence => {
                return Err(
                    "with_sequence is not supported; use loop: \"{{ range(a, b) | list }}\"".into(),
                );
            }
        };
        Ok(Some(items))
    }

    /// `with_fileglob` items: the files the patterns match, found like
    /// `lookup('fileglob')` (the role's `files/`, the role, the playbook directory's
    /// `files/`, the playbook directory), as absolute paths.
    fn fileglob_items(&self, spec: &Value, vars: &Vars) -> Result<Vec<Value>, String> {
        let patterns = match self.templar.render_value(spec, vars) {
            Ok(Value::Array(a)) => a,
            Ok(Value::Null) => vec![],
            Ok(other) => vec![other],
            Err(e) => return Err(with_var(&e)),
        };
        let patterns: Vec<String> = patterns
            .iter()
            .filter_map(fmc_core::lenient::to_string)
            .collect();
        fmc_template::fileglob_items(&patterns, vars).map_err(|e| format!("with_fileglob: {e}"))
    }

    /// `with_first_found` items: the first file found like `lookup('first_found')`,
    /// searching `templates/`, `vars/` or `files/` by the task's action as Ansible
    /// does; none with `skip: true`. Terms reading an undefined variable are dropped.
    fn first_found_items(
        &self,
        task: &Task,
        spec: &Value,
        vars: &Vars,
    ) -> Result<Vec<Value>, String> {
        let terms = self
            .render_defined(spec, vars)
            .map_err(|e| with_var(&e))?
            .unwrap_or(Value::Array(vec![]));
        fmc_template::first_found_items(&terms, lookup_subdir(task), vars)
            .map_err(|e| format!("with_first_found: {e}"))
    }

    /// Renders `v`, leaving out list items and mapping values that read an undefined
    /// variable (`None` when `v` itself does).
    fn render_defined(
        &self,
        v: &Value,
        vars: &Vars,
    ) -> Result<Option<Value>, fmc_template::TemplateError> {
        Ok(Some(match v {
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.extend(self.render_defined(item, vars)?);
                }
                Value::Array(out)
            }
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, item) in m {
                    if let Some(r) = self.render_defined(item, vars)? {
                        out.insert(k.clone(), r);
                    }
                }
                Value::Object(out)
            }
            other => match self.templar.render_value(other, vars) {
                Ok(r) => r,
                Err(e) if e.undefined().is_some() => return Ok(None),
                Err(e) => return Err(e),
            },
        }))
    }

    /// Runs the action, honouring `until`/`retries`/`delay` and
    /// `changed_when`/`failed_when`.
    async fn run_attempts(
        &self,
        task: &Task,
        vars: &Vars,
        host: &Arc<HostCtx>,
        delegate: Option<&str>,
        ahead: Option<&Lookahead<'_>>,
    ) -> ActionResult {
        let number = |v: &Option<Value>, d: f64| -> f64 {
            v.as_ref()
                .and_then(|x| self.templar.render_value(x, vars).ok())
                .and_then(|x| fmc_core::lenient::to_string(&x))
                .and_then(|s| s.trim().parse::<f64>().ok())
                .filter(|n| n.is_finite() && *n >= 0.0)
                .unwrap_or(d)
        };
        let retries = if task.until.is_some() {
            number(&task.retries, 3.0) as u64
        } else {
            0
        };
        // seconds, fractions allowed as in Ansible (`delay: 0.5`)
        let delay = Duration::from_secs_f64(number(&task.delay, 5.0));
        // `timeout` bounds each attempt of each loop item, as in Ansible
        let timeout = match &task.keywords.timeout {
            None => None,
            Some(raw) => match self.keyword_count(raw, vars, "timeout") {
                Ok(0) => None,
                Ok(secs) => Some(secs),
                Err(msg) => return ActionResult::failed(located(task, &msg)),
            },
        };
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let action = self.run_action(task, vars, host, delegate, ahead);
            let mut r = match timeout {
                None => action.await,
                Some(secs) => match tokio::time::timeout(Duration::from_secs(secs), action).await {
                    Ok(r) => r,
                    Err(_) => {
                        // whatever ran may have changed the host: prefetched probes are stale
                        self.conns.invalidate_probes();
                        let mut r =
                            ActionResult::failed(format!("timed out after {secs} second(s)"));
                        r.result
                            .insert("timedout".into(), serde_json::json!({ "period": secs }));
                        return r;
                    }
                },
            };
            if r.status == HostStatus::Unreachable || r.status == HostStatus::Skipped {
                return r;
            }
            self.apply_when_overrides(task, vars, &mut r);
            let Some(until) = &task.until else {
                return r;
            };
            // visible to `until` (`until: r.attempts >= 3`), as in Ansible
            r.result.insert("attempts".into(), Value::from(attempt));
            let mut uv = vars.clone();
            if let Some(reg) = &task.register {
                uv.set(reg, Value::Object(r.registered()));
            }
            let done = match self.eval_all(until, &uv) {
                Ok(b) => b,
                Err((expr, e)) => {
                    return ActionResult::failed(self.tmpl_err(
                        task,
                        &format!("until '{expr}'"),
                        &e,
                    ));
                }
            };
            if done {
                return r;
            }
            if u64::from(attempt) > retries {
                r.status = HostStatus::Failed;
                r.msg = Some(format!(
                    "{} (retried {retries} times, 'until' never became true)",
                    r.msg.clone().unwrap_or_else(|| "condition not met".into())
                ));
                return r;
            }
            self.emit(Event::Retry {
                host: host.name.clone(),
                task: task.display_name(),
                attempt,
                retries: retries as u32,
            });
            tokio::time::sleep(delay).await;
            // Retrying waits for the hosts to change: prefetched probes are stale.
            self.conns.invalidate_probes();
        }
    }

    /// Merges a module result's `ansible_facts` into the host's facts (or the delegate's,
    /// with `delegate_facts`).
    fn merge_result_facts(
        &self,
        task: &Task,
        host: &Arc<HostCtx>,
        delegate: Option<&str>,
        result: &Map,
    ) {
        if let Some(Value::Object(f)) = result.get("ansible_facts") {
            let target = if task.delegate_facts {
                delegate.and_then(|d| self.hosts.get(d)).unwrap_or(host)
            } else {
                host
            };
            target.merge_facts(f);
        }
    }

    fn apply_when_overrides(&self, task: &Task, vars: &Vars, r: &mut ActionResult) {
        if task.changed_when.is_none() && task.failed_when.is_none() {
            return;
        }
        let mut v = vars.clone();
        if let Some(reg) = &task.register {
            v.set(reg, Value::Object(r.registered()));
        }
        // changed_when's verdict also decides the status when failed_when un-fails the task
        let mut changed_verdict = None;
        if let Some(conds) = &task.changed_when {
            match self.eval_all(conds, &v) {
                Ok(c) => {
                    changed_verdict = Some(c);
                    match (c, r.status) {
                        (true, HostStatus::Ok) => r.status = HostStatus::Changed,
                        (false, HostStatus::Changed) => r.status = HostStatus::Ok,
                        _ => {}
                    }
                }
                Err((expr, e)) => {
                    *r = ActionResult::failed(self.tmpl_err(
                        task,
                        &format!("changed_when '{expr}'"),
                        &e,
                    ));
                    return;
                }
            }
            if let Some(reg) = &task.register {
                v.set(reg, Value::Object(r.registered()));
            }
        }
        if let Some(conds) = &task.failed_when {
            match self.eval_all(conds, &v) {
                Ok(true) => {
                    r.status = HostStatus::Failed;
                    if r.msg.is_none() {
                        r.msg = Some(format!("failed_when: {}", conds.join(" and ")));
                    }
                }
                Ok(false) => {
                    if r.status == HostStatus::Failed {
                        let changed = changed_verdict.unwrap_or(!r.changes.is_empty());
                        r.status = if changed {
                            HostStatus::Changed
                        } else {
                            HostStatus::Ok
                        };
                        r.msg = None;
                    }
                }
                Err((expr, e)) => {
                    *r = ActionResult::failed(self.tmpl_err(
                        task,
                        &format!("failed_when '{expr}'"),
                        &e,
                    ));
                }
            }
        }
    }

    async fn run_action(
        &self,
        task: &Task,
        vars: &Vars,
        host: &Arc<HostCtx>,
        delegate: Option<&str>,
        ahead: Option<&Lookahead<'_>>,
    ) -> ActionResult {
        let TaskAction::Module { module, args } = &task.action else {
            return ActionResult::failed("internal: not a module task");
        };
        let name = canonical(module);
        if controller::is_controller_action(name) {
            // Ansible templates the connection variables for every task
            if let Err(e) = self.endpoint(host, vars, task, delegate) {
                return ActionResult::failed(located(task, &e));
            }
            return self
                .run_controller(name, args, task, vars, host, delegate)
                .await;
        }
        self.run_module(module, args, task, vars, host, delegate, ahead)
            .await
    }

    /// The `environment:` keyword rendered for one exec.
    fn task_env(&self, task: &Task, vars: &Vars) -> Result<Vec<(String, String)>, String> {
        match &task.keywords.environment {
            None => Ok(vec![]),
            Some(e) => match self.templar.render_value(e, vars) {
                Ok(Value::Object(m)) => Ok(m
                    .into_iter()
                    .map(|(k, v)| (k, fmc_core::lenient::to_string(&v).unwrap_or_default()))
                    .collect()),
                Ok(Value::Null) => Ok(vec![]),
                Ok(_) => Err("environment must be a mapping".into()),
                Err(e) => Err(self.tmpl_err(task, "environment", &e)),
            },
        }
    }

    /// The current task's probe output: prefetched by an earlier batch of this host
    /// if still valid, else from one exec that also runs the probes of the next
    /// tasks (up to the host's window) and caches their outputs.
    async fn probe_batched(
        &self,
        host: &HostCtx,
        conn: &HostConn,
        ep: &Endpoint,
        key: ProbeKey,
        ahead: Option<&Lookahead<'_>>,
    ) -> Result<ExecOutput, TransportError> {
        let epoch = self.conns.epoch();
        let window = {
            let mut cache = host.probe_cache();
            if let Some(out) = cache.take(&key, epoch) {
                return Ok(out);
            }
            match ahead {
                Some(a) if !a.tasks.is_empty() => cache.start_batch(epoch),
                _ => 0,
            }
        };
        let mut batch: Vec<ProbeKey> = vec![];
        if let Some(a) = ahead {
            for t in a.tasks {
                if batch.len() >= window {
                    break;
                }
                if host.probe_cache().has(&t.span.to_string(), epoch) {
                    continue;
                }
                match self.lookahead_probe(t, a.scope, host) {
                    Ahead::Probe(p) if p.0 == *ep && p.1.same_exec(&key) => batch.push(p.1),
                    Ahead::Probe(..) | Ahead::Skip => {}
                    Ahead::Stop => break,
                }
            }
        }
        let req = |script: String| ExecRequest {
            script,
            stdin: None,
            become_spec: key.become_spec.clone(),
            env: key.env.clone(),
            timeout: None,
        };
        if batch.is_empty() {
            return conn.probe(req(key.script.clone())).await;
        }
        let boundary = probes::boundary();
        let scripts: Vec<&str> = std::iter::once(&key)
            .chain(&batch)
            .map(|k| k.script.as_str())
            .collect();
        let out = conn
            .probe(req(probes::batch_script(&boundary, &scripts)))
            .await?;
        match probes::split_batch(&boundary, scripts.len(), &out) {
            Some(mut parts) if !parts.is_empty() => {
                let first = parts.remove(0);
                host.probe_cache().store(
                    epoch,
                    self.conns.epoch(),
                    batch.into_iter().zip(parts).collect(),
                );
                Ok(first)
            }
            // The batch shell died early: probe this task alone, keep nothing.
            _ => conn.probe(req(key.script.clone())).await,
        }
    }

    /// What the lookahead does with a later task of the same list: prefetch the probe
    /// it would send now (with its endpoint) when that can be computed without side
    /// effects; stop at blocks, includes, meta tasks, `pause` and modules without a
    /// probe (they act whenever they run, so anything prefetched past them would be
    /// wasted); skip loops, `until`, `delegate_to`, `run_once`, other controller
    /// actions, lookups, tasks not selected by tags, a `when` that is false or cannot
    /// be evaluated yet, arguments that do not render or validate, probes with stdin.
    fn lookahead_probe(&self, task: &Task, scope: &Scope, host: &HostCtx) -> Ahead {
        let TaskAction::Module { module, args } = &task.action else {
            return Ahead::Stop;
        };
        let name = canonical(module);
        if name == "pause" {
            return Ahead::Stop;
        }
        let kw = &task.keywords;
        if task.loop_spec.is_some()
            || uses_lookups(task)
            || task.until.is_some()
            || kw.delegate_to.is_some()
            || kw.run_once.unwrap_or(false)
            || controller::is_controller_action(name)
            || !self.opts.tags.selects(&task.tags)
            || !self.started.load(std::sync::atomic::Ordering::SeqCst)
        {
            return Ahead::Skip;
        }
        self.prefetchable(module, args, task, scope, host)
            .unwrap_or(Ahead::Skip)
    }

    /// [`Self::lookahead_probe`] for a module task that passed the static checks;
    /// `None` means skip.
    fn prefetchable(
        &self,
        module: &str,
        args: &Map,
        task: &Task,
        scope: &Scope,
        host: &HostCtx,
    ) -> Option<Ahead> {
        let kw = &task.keywords;
        let factory = fmc_modules::registry().get(module)?;
        let vars = self.vars_for(host, Some(task), scope);
        if !matches!(self.eval_all(&task.when, &vars), Ok(true)) {
            return None;
        }
        let Ok(Value::Object(args)) = self
            .templar
            .render_value(&Value::Object(args.clone()), &vars)
        else {
            return None;
        };
        let prepared = factory.prepare(&args).ok()?;
        let (ep, cv) = self.endpoint(host, &vars, task, None).ok()?;
        let env = self.task_env(task, &vars).ok()?;
        let role_dir = task.role.as_ref().map(|r| r.path.clone());
        let files = TaskFiles::new(
            role_dir.as_deref(),
            &self.playbook_dir,
            &self.templar,
            &vars,
        );
        let facts = host.facts();
        let empty = Map::new();
        let ctx = ModuleCtx {
            host: &host.name,
            facts: facts.as_ref(),
            files: &files,
            vars: &empty,
        };
        let Some(probe) = prepared.probe(&ctx).ok()? else {
            return Some(Ahead::Stop);
        };
        if probe.stdin.is_some() {
            return None;
        }
        Some(Ahead::Probe(Box::new((
            ep,
            ProbeKey {
                task: task.span.to_string(),
                script: probe.script,
                become_spec: become_spec(kw, &cv, self.opts.become_password.as_ref()),
                env,
            },
        ))))
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_module(
        &self,
        module: &str,
        raw_args: &Map,
        task: &Task,
        vars: &Vars,
        host: &Arc<HostCtx>,
        delegate: Option<&str>,
        ahead: Option<&Lookahead<'_>>,
    ) -> ActionResult {
        let Some(factory) = fmc_modules::registry().get(module) else {
            return ActionResult::failed(format!("{}: unknown module '{module}'", task.span));
        };
        let args = match self
            .templar
            .render_value(&Value::Object(raw_args.clone()), vars)
        {
            Ok(Value::Object(m)) => m,
            Ok(_) => return ActionResult::failed("module arguments must be a mapping"),
            Err(e) => return ActionResult::failed(self.tmpl_err(task, "arguments", &e)),
        };
        let prepared = match factory.prepare(&args) {
            Ok(p) => p,
            Err(e) => {
                return ActionResult::failed(format!(
                    "{}: task '{}': {e}",
                    task.span,
                    task.display_name()
                ));
            }
        };
        let (ep, cv) = match self.endpoint(host, vars, task, delegate) {
            Ok(x) => x,
            Err(e) => return ActionResult::failed(located(task, &e)),
        };
        if factory.info().name == "wait_for_connection" {
            let check = task.keywords.check_mode.unwrap_or(self.opts.check);
            return wait_for_connection(&self.conns, &ep, &args, check).await;
        }
        let conn = match self.conns.get(&ep).await {
            Ok(c) => c,
            Err(e) => return ActionResult::unreachable(e.to_string()),
        };
        let become_s = become_spec(&task.keywords, &cv, self.opts.become_password.as_ref());
        let env = match self.task_env(task, vars) {
            Ok(e) => e,
            Err(msg) => return ActionResult::failed(msg),
        };
        let role_dir = task.role.as_ref().map(|r| r.path.clone());
        let files = TaskFiles::new(role_dir.as_deref(), &self.playbook_dir, &self.templar, vars);
        let facts = host.facts();
        let empty = Map::new();
        let ctx = ModuleCtx {
            host: &host.name,
            facts: facts.as_ref(),
            files: &files,
            vars: &empty,
        };
        let req = |script: String, stdin: Option<Vec<u8>>, timeout: Option<Duration>| ExecRequest {
            script,
            stdin,
            become_spec: become_s.clone(),
            env: env.clone(),
            timeout,
        };
        let probe_out = match prepared.probe(&ctx) {
            Err(e) => return ActionResult::failed(located(task, &e.to_string())),
            Ok(None) => None,
            Ok(Some(p)) => {
                let res = if delegate.is_none() && p.stdin.is_none() {
                    let key = ProbeKey {
                        task: task.span.to_string(),
                        script: p.script,
                        become_spec: become_s.clone(),
                        env: env.clone(),
                    };
                    self.probe_batched(host, &conn, &ep, key, ahead).await
                } else {
                    conn.probe(req(p.script, p.stdin, None)).await
                };
                match res {
                    Ok(o) => Some(o),
                    Err(e) => return transport_result(&e),
                }
            }
        };
        let plan = match prepared.plan(&ctx, probe_out.as_ref()) {
            Ok(p) => p,
            Err(e) => return ActionResult::failed(located(task, &e.to_string())),
        };
        if let Some(msg) = &plan.failed {
            // a missing or broken controller file is the task's input: say where
            let msg = if files.failed() {
                located(task, msg)
            } else {
                msg.clone()
            };
            let mut r = ActionResult::failed(msg);
            r.result = plan.result.clone();
            return r;
        }
        let want_diff = task.keywords.diff.unwrap_or(self.opts.diff);
        let check = task.keywords.check_mode.unwrap_or(self.opts.check);
        if check {
            let support = prepared.check_support().unwrap_or(factory.info().check);
            if support == CheckSupport::None && !plan.actions.is_empty() {
                return ActionResult::skipped(
                    "skipped: this module cannot predict its result in check mode",
                );
            }
            // fact modules (setup, service_facts, ...) gather in their probe: their facts
            // hold in check mode too, and later tasks' conditions need them
            self.merge_result_facts(task, host, delegate, &plan.result);
            return ActionResult {
                status: if plan.changed() {
                    HostStatus::Changed
                } else {
                    HostStatus::Ok
                },
                result: plan.result.clone(),
                msg: None,
                diff: if want_diff { plan.diff.clone() } else { None },
                changes: plan.changes.clone(),
                show: false,
            };
        }
        let mut outputs: Vec<ExecOutput> = Vec::with_capacity(plan.actions.len());
        for action in &plan.actions {
            match action {
                Action::Exec {
                    script,
                    stdin,
                    allow_failure,
                    timeout,
                } => match conn
                    .exec(req(
                        script.clone(),
                        stdin.clone(),
                        timeout.or_else(|| self.task_timeout(task, vars)),
                    ))
                    .await
                {
                    Ok(o) => {
                        let stop = o.rc != 0 && !allow_failure;
                        outputs.push(o);
                        if stop {
                            break;
                        }
                    }
                    Err(e) => return transport_result(&e),
                },
                Action::Reboot {
                    command,
                    test_command,
                    timeout,
                } => {
                    let r = reboot(&conn, command, test_command, *timeout, &req).await;
                    match r {
                        Ok(o) => outputs.push(o),
                        Err(msg) => return ActionResult::failed(msg),
                    }
                }
            }
        }
        let out = match prepared.finish(&plan, &outputs) {
            Ok(o) => o,
            Err(e) => return ActionResult::failed(located(task, &e.to_string())),
        };
        for (path, bytes) in &out.controller_writes {
            let res = path
                .parent()
                .map(std::fs::create_dir_all)
                .transpose()
                .and_then(|_| std::fs::write(path, bytes));
            if let Err(e) = res {
                return ActionResult::failed(format!(
                    "writing {} on the controller: {e}",
                    path.display()
                ));
            }
        }
        self.merge_result_facts(task, host, delegate, &out.result);
        ActionResult {
            status: if out.failed.is_some() {
                HostStatus::Failed
            } else if out.changed {
                HostStatus::Changed
            } else {
                HostStatus::Ok
            },
            result: out.result,
            msg: out.failed,
            diff: if want_diff { out.diff } else { None },
            changes: if out.changed { plan.changes } else { vec![] },
            show: false,
        }
    }
}

/// Whether the task's arguments, `when` or `environment` call a lookup: rendering
/// them early could run `lookup('pipe', ...)` on the controller an extra time.
fn uses_lookups(task: &Task) -> bool {
    let TaskAction::Module { args, .. } = &task.action else {
        return false;
    };
    let mut text = serde_json::to_string(args).unwrap_or_default();
    text.push_str(&task.when.join(" "));
    if let Some(e) = &task.keywords.environment {
        text.push_str(&e.to_string());
    }
    ["lookup(", "query(", "q("].iter().any(|f| text.contains(f))
}

/// Adds one task's result to a host's recap. As in Ansible, `ok` counts every task
/// that succeeded (changed or not); an ignored failure counts as ok and an ignored
/// unreachable host as skipped.
fn count(c: &mut fmc_core::HostRecap, status: HostStatus, ignored: bool) {
    match status {
        HostStatus::Ok => c.ok += 1,
        HostStatus::Changed => {
            c.ok += 1;
            c.changed += 1
        }
        HostStatus::Failed if ignored => c.ok += 1,
        HostStatus::Unreachable if ignored => c.skipped += 1,
        HostStatus::Failed => c.failed += 1,
        HostStatus::Skipped => c.skipped += 1,
        HostStatus::Unreachable => c.unreachable += 1,
    }
}

/// Whether a failure (`ignore_errors`) or an unreachable host (`ignore_unreachable`)
/// is ignored: the host goes on with the next task.
fn ignorable(r: &ActionResult, ignore_errors: bool, ignore_unreachable: bool) -> bool {
    match r.status {
        HostStatus::Failed => ignore_errors,
        HostStatus::Unreachable => ignore_unreachable,
        _ => false,
    }
}

fn outcome(r: &ActionResult, ignored: bool, registered: Option<Value>) -> TaskHostOutcome {
    TaskHostOutcome {
        status: r.status,
        ignored,
        changed: r.changed(),
        end_host: false,
        registered,
        failed_result: (r.status == HostStatus::Failed && !ignored)
            .then(|| Value::Object(r.registered())),
    }
}

fn transport_result(e: &TransportError) -> ActionResult {
    if e.is_unreachable() {
        ActionResult::unreachable(e.to_string())
    } else {
        ActionResult::failed(e.to_string())
    }
}

/// `<file:line:col>: task '<name>': <msg>`.
pub(crate) fn located(task: &Task, msg: &str) -> String {
    format!("{}: task '{}': {msg}", task.span, task.display_name())
}

/// A template error with ` (variable 'x')` added when the undefined variable's name
/// is not in the message already.
pub(crate) fn with_var(e: &fmc_template::TemplateError) -> String {
    format!("{e}{}", e.variable_note())
}

/// The directory `with_first_found` looks in first, from the task's action, as in
/// Ansible: `templates` for an action whose name contains `template`, `vars` for
/// one containing `var` (`include_vars`), else `files`.
fn lookup_subdir(task: &Task) -> &'static str {
    let action = match &task.action {
        TaskAction::Module { module, .. } => module.as_str(),
        _ => "",
    };
    if action.contains("template") {
        "templates"
    } else if action.contains("var") {
        "vars"
    } else {
        "files"
    }
}

fn item_label(item: &Value) -> String {
    match item {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `wait_for_connection`, as Ansible's action plugin: sleep `delay`, then connect
/// (again) and run `true` until that works, each attempt bounded by
/// `connect_timeout`, `sleep` apart, for at most `timeout`. Skipped in check mode.
async fn wait_for_connection(
    conns: &crate::connect::Connections,
    ep: &Endpoint,
    args: &Map,
    check: bool,
) -> ActionResult {
    if check {
        return ActionResult::skipped("skipped: wait_for_connection does not run in check mode");
    }
    let w = match fmc_modules::system::wait_for_connection::settings(args) {
        Ok(w) => w,
        Err(e) => return ActionResult::failed(e.to_string()),
    };
    let start = Instant::now();
    tokio::time::sleep(w.delay).await;
    let deadline = Instant::now() + w.timeout;
    let mut again = false;
    loop {
        let attempt = tokio::time::timeout(w.connect_timeout, async {
            let conn = if again {
                conns.get_again(ep).await?
            } else {
                conns.get(ep).await?
            };
            conn.exec(ExecRequest::new("true")).await
        })
        .await;
        let err = match attempt {
            Ok(Ok(o)) if o.rc == 0 => None,
            Ok(Ok(o)) => Some(format!("'true' exited with rc={}", o.rc)),
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some(format!("no answer within {}s", w.connect_timeout.as_secs())),
        };
        let mut result = Map::new();
        result.insert("elapsed".into(), start.elapsed().as_secs().into());
        match err {
            None => return ActionResult::ok(result),
            Some(e) if Instant::now() + w.sleep >= deadline => {
                return ActionResult {
                    result,
                    ..ActionResult::failed(format!("timed out waiting for ping module test: {e}"))
                };
            }
            Some(_) => {}
        }
        tokio::time::sleep(w.sleep).await;
        again = true;
    }
}

/// Reboots through `conn` and waits until the host is back with a new boot id.
async fn reboot(
    conn: &dyn Connection,
    command: &str,
    test_command: &str,
    timeout: Duration,
    req: &(dyn Fn(String, Option<Vec<u8>>, Option<Duration>) -> ExecRequest + Sync),
) -> Result<ExecOutput, String> {
    let boot_id = "cat /proc/sys/kernel/random/boot_id";
    let before = conn
        .exec(req(boot_id.into(), None, Some(Duration::from_secs(30))))
        .await
        .map_err(|e| format!("reading boot id: {e}"))?
        .stdout_str();
    // The connection usually drops while the command runs: that is expected.
    let _ = conn
        .exec(req(
            format!("( sleep 1; {command} ) >/dev/null 2>&1 &"),
            None,
            Some(Duration::from_secs(10)),
        ))
        .await;
    let deadline = Instant::now() + timeout;
    tokio::time::sleep(Duration::from_secs(2)).await;
    loop {
        if Instant::now() > deadline {
            return Err(format!(
                "host did not come back within {}s",
                timeout.as_secs()
            ));
        }
        if conn.reconnect().await.is_ok()
            && let Ok(o) = conn
                .exec(req(boot_id.into(), None, Some(Duration::from_secs(10))))
                .await
            && o.rc == 0
            && o.stdout_str() != before
        {
            let t = conn
                .exec(req(
                    test_command.into(),
                    None,
                    Some(Duration::from_secs(30)),
                ))
                .await
                .map_err(|e| e.to_string())?;
            if t.rc == 0 {
                return Ok(t);
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
