//! `template`: renders a controller template (`src`, looked up in the role's
//! `templates/`) and writes it to `dest` like `copy` does.

use fmc_core::lenient::{self, Mode};
use fmc_core::module::parse_params;
use fmc_core::{
    CheckSupport, ExecOutput, ModuleCtx, ModuleError, ModuleFactory, ModuleInfo, Outcome,
    ParamError, Plan, PreparedModule, Probe, Value,
};
use serde::Deserialize;

use super::{Target, attributes, finish_write, plan_content};
use crate::common::{Attributes, Checksum, ProbeOptions, parse_file, probe_file};

pub const INFO: ModuleInfo = ModuleInfo {
    name: "template",
    aliases: &[],
    params: &[
        "src",
        "dest",
        "mode",
        "owner",
        "group",
        "force",
        "backup",
        "validate",
        "newline_sequence",
        "trim_blocks",
        "lstrip_blocks",
        "output_encoding",
    ],
    required: &["src", "dest"],
    free_form: false,
    check: CheckSupport::Full,
    diff: true,
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
    #[serde(default, deserialize_with = "lenient::opt_string")]
    newline_sequence: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    trim_blocks: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    lstrip_blocks: Option<bool>,
    #[serde(default)]
    output_encoding: Option<Value>,
}

struct Template {
    src: String,
    dest: String,
    attrs: Attributes,
    force: bool,
    backup: bool,
    validate: Option<String>,
}

fn only_default(param: &str, ok: bool, default: &str) -> Result<(), ParamError> {
    if ok {
        Ok(())
    } else {
        Err(ParamError::Invalid {
            module: INFO.name.into(),
            param: param.into(),
            msg: format!("only the default ({default}) is supported"),
        })
    }
}

impl ModuleFactory for Factory {
    fn info(&self) -> &ModuleInfo {
        &INFO
    }

    fn prepare(&self, args: &fmc_core::Map) -> Result<Box<dyn PreparedModule>, ParamError> {
        let p: Params = parse_params(&INFO, args)?;
        crate::common::check_validate(INFO.name, p.validate.as_deref())?;
        only_default(
            "newline_sequence",
            p.newline_sequence
                .as_deref()
                .is_none_or(|s| s == "\n" || s == "\\n"),
            "\\n",
        )?;
        only_default("trim_blocks", p.trim_blocks != Some(false), "yes")?;
        only_default("lstrip_blocks", p.lstrip_blocks != Some(true), "no")?;
        let enc_ok = match &p.output_encoding {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => {
                s.eq_ignore_ascii_case("utf-8") || s.eq_ignore_ascii_case("utf8")
            }
            Some(_) => false,
        };
        only_default("output_encoding", enc_ok, "utf-8")?;
        Ok(Box::new(Template {
            src: p.src,
            dest: p.dest,
            attrs: attributes(p.mode, p.owner, p.group),
            force: p.force.unwrap_or(true),
            backup: p.backup.unwrap_or(false),
            validate: p.validate,
        }))
    }
}

impl PreparedModule for Template {
    fn probe(&self, _ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        let opts = ProbeOptions {
            follow: true,
            checksum: Some(Checksum::Sha256),
            content_limit: Some(crate::common::CONTENT_LIMIT),
        };
        Ok(Some(Probe::new(probe_file(&self.dest, opts))))
    }

    fn plan(&self, ctx: &ModuleCtx<'_>, probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        let file = parse_file(probe)?;
        if file.exists() && !self.force {
            return Ok(Plan::in_sync(format!(
                "{} exists and force is off",
                self.dest
            )));
        }
        let path = match ctx.files.find(&self.src, true) {
            Ok(p) => p,
            Err(e) => {
                return Ok(Plan::fail(format!(
                    "could not find template {}: {e}",
                    self.src
                )));
            }
        };
        let text = match ctx.files.render(&path) {
            Ok(t) => t,
            Err(e) => return Ok(Plan::fail(e)),
        };
        let target = Target {
            dest: &self.dest,
            attrs: &self.attrs,
            backup: self.backup,
            validate: self.validate.as_deref(),
            summary: None,
        };
        let header = path.to_string_lossy().into_owned();
        let mut plan = plan_content(&target, &file, text.as_bytes(), Some(&header))?;
        plan.result.insert("src".into(), header.into());
        Ok(plan)
    }

    fn finish(&self, plan: &Plan, outputs: &[ExecOutput]) -> Result<Outcome, ModuleError> {
        finish_write(plan, outputs)
    }
}
