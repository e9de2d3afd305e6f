//! `wait_for`: waits on the host for a TCP port to open/close or a file to
//! appear/disappear (optionally containing `search_regex`), as one remote shell
//! loop bounded by `timeout`. Never reports changed.
//!
//! Port checks need `nc` (`nc -z -w`) or, failing that, `bash` and `timeout` (bash's
//! `/dev/tcp`); a host with neither fails with a clear message. `search_regex` is
//! a POSIX extended regex (`grep -E`), checked in files only (not on ports).
//! Not supported: `state: drained`, `exclude_hosts`, `active_connection_states`.

use std::time::Duration;

use fmc_core::lenient;
use fmc_core::module::parse_params;
use fmc_core::shell::quote;
use fmc_core::{
    Action, CheckSupport, ExecOutput, Map, ModuleCtx, ModuleError, ModuleInfo, Outcome, ParamError,
    Plan, PreparedModule, Probe,
};
use serde::Deserialize;

use super::{Factory, invalid, key_values};

pub(crate) const FACTORY: Factory = Factory {
    info: ModuleInfo {
        name: "wait_for",
        aliases: &[],
        params: &[
            "host",
            "port",
            "path",
            "state",
            "delay",
            "timeout",
            "sleep",
            "search_regex",
            "msg",
            "connect_timeout",
        ],
        required: &[],
        free_form: false,
        check: CheckSupport::Full,
        diff: false,
    },
    prepare,
};

#[derive(Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum State {
    Started,
    Present,
    Stopped,
    Absent,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    host: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    port: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    path: Option<String>,
    #[serde(default)]
    state: Option<State>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    delay: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    timeout: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    sleep: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    search_regex: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    msg: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    connect_timeout: Option<i64>,
}

struct WaitFor {
    script: String,
    timeout: u64,
    delay: u64,
    timeout_msg: String,
    result: Map,
}

fn non_negative(
    info: &ModuleInfo,
    name: &str,
    v: Option<i64>,
    default: i64,
) -> Result<u64, ParamError> {
    let v = v.unwrap_or(default);
    u64::try_from(v).map_err(|_| invalid(info, name, "must not be negative"))
}

