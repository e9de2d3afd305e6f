//! `copy`: puts a controller file (`src`) or inline `content` at `dest` on the host,
//! or copies a file already on the host (`remote_src: yes`).
//!
//! Probe: `dest` followed (content, sha256), plus `dest/<basename of src>` for the
//! case where `dest` is a directory, plus `src` when `remote_src`.

use fmc_core::lenient::{self, Mode};
use fmc_core::module::parse_params;
use fmc_core::{
    Action, CheckSupport, ExecOutput, ModuleCtx, ModuleError, ModuleFactory, ModuleInfo, Outcome,
    ParamError, Plan, PreparedModule, Probe, Value,
};
use serde::Deserialize;

use super::{Target, attributes, check_writable, finish_write, plan_content};
use crate::common::{
    Attributes, FileKind, ProbeOptions, RemoteFile, WriteSpec, parse_files, probe_file,
};

pub const INFO: ModuleInfo = ModuleInfo {
    name: "copy",
    aliases: &[],
    params: &[
        "src",
        "content",
        "dest",
        "mode",
        "owner",
        "group",
        "force",
        "backup",
        "validate",
        "remote_src",
        "decrypt",
    ],
    required: &["dest"],
    free_form: false,
    check: CheckSupport::Full,
    diff: true,
};

pub struct Factory;
pub const FACTORY: Factory = Factory;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    src: Option<String>,
    #[serde(default)]
    content: Option<Value>,
    #[serde(deserialize_with = "lenient::string")]
    dest: String,
    #[serde(default, deserialize_with = "lenient::opt_mode")]
    mode: Option<Mode>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    owner: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    group: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    force: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    backup: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    validate: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    remote_src: Option<bool>,
    /// Vault files are decrypted by the controller's file reader; accepted and ignored.
    #[serde(default, rename = "decrypt")]
    _decrypt: Option<Value>,
}

enum Source {
    Content(Vec<u8>),
    Controller(String),
    Remote(String),
}

struct Copy {
    source: Source,
    dest: String,
    attrs: Attributes,
    force: bool,
    backup: bool,
    validate: Option<String>,
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
        crate::common::check_validate(INFO.name, p.validate.as_deref())?;
        let remote = p.remote_src.unwrap_or(false);
        let source = match (p.src, p.content) {
            (Some(_), Some(_)) => return Err(invalid("content", "cannot be used with src")),
            (None, None) => {
                return Err(ParamError::Missing {
                    module: INFO.name.into(),
                    param: "src or content".into(),
                });
            }
            (None, Some(_)) if remote => return Err(invalid("remote_src", "requires src")),
            (None, Some(Value::String(s))) => Source::Content(s.into_bytes()),
            (None, Some(other)) => Source::Content(
                serde_json::to_string(&other)
                    .map_err(|e| invalid("content", &e.to_string()))?
                    .into_bytes(),
            ),
            (Some(s), None) if s.ends_with('/') => {
                return Err(invalid(
                    "src",
                    "copying a directory is not supported yet\nhint: copy each file, or use unarchive",
                ));
            }
            (Some(s), None) if remote => Source::Remote(s),
            (Some(s), None) => Source::Controller(s),
        };
        if p.dest.is_empty() {
            return Err(invalid("dest", "must not be empty"));
        }
        Ok(Box::new(Copy {
            source,
            dest: p.dest,
            attrs: attributes(p.mode, p.owner, p.group),
            force: p.force.unwrap_or(true),
            backup: p.backup.unwrap_or(false),
            validate: p.validate,
        }))
    }
}

const FOLLOW: ProbeOptions = ProbeOptions {
    follow: true,
    checksum: Some(crate::common::Checksum::Sha256),
    content_limit: Some(crate::common::CONTENT_LIMIT),
};

impl Copy {
    fn src_name(&self) -> Option<&str> {
        match &self.source {
            Source::Content(_) => None,
            Source::Controller(s) | Source::Remote(s) => {
                s.rsplit('/').next().filter(|n| !n.is_empty())
            }
        }
    }

    /// `dest`, or `dest/<basename of src>` when `dest` names a directory.
    fn inner_dest(&self) -> Option<String> {
        let name = self.src_name()?;
        Some(format!("{}/{name}", self.dest.trim_end_matches('/')))
    }
}

impl PreparedModule for Copy {
    fn probe(&self, _ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        let mut s = probe_file(&self.dest, FOLLOW);
        if let Some(inner) = self.inner_dest() {
            s.push_str(&probe_file(&inner, FOLLOW));
        }
        if let Source::Remote(src) = &self.source {
            s.push_str(&probe_file(src, FOLLOW));
        }
        Ok(Some(Probe::new(s)))
    }

