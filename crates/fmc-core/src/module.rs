//! The module contract: facts as data, changes as data, check mode owned by the runner.
//!
//! ```text
//! factory.prepare(args)           -> PreparedModule      (typed params; unknown keys rejected)
//! prepared.probe(ctx)             -> Option<Probe>        (read-only shell script, or none)
//! prepared.plan(ctx, probe_out)   -> Plan                 (pure: changes + actions as data)
//! runner: if check mode or plan.actions is empty -> stop here
//! runner: run plan.actions in order
//! prepared.finish(plan, outputs)  -> Outcome              (pure)
//! ```
//!
//! A module never runs anything itself and never sees check mode: because probes and
//! actions are data, the runner can batch them and every module is testable from
//! fixtures without a host.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{ExecOutput, Facts, Map, Value};

/// How a module behaves under `--check`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckSupport {
    /// The plan is exact: `--check` reports precisely what a run would change.
    Full,
    /// The module cannot predict (command, shell, raw without creates/removes):
    /// the runner reports the task as skipped in check mode.
    None,
}

/// Static description of a module, used for up-front validation and `--list-*`.
#[derive(Clone, Debug)]
pub struct ModuleInfo {
    /// Canonical short name, e.g. `copy`. Its Rust file is `copy.rs`.
    pub name: &'static str,
    /// Other accepted names, e.g. `ansible.builtin.copy`, `ansible.posix.sysctl`.
    pub aliases: &'static [&'static str],
    /// Every accepted parameter name (including aliases such as `dest`/`path`).
    pub params: &'static [&'static str],
    /// Parameters that must be present (any one of the `|`-separated names).
    pub required: &'static [&'static str],
    /// Accepts a free-form string (`command: echo hi`), stored as `_raw_params`.
    pub free_form: bool,
    pub check: CheckSupport,
    /// Produces a [`FileDiff`] for `--diff`.
    pub diff: bool,
}

/// A shell script that only reads state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    pub script: String,
    /// Bytes on the probe's stdin (rarely needed).
    pub stdin: Option<Vec<u8>>,
}

impl Probe {
    pub fn new(script: impl Into<String>) -> Self {
        Probe {
            script: script.into(),
            stdin: None,
        }
    }
}

/// Something the runner does on the host when applying a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Run a script. A non-zero rc fails the task unless `allow_failure`
    /// (then `finish` decides). `stdin` may carry secrets (password hashes, keys):
    /// the runner never logs or shows it.
    Exec {
        script: String,
        stdin: Option<Vec<u8>>,
        allow_failure: bool,
        timeout: Option<Duration>,
    },
    /// Reboot the host: run `command`, wait for the connection to drop, reconnect
    /// within `timeout`, then run `test_command` until it succeeds.
    Reboot {
        command: String,
        test_command: String,
        timeout: Duration,
    },
}

impl Action {
    pub fn exec(script: impl Into<String>) -> Self {
        Action::Exec {
            script: script.into(),
            stdin: None,
            allow_failure: false,
            timeout: None,
        }
    }
    pub fn exec_with_stdin(script: impl Into<String>, stdin: Vec<u8>) -> Self {
        Action::Exec {
            script: script.into(),
            stdin: Some(stdin),
            allow_failure: false,
            timeout: None,
        }
    }
}

/// A file's before/after text for `--diff`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct FileDiff {
    pub before_header: String,
    pub after_header: String,
    pub before: String,
    pub after: String,
}

/// What a module intends to do, computed from the probe without side effects.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Human descriptions of each difference; empty means the host is in sync.
    pub changes: Vec<String>,
    /// Why nothing needs to change (shown with -v), e.g. "file already up to date".
    pub reason: Option<String>,
    pub diff: Option<FileDiff>,
    /// Applied in order by the runner, never in check mode.
    pub actions: Vec<Action>,
    /// Fields for the registered result (e.g. `stat`, `content`, `checksum`).
    pub result: Map,
    /// The module decided from the probe that the task fails (e.g. missing `src`).
    pub failed: Option<String>,
}

impl Plan {
    pub fn in_sync(reason: impl Into<String>) -> Self {
        Plan {
            reason: Some(reason.into()),
            ..Default::default()
        }
    }
    pub fn fail(msg: impl Into<String>) -> Self {
        Plan {
            failed: Some(msg.into()),
            ..Default::default()
        }
    }
    pub fn changed(&self) -> bool {
        !self.changes.is_empty()
    }
}

/// The final result of a task on one host.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub changed: bool,
    pub failed: Option<String>,
    /// Registered-result fields (`rc`, `stdout`, `stdout_lines`, `path`, ...).
    pub result: Map,
    pub diff: Option<FileDiff>,
    /// Files the runner writes on the controller (`fetch`), never in check mode.
    pub controller_writes: Vec<(PathBuf, Vec<u8>)>,
}

/// Errors from parameter validation, before anything runs.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParamError {
    #[error("unsupported parameter '{param}' for module {module}{}", hint_suffix(.hint))]
    Unknown {
        module: String,
        param: String,
        hint: Option<String>,
    },
    #[error("missing required parameter '{param}' for module {module}")]
    Missing { module: String, param: String },
    #[error("parameter '{param}' of module {module}: {msg}")]
    Invalid {
        module: String,
        param: String,
        msg: String,
    },
    #[error("module {module}: {msg}")]
    Other { module: String, msg: String },
}

fn hint_suffix(h: &Option<String>) -> String {
    h.as_ref()
        .map(|h| format!(" (did you mean '{h}'?)"))
        .unwrap_or_default()
}

