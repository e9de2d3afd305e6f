//! Plays, batches, the linear strategy, blocks, includes and handlers.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fmc_core::{Event, HostRecap, HostStatus, Map, Value};
use fmc_inventory::Inventory;
use fmc_playbook::{Play, Playbook, RoleInvocation, Serial, Task, TaskAction};
use fmc_template::{Templar, Vars};
use futures::future::BoxFuture;
use futures::stream::{self, StreamExt};
use indexmap::IndexMap;

use crate::connect::Connections;
use crate::exec::TaskHostOutcome;
use crate::hostvars::{HostCtx, RunHostVars};
use crate::{EventSink, RunError, RunOptions, RunSummary};

/// Run-wide state.
pub(crate) struct Run<'a> {
    pub pb: &'a Playbook,
    pub inv: &'a Inventory,
    pub opts: &'a RunOptions,
    pub sink: Arc<dyn EventSink>,
    pub templar: Templar,
    pub conns: Connections,
    pub hosts: Arc<IndexMap<String, Arc<HostCtx>>>,
    pub hostvars: RunHostVars,
    pub playbook_dir: PathBuf,
    /// `--start-at-task` reached (always true without the flag).
    pub started: AtomicBool,
    /// `any_errors_fatal`, `max_fail_percentage` or a batch whose hosts all failed
    /// stopped the run (Ansible's "NO MORE HOSTS LEFT"): later plays do not run.
    pub aborted: AtomicBool,
    /// Hosts down after an earlier play or batch: later plays leave them out until
    /// `meta: clear_host_errors`.
    pub down: Mutex<DownHosts>,
}

/// Hosts that failed (not rescued, not ignored) or became unreachable in an earlier
/// play or batch of this run.
#[derive(Default)]
pub(crate) struct DownHosts {
    pub failed: HashSet<String>,
    pub unreachable: HashSet<String>,
}

impl DownHosts {
    fn contains(&self, host: &str) -> bool {
        self.failed.contains(host) || self.unreachable.contains(host)
    }
}

/// Locks `m`, also when a panicking task poisoned it (the data is only ever replaced
/// or extended whole, so it stays consistent).
fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How deep `include_tasks`/`include_role` may nest before the include fails
/// (a file or role that includes itself without end).
const MAX_INCLUDE_DEPTH: usize = 64;

/// Play-wide variable layers and lookups.
pub(crate) struct PlayCtx {
    pub vars: Arc<Map>,
    pub vars_files: Arc<Map>,
    pub role_defaults: Arc<Map>,
    pub role_vars: Arc<Map>,
    pub magic: Arc<Map>,
    /// Every host of the play (`ansible_play_hosts_all`).
    pub hosts_all: Vec<String>,
    /// `ansible_play_hosts` and `ansible_play_batch`: the play's and the batch's hosts
    /// still running, refreshed before every task.
    pub live: Mutex<Arc<Map>>,
    pub any_errors_fatal: bool,
    pub max_fail_percentage: Option<f64>,
    pub force_handlers: bool,
}

/// What encloses a task list: the play, the role invocation's parameters, blocks.
#[derive(Clone)]
pub(crate) struct Scope {
    pub play: Arc<PlayCtx>,
    pub role_params: Arc<Map>,
    /// Enclosing blocks' and includes' `vars`, outer first.
    pub block_vars: Vec<Arc<Map>>,
    /// Per-host extra layer (loop variables of a looped include).
    pub per_host: Option<Arc<HashMap<String, Map>>>,
    pub handler: bool,
    /// How many `include_tasks`/`include_role` enclose this scope.
    pub include_depth: usize,
}

/// A handler and the scope it runs in.
#[derive(Clone)]
pub(crate) struct Handler {
    pub task: Task,
    pub scope: Scope,
}

/// Per-host state within one play batch.
#[derive(Default)]
pub(crate) struct HostPlayState {
    pub failed: bool,
    pub unreachable: bool,
    pub ended: bool,
    /// Indices into `Batch::handlers` notified and not yet run.
    pub notified: Vec<usize>,
    /// The last failure: `ansible_failed_task` and `ansible_failed_result` for a rescue.
    pub failure: Option<(Value, Value)>,
    /// Failed or unreachable in an earlier play or batch: not counted again by
    /// `any_errors_fatal`, `max_fail_percentage` and "no more hosts left".
    pub down_before: bool,
}

pub(crate) struct Batch {
    pub hosts: Vec<Arc<HostCtx>>,
    pub state: Vec<HostPlayState>,
    pub handlers: Vec<Handler>,
    /// The play was stopped for every host (any_errors_fatal, max_fail_percentage,
    /// `meta: end_play`).
    pub stopped: bool,
}

impl Batch {
    fn active(&self, i: usize) -> bool {
        let s = &self.state[i];
        !s.failed && !s.unreachable && !s.ended && !self.stopped
    }
}

fn layer(map: Map) -> Arc<Map> {
    Arc::new(map)
}

impl<'a> Run<'a> {
    pub fn new(
        pb: &'a Playbook,
        inv: &'a Inventory,
        opts: &'a RunOptions,
        sink: Arc<dyn EventSink>,
    ) -> Result<Self, RunError> {
        // a host pattern that cannot select (`web[5]` of a 2-host group) is bad input,
        // found before any host is touched when the pattern needs no variables
        for play in &pb.plays {
            if !play.hosts.contains("{{")
                && let Err(e) = inv.select(&play.hosts)
            {
                return Err(RunError::Input(format!("{}: hosts: {e}", play.span)));
            }
        }
        let groups = inv.groups();
        let mut global = Map::new();
        global.insert(
            "groups".into(),
            serde_json::to_value(&groups).unwrap_or(Value::Null),
        );
        let playbook_dir = crate::playbook_dir(pb);
        global.insert(
            "playbook_dir".into(),
            Value::String(playbook_dir.display().to_string()),
        );
        global.insert("inventory_dir".into(), Value::Null);
        global.insert("ansible_check_mode".into(), Value::Bool(opts.check));
        global.insert("ansible_diff_mode".into(), Value::Bool(opts.diff));
        global.insert(
            "ansible_run_tags".into(),
            serde_json::json!(if opts.tags.only.is_empty() {
                vec!["all".to_string()]
            } else {
                opts.tags.only.clone()
            }),
        );
        global.insert(
            "ansible_skip_tags".into(),
            serde_json::json!(opts.tags.skip),
        );
        global.insert("ansible_version".into(), serde_json::json!({"full": "2.17.0", "major": 2, "minor": 17, "revision": 0, "string": "2.17.0 (fmc)"}));
        global.insert(
            "fmc_version".into(),
            Value::String(env!("CARGO_PKG_VERSION").into()),
        );

        let mut names = inv.host_names();
        if !names.iter().any(|n| n == "localhost") {
            names.push("localhost".into());
        }
        let mut hosts = IndexMap::new();
        for name in names {
            let mut magic = Map::new();
            magic.insert("inventory_hostname".into(), Value::String(name.clone()));
            magic.insert(
                "inventory_hostname_short".into(),
                Value::String(name.split('.').next().unwrap_or(&name).to_string()),
            );
            magic.insert(
                "group_names".into(),
                serde_json::json!(inv.group_names(&name)),
            );
            let ctx = HostCtx::new(&name, inv.host_vars(&name), magic);
            hosts.insert(name, Arc::new(ctx));
        }
        let hosts = Arc::new(hosts);
        let hostvars = RunHostVars {
            hosts: hosts.clone(),
            global: layer(global),
            defaults: layer(opts.default_vars.clone()),
            extra: layer(opts.extra_vars.clone()),
        };
        let conns =
            Connections::new(&opts.ssh, opts.key_passphrase.clone()).map_err(RunError::Input)?;
        Ok(Run {
            pb,
            inv,
            opts,
            sink,
            templar: Templar::new(),
            conns,
            hosts,
            hostvars,
            playbook_dir,
            started: AtomicBool::new(opts.start_at_task.is_none()),
            aborted: AtomicBool::new(false),
            down: Mutex::new(DownHosts::default()),
        })
    }

