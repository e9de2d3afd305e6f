//! hostname, authorized_key, wait_for_connection, cron: fixture tests (probe output
//! -> plan) and, for authorized_key and cron files, real runs with local `sh` in a
//! temp dir. `hostname` is fixture-only: it would change this machine's name.
#![allow(clippy::unwrap_used)]

mod support;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use fmc_core::Action;
use serde_json::{Value, json};
use support::{Harness, TestFiles, plan_from, prepare, prepare_err};

fn files() -> TestFiles {
    TestFiles {
        root: std::env::temp_dir(),
        vars: vec![],
    }
}

fn scripts(plan: &fmc_core::Plan) -> Vec<String> {
    plan.actions
        .iter()
        .map(|a| match a {
            Action::Exec { script, .. } => script.clone(),
            Action::Reboot { .. } => panic!("unexpected reboot"),
        })
        .collect()
}

fn stdin_of(plan: &fmc_core::Plan, i: usize) -> String {
    match &plan.actions[i] {
        Action::Exec { stdin: Some(s), .. } => String::from_utf8(s.clone()).unwrap(),
        other => panic!("no stdin: {other:?}"),
    }
}

// ---------------------------------------------------------------- hostname

fn host_probe(transient: &str, etc: &str) -> String {
    format!("::fmc::transient\n{transient}\n::fmc::static\n{etc}")
}

#[test]
fn hostname_plans() {
    let f = files();
    // in sync, /etc/hostname with a comment and blank lines (read as systemd does)
    let p = plan_from(
        "ansible.builtin.hostname",
        json!({"name": "node1"}),
        &host_probe("node1", "# set by cloud-init\n\n  node1  \n"),
        &f,
    );
    assert!(p.changes.is_empty(), "{:?}", p.changes);
    assert!(p.actions.is_empty());
    assert_eq!(p.result["ansible_facts"]["ansible_hostname"], "node1");

    // both differ: static first (atomic write of /etc/hostname), then the running name
    let p = plan_from(
        "hostname",
        json!({"name": "k3s-1.lab.example", "use": "systemd"}),
        &host_probe("localhost", "flatcar\n"),
        &f,
    );
    assert_eq!(
        p.changes,
        vec![
            "set the static host name (/etc/hostname) to k3s-1.lab.example (currently flatcar)",
            "set the running host name to k3s-1.lab.example (currently localhost)",
        ]
    );
    let s = scripts(&p);
    assert!(s[0].contains("d=/etc/hostname\n"), "{}", s[0]);
    assert!(s[0].contains("mv -f"), "{}", s[0]);
    assert_eq!(stdin_of(&p, 0), "k3s-1.lab.example\n");
    assert!(
        s[1].contains("hostnamectl --transient set-hostname k3s-1.lab.example"),
        "{}",
        s[1]
    );
    assert!(s[1].contains("hostname k3s-1.lab.example"), "{}", s[1]);
    let d = p.diff.unwrap();
    assert_eq!(
        (d.before.as_str(), d.after.as_str()),
        ("hostname = localhost\n", "hostname = k3s-1.lab.example\n")
    );
    assert_eq!(p.result["ansible_facts"]["ansible_hostname"], "k3s-1");
    assert_eq!(
        p.result["ansible_facts"]["ansible_nodename"],
        "k3s-1.lab.example"
    );

    // only the static name (no /etc/hostname yet); diff shows the permanent name
    let p = plan_from(
        "hostname",
        json!({"name": "node1"}),
        &host_probe("node1", ""),
        &f,
    );
    assert_eq!(
        p.changes,
        vec!["set the static host name (/etc/hostname) to node1 (currently unset)"]
    );
    assert_eq!(p.actions.len(), 1);
    assert_eq!(p.diff.unwrap().before, "hostname = \n");

    // only the running name
    let p = plan_from(
        "hostname",
        json!({"name": "node1"}),
        &host_probe("other", "node1\n"),
        &f,
    );
    assert_eq!(
        p.changes,
        vec!["set the running host name to node1 (currently other)"]
    );
    assert!(!scripts(&p)[0].contains("/etc/hostname"));
}