fn prepare(info: &ModuleInfo, args: &Map) -> Result<Box<dyn PreparedModule>, ParamError> {
    let p: Params = parse_params(info, args)?;
    let delay = non_negative(info, "delay", p.delay, 0)?;
    let timeout = non_negative(info, "timeout", p.timeout, 300)?;
    let sleep = non_negative(info, "sleep", p.sleep, 1)?.max(1);
    let connect = non_negative(info, "connect_timeout", p.connect_timeout, 5)?.max(1);
    let state = p.state.unwrap_or(State::Started);
    let host = p.host.unwrap_or_else(|| "127.0.0.1".into());
    if host.is_empty() || host.starts_with('-') || host.contains(['/', ' ', '\n']) {
        return Err(invalid(info, "host", format!("invalid host {host:?}")));
    }
    let mut result = Map::new();
    let (cond, timeout_msg, prelude) = match (p.port, &p.path) {
        (Some(_), Some(_)) => {
            return Err(super::other(
                info,
                "'port' and 'path' are mutually exclusive",
            ));
        }
        (Some(port), None) => {
            if !(1..=65535).contains(&port) {
                return Err(invalid(info, "port", "must be between 1 and 65535"));
            }
            if p.search_regex.is_some() {
                return Err(invalid(info, "search_regex", "only supported with 'path'"));
            }
            result.insert("port".into(), port.into());
            let (h, what) = (quote(&host), format!("{host}:{port}"));
            let prelude = format!(
                "if command -v nc >/dev/null 2>&1; then port_open() {{ nc -z -w {connect} {h} {port} >/dev/null 2>&1; }}\n\
                 elif command -v bash >/dev/null 2>&1 && command -v timeout >/dev/null 2>&1; then\n\
                 port_open() {{ timeout {connect} bash -c 'exec 3<>\"/dev/tcp/$0/$1\"' {h} {port} >/dev/null 2>&1; }}\n\
                 else echo 'wait_for: checking a port needs nc, or bash and timeout, on the host' >&2; exit 3; fi\n"
            );
            match state {
                State::Started | State::Present => (
                    "port_open".to_string(),
                    format!("Timeout when waiting for {what}"),
                    prelude,
                ),
                State::Stopped | State::Absent => (
                    "! port_open".to_string(),
                    format!("Timeout when waiting for {what} to stop."),
                    prelude,
                ),
            }
        }
        (None, Some(path)) => {
            result.insert("path".into(), path.clone().into());
            let q = quote(path);
            match (state, &p.search_regex) {
                (State::Started | State::Present, None) => (
                    format!("[ -e {q} ]"),
                    format!("Timeout when waiting for file {path}"),
                    String::new(),
                ),
                (State::Started | State::Present, Some(re)) => (
                    format!("grep -E -q -- {} {q} 2>/dev/null", quote(re)),
                    format!("Timeout when waiting for search string {re} in {path}"),
                    String::new(),
                ),
                (State::Stopped | State::Absent, None) => (
                    format!("[ ! -e {q} ]"),
                    format!("Timeout when waiting for {path} to be absent."),
                    String::new(),
                ),
                (State::Stopped | State::Absent, Some(_)) => {
                    return Err(invalid(
                        info,
                        "search_regex",
                        "only supported with state started/present",
                    ));
                }
            }
        }
        (None, None) => ("false".to_string(), String::new(), String::new()),
    };
    result.insert(
        "state".into(),
        match state {
            State::Started => "started",
            State::Present => "present",
            State::Stopped => "stopped",
            State::Absent => "absent",
        }
        .into(),
    );
    let script = if cond == "false" {
        // neither port nor path: Ansible just sleeps for `timeout` seconds
        format!(
            "sleep {}\necho elapsed={}\n",
            delay + timeout,
            delay + timeout
        )
    } else {
        format!(
            "{prelude}sleep {delay}\nstart=$(date +%s); end=$((start + {timeout}))\n\
             while :; do\n  if {cond}; then echo \"elapsed=$(( $(date +%s) - start + {delay} ))\"; exit 0; fi\n\
             \x20 if [ \"$(date +%s)\" -ge \"$end\" ]; then echo \"elapsed=$(( $(date +%s) - start + {delay} ))\"; exit 2; fi\n\
             \x20 sleep {sleep}\ndone\n"
        )
    };
    Ok(Box::new(WaitFor {
        script,
        timeout,
        delay,
        timeout_msg: p.msg.unwrap_or(timeout_msg),
        result,
    }))
}

impl PreparedModule for WaitFor {
    fn probe(&self, _ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        Ok(None)
    }
    fn plan(&self, _ctx: &ModuleCtx<'_>, _probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        Ok(Plan {
            reason: Some("wait_for never changes the host".into()),
            actions: vec![Action::Exec {
                script: self.script.clone(),
                stdin: None,
                allow_failure: true,
                timeout: Some(Duration::from_secs(self.delay + self.timeout + 15)),
            }],
            result: self.result.clone(),
            ..Default::default()
        })
    }
    fn finish(&self, plan: &Plan, outputs: &[ExecOutput]) -> Result<Outcome, ModuleError> {
        let out = outputs
            .first()
            .ok_or_else(|| ModuleError::Failed("wait_for: the wait did not run".into()))?;
        let mut result = plan.result.clone();
        if let Some(e) = key_values(&out.stdout_str())
            .get("elapsed")
            .and_then(|e| e.trim().parse::<i64>().ok())
        {
            result.insert("elapsed".into(), e.into());
        }
        let failed = match out.rc {
            0 => None,
            2 => Some(self.timeout_msg.clone()),
            rc => Some(format!(
                "wait_for failed (rc={rc}): {}",
                out.stderr_str().trim()
            )),
        };
        Ok(Outcome {
            changed: false,
            failed,
            result,
            ..Default::default()
        })
    }
}