    pub fn emit(&self, e: Event) {
        self.sink.emit(e);
    }

    /// Runs the plays in order. A play whose host pattern is invalid (or does not
    /// render) ends the run with bad input, as Ansible's error does.
    pub async fn execute(&self) -> Result<RunSummary, RunError> {
        for (n, play) in self.pb.plays.iter().enumerate() {
            if self.aborted.load(Ordering::SeqCst) {
                self.emit(Event::Warning {
                    msg: format!(
                        "no more hosts left: the {} later play(s) do not run",
                        self.pb.plays.len() - n
                    ),
                });
                break;
            }
            self.run_play(play).await?;
        }
        let mut recap = std::collections::BTreeMap::new();
        for (name, h) in self.hosts.iter() {
            let r = h.recap();
            if r != HostRecap::default() {
                recap.insert(name.clone(), r);
            }
        }
        Ok(RunSummary {
            recap,
            started: self.started.load(Ordering::SeqCst),
        })
    }

    /// Vars with only run-wide layers (for play names, `hosts:` patterns, vars_files).
    fn play_level_vars(&self, play_magic: &Arc<Map>, play_vars: &Arc<Map>) -> Vars {
        let mut v = Vars::new();
        v.push("magic (global)", self.hostvars.global.clone());
        v.push("magic (play)", play_magic.clone());
        v.push("play vars", play_vars.clone());
        v.push("extra vars", self.hostvars.extra.clone());
        v.set_hostvars(Arc::new(self.hostvars.clone()));
        v
    }

    fn select_hosts(&self, play: &Play, vars: &Vars) -> Result<Vec<String>, String> {
        let pattern = self
            .templar
            .render_str(&play.hosts, vars)
            .map_err(|e| format!("{}: hosts: {e}", play.span))?;
        let mut hosts = self
            .inv
            .select(&pattern)
            .map_err(|e| format!("{}: hosts: {e}", play.span))?;
        if let Some(limit) = &self.opts.limit {
            let allowed: HashSet<String> = self
                .inv
                .select(limit)
                .map_err(|e| format!("--limit: {e}"))?
                .into_iter()
                .collect();
            hosts.retain(|h| allowed.contains(h));
        }
        Ok(hosts)
    }

    async fn run_play(&self, play: &Play) -> Result<(), RunError> {
        let play_vars = layer(play.vars.clone());
        let mut play_magic = Map::new();
        // the directory of the playbook file that holds the play (import_playbook)
        play_magic.insert(
            "playbook_dir".into(),
            Value::String(absolute(&play.base_dir).display().to_string()),
        );
        let play_magic = layer(play_magic);
        let pvars = self.play_level_vars(&play_magic, &play_vars);
        let name = self
            .templar
            .render_str(&play.name, &pvars)
            .unwrap_or_else(|_| play.name.clone());
        let selected = match self.select_hosts(play, &pvars) {
            Ok(h) => h,
            Err(msg) => return Err(RunError::Input(msg)),
        };
        self.emit(Event::PlayStart {
            name: name.clone(),
            hosts: selected.clone(),
        });
        if selected.is_empty() {
            self.emit(Event::Warning {
                msg: format!("play '{name}': no hosts matched '{}'", play.hosts),
            });
            return Ok(());
        }
        let vars_files = match self.load_vars_files(play, &pvars) {
            Ok(m) => m,
            Err(msg) => {
                self.fail_all(&selected, &msg);
                self.emit(Event::PlayEnd { name });
                return Ok(());
            }
        };
        // Role defaults and vars are visible play-wide (Ansible's public roles); the
        // task's own role is layered on top of these in `vars_for`.
        let mut role_defaults = Map::new();
        let mut role_vars = Map::new();
        let mut seen_roles = HashSet::new();
        for list in [
            &play.pre_tasks,
            &play.tasks,
            &play.post_tasks,
            &play.handlers,
        ] {
            collect_task_roles(list, &mut seen_roles, &mut role_defaults, &mut role_vars);
        }
        fn from_invocation(
            inv: &RoleInvocation,
            seen: &mut HashSet<PathBuf>,
            d: &mut Map,
            v: &mut Map,
        ) {
            for dep in &inv.role.dependencies {
                from_invocation(dep, seen, d, v);
            }
            if seen.insert(inv.role.path.clone()) {
                merge_into(d, &inv.role.defaults);
                merge_into(v, &inv.role.vars);
            }
        }
        for inv in &play.roles {
            from_invocation(inv, &mut seen_roles, &mut role_defaults, &mut role_vars);
        }
        let mut magic = (*play_magic).clone();
        magic.insert("ansible_play_name".into(), Value::String(name.clone()));
        magic.insert("ansible_play_hosts_all".into(), serde_json::json!(selected));
        let ctx = Arc::new(PlayCtx {
            vars: play_vars,
            vars_files: layer(vars_files),
            role_defaults: layer(role_defaults),
            role_vars: layer(role_vars),
            magic: layer(magic),
            hosts_all: selected.clone(),
            live: Mutex::new(Arc::new(Map::new())),
            any_errors_fatal: play.any_errors_fatal,
            max_fail_percentage: play.max_fail_percentage,
            force_handlers: play.force_handlers,
        });
        let scope = Scope {
            play: ctx.clone(),
            role_params: Arc::new(Map::new()),
            block_vars: vec![],
            per_host: None,
            handler: false,
            include_depth: 0,
        };
        let handlers = play_handlers(play, &scope);

        for batch_hosts in batches(&selected, &play.serial) {
            if self.aborted.load(Ordering::SeqCst) {
                break;
            }
            let hosts: Vec<Arc<HostCtx>> = batch_hosts
                .iter()
                .filter_map(|h| self.hosts.get(h).cloned())
                .collect();
            let n = hosts.len();
            let mut batch = Batch {
                state: hosts.iter().map(|h| self.initial_state(&h.name)).collect(),
                hosts,
                handlers: handlers.clone(),
                stopped: false,
            };
            if play.gather_facts {
                self.gather_facts(&mut batch).await;
            }
            self.run_list(&play.pre_tasks, &scope, &mut batch, false)
                .await;
            self.flush_handlers(&mut batch).await;
            let mut roles_run = HashSet::new();
            for inv in &play.roles {
                self.run_role(inv, &scope, &mut batch, &mut roles_run).await;
            }
            self.run_list(&play.tasks, &scope, &mut batch, false).await;
            self.flush_handlers(&mut batch).await;
            self.run_list(&play.post_tasks, &scope, &mut batch, false)
                .await;
            self.flush_handlers(&mut batch).await;
            let newly_down = self.record_batch(&batch);
            // any_errors_fatal and max_fail_percentage end the playbook; so does a
            // batch whose hosts all failed here (Ansible's "NO MORE HOSTS LEFT")
            if batch.stopped || (n > 0 && newly_down == n) {
                self.aborted.store(true, Ordering::SeqCst);
                break;
            }
        }
        self.emit(Event::PlayEnd { name });
        Ok(())
    }