#[test]
fn hostname_refuses_bad_input() {
    assert!(prepare_err("hostname", json!({"name": "a", "use": "redhat"})).contains("'redhat'"));
    assert!(prepare_err("hostname", json!({"name": "a b"})).contains("invalid host name"));
    assert!(prepare_err("hostname", json!({"name": "x".repeat(65)})).contains("64"));
    assert!(prepare_err("hostname", json!({"name": "a", "strategy": "x"})).contains("unsupported"));
    assert!(prepare_err("hostname", json!({})).contains("missing required parameter 'name'"));
    // the probe names both sources and only reads
    let m = prepare("hostname", json!({"name": "a"}));
    let ctx_files = files();
    let vars = fmc_core::Map::new();
    let ctx = fmc_core::ModuleCtx {
        host: "h",
        facts: None,
        files: &ctx_files,
        vars: &vars,
    };
    let probe = m.probe(&ctx).unwrap().unwrap().script;
    assert!(probe.contains("/proc/sys/kernel/hostname") && probe.contains("cat /etc/hostname"));
}

// ---------------------------------------------------------------- authorized_key

const ALICE: &str = "alice:x:1001:1002:Alice:/home/alice:/bin/sh\n";
const K1: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK1 alice@laptop";
const K2: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQK2 bob@desk";

fn key_probe(passwd: &str, file: Option<&str>) -> String {
    let mut s = format!("::fmc::passwd\n{passwd}\n::fmc::file\n");
    match file {
        None => s.push_str("fmc-file absent\nparent 1\numask 0022\n"),
        Some(c) => s.push_str(&format!(
            "fmc-file file\nparent 1\numask 0022\nstat 644 1001 1002 {} 0 alice alice\ncontent {}\n",
            c.len(),
            B64.encode(c)
        )),
    }
    s
}

#[test]
fn authorized_key_plans() {
    let f = files();
    // new file: the .ssh dir and the file are created with the user's ids and modes
    let p = plan_from(
        "ansible.posix.authorized_key",
        json!({"user": "alice", "key": K1}),
        &key_probe(ALICE, None),
        &f,
    );
    assert_eq!(p.changes, vec!["create /home/alice/.ssh/authorized_keys"]);
    assert_eq!(stdin_of(&p, 0), format!("{K1}\n"));
    let s = &scripts(&p)[0];
    for want in [
        "sd=/home/alice/.ssh\n",
        "mkdir -m 0700",
        "chown -- 1001:1002 \"$sd\"",
        "chmod 0700",
        "d=/home/alice/.ssh/authorized_keys\n",
        "chown -h -- 1001:1002 \"$t\"",
        "chmod -- 0600 \"$t\"",
    ] {
        assert!(s.contains(want), "{want} not in {s}");
    }
    assert_eq!(p.result["keyfile"], "/home/alice/.ssh/authorized_keys");
    let d = p.diff.unwrap();
    assert_eq!((d.before.as_str(), d.after), ("", format!("{K1}\n")));

    // present already (other comment whitespace, option-free): one probe, nothing to do
    let existing =
        format!("# keys\n{K2}\nssh-ed25519   AAAAC3NzaC1lZDI1NTE5AAAAIK1  alice@laptop\n");
    let p = plan_from(
        "authorized_key",
        json!({"user": "alice", "key": K1}),
        &key_probe(ALICE, Some(&existing)),
        &f,
    );
    assert!(p.changes.is_empty(), "{:?}", p.changes);
    assert!(p.actions.is_empty());

    // a key given without comment differs from one with a comment (Ansible compares
    // type, blob, options and comment): replaced and moved to the end
    let p = plan_from(
        "authorized_key",
        json!({"user": "alice", "key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK1", "key_options": "no-pty,from=\"10.0.0.0/8,192.168.0.0/16\""}),
        &key_probe(ALICE, Some(&format!("{K1}\n{K2}\n"))),
        &f,
    );
    assert_eq!(
        stdin_of(&p, 0),
        format!(
            "{K2}\nno-pty,from=\"10.0.0.0/8,192.168.0.0/16\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK1\n"
        )
    );

    // several keys, one existing: the new one is appended after the existing lines
    let p = plan_from(
        "authorized_key",
        json!({"user": "alice", "key": format!("{K1}\n\n# a comment\n{K2}\n")}),
        &key_probe(ALICE, Some(&format!("# keys\n{K1}\n"))),
        &f,
    );
    assert_eq!(
        p.changes,
        vec!["update keys in /home/alice/.ssh/authorized_keys"]
    );
    assert_eq!(stdin_of(&p, 0), format!("# keys\n{K1}\n{K2}\n"));

    // exclusive: every other line goes, comments too
    let p = plan_from(
        "authorized_key",
        json!({"user": "alice", "key": K2, "exclusive": true, "comment": "deploy"}),
        &key_probe(ALICE, Some(&format!("# keys\n{K1}\n{K2}\n"))),
        &f,
    );
    assert_eq!(
        stdin_of(&p, 0),
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQK2 deploy\n"
    );

    // absent: matched by blob whatever the comment; a missing file is in sync
    let p = plan_from(
        "authorized_key",
        json!({"user": "alice", "key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK1 other", "state": "absent"}),
        &key_probe(ALICE, Some(&format!("{K1}\n{K2}\n"))),
        &f,
    );
    assert_eq!(
        p.changes,
        vec!["remove keys from /home/alice/.ssh/authorized_keys"]
    );
    assert_eq!(stdin_of(&p, 0), format!("{K2}\n"));
    let p = plan_from(
        "authorized_key",
        json!({"user": "alice", "key": K1, "state": "absent"}),
        &key_probe(ALICE, None),
        &f,
    );
    assert!(p.changes.is_empty() && p.failed.is_none());

    // path and manage_dir: false
    let p = plan_from(
        "authorized_key",
        json!({"user": "alice", "key": K1, "path": "/etc/ssh/keys/alice", "manage_dir": false}),
        &key_probe(ALICE, None),
        &f,
    );
    let s = &scripts(&p)[0];
    assert!(s.starts_with("mkdir -p -- /etc/ssh/keys\n"), "{s}");
    assert!(!s.contains("0700"), "{s}");
    assert_eq!(p.result["keyfile"], "/etc/ssh/keys/alice");

    // unknown user
    let p = plan_from(
        "authorized_key",
        json!({"user": "alice", "key": K1}),
        &key_probe("", None),
        &f,
    );
    assert_eq!(
        p.failed.as_deref(),
        Some("failed to lookup user alice: no such user")
    );
}

