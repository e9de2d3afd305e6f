//! `wait_for_connection`: waits until the host can be reached and runs a command.
//!
//! The waiting needs the connection layer, so the runner does it with
//! [`WaitSettings`] (from [`settings`]), as Ansible's action plugin does: sleep
//! `delay`, then attempt to connect (again) and run `true`, each attempt bounded by
//! `connect_timeout`, `sleep` seconds apart, until `timeout`; the result has
//! `elapsed`. Never changed; skipped in check mode (as in Ansible). The plan below
//! is what runs over an already open connection: one `true`.

use std::time::Duration;

use fmc_core::lenient;
use fmc_core::module::parse_params;
use fmc_core::{
    Action, CheckSupport, ExecOutput, Map, ModuleCtx, ModuleError, ModuleInfo, Outcome, ParamError,
    Plan, PreparedModule, Probe,
};
use serde::Deserialize;

use super::{Factory, invalid};

pub(crate) const FACTORY: Factory = Factory {
    info: ModuleInfo {
        name: "wait_for_connection",
        aliases: &[],
        params: &["delay", "sleep", "timeout", "connect_timeout"],
        required: &[],
        free_form: false,
        check: CheckSupport::None,
        diff: false,
    },
    prepare,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default, deserialize_with = "lenient::opt_int")]
    delay: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    sleep: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    timeout: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    connect_timeout: Option<i64>,
}

/// How the runner waits for a `wait_for_connection` task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitSettings {
    /// Before the first attempt (default 0).
    pub delay: Duration,
    /// Between attempts (default 1s).
    pub sleep: Duration,
    /// Overall limit after `delay` (default 600s).
    pub timeout: Duration,
    /// Limit of one attempt: connecting and running `true` (default 5s).
    pub connect_timeout: Duration,
}

/// Parses and checks the (templated) arguments of a `wait_for_connection` task.
pub fn settings(args: &Map) -> Result<WaitSettings, ParamError> {
    let info = &FACTORY.info;
    let p: Params = parse_params(info, args)?;
    let secs = |name: &str, v: Option<i64>, default: u64| match v {
        None => Ok(Duration::from_secs(default)),
        Some(v) => u64::try_from(v)
            .map(Duration::from_secs)
            .map_err(|_| invalid(info, name, "must not be negative")),
    };
    Ok(WaitSettings {
        delay: secs("delay", p.delay, 0)?,
        sleep: secs("sleep", p.sleep, 1)?,
        timeout: secs("timeout", p.timeout, 600)?,
        connect_timeout: secs("connect_timeout", p.connect_timeout, 5)?.max(Duration::from_secs(1)),
    })
}

struct WaitForConnection {
    settings: WaitSettings,
}

fn prepare(_info: &ModuleInfo, args: &Map) -> Result<Box<dyn PreparedModule>, ParamError> {
    Ok(Box::new(WaitForConnection {
        settings: settings(args)?,
    }))
}

impl PreparedModule for WaitForConnection {
    fn probe(&self, _ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        Ok(None)
    }

    fn plan(&self, _ctx: &ModuleCtx<'_>, _probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        Ok(Plan {
            reason: Some("wait_for_connection never changes the host".into()),
            actions: vec![Action::Exec {
                script: "true".into(),
                stdin: None,
                allow_failure: true,
                timeout: Some(self.settings.connect_timeout),
            }],
            ..Default::default()
        })
    }

    fn finish(&self, _plan: &Plan, outputs: &[ExecOutput]) -> Result<Outcome, ModuleError> {
        let mut result = Map::new();
        result.insert("elapsed".into(), 0.into());
        let failed = match outputs.first() {
            Some(o) if o.rc == 0 => None,
            Some(o) => Some(format!(
                "timed out waiting for ping module test: rc={} {}",
                o.rc,
                o.stderr_str().trim()
            )),
            None => Some("wait_for_connection: the test command did not run".into()),
        };
        Ok(Outcome {
            changed: false,
            failed,
            result,
            ..Default::default()
        })
    }
}