/// Errors while planning or finishing: the task fails with this message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ModuleError {
    #[error("{0}")]
    Failed(String),
    /// The module cannot work on this host, with a hint naming the alternative
    /// (e.g. a package manager on Flatcar).
    #[error("{msg}\nhint: {hint}")]
    Unsupported { msg: String, hint: String },
    #[error("unexpected probe output: {0}")]
    Probe(String),
}

/// Controller-side files a module may need (`copy src=`, `template src=`, `fetch dest=`).
pub trait ControllerFiles: Send + Sync {
    /// Resolves `name` as Ansible does: absolute path, else the role's `files/`
    /// (or `templates/` when `template` is true), then the playbook directory.
    fn find(&self, name: &str, template: bool) -> Result<PathBuf, String>;
    fn read(&self, path: &Path) -> Result<Vec<u8>, String>;
    /// Renders a template file with the task's variables.
    fn render(&self, path: &Path) -> Result<String, String>;
    /// The directory relative controller paths are taken from (the playbook's
    /// directory, as in Ansible); `None` means the current directory.
    fn base_dir(&self) -> Option<&Path> {
        None
    }
}

/// Everything a module may look at besides its parameters.
pub struct ModuleCtx<'a> {
    pub host: &'a str,
    pub facts: Option<&'a Facts>,
    pub files: &'a dyn ControllerFiles,
    /// Task variables (read-only), for modules such as `setup` filters.
    pub vars: &'a Map,
}

/// A module with its parameters parsed and validated.
pub trait PreparedModule: Send + Sync {
    /// Overrides [`ModuleInfo::check`] for these parameters (e.g. `command` with
    /// `creates:` can predict its outcome). `None` keeps the static answer.
    fn check_support(&self) -> Option<CheckSupport> {
        None
    }
    fn probe(&self, ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError>;
    fn plan(&self, ctx: &ModuleCtx<'_>, probe: Option<&ExecOutput>) -> Result<Plan, ModuleError>;
    /// Turns the outputs of the applied actions into the outcome. The default: any
    /// action with rc != 0 fails the task with its stderr; otherwise changed.
    fn finish(&self, plan: &Plan, outputs: &[ExecOutput]) -> Result<Outcome, ModuleError> {
        default_finish(plan, outputs)
    }
}

/// See [`PreparedModule::finish`].
pub fn default_finish(plan: &Plan, outputs: &[ExecOutput]) -> Result<Outcome, ModuleError> {
    if let Some(bad) = outputs.iter().find(|o| o.rc != 0) {
        let err = bad.stderr_str();
        let out = bad.stdout_str();
        let msg = if err.trim().is_empty() { out } else { err };
        return Ok(Outcome {
            changed: false,
            failed: Some(format!("command failed (rc={}): {}", bad.rc, msg.trim())),
            result: plan.result.clone(),
            diff: plan.diff.clone(),
            controller_writes: vec![],
        });
    }
    Ok(Outcome {
        changed: plan.changed(),
        failed: None,
        result: plan.result.clone(),
        diff: plan.diff.clone(),
        controller_writes: vec![],
    })
}

/// A module: static info plus a constructor from (templated) arguments.
pub trait ModuleFactory: Send + Sync {
    fn info(&self) -> &ModuleInfo;
    fn prepare(&self, args: &Map) -> Result<Box<dyn PreparedModule>, ParamError>;
}

/// Checks names only (unknown and missing parameters), for up-front validation of
/// untemplated arguments. Type checks happen in `prepare` after templating.
pub fn check_param_names(info: &ModuleInfo, args: &Map) -> Result<(), ParamError> {
    for key in args.keys() {
        if key == "_raw_params" && info.free_form {
            continue;
        }
        if !info.params.contains(&key.as_str()) {
            return Err(ParamError::Unknown {
                module: info.name.to_string(),
                param: key.clone(),
                hint: closest(key, info.params),
            });
        }
    }
    for req in info.required {
        if !req.split('|').any(|r| args.contains_key(r)) {
            return Err(ParamError::Missing {
                module: info.name.to_string(),
                param: req.replace('|', " or "),
            });
        }
    }
    Ok(())
}

/// The most similar candidate within edit distance 2, for "did you mean" hints.
pub fn closest(word: &str, candidates: &[&str]) -> Option<String> {
    candidates
        .iter()
        .map(|c| (levenshtein(word, c), *c))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_string())
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Converts a parameter map into a typed struct, mapping serde errors to [`ParamError`].
pub fn parse_params<T: serde::de::DeserializeOwned>(
    info: &ModuleInfo,
    args: &Map,
) -> Result<T, ParamError> {
    check_param_names(info, args)?;
    serde_json::from_value(Value::Object(args.clone())).map_err(|e| ParamError::Other {
        module: info.name.to_string(),
        msg: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: ModuleInfo = ModuleInfo {
        name: "file",
        aliases: &[],
        params: &["path", "dest", "state", "mode"],
        required: &["path|dest"],
        free_form: false,
        check: CheckSupport::Full,
        diff: false,
    };

    #[test]
    fn unknown_param_gets_hint() {
        let mut m = Map::new();
        m.insert("path".into(), "x".into());
        m.insert("stat".into(), "directory".into());
        let e = check_param_names(&INFO, &m).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unsupported parameter 'stat' for module file (did you mean 'state'?)"
        );
    }

    #[test]
    fn missing_required_names_alternatives() {
        let e = check_param_names(&INFO, &Map::new()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "missing required parameter 'path or dest' for module file"
        );
    }
}