#[test]
fn authorized_key_refuses_bad_input() {
    let e = prepare_err("authorized_key", json!({"user": "a", "key": "not a key"}));
    assert!(e.contains("invalid key specified: not a key"), "{e}");
    let e = prepare_err(
        "authorized_key",
        json!({"user": "a", "key": "https://github.com/a.keys"}),
    );
    assert!(e.contains("URL"), "{e}");
    let e = prepare_err(
        "authorized_key",
        json!({"user": "a", "key": K1, "path": "keys"}),
    );
    assert!(e.contains("absolute"), "{e}");
    let e = prepare_err(
        "authorized_key",
        json!({"user": "a", "key": K1, "validate_certs": false}),
    );
    assert!(e.contains("unsupported parameter 'validate_certs'"), "{e}");
    let e = prepare_err(
        "authorized_key",
        json!({"user": "a", "key": K1, "state": "gone"}),
    );
    assert!(e.contains("gone"), "{e}");
}

fn id(flag: &str) -> String {
    let out = std::process::Command::new("id").arg(flag).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// This process's user name, uid and gid.
fn whoami() -> (String, u32, u32) {
    (
        id("-un"),
        id("-u").parse().unwrap(),
        id("-g").parse().unwrap(),
    )
}

#[test]
fn authorized_key_real_run_converges() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::new(dir.path());
    let (user, uid, gid) = whoami();
    let ssh = dir.path().join("dot ssh");
    let file = ssh.join("authorized_keys");
    let path = file.to_str().unwrap();
    let r = h.converge(
        "authorized_key",
        json!({"user": user, "key": format!("{K1}\n{K2}"), "path": path}),
    );
    let out = r.outcome.unwrap();
    assert!(out.changed && out.failed.is_none(), "{:?}", out.failed);
    assert_eq!(fs::read_to_string(&file).unwrap(), format!("{K1}\n{K2}\n"));
    assert_eq!(
        fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        fs::metadata(&ssh).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert_eq!(
        (
            fs::metadata(&file).unwrap().uid(),
            fs::metadata(&file).unwrap().gid()
        ),
        (uid, gid)
    );
    assert!(r.replan.changes.is_empty(), "{:?}", r.replan.changes);

    // a hand edit: a comment line and a changed comment on K2
    fs::write(
        &file,
        format!("# mine\n{K1}\nssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQK2 edited\n"),
    )
    .unwrap();
    let r = h.converge(
        "authorized_key",
        json!({"user": user, "key": K2, "path": path}),
    );
    assert!(r.outcome.unwrap().changed);
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        format!("# mine\n{K1}\n{K2}\n")
    );
    assert!(r.replan.changes.is_empty());

    let r = h.converge(
        "authorized_key",
        json!({"user": user, "key": K1, "path": path, "state": "absent"}),
    );
    assert!(r.outcome.unwrap().changed);
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        format!("# mine\n{K2}\n")
    );
    assert!(r.replan.changes.is_empty());
    let leftovers = fs::read_dir(&ssh).unwrap().count();
    assert_eq!(leftovers, 1, "temp files left behind");
}

