//! `timezone` (also `community.general.timezone`): the system time zone.
//! Probe: the `/etc/localtime` link (the source of truth: a running timedated may still
//! report a zone the link no longer names), else `timedatectl show -p Timezone`.
//! Apply: `timedatectl set-timezone` on systemd hosts, then the symlink (and
//! `/etc/timezone` where it exists) whatever timedated did. The hardware clock
//! (`hwclock`) is not managed.

use fmc_core::lenient;
use fmc_core::module::parse_params;
use fmc_core::shell::quote;
use fmc_core::{
    Action, CheckSupport, ExecOutput, Map, ModuleCtx, ModuleError, ModuleInfo, ParamError, Plan,
    PreparedModule, Probe,
};
use serde::Deserialize;

use super::{Factory, invalid, key_values};

pub(crate) const FACTORY: Factory = Factory {
    info: ModuleInfo {
        name: "timezone",
        aliases: &["community.general.timezone"],
        params: &["name"],
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
}

struct Timezone {
    name: String,
}

fn prepare(info: &ModuleInfo, args: &Map) -> Result<Box<dyn PreparedModule>, ParamError> {
    let p: Params = parse_params(info, args)?;
    let ok = !p.name.is_empty()
        && !p.name.starts_with(['/', '-'])
        && !p.name.split('/').any(|c| c == ".." || c.is_empty())
        && p.name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c));
    if !ok {
        return Err(invalid(
            info,
            "name",
            format!("invalid time zone {:?}", p.name),
        ));
    }
    Ok(Box::new(Timezone { name: p.name }))
}

impl PreparedModule for Timezone {
    fn probe(&self, _ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        Ok(Some(Probe::new(format!(
            "tz=$(readlink /etc/localtime 2>/dev/null | sed 's|.*/zoneinfo/||')\n\
             if [ -z \"$tz\" ]; then tz=$(timedatectl show -p Timezone --value 2>/dev/null); fi\n\
             echo \"current=$tz\"\n\
             if [ -e /usr/share/zoneinfo/{n} ]; then echo known=yes; else echo known=no; fi\n",
            n = quote(&self.name)
        ))))
    }
    fn plan(&self, _ctx: &ModuleCtx<'_>, probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        let out = probe.ok_or_else(|| ModuleError::Probe("timezone: no probe output".into()))?;
        if out.rc != 0 {
            return Err(super::probe_failed(out));
        }
        let kv = key_values(&out.stdout_str());
        let current = kv
            .get("current")
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        let mut plan = Plan::default();
        plan.result.insert("name".into(), self.name.clone().into());
        if current == self.name {
            plan.reason = Some(format!("time zone already {current}"));
            return Ok(plan);
        }
        if kv.get("known").map(|s| s.trim()) != Some("yes") {
            return Ok(Plan::fail(format!(
                "unknown time zone {} (no /usr/share/zoneinfo/{})",
                self.name, self.name
            )));
        }
        let n = quote(&self.name);
        let before = if current.is_empty() {
            "unknown"
        } else {
            current.as_str()
        };
        plan.changes.push(format!(
            "set time zone to {} (currently {before})",
            self.name
        ));
        plan.actions.push(Action::exec(format!(
            "if [ -d /run/systemd/system ]; then timedatectl set-timezone {n} 2>/dev/null || :; fi\n\
             ln -sfn /usr/share/zoneinfo/{n} /etc/localtime && if [ -f /etc/timezone ]; then echo {n} > /etc/timezone; fi\n"
        )));
        Ok(plan)
    }
}
