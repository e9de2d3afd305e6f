//! End-to-end tests: `fmc-run` against real OpenSSH servers on loopback.
//!
//! Each test starts its own sshd hosts (see `sshd.rs`), runs the real binary and
//! checks exit codes, the JSON event stream and the files on the hosts.

mod cli;
mod compat;
mod exec;
mod local;
mod mods;
mod plays;
mod sshd;
mod tmpl;
mod vault_cli;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sshd::Fleet;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// JSON events (only with `--output json`).
    fn events(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
            .collect()
    }
    fn recap(&self) -> Value {
        let last = self.stdout.lines().last().unwrap_or_default();
        let v: Value = serde_json::from_str(last)
            .unwrap_or_else(|e| panic!("last line {last:?}: {e}\n{}", self.stderr));
        assert_eq!(v["event"], "recap", "last line must be the recap: {last}");
        v["hosts"].clone()
    }
    fn total(&self, field: &str) -> u64 {
        self.recap()
            .as_object()
            .map(|m| m.values().map(|h| h[field].as_u64().unwrap_or(0)).sum())
            .unwrap_or(0)
    }
    fn results_for(&self, task_suffix: &str) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| {
                e["event"] == "host_result"
                    && e["task"].as_str().is_some_and(|t| t.ends_with(task_suffix))
            })
            .collect()
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(name)
}

/// `fmc-run` started in `dir`, untouched by this machine's Ansible settings (no
/// `ANSIBLE_INVENTORY`/`ANSIBLE_CONFIG`/`ANSIBLE_ROLES_PATH`), without colours.
fn fmc_command(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fmc-run"));
    c.current_dir(dir)
        .env_remove("ANSIBLE_INVENTORY")
        .env_remove("ANSIBLE_CONFIG")
        .env_remove("ANSIBLE_ROLES_PATH")
        .env("NO_COLOR", "1");
    c
}

