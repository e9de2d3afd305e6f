//! The command line as Ansible users know it, on the controller only (`ansible_connection:
//! local` hosts): where the inventory comes from, warnings for empty selections, `--limit`
//! and `--start-at-task` that select nothing, the JSON stream's first and error events,
//! and output into a pipe the reader closed early.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use super::Run as Out;

/// `fmc-run` in `dir` with no configuration from the machine: no ANSIBLE_* variables
/// and an empty `$HOME`.
fn fmc_cmd(dir: &Path, home: &Path, args: &[&str]) -> Command {
    let mut c = super::fmc_command(dir);
    c.args(args).env("HOME", home);
    c
}

fn fmc(dir: &Path, home: &Path, args: &[&str]) -> Out {
    let out = fmc_cmd(dir, home, args).output().expect("run fmc-run");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A work directory with an empty home beside it.
struct Work {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    home: PathBuf,
}

impl Work {
    fn new() -> Work {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("work");
        let home = tmp.path().join("home");
        std::fs::create_dir(&dir).expect("mkdir");
        std::fs::create_dir(&home).expect("mkdir");
        Work {
            _tmp: tmp,
            dir,
            home,
        }
    }
    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.dir.join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        std::fs::write(&p, text).expect("write");
        p
    }
    fn run(&self, args: &[&str]) -> Out {
        fmc(&self.dir, &self.home, args)
    }
}

/// Two hosts in group `web`, both run on the controller.
const INV: &str = "[web]\na ansible_connection=local\nb ansible_connection=local\n";

