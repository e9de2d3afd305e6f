//! `user`: a local account (useradd/usermod/userdel).
//!
//! One probe reads `getent passwd`, `id -gn`/`id -Gn`, `getent shadow` (needs
//! `become` for the password hash; the hash never leaves the plan) and, for each
//! wanted supplementary group, whether it exists and whether it is in /etc/group.
//! `password` is an already-hashed value (like Ansible); it is passed to
//! `chpasswd -e` on stdin, never on a command line, and never printed.
//!
//! Flatcar: system groups (`docker`, `sudo`, `wheel`, ...) live in the read-only
//! `/usr/share/baselayout/group`, so `usermod -aG` cannot add users to them. The
//! plan detects a wanted group that exists but is not in `/etc/group` and fails
//! with a hint to use a systemd-userdb drop-in `/etc/userdb/<user>:<group>.membership`.

use std::collections::BTreeSet;

use fmc_core::lenient;
use fmc_core::module::parse_params;
use fmc_core::shell::quote;
use fmc_core::{
    Action, CheckSupport, ExecOutput, Map, ModuleCtx, ModuleError, ModuleInfo, ParamError, Plan,
    PreparedModule, Probe, Secret,
};
use serde::Deserialize;

use super::group::{Presence, valid_account_name};
use super::{Factory, invalid, key_values, section, sections};

pub(crate) const FACTORY: Factory = Factory {
    info: ModuleInfo {
        name: "user",
        aliases: &[],
        params: &[
            "name",
            "state",
            "uid",
            "group",
            "groups",
            "append",
            "shell",
            "home",
            "create_home",
            "createhome",
            "system",
            "password",
            "update_password",
            "comment",
            "remove",
        ],
        required: &["name"],
        free_form: false,
        check: CheckSupport::Full,
        diff: false,
    },
    prepare,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(deserialize_with = "lenient::string")]
    name: String,
    #[serde(default)]
    state: Option<Presence>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    uid: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    group: Option<String>,
    #[serde(default, deserialize_with = "opt_list")]
    groups: Option<Vec<String>>,
    #[serde(default, deserialize_with = "lenient::bool")]
    append: bool,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    shell: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    home: Option<String>,
    #[serde(
        default = "super::command::yes",
        alias = "createhome",
        deserialize_with = "lenient::bool"
    )]
    create_home: bool,
    #[serde(default, deserialize_with = "lenient::bool")]
    system: bool,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    password: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    update_password: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    comment: Option<String>,
    #[serde(default, deserialize_with = "lenient::bool")]
    remove: bool,
}

/// `groups:` distinguishes "not given" (leave alone) from empty (remove all).
fn opt_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    lenient::string_list(d).map(Some)
}

struct User {
    name: String,
    state: Presence,
    uid: Option<i64>,
    group: Option<String>,
    groups: Option<Vec<String>>,
    append: bool,
    shell: Option<String>,
    home: Option<String>,
    create_home: bool,
    system: bool,
    password: Option<Secret<String>>,
    password_on_create: bool,
    comment: Option<String>,
    remove: bool,
}

fn prepare(info: &ModuleInfo, args: &Map) -> Result<Box<dyn PreparedModule>, ParamError> {
    let p: Params = parse_params(info, args)?;
    if !valid_account_name(&p.name) {
        return Err(invalid(
            info,
            "name",
            format!("invalid user name {:?}", p.name),
        ));
    }
    for g in p.group.iter().chain(p.groups.iter().flatten()) {
        if !valid_account_name(g) {
            return Err(invalid(info, "groups", format!("invalid group name {g:?}")));
        }
    }
    if p.uid.is_some_and(|u| u < 0) {
        return Err(invalid(info, "uid", "must not be negative"));
    }
    let on_create = match p.update_password.as_deref() {
        None | Some("always") => false,
        Some("on_create") => true,
        Some(other) => {
            return Err(invalid(
                info,
                "update_password",
                format!("expected always or on_create, got '{other}'"),
            ));
        }
    };
    if let Some(pw) = &p.password
        && (pw.contains([':', '\n']) || pw.is_empty())
    {
        // never echo the value
        return Err(invalid(
            info,
            "password",
            "must be a non-empty crypt hash without ':' or newlines",
        ));
    }
    if p.comment
        .as_deref()
        .is_some_and(|c| c.contains([':', '\n']))
    {
        return Err(invalid(info, "comment", "must not contain ':' or newlines"));
    }
    Ok(Box::new(User {
        name: p.name,
        state: p.state.unwrap_or(Presence::Present),
        uid: p.uid,
        group: p.group,
        groups: p.groups,
        append: p.append,
        shell: p.shell,
        home: p.home,
        create_home: p.create_home,
        system: p.system,
        password: p.password.map(Secret::new),
        password_on_create: on_create,
        comment: p.comment,
        remove: p.remove,
    }))
}

