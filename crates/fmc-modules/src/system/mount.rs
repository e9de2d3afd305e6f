//! `mount` (also `ansible.posix.mount`): an fstab entry and the mount state of a path.
//!
//! One probe reads the fstab file (shared file probe) and the lines of
//! `/proc/self/mountinfo` whose mount point is `path` (no `findmnt` needed).
//! fstab edits follow Ansible: every entry whose mount point is `path` (for swap,
//! `none` plus the same `src`) gets `src fstype opts dump passno` rewritten, or a new
//! line is appended; fields are escaped (`\\` `\134`, space `\040`, `&` `\046`,
//! tab `\011`). The file is rewritten atomically (optional `backup`).
//!
//! States: `present` (fstab only), `mounted` (fstab, mount point created, mounted;
//! an already mounted path is remounted when its entry changed), `unmounted`,
//! `absent` (entry removed; only then is the path unmounted and its directory
//! removed, as in Ansible), `absent_mount` (like absent, directory kept),
//! `absent_from_fstab` (entry only) and `remounted` (always changed).
//! Differences, on purpose: `mounted` mounts with explicit
//! `mount -t fstype -o opts src path` *before* writing fstab, so a mount that fails
//! never leaves a broken fstab entry behind (Ansible writes, mounts, then restores);
//! a failed remount keeps the new entry. `ephemeral` is not supported.

use fmc_core::lenient;
use fmc_core::module::parse_params;
use fmc_core::shell::quote;
use fmc_core::{
    Action, CheckSupport, ExecOutput, Map, ModuleCtx, ModuleError, ModuleInfo, Outcome, ParamError,
    Plan, PreparedModule, Probe, Value,
};
use serde::Deserialize;

use super::{Factory, invalid, section, sections};
use crate::common::{
    FileKind, ProbeOptions, WriteSpec, file_diff, parse_backup, parse_files, probe_file,
};

pub(crate) const FACTORY: Factory = Factory {
    info: ModuleInfo {
        name: "mount",
        aliases: &["ansible.posix.mount"],
        params: &[
            "path",
            "name",
            "src",
            "fstype",
            "opts",
            "opts_no_log",
            "dump",
            "passno",
            "state",
            "fstab",
            "boot",
            "backup",
        ],
        required: &["path|name", "state"],
        free_form: false,
        check: CheckSupport::Full,
        diff: true,
    },
    prepare,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum State {
    Mounted,
    Unmounted,
    Present,
    Absent,
    AbsentMount,
    AbsentFromFstab,
    Remounted,
    Ephemeral,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(alias = "name", deserialize_with = "lenient::string")]
    path: String,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    src: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    fstype: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    opts: Option<String>,
    #[serde(default, deserialize_with = "lenient::bool")]
    opts_no_log: bool,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    dump: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    passno: Option<String>,
    state: State,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    fstab: Option<String>,
    #[serde(default = "super::command::yes", deserialize_with = "lenient::bool")]
    boot: bool,
    #[serde(default, deserialize_with = "lenient::bool")]
    backup: bool,
}

/// The six fields of an fstab entry (escaped as they appear in the file).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    src: String,
    name: String,
    fstype: String,
    opts: String,
    dump: String,
    passno: String,
}

impl Entry {
    fn line(&self) -> String {
        format!(
            "{} {} {} {} {} {}\n",
            self.src, self.name, self.fstype, self.opts, self.dump, self.passno
        )
    }
}

struct Mount {
    state: State,
    /// Unescaped, without trailing slashes.
    path: String,
    src: Option<String>,
    fstype: Option<String>,
    opts: String,
    dump: String,
    passno: String,
    fstab: String,
    boot: bool,
    backup: bool,
    opts_no_log: bool,
}

/// Escapes an fstab field as Ansible does (plus tab).
fn escape(v: &str) -> String {
    v.replace('\\', "\\134")
        .replace(' ', "\\040")
        .replace('&', "\\046")
        .replace('\t', "\\011")
}

