//! `replace`: replaces every match of `regexp` (multi-line mode) with `replace`,
//! optionally only in the section between `after` and `before`.

use fmc_core::lenient::{self, Mode};
use fmc_core::module::parse_params;
use fmc_core::{
    CheckSupport, ExecOutput, ModuleCtx, ModuleError, ModuleFactory, ModuleInfo, Outcome,
    ParamError, Plan, PreparedModule, Probe,
};
use regex::bytes::Regex;
use serde::Deserialize;

use super::{Target, attributes, edit_content, edit_probe, finish_write, plan_content, user_regex};
use crate::common::{Attributes, parse_file, python_replacement};

pub const INFO: ModuleInfo = ModuleInfo {
    name: "replace",
    aliases: &[],
    params: &[
        "path", "dest", "destfile", "name", "regexp", "replace", "after", "before", "backup",
        "validate", "mode", "owner", "group",
    ],
    required: &["path|dest|destfile|name", "regexp"],
    free_form: false,
    check: CheckSupport::Full,
    diff: true,
};

pub struct Factory;
pub const FACTORY: Factory = Factory;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(
        alias = "dest",
        alias = "destfile",
        alias = "name",
        deserialize_with = "lenient::string"
    )]
    path: String,
    #[serde(deserialize_with = "lenient::string")]
    regexp: String,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    replace: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    after: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    before: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    backup: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    validate: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_mode")]
    mode: Option<Mode>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    owner: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    group: Option<String>,
}

struct Replace {
    path: String,
    regexp: Regex,
    replace: String,
    section: Option<Regex>,
    backup: bool,
    validate: Option<String>,
    attrs: Attributes,
}

impl ModuleFactory for Factory {
    fn info(&self) -> &ModuleInfo {
        &INFO
    }

    fn prepare(&self, args: &fmc_core::Map) -> Result<Box<dyn PreparedModule>, ParamError> {
        let p: Params = parse_params(&INFO, args)?;
        crate::common::check_validate(INFO.name, p.validate.as_deref())?;
        let regexp = user_regex(INFO.name, "regexp", &format!("(?m){}", p.regexp))?;
        let section = match (&p.after, &p.before) {
            (Some(a), Some(b)) => Some(format!("(?s){a}(?P<subsection>.*?){b}")),
            (Some(a), None) => Some(format!("(?s){a}(?P<subsection>.*)")),
            (None, Some(b)) => Some(format!("(?s)(?P<subsection>.*){b}")),
            (None, None) => None,
        };
        let section = section
            .map(|s| user_regex(INFO.name, "after", &s))
            .transpose()?;
        Ok(Box::new(Replace {
            path: p.path,
            regexp,
            replace: python_replacement(p.replace.as_deref().unwrap_or_default()),
            section,
            backup: p.backup.unwrap_or(false),
            validate: p.validate,
            attrs: attributes(p.mode, p.owner, p.group),
        }))
    }
}

impl PreparedModule for Replace {
    fn probe(&self, _ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        Ok(Some(edit_probe(&self.path)))
    }

    fn plan(&self, _ctx: &ModuleCtx<'_>, probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        let file = parse_file(probe)?;
        let content = match edit_content(&self.path, &file, false, false) {
            Ok(c) => c,
            Err(p) => return Ok(*p),
        };
        let (start, end) = match &self.section {
            Some(re) => match re.captures(&content).and_then(|c| c.name("subsection")) {
                Some(m) => (m.start(), m.end()),
                None => (0, content.len()),
            },
            None => (0, content.len()),
        };
        let section = &content[start..end];
        let count = self.regexp.find_iter(section).count();
        let replaced = self.regexp.replace_all(section, self.replace.as_bytes());
        let mut new = content[..start].to_vec();
        new.extend_from_slice(&replaced);
        new.extend_from_slice(&content[end..]);
        let target = Target {
            dest: &self.path,
            attrs: &self.attrs,
            backup: self.backup,
            validate: self.validate.as_deref(),
            summary: Some(format!("replace {count} occurrence(s) in {}", self.path)),
        };
        let mut plan = plan_content(&target, &file, &new, None)?;
        plan.result
            .insert("msg".into(), format!("{count} replacements made").into());
        Ok(plan)
    }

    fn finish(&self, plan: &Plan, outputs: &[ExecOutput]) -> Result<Outcome, ModuleError> {
        finish_write(plan, outputs)
    }
}