/// What the probe found about an existing account.
struct Current {
    uid: i64,
    gid: String,
    comment: String,
    home: String,
    shell: String,
    primary: String,
    groups: BTreeSet<String>,
    hash: Option<String>,
}

impl User {
    fn parse(&self, out: &ExecOutput) -> Result<(Option<Current>, Map), ModuleError> {
        let sec = sections(out);
        let passwd = sec.get("passwd").ok_or_else(|| super::probe_failed(out))?;
        let wanted = key_values(sec.get("wanted").map(String::as_str).unwrap_or_default());
        let wanted: Map = wanted
            .into_iter()
            .map(|(k, v)| (k, v.trim().to_string().into()))
            .collect();
        let Some(line) = passwd
            .lines()
            .find(|l| l.split(':').next() == Some(self.name.as_str()))
        else {
            return Ok((None, wanted));
        };
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 {
            return Err(ModuleError::Probe(format!(
                "bad passwd entry for {}",
                self.name
            )));
        }
        let hash = sec
            .get("shadow")
            .and_then(|s| {
                s.lines()
                    .find(|l| l.split(':').next() == Some(self.name.as_str()))
            })
            .and_then(|l| l.split(':').nth(1))
            .map(str::to_string);
        Ok((
            Some(Current {
                uid: f[2]
                    .parse()
                    .map_err(|_| ModuleError::Probe(format!("bad uid for {}", self.name)))?,
                gid: f[3].to_string(),
                comment: f[4].to_string(),
                home: f[5].to_string(),
                shell: f[6].to_string(),
                primary: sec
                    .get("primary")
                    .map(|s| s.trim().to_string())
                    .unwrap_or_default(),
                groups: sec
                    .get("groups")
                    .map(|s| s.split_whitespace().map(str::to_string).collect())
                    .unwrap_or_default(),
                hash,
            }),
            wanted,
        ))
    }

    /// Fails when a group to add exists only outside /etc/group (Flatcar).
    fn check_groups(&self, add: &[String], wanted: &Map) -> Option<String> {
        for g in add.iter().chain(self.group.iter()) {
            match wanted.get(g).and_then(|v| v.as_str()) {
                Some("missing") => return Some(format!("group {g} does not exist")),
                Some("nss") if add.contains(g) => {
                    return Some(format!(
                        "cannot add {} to group {g}: it is not in /etc/group (on Flatcar system groups live in the read-only /usr/share/baselayout/group)\n\
                         hint: add a systemd-userdb drop-in /etc/userdb/{}:{g}.membership (e.g. with copy, empty content) instead",
                        self.name, self.name
                    ));
                }
                _ => {}
            }
        }
        None
    }
}

impl PreparedModule for User {
    fn probe(&self, _ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        let n = quote(&self.name);
        let mut s = format!(
            "{}\ngetent passwd -- {n} || true\n{}\nid -gn -- {n} 2>/dev/null || true\n{}\nid -Gn -- {n} 2>/dev/null || true\n",
            section("passwd"),
            section("primary"),
            section("groups"),
        );
        if self.password.is_some() {
            s.push_str(&format!(
                "{}\ngetent shadow -- {n} 2>/dev/null || true\n",
                section("shadow")
            ));
        }
        s.push_str(&section("wanted"));
        s.push('\n');
        for g in self.group.iter().chain(self.groups.iter().flatten()) {
            let q = quote(g);
            s.push_str(&format!(
                "if grep -q ^{q}: /etc/group 2>/dev/null; then echo {q}=etc; elif getent group -- {q} >/dev/null; then echo {q}=nss; else echo {q}=missing; fi\n",
                q = q
            ));
        }
        Ok(Some(Probe::new(s)))
    }

