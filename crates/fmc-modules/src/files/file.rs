//! `file`: state of a path (file, directory, absent, touch, link, hard) and its
//! mode/owner/group, optionally recursive for directories.
//!
//! Probe: the path (followed for file/directory/touch, not for link/hard/absent),
//! plus `srcexists 0|1` and `samefile 0|1` lines for links, plus `recurse <n>` (the
//! number of entries whose mode/owner/group differ) for `recurse: yes`.

use fmc_core::lenient::{self, Mode};
use fmc_core::module::parse_params;
use fmc_core::shell::quote;
use fmc_core::{
    Action, CheckSupport, ExecOutput, ModuleCtx, ModuleError, ModuleFactory, ModuleInfo,
    ParamError, Plan, PreparedModule, Probe,
};
use serde::Deserialize;

use super::{attributes, plan_attrs};
use crate::common::{Attributes, FileKind, ProbeOptions, RemoteFile, parse_file, probe_file};

pub const INFO: ModuleInfo = ModuleInfo {
    name: "file",
    aliases: &[],
    params: &[
        "path",
        "dest",
        "name",
        "state",
        "src",
        "mode",
        "owner",
        "group",
        "recurse",
        "force",
        "follow",
        "access_time",
        "modification_time",
    ],
    required: &["path|dest|name"],
    free_form: false,
    check: CheckSupport::Full,
    diff: false,
};

pub struct Factory;
pub const FACTORY: Factory = Factory;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(
        default,
        alias = "dest",
        alias = "name",
        deserialize_with = "lenient::opt_string"
    )]
    path: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    state: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    src: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_mode")]
    mode: Option<Mode>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    owner: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    group: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    recurse: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    force: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    follow: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    access_time: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    modification_time: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// No `state`: keep whatever exists, fix attributes.
    Keep,
    File,
    Directory,
    Absent,
    Touch,
    Link,
    Hard,
}

struct File {
    path: String,
    state: State,
    src: Option<String>,
    attrs: Attributes,
    recurse: bool,
    force: bool,
    /// `touch` keeps the timestamps (access_time and modification_time `preserve`).
    preserve_times: bool,
}

fn invalid(param: &str, msg: &str) -> ParamError {
    ParamError::Invalid {
        module: INFO.name.into(),
        param: param.into(),
        msg: msg.into(),
    }
}

impl ModuleFactory for Factory {
    fn info(&self) -> &ModuleInfo {
        &INFO
    }

    fn prepare(&self, args: &fmc_core::Map) -> Result<Box<dyn PreparedModule>, ParamError> {
        let p: Params = parse_params(&INFO, args)?;
        let path = p
            .path
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ParamError::Missing {
                module: INFO.name.into(),
                param: "path".into(),
            })?;
        let recurse = p.recurse.unwrap_or(false);
        let state = match p.state.as_deref() {
            None if recurse => State::Directory,
            None => State::Keep,
            Some("file") => State::File,
            Some("directory") => State::Directory,
            Some("absent") => State::Absent,
            Some("touch") => State::Touch,
            Some("link") => State::Link,
            Some("hard") => State::Hard,
            Some(other) => {
                return Err(invalid(
                    "state",
                    &format!("{other:?} is not one of file, directory, absent, touch, link, hard"),
                ));
            }
        };
        if matches!(state, State::Link | State::Hard) && p.src.is_none() {
            return Err(invalid("src", "is required with state link or hard"));
        }
        if !matches!(state, State::Link | State::Hard) && p.src.is_some() {
            return Err(invalid("src", "is only used with state link or hard"));
        }
        if matches!(state, State::Link | State::Hard) && p.mode.is_some() {
            return Err(invalid(
                "mode",
                "is not supported with state link or hard yet\nhint: set the mode on the link's target",
            ));
        }
        if recurse && state != State::Directory {
            return Err(invalid("recurse", "requires state directory"));
        }
        if recurse && matches!(p.mode, Some(Mode::Symbolic(_))) {
            return Err(invalid(
                "mode",
                "symbolic modes with recurse are not supported yet\nhint: use an octal mode",
            ));
        }
        if p.follow == Some(false) {
            return Err(invalid("follow", "only the default (yes) is supported"));
        }
        let preserve = |v: &Option<String>| v.as_deref() == Some("preserve");
        for (name, v) in [
            ("access_time", &p.access_time),
            ("modification_time", &p.modification_time),
        ] {
            if v.as_deref().is_some_and(|s| s != "preserve" && s != "now") {
                return Err(invalid(name, "only 'now' and 'preserve' are supported"));
            }
        }
        Ok(Box::new(File {
            path,
            state,
            src: p.src,
            attrs: attributes(p.mode, p.owner, p.group),
            recurse,
            force: p.force.unwrap_or(false),
            preserve_times: preserve(&p.access_time) && preserve(&p.modification_time),
        }))
    }
}

