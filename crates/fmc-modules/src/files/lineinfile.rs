//! `lineinfile`: ensures one line is present (replacing the line matching `regexp` or
//! `search_string`, else inserting at `insertafter`/`insertbefore`) or absent.
//! Follows Ansible's rules: with `regexp`, the last match is replaced (the first with
//! `firstmatch`); when nothing matches but the exact line exists, nothing changes;
//! with `backrefs`, nothing is inserted when `regexp` does not match.

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
use crate::common::{Attributes, parse_file, python_replacement};

pub const INFO: ModuleInfo = ModuleInfo {
    name: "lineinfile",
    aliases: &[],
    params: &[
        "path",
        "dest",
        "destfile",
        "name",
        "regexp",
        "regex",
        "search_string",
        "line",
        "value",
        "state",
        "insertafter",
        "insertbefore",
        "create",
        "backrefs",
        "backup",
        "validate",
        "firstmatch",
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
    #[serde(default, alias = "regex", deserialize_with = "lenient::opt_string")]
    regexp: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    search_string: Option<String>,
    #[serde(default, alias = "value", deserialize_with = "lenient::opt_string")]
    line: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    state: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    insertafter: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    insertbefore: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    create: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    backrefs: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    backup: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    validate: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    firstmatch: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_mode")]
    mode: Option<Mode>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    owner: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    group: Option<String>,
}

/// What selects the line to replace or remove.
enum Matcher {
    Regex(Regex),
    Search(Vec<u8>),
    Exact,
}

enum Anchor {
    Bof,
    Eof,
    After(Regex),
    Before(Regex),
}

struct LineInFile {
    path: String,
    matcher: Matcher,
    line: Option<String>,
    present: bool,
    anchor: Anchor,
    create: bool,
    backrefs: bool,
    firstmatch: bool,
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
        let matcher = match (&p.regexp, &p.search_string) {
            (Some(_), Some(_)) => {
                return Err(invalid("search_string", "cannot be used with regexp"));
            }
            (Some(r), None) => Matcher::Regex(user_regex(INFO.name, "regexp", r)?),
            (None, Some(s)) => Matcher::Search(s.as_bytes().to_vec()),
            (None, None) => Matcher::Exact,
        };
        let backrefs = p.backrefs.unwrap_or(false);
        if present && p.line.is_none() {
            return Err(invalid("line", "is required with state present"));
        }
        if !present && p.line.is_none() && matches!(matcher, Matcher::Exact) {
            return Err(invalid(
                "line",
                "one of line, regexp or search_string is required",
            ));
        }
        if backrefs && !matches!(matcher, Matcher::Regex(_)) {
            return Err(invalid("backrefs", "requires regexp"));
        }
        let anchor = match (p.insertafter.as_deref(), p.insertbefore.as_deref()) {
            (Some(_), Some(_)) => {
                return Err(invalid("insertbefore", "cannot be used with insertafter"));
            }
            (Some("EOF") | None, None) => Anchor::Eof,
            (Some("BOF"), None) | (None, Some("BOF")) => Anchor::Bof,
            (Some(r), None) => Anchor::After(user_regex(INFO.name, "insertafter", r)?),
            (None, Some(r)) => Anchor::Before(user_regex(INFO.name, "insertbefore", r)?),
        };
        Ok(Box::new(LineInFile {
            path: p.path,
            matcher,
            line: p.line,
            present,
            anchor,
            create: p.create.unwrap_or(false),
            backrefs,
            firstmatch: p.firstmatch.unwrap_or(false),
            backup: p.backup.unwrap_or(false),
            validate: p.validate,
            attrs: attributes(p.mode, p.owner, p.group),
        }))
    }
}

impl LineInFile {
    fn matches(&self, line: &[u8]) -> bool {
        match &self.matcher {
            Matcher::Regex(r) => r.is_match(trim_eol(line)),
            Matcher::Search(s) => !s.is_empty() && line.windows(s.len()).any(|w| w == s.as_slice()),
            Matcher::Exact => Some(trim_eol(line)) == self.line.as_deref().map(str::as_bytes),
        }
    }

