//! `ping`: checks that the host runs a shell; returns `ping: <data>` (`pong`).

use fmc_core::lenient;
use fmc_core::module::parse_params;
use fmc_core::{
    CheckSupport, ExecOutput, Map, ModuleCtx, ModuleError, ModuleInfo, ParamError, Plan,
    PreparedModule, Probe,
};
use serde::Deserialize;

use super::Factory;

pub(crate) const FACTORY: Factory = Factory {
    info: ModuleInfo {
        name: "ping",
        aliases: &[],
        params: &["data"],
        required: &[],
        free_form: false,
        check: CheckSupport::Full,
        diff: false,
    },
    prepare,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    data: Option<String>,
}

struct Ping {
    data: String,
}

fn prepare(info: &ModuleInfo, args: &Map) -> Result<Box<dyn PreparedModule>, ParamError> {
    let p: Params = parse_params(info, args)?;
    Ok(Box::new(Ping {
        data: p.data.unwrap_or_else(|| "pong".into()),
    }))
}

impl PreparedModule for Ping {
    fn probe(&self, _ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        Ok(Some(Probe::new("echo pong")))
    }
    fn plan(&self, _ctx: &ModuleCtx<'_>, probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        match probe {
            Some(out) if out.rc == 0 && out.stdout_str().trim() == "pong" => {}
            Some(out) => return Err(super::probe_failed(out)),
            None => return Err(ModuleError::Probe("ping: no probe output".into())),
        }
        if self.data == "crash" {
            return Ok(Plan::fail("boom"));
        }
        let mut plan = Plan::in_sync("host answered");
        plan.result.insert("ping".into(), self.data.clone().into());
        Ok(plan)
    }
}
