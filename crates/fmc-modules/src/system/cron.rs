//! `cron`: a named job in a user's crontab (`crontab -l` / `crontab -`) or in a
//! cron file (`cron_file`, relative names under `/etc/cron.d`).
//!
//! Jobs are found and edited as Ansible does: a `#Ansible: NAME` comment line
//! followed by the job line (`[#]MIN HOUR DOM MON DOW [USER] JOB` or
//! `[#]@SPECIAL [USER] JOB`, the user only in cron files, `#` when `disabled`). An
//! identical job line without the comment gets the comment; a cron file left
//! without any line by `state: absent` is removed. A new cron file is 0644.
//! `crontab -u USER` is used when `user` is not the (become) user running the task.
//! Not supported: `env`/`insertafter`/`insertbefore` (environment lines), `backup`.
//! Hosts without `crontab` (Flatcar) fail with a hint to use a systemd timer.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use fmc_core::lenient;
use fmc_core::module::parse_params;
use fmc_core::shell::quote;
use fmc_core::{
    Action, CheckSupport, ExecOutput, FileDiff, Map, ModuleCtx, ModuleError, ModuleInfo,
    ParamError, Plan, PreparedModule, Probe, Value,
};
use serde::Deserialize;

use super::group::{Presence, valid_account_name};
use super::{Factory, invalid, other, section, sections};
use crate::common::{AttrDrift, FileKind, ProbeOptions, WriteSpec, parse_files, probe_file};

pub(crate) const FACTORY: Factory = Factory {
    info: ModuleInfo {
        name: "cron",
        aliases: &[],
        params: &[
            "name",
            "job",
            "value",
            "minute",
            "hour",
            "day",
            "dom",
            "month",
            "weekday",
            "dow",
            "special_time",
            "user",
            "state",
            "disabled",
            "cron_file",
        ],
        required: &["name"],
        free_form: false,
        check: CheckSupport::Full,
        diff: true,
    },
    prepare,
};

const HEADER: &str = "#Ansible: ";

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Special {
    Reboot,
    Yearly,
    Annually,
    Monthly,
    Weekly,
    Daily,
    Hourly,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(deserialize_with = "lenient::string")]
    name: String,
    #[serde(default, alias = "value", deserialize_with = "lenient::opt_string")]
    job: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    minute: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    hour: Option<String>,
    #[serde(default, alias = "dom", deserialize_with = "lenient::opt_string")]
    day: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    month: Option<String>,
    #[serde(default, alias = "dow", deserialize_with = "lenient::opt_string")]
    weekday: Option<String>,
    #[serde(default)]
    special_time: Option<Special>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    user: Option<String>,
    #[serde(default)]
    state: Option<Presence>,
    #[serde(default, deserialize_with = "lenient::bool")]
    disabled: bool,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    cron_file: Option<String>,
}

struct Cron {
    name: String,
    /// The whole job line (`None` with `state: absent`).
    line: Option<String>,
    user: Option<String>,
    cron_file: Option<String>,
}

fn prepare(info: &ModuleInfo, args: &Map) -> Result<Box<dyn PreparedModule>, ParamError> {
    let p: Params = parse_params(info, args)?;
    let present = p.state.unwrap_or(Presence::Present) == Presence::Present;
    if let Some(u) = &p.user
        && !valid_account_name(u)
    {
        return Err(invalid(info, "user", format!("invalid user name {u:?}")));
    }
    let cron_file = match p.cron_file.as_deref() {
        None => None,
        Some("/etc/crontab") => {
            return Err(invalid(
                info,
                "cron_file",
                "will not manage /etc/crontab via cron_file",
            ));
        }
        Some(f) if f.is_empty() || f.contains('\n') || (!f.starts_with('/') && f.contains('/')) => {
            return Err(invalid(info, "cron_file", format!("invalid file {f:?}")));
        }
        Some(f) if f.starts_with('/') => Some(f.to_string()),
        Some(f) => Some(format!("/etc/cron.d/{f}")),
    };
    let fields = [
        ("minute", p.minute),
        ("hour", p.hour),
        ("day", p.day),
        ("month", p.month),
        ("weekday", p.weekday),
    ];
    let mut times = Vec::new();
    for (name, v) in fields {
        let v = v.unwrap_or_else(|| "*".into());
        if v.is_empty() || v.contains(char::is_whitespace) {
            return Err(invalid(info, name, format!("invalid time field {v:?}")));
        }
        times.push(v);
    }
    if p.name.contains('\n') {
        return Err(invalid(info, "name", "must be a single line"));
    }
    let special = p.special_time.map(|s| match s {
        Special::Reboot => "reboot",
        Special::Yearly => "yearly",
        Special::Annually => "annually",
        Special::Monthly => "monthly",
        Special::Weekly => "weekly",
        Special::Daily => "daily",
        Special::Hourly => "hourly",
    });
    if special.is_some() && times.iter().any(|t| t != "*") {
        return Err(other(
            info,
            "special_time cannot be combined with minute, hour, day, month or weekday",
        ));
    }
    let line = if present {
        if cron_file.is_some() && p.user.is_none() {
            return Err(other(info, "cron_file needs user as well"));
        }
        let job = p
            .job
            .ok_or_else(|| other(info, "job is required to install a cron job"))?;
        let job = job.trim_matches(['\r', '\n']);
        if job.contains(['\r', '\n']) {
            return Err(invalid(info, "job", "must be a single line"));
        }
        let when = match special {
            Some(s) => format!("@{s}"),
            None => times.join(" "),
        };
        let user = match (&cron_file, &p.user) {
            (Some(_), Some(u)) => format!(" {u}"),
            _ => String::new(),
        };
        let disabled = if p.disabled { "#" } else { "" };
        Some(format!("{disabled}{when}{user} {job}"))
    } else {
        None
    };
    Ok(Box::new(Cron {
        name: p.name,
        line,
        user: p.user,
        cron_file,
    }))
}

