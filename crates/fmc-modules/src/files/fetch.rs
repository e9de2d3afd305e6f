//! `fetch`: copies a file from the host to the controller, to `dest/<host>/<src path>`
//! (Ansible's layout) or to `dest` itself with `flat: yes` (`dest/` ending in a slash
//! gets the basename of `src`).
//!
//! Probe: [`probe_file`] of `src` (followed, sha1, no content). The plan compares the
//! remote sha1 with the controller file (read through `ctx.files`), so the no-change
//! case costs one round trip and transfers no content. A change runs `cat src` and
//! `finish` returns the bytes as [`Outcome::controller_writes`] after checking their
//! sha1 against the probed one (`validate_checksum`).
//!
//! A relative `dest` is relative to the playbook directory
//! ([`fmc_core::ControllerFiles::base_dir`], the current directory when there is none),
//! as in Ansible; `~/` is expanded with `$HOME`.

use std::path::{Component, Path, PathBuf};

use fmc_core::lenient;
use fmc_core::module::parse_params;
use fmc_core::shell::quote;
use fmc_core::{
    Action, CheckSupport, ExecOutput, ModuleCtx, ModuleError, ModuleFactory, ModuleInfo, Outcome,
    ParamError, Plan, PreparedModule, Probe,
};
use serde::Deserialize;

use crate::common::{Checksum, FileKind, ProbeOptions, parse_file, probe_file, sha1_hex};

pub const INFO: ModuleInfo = ModuleInfo {
    name: "fetch",
    aliases: &[],
    params: &[
        "src",
        "dest",
        "flat",
        "fail_on_missing",
        "validate_checksum",
        "validate_md5",
    ],
    required: &["src", "dest"],
    free_form: false,
    check: CheckSupport::Full,
    diff: false,
};

pub struct Factory;
pub const FACTORY: Factory = Factory;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(deserialize_with = "lenient::string")]
    src: String,
    #[serde(deserialize_with = "lenient::string")]
    dest: String,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    flat: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    fail_on_missing: Option<bool>,
    #[serde(
        default,
        alias = "validate_md5",
        deserialize_with = "lenient::opt_bool"
    )]
    validate_checksum: Option<bool>,
}

struct Fetch {
    src: String,
    dest: String,
    flat: bool,
    fail_on_missing: bool,
    validate_checksum: bool,
}

impl ModuleFactory for Factory {
    fn info(&self) -> &ModuleInfo {
        &INFO
    }

    fn prepare(&self, args: &fmc_core::Map) -> Result<Box<dyn PreparedModule>, ParamError> {
        let p: Params = parse_params(&INFO, args)?;
        let invalid = |param: &str, msg: &str| ParamError::Invalid {
            module: INFO.name.into(),
            param: param.into(),
            msg: msg.into(),
        };
        let flat = p.flat.unwrap_or(false);
        if p.src.is_empty() || p.src.ends_with('/') {
            return Err(invalid("src", "must name a file"));
        }
        if p.dest.is_empty() {
            return Err(invalid("dest", "must not be empty"));
        }
        if !flat
            && Path::new(&p.src)
                .components()
                .any(|c| c == Component::ParentDir)
        {
            return Err(invalid(
                "src",
                "must not contain '..' (the file would land outside dest/<host>)\nhint: use an absolute path, or flat: yes",
            ));
        }
        Ok(Box::new(Fetch {
            src: p.src,
            dest: p.dest,
            flat,
            fail_on_missing: p.fail_on_missing.unwrap_or(true),
            validate_checksum: p.validate_checksum.unwrap_or(true),
        }))
    }
}

impl Fetch {
    /// Where the file goes on the controller for `host`.
    fn local_dest(&self, host: &str, base: Option<&Path>) -> Result<PathBuf, String> {
        let p = self.local_dest_as_given(host)?;
        Ok(match base {
            Some(b) if p.is_relative() => b.join(p),
            _ => p,
        })
    }

