//! `modprobe` (also `community.general.modprobe`): load or unload a kernel module,
//! and optionally make it (and its options) persistent across reboots.
//!
//! One probe reads `/proc/modules` (loaded modules; a kernel without module
//! support has none), `modules.builtin` and
//! `/sys/module/<name>` (built-in modules count as loaded, as in Ansible) and, with
//! `persistent`, every file under `/etc/modules-load.d/` and `/etc/modprobe.d/` that
//! mentions the module. Files are rewritten atomically, one action per file.
//!
//! Persistence follows Ansible's rules: the module is "persistent" when any file of
//! `/etc/modules-load.d/` has a line with just its name; its options are the
//! `k=v` words of `options <name> ...` lines in `/etc/modprobe.d/`, compared as a
//! set with `params`. Stale lines are commented out with `#`. Differences, on
//! purpose: an `options` line may hold several parameters (Ansible only sees
//! lines with exactly one), and `<name>.conf` files are edited rather than
//! overwritten, so other lines in them (blacklist, install) survive.
//! Not detected: a loaded module whose live parameters differ from `params`
//! (like Ansible, it is reported in sync); unloading a built-in module fails.

use std::collections::{BTreeMap, BTreeSet};

use fmc_core::lenient;
use fmc_core::module::parse_params;
use fmc_core::shell::quote;
use fmc_core::{
    Action, CheckSupport, ExecOutput, Map, ModuleCtx, ModuleError, ModuleInfo, ParamError, Plan,
    PreparedModule, Probe,
};
use serde::Deserialize;

use super::{Factory, invalid, key_values, section, sections};
use crate::common::WriteSpec;

pub(crate) const FACTORY: Factory = Factory {
    info: ModuleInfo {
        name: "modprobe",
        aliases: &["community.general.modprobe"],
        params: &["name", "state", "params", "persistent"],
        required: &["name"],
        free_form: false,
        check: CheckSupport::Full,
        diff: false,
    },
    prepare,
};

/// Where the module list read at boot lives.
const LOAD_DIR: &str = "/etc/modules-load.d";
/// Where module options live.
const OPTIONS_DIR: &str = "/etc/modprobe.d";

#[derive(Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum State {
    Present,
    Absent,
}

#[derive(Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Persistent {
    Disabled,
    Present,
    Absent,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(deserialize_with = "lenient::string")]
    name: String,
    #[serde(default)]
    state: Option<State>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    params: Option<String>,
    #[serde(default)]
    persistent: Option<Persistent>,
}

struct Modprobe {
    name: String,
    state: State,
    /// Words passed to `modprobe` after the name.
    words: Vec<String>,
    params: String,
    persistent: Persistent,
}

fn prepare(info: &ModuleInfo, args: &Map) -> Result<Box<dyn PreparedModule>, ParamError> {
    let p: Params = parse_params(info, args)?;
    let name = p.name.trim().to_string();
    if name.is_empty()
        || name.starts_with('-')
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(invalid(
            info,
            "name",
            format!("invalid kernel module name {name:?} (letters, digits, '_' and '-' only)"),
        ));
    }
    let params = p.params.unwrap_or_default();
    if params.contains(['\n', '\r']) {
        return Err(invalid(info, "params", "must be a single line"));
    }
    let words = super::command::split_words(&params).map_err(|e| invalid(info, "params", e))?;
    Ok(Box::new(Modprobe {
        name,
        state: p.state.unwrap_or(State::Present),
        words,
        params,
        persistent: p.persistent.unwrap_or(Persistent::Disabled),
    }))
}

/// A configuration file that mentions the module.
struct ConfFile {
    path: String,
    text: String,
}

/// The line without a `#`/`;` comment and surrounding blanks.
fn uncommented(line: &str) -> &str {
    line.split(['#', ';']).next().unwrap_or_default().trim()
}

impl Modprobe {
    /// A `modules-load.d` line naming the module.
    fn is_load_line(&self, line: &str) -> bool {
        !line.trim_start().starts_with(['#', ';']) && uncommented(line) == self.name
    }