/// `hosts: web`: touches `first-<host>`, then `second-<host>` in the work directory.
const PLAY: &str = "- hosts: web\n  gather_facts: false\n  tasks:\n    - name: first\n      file: {path: \"{{ playbook_dir }}/first-{{ inventory_hostname }}\", state: touch}\n    - name: second\n      file: {path: \"{{ playbook_dir }}/second-{{ inventory_hostname }}\", state: touch}\n";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn the_repository_root_defaults_to_the_production_inventory() {
    let w = Work::new();
    let r = fmc(
        &repo_root(),
        &w.home,
        &["playbooks/site.yaml", "--list-hosts"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // the real server and a Flatcar node of inventory/production
    assert!(
        r.stdout.contains("      virtualizacion-server\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("      master1\n"), "{}", r.stdout);
    assert!(
        !r.stderr.contains("No inventory was parsed"),
        "{}",
        r.stderr
    );
}

#[test]
fn ansible_cfg_is_found_where_ansible_looks_and_read_relative_to_itself() {
    let w = Work::new();
    w.write("play.yml", PLAY);
    w.write("cfgdir/inv.ini", INV);
    w.write("cfgdir/ansible.cfg", "[defaults]\ninventory = inv.ini\n");
    std::fs::write(
        w.home.join(".ansible.cfg"),
        "[defaults]\ninventory = home-inv.ini\n",
    )
    .expect("write");
    std::fs::write(
        w.home.join("home-inv.ini"),
        "[web]\nfrom_home ansible_connection=local\n",
    )
    .expect("write");

    // ~/.ansible.cfg when nothing closer exists
    let r = w.run(&["play.yml", "--list-hosts"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("hosts (1):\n      from_home"),
        "{}",
        r.stdout
    );

    // ANSIBLE_CONFIG (a directory here) wins, its relative inventory resolved beside it
    let out = fmc_cmd(&w.dir, &w.home, &["play.yml", "--output", "json"])
        .env("ANSIBLE_CONFIG", w.dir.join("cfgdir"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(w.dir.join("second-a").exists() && w.dir.join("second-b").exists());
    assert!(!w.dir.join("first-from_home").exists());

    // ./ansible.cfg comes before ~/.ansible.cfg
    w.write("ansible.cfg", "[defaults]\ninventory = cfgdir/inv.ini\n");
    let r = w.run(&["play.yml", "--list-hosts"]);
    assert!(
        r.stdout.contains("hosts (2):\n      a\n      b"),
        "{}",
        r.stdout
    );
}

#[test]
fn without_an_inventory_ansible_warnings_explain_why_nothing_runs() {
    let w = Work::new();
    w.write("play.yml", PLAY);
    let r = w.run(&["play.yml"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for want in [
        "[WARNING]: No inventory was parsed, only implicit localhost is available",
        "[WARNING]: provided hosts list is empty, only localhost is available. Note that the implicit localhost does not match 'all'",
        "[WARNING]: Could not match supplied host pattern, ignoring: web",
    ] {
        assert!(
            r.stderr.contains(want),
            "missing {want:?} in:\n{}",
            r.stderr
        );
    }
    // JSON consumers get them as events, after playbook_start
    let r = w.run(&["play.yml", "--output", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ev = r.events();
    assert_eq!(ev[0]["event"], "playbook_start", "{}", r.stdout);
    assert!(
        ev.iter().any(|e| e["event"] == "warning"
            && e["msg"] == "Could not match supplied host pattern, ignoring: web"),
        "{}",
        r.stdout
    );
    // a pattern part that matches nothing warns even when another part matches
    w.write("inv.ini", INV);
    let r = w.run(&["-i", "inv.ini", "play.yml", "--limit", "a:nosuch"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("[WARNING]: Could not match supplied host pattern, ignoring: nosuch"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("No inventory was parsed"),
        "{}",
        r.stderr
    );
    assert!(w.dir.join("second-a").exists() && !w.dir.join("first-b").exists());
}

#[test]
fn a_limit_or_start_task_that_selects_nothing_is_bad_input() {
    let w = Work::new();
    w.write("inv.ini", INV);
    w.write("play.yml", PLAY);
    let r = w.run(&["-i", "inv.ini", "play.yml", "--limit", "nosuch"]);
    assert_eq!(r.code, 4, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("leaves no hosts to target"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("Could not match supplied host pattern, ignoring: nosuch"),
        "{}",
        r.stderr
    );
    // list modes check it too (as ansible-playbook does)
    let r = w.run(&[
        "-i",
        "inv.ini",
        "play.yml",
        "--limit",
        "a:&b",
        "--list-hosts",
    ]);
    assert_eq!(r.code, 4, "{}", r.stdout);

    let r = w.run(&["-i", "inv.ini", "play.yml", "--start-at-task", "nope"]);
    assert_eq!(r.code, 4, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("--start-at-task 'nope'"), "{}", r.stderr);
    // a task the tags leave out cannot be the start either
    let r = w.run(&[
        "-i",
        "inv.ini",
        "play.yml",
        "--start-at-task",
        "second",
        "--tags",
        "other",
    ]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    let touched = std::fs::read_dir(&w.dir)
        .expect("ls")
        .filter_map(|e| e.ok())
        .any(|e| e.file_name().to_string_lossy().contains('-'));
    assert!(!touched, "bad input touched a host");

    // the same flags that do select something run
    let r = w.run(&[
        "-i",
        "inv.ini",
        "play.yml",
        "--start-at-task",
        "second",
        "-l",
        "b",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(w.dir.join("second-b").exists());
    assert!(!w.dir.join("first-b").exists() && !w.dir.join("second-a").exists());
    // an inventory without hosts: --limit is not checked (Ansible), the run is empty
    let empty = w.write("empty.ini", "");
    let r = w.run(&["-i", empty.to_str().expect("utf8"), "play.yml", "-l", "x"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn json_stream_starts_with_playbook_start_and_reports_bad_input() {
    let w = Work::new();
    w.write("inv.ini", INV);
    w.write("play.yml", PLAY);
    let r = w.run(&[
        "-i", "inv.ini", "play.yml", "--output", "json", "--check", "--diff",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ev = r.events();
    assert_eq!(
        ev[0],
        serde_json::json!({"event": "playbook_start", "playbook": "play.yml", "check": true, "diff": true}),
        "{}",
        r.stdout
    );
    assert_eq!(
        r.stdout.lines().last().unwrap_or_default(),
        r#"{"event":"recap","hosts":{"a":{"ok":2,"changed":2,"failed":0,"skipped":0,"unreachable":0},"b":{"ok":2,"changed":2,"failed":0,"skipped":0,"unreachable":0}}}"#
    );

    let error_event = |args: &[&str]| -> Value {
        let r = w.run(args);
        assert_eq!(r.code, 4, "{args:?}: {}", r.stderr);
        let last = r.stdout.lines().last().unwrap_or_default();
        let v: Value = serde_json::from_str(last)
            .unwrap_or_else(|e| panic!("{args:?}: last line {last:?}: {e}\n{}", r.stderr));
        assert_eq!(v["event"], "error", "{last}");
        assert_eq!(v["exit_code"], 4, "{last}");
        assert_eq!(v.as_object().map(|o| o.len()), Some(3), "{last}");
        v
    };
    let v = error_event(&["-i", "inv.ini", "play.yml", "--output", "json", "-l", "zz"]);
    assert!(
        v["message"].as_str().unwrap_or("").contains("--limit 'zz'"),
        "{v}"
    );
    let v = error_event(&["-i", "inv.ini", "missing.yml", "--output", "json"]);
    assert!(
        v["message"].as_str().unwrap_or("").contains("missing.yml"),
        "{v}"
    );
    // flags clap refuses, `--output=json` spelling
    let v = error_event(&["play.yml", "--output=json", "--forks", "many"]);
    assert!(
        v["message"].as_str().unwrap_or("").contains("--forks"),
        "{v}"
    );
    // human output keeps stdout clean
    let r = w.run(&["-i", "inv.ini", "play.yml", "-l", "zz"]);
    assert_eq!((r.code, r.stdout.as_str()), (4, ""));
}

#[test]
fn a_real_command_run_says_it_ran_not_that_it_would() {
    let w = Work::new();
    w.write("inv.ini", INV);
    w.write(
        "cmd.yml",
        "- hosts: a\n  gather_facts: false\n  tasks:\n    - command: \"true\"\n    - shell: \"true\"\n    - raw: \"true\"\n",
    );
    let r = w.run(&["-i", "inv.ini", "cmd.yml", "--output", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let changes: Vec<Value> = r
        .events()
        .into_iter()
        .filter(|e| e["event"] == "host_result")
        .map(|e| e["changes"].clone())
        .collect();
    assert_eq!(changes.len(), 3, "{}", r.stdout);
    for c in &changes {
        let text = c[0].as_str().unwrap_or_default();
        assert!(text.starts_with("run ") && !text.contains("would"), "{c}");
    }
}

/// Starts `cmd` with stdout into a pipe, reads its first line and closes the pipe, as
/// `| head -1` does; returns the exit code and stderr.
fn head_1(mut cmd: Command) -> (Option<i32>, String, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut first = String::new();
    {
        let stdout = child.stdout.take().expect("stdout");
        let mut reader = BufReader::new(stdout);
        reader.read_line(&mut first).expect("read first line");
        // the reader (and the pipe's only read end) is dropped here
    }
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code(),
        first,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn output_into_a_pipe_closed_early_ends_quietly() {
    let w = Work::new();
    w.write("inv.ini", INV);
    // far more output than a pipe buffers (64 KiB), so the writes hit the closed pipe
    let filler = "x".repeat(2000);
    let mut play = String::from("- hosts: a\n  gather_facts: false\n  tasks:\n");
    for i in 0..200 {
        play.push_str(&format!(
            "    - name: task {i} {filler}\n      debug: {{msg: \"{filler}\"}}\n"
        ));
    }
    play.push_str(
        "    - name: last\n      file: {path: \"{{ playbook_dir }}/done-{{ inventory_hostname }}\", state: touch}\n",
    );
    w.write("big.yml", &play);

    let runs: [&[&str]; 4] = [
        &["-i", "inv.ini", "big.yml", "--list-tasks"],
        &[
            "-i",
            "inv.ini",
            "big.yml",
            "--list-tasks",
            "--output",
            "json",
        ],
        &["-i", "inv.ini", "big.yml", "--output", "json"],
        &["-i", "inv.ini", "big.yml", "-v"],
    ];
    for args in runs {
        let _ = std::fs::remove_file(w.dir.join("done-a"));
        let (code, first, stderr) = head_1(fmc_cmd(&w.dir, &w.home, args));
        assert!(!first.is_empty(), "{args:?}: no first line; {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        if !args.contains(&"--list-tasks") {
            // the run went on without a reader
            assert!(w.dir.join("done-a").exists(), "{args:?}: the run stopped");
        }
    }

    // fmc-vault view of a large file
    std::fs::write(w.dir.join("pw"), "pw\n").expect("pw");
    let big: String = (0..5000).map(|i| format!("line_{i}: {filler}\n")).collect();
    std::fs::write(w.dir.join("big-secret.yml"), big).expect("write");
    let enc = Command::new(env!("CARGO_BIN_EXE_fmc-vault"))
        .args(["encrypt", "big-secret.yml", "--vault-password-file", "pw"])
        .current_dir(&w.dir)
        .env_remove("ANSIBLE_VAULT_PASSWORD_FILE")
        .output()
        .expect("fmc-vault encrypt");
    assert!(enc.status.success(), "{enc:?}");
    let mut view = Command::new(env!("CARGO_BIN_EXE_fmc-vault"));
    view.args(["view", "big-secret.yml", "--vault-password-file", "pw"])
        .current_dir(&w.dir)
        .env_remove("ANSIBLE_VAULT_PASSWORD_FILE");
    let (code, first, stderr) = head_1(view);
    assert!(first.starts_with("line_0: "), "{first}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("pipe"),
        "{stderr}"
    );
    assert_eq!(code, Some(0), "{stderr}");
}