    fn plan(&self, _ctx: &ModuleCtx<'_>, probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        let out = probe.ok_or_else(|| ModuleError::Probe("user: no probe output".into()))?;
        let (cur, wanted) = self.parse(out)?;
        let n = quote(&self.name);
        let path = "PATH=\"$PATH:/usr/sbin:/sbin\"; export PATH\n";
        let mut plan = Plan::default();
        plan.result.insert("name".into(), self.name.clone().into());
        plan.result.insert(
            "state".into(),
            if self.state == Presence::Present {
                "present"
            } else {
                "absent"
            }
            .into(),
        );
        let Some(cur) = cur else {
            if self.state == Presence::Absent {
                plan.reason = Some(format!("user {} does not exist", self.name));
                return Ok(plan);
            }
            let groups: Vec<String> = self.groups.clone().unwrap_or_default();
            if let Some(msg) = self.check_groups(&groups, &wanted) {
                return Ok(Plan::fail(msg));
            }
            let mut cmd = String::from("useradd");
            if let Some(u) = self.uid {
                cmd.push_str(&format!(" -u {u}"));
            }
            if let Some(g) = &self.group {
                cmd.push_str(&format!(" -g {}", quote(g)));
            }
            if !groups.is_empty() {
                cmd.push_str(&format!(" -G {}", quote(&groups.join(","))));
            }
            for (flag, v) in [
                ("-s", &self.shell),
                ("-d", &self.home),
                ("-c", &self.comment),
            ] {
                if let Some(v) = v {
                    cmd.push_str(&format!(" {flag} {}", quote(v)));
                }
            }
            cmd.push_str(if self.create_home { " -m" } else { " -M" });
            if self.system {
                cmd.push_str(" -r");
            }
            plan.changes.push(format!("create user {}", self.name));
            let mut script = format!("{path}set -e\n{cmd} -- {n}\n");
            let stdin = match &self.password {
                Some(pw) => {
                    script.push_str("chpasswd -e\n");
                    plan.changes.push(format!("set password of {}", self.name));
                    format!("{}:{}\n", self.name, pw.expose()).into_bytes()
                }
                None => vec![],
            };
            plan.actions.push(Action::exec_with_stdin(script, stdin));
            return Ok(plan);
        };
        if self.state == Presence::Absent {
            plan.changes.push(format!("remove user {}", self.name));
            let r = if self.remove { " -r" } else { "" };
            plan.actions
                .push(Action::exec(format!("{path}userdel{r} -- {n}")));
            return Ok(plan);
        }
        let mut opts = String::new();
        if let Some(u) = self.uid.filter(|u| *u != cur.uid) {
            plan.changes.push(format!(
                "set uid of {} to {u} (currently {})",
                self.name, cur.uid
            ));
            opts.push_str(&format!(" -u {u}"));
        }
        if let Some(g) = self
            .group
            .as_ref()
            .filter(|g| **g != cur.primary && **g != cur.gid)
        {
            plan.changes.push(format!(
                "set primary group of {} to {g} (currently {})",
                self.name, cur.primary
            ));
            opts.push_str(&format!(" -g {}", quote(g)));
        }
        let supplementary: BTreeSet<String> = cur
            .groups
            .iter()
            .filter(|g| **g != cur.primary)
            .cloned()
            .collect();
        let mut add = vec![];
        if let Some(want) = &self.groups {
            let want: BTreeSet<String> = want
                .iter()
                .filter(|g| self.group.as_ref() != Some(*g))
                .cloned()
                .collect();
            add = want.difference(&supplementary).cloned().collect();
            if self.append {
                if !add.is_empty() {
                    plan.changes
                        .push(format!("add {} to groups {}", self.name, add.join(", ")));
                    opts.push_str(&format!(" -a -G {}", quote(&add.join(","))));
                }
            } else if want != supplementary {
                let list: Vec<String> = want.iter().cloned().collect();
                let have: Vec<String> = supplementary.iter().cloned().collect();
                plan.changes.push(format!(
                    "set groups of {} to [{}] (currently [{}])",
                    self.name,
                    list.join(", "),
                    have.join(", ")
                ));
                opts.push_str(&format!(" -G {}", quote(&list.join(","))));
            }
        }
        if let Some(msg) = self.check_groups(&add, &wanted) {
            return Ok(Plan::fail(msg));
        }
        for (flag, what, want, have) in [
            ("-s", "shell", &self.shell, &cur.shell),
            ("-d", "home", &self.home, &cur.home),
            ("-c", "comment", &self.comment, &cur.comment),
        ] {
            if let Some(w) = want.as_ref().filter(|w| *w != have) {
                plan.changes.push(format!(
                    "set {what} of {} to {w} (currently {have})",
                    self.name
                ));
                opts.push_str(&format!(" {flag} {}", quote(w)));
            }
        }
        let mut script = String::new();
        if !opts.is_empty() {
            script = format!("{path}set -e\nusermod{opts} -- {n}\n");
        }
        let mut stdin = vec![];
        if let Some(pw) = &self.password
            && !self.password_on_create
        {
            match &cur.hash {
                None => {
                    return Ok(Plan::fail(format!(
                        "cannot read the password hash of {} (run with become)",
                        self.name
                    )));
                }
                Some(h) if h == pw.expose() => {}
                Some(_) => {
                    plan.changes.push(format!("set password of {}", self.name));
                    if script.is_empty() {
                        script = format!("{path}set -e\n");
                    }
                    script.push_str("chpasswd -e\n");
                    stdin = format!("{}:{}\n", self.name, pw.expose()).into_bytes();
                }
            }
        }
        if plan.changes.is_empty() {
            plan.reason = Some(format!("user {} already as requested", self.name));
        } else {
            plan.actions.push(Action::exec_with_stdin(script, stdin));
        }
        plan.result
            .insert("uid".into(), self.uid.unwrap_or(cur.uid).into());
        Ok(plan)
    }
}
