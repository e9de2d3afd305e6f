//! `slurp`: reads a file from the host, registered as `content` (base64) with
//! `encoding: base64` and `source`. Never changes anything.

use fmc_core::lenient;
use fmc_core::module::parse_params;
use fmc_core::shell::quote;
use fmc_core::{
    CheckSupport, ExecOutput, ModuleCtx, ModuleError, ModuleFactory, ModuleInfo, ParamError, Plan,
    PreparedModule, Probe,
};
use serde::Deserialize;

pub const INFO: ModuleInfo = ModuleInfo {
    name: "slurp",
    aliases: &[],
    params: &["src", "path"],
    required: &["src|path"],
    free_form: false,
    check: CheckSupport::Full,
    diff: false,
};

pub struct Factory;
pub const FACTORY: Factory = Factory;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(alias = "path", deserialize_with = "lenient::string")]
    src: String,
}

struct Slurp {
    src: String,
}

impl ModuleFactory for Factory {
    fn info(&self) -> &ModuleInfo {
        &INFO
    }

    fn prepare(&self, args: &fmc_core::Map) -> Result<Box<dyn PreparedModule>, ParamError> {
        let p: Params = parse_params(&INFO, args)?;
        Ok(Box::new(Slurp { src: p.src }))
    }
}

impl PreparedModule for Slurp {
    fn probe(&self, _ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        // rc 2: missing, 3: not a regular file, 4: unreadable.
        let q = quote(&self.src);
        Ok(Some(Probe::new(format!(
            "[ -e {q} ] || exit 2\n[ -f {q} ] || exit 3\nc=$(base64 -w0 < {q}) || exit 4\nprintf '%s\\n' \"$c\"\n"
        ))))
    }

    fn plan(&self, _ctx: &ModuleCtx<'_>, probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        let out = probe.ok_or_else(|| ModuleError::Probe("no probe output".into()))?;
        let src = &self.src;
        let fail = match out.rc {
            0 => None,
            2 => Some(format!("file not found: {src}")),
            3 => Some(format!("source {src} is not a regular file")),
            4 => Some(format!(
                "cannot read {src} (permission denied?)\nhint: add 'become: true' to the task"
            )),
            rc => Some(format!(
                "reading {src} failed (rc={rc}): {}",
                out.stderr_str().trim()
            )),
        };
        if let Some(msg) = fail {
            return Ok(Plan::fail(msg));
        }
        let mut plan = Plan::in_sync("slurp never changes anything");
        plan.result
            .insert("content".into(), out.stdout_str().trim().to_string().into());
        plan.result.insert("encoding".into(), "base64".into());
        plan.result.insert("source".into(), src.as_str().into());
        Ok(plan)
    }
}