    fn local_dest_as_given(&self, host: &str) -> Result<PathBuf, String> {
        let dest = match self.dest.strip_prefix('~') {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => {
                let home = std::env::var("HOME").map_err(|_| {
                    format!("cannot expand ~ in dest {}: HOME is not set", self.dest)
                })?;
                format!("{home}{rest}")
            }
            _ => self.dest.clone(),
        };
        if self.flat {
            if dest.ends_with('/') {
                let base = self.src.rsplit('/').next().unwrap_or(&self.src);
                return Ok(PathBuf::from(format!("{dest}{base}")));
            }
            return Ok(PathBuf::from(dest));
        }
        let mut p = PathBuf::from(dest);
        p.push(host);
        for c in Path::new(&self.src).components() {
            if let Component::Normal(n) = c {
                p.push(n);
            }
        }
        Ok(p)
    }
}

const PROBE: ProbeOptions = ProbeOptions {
    follow: true,
    checksum: Some(Checksum::Sha1),
    content_limit: None,
};

impl PreparedModule for Fetch {
    fn probe(&self, _ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        Ok(Some(Probe::new(probe_file(&self.src, PROBE))))
    }

    fn plan(&self, ctx: &ModuleCtx<'_>, probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        let f = parse_file(probe)?;
        let src = &self.src;
        let dest = match self.local_dest(ctx.host, ctx.files.base_dir()) {
            Ok(d) => d,
            Err(e) => return Ok(Plan::fail(e)),
        };
        let dest_s = dest.to_string_lossy().into_owned();
        match f.kind {
            FileKind::File => {}
            FileKind::Absent | FileKind::Link if !self.fail_on_missing => {
                let mut plan = Plan::in_sync(format!("{src} does not exist on the host"));
                plan.result.insert(
                    "msg".into(),
                    "the remote file does not exist, not transferring, ignored".into(),
                );
                plan.result.insert("file".into(), src.as_str().into());
                return Ok(plan);
            }
            FileKind::Absent | FileKind::Link => {
                return Ok(Plan::fail(format!(
                    "the remote file does not exist: {src}\nhint: set fail_on_missing: no to ignore"
                )));
            }
            FileKind::Directory => {
                return Ok(Plan::fail(format!(
                    "remote file {src} is a directory, fetch cannot work on directories"
                )));
            }
            FileKind::Other => {
                return Ok(Plan::fail(format!("remote file {src} is a special file")));
            }
        }
        let remote = match (&f.sha1, f.unreadable) {
            (Some(h), false) => h.clone(),
            _ => {
                return Ok(Plan::fail(format!(
                    "cannot read {src} (permission denied?)\nhint: add 'become: true' to the task"
                )));
            }
        };
        let local = ctx.files.read(&dest).ok().map(|b| sha1_hex(&b));
        let mut plan = Plan::default();
        let r = &mut plan.result;
        r.insert("dest".into(), dest_s.as_str().into());
        r.insert("file".into(), src.as_str().into());
        r.insert("remote_checksum".into(), remote.as_str().into());
        r.insert("checksum".into(), remote.as_str().into());
        if local.as_deref() == Some(remote.as_str()) {
            plan.reason = Some(format!("{dest_s} already matches {src}"));
            return Ok(plan);
        }
        plan.changes.push(format!(
            "fetch {src} to {dest_s} on the controller ({} bytes)",
            f.size
        ));
        plan.actions
            .push(Action::exec(format!("exec cat -- {}\n", quote(src))));
        Ok(plan)
    }

    fn finish(&self, plan: &Plan, outputs: &[ExecOutput]) -> Result<Outcome, ModuleError> {
        let mut out = fmc_core::module::default_finish(plan, outputs)?;
        if out.failed.is_some() || plan.actions.is_empty() {
            return Ok(out);
        }
        let data = outputs
            .first()
            .map(|o| o.stdout.clone())
            .ok_or_else(|| ModuleError::Failed("no output from reading the file".into()))?;
        let got = sha1_hex(&data);
        let want = plan.result.get("remote_checksum").and_then(|v| v.as_str());
        if self.validate_checksum && want != Some(got.as_str()) {
            out.changed = false;
            out.failed = Some(format!(
                "checksum mismatch after fetching {}: the file changed during the transfer\nhint: run the task again",
                self.src
            ));
            return Ok(out);
        }
        let dest = plan
            .result
            .get("dest")
            .and_then(|v| v.as_str())
            .ok_or_else(|| ModuleError::Failed("plan lost its dest".into()))?;
        out.result.insert("checksum".into(), got.into());
        out.controller_writes.push((PathBuf::from(dest), data));
        Ok(out)
    }
}
