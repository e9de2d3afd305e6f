//! `systemd_service` (also `systemd`): unit state, enablement and masking.
//!
//! Probe: `systemctl show -p Id,LoadState,ActiveState,SubState,UnitFileState,NeedDaemonReload`
//! (one round trip). Apply: one script running, in Ansible's order, daemon-reload,
//! daemon-reexec, mask/unmask, enable/disable, then start/stop/restart/reload.
//!
//! Differences from Ansible, on purpose:
//! * `daemon_reload` with a `name` reloads only when systemd says the unit's files
//!   changed (`NeedDaemonReload=yes`) and then reports it as a change; Ansible
//!   reloads every time and never reports it. Without a `name` (and for
//!   `daemon_reexec`) it runs every time and is not reported as changed, like Ansible.
//! * `enabled` on a `static`/`generated`/`transient` unit (no `[Install]` section)
//!   is in sync either way: enable/disable would do nothing, so it is never reported
//!   as changed (Ansible reports `disable` of a static unit as changed on every run).
//! * only `scope: system` is supported.

use fmc_core::lenient;
use fmc_core::module::parse_params;
use fmc_core::shell::quote;
use fmc_core::{
    Action, CheckSupport, ExecOutput, Map, ModuleCtx, ModuleError, ModuleInfo, ParamError, Plan,
    PreparedModule, Probe, Value,
};
use serde::Deserialize;

use super::{Factory, invalid, key_values, section, sections};

pub(crate) const FACTORY: Factory = Factory {
    info: ModuleInfo {
        name: "systemd_service",
        aliases: &["systemd"],
        params: &[
            "name",
            "service",
            "unit",
            "state",
            "enabled",
            "masked",
            "daemon_reload",
            "daemon-reload",
            "daemon_reexec",
            "daemon-reexec",
            "scope",
            "no_block",
            "force",
        ],
        required: &[],
        free_form: false,
        check: CheckSupport::Full,
        diff: false,
    },
    prepare,
};

/// The `state` parameter of service modules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum State {
    Started,
    Stopped,
    Restarted,
    Reloaded,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(
        default,
        alias = "service",
        alias = "unit",
        deserialize_with = "lenient::opt_string"
    )]
    name: Option<String>,
    #[serde(default)]
    state: Option<State>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    enabled: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    masked: Option<bool>,
    #[serde(default, alias = "daemon-reload", deserialize_with = "lenient::bool")]
    daemon_reload: bool,
    #[serde(default, alias = "daemon-reexec", deserialize_with = "lenient::bool")]
    daemon_reexec: bool,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    scope: Option<String>,
    #[serde(default, deserialize_with = "lenient::bool")]
    no_block: bool,
    #[serde(default, deserialize_with = "lenient::bool")]
    force: bool,
}

/// Desired unit state, shared with the generic `service` module.
pub(super) struct Systemd {
    pub name: Option<String>,
    pub state: Option<State>,
    pub enabled: Option<bool>,
    pub masked: Option<bool>,
    pub daemon_reload: bool,
    pub daemon_reexec: bool,
    pub no_block: bool,
    pub force: bool,
}

fn prepare(info: &ModuleInfo, args: &Map) -> Result<Box<dyn PreparedModule>, ParamError> {
    let p: Params = parse_params(info, args)?;
    if let Some(scope) = p.scope.as_deref()
        && scope != "system"
    {
        return Err(invalid(
            info,
            "scope",
            format!("only 'system' is supported, got '{scope}'"),
        ));
    }
    let s = Systemd {
        name: p.name,
        state: p.state,
        enabled: p.enabled,
        masked: p.masked,
        daemon_reload: p.daemon_reload,
        daemon_reexec: p.daemon_reexec,
        no_block: p.no_block,
        force: p.force,
    };
    s.validate(info)?;
    Ok(Box::new(s))
}

/// `systemctl is-enabled` answers 0 (enabled) for these `UnitFileState`s.
const ENABLED_STATES: &[&str] = &[
    "enabled",
    "enabled-runtime",
    "static",
    "generated",
    "transient",
];
/// Units without an `[Install]` section: enable/disable does nothing.
const FIXED_STATES: &[&str] = &["static", "generated", "transient"];

impl Systemd {
    pub fn validate(&self, info: &ModuleInfo) -> Result<(), ParamError> {
        match &self.name {
            Some(n) if n.trim().is_empty() => Err(invalid(info, "name", "must not be empty")),
            Some(n) if n.starts_with('-') => Err(invalid(info, "name", "must not start with '-'")),
            None if self.state.is_some() || self.enabled.is_some() || self.masked.is_some() => {
                Err(ParamError::Missing {
                    module: info.name.to_string(),
                    param: "name".into(),
                })
            }
            None if !self.daemon_reload && !self.daemon_reexec => Err(super::other(
                info,
                "one of 'name', 'daemon_reload' or 'daemon_reexec' is required",
            )),
            _ => Ok(()),
        }
    }

    pub fn probe(&self) -> Option<Probe> {
        let name = self.name.as_ref()?;
        let mut s = String::from("LC_ALL=C; export LC_ALL\n");
        s.push_str(&section("show"));
        s.push_str(&format!(
            "\nsystemctl show -p Id,LoadState,ActiveState,SubState,UnitFileState,NeedDaemonReload -- {} 2>/dev/null\necho \"rc=$?\"\n",
            quote(name)
        ));
        s.push_str(&section("err"));
        s.push_str("\nsystemctl --version >/dev/null 2>&1 || echo 'systemctl not found'\n");
        s.push_str("[ -d /run/systemd/system ] || echo 'systemd is not running on this host'\n");
        Some(Probe::new(s))
    }