    fn plan(&self, ctx: &ModuleCtx<'_>, probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        let out = probe.ok_or_else(|| ModuleError::Probe("no probe output".into()))?;
        let mut files = parse_files(&out.stdout)?.into_iter();
        let mut next = || {
            files
                .next()
                .ok_or_else(|| ModuleError::Probe("missing file record".into()))
        };
        let dest_file = next()?;
        let (dest, file) = match self.inner_dest() {
            Some(inner) => {
                let inner_file = next()?;
                if dest_file.kind == FileKind::Directory || self.dest.ends_with('/') {
                    (inner, inner_file)
                } else {
                    (self.dest.clone(), dest_file)
                }
            }
            None => (self.dest.clone(), dest_file),
        };
        if file.exists() && !self.force {
            let mut plan = Plan::in_sync(format!("{dest} exists and force is off"));
            plan.result.insert("dest".into(), dest.into());
            return Ok(plan);
        }
        let target = Target {
            dest: &dest,
            attrs: &self.attrs,
            backup: self.backup,
            validate: self.validate.as_deref(),
            summary: None,
        };
        match &self.source {
            Source::Content(c) => plan_content(&target, &file, c, None),
            Source::Controller(src) => {
                let path = match ctx.files.find(src, false) {
                    Ok(p) => p,
                    Err(e) => return Ok(Plan::fail(format!("could not find src {src}: {e}"))),
                };
                let data = match ctx.files.read(&path) {
                    Ok(d) => d,
                    Err(e) => return Ok(Plan::fail(format!("could not read src {src}: {e}"))),
                };
                let header = path.to_string_lossy().into_owned();
                let mut plan = plan_content(&target, &file, &data, Some(&header))?;
                plan.result.insert("src".into(), header.into());
                Ok(plan)
            }
            Source::Remote(src) => {
                let src_file = next()?;
                self.plan_remote(&target, &file, src, &src_file)
            }
        }
    }

    fn finish(&self, plan: &Plan, outputs: &[ExecOutput]) -> Result<Outcome, ModuleError> {
        finish_write(plan, outputs)
    }
}

impl Copy {
    /// `remote_src`: compares checksums of two host files; the write copies `src`.
    fn plan_remote(
        &self,
        t: &Target<'_>,
        file: &RemoteFile,
        src: &str,
        src_file: &RemoteFile,
    ) -> Result<Plan, ModuleError> {
        if src_file.kind != FileKind::File || src_file.unreadable {
            return Ok(Plan::fail(format!(
                "src {src} is {} on the host, expected a readable regular file",
                if src_file.unreadable {
                    "unreadable"
                } else {
                    src_file.kind.describe()
                }
            )));
        }
        // With the source content at hand (small files) the shared planner is exact
        // and gives a diff; otherwise compare checksums and stream with cat.
        if let Some(data) = &src_file.content {
            let mut plan = plan_content(t, file, data, Some(src))?;
            plan.result.insert("src".into(), src.into());
            return Ok(plan);
        }
        if let Some(p) = check_writable(t.dest, file) {
            return Ok(p);
        }
        let exists = file.kind == FileKind::File;
        let same = exists && file.sha256.is_some() && file.sha256 == src_file.sha256;
        if same {
            let drift = t.attrs.drift(file)?;
            let mut plan = super::plan_attrs(t.dest, &drift, file);
            plan.result.insert("src".into(), src.into());
            return Ok(plan);
        }
        let drift = if exists {
            t.attrs.drift(file)?
        } else {
            t.attrs.for_new(file.umask, false)?
        };
        let mut plan = Plan::default();
        plan.changes.push(if exists {
            format!("update content of {} from {src}", t.dest)
        } else {
            format!("create {} from {src} ({} bytes)", t.dest, src_file.size)
        });
        plan.changes.extend(drift.changes(t.dest));
        let spec = WriteSpec {
            dest: t.dest,
            attrs: Some(&drift),
            validate: t.validate,
            backup: t.backup,
        };
        let script = format!("exec < {}\n{}", fmc_core::shell::quote(src), spec.script());
        plan.actions.push(Action::exec(script));
        let r = &mut plan.result;
        r.insert("dest".into(), t.dest.into());
        r.insert("src".into(), src.into());
        if let Some(h) = &src_file.sha256 {
            r.insert("sha256".into(), h.clone().into());
        }
        r.insert("size".into(), src_file.size.into());
        drift.result_fields(exists.then_some(file), r);
        Ok(plan)
    }
}
