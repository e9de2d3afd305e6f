//! `sysctl` (also `ansible.posix.sysctl`): a kernel parameter in a sysctl file and,
//! unless `reload: false`, its live value.
//!
//! One probe reads the file and `sysctl -n <name>`. The file is rewritten
//! atomically (first line for the key replaced with `name=value`, later duplicates
//! dropped, or the line appended); the live value is set with `sysctl -w` when it
//! differs. Unlike Ansible, which runs `sysctl -p <file>` after a file change (and
//! so applies every key of the file), only this key is applied, and a live value
//! that drifted while the file was already right is also corrected.
//! `state: absent` removes the key from the file and leaves the live value alone.

use fmc_core::lenient;
use fmc_core::module::parse_params;
use fmc_core::shell::quote;
use fmc_core::{
    Action, CheckSupport, ExecOutput, Map, ModuleCtx, ModuleError, ModuleInfo, ParamError, Plan,
    PreparedModule, Probe, Value,
};
use serde::{Deserialize, Deserializer};

use super::{Factory, invalid, section, sections};
use crate::common::{FileKind, ProbeOptions, WriteSpec, file_diff, parse_files, probe_file};

pub(crate) const FACTORY: Factory = Factory {
    info: ModuleInfo {
        name: "sysctl",
        aliases: &["ansible.posix.sysctl"],
        params: &[
            "name",
            "key",
            "value",
            "val",
            "state",
            "sysctl_file",
            "reload",
            "sysctl_set",
            "ignoreerrors",
        ],
        required: &["name|key"],
        free_form: false,
        check: CheckSupport::Full,
        diff: true,
    },
    prepare,
};

#[derive(Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum State {
    Present,
    Absent,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(alias = "key", deserialize_with = "lenient::string")]
    name: String,
    #[serde(default, alias = "val", deserialize_with = "sysctl_value")]
    value: Option<String>,
    #[serde(default)]
    state: Option<State>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    sysctl_file: Option<String>,
    #[serde(default = "super::command::yes", deserialize_with = "lenient::bool")]
    reload: bool,
    #[serde(default, deserialize_with = "lenient::bool")]
    sysctl_set: bool,
    #[serde(default, deserialize_with = "lenient::bool")]
    ignoreerrors: bool,
}

/// Booleans become `1`/`0` (YAML `yes` for `net.ipv4.ip_forward`), as in Ansible.
fn sysctl_value<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(if b { "1" } else { "0" }.into())),
        v => lenient::to_string(&v)
            .map(|s| Some(s.trim().to_string()))
            .ok_or_else(|| serde::de::Error::custom(format!("expected a string, got {v}"))),
    }
}

struct Sysctl {
    name: String,
    value: Option<String>,
    state: State,
    file: String,
    live: bool,
    ignoreerrors: bool,
}

fn prepare(info: &ModuleInfo, args: &Map) -> Result<Box<dyn PreparedModule>, ParamError> {
    let p: Params = parse_params(info, args)?;
    let name = p.name.trim().to_string();
    if name.is_empty() || name.starts_with('-') || name.contains(['=', ' ', '\t', '\n']) {
        return Err(invalid(
            info,
            "name",
            format!("invalid sysctl key {name:?}"),
        ));
    }
    let state = p.state.unwrap_or(State::Present);
    if state == State::Present {
        match &p.value {
            None => return Err(invalid(info, "value", "required when state is present")),
            Some(v) if v.contains('\n') => {
                return Err(invalid(info, "value", "must be a single line"));
            }
            _ => {}
        }
    }
    let file = p.sysctl_file.unwrap_or_else(|| "/etc/sysctl.conf".into());
    if file.is_empty() {
        return Err(invalid(info, "sysctl_file", "must not be empty"));
    }
    Ok(Box::new(Sysctl {
        name,
        value: p.value,
        state,
        file,
        live: state == State::Present && (p.reload || p.sysctl_set),
        ignoreerrors: p.ignoreerrors,
    }))
}

/// `a.b/c` and `a/b.c` name the same key: sysctl swaps `.` and `/` when the first
/// separator is a `/`.
fn normalize_key(k: &str) -> String {
    let k = k.trim();
    match k.find(['.', '/']) {
        Some(i) if k.as_bytes()[i] == b'/' => k
            .chars()
            .map(|c| match c {
                '/' => '.',
                '.' => '/',
                c => c,
            })
            .collect(),
        _ => k.to_string(),
    }
}

/// The key of a `key = value` line, if it is not a comment or blank.
fn line_key(line: &str) -> Option<(String, &str)> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
        return None;
    }
    let (k, v) = t.split_once('=')?;
    Some((normalize_key(k.trim_start_matches('-')), v.trim()))
}

