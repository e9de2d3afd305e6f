//! `hostname`: the static (`/etc/hostname`) and running (transient) host name.
//!
//! Probe: the kernel's host name and `/etc/hostname` (read as systemd does: the first
//! line that is neither empty nor a `#` comment). Apply, like Ansible's systemd
//! strategy, permanent name first: an atomic write of `/etc/hostname` (mode and owner
//! of an existing file kept), then the running name with `hostnamectl --transient`
//! on hosts where systemd runs, else `hostname NAME`, else `/proc/sys/kernel/hostname`.
//! `use` accepts `systemd` and `debian` (Ansible maps both to that strategy); the
//! other strategies (`redhat`, `alpine`, BSDs, ...) are refused. The pretty host
//! name (`/etc/machine-info`) is not touched; `ansible_fqdn`/`ansible_domain` are not
//! returned (they need a DNS lookup on the host).

use fmc_core::lenient;
use fmc_core::module::parse_params;
use fmc_core::shell::quote;
use fmc_core::{
    Action, CheckSupport, ExecOutput, FileDiff, Map, ModuleCtx, ModuleError, ModuleInfo,
    ParamError, Plan, PreparedModule, Probe, Value,
};
use serde::Deserialize;

use super::{Factory, invalid, section, sections};
use crate::common::WriteSpec;

pub(crate) const FACTORY: Factory = Factory {
    info: ModuleInfo {
        name: "hostname",
        aliases: &[],
        params: &["name", "use"],
        required: &["name"],
        free_form: false,
        check: CheckSupport::Full,
        diff: true,
    },
    prepare,
};

const FILE: &str = "/etc/hostname";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(deserialize_with = "lenient::string")]
    name: String,
    #[serde(default, rename = "use", deserialize_with = "lenient::opt_string")]
    strategy: Option<String>,
}

struct Hostname {
    name: String,
}

fn prepare(info: &ModuleInfo, args: &Map) -> Result<Box<dyn PreparedModule>, ParamError> {
    let p: Params = parse_params(info, args)?;
    match p.strategy.as_deref() {
        None | Some("systemd" | "debian") => {}
        Some(other) => {
            return Err(invalid(
                info,
                "use",
                format!(
                    "strategy '{other}' is not supported (only systemd, which writes {FILE} and sets the running host name)"
                ),
            ));
        }
    }
    if p.name.is_empty()
        || p.name.len() > 64
        || p.name.starts_with('-')
        || p.name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/')
    {
        return Err(invalid(
            info,
            "name",
            format!(
                "invalid host name {:?} (1 to 64 characters, no whitespace or '/')",
                p.name
            ),
        ));
    }
    Ok(Box::new(Hostname { name: p.name }))
}

/// `/etc/hostname` as systemd reads it: the first line that is neither empty nor a
/// comment, trimmed.
fn static_name(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or_default()
        .to_string()
}

impl PreparedModule for Hostname {
    fn probe(&self, _ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        Ok(Some(Probe::new(format!(
            "{}\ncat /proc/sys/kernel/hostname 2>/dev/null || uname -n\n{}\nif [ -f {FILE} ]; then cat {FILE}; fi\n",
            section("transient"),
            section("static"),
        ))))
    }

    fn plan(&self, _ctx: &ModuleCtx<'_>, probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        let out = probe.ok_or_else(|| ModuleError::Probe("hostname: no probe output".into()))?;
        let sec = sections(out);
        let (Some(transient), Some(stat)) = (sec.get("transient"), sec.get("static")) else {
            return Err(super::probe_failed(out));
        };
        let transient = transient.trim().to_string();
        let permanent = static_name(stat);
        let n = quote(&self.name);
        let mut plan = Plan::default();
        if permanent != self.name {
            plan.changes.push(format!(
                "set the static host name ({FILE}) to {} (currently {})",
                self.name,
                if permanent.is_empty() {
                    "unset"
                } else {
                    permanent.as_str()
                }
            ));
            let spec = WriteSpec {
                dest: FILE,
                ..Default::default()
            };
            plan.actions.push(Action::exec_with_stdin(
                spec.script(),
                format!("{}\n", self.name).into_bytes(),
            ));
        }
        if transient != self.name {
            plan.changes.push(format!(
                "set the running host name to {} (currently {transient})",
                self.name
            ));
            plan.actions.push(Action::exec(format!(
                "if [ -d /run/systemd/system ] && command -v hostnamectl >/dev/null 2>&1 \
                 && hostnamectl --transient set-hostname {n} 2>/dev/null; then :\n\
                 elif command -v hostname >/dev/null 2>&1; then hostname {n}\n\
                 else printf '%s\\n' {n} > /proc/sys/kernel/hostname; fi\n"
            )));
        }
        if plan.changes.is_empty() {
            plan.reason = Some(format!("host name already {}", self.name));
        } else {
            let before = if transient != self.name {
                transient
            } else {
                permanent
            };
            plan.diff = Some(FileDiff {
                before_header: "hostname".into(),
                after_header: "hostname".into(),
                before: format!("hostname = {before}\n"),
                after: format!("hostname = {}\n", self.name),
            });
        }
        plan.result.insert("name".into(), self.name.clone().into());
        let mut facts = Map::new();
        let short = self.name.split('.').next().unwrap_or_default();
        facts.insert("ansible_hostname".into(), short.into());
        facts.insert("ansible_nodename".into(), self.name.clone().into());
        plan.result
            .insert("ansible_facts".into(), Value::Object(facts));
        Ok(plan)
    }
}