    /// A host's state when a batch starts: failed or unreachable when it was in an
    /// earlier play or batch of the run.
    fn initial_state(&self, host: &str) -> HostPlayState {
        let down = locked(&self.down);
        let (failed, unreachable) = (down.failed.contains(host), down.unreachable.contains(host));
        HostPlayState {
            failed,
            unreachable,
            down_before: failed || unreachable,
            ..HostPlayState::default()
        }
    }

    /// Remembers the batch's failed and unreachable hosts for later plays; returns
    /// how many hosts of the batch went down in it.
    fn record_batch(&self, batch: &Batch) -> usize {
        let mut down = locked(&self.down);
        let mut newly = 0;
        for (h, s) in batch.hosts.iter().zip(&batch.state) {
            if s.failed {
                down.failed.insert(h.name.clone());
            }
            if s.unreachable {
                down.unreachable.insert(h.name.clone());
            }
            newly += usize::from((s.failed || s.unreachable) && !s.down_before);
        }
        newly
    }

    /// Refreshes `ansible_play_hosts` (the play's hosts still running) and
    /// `ansible_play_batch` (the batch's) for the next task.
    fn refresh_live(&self, batch: &Batch, play: &PlayCtx) {
        let in_batch: HashMap<&str, usize> = batch
            .hosts
            .iter()
            .enumerate()
            .map(|(i, h)| (h.name.as_str(), i))
            .collect();
        let m = {
            let down = locked(&self.down);
            let running = |h: &String| match in_batch.get(h.as_str()) {
                Some(i) => batch.active(*i),
                None => !down.contains(h),
            };
            let play_hosts: Vec<&String> = play.hosts_all.iter().filter(|h| running(h)).collect();
            let batch_hosts: Vec<&String> = batch
                .hosts
                .iter()
                .map(|h| &h.name)
                .filter(|h| running(h))
                .collect();
            let mut m = Map::new();
            m.insert("ansible_play_hosts".into(), serde_json::json!(play_hosts));
            m.insert("ansible_play_batch".into(), serde_json::json!(batch_hosts));
            m
        };
        *locked(&play.live) = Arc::new(m);
    }

    /// Fails every host of the play that is still up (a play-level error).
    fn fail_all(&self, hosts: &[String], msg: &str) {
        let mut down = locked(&self.down);
        let up: Vec<&String> = hosts.iter().filter(|h| !down.contains(h)).collect();
        if !up.is_empty() && up.len() == hosts.len() {
            self.aborted.store(true, Ordering::SeqCst);
        }
        for h in up {
            down.failed.insert(h.clone());
            if let Some(ctx) = self.hosts.get(h) {
                ctx.bump(|r| r.failed += 1);
                self.emit(Event::HostResult {
                    host: h.clone(),
                    task: "vars_files".into(),
                    status: HostStatus::Failed,
                    ignored: false,
                    delegated_to: None,
                    item: None,
                    msg: Some(msg.to_string()),
                    diff: None,
                    changes: vec![],
                    result: None,
                    duration_ms: 0,
                });
            }
        }
    }

    /// The play's `vars_files`; errors name the play and the file (and the variable
    /// a templated path could not resolve).
    fn load_vars_files(&self, play: &Play, vars: &Vars) -> Result<Map, String> {
        let mut out = Map::new();
        for f in &play.vars_files {
            let err = |msg: String| format!("{}: vars_files '{f}': {msg}", play.span);
            let rendered = self
                .templar
                .render_str(f, vars)
                .map_err(|e| err(crate::exec::with_var(&e)))?;
            let path = resolve_rel(&play.base_dir, &rendered);
            let v = fmc_yaml::load(&path).map_err(|e| err(e.to_string()))?;
            match v {
                Value::Object(m) => merge_into(&mut out, &m),
                Value::Null => {}
                _ => {
                    return Err(err(format!(
                        "{}: must be a mapping of variables",
                        path.display()
                    )));
                }
            }
        }
        Ok(out)
    }

    async fn gather_facts(&self, batch: &mut Batch) {
        let need: Vec<usize> = (0..batch.hosts.len())
            .filter(|i| batch.active(*i) && batch.hosts[*i].facts().is_none())
            .collect();
        if need.is_empty() {
            return;
        }
        self.emit(Event::TaskStart {
            name: "Gathering Facts".into(),
            location: String::new(),
            handler: false,
        });
        let forks = self.opts.forks.unwrap_or(usize::MAX).max(1);
        let hosts = &batch.hosts;
        let results: Vec<(usize, TaskHostOutcome)> = stream::iter(need)
            .map(|i| async move { (i, self.gather_one(&hosts[i]).await) })
            .buffer_unordered(forks)
            .collect()
            .await;
        self.apply_outcomes(batch, results, None);
    }

