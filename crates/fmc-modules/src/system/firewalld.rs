//! `firewalld` (also `ansible.posix.firewalld`): one service, port, rich rule,
//! source, interface, protocol, ICMP block or masquerading enabled or disabled in
//! a zone, in the runtime and/or permanent configuration.
//!
//! One probe asks `firewall-cmd --state` and `firewall-cmd [--permanent]
//! [--zone=Z] --query-<kind>=<value>` for each configuration touched (exit 0: on,
//! 1: off, anything else: an error such as an unknown service, reported with
//! firewall-cmd's message). Apply: `--add-<kind>`/`--remove-<kind>` per
//! configuration that differs; interfaces are bound with `--change-interface`
//! (moving them from another zone, as Ansible does).
//!
//! As in Ansible: exactly one item per task; with neither `permanent` nor
//! `immediate` the runtime configuration is changed; `permanent: true` alone
//! changes only the permanent configuration. Not supported (parameter error):
//! zone creation/removal (`state: present/absent`), `timeout`, `offline`,
//! `port_forward`, `target`, `icmp_block_inversion`. firewalld must be running.

use fmc_core::lenient;
use fmc_core::module::parse_params;
use fmc_core::shell::quote;
use fmc_core::{
    Action, CheckSupport, ExecOutput, Map, ModuleCtx, ModuleError, ModuleInfo, ParamError, Plan,
    PreparedModule, Probe,
};
use serde::Deserialize;

use super::{Factory, invalid, key_values, section, sections};

pub(crate) const FACTORY: Factory = Factory {
    info: ModuleInfo {
        name: "firewalld",
        aliases: &["ansible.posix.firewalld"],
        params: &[
            "service",
            "port",
            "rich_rule",
            "source",
            "interface",
            "protocol",
            "icmp_block",
            "masquerade",
            "zone",
            "permanent",
            "immediate",
            "state",
            "timeout",
            "offline",
        ],
        required: &["state"],
        free_form: false,
        check: CheckSupport::Full,
        diff: false,
    },
    prepare,
};

#[derive(Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum State {
    Enabled,
    Disabled,
    Present,
    Absent,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    service: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    port: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    rich_rule: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    source: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    interface: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    protocol: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    icmp_block: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    masquerade: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    zone: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    permanent: Option<bool>,
    #[serde(default, deserialize_with = "lenient::bool")]
    immediate: bool,
    state: State,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    timeout: Option<i64>,
    #[serde(default, deserialize_with = "lenient::bool")]
    offline: bool,
}

/// What the task manages: the firewall-cmd option stem and its value (none for
/// masquerade).
struct Item {
    /// `service`, `port`, `rich-rule`, ... as in `--add-<kind>`.
    kind: &'static str,
    value: Option<String>,
}

impl Item {
    fn label(&self) -> String {
        match &self.value {
            Some(v) => format!("{} {v}", self.kind.replace('-', " ")),
            None => self.kind.to_string(),
        }
    }

    /// `--<verb>-<kind>[=<value>]`, quoted.
    fn arg(&self, verb: &str) -> String {
        match &self.value {
            Some(v) => quote(&format!("--{verb}-{}={v}", self.kind)),
            None => format!("--{verb}-{}", self.kind),
        }
    }
}

struct Firewalld {
    item: Item,
    zone: Option<String>,
    enable: bool,
    runtime: bool,
    permanent: bool,
}

/// `8080/tcp` or `60000-61000/udp`.
fn valid_port(p: &str) -> bool {
    let Some((range, proto)) = p.split_once('/') else {
        return false;
    };
    let num = |s: &str| !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit());
    let ok_range = match range.split_once('-') {
        Some((a, b)) => num(a) && num(b),
        None => num(range),
    };
    ok_range && matches!(proto, "tcp" | "udp" | "sctp" | "dccp")
}

fn prepare(info: &ModuleInfo, args: &Map) -> Result<Box<dyn PreparedModule>, ParamError> {
    let p: Params = parse_params(info, args)?;
    let enable = match p.state {
        State::Enabled => true,
        State::Disabled => false,
        State::Present | State::Absent => {
            return Err(invalid(
                info,
                "state",
                "zone creation/removal (present/absent) is not supported; use enabled or disabled",
            ));
        }
    };
    if p.offline {
        return Err(invalid(info, "offline", "offline mode is not supported"));
    }
    if p.timeout.is_some_and(|t| t != 0) {
        return Err(invalid(info, "timeout", "timed rules are not supported"));
    }
    let mut items = vec![];
    for (param, kind, value) in [
        ("service", "service", p.service),
        ("port", "port", p.port),
        ("rich_rule", "rich-rule", p.rich_rule),
        ("source", "source", p.source),
        ("interface", "interface", p.interface),
        ("protocol", "protocol", p.protocol),
        ("icmp_block", "icmp-block", p.icmp_block),
    ] {
        if let Some(v) = value {
            let v = v.trim().to_string();
            if v.is_empty() || v.contains(['\n', '\r', '\0']) {
                return Err(invalid(info, param, "must be a non-empty single line"));
            }
            if kind == "port" && !valid_port(&v) {
                return Err(invalid(
                    info,
                    param,
                    format!("expected PORT/PROTOCOL or FROM-TO/PROTOCOL, got {v:?}"),
                ));
            }
            if kind != "rich-rule" && v.contains(char::is_whitespace) {
                return Err(invalid(info, param, format!("invalid value {v:?}")));
            }
            items.push(Item {
                kind,
                value: Some(v),
            });
        }
    }
    match p.masquerade {
        Some(true) => items.push(Item {
            kind: "masquerade",
            value: None,
        }),
        Some(false) => {
            return Err(invalid(
                info,
                "masquerade",
                "use 'masquerade: true' with 'state: disabled' to turn masquerading off",
            ));
        }
        None => {}
    }
    if items.len() != 1 {
        return Err(super::other(
            info,
            "exactly one of service, port, rich_rule, source, interface, protocol, icmp_block or masquerade is required",
        ));
    }
    if let Some(z) = &p.zone
        && (z.is_empty() || z.starts_with('-') || z.contains(char::is_whitespace))
    {
        return Err(invalid(info, "zone", format!("invalid zone name {z:?}")));
    }
    let permanent = p.permanent.unwrap_or(false);
    let runtime = p.immediate || !permanent;
    Ok(Box::new(Firewalld {
        item: items.remove(0),
        zone: p.zone,
        enable,
        runtime,
        permanent,
    }))
}

