//! `shell`: runs a command line through a shell (`/bin/sh` unless `executable`).
//!
//! The text is passed as one quoted argument to `<executable> -c`, so pipes,
//! redirections and variables work exactly as typed.

use fmc_core::lenient;
use fmc_core::module::parse_params;
use fmc_core::shell::quote;
use fmc_core::{CheckSupport, Map, ModuleInfo, ParamError, PreparedModule, Value};
use serde::Deserialize;

use super::command::{CommonParams, Run, RunSpec};
use super::{Factory, invalid};

pub(crate) const FACTORY: Factory = Factory {
    info: ModuleInfo {
        name: "shell",
        aliases: &[],
        params: &[
            "cmd",
            "chdir",
            "creates",
            "removes",
            "executable",
            "stdin",
            "stdin_add_newline",
            "strip_empty_ends",
        ],
        required: &[],
        free_form: true,
        check: CheckSupport::None,
        diff: false,
    },
    prepare,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(
        rename = "_raw_params",
        default,
        deserialize_with = "lenient::opt_string"
    )]
    raw: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    cmd: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    executable: Option<String>,
    #[serde(flatten)]
    common: CommonParams,
}

fn prepare(info: &ModuleInfo, args: &Map) -> Result<Box<dyn PreparedModule>, ParamError> {
    let p: Params = parse_params(info, args)?;
    let text = match (p.raw, p.cmd) {
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => return Err(invalid(info, "cmd", "no command given")),
        (Some(_), Some(_)) => {
            return Err(super::other(
                info,
                "only one of free-form text and 'cmd' may be given",
            ));
        }
    };
    if text.trim().is_empty() {
        return Err(invalid(info, "cmd", "no command given"));
    }
    let exe = p.executable.unwrap_or_else(|| "/bin/sh".into());
    if exe.trim().is_empty() {
        return Err(invalid(info, "executable", "must not be empty"));
    }
    Ok(Box::new(Run(RunSpec {
        common: p.common,
        program: format!("exec {} -c {}", quote(&exe), quote(&text)),
        cmd: Value::String(text),
    })))
}