/// Undoes the kernel's octal escapes in `/proc/self/mountinfo` fields.
fn unescape_octal(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
            && let Ok(n) = u8::from_str_radix(&v[i + 1..i + 4], 8)
        {
            out.push(n);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn prepare(info: &ModuleInfo, args: &Map) -> Result<Box<dyn PreparedModule>, ParamError> {
    let p: Params = parse_params(info, args)?;
    if p.state == State::Ephemeral {
        return Err(invalid(
            info,
            "state",
            "'ephemeral' is not supported; use 'mounted' (with an fstab entry) instead",
        ));
    }
    let mut path = p.path.trim().to_string();
    while path.len() > 1 && path.ends_with('/') {
        path.pop();
    }
    if !path.starts_with('/') && path != "none" {
        return Err(invalid(
            info,
            "path",
            format!("must be an absolute path, got {path:?}"),
        ));
    }
    for (name, v) in [
        ("path", Some(&path)),
        ("src", p.src.as_ref()),
        ("fstype", p.fstype.as_ref()),
        ("opts", p.opts.as_ref()),
        ("dump", p.dump.as_ref()),
        ("passno", p.passno.as_ref()),
    ] {
        match v {
            Some(v) if v.contains(['\n', '\r']) => {
                return Err(invalid(info, name, "must be a single line"));
            }
            Some(v) if v.is_empty() => return Err(invalid(info, name, "must not be empty")),
            _ => {}
        }
    }
    if matches!(p.state, State::Mounted | State::Present) {
        for (name, v) in [("src", &p.src), ("fstype", &p.fstype)] {
            if v.is_none() {
                return Err(invalid(
                    info,
                    name,
                    format!("required when state is {}", state_name(p.state)),
                ));
            }
        }
    }
    let mut opts = p.opts.unwrap_or_else(|| "defaults".into());
    if !p.boot && !opts.split(',').any(|o| o == "noauto") {
        opts.push_str(",noauto");
    }
    let fstab = p.fstab.unwrap_or_else(|| "/etc/fstab".into());
    if fstab.is_empty() {
        return Err(invalid(info, "fstab", "must not be empty"));
    }
    Ok(Box::new(Mount {
        state: p.state,
        path,
        src: p.src,
        fstype: p.fstype,
        opts,
        dump: p.dump.unwrap_or_else(|| "0".into()),
        passno: p.passno.unwrap_or_else(|| "0".into()),
        fstab,
        boot: p.boot,
        backup: p.backup,
        opts_no_log: p.opts_no_log,
    }))
}

fn state_name(s: State) -> &'static str {
    match s {
        State::Mounted => "mounted",
        State::Unmounted => "unmounted",
        State::Present => "present",
        State::Absent => "absent",
        State::AbsentMount => "absent_mount",
        State::AbsentFromFstab => "absent_from_fstab",
        State::Remounted => "remounted",
        State::Ephemeral => "ephemeral",
    }
}

/// Parses an fstab line into an entry when it has 4 to 6 fields (dump and passno
/// default to `0`, as in Ansible); comments and blank lines give `None`.
fn parse_entry(line: &str) -> Option<Entry> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') {
        return None;
    }
    let f: Vec<&str> = t
        .split('#')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    if !(4..=6).contains(&f.len()) {
        return None;
    }
    Some(Entry {
        src: f[0].into(),
        name: f[1].into(),
        fstype: f[2].into(),
        opts: f[3].into(),
        dump: f.get(4).unwrap_or(&"0").to_string(),
        passno: f.get(5).unwrap_or(&"0").to_string(),
    })
}

impl Mount {
    fn wanted(&self) -> Entry {
        Entry {
            src: escape(self.src.as_deref().unwrap_or_default()),
            name: escape(&self.path),
            fstype: escape(self.fstype.as_deref().unwrap_or_default()),
            opts: escape(&self.opts),
            dump: escape(&self.dump),
            passno: escape(&self.passno),
        }
    }

    /// Whether an fstab entry is the one this task manages.
    fn matches(&self, e: &Entry) -> bool {
        let want = self.wanted();
        e.name == want.name
            && !(self.src.is_some() && e.name == "none" && e.fstype == "swap" && e.src != want.src)
    }

    /// The fstab with the entry set (`Some(new)` when it changes).
    fn set_entry(&self, old: &str) -> Option<String> {
        let want = self.wanted();
        let mut out = String::new();
        let mut exists = false;
        let mut changed = false;
        for line in old.lines() {
            match parse_entry(line) {
                Some(e) if self.matches(&e) => {
                    exists = true;
                    let new = Entry {
                        name: e.name.clone(),
                        ..want.clone()
                    };
                    if new != e {
                        changed = true;
                        out.push_str(&new.line());
                        continue;
                    }
                }
                _ => {}
            }
            out.push_str(line);
            out.push('\n');
        }
        if !exists {
            out.push_str(&want.line());
            changed = true;
        }
        changed.then_some(out)
    }