/// Ansible's `find_job`: the line after `#Ansible: NAME`, else (with `job`) an
/// identical job line, which gets the comment inserted (`true`: lines were edited).
fn find_job(lines: &mut Vec<String>, name: &str, job: Option<&str>) -> Option<(String, bool)> {
    let header = format!("{HEADER}{name}");
    if let Some(i) = lines.iter().position(|l| *l == header)
        && let Some(next) = lines.get(i + 1)
    {
        return Some((next.clone(), false));
    }
    let job = job?;
    let i = lines.iter().position(|l| l == job)?;
    let prev = if i == 0 {
        lines.last()
    } else {
        lines.get(i - 1)
    };
    if !prev.is_some_and(|p| p.starts_with(HEADER)) {
        lines.insert(i, header);
        return Some((job.to_string(), true));
    }
    None
}

/// Drops `#Ansible: NAME` and the line after it, adding `job` in their place.
fn replace_job(lines: &[String], name: &str, job: Option<&str>) -> Vec<String> {
    let header = format!("{HEADER}{name}");
    let mut out = Vec::new();
    let mut pending = false;
    for l in lines {
        if pending {
            if let Some(j) = job {
                out.push(header.clone());
                out.push(j.to_string());
            }
            pending = false;
        } else if *l == header {
            pending = true;
        } else {
            out.push(l.clone());
        }
    }
    out
}

/// Ansible's `render`: lines joined, one final newline.
fn render(lines: &[String]) -> String {
    let s = lines.join("\n");
    if s.is_empty() {
        s
    } else {
        format!("{}\n", s.trim_end_matches(['\r', '\n']))
    }
}

impl Cron {
    fn crontab_cmd(&self, args: &str) -> String {
        match &self.user {
            Some(u) => format!(
                "if [ \"$(id -un)\" = {q} ]; then crontab {args}; else crontab -u {q} {args}; fi",
                q = quote(u)
            ),
            None => format!("crontab {args}"),
        }
    }

    fn header(&self) -> String {
        match (&self.cron_file, &self.user) {
            (Some(f), _) => f.clone(),
            (None, Some(u)) => format!("crontab for user \"{u}\""),
            (None, None) => "crontab".into(),
        }
    }
}

impl PreparedModule for Cron {
    fn probe(&self, _ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        Ok(Some(Probe::new(match &self.cron_file {
            Some(f) => format!(
                "{}\n{}",
                section("file"),
                probe_file(
                    f,
                    ProbeOptions {
                        follow: true,
                        ..Default::default()
                    }
                )
            ),
            None => format!(
                "{}\nif ! command -v crontab >/dev/null 2>&1; then echo rc=127; exit 0; fi\n\
                 out=$({} 2>/dev/null); echo \"rc=$?\"\n\
                 if [ -n \"$out\" ]; then printf '%s\\n' \"$out\" | base64 -w0; fi; echo\n",
                section("crontab"),
                self.crontab_cmd("-l")
            ),
        })))
    }