// ---------------------------------------------------------------- wait_for_connection

#[test]
fn wait_for_connection_settings() {
    use fmc_modules::system::wait_for_connection::settings;
    use std::time::Duration;
    let args = |v: Value| v.as_object().unwrap().clone();
    let s = settings(&args(json!({}))).unwrap();
    assert_eq!(s.delay, Duration::ZERO);
    assert_eq!(s.sleep, Duration::from_secs(1));
    assert_eq!(s.timeout, Duration::from_secs(600));
    assert_eq!(s.connect_timeout, Duration::from_secs(5));
    let s = settings(&args(
        json!({"delay": "2", "sleep": 3, "timeout": 30, "connect_timeout": 4}),
    ))
    .unwrap();
    assert_eq!(
        (s.delay, s.sleep, s.timeout, s.connect_timeout),
        (
            Duration::from_secs(2),
            Duration::from_secs(3),
            Duration::from_secs(30),
            Duration::from_secs(4)
        )
    );
    assert!(
        settings(&args(json!({"timeout": -1})))
            .unwrap_err()
            .to_string()
            .contains("must not be negative")
    );
    let e = prepare_err("wait_for_connection", json!({"port": 22}));
    assert!(e.contains("unsupported parameter 'port'"), "{e}");
    // skipped in check mode (like Ansible): the module cannot predict
    let f = fmc_modules::registry()
        .get("ansible.builtin.wait_for_connection")
        .unwrap();
    assert_eq!(f.info().check, fmc_core::CheckSupport::None);
}

// ---------------------------------------------------------------- cron

fn crontab_probe(rc: u8, content: &str) -> String {
    let b64 = if content.is_empty() {
        String::new()
    } else {
        B64.encode(content)
    };
    format!("::fmc::crontab\nrc={rc}\n{b64}\n")
}

fn cron_plan(args: Value, probe: &str) -> Result<fmc_core::Plan, String> {
    let m = prepare("ansible.builtin.cron", args);
    let f = files();
    let vars = fmc_core::Map::new();
    let ctx = fmc_core::ModuleCtx {
        host: "h",
        facts: None,
        files: &f,
        vars: &vars,
    };
    m.plan(&ctx, Some(&support_ok(probe)))
        .map_err(|e| e.to_string())
}

fn support_ok(stdout: &str) -> fmc_core::ExecOutput {
    fmc_core::ExecOutput {
        rc: 0,
        stdout: stdout.as_bytes().to_vec(),
        stderr: vec![],
    }
}

