//! `group`: a local group (groupadd/groupmod/groupdel). Probe: `getent group`.

use fmc_core::lenient;
use fmc_core::module::parse_params;
use fmc_core::shell::quote;
use fmc_core::{
    Action, CheckSupport, ExecOutput, Map, ModuleCtx, ModuleError, ModuleInfo, ParamError, Plan,
    PreparedModule, Probe,
};
use serde::Deserialize;

use super::{Factory, invalid, section, sections};

pub(crate) const FACTORY: Factory = Factory {
    info: ModuleInfo {
        name: "group",
        aliases: &[],
        params: &["name", "gid", "state", "system"],
        required: &["name"],
        free_form: false,
        check: CheckSupport::Full,
        diff: false,
    },
    prepare,
};

/// `state` of accounts.
#[derive(Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Presence {
    Present,
    Absent,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(deserialize_with = "lenient::string")]
    name: String,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    gid: Option<i64>,
    #[serde(default)]
    state: Option<Presence>,
    #[serde(default, deserialize_with = "lenient::bool")]
    system: bool,
}

struct Group {
    name: String,
    gid: Option<i64>,
    state: Presence,
    system: bool,
}

/// Account names as useradd accepts them (no leading '-', no ':' or whitespace).
pub(super) fn valid_account_name(n: &str) -> bool {
    !n.is_empty()
        && !n.starts_with('-')
        && !n.contains([':', ',', '/'])
        && !n.chars().any(char::is_whitespace)
}

fn prepare(info: &ModuleInfo, args: &Map) -> Result<Box<dyn PreparedModule>, ParamError> {
    let p: Params = parse_params(info, args)?;
    if !valid_account_name(&p.name) {
        return Err(invalid(
            info,
            "name",
            format!("invalid group name {:?}", p.name),
        ));
    }
    if p.gid.is_some_and(|g| g < 0) {
        return Err(invalid(info, "gid", "must not be negative"));
    }
    Ok(Box::new(Group {
        name: p.name,
        gid: p.gid,
        state: p.state.unwrap_or(Presence::Present),
        system: p.system,
    }))
}

impl PreparedModule for Group {
    fn probe(&self, _ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        Ok(Some(Probe::new(format!(
            "{}\ngetent group -- {} || true\n",
            section("group"),
            quote(&self.name)
        ))))
    }

    fn plan(&self, _ctx: &ModuleCtx<'_>, probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        let out = probe.ok_or_else(|| ModuleError::Probe("group: no probe output".into()))?;
        let sec = sections(out);
        let line = sec
            .get("group")
            .ok_or_else(|| super::probe_failed(out))?
            .lines()
            .find(|l| l.split(':').next() == Some(self.name.as_str()))
            .map(str::to_string);
        let current_gid: Option<i64> = match &line {
            Some(l) => Some(
                l.split(':')
                    .nth(2)
                    .and_then(|g| g.parse().ok())
                    .ok_or_else(|| {
                        ModuleError::Probe(format!("bad group entry for {}", self.name))
                    })?,
            ),
            None => None,
        };
        let n = quote(&self.name);
        let path = "PATH=\"$PATH:/usr/sbin:/sbin\"; export PATH\n";
        let mut plan = Plan::default();
        match (self.state, current_gid) {
            (Presence::Absent, Some(_)) => {
                plan.changes.push(format!("remove group {}", self.name));
                plan.actions
                    .push(Action::exec(format!("{path}groupdel -- {n}")));
            }
            (Presence::Present, None) => {
                let mut cmd = String::from("groupadd");
                if let Some(g) = self.gid {
                    cmd.push_str(&format!(" -g {g}"));
                }
                if self.system {
                    cmd.push_str(" -r");
                }
                plan.changes.push(format!("create group {}", self.name));
                plan.actions
                    .push(Action::exec(format!("{path}{cmd} -- {n}")));
            }
            (Presence::Present, Some(have)) if self.gid.is_some_and(|g| g != have) => {
                let g = self.gid.unwrap_or(have);
                plan.changes.push(format!(
                    "set gid of group {} to {g} (currently {have})",
                    self.name
                ));
                plan.actions
                    .push(Action::exec(format!("{path}groupmod -g {g} -- {n}")));
            }
            _ => plan.reason = Some(format!("group {} already as requested", self.name)),
        }
        plan.result.insert("name".into(), self.name.clone().into());
        plan.result.insert(
            "state".into(),
            if self.state == Presence::Present {
                "present"
            } else {
                "absent"
            }
            .into(),
        );
        if let Some(g) = self
            .gid
            .or(current_gid)
            .filter(|_| self.state == Presence::Present)
        {
            plan.result.insert("gid".into(), g.into());
        }
        Ok(plan)
    }
}