fn same_value(a: &str, b: &str) -> bool {
    a.split_whitespace().eq(b.split_whitespace())
}

impl Sysctl {
    /// The new file content, or `None` when the file already matches.
    fn edit(&self, old: &str) -> Option<String> {
        let key = normalize_key(&self.name);
        let mut out = String::new();
        let mut last_value = None;
        let mut written = false;
        for line in old.lines() {
            match line_key(line) {
                Some((k, v)) if k == key => {
                    last_value = Some(v.to_string());
                    if self.state == State::Present && !written {
                        out.push_str(&format!("{}={}\n", self.name, self.value.as_deref()?));
                        written = true;
                    }
                }
                _ => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        match (self.state, &last_value, &self.value) {
            (State::Absent, None, _) => None,
            (State::Absent, Some(_), _) => Some(out),
            (State::Present, Some(have), Some(want)) if same_value(have, want) => None,
            (State::Present, Some(_), _) => Some(out),
            (State::Present, None, want) => {
                out.push_str(&format!("{}={}\n", self.name, want.as_deref()?));
                Some(out)
            }
        }
    }
}

impl PreparedModule for Sysctl {
    fn probe(&self, _ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        let mut s = String::from("PATH=\"$PATH:/usr/sbin:/sbin\"; export PATH\n");
        if self.live {
            s.push_str(&section("live"));
            s.push_str(&format!(
                "\nif v=$(sysctl -n {} 2>&1); then echo ok; else echo err; fi; printf '%s\\n' \"$v\"\n",
                quote(&self.name)
            ));
        }
        s.push_str(&section("file"));
        s.push('\n');
        s.push_str(&probe_file(&self.file, ProbeOptions::default()));
        Ok(Some(Probe::new(s)))
    }

    fn plan(&self, _ctx: &ModuleCtx<'_>, probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        let out = probe.ok_or_else(|| ModuleError::Probe("sysctl: no probe output".into()))?;
        if out.rc != 0 {
            return Err(super::probe_failed(out));
        }
        let file = parse_files(&out.stdout)?
            .into_iter()
            .next()
            .ok_or_else(|| ModuleError::Probe("missing file record".into()))?;
        let old = match file.kind {
            FileKind::Absent => None,
            FileKind::File => match &file.content {
                Some(c) => Some(String::from_utf8(c.clone()).map_err(|_| {
                    ModuleError::Failed(format!("{} is not valid UTF-8 text", self.file))
                })?),
                None => {
                    return Ok(Plan::fail(format!(
                        "cannot read {} (unreadable or larger than 256 KiB)",
                        self.file
                    )));
                }
            },
            _ => return Ok(Plan::fail(format!("{} is not a regular file", self.file))),
        };
        let mut plan = Plan::default();
        if let Some(new) = self.edit(old.as_deref().unwrap_or_default()) {
            plan.changes.push(match self.state {
                State::Present => format!(
                    "set {}={} in {}",
                    self.name,
                    self.value.as_deref().unwrap_or_default(),
                    self.file
                ),
                State::Absent => format!("remove {} from {}", self.name, self.file),
            });
            plan.diff = Some(file_diff(
                &self.file,
                old.as_deref().map(str::as_bytes),
                true,
                new.as_bytes(),
                None,
            ));
            let write = WriteSpec {
                dest: &self.file,
                ..Default::default()
            };
            plan.actions
                .push(Action::exec_with_stdin(write.script(), new.into_bytes()));
        }
        if self.live {
            let sec = sections(out);
            let live = sec.get("live").map(String::as_str).unwrap_or_default();
            let (status, value) = live.split_once('\n').unwrap_or((live, ""));
            let value = value.trim_end_matches('\n');
            let want = self.value.as_deref().unwrap_or_default();
            match status.trim() {
                "ok" if same_value(value, want) => {}
                "ok" => {
                    plan.changes.push(format!(
                        "set live value of {} to {want} (currently {})",
                        self.name,
                        value.trim()
                    ));
                    let e = if self.ignoreerrors { "-e " } else { "" };
                    plan.actions.push(Action::exec(format!(
                        "PATH=\"$PATH:/usr/sbin:/sbin\"; export PATH\nsysctl {e}-q -w {}",
                        quote(&format!("{}={want}", self.name))
                    )));
                }
                _ if self.ignoreerrors => {}
                _ => {
                    return Ok(Plan::fail(format!(
                        "sysctl key {} is not available on this host: {}",
                        self.name,
                        value.trim()
                    )));
                }
            }
        }
        if plan.changes.is_empty() {
            plan.reason = Some(format!("{} already set", self.name));
        }
        Ok(plan)
    }
}
