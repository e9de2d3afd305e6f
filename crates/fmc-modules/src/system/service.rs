//! `service`: the generic service module. fmc manages services through systemd
//! only, so this maps to `systemd_service` (same probe, same plan). SysV/OpenRC
//! specifics (`pattern`, `runlevel`, `arguments`) are rejected when set, since
//! silently ignoring them would change behaviour; `sleep` is accepted and unused
//! (systemctl restart waits for the unit itself).

use fmc_core::lenient;
use fmc_core::module::parse_params;
use fmc_core::{
    CheckSupport, ExecOutput, Map, ModuleCtx, ModuleError, ModuleInfo, ParamError, Plan,
    PreparedModule, Probe,
};
use serde::Deserialize;

use super::systemd_service::{State, Systemd};
use super::{Factory, invalid};

pub(crate) const FACTORY: Factory = Factory {
    info: ModuleInfo {
        name: "service",
        aliases: &[],
        params: &[
            "name",
            "state",
            "enabled",
            "sleep",
            "pattern",
            "runlevel",
            "arguments",
            "args",
            "use",
        ],
        required: &["name"],
        free_form: false,
        check: CheckSupport::Full,
        diff: false,
    },
    prepare,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(deserialize_with = "lenient::string")]
    name: String,
    #[serde(default)]
    state: Option<State>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    enabled: Option<bool>,
    #[serde(rename = "sleep", default, deserialize_with = "lenient::opt_int")]
    _sleep: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pattern: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    runlevel: Option<String>,
    #[serde(default, alias = "args", deserialize_with = "lenient::opt_string")]
    arguments: Option<String>,
    #[serde(rename = "use", default, deserialize_with = "lenient::opt_string")]
    use_: Option<String>,
}

struct Service(Systemd);

fn prepare(info: &ModuleInfo, args: &Map) -> Result<Box<dyn PreparedModule>, ParamError> {
    let p: Params = parse_params(info, args)?;
    for (param, v) in [
        ("pattern", &p.pattern),
        ("runlevel", &p.runlevel),
        ("arguments", &p.arguments),
    ] {
        if v.as_deref().is_some_and(|v| !v.is_empty()) {
            return Err(invalid(
                info,
                param,
                "not supported: fmc manages services through systemd only",
            ));
        }
    }
    if let Some(u) = p.use_.as_deref()
        && u != "auto"
        && u != "systemd"
    {
        return Err(invalid(
            info,
            "use",
            format!("only 'auto' and 'systemd' are supported, got '{u}'"),
        ));
    }
    let s = Systemd {
        name: Some(p.name),
        state: p.state,
        enabled: p.enabled,
        masked: None,
        daemon_reload: false,
        daemon_reexec: false,
        no_block: false,
        force: false,
    };
    s.validate(info)?;
    Ok(Box::new(Service(s)))
}

impl PreparedModule for Service {
    fn probe(&self, ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        if let Some(f) = ctx.facts
            && !f.systemd
        {
            return Err(ModuleError::Unsupported {
                msg: format!(
                    "service {}: this host does not run systemd",
                    self.0.name.as_deref().unwrap_or_default()
                ),
                hint: "fmc manages services through systemd only".into(),
            });
        }
        Ok(self.0.probe())
    }
    fn plan(&self, _ctx: &ModuleCtx<'_>, probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        self.0.plan(probe)
    }
}
