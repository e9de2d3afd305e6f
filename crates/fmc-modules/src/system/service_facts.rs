//! `service_facts`: `ansible_facts.services` from systemd, in one probe.
//!
//! Like Ansible, the probe lists loaded service units (`systemctl list-units
//! --type service --all --plain`) for their `state` (`running` when the sub-state
//! is running, else `stopped`) and then unit files (`systemctl list-unit-files
//! --type service`) for their `status` (`enabled`, `disabled`, `static`, ...). A
//! unit whose load/active/sub state is `not-found`, `masked` or `failed` keeps that
//! as its status. Unit files systemd has not loaded are `inactive` (templates such
//! as `getty@.service`: `unknown`), where Ansible asks `systemctl show` once per
//! unit. Each entry is `{name, state, status, source: systemd}`.
//!
//! Only systemd is supported: without `systemctl`, or when the host was not booted
//! with systemd, the task fails saying so. Never reports a change.

use std::collections::BTreeMap;

use fmc_core::module::parse_params;
use fmc_core::{
    CheckSupport, ExecOutput, Map, ModuleCtx, ModuleError, ModuleInfo, ParamError, Plan,
    PreparedModule, Probe, Value,
};
use serde::Deserialize;

use super::{Factory, section, sections};

pub(crate) const FACTORY: Factory = Factory {
    info: ModuleInfo {
        name: "service_facts",
        aliases: &[],
        params: &[],
        required: &[],
        free_form: false,
        check: CheckSupport::Full,
        diff: false,
    },
    prepare,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {}

struct ServiceFacts;

fn prepare(info: &ModuleInfo, args: &Map) -> Result<Box<dyn PreparedModule>, ParamError> {
    let _: Params = parse_params(info, args)?;
    Ok(Box::new(ServiceFacts))
}

/// Load/active/sub states that Ansible reports as the service's status.
const BAD_STATES: &[&str] = &["not-found", "masked", "failed"];

/// The probe script.
fn probe_script() -> String {
    let mut s = String::from("LC_ALL=C; export LC_ALL\n");
    s.push_str(&section("err"));
    s.push_str(
        "\nif ! command -v systemctl >/dev/null 2>&1; then echo 'systemctl not found'; exit 0; fi\n\
         if [ ! -d /run/systemd/system ]; then echo 'systemd is not running on this host (not booted with systemd)'; exit 0; fi\n",
    );
    s.push_str(&section("units"));
    s.push_str("\nsystemctl list-units --no-pager --no-legend --type service --all --plain 2>&1\necho \"fmc-rc $?\"\n");
    s.push_str(&section("files"));
    s.push_str("\nsystemctl list-unit-files --no-pager --no-legend --type service 2>&1\necho \"fmc-rc $?\"\n");
    s
}

/// The output lines of a section and the exit code recorded after them.
fn lines_and_rc(text: &str) -> (Vec<&str>, Option<&str>) {
    let mut rc = None;
    let mut lines = vec![];
    for l in text.lines() {
        match l.strip_prefix("fmc-rc ") {
            Some(r) => rc = Some(r.trim()),
            None => lines.push(l),
        }
    }
    (lines, rc)
}

/// The fields of a listing line, without the `●`/`*` marker systemd may print
/// in front of failed units; `None` unless the first field is a service.
fn service_fields(line: &str) -> Option<Vec<&str>> {
    let mut f: Vec<&str> = line.split_whitespace().collect();
    if f.len() > 1 && !f[0].ends_with(".service") && f[1].ends_with(".service") {
        f.remove(0);
    }
    f.first()
        .is_some_and(|n| n.ends_with(".service"))
        .then_some(f)
}

/// Parses the probe output into the `services` fact (sorted by unit name).
fn parse_services(out: &ExecOutput) -> Result<Map, ModuleError> {
    if out.rc != 0 {
        return Err(super::probe_failed(out));
    }
    let sec = sections(out);
    let err = sec.get("err").map(|e| e.trim()).unwrap_or_default();
    if !err.is_empty() {
        return Err(ModuleError::Unsupported {
            msg: format!("cannot gather service facts: {err}"),
            hint: "service_facts reads systemd; use command/stat checks on hosts without it".into(),
        });
    }
    let listing = |name: &str| -> Result<Vec<Vec<String>>, ModuleError> {
        let text = sec
            .get(name)
            .ok_or_else(|| ModuleError::Probe(format!("service_facts: missing {name} section")))?;
        let (lines, rc) = lines_and_rc(text);
        if rc != Some("0") {
            return Err(ModuleError::Failed(format!(
                "systemctl list-{} failed (rc={}): {}",
                if name == "units" {
                    "units"
                } else {
                    "unit-files"
                },
                rc.unwrap_or("?"),
                lines.join("\n").trim()
            )));
        }
        Ok(lines
            .iter()
            .filter_map(|l| service_fields(l))
            .map(|f| f.into_iter().map(str::to_string).collect())
            .collect())
    };
    let mut services: BTreeMap<String, (String, String)> = BTreeMap::new();
    for f in listing("units")? {
        if f.len() < 4 {
            return Err(ModuleError::Probe(format!(
                "malformed systemctl list-units line: {}",
                f.join(" ")
            )));
        }
        let status = f[1..4]
            .iter()
            .find(|s| BAD_STATES.contains(&s.as_str()))
            .unwrap_or(&f[2])
            .clone();
        let state = if f[3] == "running" {
            "running"
        } else {
            "stopped"
        };
        services.insert(f[0].clone(), (state.into(), status));
    }
    for f in listing("files")? {
        let Some(status) = f.get(1) else {
            return Err(ModuleError::Probe(format!(
                "malformed systemctl list-unit-files line: {}",
                f.join(" ")
            )));
        };
        match services.get_mut(&f[0]) {
            Some((_, st)) if BAD_STATES.contains(&st.as_str()) => {}
            Some((_, st)) => *st = status.clone(),
            None => {
                let state = if f[0].contains("@.") {
                    "unknown"
                } else {
                    "inactive"
                };
                services.insert(f[0].clone(), (state.into(), status.clone()));
            }
        }
    }
    Ok(services
        .into_iter()
        .map(|(name, (state, status))| {
            let mut m = Map::new();
            m.insert("name".into(), name.clone().into());
            m.insert("state".into(), state.into());
            m.insert("status".into(), status.into());
            m.insert("source".into(), "systemd".into());
            (name, Value::Object(m))
        })
        .collect())
}

impl PreparedModule for ServiceFacts {
    fn probe(&self, _ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        Ok(Some(Probe::new(probe_script())))
    }

    fn plan(&self, _ctx: &ModuleCtx<'_>, probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        let out =
            probe.ok_or_else(|| ModuleError::Probe("service_facts: no probe output".into()))?;
        let services = parse_services(out)?;
        let mut facts = Map::new();
        facts.insert("services".into(), Value::Object(services));
        let mut plan = Plan::in_sync("facts only");
        plan.result
            .insert("ansible_facts".into(), Value::Object(facts));
        Ok(plan)
    }
}