/// Runs `fmc-run ARGS` in `dir` (see [`fmc_command`]).
fn fmc_in(dir: &Path, args: &[&str]) -> Run {
    let out = fmc_command(dir).args(args).output().expect("run fmc-run");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Writes `files` (path relative to `dir`, text), creating their directories.
fn write_tree(dir: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
}

fn fmc(fleet: &Fleet, args: &[&str]) -> Run {
    let known_hosts = fleet.known_hosts.display().to_string();
    let mut all = args.to_vec();
    all.extend(["--known-hosts", &known_hosts, "--ssh-config", "none"]);
    fmc_in(fleet.path(), &all)
}

fn site() -> String {
    fixture("converge/site.yml").display().to_string()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn converges_then_second_run_changes_nothing() {
    if !sshd::can_run() {
        return;
    }
    let fleet = Fleet::start(3);
    let inv = fleet.inventory("");
    let inv = inv.to_str().expect("utf8");
    let first = fmc(&fleet, &["-i", inv, &site(), "--output", "json"]);
    assert_eq!(
        first.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        first.stdout, first.stderr
    );
    for h in &fleet.hosts {
        let r = &first.recap()[&h.name];
        // dir, template, copy, lineinfile, command, handler, os.txt
        assert_eq!(r["changed"], 7, "{}: {r}", h.name);
        assert_eq!(r["failed"], 0);
        let conf = read(&h.root.join("etc/app/app.conf"));
        assert_eq!(
            conf,
            format!(
                "# managed by fmc\nport = 8080\nuser = alice\nuser = bob\nhost = {}\n",
                h.name
            )
        );
        assert_eq!(read(&h.root.join("etc/app/extra.conf")), "listen=8080\n");
        assert_eq!(
            read(&h.root.join("etc/app/motd")),
            "welcome to the fmc test host\n"
        );
        // Two tasks notified the handler: it ran once.
        assert_eq!(read(&h.root.join("restarts.log")), "restarted\n");
        assert!(h.root.join("initialized").exists());
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(h.root.join("etc/app/app.conf"))
                .expect("stat")
                .permissions(),
        );
        assert_eq!(mode & 0o7777, 0o640);
    }
    let second = fmc(&fleet, &["-i", inv, &site(), "--output", "json"]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(
        second.total("changed"),
        0,
        "second run changed something:\n{}",
        second.stdout
    );
    assert_eq!(second.total("failed"), 0);
    for h in &fleet.hosts {
        assert_eq!(read(&h.root.join("restarts.log")), "restarted\n");
    }
}

#[test]
fn check_reports_exactly_the_drift_and_changes_nothing() {
    if !sshd::can_run() {
        return;
    }
    let fleet = Fleet::start(3);
    let inv = fleet.inventory("");
    let inv = inv.to_str().expect("utf8");
    assert_eq!(
        fmc(&fleet, &["-i", inv, &site(), "--output", "json"]).code,
        0
    );
    let drifted = fleet.hosts[1].root.join("etc/app/app.conf");
    let bad = read(&drifted).replace("port = 8080", "port = 9999");
    std::fs::write(&drifted, &bad).expect("drift");

    let check = fmc(&fleet, &["-i", inv, &site(), "--check", "--output", "json"]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    let recap = check.recap();
    assert_eq!(recap["h1"]["changed"], 0);
    assert_eq!(recap["h2"]["changed"], 1, "{}", check.stdout);
    assert_eq!(recap["h3"]["changed"], 0);
    let changed: Vec<Value> = check
        .events()
        .into_iter()
        .filter(|e| e["event"] == "host_result" && e["status"] == "changed")
        .collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0]["host"], "h2");
    assert_eq!(changed[0]["task"], "app : main config");
    assert_eq!(read(&drifted), bad, "--check modified the host");

    let diff = fmc(&fleet, &["-i", inv, &site(), "--check", "--diff"]);
    assert_eq!(diff.code, 0, "{}", diff.stderr);
    assert!(diff.stdout.contains("-port = 9999"), "{}", diff.stdout);
    assert!(diff.stdout.contains("+port = 8080"), "{}", diff.stdout);
    assert_eq!(read(&drifted), bad);
}

#[test]
fn tags_and_limit_select_tasks_and_hosts() {
    if !sshd::can_run() {
        return;
    }
    let fleet = Fleet::start(2);
    let inv = fleet.inventory("");
    let inv = inv.to_str().expect("utf8");
    let r = fmc(
        &fleet,
        &[
            "-i",
            inv,
            &site(),
            "--tags",
            "listen",
            "--limit",
            "h1",
            "--output",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let h1 = &fleet.hosts[0].root;
    let h2 = &fleet.hosts[1].root;
    assert_eq!(read(&h1.join("etc/app/extra.conf")), "listen=8080\n");
    assert!(
        !h1.join("etc/app/app.conf").exists(),
        "an untagged task ran"
    );
    assert!(!h2.join("etc").exists(), "--limit was ignored");
    // The `always` directory task and the `listen` task ran.
    assert_eq!(r.recap()["h1"]["changed"], 2, "{}", r.stdout);
    assert!(r.recap().get("h2").is_none());

    // The role name is an implicit tag on all its tasks.
    let r = fmc(
        &fleet,
        &["-i", inv, &site(), "--tags", "app", "--output", "json"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(h2.join("etc/app/app.conf").exists());
    assert!(
        !h2.join("etc/os.txt").exists(),
        "a task outside the role ran"
    );
}

#[test]
fn serial_runs_batches_one_after_another() {
    if !sshd::can_run() {
        return;
    }
    let fleet = Fleet::start(3);
    let inv = fleet.inventory("");
    let pb = fleet.path().join("serial.yml");
    std::fs::write(
        &pb,
        "- hosts: web\n  gather_facts: false\n  serial: 1\n  tasks:\n    - name: one\n      file: {path: \"{{ root }}/a\", state: touch}\n    - name: two\n      file: {path: \"{{ root }}/b\", state: touch}\n",
    )
    .expect("write");
    let r = fmc(
        &fleet,
        &[
            "-i",
            inv.to_str().expect("utf8"),
            pb.to_str().expect("utf8"),
            "--output",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let order: Vec<String> = r
        .events()
        .iter()
        .filter(|e| e["event"] == "host_result")
        .map(|e| {
            format!(
                "{}:{}",
                e["host"].as_str().unwrap_or(""),
                e["task"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        order,
        ["h1:one", "h1:two", "h2:one", "h2:two", "h3:one", "h3:two"]
    );
}

#[test]
fn unreachable_host_stops_only_itself() {
    if !sshd::can_run() {
        return;
    }
    let mut fleet = Fleet::start(3);
    let inv = fleet.inventory("");
    fleet.hosts[1].stop();
    let r = fmc(
        &fleet,
        &[
            "-i",
            inv.to_str().expect("utf8"),
            &site(),
            "--output",
            "json",
        ],
    );
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    let recap = r.recap();
    assert_eq!(recap["h2"]["unreachable"], 1, "{recap}");
    assert_eq!(recap["h2"]["failed"], 0);
    for h in [&fleet.hosts[0], &fleet.hosts[2]] {
        assert_eq!(recap[&h.name]["changed"], 7, "{recap}");
        assert!(h.root.join("etc/app/app.conf").exists());
    }
}

#[test]
fn host_key_mismatch_is_refused() {
    if !sshd::can_run() {
        return;
    }
    let fleet = Fleet::start(2);
    let inv = fleet.inventory("");
    // Replace h1's known key with h2's: h1 now presents an unexpected key.
    let kh = format!(
        "[127.0.0.1]:{} {}\n[127.0.0.1]:{} {}\n",
        fleet.hosts[0].port, fleet.hosts[1].host_key, fleet.hosts[1].port, fleet.hosts[1].host_key
    );
    std::fs::write(&fleet.known_hosts, kh).expect("known_hosts");
    let r = fmc(
        &fleet,
        &[
            "-i",
            inv.to_str().expect("utf8"),
            &site(),
            "--output",
            "json",
        ],
    );
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.recap()["h1"]["unreachable"], 1);
    assert!(!fleet.hosts[0].root.join("etc").exists(), "h1 was touched");
    assert!(fleet.hosts[1].root.join("etc/app/app.conf").exists());
    let msg = r
        .events()
        .into_iter()
        .find(|e| e["event"] == "host_result" && e["host"] == "h1")
        .and_then(|e| e["msg"].as_str().map(str::to_string))
        .unwrap_or_default();
    assert!(msg.to_lowercase().contains("host key"), "{msg}");
}

#[test]
fn bad_input_exits_4_before_touching_hosts() {
    if !sshd::can_run() {
        return;
    }
    let fleet = Fleet::start(1);
    let inv = fleet.inventory("");
    let inv = inv.to_str().expect("utf8");
    let pb = fleet.path().join("bad.yml");
    std::fs::write(
        &pb,
        "- hosts: web\n  gather_facts: false\n  tasks:\n    - name: first\n      file: {path: \"{{ root }}/x\", state: touch}\n    - name: typo\n      lineinfle: {path: /tmp/x, line: a}\n",
    )
    .expect("write");
    let r = fmc(&fleet, &["-i", inv, pb.to_str().expect("utf8")]);
    assert_eq!(r.code, 4, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("bad.yml:6"), "{}", r.stderr);
    assert!(
        r.stderr.contains("lineinfile"),
        "no did-you-mean: {}",
        r.stderr
    );
    assert!(
        !fleet.hosts[0].root.join("x").exists(),
        "a host was touched"
    );

    std::fs::write(
        &pb,
        "- hosts: web\n  tasks:\n    - name: x\n       file: {}\n",
    )
    .expect("write");
    let r = fmc(&fleet, &["-i", inv, pb.to_str().expect("utf8")]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stderr.contains("bad.yml:4"), "{}", r.stderr);

    std::fs::write(
        &pb,
        "- hosts: web\n  gather_facts: false\n  tasks:\n    - name: uses an undefined variable\n      copy: {dest: \"{{ root }}/y\", content: \"{{ nope_not_defined }}\"}\n",
    )
    .expect("write");
    let r = fmc(
        &fleet,
        &["-i", inv, pb.to_str().expect("utf8"), "--output", "json"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    let failed = r.results_for("uses an undefined variable");
    let msg = failed[0]["msg"].as_str().unwrap_or_default();
    assert!(msg.contains("nope_not_defined"), "{msg}");
    assert!(msg.contains("bad.yml:4"), "{msg}");
    assert!(!fleet.hosts[0].root.join("y").exists());
}

#[test]
fn json_recap_line_is_exact() {
    if !sshd::can_run() {
        return;
    }
    let fleet = Fleet::start(1);
    let inv = fleet.inventory("");
    let pb = fleet.path().join("one.yml");
    std::fs::write(
        &pb,
        "- hosts: web\n  gather_facts: false\n  tasks:\n    - command: \"true\"\n",
    )
    .expect("write");
    let r = fmc(
        &fleet,
        &[
            "-i",
            inv.to_str().expect("utf8"),
            pb.to_str().expect("utf8"),
            "--output",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout.lines().last().unwrap_or_default(),
        r#"{"event":"recap","hosts":{"h1":{"ok":1,"changed":1,"failed":0,"skipped":0,"unreachable":0}}}"#
    );
}

#[test]
fn failed_when_false_keeps_the_changed_when_verdict() {
    if !sshd::can_run() {
        return;
    }
    let fleet = Fleet::start(1);
    let inv = fleet.inventory("");
    let pb = write_playbook(
        &fleet,
        "verdict.yml",
        "- hosts: web\n  gather_facts: false\n  tasks:\n    - command: \"false\"\n      changed_when: false\n      failed_when: false\n",
    );
    let r = fmc(
        &fleet,
        &["-i", inv.to_str().expect("utf8"), &pb, "--output", "json"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.total("changed"), 0, "{}", r.stdout);
    assert_eq!(r.total("ok"), 1, "{}", r.stdout);
}

#[test]
fn check_mode_keeps_the_facts_of_fact_modules() {
    if !sshd::can_run() {
        return;
    }
    let fleet = Fleet::start(1);
    let inv = fleet.inventory("");
    let pb = write_playbook(
        &fleet,
        "check_facts.yml",
        "- hosts: web\n  gather_facts: false\n  tasks:\n    - setup:\n    - assert:\n        that: ansible_facts.os_family is defined and ansible_os_family == ansible_facts.os_family\n",
    );
    let r = fmc(
        &fleet,
        &[
            "-i",
            inv.to_str().expect("utf8"),
            &pb,
            "--check",
            "--output",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.total("failed"), 0, "{}", r.stdout);
}

#[test]
fn runner_features_on_real_hosts() {
    if !sshd::can_run() {
        return;
    }
    let fleet = Fleet::start(2);
    let controller = fleet.path().join("controller");
    std::fs::create_dir_all(&controller).expect("mkdir");
    let inv = fleet.inventory(&format!("controller_dir: {}", controller.display()));
    let inv = inv.to_str().expect("utf8");
    let pb = fixture("features/features.yml").display().to_string();
    let r = fmc(
        &fleet,
        &[
            "-i",
            inv,
            &pb,
            "-e",
            "from_cli=cli-value",
            "--output",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    for h in &fleet.hosts {
        let root = &h.root;
        assert_eq!(read(&root.join("item-a")), "a\n");
        assert!(!root.join("item-b").exists(), "per-item when ignored");
        assert_eq!(read(&root.join("item-c")), "c\n");
        assert!(root.join("rescued").exists() && root.join("always").exists());
        assert!(!root.join("unreachable-marker").exists());
        assert_eq!(read(&root.join("sentence")), "HELLO WORLD cli-value\n");
        assert!(root.join("included").exists());
        assert_eq!(read(&root.join("uid")), "0\n", "become did not run as root");
        assert_eq!(read(&root.join("env")), "from-environment\n");
        assert_eq!(read(&root.join("tries")), "3\n");
        assert_eq!(read(&root.join("token")), "s3cr3t-t0ken-value\n");
    }
    // run_once: only the first host ran the delegated task.
    assert!(controller.join("delegated-h1").exists());
    assert!(!controller.join("delegated-h2").exists());
    // A rescued failure does not count as failed; the ignored one is reported as such.
    assert_eq!(r.total("failed"), 0, "{}", r.stdout);
    let boom = r.results_for("failed_when turns success into failure (ignored)");
    assert!(
        boom.iter()
            .all(|e| e["status"] == "failed" && e["ignored"] == true),
        "{boom:?}"
    );
    // no_log and secrets never reach the event stream.
    assert!(!r.stdout.contains("s3cr3t-t0ken-value"), "secret leaked");
    assert!(
        !r.stdout.contains("plain-but-hidden"),
        "templated no_log ignored"
    );
    assert!(
        !r.results_for("a templated no_log hides the result too")
            .is_empty(),
        "the templated no_log task ran"
    );
    let retries = r
        .events()
        .into_iter()
        .filter(|e| e["event"] == "retry")
        .count();
    assert_eq!(retries, 4, "two retries per host");
    let dbg = r.results_for("debug shows a message");
    assert_eq!(
        dbg[0]["result"]["msg"]
            .as_str()
            .map(|s| s.starts_with("hello from h")),
        Some(true)
    );

    // Tags pass through include_tasks like imports.
    let r = fmc(
        &fleet,
        &[
            "-i", inv, &pb, "--tags", "inc", "--output", "json", "--limit", "h1",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ran: Vec<String> = r
        .events()
        .into_iter()
        .filter(|e| e["event"] == "host_result")
        .filter_map(|e| e["task"].as_str().map(str::to_string))
        .collect();
    assert_eq!(ran, ["included task"], "{ran:?}");
}

#[test]
fn list_modes_and_syntax_check_touch_nothing() {
    if !sshd::can_run() {
        return;
    }
    let fleet = Fleet::start(2);
    let inv = fleet.inventory("");
    let inv = inv.to_str().expect("utf8");
    let r = fmc(
        &fleet,
        &["-i", inv, &site(), "--list-hosts", "--limit", "h2"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("hosts (1):\n      h2"), "{}", r.stdout);
    let r = fmc(
        &fleet,
        &["-i", inv, &site(), "--list-tasks", "--tags", "listen"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("app : listen line\tTAGS: [always, app, listen]")
            || r.stdout.contains("app : listen line"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("app : main config"), "{}", r.stdout);
    let r = fmc(&fleet, &["-i", inv, &site(), "--list-tags"]);
    assert!(
        r.stdout.contains("TASK TAGS: [always, app, facts, listen]"),
        "{}",
        r.stdout
    );
    let r = fmc(&fleet, &["-i", inv, &site(), "--syntax-check"]);
    assert_eq!(r.code, 0);
    for h in &fleet.hosts {
        assert!(!h.root.join("etc").exists());
    }
    // Bad flags are bad input too.
    assert_eq!(
        fmc(&fleet, &["-i", inv, &site(), "--forks", "many"]).code,
        4
    );
}

fn write_playbook(fleet: &Fleet, name: &str, text: &str) -> String {
    let p = fleet.path().join(name);
    std::fs::write(&p, text).expect("write playbook");
    p.display().to_string()
}

#[test]
fn failure_policies() {
    if !sshd::can_run() {
        return;
    }
    let mut fleet = Fleet::start(3);
    let inv = fleet.inventory("");
    let inv = inv.to_str().expect("utf8");

    // any_errors_fatal: h2 fails the first task, nobody runs the second.
    let pb = write_playbook(
        &fleet,
        "fatal.yml",
        "- hosts: web\n  gather_facts: false\n  any_errors_fatal: true\n  tasks:\n    - name: fail on h2\n      command: \"false\"\n      when: inventory_hostname == 'h2'\n    - name: second\n      file: {path: \"{{ root }}/second\", state: touch}\n",
    );
    let r = fmc(&fleet, &["-i", inv, &pb, "--output", "json"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        fleet.hosts.iter().all(|h| !h.root.join("second").exists()),
        "the play went on"
    );

    // max_fail_percentage 30: one of three failing (33%) stops the play.
    let pb = write_playbook(
        &fleet,
        "pct.yml",
        "- hosts: web\n  gather_facts: false\n  max_fail_percentage: 30\n  tasks:\n    - name: fail on h3\n      command: \"false\"\n      when: inventory_hostname == 'h3'\n    - name: after\n      file: {path: \"{{ root }}/after\", state: touch}\n",
    );
    let r = fmc(&fleet, &["-i", inv, &pb, "--output", "json"]);
    assert_eq!(r.code, 2);
    assert!(
        !fleet.hosts[0].root.join("after").exists(),
        "max_fail_percentage ignored"
    );

    // Without a policy only the failing host stops.
    let pb = write_playbook(
        &fleet,
        "plain.yml",
        "- hosts: web\n  gather_facts: false\n  tasks:\n    - name: fail on h3\n      command: \"false\"\n      when: inventory_hostname == 'h3'\n    - name: after\n      file: {path: \"{{ root }}/plain\", state: touch}\n",
    );
    let r = fmc(&fleet, &["-i", inv, &pb, "--output", "json"]);
    assert_eq!(r.code, 2);
    assert!(
        fleet.hosts[0].root.join("plain").exists() && !fleet.hosts[2].root.join("plain").exists()
    );

    // --start-at-task skips what comes before.
    let r = fmc(
        &fleet,
        &[
            "-i",
            inv,
            &pb,
            "--start-at-task",
            "after",
            "--output",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(fleet.hosts[2].root.join("plain").exists());

    // ignore_unreachable: the play goes on for the others and exits 0.
    fleet.hosts[1].stop();
    let pb = write_playbook(
        &fleet,
        "unreach.yml",
        "- hosts: web\n  gather_facts: false\n  tasks:\n    - name: touch\n      file: {path: \"{{ root }}/u\", state: touch}\n      ignore_unreachable: true\n",
    );
    let r = fmc(&fleet, &["-i", inv, &pb, "--output", "json"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(r.recap()["h2"]["skipped"], 1);
    assert!(fleet.hosts[0].root.join("u").exists());
}

#[test]
fn flush_handlers_runs_notified_handlers_mid_play() {
    if !sshd::can_run() {
        return;
    }
    let fleet = Fleet::start(1);
    let inv = fleet.inventory("");
    let pb = write_playbook(
        &fleet,
        "flush.yml",
        "- hosts: web\n  gather_facts: false\n  tasks:\n    - name: change\n      copy: {dest: \"{{ root }}/f\", content: x}\n      notify: log\n    - meta: flush_handlers\n    - name: after flush\n      shell: echo task >> {{ root }}/log\n  handlers:\n    - name: log handler\n      listen: log\n      shell: echo handler >> {{ root }}/log\n",
    );
    let r = fmc(
        &fleet,
        &["-i", inv.to_str().expect("utf8"), &pb, "--output", "json"],
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(read(&fleet.hosts[0].root.join("log")), "handler\ntask\n");
}

#[test]
fn encrypted_key_and_fetch_beside_the_playbook() {
    if !sshd::can_run() {
        return;
    }
    let fleet = Fleet::start(1);
    let h = &fleet.hosts[0];
    // A passphrase-protected key, also authorized on the host.
    let key = fleet.path().join("enc_ed25519");
    let out = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "correct horse",
            "-C",
            "enc",
            "-f",
        ])
        .arg(&key)
        .output()
        .expect("ssh-keygen");
    assert!(out.status.success());
    let authorized = fleet.path().join("authorized_keys");
    let mut auth = read(&authorized);
    auth.push_str(&read(&key.with_extension("pub")));
    std::fs::write(&authorized, auth).expect("authorized_keys");
    std::fs::write(fleet.path().join("passphrase"), "correct horse\n").expect("passphrase");
    let inv = fleet.path().join("enc.yml");
    std::fs::write(
        &inv,
        format!(
            "all:\n  hosts:\n    h1:\n      ansible_host: 127.0.0.1\n      ansible_port: {}\n      ansible_user: {}\n      root: {}\n",
            h.port,
            sshd::USER,
            h.root.display()
        ),
    )
    .expect("inventory");
    std::fs::write(h.root.join("report.txt"), "from the host\n").expect("write");
    let pb = write_playbook(
        &fleet,
        "fetch.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - fetch: {src: \"{{ root }}/report.txt\", dest: got/, flat: true}\n",
    );
    let key_s = key.display().to_string();
    let inv_s = inv.display().to_string();
    let args = [
        "-i",
        inv_s.as_str(),
        pb.as_str(),
        "--private-key",
        key_s.as_str(),
        "--output",
        "json",
    ];
    let r = fmc(&fleet, &args);
    assert_eq!(
        r.code, 3,
        "an encrypted key without its passphrase must not connect"
    );
    let mut with = args.to_vec();
    let pf = fleet.path().join("passphrase").display().to_string();
    with.extend(["--key-passphrase-file", pf.as_str()]);
    let r = fmc(&fleet, &with);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    // A relative fetch dest is relative to the playbook's directory.
    assert_eq!(
        read(&fleet.path().join("got/report.txt")),
        "from the host\n"
    );
    assert!(!r.stdout.contains("correct horse"));
}

#[test]
fn with_fileglob_loops_over_controller_files() {
    if !sshd::can_run() {
        return;
    }
    let fleet = Fleet::start(1);
    let inv = fleet.inventory("");
    let files = fleet.path().join("files");
    std::fs::create_dir_all(&files).expect("mkdir");
    for (name, body) in [("a.conf", "A\n"), ("b.conf", "B\n"), ("c.txt", "C\n")] {
        std::fs::write(files.join(name), body).expect("write");
    }
    let pb = write_playbook(
        &fleet,
        "glob.yml",
        "- hosts: web\n  gather_facts: false\n  tasks:\n    - copy: {src: \"{{ item }}\", dest: \"{{ root }}/{{ item | basename }}\"}\n      with_fileglob: \"*.conf\"\n",
    );
    let r = fmc(
        &fleet,
        &["-i", inv.to_str().expect("utf8"), &pb, "--output", "json"],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let root = &fleet.hosts[0].root;
    assert_eq!(read(&root.join("a.conf")), "A\n");
    assert_eq!(read(&root.join("b.conf")), "B\n");
    assert!(!root.join("c.txt").exists());
}

/// Execs the host's sshd started while running `f`.
fn execs_during(host: &sshd::Sshd, f: impl FnOnce() -> Run) -> (Run, usize) {
    let before = host.execs();
    let r = f();
    (r, host.execs() - before)
}

#[test]
fn probe_batching_one_exec_per_host_when_nothing_changes() {
    if !sshd::can_run() {
        return;
    }
    let fleet = Fleet::start(2);
    let inv = fleet.inventory("");
    let inv = inv.to_str().expect("utf8");
    std::fs::create_dir_all(fleet.path().join("templates")).expect("mkdir");
    std::fs::write(
        fleet.path().join("templates/t.j2"),
        "host={{ inventory_hostname }}\n",
    )
    .expect("template");
    let mut pb = String::from("- hosts: web\n  gather_facts: false\n  tasks:\n");
    for i in 0..4 {
        pb.push_str(&format!(
            "    - file: {{path: \"{{{{ root }}}}/d{i}\", state: directory}}\n\
             \x20   - copy: {{dest: \"{{{{ root }}}}/d{i}/c\", content: \"c{i}\\n\", force: false}}\n\
             \x20   - lineinfile: {{path: \"{{{{ root }}}}/d{i}/c\", line: \"l{i}\"}}\n\
             \x20   - template: {{src: t.j2, dest: \"{{{{ root }}}}/d{i}/t\"}}\n"
        ));
    }
    let pb = write_playbook(&fleet, "many.yml", &pb);
    let first = fmc(&fleet, &["-i", inv, &pb, "--output", "json"]);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    assert_eq!(first.total("changed"), 2 * 16, "{}", first.stdout);
    // The copy and the lineinfile of the same file converge in one run.
    assert_eq!(read(&fleet.hosts[1].root.join("d3/c")), "c3\nl3\n");
    assert_eq!(read(&fleet.hosts[1].root.join("d3/t")), "host=h2\n");

    let (second, execs) = execs_during(&fleet.hosts[0], || {
        fmc(&fleet, &["-i", inv, &pb, "--output", "json"])
    });
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(second.total("changed"), 0, "{}", second.stdout);
    assert_eq!(second.total("ok"), 2 * 16);
    // 16 file tasks, nothing to change: 2 execs instead of 16 (the first batch probes
    // the task and the next 4, the second the remaining 11).
    assert_eq!(execs, 2, "execs on h1 for 16 unchanged tasks");

    // --check with drift on one host: exact changes, nothing applied, still 2 execs.
    std::fs::write(fleet.hosts[0].root.join("d0/t"), "drift\n").expect("drift");
    std::fs::write(fleet.hosts[0].root.join("d1/c"), "drift\n").expect("drift");
    std::fs::remove_file(fleet.hosts[0].root.join("d2/t")).expect("rm");
    let (check, execs) = execs_during(&fleet.hosts[0], || {
        fmc(&fleet, &["-i", inv, &pb, "--check", "--output", "json"])
    });
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert_eq!(check.recap()["h1"]["changed"], 3, "{}", check.stdout);
    assert_eq!(check.recap()["h2"]["changed"], 0);
    let changed: Vec<Value> = check
        .events()
        .into_iter()
        .filter(|e| e["event"] == "host_result" && e["status"] == "changed")
        .map(|e| e["task"].clone())
        .collect();
    assert_eq!(
        changed,
        ["template", "lineinfile", "template"],
        "{}",
        check.stdout
    );
    assert_eq!(read(&fleet.hosts[0].root.join("d1/c")), "drift\n");
    assert!(!fleet.hosts[0].root.join("d2/t").exists());
    assert_eq!(execs, 2, "--check execs on h1");

    // The real run repairs exactly that, then nothing is left to do.
    let fix = fmc(&fleet, &["-i", inv, &pb, "--output", "json"]);
    assert_eq!(fix.recap()["h1"]["changed"], 3, "{}", fix.stdout);
    assert_eq!(read(&fleet.hosts[0].root.join("d1/c")), "drift\nl1\n");
    assert_eq!(read(&fleet.hosts[0].root.join("d0/t")), "host=h1\n");
    let again = fmc(&fleet, &["-i", inv, &pb, "--check", "--output", "json"]);
    assert_eq!(again.total("changed"), 0, "{}", again.stdout);
}

#[test]
fn probe_batching_sees_earlier_changes() {
    if !sshd::can_run() {
        return;
    }
    let fleet = Fleet::start(1);
    let root = fleet.hosts[0].root.display().to_string();
    // `twin` is the same machine and tree under another inventory name.
    let inv = fleet.inventory("");
    let text = std::fs::read_to_string(&inv).expect("inventory")
        + &format!(
            "        twin:\n          ansible_host: 127.0.0.1\n          ansible_port: {}\n          root: {root}\n",
            fleet.hosts[0].port
        );
    std::fs::write(&inv, text).expect("inventory");
    let inv = inv.to_str().expect("utf8");
    let pb = write_playbook(
        &fleet,
        "deps.yml",
        "- hosts: web\n  gather_facts: false\n  tasks:\n\
         \x20   - stat: {path: \"{{ root }}\"}\n\
         \x20   - name: create (h1 only)\n      copy: {dest: \"{{ root }}/conf\", content: \"a=1\\n\", force: false}\n      when: inventory_hostname == 'h1'\n\
         \x20   - name: line in the new file\n      lineinfile: {path: \"{{ root }}/conf\", line: \"b=2\"}\n      when: inventory_hostname == 'h1'\n\
         \x20   - name: the twin sees the file h1 created\n      file: {path: \"{{ root }}/conf\", state: file}\n\
         \x20   - name: touch behind the modules' back\n      command: touch {{ root }}/marker-{{ inventory_hostname }}\n      changed_when: false\n\
         \x20   - name: stat the marker\n      stat: {path: \"{{ root }}/marker-{{ inventory_hostname }}\"}\n      register: st\n\
         \x20   - name: marker must exist\n      fail: {msg: stale probe}\n      when: not st.stat.exists\n\
         \x20   - name: the marker is a file\n      file: {path: \"{{ root }}/marker-{{ inventory_hostname }}\", state: file}\n",
    );
    let first = fmc(&fleet, &["-i", inv, &pb, "--output", "json"]);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    assert_eq!(first.recap()["h1"]["changed"], 2, "{}", first.stdout);
    assert_eq!(first.recap()["twin"]["failed"], 0);
    assert_eq!(read(&fleet.hosts[0].root.join("conf")), "a=1\nb=2\n");
    let second = fmc(&fleet, &["-i", inv, &pb, "--output", "json"]);
    assert_eq!(second.code, 0, "{}", second.stdout);
    assert_eq!(second.total("changed"), 0, "{}", second.stdout);
}
