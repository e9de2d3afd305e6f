//! `raw`: runs the free-form text as is (no word splitting, no `creates`), the
//! same way Ansible runs it over a bare SSH channel. `executable` runs the text
//! through that program's `-c` instead of the default `sh`.

use fmc_core::lenient;
use fmc_core::module::parse_params;
use fmc_core::shell::quote;
use fmc_core::{
    Action, CheckSupport, ExecOutput, Map, ModuleCtx, ModuleError, ModuleInfo, Outcome, ParamError,
    Plan, PreparedModule, Probe,
};
use serde::Deserialize;

use super::command::fill_output;
use super::{Factory, invalid};

pub(crate) const FACTORY: Factory = Factory {
    info: ModuleInfo {
        name: "raw",
        aliases: &[],
        params: &["executable"],
        required: &["_raw_params"],
        free_form: true,
        check: CheckSupport::None,
        diff: false,
    },
    prepare,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(rename = "_raw_params", deserialize_with = "lenient::string")]
    raw: String,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    executable: Option<String>,
}

struct Raw {
    script: String,
}

fn prepare(info: &ModuleInfo, args: &Map) -> Result<Box<dyn PreparedModule>, ParamError> {
    let p: Params = parse_params(info, args)?;
    if p.raw.trim().is_empty() {
        return Err(invalid(info, "_raw_params", "no command given"));
    }
    let script = match p.executable {
        Some(exe) => format!("exec {} -c {}", quote(&exe), quote(&p.raw)),
        None => p.raw,
    };
    Ok(Box::new(Raw { script }))
}

impl PreparedModule for Raw {
    fn probe(&self, _ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        Ok(None)
    }
    fn plan(&self, _ctx: &ModuleCtx<'_>, _probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        Ok(Plan {
            changes: vec!["run raw command".into()],
            actions: vec![Action::Exec {
                script: self.script.clone(),
                stdin: Some(vec![]),
                allow_failure: true,
                timeout: None,
            }],
            ..Default::default()
        })
    }
    fn finish(&self, plan: &Plan, outputs: &[ExecOutput]) -> Result<Outcome, ModuleError> {
        let mut result = plan.result.clone();
        let Some(out) = outputs.first() else {
            return Err(ModuleError::Failed("raw: the command did not run".into()));
        };
        let failed = fill_output(&mut result, out, false);
        Ok(Outcome {
            changed: true,
            failed,
            result,
            ..Default::default()
        })
    }
}