impl File {
    /// `src` as the link resolves it: relative to the link's directory.
    fn resolved_src(&self, src: &str) -> String {
        if src.starts_with('/') || self.state == State::Hard {
            return src.to_string();
        }
        match self.path.rsplit_once('/') {
            Some((dir, _)) => format!("{dir}/{src}"),
            None => src.to_string(),
        }
    }

    fn recurse_probe(&self) -> String {
        let mut tests = Vec::new();
        if let Some(Mode::Octal(m)) = &self.attrs.mode {
            tests.push(format!("! -perm {m:04o}"));
        }
        if let Some(o) = &self.attrs.owner {
            tests.push(format!("! -user {}", quote(o)));
        }
        if let Some(g) = &self.attrs.group {
            tests.push(format!("! -group {}", quote(g)));
        }
        if tests.is_empty() {
            return String::new();
        }
        format!(
            "if [ -d {q} ]; then printf 'recurse %s\\n' \"$(find {q} \\( {} \\) -printf x 2>/dev/null | wc -c)\"; fi\n",
            tests.join(" -o "),
            q = quote(&self.path)
        )
    }

    fn plan_keep(&self, f: &RemoteFile) -> Result<Plan, ModuleError> {
        if !f.exists() {
            return Ok(Plan::fail(format!(
                "path {} does not exist\nhint: use state: touch or directory to create it",
                self.path
            )));
        }
        Ok(plan_attrs(&self.path, &self.attrs.drift(f)?, f))
    }
}

fn line_value(stdout: &[u8], key: &str) -> Option<String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ').map(str::to_string))
}

impl PreparedModule for File {
    fn probe(&self, _ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        let follow = !matches!(self.state, State::Link | State::Hard | State::Absent);
        let opts = ProbeOptions {
            follow,
            checksum: None,
            content_limit: None,
        };
        let mut s = probe_file(&self.path, opts);
        if let Some(src) = &self.src {
            let q = quote(&self.resolved_src(src));
            s.push_str(&format!(
                "if [ -e {q} ]; then echo 'srcexists 1'; else echo 'srcexists 0'; fi\n"
            ));
            if self.state == State::Hard {
                s.push_str(&format!(
                    "a=$(stat -c %d:%i -- {q} 2>/dev/null); b=$(stat -c %d:%i -- {p} 2>/dev/null)\n\
                     if [ -n \"$a\" ] && [ \"$a\" = \"$b\" ]; then echo 'samefile 1'; else echo 'samefile 0'; fi\n",
                    p = quote(&self.path)
                ));
            }
        }
        if self.recurse {
            s.push_str(&self.recurse_probe());
        }
        Ok(Some(Probe::new(s)))
    }