    /// The parameters of an `options <name> k=v ...` line, if it is one.
    fn options_of<'a>(&self, line: &'a str) -> Option<Vec<&'a str>> {
        let mut w = uncommented(line).split_whitespace();
        if w.next() != Some("options") || w.next() != Some(self.name.as_str()) {
            return None;
        }
        let rest: Vec<&str> = w.collect();
        (!rest.is_empty() && rest.iter().all(|p| p.contains('='))).then_some(rest)
    }

    fn probe_script(&self) -> String {
        let under = self.name.replace('-', "_");
        let mut s = String::from("PATH=\"$PATH:/usr/sbin:/sbin\"; export PATH\n");
        s.push_str(&section("state"));
        s.push_str(&format!(
            "\nn={under}\n\
             if [ ! -e /proc/modules ]; then echo proc=0\n\
             elif [ -r /proc/modules ]; then\n\
             \x20 if awk -v n=\"$n\" '$1 == n {{ f = 1 }} END {{ exit !f }}' /proc/modules; then echo proc=1; else echo proc=0; fi\n\
             else echo proc=unreadable; fi\n\
             b=/lib/modules/$(uname -r)/modules.builtin\n\
             if [ -r \"$b\" ] && sed 's/-/_/g' \"$b\" | awk -v s=\"/$n.ko\" 'substr($0, length($0) - length(s) + 1) == s {{ f = 1 }} END {{ exit !f }}'; then echo builtin=1; else echo builtin=0; fi\n\
             if [ -d \"/sys/module/$n\" ]; then echo sysfs=1; else echo sysfs=0; fi\n"
        ));
        if self.persistent != Persistent::Disabled {
            s.push_str(&section("conf"));
            s.push('\n');
            for (kind, dir) in [("load", LOAD_DIR), ("opts", OPTIONS_DIR)] {
                s.push_str(&format!(
                    "for f in {dir}/*; do\n\
                     \x20 [ -f \"$f\" ] && grep -q -F -e {name} \"$f\" 2>/dev/null || continue\n\
                     \x20 printf '{kind} %s %s\\n' \"$(printf %s \"$f\" | base64 -w0)\" \"$(base64 -w0 < \"$f\")\"\n\
                     done\n",
                    name = quote(&self.name)
                ));
            }
        }
        s
    }

    /// Parses the `conf` section into (modules-load.d files, modprobe.d files).
    fn conf_files(&self, text: &str) -> Result<(Vec<ConfFile>, Vec<ConfFile>), ModuleError> {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut load = vec![];
        let mut opts = vec![];
        for line in text.lines().filter(|l| !l.is_empty()) {
            let bad = || ModuleError::Probe(format!("bad configuration file line {line:?}"));
            let mut it = line.split(' ');
            let (Some(kind), Some(path), content) = (it.next(), it.next(), it.next()) else {
                return Err(bad());
            };
            let path = String::from_utf8(b64.decode(path).map_err(|_| bad())?).map_err(|_| {
                ModuleError::Failed("a configuration file name is not UTF-8".into())
            })?;
            let raw = b64.decode(content.unwrap_or_default()).map_err(|_| bad())?;
            let text = String::from_utf8(raw)
                .map_err(|_| ModuleError::Failed(format!("{path} is not valid UTF-8 text")))?;
            match kind {
                "load" => load.push(ConfFile { path, text }),
                "opts" => opts.push(ConfFile { path, text }),
                _ => return Err(bad()),
            }
        }
        Ok((load, opts))
    }

    /// New contents (path -> (old, new)) and change lines for the persistence files.
    fn persist(
        &self,
        load: &[ConfFile],
        opts: &[ConfFile],
        edits: &mut BTreeMap<String, (Option<String>, String)>,
        changes: &mut Vec<String>,
    ) {
        let persistent = load
            .iter()
            .any(|f| f.text.lines().any(|l| self.is_load_line(l)));
        let current: BTreeSet<&str> = opts
            .iter()
            .flat_map(|f| f.text.lines().filter_map(|l| self.options_of(l)))
            .flatten()
            .collect();
        let wanted: BTreeSet<&str> = self.params.split_whitespace().collect();
        let comment_out = |text: &str, hit: &dyn Fn(&str) -> bool| -> Option<String> {
            let mut hits = false;
            let mut out = String::new();
            for l in text.lines() {
                if hit(l) {
                    hits = true;
                    out.push('#');
                }
                out.push_str(l);
                out.push('\n');
            }
            hits.then_some(out)
        };
        let comment_options = |edits: &mut BTreeMap<String, (Option<String>, String)>,
                               changes: &mut Vec<String>| {
            for f in opts {
                if let Some(new) = comment_out(&f.text, &|l| self.options_of(l).is_some()) {
                    changes.push(format!(
                        "comment out options for {} in {}",
                        self.name, f.path
                    ));
                    edits.insert(f.path.clone(), (Some(f.text.clone()), new));
                }
            }
        };
        match self.persistent {
            Persistent::Disabled => {}
            Persistent::Present => {
                if !persistent {
                    let path = format!("{LOAD_DIR}/{}.conf", self.name);
                    let old = load.iter().find(|f| f.path == path).map(|f| f.text.clone());
                    let mut new = old.clone().unwrap_or_default();
                    if !new.is_empty() && !new.ends_with('\n') {
                        new.push('\n');
                    }
                    new.push_str(&format!("{}\n", self.name));
                    changes.push(format!("add {} to {path}", self.name));
                    edits.insert(path, (old, new));
                }
                if wanted != current {
                    comment_options(edits, changes);
                    if !wanted.is_empty() {
                        let path = format!("{OPTIONS_DIR}/{}.conf", self.name);
                        let (old, mut new) = match edits.remove(&path) {
                            Some(e) => e,
                            None => {
                                let old =
                                    opts.iter().find(|f| f.path == path).map(|f| f.text.clone());
                                (old.clone(), old.unwrap_or_default())
                            }
                        };
                        if !new.is_empty() && !new.ends_with('\n') {
                            new.push('\n');
                        }
                        for p in self.params.split_whitespace() {
                            new.push_str(&format!("options {} {p}\n", self.name));
                        }
                        changes.push(format!(
                            "set options '{}' for {} in {path}",
                            self.params.trim(),
                            self.name
                        ));
                        edits.insert(path, (old, new));
                    }
                }
            }
            Persistent::Absent => {
                for f in load {
                    if let Some(new) = comment_out(&f.text, &|l| self.is_load_line(l)) {
                        changes.push(format!("comment out {} in {}", self.name, f.path));
                        edits.insert(f.path.clone(), (Some(f.text.clone()), new));
                    }
                }
                comment_options(edits, changes);
            }
        }
    }
}

