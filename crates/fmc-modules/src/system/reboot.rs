//! `reboot`: reboots the host and waits for it to come back (`Action::Reboot`, run
//! by the runner: issue the command, wait for the connection to drop, reconnect
//! within `reboot_timeout`, run `test_command` until it succeeds). Always changed.
//! `post_reboot_delay` is applied before the first `test_command` attempt.

use std::time::Duration;

use fmc_core::lenient;
use fmc_core::module::parse_params;
use fmc_core::shell::quote;
use fmc_core::{
    Action, CheckSupport, ExecOutput, Map, ModuleCtx, ModuleError, ModuleInfo, ParamError, Plan,
    PreparedModule, Probe,
};
use serde::Deserialize;

use super::{Factory, invalid};

pub(crate) const FACTORY: Factory = Factory {
    info: ModuleInfo {
        name: "reboot",
        aliases: &[],
        params: &[
            "reboot_timeout",
            "pre_reboot_delay",
            "post_reboot_delay",
            "test_command",
            "msg",
            "reboot_command",
        ],
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
    #[serde(default, deserialize_with = "lenient::opt_int")]
    reboot_timeout: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pre_reboot_delay: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    post_reboot_delay: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    test_command: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    msg: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    reboot_command: Option<String>,
}

struct Reboot {
    action: Action,
}

fn prepare(info: &ModuleInfo, args: &Map) -> Result<Box<dyn PreparedModule>, ParamError> {
    let p: Params = parse_params(info, args)?;
    let secs = |name: &str, v: Option<i64>, d: i64| {
        u64::try_from(v.unwrap_or(d)).map_err(|_| invalid(info, name, "must not be negative"))
    };
    let timeout = secs("reboot_timeout", p.reboot_timeout, 600)?.max(1);
    let pre = secs("pre_reboot_delay", p.pre_reboot_delay, 0)?;
    let post = secs("post_reboot_delay", p.post_reboot_delay, 0)?;
    let msg = p.msg.unwrap_or_else(|| "Reboot initiated by fmc".into());
    let reboot = p
        .reboot_command
        .unwrap_or_else(|| format!("shutdown -r now {}", quote(&msg)));
    let mut command = String::from("PATH=\"$PATH:/usr/sbin:/sbin\"; export PATH\n");
    if pre > 0 {
        command.push_str(&format!("sleep {pre}\n"));
    }
    command.push_str(&reboot);
    let test = p.test_command.unwrap_or_else(|| "whoami".into());
    let test_command = if post > 0 {
        format!("sleep {post}\n{test}")
    } else {
        test
    };
    Ok(Box::new(Reboot {
        action: Action::Reboot {
            command,
            test_command,
            timeout: Duration::from_secs(timeout),
        },
    }))
}

impl PreparedModule for Reboot {
    fn probe(&self, _ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        Ok(None)
    }
    fn plan(&self, _ctx: &ModuleCtx<'_>, _probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        let mut plan = Plan {
            changes: vec!["reboot the host".into()],
            actions: vec![self.action.clone()],
            ..Default::default()
        };
        plan.result.insert("rebooted".into(), true.into());
        Ok(plan)
    }
}