    /// Records per-host outcomes of one task into the batch state.
    pub(crate) fn apply_outcomes(
        &self,
        batch: &mut Batch,
        results: Vec<(usize, TaskHostOutcome)>,
        task: Option<&Task>,
    ) {
        let mut failed_now = 0usize;
        for (i, out) in results {
            let st = &mut batch.state[i];
            match out.status {
                HostStatus::Failed if !out.ignored => {
                    st.failed = true;
                    failed_now += 1;
                    if let (Some(t), Some(r)) = (task, out.failed_result) {
                        st.failure = Some((failed_task(t), r));
                    }
                }
                HostStatus::Unreachable if !out.ignored => st.unreachable = true,
                _ => {}
            }
            if out.end_host {
                st.ended = true;
            }
            if out.changed
                && let Some(t) = task
            {
                for n in &t.notify {
                    self.notify(batch, i, n);
                }
            }
        }
        let any_fatal = task
            .and_then(|t| t.keywords.any_errors_fatal)
            .unwrap_or(false);
        if failed_now > 0 && any_fatal {
            batch.stopped = true;
        }
    }

    fn notify(&self, batch: &mut Batch, host: usize, name: &str) {
        let mut found = false;
        for (idx, h) in batch.handlers.iter().enumerate() {
            if handler_matches(&h.task, name) {
                found = true;
                if !batch.state[host].notified.contains(&idx) {
                    batch.state[host].notified.push(idx);
                }
            }
        }
        if !found {
            self.emit(Event::Warning {
                msg: format!(
                    "handler '{name}' notified by {} not found",
                    batch.hosts[host].name
                ),
            });
        }
    }

    /// Checks `any_errors_fatal` / `max_fail_percentage` after a task.
    fn check_fail_limits(&self, batch: &mut Batch, scope: &Scope) {
        let n = batch.hosts.len();
        let failed = batch
            .state
            .iter()
            .filter(|s| (s.failed || s.unreachable) && !s.down_before)
            .count();
        if failed == 0 {
            return;
        }
        if scope.play.any_errors_fatal {
            batch.stopped = true;
            return;
        }
        if let Some(max) = scope.play.max_fail_percentage {
            let pct = failed as f64 * 100.0 / n as f64;
            if pct > max {
                self.emit(Event::Warning {
                    msg: format!(
                        "{failed} of {n} hosts failed ({pct:.0}% > max_fail_percentage {max}): stopping the play"
                    ),
                });
                batch.stopped = true;
            }
        }
    }