impl Firewalld {
    /// `firewall-cmd [--permanent] [--zone=Z] <arg>`.
    fn cmd(&self, permanent: bool, arg: &str) -> String {
        let mut s = String::from("firewall-cmd ");
        if permanent {
            s.push_str("--permanent ");
        }
        if let Some(z) = &self.zone {
            s.push_str(&quote(&format!("--zone={z}")));
            s.push(' ');
        }
        s.push_str(arg);
        s
    }

    /// The configurations this task touches: (key, permanent?).
    fn configs(&self) -> Vec<(&'static str, bool)> {
        let mut v = vec![];
        if self.runtime {
            v.push(("runtime", false));
        }
        if self.permanent {
            v.push(("permanent", true));
        }
        v
    }

    fn probe_script(&self) -> String {
        let mut s =
            String::from("PATH=\"$PATH:/usr/sbin:/sbin\"; export PATH; LC_ALL=C; export LC_ALL\n");
        s.push_str(&section("err"));
        s.push_str("\nif ! command -v firewall-cmd >/dev/null 2>&1; then echo 'firewall-cmd not found (firewalld is not installed)'; exit 0; fi\n");
        s.push_str(&section("fw"));
        s.push_str("\nprintf 'state=%s\\n' \"$(firewall-cmd --state 2>&1 | tr '\\n' ' ')\"\n");
        for (key, permanent) in self.configs() {
            s.push_str(&format!(
                "o=$({} 2>&1); echo \"{key}=$?\"; printf '{key}_msg=%s\\n' \"$(printf %s \"$o\" | tr '\\n' ' ')\"\n",
                self.cmd(permanent, &self.item.arg("query"))
            ));
        }
        s
    }
}

impl PreparedModule for Firewalld {
    fn probe(&self, _ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        Ok(Some(Probe::new(self.probe_script())))
    }

    fn plan(&self, _ctx: &ModuleCtx<'_>, probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        let out = probe.ok_or_else(|| ModuleError::Probe("firewalld: no probe output".into()))?;
        if out.rc != 0 {
            return Err(super::probe_failed(out));
        }
        let sec = sections(out);
        let err = sec.get("err").map(|e| e.trim()).unwrap_or_default();
        if !err.is_empty() {
            return Err(ModuleError::Unsupported {
                msg: format!("cannot manage the firewall: {err}"),
                hint: "install firewalld, or manage nftables/iptables rules with copy/template"
                    .into(),
            });
        }
        let kv = key_values(
            sec.get("fw")
                .ok_or_else(|| ModuleError::Probe("firewalld: missing fw section".into()))?,
        );
        let get = |k: &str| kv.get(k).map(|v| v.trim()).unwrap_or_default();
        if get("state") != "running" {
            return Ok(Plan::fail(format!(
                "firewalld is not running (firewall-cmd --state: {})\nhint: start it first (service: name=firewalld state=started)",
                get("state")
            )));
        }
        let verb = if self.enable { "add" } else { "remove" };
        let arg = if self.enable && self.item.kind == "interface" {
            self.item.arg("change")
        } else {
            self.item.arg(verb)
        };
        let mut plan = Plan::default();
        let mut cmds = vec![];
        let label = self.item.label();
        let zone = self.zone.as_deref().unwrap_or("the default zone");
        for (key, permanent) in self.configs() {
            let on = match get(key) {
                "0" => true,
                "1" => false,
                rc => {
                    return Ok(Plan::fail(format!(
                        "firewall-cmd query of {label} failed (rc={rc}): {}",
                        get(&format!("{key}_msg"))
                    )));
                }
            };
            if on != self.enable {
                plan.changes.push(format!(
                    "{} {label} in {}{zone} ({key})",
                    if self.enable { "enable" } else { "disable" },
                    if self.zone.is_some() { "zone " } else { "" }
                ));
                cmds.push(self.cmd(permanent, &arg));
            }
        }
        let mode = match (self.runtime, self.permanent) {
            (true, true) => "Permanent and Non-Permanent(immediate) operation",
            (false, true) => "Permanent operation",
            _ => "Non-permanent operation",
        };
        let state = if self.enable { "enabled" } else { "disabled" };
        let msg = if cmds.is_empty() {
            mode.to_string()
        } else {
            format!("{mode}, Changed {label} to {state}")
        };
        plan.result.insert("msg".into(), msg.into());
        if cmds.is_empty() {
            plan.reason = Some(format!("{label} already {state}"));
        } else {
            plan.actions.push(Action::exec(format!(
                "PATH=\"$PATH:/usr/sbin:/sbin\"; export PATH\n{}",
                cmds.join(" && ")
            )));
        }
        Ok(plan)
    }
}