#[test]
fn cron_plans_user_crontabs() {
    let job = json!({"name": "backup", "job": "/usr/local/bin/backup", "minute": "*/5", "hour": 2});
    // no crontab yet
    let p = cron_plan(job.clone(), &crontab_probe(1, "")).unwrap();
    assert_eq!(p.changes, vec!["set cron job \"backup\" in crontab"]);
    assert_eq!(scripts(&p), vec!["crontab -"]);
    assert_eq!(
        stdin_of(&p, 0),
        "#Ansible: backup\n*/5 2 * * * /usr/local/bin/backup\n"
    );
    assert_eq!(p.result["jobs"], json!(["backup"]));

    // in sync (old Vixie cron headers are not part of the crontab)
    let have = "# DO NOT EDIT THIS FILE - edit the master and reinstall.\n# (/tmp/crontab.x installed on Mon)\n# (Cron version -- $Id$)\nMAILTO=ops\n#Ansible: backup\n*/5 2 * * * /usr/local/bin/backup\n";
    let p = cron_plan(job.clone(), &crontab_probe(0, have)).unwrap();
    assert!(p.changes.is_empty(), "{:?}", p.changes);
    assert!(p.actions.is_empty());

    // changed schedule: replaced in place, other lines kept; diff before/after
    let have = "MAILTO=ops\n#Ansible: backup\n0 3 * * * /usr/local/bin/backup\n@daily other\n";
    let p = cron_plan(job.clone(), &crontab_probe(0, have)).unwrap();
    assert_eq!(
        stdin_of(&p, 0),
        "MAILTO=ops\n#Ansible: backup\n*/5 2 * * * /usr/local/bin/backup\n@daily other\n"
    );
    let d = p.diff.unwrap();
    assert_eq!(d.before, have);
    assert_eq!(d.before_header, "crontab");

    // an identical line without the comment gets it
    let p = cron_plan(
        job.clone(),
        &crontab_probe(0, "*/5 2 * * * /usr/local/bin/backup\n"),
    )
    .unwrap();
    assert_eq!(
        stdin_of(&p, 0),
        "#Ansible: backup\n*/5 2 * * * /usr/local/bin/backup\n"
    );

    // another user's crontab, disabled, special time
    let p = cron_plan(
        json!({"name": "boot", "job": "echo hi", "special_time": "reboot", "user": "k3s", "disabled": true}),
        &crontab_probe(1, ""),
    )
    .unwrap();
    assert_eq!(stdin_of(&p, 0), "#Ansible: boot\n#@reboot echo hi\n");
    let s = &scripts(&p)[0];
    assert!(s.contains("crontab -u k3s -"), "{s}");
    assert!(s.contains("[ \"$(id -un)\" = k3s ]"), "{s}");
    assert_eq!(p.diff.unwrap().after_header, "crontab for user \"k3s\"");

    // absent
    let p = cron_plan(
        json!({"name": "backup", "state": "absent"}),
        &crontab_probe(0, "#Ansible: backup\n* * * * * x\nMAILTO=a\n"),
    )
    .unwrap();
    assert_eq!(p.changes, vec!["remove cron job \"backup\" from crontab"]);
    assert_eq!(stdin_of(&p, 0), "MAILTO=a\n");
    let p = cron_plan(
        json!({"name": "backup", "state": "absent"}),
        &crontab_probe(1, ""),
    )
    .unwrap();
    assert!(p.changes.is_empty());

    // no crontab on the host (Flatcar)
    let e = cron_plan(job, "::fmc::crontab\nrc=127\n").unwrap_err();
    assert!(e.contains("systemd timer"), "{e}");
}

#[test]
fn cron_refuses_bad_input() {
    let e = prepare_err(
        "cron",
        json!({"name": "a", "job": "x", "special_time": "daily", "hour": 3}),
    );
    assert!(e.contains("special_time cannot be combined"), "{e}");
    let e = prepare_err("cron", json!({"name": "a", "job": "x", "cron_file": "a"}));
    assert!(e.contains("needs user"), "{e}");
    let e = prepare_err("cron", json!({"name": "a"}));
    assert!(e.contains("job is required"), "{e}");
    let e = prepare_err(
        "cron",
        json!({"name": "a", "job": "x", "user": "root", "cron_file": "/etc/crontab"}),
    );
    assert!(e.contains("/etc/crontab"), "{e}");
    let e = prepare_err("cron", json!({"name": "a", "job": "x", "env": true}));
    assert!(e.contains("unsupported parameter 'env'"), "{e}");
    let e = prepare_err(
        "cron",
        json!({"name": "a", "job": "x", "special_time": "sometimes"}),
    );
    assert!(e.contains("sometimes"), "{e}");
    let e = prepare_err("cron", json!({"name": "a", "job": "x\ny"}));
    assert!(e.contains("single line"), "{e}");
}

#[test]
fn cron_file_real_run_converges_and_is_removed_when_empty() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::new(dir.path());
    let file = dir.path().join("k3s-cleanup");
    let f = file.to_str().unwrap();
    let job = json!({"name": "clean", "job": "/opt/bin/clean", "hour": "4", "minute": "0", "user": "root", "cron_file": f});
    let r = h.converge("cron", job.clone());
    assert!(r.outcome.unwrap().changed);
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        "#Ansible: clean\n0 4 * * * root /opt/bin/clean\n"
    );
    assert_eq!(
        fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o644
    );
    assert!(r.replan.changes.is_empty(), "{:?}", r.replan.changes);

    let r = h.converge(
        "cron",
        json!({"name": "boot", "job": "/opt/bin/up", "special_time": "reboot", "user": "root", "cron_file": f}),
    );
    assert!(r.outcome.unwrap().changed);
    assert!(r.replan.changes.is_empty());
    let r = h.converge(
        "cron",
        json!({"name": "clean", "state": "absent", "cron_file": f}),
    );
    assert!(r.outcome.unwrap().changed);
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        "#Ansible: boot\n@reboot root /opt/bin/up\n"
    );
    let r = h.converge(
        "cron",
        json!({"name": "boot", "state": "absent", "cron_file": f}),
    );
    assert!(r.outcome.unwrap().changed);
    assert!(!file.exists(), "an empty cron file is removed");
    assert!(r.replan.changes.is_empty());
}
