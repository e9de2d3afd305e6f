//! `wait_for_connection`: waits until the host can be reached and runs a command.
//!
//! The waiting needs the connection layer, so the runner does it with
//! [`WaitSettings`] (from [`settings`]), as Ansible's action plugin does: sleep
//! `delay`, then attempt to connect (again) and run `true`, each attempt bounded by
//! `connect_timeout`, `sleep` seconds apart, until `timeout`; the result has
//! `elapsed`. Never changed; skipped in check mode (as in Ansible). The prepared
//! module only validates the arguments.

use std::time::Duration;

use fmc_core::lenient;
use fmc_core::module::parse_params;
use fmc_core::{
    CheckSupport, ExecOutput, Map, ModuleCtx, ModuleError, ModuleInfo, Outcome, ParamError, Plan,
    PreparedModule, Probe,
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

/// Only validates the arguments: the runner does the waiting (see the module docs).
struct WaitForConnection;

fn prepare(_info: &ModuleInfo, args: &Map) -> Result<Box<dyn PreparedModule>, ParamError> {
    settings(args)?;
    Ok(Box::new(WaitForConnection))
}

impl PreparedModule for WaitForConnection {
    fn probe(&self, _ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        Ok(None)
    }

    fn plan(&self, _ctx: &ModuleCtx<'_>, _probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        Err(ModuleError::Failed(
            "wait_for_connection is carried out by the runner, not planned".into(),
        ))
    }

    fn finish(&self, _plan: &Plan, _outputs: &[ExecOutput]) -> Result<Outcome, ModuleError> {
        Err(ModuleError::Failed(
            "wait_for_connection is carried out by the runner, not planned".into(),
        ))
    }
}