    fn plan(&self, _ctx: &ModuleCtx<'_>, probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        let out = probe.ok_or_else(|| ModuleError::Probe("cron: no probe output".into()))?;
        if out.rc != 0 {
            return Err(super::probe_failed(out));
        }
        let sec = sections(out);
        let mut file_exists = false;
        let existing = if self.cron_file.is_some() {
            let text = sec.get("file").ok_or_else(|| super::probe_failed(out))?;
            let f = parse_files(text.as_bytes())?
                .into_iter()
                .next()
                .ok_or_else(|| ModuleError::Probe("missing file record".into()))?;
            match f.kind {
                FileKind::Absent => String::new(),
                FileKind::File => {
                    file_exists = true;
                    let c = f.content.ok_or_else(|| {
                        ModuleError::Failed(format!(
                            "cannot read {} (too large or unreadable)",
                            self.header()
                        ))
                    })?;
                    String::from_utf8_lossy(&c).into_owned()
                }
                other => {
                    return Ok(Plan::fail(format!(
                        "{} is {}, not a regular file",
                        self.header(),
                        other.describe()
                    )));
                }
            }
        } else {
            let text = sec.get("crontab").ok_or_else(|| super::probe_failed(out))?;
            let mut text_lines = text.lines();
            let rc = text_lines.next().and_then(|l| l.strip_prefix("rc="));
            match rc.map(str::trim) {
                Some("0") => {
                    let b64 = text_lines.next().unwrap_or_default().trim();
                    let raw = B64
                        .decode(b64)
                        .map_err(|_| ModuleError::Probe("bad crontab content".into()))?;
                    // `$(...)` dropped the trailing newlines; printf added one back
                    String::from_utf8_lossy(&raw).into_owned()
                }
                Some("127") => {
                    return Err(ModuleError::Unsupported {
                        msg: "crontab is not installed on this host".into(),
                        hint: "on Flatcar use a systemd timer (a .timer and a .service unit via copy and systemd_service)".into(),
                    });
                }
                // 1: no crontab yet
                Some(_) => String::new(),
                None => return Err(super::probe_failed(out)),
            }
        };
        let mut lines: Vec<String> = Vec::new();
        for (i, l) in existing.lines().enumerate() {
            let vixie_header = i < 3
                && self.cron_file.is_none()
                && (l.starts_with("# DO NOT EDIT THIS FILE - edit the master and reinstall.")
                    || (l.starts_with("# (/tmp/") && l.contains("installed on"))
                    || (l.starts_with("# (") && l.contains("version")));
            if !vixie_header {
                lines.push(l.to_string());
            }
        }
        let mut changed = false;
        let mut remove_file = false;
        match &self.line {
            Some(job) => match find_job(&mut lines, &self.name, Some(job)) {
                None => {
                    lines.push(format!("{HEADER}{}", self.name));
                    lines.push(job.clone());
                    changed = true;
                }
                Some((have, edited)) => {
                    if have != *job || edited {
                        lines = replace_job(&lines, &self.name, Some(job));
                        changed = true;
                    }
                }
            },
            None => {
                if find_job(&mut lines, &self.name, None).is_some() {
                    lines = replace_job(&lines, &self.name, None);
                    changed = true;
                    remove_file =
                        self.cron_file.is_some() && lines.iter().all(|l| l.trim().is_empty());
                }
            }
        }
        if !changed && !existing.is_empty() && !existing.ends_with(['\n', '\r']) {
            changed = true;
        }
        let mut plan = Plan::default();
        let jobs: Vec<Value> = lines
            .iter()
            .filter_map(|l| l.strip_prefix(HEADER))
            .map(|n| Value::String(n.to_string()))
            .collect();
        plan.result.insert("jobs".into(), Value::Array(jobs));
        if let Some(f) = &self.cron_file {
            plan.result.insert("cron_file".into(), f.clone().into());
        }
        if !changed {
            plan.reason = Some(format!("cron job {:?} already as requested", self.name));
            return Ok(plan);
        }
        let new = if remove_file {
            String::new()
        } else {
            render(&lines)
        };
        plan.diff = Some(FileDiff {
            before_header: self.header(),
            after_header: if remove_file {
                "/dev/null".into()
            } else {
                self.header()
            },
            before: existing.clone(),
            after: new.clone(),
        });
        let what = if self.line.is_some() {
            format!("set cron job {:?} in {}", self.name, self.header())
        } else {
            format!("remove cron job {:?} from {}", self.name, self.header())
        };
        plan.changes.push(what);
        match &self.cron_file {
            Some(f) if remove_file => {
                if file_exists {
                    plan.actions
                        .push(Action::exec(format!("rm -f -- {}", quote(f))));
                }
            }
            Some(f) => {
                let attrs = AttrDrift {
                    mode: (!file_exists).then_some((None, 0o644)),
                    ..Default::default()
                };
                let spec = WriteSpec {
                    dest: f,
                    attrs: Some(&attrs),
                    ..Default::default()
                };
                plan.actions
                    .push(Action::exec_with_stdin(spec.script(), new.into_bytes()));
            }
            None => plan.actions.push(Action::exec_with_stdin(
                self.crontab_cmd("-"),
                new.into_bytes(),
            )),
        }
        Ok(plan)
    }
}