    pub fn plan(&self, probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        let mut pre: Vec<String> = vec![];
        let mut changes: Vec<String> = vec![];
        let mut cmds: Vec<String> = vec![];
        let Some(name) = &self.name else {
            if self.daemon_reload {
                pre.push("systemctl daemon-reload".into());
            }
            if self.daemon_reexec {
                pre.push("systemctl daemon-reexec".into());
            }
            return Ok(Plan {
                reason: Some("daemon reloaded without a unit (never reported as changed)".into()),
                actions: vec![Action::exec(pre.join(" && "))],
                ..Default::default()
            });
        };
        let out = probe.ok_or_else(|| ModuleError::Probe("systemd: no probe output".into()))?;
        let sec = sections(out);
        let err = sec.get("err").map(|e| e.trim()).unwrap_or_default();
        if !err.is_empty() {
            return Err(ModuleError::Unsupported {
                msg: format!("cannot manage service {name}: {}", err.replace('\n', "; ")),
                hint: "systemd_service/service need a host booted with systemd".into(),
            });
        }
        let show = key_values(sec.get("show").map(String::as_str).unwrap_or_default());
        let prop = |k: &str| show.get(k).map(|v| v.trim()).unwrap_or_default();
        if prop("rc") != "0" || prop("LoadState").is_empty() {
            return Err(ModuleError::Probe(format!(
                "systemctl show {name} failed (rc={})",
                prop("rc")
            )));
        }
        let found = prop("LoadState") != "not-found";
        let is_masked =
            prop("LoadState") == "masked" || prop("UnitFileState").starts_with("masked");
        let active = prop("ActiveState");
        let running = active == "active" || active == "activating" || active == "reloading";
        let ufs = prop("UnitFileState");
        let unit = quote(name);
        let flags = if self.no_block { "--no-block " } else { "" };

        if self.daemon_reexec {
            pre.push("systemctl daemon-reexec".into());
        }
        if self.daemon_reload && prop("NeedDaemonReload") == "yes" {
            changes.push("reload systemd manager configuration (unit files changed)".into());
            cmds.push("systemctl daemon-reload".into());
        }
        let mut now_masked = is_masked;
        match self.masked {
            Some(true) if !is_masked => {
                changes.push(format!("mask {name}"));
                cmds.push(format!("systemctl mask -- {unit}"));
                now_masked = true;
            }
            Some(false) if is_masked => {
                changes.push(format!("unmask {name}"));
                cmds.push(format!("systemctl unmask -- {unit}"));
                now_masked = false;
            }
            _ => {}
        }
        let missing = || {
            Ok(Plan::fail(format!(
                "Could not find the requested service {name}: host"
            )))
        };
        let mut enabled_now = ENABLED_STATES.contains(&ufs);
        if let Some(want) = self.enabled {
            if !found && !now_masked {
                return missing();
            }
            if want != enabled_now && !FIXED_STATES.contains(&ufs) {
                let verb = if want { "enable" } else { "disable" };
                let force = if self.force { "--force " } else { "" };
                changes.push(format!("{verb} {name}"));
                cmds.push(format!("systemctl {force}{verb} -- {unit}"));
                enabled_now = want;
            }
        }
        let mut state_now = if running { "started" } else { "stopped" };
        if let Some(state) = self.state {
            if !found {
                return missing();
            }
            let verb = match state {
                State::Started if !running => Some("start"),
                State::Stopped if running || active == "deactivating" => Some("stop"),
                State::Restarted if running => Some("restart"),
                State::Reloaded if running => Some("reload"),
                State::Restarted | State::Reloaded => Some("start"),
                State::Started | State::Stopped => None,
            };
            if let Some(verb) = verb {
                changes.push(format!("{verb} {name}"));
                cmds.push(format!("systemctl {flags}{verb} -- {unit}"));
            }
            state_now = if state == State::Stopped {
                "stopped"
            } else {
                "started"
            };
        }

        let mut result = Map::new();
        result.insert("name".into(), name.clone().into());
        result.insert("state".into(), state_now.into());
        result.insert("enabled".into(), enabled_now.into());
        let status: Map = show
            .iter()
            .filter(|(k, _)| k.as_str() != "rc")
            .map(|(k, v)| (k.clone(), Value::String(v.trim().to_string())))
            .collect();
        result.insert("status".into(), Value::Object(sorted(status)));
        pre.extend(cmds);
        let reason = if changes.is_empty() {
            Some(format!("{name} already in the requested state"))
        } else {
            None
        };
        Ok(Plan {
            changes,
            reason,
            actions: if pre.is_empty() {
                vec![]
            } else {
                vec![Action::exec(pre.join(" && "))]
            },
            result,
            ..Default::default()
        })
    }
}

fn sorted(m: Map) -> Map {
    let mut v: Vec<(String, Value)> = m.into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v.into_iter().collect()
}

impl PreparedModule for Systemd {
    fn probe(&self, _ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        Ok(Systemd::probe(self))
    }
    fn plan(&self, _ctx: &ModuleCtx<'_>, probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        Systemd::plan(self, probe)
    }
}