    /// The fstab without the entry (`Some(new)` when it changes).
    fn unset_entry(&self, old: &str) -> Option<String> {
        let mut out = String::new();
        let mut changed = false;
        for line in old.lines() {
            if parse_entry(line).is_some_and(|e| self.matches(&e)) {
                changed = true;
                continue;
            }
            out.push_str(line);
            out.push('\n');
        }
        changed.then_some(out)
    }

    fn probe_script(&self) -> String {
        // The kernel escapes space, tab, newline and backslash in mountinfo.
        let esc = self
            .path
            .replace('\\', "\\134")
            .replace(' ', "\\040")
            .replace('\t', "\\011");
        let mut s = section("mounts");
        s.push_str(&format!(
            "\np={} awk 'BEGIN {{ p = ENVIRON[\"p\"] }} $5 == p' /proc/self/mountinfo || echo 'fmc-mountinfo-error'\n",
            quote(&esc)
        ));
        s.push_str(&section("dir"));
        s.push_str(&format!(
            "\nif [ -d {q} ]; then echo dir; elif [ -e {q} ]; then echo other; else echo absent; fi\n",
            q = quote(&self.path)
        ));
        s.push_str(&section("fstab"));
        s.push('\n');
        s.push_str(&probe_file(&self.fstab, ProbeOptions::default()));
        s
    }

    /// `mount`/`umount` command prefix with the custom fstab, if any.
    fn fstab_arg(&self) -> String {
        if self.fstab == "/etc/fstab" {
            String::new()
        } else {
            format!("-T {} ", quote(&self.fstab))
        }
    }
}

fn exec(cmd: String) -> Action {
    Action::exec(format!(
        "PATH=\"$PATH:/usr/sbin:/sbin\"; export PATH\n{cmd}"
    ))
}

impl PreparedModule for Mount {
    fn probe(&self, _ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        Ok(Some(Probe::new(self.probe_script())))
    }