    pub(crate) fn run_role<'s>(
        &'s self,
        inv: &'s RoleInvocation,
        scope: &'s Scope,
        batch: &'s mut Batch,
        seen: &'s mut HashSet<String>,
    ) -> BoxFuture<'s, ()> {
        Box::pin(async move {
            for dep in &inv.role.dependencies {
                self.run_role(dep, scope, batch, seen).await;
            }
            // Like Ansible: a role applied again in the same play with the same
            // parameters, `when` and tags runs once, unless its meta allows duplicates.
            if !seen.insert(role_key(inv)) && !inv.role.allow_duplicates {
                return;
            }
            let mut s = scope.clone();
            s.role_params = Arc::new(inv.vars.clone());
            let hosts = self.hosts_passing(&inv.when, &s, batch, None);
            self.run_list_on(&inv.role.tasks, &s, batch, false, Some(hosts))
                .await;
        })
    }

    /// Hosts (batch indices) for which all `when` conditions hold; hosts whose
    /// condition errors fail.
    fn hosts_passing(
        &self,
        when: &[String],
        scope: &Scope,
        batch: &mut Batch,
        among: Option<&[usize]>,
    ) -> Vec<usize> {
        if !when.is_empty() {
            self.refresh_live(batch, &scope.play);
        }
        let idx: Vec<usize> = match among {
            Some(a) => a.to_vec(),
            None => (0..batch.hosts.len())
                .filter(|i| batch.active(*i))
                .collect(),
        };
        if when.is_empty() {
            return idx;
        }
        let mut out = vec![];
        for i in idx {
            let vars = self.vars_for(&batch.hosts[i], None, scope);
            let mut ok = true;
            for c in when {
                match self.templar.eval_cond(c, &vars) {
                    Ok(true) => {}
                    Ok(false) => {
                        ok = false;
                        break;
                    }
                    Err(e) => {
                        ok = false;
                        let msg = format!("when: {c}: {e}");
                        batch.state[i].failed = true;
                        batch.state[i].failure = Some((
                            serde_json::json!({"name": "when", "when": when}),
                            serde_json::json!({"failed": true, "msg": msg}),
                        ));
                        batch.hosts[i].bump(|r| r.failed += 1);
                        self.emit(Event::HostResult {
                            host: batch.hosts[i].name.clone(),
                            task: "when".into(),
                            status: HostStatus::Failed,
                            ignored: false,
                            delegated_to: None,
                            item: None,
                            msg: Some(msg),
                            diff: None,
                            changes: vec![],
                            result: None,
                            duration_ms: 0,
                        });
                        break;
                    }
                }
            }
            if ok {
                out.push(i);
            }
        }
        out
    }

    pub(crate) fn run_list<'s>(
        &'s self,
        tasks: &'s [Task],
        scope: &'s Scope,
        batch: &'s mut Batch,
        include_failed: bool,
    ) -> BoxFuture<'s, ()> {
        self.run_list_on(tasks, scope, batch, include_failed, None)
    }

    /// Runs tasks in order on the batch's active hosts (restricted to `only` when
    /// given). With `include_failed`, hosts that failed inside the enclosing block
    /// still run (used for `always`).
    pub(crate) fn run_list_on<'s>(
        &'s self,
        tasks: &'s [Task],
        scope: &'s Scope,
        batch: &'s mut Batch,
        include_failed: bool,
        only: Option<Vec<usize>>,
    ) -> BoxFuture<'s, ()> {
        Box::pin(async move {
            for (n, task) in tasks.iter().enumerate() {
                if batch.stopped || self.aborted.load(Ordering::SeqCst) {
                    return;
                }
                let hosts: Vec<usize> = (0..batch.hosts.len())
                    .filter(|i| only.as_ref().is_none_or(|o| o.contains(i)))
                    .filter(|i| {
                        let s = &batch.state[*i];
                        if include_failed {
                            !s.unreachable && !s.ended && !batch.stopped
                        } else {
                            batch.active(*i)
                        }
                    })
                    .collect();
                if hosts.is_empty() {
                    return;
                }
                self.refresh_live(batch, &scope.play);
                let ahead = tasks.get(n + 1..).unwrap_or_default();
                self.run_task(task, ahead, scope, batch, hosts).await;
                self.check_fail_limits(batch, scope);
            }
        })
    }

    /// Runs one task of a list; `ahead` are the tasks after it in the same list.
    async fn run_task(
        &self,
        task: &Task,
        ahead: &[Task],
        scope: &Scope,
        batch: &mut Batch,
        hosts: Vec<usize>,
    ) {
        match &task.action {
            TaskAction::Block {
                block,
                rescue,
                always,
            } => {
                // a block's `when` belongs to its tasks (Ansible): when tags filter out
                // every task it could run, it is not evaluated at all
                if !(self.any_tagged(block) || self.any_tagged(always)) {
                    return;
                }
                let mut s = scope.clone();
                if !task.vars.is_empty() {
                    s.block_vars.push(Arc::new(task.vars.clone()));
                }
                let members = self.hosts_passing(&task.when, &s, batch, Some(&hosts));
                if members.is_empty() {
                    return;
                }
                let before: Vec<bool> = members.iter().map(|i| batch.state[*i].failed).collect();
                self.run_list_on(block, &s, batch, false, Some(members.clone()))
                    .await;
                let failed_in_block: Vec<usize> = members
                    .iter()
                    .zip(&before)
                    .filter(|(i, was)| !**was && batch.state[**i].failed)
                    .map(|(i, _)| *i)
                    .collect();
                if !rescue.is_empty() && !failed_in_block.is_empty() {
                    for i in &failed_in_block {
                        let st = &mut batch.state[*i];
                        st.failed = false;
                        // like Ansible: visible in the rescue and after it
                        if let Some((t, r)) = st.failure.take() {
                            batch.hosts[*i].set_runtime("ansible_failed_task", t);
                            batch.hosts[*i].set_runtime("ansible_failed_result", r);
                        }
                        batch.hosts[*i].bump(|r| r.failed = r.failed.saturating_sub(1));
                    }
                    if batch.stopped && scope.play.any_errors_fatal {
                        batch.stopped = false;
                    }
                    self.run_list_on(rescue, &s, batch, false, Some(failed_in_block))
                        .await;
                }
                if !always.is_empty() {
                    self.run_list_on(always, &s, batch, true, Some(members))
                        .await;
                }
            }
            TaskAction::Meta(m) => self.run_meta(task, m, scope, batch, hosts).await,
            TaskAction::IncludeTasks { .. } | TaskAction::IncludeRole { .. } => {
                if !self.selected(task) {
                    return;
                }
                self.run_include(task, scope, batch, hosts).await;
            }
            TaskAction::Module { .. } => {
                if !self.selected(task) {
                    return;
                }
                self.emit(Event::TaskStart {
                    name: self.task_title(task, scope, batch, &hosts),
                    location: task.span.to_string(),
                    handler: scope.handler,
                });
                let run_once = task.keywords.run_once.unwrap_or(false);
                let targets: Vec<usize> = if run_once {
                    hosts.iter().take(1).copied().collect()
                } else {
                    hosts.clone()
                };
                let mut forks = self.opts.forks.unwrap_or(usize::MAX).max(1);
                match self.throttle(task, scope, batch, &targets) {
                    Ok(Some(n)) => forks = forks.min(n),
                    Ok(None) => {}
                    Err(msg) => {
                        for i in targets {
                            self.fail_host(batch, i, task, &msg);
                        }
                        return;
                    }
                }
                let bh = &batch.hosts;
                let mut results: Vec<(usize, TaskHostOutcome)> =
                    stream::iter(targets)
                        .map(|i| async move {
                            (i, self.run_task_host(task, scope, &bh[i], ahead).await)
                        })
                        .buffer_unordered(forks)
                        .collect()
                        .await;
                if run_once && let Some((_, first)) = results.first() {
                    let first = first.clone();
                    for i in hosts.iter().skip(1) {
                        if let (Some(reg), Some(res)) = (&task.register, &first.registered) {
                            batch.hosts[*i].set_runtime(reg, res.clone());
                        }
                        results.push((*i, first.clone()));
                    }
                }
                self.apply_outcomes(batch, results, Some(task));
            }
        }
    }

    /// `throttle`: at most this many hosts run the task at once (`None`: no limit).
    /// A template is rendered with the first host's variables, like Ansible.
    fn throttle(
        &self,
        task: &Task,
        scope: &Scope,
        batch: &Batch,
        targets: &[usize],
    ) -> Result<Option<usize>, String> {
        let (Some(raw), Some(first)) = (&task.keywords.throttle, targets.first()) else {
            return Ok(None);
        };
        let vars = self.vars_for(&batch.hosts[*first], Some(task), scope);
        let n = self.keyword_count(raw, &vars, "throttle")?;
        Ok((n > 0).then(|| usize::try_from(n).unwrap_or(usize::MAX)))
    }

    /// A count keyword (`throttle`, `timeout`) rendered for a host.
    pub(crate) fn keyword_count(
        &self,
        raw: &Value,
        vars: &Vars,
        what: &str,
    ) -> Result<u64, String> {
        let v = self
            .templar
            .render_value(raw, vars)
            .map_err(|e| format!("{what}: {}", crate::exec::with_var(&e)))?;
        fmc_core::lenient::to_string(&v)
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or_else(|| format!("'{what}' must be a non-negative integer, got {v}"))
    }

    /// The task's `timeout` for one host, for the transport to end remote commands
    /// that outlive it (`None`: no timeout, or one that does not render).
    pub(crate) fn task_timeout(&self, task: &Task, vars: &Vars) -> Option<Duration> {
        let raw = task.keywords.timeout.as_ref()?;
        let secs = self.keyword_count(raw, vars, "timeout").ok()?;
        (secs > 0).then(|| Duration::from_secs(secs))
    }

    /// `--tags`/`--skip-tags` and `--start-at-task`.
    /// Whether the tags select any task of `tasks` (through nested blocks).
    fn any_tagged(&self, tasks: &[Task]) -> bool {
        tasks.iter().any(|t| match &t.action {
            TaskAction::Block {
                block,
                rescue,
                always,
            } => self.any_tagged(block) || self.any_tagged(rescue) || self.any_tagged(always),
            _ => self.opts.tags.selects(&t.tags),
        })
    }

    fn selected(&self, task: &Task) -> bool {
        if !self.opts.tags.selects(&task.tags) {
            return false;
        }
        if !self.started.load(Ordering::SeqCst) {
            let want = self.opts.start_at_task.as_deref().unwrap_or("");
            let matches = task.name.as_deref() == Some(want) || task.display_name() == want;
            if !matches {
                return false;
            }
            self.started.store(true, Ordering::SeqCst);
        }
        true
    }

    fn task_title(&self, task: &Task, scope: &Scope, batch: &Batch, hosts: &[usize]) -> String {
        let title = task.display_name();
        if !title.contains("{{") {
            return title;
        }
        match hosts.first() {
            Some(i) => {
                let vars = self.vars_for(&batch.hosts[*i], Some(task), scope);
                self.templar.render_str(&title, &vars).unwrap_or(title)
            }
            None => title,
        }
    }

    async fn run_meta(
        &self,
        task: &Task,
        m: &str,
        scope: &Scope,
        batch: &mut Batch,
        hosts: Vec<usize>,
    ) {
        let passing = self.hosts_passing(&task.when, scope, batch, Some(&hosts));
        match m {
            "flush_handlers" => {
                if !passing.is_empty() {
                    self.flush_handlers(batch).await;
                }
            }
            "end_play" => {
                if !passing.is_empty() {
                    for i in 0..batch.hosts.len() {
                        batch.state[i].ended = true;
                    }
                }
            }
            "end_batch" => {
                for i in 0..batch.hosts.len() {
                    batch.state[i].ended = true;
                }
            }
            "end_host" => {
                for i in passing {
                    batch.state[i].ended = true;
                }
            }
            "clear_host_errors" => {
                // Like Ansible: a host that failed does not resume in this batch, but
                // it is no longer failed, and later plays run on it again.
                if !passing.is_empty() {
                    for s in batch.state.iter_mut() {
                        if s.failed || s.unreachable {
                            s.failed = false;
                            s.unreachable = false;
                            s.ended = true;
                        }
                    }
                    let mut down = locked(&self.down);
                    for h in &batch.hosts {
                        down.failed.remove(&h.name);
                        down.unreachable.remove(&h.name);
                    }
                }
            }
            "clear_facts" => {
                for i in passing {
                    batch.hosts[i].clear_facts();
                }
            }
            "noop" | "reset_connection" | "refresh_inventory" => {}
            other => self.emit(Event::Warning {
                msg: format!("{}: meta '{other}' is not supported; ignored", task.span),
            }),
        }
    }

    pub(crate) async fn flush_handlers(&self, batch: &mut Batch) {
        let mut idx = 0;
        while idx < batch.handlers.len() {
            let hosts: Vec<usize> = (0..batch.hosts.len())
                .filter(|i| batch.state[*i].notified.contains(&idx))
                .filter(|i| {
                    let s = &batch.state[*i];
                    !s.unreachable && (!s.failed || batch.handlers[idx].scope.play.force_handlers)
                })
                .collect();
            for s in batch.state.iter_mut() {
                s.notified.retain(|n| *n != idx);
            }
            if !hosts.is_empty() {
                // Handlers act on hosts: no probe prefetched before them stays valid.
                self.conns.invalidate_probes();
                let h = batch.handlers[idx].clone();
                let mut task = h.task.clone();
                // Handlers are not subject to tag selection.
                task.tags = vec!["always".into()];
                self.run_list_on(
                    std::slice::from_ref(&task),
                    &h.scope,
                    batch,
                    false,
                    Some(hosts),
                )
                .await;
            }
            idx += 1;
        }
    }

    async fn run_include(&self, task: &Task, scope: &Scope, batch: &mut Batch, hosts: Vec<usize>) {
        let hosts = self.hosts_passing(&task.when, scope, batch, Some(&hosts));
        if hosts.is_empty() {
            return;
        }
        if scope.include_depth >= MAX_INCLUDE_DEPTH {
            let what = match &task.action {
                TaskAction::IncludeTasks { file, .. } => format!("include_tasks '{file}'"),
                TaskAction::IncludeRole { name, .. } => format!("include_role '{name}'"),
                _ => task.display_name(),
            };
            let msg = format!(
                "task '{}': {what} is nested more than {MAX_INCLUDE_DEPTH} includes deep \
                 (does it include itself without end?)",
                task.display_name()
            );
            for i in hosts {
                self.fail_host(batch, i, task, &msg);
            }
            return;
        }
        // Per host: the items to include with (one `None` item without a loop).
        let mut per_host_items: Vec<(usize, Vec<Option<Map>>)> = vec![];
        for i in &hosts {
            let vars = self.vars_for(&batch.hosts[*i], Some(task), scope);
            match self.loop_items(task, &vars) {
                Ok(None) => per_host_items.push((*i, vec![None])),
                Ok(Some(items)) => {
                    let lc = &task.loop_control;
                    let maps = items
                        .into_iter()
                        .enumerate()
                        .map(|(n, it)| {
                            let mut m = Map::new();
                            m.insert(lc.loop_var.clone(), it);
                            if let Some(iv) = &lc.index_var {
                                m.insert(iv.clone(), Value::from(n));
                            }
                            Some(m)
                        })
                        .collect();
                    per_host_items.push((*i, maps));
                }
                Err(msg) => self.fail_host(batch, *i, task, &msg),
            }
        }
        let rounds = per_host_items
            .iter()
            .map(|(_, v)| v.len())
            .max()
            .unwrap_or(0);
        for round in 0..rounds {
            // Group hosts by what they include this round (file or role name).
            let mut groups: IndexMap<String, Vec<usize>> = IndexMap::new();
            let mut item_vars: HashMap<String, Map> = HashMap::new();
            for (i, items) in &per_host_items {
                let Some(item) = items.get(round) else {
                    continue;
                };
                if !batch.active(*i) {
                    continue;
                }
                let mut vars = self.vars_for(&batch.hosts[*i], Some(task), scope);
                if let Some(m) = item {
                    for (k, v) in m {
                        vars.set(k, v.clone());
                    }
                    item_vars.insert(batch.hosts[*i].name.clone(), m.clone());
                }
                let target = match &task.action {
                    TaskAction::IncludeTasks { file, .. } => self.templar.render_str(file, &vars),
                    TaskAction::IncludeRole { name, .. } => self.templar.render_str(name, &vars),
                    _ => continue,
                };
                match target {
                    Ok(t) => groups.entry(t).or_default().push(*i),
                    Err(e) => self.fail_host(batch, *i, task, &format!("include: {e}")),
                }
            }
            let mut s = scope.clone();
            s.include_depth += 1;
            if !task.vars.is_empty() {
                s.block_vars.push(Arc::new(task.vars.clone()));
            }
            if !item_vars.is_empty() {
                s.per_host = Some(Arc::new(item_vars));
            }
            // With `apply:`, the included tasks take their tags from it, not from the
            // include task (Ansible's idiom `tags: always` + `apply: {tags: x}`); the
            // enclosing role's name stays an implicit tag.
            let apply_given = matches!(
                &task.action,
                TaskAction::IncludeTasks { apply: Some(_), .. }
                    | TaskAction::IncludeRole { apply: Some(_), .. }
            );
            let role_tag: Vec<String> = task.role.iter().map(|r| r.name.clone()).collect();
            let inherited_tags: &[String] = if apply_given { &role_tag } else { &task.tags };
            for (target, members) in groups {
                match &task.action {
                    TaskAction::IncludeTasks {
                        base_dir, apply, ..
                    } => {
                        let path = fmc_playbook::resolve_tasks_file(
                            &target,
                            base_dir,
                            task.role.as_deref(),
                        )
                        .unwrap_or_else(|| base_dir.join(&target));
                        let opts = fmc_playbook::LoadOptions {
                            role_paths: self.role_paths(),
                        };
                        match fmc_playbook::load_included_tasks(
                            &path,
                            inherited_tags,
                            task.role.clone(),
                            base_dir,
                            &opts,
                        ) {
                            Ok(mut inc) => {
                                if let Some(a) = apply {
                                    fmc_playbook::apply_to_included(&mut inc.tasks, a);
                                }
                                fmc_playbook::apply_inherited(
                                    &mut inc.tasks,
                                    inherited_tags,
                                    &task.keywords,
                                );
                                for h in inc.handlers {
                                    batch.handlers.push(Handler {
                                        task: h,
                                        scope: s.clone(),
                                    });
                                }
                                self.run_list_on(&inc.tasks, &s, batch, false, Some(members))
                                    .await
                            }
                            Err(e) => {
                                for i in members {
                                    self.fail_host(batch, i, task, &e.to_string());
                                }
                            }
                        }
                    }
                    TaskAction::IncludeRole {
                        tasks_from,
                        vars,
                        search_from,
                        apply,
                        ..
                    } => {
                        let opts = fmc_playbook::LoadOptions {
                            role_paths: self.role_paths(),
                        };
                        match fmc_playbook::load_role(
                            &target,
                            tasks_from.as_deref(),
                            search_from,
                            &opts,
                        ) {
                            Ok(role) => {
                                let mut role = (*role).clone();
                                if let Some(a) = apply {
                                    fmc_playbook::apply_to_included(&mut role.tasks, a);
                                }
                                fmc_playbook::apply_inherited(
                                    &mut role.tasks,
                                    inherited_tags,
                                    &task.keywords,
                                );
                                let role = Arc::new(role);
                                for h in &role.handlers {
                                    batch.handlers.push(Handler {
                                        task: h.clone(),
                                        scope: s.clone(),
                                    });
                                }
                                let inv = RoleInvocation {
                                    role,
                                    vars: vars.clone(),
                                    when: vec![],
                                    tags: inherited_tags.to_vec(),
                                    span: task.span.clone(),
                                };
                                self.run_role_on(&inv, &s, batch, members).await;
                            }
                            Err(e) => {
                                for i in members {
                                    self.fail_host(batch, i, task, &e.to_string());
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    async fn run_role_on(
        &self,
        inv: &RoleInvocation,
        scope: &Scope,
        batch: &mut Batch,
        only: Vec<usize>,
    ) {
        for dep in &inv.role.dependencies {
            Box::pin(self.run_role_on(dep, scope, batch, only.clone())).await;
        }
        let mut s = scope.clone();
        s.role_params = Arc::new(inv.vars.clone());
        self.run_list_on(&inv.role.tasks, &s, batch, false, Some(only))
            .await;
    }

    pub(crate) fn role_paths(&self) -> Vec<PathBuf> {
        let mut v = vec![self.playbook_dir.join("roles")];
        if let Some(parent) = absolute(&self.playbook_dir).parent() {
            v.push(parent.join("roles"));
        }
        v
    }

    pub(crate) fn fail_host(&self, batch: &mut Batch, i: usize, task: &Task, msg: &str) {
        let msg = format!("{}: {msg}", task.span);
        batch.state[i].failed = true;
        batch.state[i].failure = Some((
            failed_task(task),
            serde_json::json!({"failed": true, "msg": msg}),
        ));
        batch.hosts[i].bump(|r| r.failed += 1);
        self.emit(Event::HostResult {
            host: batch.hosts[i].name.clone(),
            task: task.display_name(),
            status: HostStatus::Failed,
            ignored: false,
            delegated_to: None,
            item: None,
            msg: Some(msg),
            diff: None,
            changes: vec![],
            result: None,
            duration_ms: 0,
        });
    }

    /// The variables of `host` for `task` in `scope`, lowest precedence first:
    /// role defaults, inventory, facts, play vars, vars_files, role vars, block vars,
    /// task vars, set_fact/register, role params, magic vars, extra vars.
    pub(crate) fn vars_for(&self, host: &HostCtx, task: Option<&Task>, scope: &Scope) -> Vars {
        let role = task.and_then(|t| t.role.as_ref());
        let mut v = Vars::new();
        v.push("magic (global)", self.hostvars.global.clone());
        v.push("defaults (flags)", self.hostvars.defaults.clone());
        v.push(
            "role defaults (all roles)",
            scope.play.role_defaults.clone(),
        );
        if let Some(r) = role {
            v.push("role defaults", r.defaults.clone());
        }
        v.push("inventory", host.inventory.clone());
        v.push_literal("facts", host.facts_snapshot());
        v.push("play vars", scope.play.vars.clone());
        v.push("play vars_files", scope.play.vars_files.clone());
        v.push("role vars (all roles)", scope.play.role_vars.clone());
        if let Some(r) = role {
            v.push("role vars", r.vars.clone());
        }
        for b in &scope.block_vars {
            v.push("block vars", b.clone());
        }
        if let Some(t) = task
            && !t.vars.is_empty()
        {
            v.push("task vars", Arc::new(t.vars.clone()));
        }
        v.push("include_vars", host.included_snapshot());
        v.push_literal("set_fact/register", host.runtime_snapshot());
        if !scope.role_params.is_empty() {
            v.push("role params", scope.role_params.clone());
        }
        if let Some(ph) = &scope.per_host
            && let Some(m) = ph.get(&host.name)
        {
            v.push("include loop vars", Arc::new(m.clone()));
        }
        // magic variables: shared layers (the play's host lists are not copied per host
        // and task), then the host's own; their names do not overlap
        v.push("magic (play)", scope.play.magic.clone());
        v.push("magic (play hosts)", locked(&scope.play.live).clone());
        match role {
            Some(r) => {
                let mut magic = (*host.magic).clone();
                magic.insert("role_name".into(), Value::String(r.name.clone()));
                magic.insert(
                    "role_path".into(),
                    Value::String(absolute(&r.path).display().to_string()),
                );
                v.push("magic", Arc::new(magic));
            }
            None => v.push("magic", host.magic.clone()),
        }
        v.push("extra vars", self.hostvars.extra.clone());
        v.set_hostvars(Arc::new(self.hostvars.clone()));
        // lookup('file'|'template') search the role, then the playbook directory
        // (each with its files/ or templates/ first).
        let mut paths = Vec::with_capacity(2);
        if let Some(r) = role {
            paths.push(r.path.clone());
        }
        paths.push(self.playbook_dir.clone());
        v.set_search_paths(paths);
        v
    }
}

/// Role defaults and vars of every role whose tasks appear in `tasks` (imported
/// roles), once per role.
fn collect_task_roles(
    tasks: &[Task],
    seen: &mut HashSet<PathBuf>,
    defaults: &mut Map,
    vars: &mut Map,
) {
    for t in tasks {
        if let Some(r) = &t.role
            && seen.insert(r.path.clone())
        {
            merge_into(defaults, &r.defaults);
            merge_into(vars, &r.vars);
        }
        if let TaskAction::Block {
            block,
            rescue,
            always,
        } = &t.action
        {
            for list in [block, rescue, always] {
                collect_task_roles(list, seen, defaults, vars);
            }
        }
    }
}

/// Play handlers, after the handlers of every role of the play (Ansible's order).
fn play_handlers(play: &Play, scope: &Scope) -> Vec<Handler> {
    let mut out = vec![];
    let mut seen = HashSet::new();
    fn add(
        inv: &RoleInvocation,
        scope: &Scope,
        out: &mut Vec<Handler>,
        seen: &mut HashSet<PathBuf>,
    ) {
        for d in &inv.role.dependencies {
            add(d, scope, out, seen);
        }
        if !seen.insert(inv.role.path.clone()) {
            return;
        }
        let mut s = scope.clone();
        s.role_params = Arc::new(inv.vars.clone());
        s.handler = true;
        for h in &inv.role.handlers {
            out.push(Handler {
                task: h.clone(),
                scope: s.clone(),
            });
        }
    }
    for inv in &play.roles {
        add(inv, scope, &mut out, &mut seen);
    }
    let mut s = scope.clone();
    s.handler = true;
    for h in &play.handlers {
        out.push(Handler {
            task: h.clone(),
            scope: s.clone(),
        });
    }
    out
}

/// Whether `notify: name` reaches this handler: its name, `role : name`, or a `listen` topic.
pub(crate) fn handler_matches(h: &Task, name: &str) -> bool {
    h.name.as_deref() == Some(name)
        || h.display_name() == name
        || h.listen.iter().any(|l| l == name)
}

/// Splits hosts into `serial` batches; the last serial value repeats.
pub(crate) fn batches(hosts: &[String], serial: &[Serial]) -> Vec<Vec<String>> {
    if serial.is_empty() {
        return vec![hosts.to_vec()];
    }
    let total = hosts.len();
    let mut out = vec![];
    let mut pos = 0;
    let mut k = 0;
    while pos < total {
        let s = &serial[k.min(serial.len() - 1)];
        let size = match s {
            Serial::Count(n) => *n as usize,
            Serial::Percent(p) => ((total as f64) * p / 100.0).floor() as usize,
        }
        .max(1);
        let end = (pos + size).min(total);
        out.push(hosts[pos..end].to_vec());
        pos = end;
        k += 1;
    }
    out
}

pub(crate) fn merge_into(dst: &mut Map, src: &Map) {
    for (k, v) in src {
        dst.insert(k.clone(), v.clone());
    }
}

/// `p` made absolute against the working directory, with `.` and `..` resolved
/// lexically (Python's `os.path.abspath`, which Ansible uses for `playbook_dir`).
pub(crate) fn absolute(p: &Path) -> PathBuf {
    use std::path::Component;
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        match std::env::current_dir() {
            Ok(d) => d.join(p),
            Err(_) => return p.to_path_buf(),
        }
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// What makes two applications of a role the same for deduplication (Ansible
/// compares the role's path, parameters, `when` and tags).
fn role_key(inv: &RoleInvocation) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut entries: Vec<(&String, &Value)> = m.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.clone(), sorted(v)))
                        .collect(),
                )
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    serde_json::json!([
        inv.role.path.display().to_string(),
        sorted(&Value::Object(inv.vars.clone())),
        inv.when,
        inv.tags
    ])
    .to_string()
}

/// `ansible_failed_task`: the failed task's keywords (arguments hidden with `no_log`).
fn failed_task(t: &Task) -> Value {
    let (action, args) = match &t.action {
        TaskAction::Module { module, args } if t.keywords.no_log.is_none() => {
            (module.clone(), Value::Object(args.clone()))
        }
        TaskAction::Module { module, .. } => {
            (module.clone(), Value::String("(hidden by no_log)".into()))
        }
        _ => (t.display_name(), Value::Null),
    };
    serde_json::json!({
        "name": t.name.clone().unwrap_or_default(),
        "action": action,
        "args": args,
        "tags": t.tags,
        "when": t.when,
        "register": t.register,
        "delegate_to": t.keywords.delegate_to,
        "location": t.span.to_string(),
    })
}

fn resolve_rel(base: &Path, rel: &str) -> PathBuf {
    let p = Path::new(rel);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("h{i}")).collect()
    }

    #[test]
    fn serial_batches() {
        let sizes = |b: Vec<Vec<String>>| b.iter().map(Vec::len).collect::<Vec<_>>();
        assert_eq!(sizes(batches(&hosts(5), &[])), vec![5]);
        assert_eq!(
            sizes(batches(&hosts(5), &[Serial::Count(2)])),
            vec![2, 2, 1]
        );
        assert_eq!(
            sizes(batches(&hosts(7), &[Serial::Count(1), Serial::Count(3)])),
            vec![1, 3, 3]
        );
        assert_eq!(
            sizes(batches(&hosts(10), &[Serial::Percent(30.0)])),
            vec![3, 3, 3, 1]
        );
        assert_eq!(
            sizes(batches(&hosts(2), &[Serial::Percent(10.0)])),
            vec![1, 1]
        );
    }
}