    /// Applies the edit; returns the new lines and a message (`None`: unchanged).
    fn edit(&self, mut lines: Vec<Vec<u8>>) -> (Vec<Vec<u8>>, Option<String>) {
        let path = &self.path;
        if !self.present {
            let before = lines.len();
            lines.retain(|l| !self.matches(l));
            let n = before - lines.len();
            let msg = (n > 0).then(|| format!("remove {n} line(s) from {path}"));
            return (lines, msg);
        }
        let line = self.line.as_deref().unwrap_or_default().as_bytes();
        let mut found = None;
        for (i, l) in lines.iter().enumerate() {
            if self.matches(l) {
                found = Some(i);
                if self.firstmatch {
                    break;
                }
            }
        }
        if found.is_none() && !matches!(self.matcher, Matcher::Exact) && !self.backrefs {
            // regexp/search_string missed, but the exact line is already there.
            if lines.iter().any(|l| trim_eol(l) == line) {
                return (lines, None);
            }
        }
        if let Some(i) = found {
            let mut new = match (&self.matcher, self.backrefs) {
                (Matcher::Regex(r), true) => match r.captures(trim_eol(&lines[i])) {
                    Some(c) => {
                        let mut out = Vec::new();
                        c.expand(
                            python_replacement(&String::from_utf8_lossy(line)).as_bytes(),
                            &mut out,
                        );
                        out
                    }
                    None => line.to_vec(),
                },
                _ => line.to_vec(),
            };
            if !new.ends_with(b"\n") {
                new.push(b'\n');
            }
            if lines[i] == new {
                return (lines, None);
            }
            lines[i] = new;
            return (lines, Some(format!("replace a line in {path}")));
        }
        if self.backrefs {
            return (lines, None);
        }
        let mut new = line.to_vec();
        new.push(b'\n');
        let added = Some(format!("add a line to {path}"));
        let anchor_at = |r: &Regex| {
            let mut at = None;
            for (i, l) in lines.iter().enumerate() {
                if r.is_match(trim_eol(l)) {
                    at = Some(i);
                    if self.firstmatch {
                        break;
                    }
                }
            }
            at
        };
        let pos = match &self.anchor {
            Anchor::Bof => Some(0),
            Anchor::Eof => None,
            Anchor::After(r) => anchor_at(r).map(|i| i + 1),
            Anchor::Before(r) => anchor_at(r),
        };
        match pos {
            Some(i) => {
                let at_end = i == lines.len();
                if let Some(last) = lines.last_mut().filter(|l| at_end && !l.ends_with(b"\n")) {
                    last.push(b'\n');
                }
                lines.insert(i, new);
            }
            None => {
                if let Some(last) = lines.last_mut().filter(|l| !l.ends_with(b"\n")) {
                    last.push(b'\n');
                }
                lines.push(new);
            }
        }
        (lines, added)
    }
}

impl PreparedModule for LineInFile {
    fn probe(&self, _ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        Ok(Some(edit_probe(&self.path)))
    }

    fn plan(&self, _ctx: &ModuleCtx<'_>, probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        let file = parse_file(probe)?;
        let content = match edit_content(&self.path, &file, self.create, !self.present) {
            Ok(c) => c,
            Err(p) => return Ok(*p),
        };
        let (lines, msg) = self.edit(split_lines(&content));
        let new = lines.concat();
        let target = Target {
            dest: &self.path,
            attrs: &self.attrs,
            backup: self.backup,
            validate: self.validate.as_deref(),
            summary: msg.clone(),
        };
        let mut plan = plan_content(&target, &file, &new, None)?;
        if let Some(m) = msg {
            plan.result.insert("msg".into(), m.into());
        }
        Ok(plan)
    }

    fn finish(&self, plan: &Plan, outputs: &[ExecOutput]) -> Result<Outcome, ModuleError> {
        finish_write(plan, outputs)
    }
}