    fn plan(&self, _ctx: &ModuleCtx<'_>, probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        let f = parse_file(probe)?;
        let stdout = probe.map(|o| o.stdout.as_slice()).unwrap_or_default();
        let q = quote(&self.path);
        let path = &self.path;
        let mut plan = match self.state {
            State::Keep => self.plan_keep(&f)?,
            State::File => {
                if f.kind != FileKind::File && f.exists() {
                    Plan::fail(format!(
                        "{path} is {}, not a regular file",
                        f.kind.describe()
                    ))
                } else {
                    self.plan_keep(&f)?
                }
            }
            State::Absent => {
                if f.exists() {
                    let mut p = Plan::default();
                    p.changes
                        .push(format!("remove {path} ({})", f.kind.describe()));
                    p.actions.push(Action::exec(format!("rm -rf -- {q}")));
                    p
                } else {
                    Plan::in_sync(format!("{path} is already absent"))
                }
            }
            State::Directory => self.plan_directory(&f, stdout)?,
            State::Touch => {
                if f.exists() {
                    let mut p = plan_attrs(path, &self.attrs.drift(&f)?, &f);
                    if !self.preserve_times {
                        p.changes.insert(0, format!("touch {path}"));
                        p.actions.insert(0, Action::exec(format!("touch -- {q}")));
                        p.reason = None;
                    }
                    p
                } else if !f.parent_exists {
                    Plan::fail(format!("directory of {path} does not exist"))
                } else {
                    let drift = self.attrs.for_new(f.umask, false)?;
                    let mut p = Plan::default();
                    p.changes.push(format!("create empty file {path}"));
                    p.actions.push(Action::exec(format!(
                        "set -e\n: >> {q}\n{}",
                        drift.script(&q)
                    )));
                    drift.result_fields(None, &mut p.result);
                    p
                }
            }
            State::Link => self.plan_link(&f, stdout),
            State::Hard => self.plan_hard(&f, stdout),
        };
        if plan.failed.is_none() {
            plan.result.insert("path".into(), path.as_str().into());
            let state = match self.state {
                State::Keep => match f.kind {
                    FileKind::Directory => "directory",
                    FileKind::Link => "link",
                    _ => "file",
                },
                State::File => "file",
                State::Directory => "directory",
                State::Absent => "absent",
                State::Touch => "file",
                State::Link => "link",
                State::Hard => "hard",
            };
            plan.result.insert("state".into(), state.into());
        }
        Ok(plan)
    }
}

impl File {
    fn plan_directory(&self, f: &RemoteFile, stdout: &[u8]) -> Result<Plan, ModuleError> {
        let path = &self.path;
        let q = quote(path);
        if f.exists() && f.kind != FileKind::Directory {
            return Ok(Plan::fail(format!(
                "{path} exists and is {}, not a directory",
                f.kind.describe()
            )));
        }
        if !f.exists() {
            let drift = self.attrs.for_new(f.umask, true)?;
            let mut p = Plan::default();
            p.changes.push(format!("create directory {path}"));
            p.actions.push(Action::exec(format!(
                "set -e\nmkdir -p -- {q}\n{}",
                drift.script(&q)
            )));
            drift.result_fields(None, &mut p.result);
            return Ok(p);
        }
        let drift = self.attrs.drift(f)?;
        let mut p = plan_attrs(path, &drift, f);
        if self.recurse {
            let n: u64 = line_value(stdout, "recurse")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if n > 0 {
                let mut s = String::from("set -e\n");
                let who = match (&self.attrs.owner, &self.attrs.group) {
                    (Some(o), Some(g)) => Some(format!("{o}:{g}")),
                    (Some(o), None) => Some(o.clone()),
                    (None, Some(g)) => Some(format!(":{g}")),
                    (None, None) => None,
                };
                if let Some(w) = who {
                    s.push_str(&format!("chown -R -h -- {} {q}\n", quote(&w)));
                }
                if let Some(Mode::Octal(m)) = &self.attrs.mode {
                    s.push_str(&format!("chmod -R -- {m:04o} {q}\n"));
                }
                p.changes = vec![format!(
                    "fix mode/owner/group of {n} entries under {path} (recursively)"
                )];
                p.actions = vec![Action::exec(s)];
                p.reason = None;
            }
        }
        Ok(p)
    }