impl PreparedModule for Modprobe {
    fn probe(&self, _ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        Ok(Some(Probe::new(self.probe_script())))
    }

    fn plan(&self, _ctx: &ModuleCtx<'_>, probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        let out = probe.ok_or_else(|| ModuleError::Probe("modprobe: no probe output".into()))?;
        if out.rc != 0 {
            return Err(super::probe_failed(out));
        }
        let sec = sections(out);
        let st = key_values(
            sec.get("state")
                .ok_or_else(|| ModuleError::Probe("modprobe: missing state section".into()))?,
        );
        let flag = |k: &str| st.get(k).map(|v| v.trim()) == Some("1");
        if st.get("proc").map(|v| v.trim()) == Some("unreadable") {
            return Ok(Plan::fail("cannot read /proc/modules"));
        }
        let loaded_module = flag("proc");
        let builtin = !loaded_module && (flag("builtin") || flag("sysfs"));
        let mut plan = Plan::default();
        match self.state {
            State::Present if !loaded_module && !builtin => {
                let mut cmd = format!("modprobe {}", self.name);
                for w in &self.words {
                    cmd.push(' ');
                    cmd.push_str(&quote(w));
                }
                plan.changes
                    .push(format!("load kernel module {}", self.name));
                plan.actions.push(Action::exec(format!(
                    "PATH=\"$PATH:/usr/sbin:/sbin\"; export PATH\n{cmd}"
                )));
            }
            State::Absent if builtin => {
                return Ok(Plan::fail(format!(
                    "kernel module {} is built into the kernel and cannot be unloaded",
                    self.name
                )));
            }
            State::Absent if loaded_module => {
                plan.changes
                    .push(format!("unload kernel module {}", self.name));
                plan.actions.push(Action::exec(format!(
                    "PATH=\"$PATH:/usr/sbin:/sbin\"; export PATH\nmodprobe -r {}",
                    self.name
                )));
            }
            _ => {}
        }
        if self.persistent != Persistent::Disabled {
            let conf = sec.get("conf").map(String::as_str).unwrap_or_default();
            let (load, opts) = self.conf_files(conf)?;
            let mut edits = BTreeMap::new();
            self.persist(&load, &opts, &mut edits, &mut plan.changes);
            for (path, (_old, new)) in edits {
                let dir = std::path::Path::new(&path)
                    .parent()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "/".into());
                let write = WriteSpec {
                    dest: &path,
                    ..Default::default()
                };
                plan.actions.push(Action::exec_with_stdin(
                    format!("mkdir -p -- {}\n{}", quote(&dir), write.script()),
                    new.into_bytes(),
                ));
            }
        }
        plan.result.insert("name".into(), self.name.clone().into());
        plan.result
            .insert("params".into(), self.params.clone().into());
        plan.result.insert(
            "state".into(),
            match self.state {
                State::Present => "present",
                State::Absent => "absent",
            }
            .into(),
        );
        if plan.changes.is_empty() {
            plan.reason = Some(format!("kernel module {} already as requested", self.name));
        }
        Ok(plan)
    }
}