    fn plan(&self, _ctx: &ModuleCtx<'_>, probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        let out = probe.ok_or_else(|| ModuleError::Probe("mount: no probe output".into()))?;
        if out.rc != 0 {
            return Err(super::probe_failed(out));
        }
        let sec = sections(out);
        let mounts = sec.get("mounts").map(String::as_str).unwrap_or_default();
        if mounts.contains("fmc-mountinfo-error") {
            return Ok(Plan::fail("cannot read /proc/self/mountinfo"));
        }
        let mounted = mounts.lines().any(|l| {
            l.split_whitespace()
                .nth(4)
                .is_some_and(|mp| unescape_octal(mp) == self.path)
        });
        let dir = sec.get("dir").map(|d| d.trim()).unwrap_or_default();
        let file = parse_files(sec.get("fstab").map(String::as_bytes).unwrap_or_default())?
            .into_iter()
            .next()
            .ok_or_else(|| ModuleError::Probe("mount: missing fstab record".into()))?;
        let old = match file.kind {
            FileKind::Absent => None,
            FileKind::File => match &file.content {
                Some(c) => Some(String::from_utf8(c.clone()).map_err(|_| {
                    ModuleError::Failed(format!("{} is not valid UTF-8 text", self.fstab))
                })?),
                None => {
                    return Ok(Plan::fail(format!(
                        "cannot read {} (unreadable or larger than 256 KiB)",
                        self.fstab
                    )));
                }
            },
            other => {
                return Ok(Plan::fail(format!(
                    "{} is {}, not a regular file",
                    self.fstab,
                    other.describe()
                )));
            }
        };
        let old_text = old.as_deref().unwrap_or_default();
        let new_fstab = match self.state {
            State::Mounted | State::Present => self.set_entry(old_text),
            State::Absent | State::AbsentMount | State::AbsentFromFstab => {
                self.unset_entry(old_text)
            }
            State::Unmounted | State::Remounted | State::Ephemeral => None,
        };
        let mut plan = Plan::default();
        let path = &self.path;
        let qpath = quote(path);
        let mut write = None;
        if let Some(new) = &new_fstab {
            plan.changes.push(match self.state {
                State::Mounted | State::Present
                    if old_text
                        .lines()
                        .any(|l| parse_entry(l).is_some_and(|e| self.matches(&e))) =>
                {
                    format!("update {path} in {}", self.fstab)
                }
                State::Mounted | State::Present => format!("add {path} to {}", self.fstab),
                _ => format!("remove {path} from {}", self.fstab),
            });
            if !self.opts_no_log {
                plan.diff = Some(file_diff(
                    &self.fstab,
                    old.as_deref().map(str::as_bytes),
                    true,
                    new.as_bytes(),
                    None,
                ));
            }
            let spec = WriteSpec {
                dest: &self.fstab,
                backup: self.backup,
                ..Default::default()
            };
            let dir = std::path::Path::new(&self.fstab)
                .parent()
                .map(|p| p.to_string_lossy().into_owned())
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| ".".into());
            write = Some(Action::exec_with_stdin(
                format!("mkdir -p -- {}\n{}", quote(&dir), spec.script()),
                new.clone().into_bytes(),
            ));
        }
        let fstab_arg = self.fstab_arg();
        let remount = format!(
            "mount -o remount {fstab_arg}{qpath} || {{ umount {qpath} && mount {fstab_arg}{qpath}; }}"
        );
        match self.state {
            State::Present | State::AbsentFromFstab => plan.actions.extend(write),
            State::Unmounted => {
                if mounted {
                    plan.changes.push(format!("unmount {path}"));
                    plan.actions.push(exec(format!("umount {qpath}")));
                }
            }
            State::Absent | State::AbsentMount => {
                plan.actions.extend(write);
                if new_fstab.is_some() {
                    if mounted {
                        plan.changes.push(format!("unmount {path}"));
                        plan.actions.push(exec(format!("umount {qpath}")));
                    }
                    if self.state == State::Absent && dir != "absent" {
                        plan.changes.push(format!("remove mount point {path}"));
                        plan.actions.push(exec(format!("rmdir -- {qpath}")));
                    }
                }
            }
            State::Remounted => {
                plan.changes.push(format!("remount {path}"));
                let cmd = if self.opts != "defaults" {
                    format!(
                        "mount -o {} {fstab_arg}{qpath}",
                        quote(&format!("remount,{}", self.opts))
                    )
                } else {
                    remount
                };
                plan.actions.push(exec(cmd));
            }
            State::Mounted => {
                if dir == "other" {
                    return Ok(Plan::fail(format!("{path} exists and is not a directory")));
                }
                if dir == "absent" {
                    plan.changes.push(format!("create mount point {path}"));
                    plan.actions.push(exec(format!("mkdir -p -- {qpath}")));
                }
                if mounted {
                    plan.actions.extend(write);
                    if new_fstab.is_some() {
                        plan.changes.push(format!("remount {path}"));
                        plan.actions.push(exec(remount));
                    }
                } else {
                    plan.changes.push(format!("mount {path}"));
                    plan.actions.push(exec(format!(
                        "mount -t {} -o {} -- {} {qpath}",
                        quote(self.fstype.as_deref().unwrap_or_default()),
                        quote(&self.opts),
                        quote(self.src.as_deref().unwrap_or_default()),
                    )));
                    plan.actions.extend(write);
                }
            }
            State::Ephemeral => {}
        }
        let r = &mut plan.result;
        r.insert("name".into(), self.path.clone().into());
        if let Some(s) = &self.src {
            r.insert("src".into(), s.clone().into());
        }
        if let Some(f) = &self.fstype {
            r.insert("fstype".into(), f.clone().into());
        }
        let opts = if self.opts_no_log {
            fmc_core::secret::REDACTED.to_string()
        } else {
            self.opts.clone()
        };
        r.insert("opts".into(), opts.into());
        r.insert("dump".into(), self.dump.clone().into());
        r.insert("passno".into(), self.passno.clone().into());
        r.insert("fstab".into(), self.fstab.clone().into());
        r.insert(
            "boot".into(),
            Value::from(if self.boot { "yes" } else { "no" }),
        );
        r.insert("backup_file".into(), "".into());
        if plan.changes.is_empty() {
            plan.reason = Some(format!("{path} already {}", state_name(self.state)));
        }
        Ok(plan)
    }

    fn finish(&self, plan: &Plan, outputs: &[ExecOutput]) -> Result<Outcome, ModuleError> {
        let mut o = fmc_core::module::default_finish(plan, outputs)?;
        if let Some(b) = outputs.iter().find_map(|out| parse_backup(&out.stdout)) {
            o.result.insert("backup_file".into(), b.into());
        }
        Ok(o)
    }
}
