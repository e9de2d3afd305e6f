//! `blockinfile`: keeps a marker-delimited block in a file (inserted at
//! `insertafter`/`insertbefore`, default end of file), or removes it.

use fmc_core::lenient::{self, Mode};
use fmc_core::module::parse_params;
use fmc_core::{
    CheckSupport, ExecOutput, ModuleCtx, ModuleError, ModuleFactory, ModuleInfo, Outcome,
    ParamError, Plan, PreparedModule, Probe,
};
use regex::bytes::Regex;
use serde::Deserialize;

use super::{
    Target, attributes, edit_content, edit_probe, finish_write, plan_content, split_lines,
    trim_eol, user_regex,
};
use crate::common::{Attributes, parse_file};

pub const INFO: ModuleInfo = ModuleInfo {
    name: "blockinfile",
    aliases: &[],
    params: &[
        "path",
        "dest",
        "destfile",
        "name",
        "block",
        "content",
        "marker",
        "marker_begin",
        "marker_end",
        "insertafter",
        "insertbefore",
        "state",
        "create",
        "backup",
        "validate",
        "mode",
        "owner",
        "group",
    ],
    required: &["path|dest|destfile|name"],
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
    #[serde(default, alias = "content", deserialize_with = "lenient::opt_string")]
    block: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    marker: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    marker_begin: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    marker_end: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    insertafter: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    insertbefore: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    state: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    create: Option<bool>,
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

enum Anchor {
    Bof,
    Eof,
    After(Regex),
    Before(Regex),
}

struct BlockInFile {
    path: String,
    block: String,
    begin: String,
    end: String,
    anchor: Anchor,
    present: bool,
    create: bool,
    backup: bool,
    validate: Option<String>,
    attrs: Attributes,
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
        let present = match p.state.as_deref() {
            None | Some("present") => true,
            Some("absent") => false,
            Some(o) => return Err(invalid("state", &format!("{o:?} is not present or absent"))),
        };
        let marker = p
            .marker
            .unwrap_or_else(|| "# {mark} ANSIBLE MANAGED BLOCK".into());
        let anchor = match (p.insertafter.as_deref(), p.insertbefore.as_deref()) {
            (Some(_), Some(_)) => {
                return Err(invalid("insertbefore", "cannot be used with insertafter"));
            }
            (Some("EOF") | None, None) => Anchor::Eof,
            (None, Some("BOF")) => Anchor::Bof,
            (Some(r), None) => Anchor::After(user_regex(INFO.name, "insertafter", r)?),
            (None, Some(r)) => Anchor::Before(user_regex(INFO.name, "insertbefore", r)?),
        };
        Ok(Box::new(BlockInFile {
            path: p.path,
            block: p.block.unwrap_or_default(),
            begin: marker.replace("{mark}", p.marker_begin.as_deref().unwrap_or("BEGIN")),
            end: marker.replace("{mark}", p.marker_end.as_deref().unwrap_or("END")),
            anchor,
            present,
            create: p.create.unwrap_or(false),
            backup: p.backup.unwrap_or(false),
            validate: p.validate,
            attrs: attributes(p.mode, p.owner, p.group),
        }))
    }
}

impl BlockInFile {
    /// Ansible's algorithm: drop the old block (last begin/end markers), then insert
    /// the new one where the old one was, else at the anchor.
    fn edit(&self, content: &[u8]) -> Vec<u8> {
        let mut lines: Vec<Vec<u8>> = split_lines(content)
            .iter()
            .map(|l| trim_eol(l).to_vec())
            .collect();
        let (mut n0, mut n1) = (None, None);
        for (i, l) in lines.iter().enumerate() {
            if l == self.begin.as_bytes() {
                n0 = Some(i);
            }
            if l == self.end.as_bytes() {
                n1 = Some(i);
            }
        }
        let at = match (n0, n1) {
            (Some(a), Some(b)) => {
                let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                lines.drain(lo..=hi);
                lo
            }
            _ => {
                let last = |r: &Regex| lines.iter().rposition(|l| r.is_match(l));
                match &self.anchor {
                    Anchor::Bof => 0,
                    Anchor::Eof => lines.len(),
                    Anchor::After(r) => last(r).map_or(lines.len(), |i| i + 1),
                    Anchor::Before(r) => last(r).unwrap_or(lines.len()),
                }
            }
        };
        if self.present && !self.block.is_empty() {
            let mut block = vec![self.begin.as_bytes().to_vec()];
            block.extend(self.block.lines().map(|l| l.as_bytes().to_vec()));
            block.push(self.end.as_bytes().to_vec());
            lines.splice(at..at, block);
        }
        let mut out = lines.join(&b'\n');
        if !out.is_empty() || !lines.is_empty() {
            out.push(b'\n');
        }
        out
    }
}

impl PreparedModule for BlockInFile {
    fn probe(&self, _ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        Ok(Some(edit_probe(&self.path)))
    }

    fn plan(&self, _ctx: &ModuleCtx<'_>, probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        let file = parse_file(probe)?;
        let content = match edit_content(&self.path, &file, self.create, !self.present) {
            Ok(c) => c,
            Err(p) => return Ok(*p),
        };
        let new = self.edit(&content);
        let verb = if self.present {
            "update block in"
        } else {
            "remove block from"
        };
        let target = Target {
            dest: &self.path,
            attrs: &self.attrs,
            backup: self.backup,
            validate: self.validate.as_deref(),
            summary: Some(format!("{verb} {}", self.path)),
        };
        plan_content(&target, &file, &new, None)
    }

    fn finish(&self, plan: &Plan, outputs: &[ExecOutput]) -> Result<Outcome, ModuleError> {
        finish_write(plan, outputs)
    }
}
