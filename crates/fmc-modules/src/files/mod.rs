//! File-content modules.
//!
//! Every module that writes a whole file (copy, template, lineinfile, blockinfile,
//! replace) probes the destination with [`crate::common::probe_file`], computes the new
//! content on the controller and hands it to [`plan_content`], which decides exactly
//! what changes and builds the atomic write.

use fmc_core::{Action, ExecOutput, ModuleError, ModuleFactory, Outcome, Plan};

use crate::common::{
    AttrDrift, Attributes, FileKind, RemoteFile, WriteSpec, file_diff, parse_backup, sha1_hex,
    sha256_hex,
};

pub mod blockinfile;
pub mod copy;
pub mod fetch;
pub mod file;
pub mod find;
pub mod get_url;
pub mod lineinfile;
pub mod replace;
pub mod slurp;
pub mod stat;
pub mod tempfile;
pub mod template;
pub mod unarchive;

/// All modules of this group.
pub fn factories() -> Vec<Box<dyn ModuleFactory>> {
    vec![
        Box::new(copy::FACTORY),
        Box::new(template::FACTORY),
        Box::new(file::FACTORY),
        Box::new(lineinfile::FACTORY),
        Box::new(blockinfile::FACTORY),
        Box::new(replace::FACTORY),
        Box::new(stat::FACTORY),
        Box::new(slurp::FACTORY),
        Box::new(fetch::FACTORY),
        Box::new(find::FACTORY),
        Box::new(tempfile::FACTORY),
        Box::new(get_url::FACTORY),
        Box::new(unarchive::FACTORY),
    ]
}

/// Where a whole-file write goes and how.
pub(crate) struct Target<'a> {
    pub dest: &'a str,
    pub attrs: &'a Attributes,
    pub backup: bool,
    pub validate: Option<&'a str>,
    /// Replaces the generic "update content of DEST" change line (e.g. "line added to DEST").
    pub summary: Option<String>,
}

/// Fails unless `file` can be written as a regular file.
pub(crate) fn check_writable(dest: &str, file: &RemoteFile) -> Option<Plan> {
    match file.kind {
        FileKind::Directory => Some(Plan::fail(format!("{dest} is a directory"))),
        FileKind::Other => Some(Plan::fail(format!("{dest} is a special file"))),
        FileKind::Absent if !file.parent_exists => Some(Plan::fail(format!(
            "destination directory of {dest} does not exist\nhint: create it first with the file module (state: directory)"
        ))),
        _ if file.unreadable => Some(Plan::fail(format!(
            "cannot read {dest} (permission denied?)\nhint: add 'become: true' to the task"
        ))),
        _ => None,
    }
}

/// Plans writing `new` to `t.dest` whose current state is `file` (probed with content,
/// following links). In sync when content, mode, owner and group already match.
pub(crate) fn plan_content(
    t: &Target<'_>,
    file: &RemoteFile,
    new: &[u8],
    after_header: Option<&str>,
) -> Result<Plan, ModuleError> {
    if let Some(p) = check_writable(t.dest, file) {
        return Ok(p);
    }
    let sha256 = sha256_hex(new);
    let mut plan = Plan::default();
    let exists = file.kind == FileKind::File;
    let same = exists && file.sha256.as_deref() == Some(sha256.as_str());
    let drift = if exists {
        t.attrs.drift(file)?
    } else {
        t.attrs.for_new(file.umask, false)?
    };
    if !exists {
        plan.changes
            .push(format!("create {} ({} bytes)", t.dest, new.len()));
    } else if !same {
        plan.changes.push(t.summary.clone().unwrap_or_else(|| {
            format!(
                "update content of {} ({} -> {} bytes)",
                t.dest,
                file.size,
                new.len()
            )
        }));
    }
    plan.changes.extend(drift.changes(t.dest));
    if !same {
        let before = exists.then_some(()).and(file.content.as_deref());
        plan.diff = Some(file_diff(
            t.dest,
            before,
            !exists || file.content.is_some(),
            new,
            after_header,
        ));
        let spec = WriteSpec {
            dest: t.dest,
            attrs: Some(&drift),
            validate: t.validate,
            backup: t.backup,
        };
        plan.actions
            .push(Action::exec_with_stdin(spec.script(), new.to_vec()));
    } else if !drift.is_empty() {
        plan.actions
            .push(Action::exec(drift.script(&fmc_core::shell::quote(t.dest))));
    }
    if plan.changes.is_empty() {
        plan.reason = Some(format!("{} already up to date", t.dest));
    }
    let r = &mut plan.result;
    r.insert("dest".into(), t.dest.into());
    r.insert("checksum".into(), sha1_hex(new).into());
    r.insert("sha256".into(), sha256.into());
    r.insert("size".into(), new.len().into());
    drift.result_fields(exists.then_some(file), r);
    Ok(plan)
}