    fn plan_link(&self, f: &RemoteFile, stdout: &[u8]) -> Plan {
        let path = &self.path;
        let src = self.src.as_deref().unwrap_or_default();
        let (qs, qp) = (quote(src), quote(path));
        let chown = self.attrs.owner.is_some() || self.attrs.group.is_some();
        if f.kind == FileKind::Link && f.link_target.as_deref() == Some(src) {
            if chown {
                return plan_attrs(path, &self.link_drift(f), f);
            }
            return Plan::in_sync(format!("{path} already links to {src}"));
        }
        if line_value(stdout, "srcexists").as_deref() != Some("1") && !self.force {
            return Plan::fail(format!(
                "src {src} does not exist\nhint: use force: yes to create a dangling link"
            ));
        }
        let mut p = Plan::default();
        let mut script = String::from("set -e\n");
        match f.kind {
            FileKind::Absent => {
                if !f.parent_exists {
                    return Plan::fail(format!("directory of {path} does not exist"));
                }
                p.changes.push(format!("create link {path} -> {src}"));
            }
            FileKind::Link => p.changes.push(format!(
                "change link {path} -> {} to -> {src}",
                f.link_target.as_deref().unwrap_or("?")
            )),
            FileKind::File | FileKind::Other if self.force => {
                p.changes.push(format!(
                    "replace {} {path} with a link to {src}",
                    f.kind.describe()
                ));
                script.push_str(&format!("rm -f -- {qp}\n"));
            }
            FileKind::Directory => {
                return Plan::fail(format!("refusing to replace directory {path} with a link"));
            }
            _ => {
                return Plan::fail(format!(
                    "refusing to convert {path} ({}) to a link\nhint: use force: yes",
                    f.kind.describe()
                ));
            }
        }
        script.push_str(&format!("ln -sfn -- {qs} {qp}\n"));
        let drift = self.link_drift(f);
        script.push_str(&drift.script(&qp));
        p.actions.push(Action::exec(script));
        p
    }

    /// Owner/group drift of a link itself (`chown -h`); mode is rejected in `prepare`.
    fn link_drift(&self, f: &RemoteFile) -> crate::common::AttrDrift {
        let a = Attributes {
            mode: None,
            ..self.attrs.clone()
        };
        if f.kind == FileKind::Link {
            a.drift(f).unwrap_or_default()
        } else {
            a.for_new(0, false)
                .map(|mut d| {
                    d.mode = None;
                    d
                })
                .unwrap_or_default()
        }
    }

    fn plan_hard(&self, f: &RemoteFile, stdout: &[u8]) -> Plan {
        let path = &self.path;
        let src = self.src.as_deref().unwrap_or_default();
        if line_value(stdout, "samefile").as_deref() == Some("1") {
            return Plan::in_sync(format!("{path} is already a hard link to {src}"));
        }
        if line_value(stdout, "srcexists").as_deref() != Some("1") {
            return Plan::fail(format!("src {src} does not exist"));
        }
        if f.exists() && !self.force {
            return Plan::fail(format!(
                "refusing to replace {path} ({}) with a hard link\nhint: use force: yes",
                f.kind.describe()
            ));
        }
        if f.kind == FileKind::Directory {
            return Plan::fail(format!(
                "refusing to replace directory {path} with a hard link"
            ));
        }
        let mut p = Plan::default();
        p.changes.push(format!("create hard link {path} to {src}"));
        let q = quote(path);
        let drift = self.link_drift(f);
        p.actions.push(Action::exec(format!(
            "set -e\nln -f -- {} {q}\n{}",
            quote(src),
            drift.script(&q)
        )));
        p
    }
}