/// Plans only mode/owner/group of an existing `file` (content untouched).
pub(crate) fn plan_attrs(dest: &str, drift: &AttrDrift, file: &RemoteFile) -> Plan {
    let mut plan = Plan {
        changes: drift.changes(dest),
        ..Default::default()
    };
    if !drift.is_empty() {
        plan.actions
            .push(Action::exec(drift.script(&fmc_core::shell::quote(dest))));
    } else {
        plan.reason = Some(format!("{dest} already up to date"));
    }
    plan.result.insert("dest".into(), dest.into());
    drift.result_fields(Some(file), &mut plan.result);
    plan
}

/// [`fmc_core::module::default_finish`] plus `backup_file` from a write's output.
pub(crate) fn finish_write(plan: &Plan, outputs: &[ExecOutput]) -> Result<Outcome, ModuleError> {
    let mut out = fmc_core::module::default_finish(plan, outputs)?;
    if let Some(b) = outputs.iter().find_map(|o| parse_backup(&o.stdout)) {
        out.result.insert("backup_file".into(), b.into());
    }
    Ok(out)
}

/// Deserializes an optional `Attributes` trio from module params.
pub(crate) fn attributes(
    mode: Option<fmc_core::lenient::Mode>,
    owner: Option<String>,
    group: Option<String>,
) -> Attributes {
    Attributes {
        mode,
        owner: owner.filter(|s| !s.is_empty()),
        group: group.filter(|s| !s.is_empty()),
    }
}

/// Content limit for modules that edit a file in place (lineinfile, blockinfile, replace).
pub(crate) const EDIT_LIMIT: u64 = 64 * 1024 * 1024;

/// Probe for in-place editors: the path followed, sha256 and content up to [`EDIT_LIMIT`].
pub(crate) fn edit_probe(path: &str) -> fmc_core::Probe {
    fmc_core::Probe::new(crate::common::probe_file(
        path,
        crate::common::ProbeOptions {
            follow: true,
            checksum: Some(crate::common::Checksum::Sha256),
            content_limit: Some(EDIT_LIMIT),
        },
    ))
}

/// The current content for an in-place edit: `Ok(None)` when the file is absent and
/// `create` allows starting empty; `Err(plan)` for a failed or in-sync plan.
pub(crate) fn edit_content(
    path: &str,
    file: &RemoteFile,
    create: bool,
    absent_ok: bool,
) -> Result<Vec<u8>, Box<Plan>> {
    match file.kind {
        FileKind::File => {}
        FileKind::Absent | FileKind::Link if absent_ok => {
            return Err(Box::new(Plan::in_sync(format!("{path} does not exist"))));
        }
        FileKind::Absent | FileKind::Link if create => return Ok(Vec::new()),
        FileKind::Absent | FileKind::Link => {
            return Err(Box::new(Plan::fail(format!(
                "{path} does not exist\nhint: use create: yes to create it"
            ))));
        }
        other => {
            return Err(Box::new(Plan::fail(format!(
                "{path} is {}, not a regular file",
                other.describe()
            ))));
        }
    }
    if file.unreadable {
        return Err(Box::new(Plan::fail(format!(
            "cannot read {path} (permission denied?)\nhint: add 'become: true' to the task"
        ))));
    }
    file.content.clone().ok_or_else(|| {
        Box::new(Plan::fail(format!(
            "{path} is larger than {} MiB, too large to edit",
            EDIT_LIMIT / 1024 / 1024
        )))
    })
}

/// Splits content into lines that keep their `\n` (the last may lack it).
pub(crate) fn split_lines(content: &[u8]) -> Vec<Vec<u8>> {
    content
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

/// A line without its trailing `\r\n` / `\n`.
pub(crate) fn trim_eol(line: &[u8]) -> &[u8] {
    let l = line.strip_suffix(b"\n").unwrap_or(line);
    l.strip_suffix(b"\r").unwrap_or(l)
}

/// Compiles a user regex (Python syntax as far as the `regex` crate allows).
pub(crate) fn user_regex(
    module: &str,
    param: &str,
    re: &str,
) -> Result<regex::bytes::Regex, fmc_core::ParamError> {
    regex::bytes::RegexBuilder::new(re)
        .multi_line(false)
        .build()
        .map_err(|e| fmc_core::ParamError::Invalid {
            module: module.into(),
            param: param.into(),
            msg: format!("invalid regular expression: {e}"),
        })
}
