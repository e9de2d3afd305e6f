//! Plays, batches and task keywords as Ansible runs them: failed hosts across plays,
//! "no more hosts left", rescue variables, role deduplication, include recursion,
//! `throttle`, `timeout`, keyword type checks, `vars_files`, `playbook_dir`, and a
//! host whose sshd dies in the middle of a play.
//!
//! Most tests run on the controller (three inventory hosts with
//! `ansible_connection: local`); the last one uses real sshd hosts.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Run, fmc, sshd};

const INVENTORY: &str =
    "all:\n  vars:\n    ansible_connection: local\n  hosts:\n    h1:\n    h2:\n    h3:\n";

/// Writes `files` (path, text) under `dir` and runs `fmc-run -i inv.yml play.yml`.
fn run_in(dir: &Path, files: &[(&str, &str)], args: &[&str]) -> Run {
    std::fs::write(dir.join("inv.yml"), INVENTORY).expect("inventory");
    super::write_tree(dir, files);
    let mut all = vec!["-i", "inv.yml", "play.yml", "--output", "json"];
    all.extend_from_slice(args);
    super::fmc_in(dir, &all)
}

fn run(files: &[(&str, &str)], args: &[&str]) -> (tempfile::TempDir, Run) {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = run_in(dir.path(), files, args);
    (dir, r)
}

/// `host: msg` of every successful result with a message (debug), in order.
fn messages(r: &Run) -> Vec<String> {
    r.events()
        .iter()
        .filter(|e| {
            e["event"] == "host_result" && e["status"] == "ok" && e["result"]["msg"].is_string()
        })
        .map(|e| {
            format!(
                "{}: {}",
                e["host"].as_str().unwrap_or(""),
                e["result"]["msg"].as_str().unwrap_or("")
            )
        })
        .collect()
}

fn all_output(r: &Run) -> String {
    format!("{}\n{}", r.stdout, r.stderr)
}

#[test]
fn a_failed_host_sits_out_later_plays_until_clear_host_errors() {
    let play = r#"
- hosts: all
  gather_facts: false
  tasks:
    - fail: {msg: boom}
      when: inventory_hostname == 'h1'
    - debug: {msg: "one {{ ansible_play_hosts }} {{ ansible_play_batch }} {{ ansible_play_hosts_all }}"}
- hosts: all
  gather_facts: false
  # h1's failure in the first play does not count against this one
  any_errors_fatal: true
  max_fail_percentage: 0
  tasks:
    - debug: {msg: "two {{ ansible_play_hosts }}"}
    - meta: clear_host_errors
    - debug: {msg: "cleared {{ ansible_play_hosts }}"}
- hosts: all
  gather_facts: false
  tasks:
    - debug: {msg: "three {{ ansible_play_hosts }}"}
"#;
    let (_d, r) = run(&[("play.yml", play)], &[]);
    assert_eq!(r.code, 2, "{}", all_output(&r));
    // ansible-core 2.19 prints exactly these (h1 does not resume in the play that
    // clears its errors, and is back in the next one)
    let one = "['h2', 'h3'] ['h2', 'h3'] ['h1', 'h2', 'h3']";
    assert_eq!(
        messages(&r),
        [
            format!("h2: one {one}"),
            format!("h3: one {one}"),
            "h2: two ['h2', 'h3']".into(),
            "h3: two ['h2', 'h3']".into(),
            "h2: cleared ['h2', 'h3']".into(),
            "h3: cleared ['h2', 'h3']".into(),
            "h1: three ['h1', 'h2', 'h3']".into(),
            "h2: three ['h1', 'h2', 'h3']".into(),
            "h3: three ['h1', 'h2', 'h3']".into(),
        ]
    );
    let recap = r.recap();
    assert_eq!(recap["h1"]["failed"], 1, "{recap}");
    assert_eq!(recap["h1"]["ok"], 1, "{recap}");
}

#[test]
fn when_every_host_of_a_batch_fails_the_playbook_ends() {
    // serial: the second batch (h2) fails entirely: h3's batch and the next play
    // do not run (Ansible: NO MORE HOSTS LEFT)
    let play = "
- hosts: all
  gather_facts: false
  serial: 1
  tasks:
    - fail: {msg: boom}
      when: inventory_hostname == 'h2'
    - debug: {msg: first}
- hosts: all
  gather_facts: false
  tasks:
    - debug: {msg: second}
";
    let (_d, r) = run(&[("play.yml", play)], &[]);
    assert_eq!(r.code, 2, "{}", all_output(&r));
    assert_eq!(messages(&r), ["h1: first"]);
    let recap = r.recap();
    assert!(recap.get("h3").is_none(), "{recap}");
    assert_eq!(recap["h2"]["failed"], 1);

    // without serial: every host fails in play 1, play 2 does not run
    let play = "
- hosts: all
  gather_facts: false
  tasks:
    - command: /bin/false
- hosts: all
  gather_facts: false
  tasks:
    - debug: {msg: second}
";
    let (_d, r) = run(&[("play.yml", play)], &[]);
    assert_eq!(r.code, 2, "{}", all_output(&r));
    assert!(messages(&r).is_empty(), "{:?}", messages(&r));
    assert!(r.stdout.contains("no more hosts left"), "{}", r.stdout);
    assert_eq!(r.total("failed"), 3);
}

#[test]
fn rescue_sees_the_failed_task_and_result() {
    let play = r#"
- hosts: h1
  gather_facts: false
  tasks:
    - block:
        - name: the failing one
          command: /bin/false
      rescue:
        - debug: {msg: "{{ ansible_failed_task.name }} rc={{ ansible_failed_result.rc }} failed={{ ansible_failed_result.failed }}"}
    - block:
        - name: looped
          command: "sh -c 'exit {{ item }}'"
          loop: [0, 3]
      rescue:
        - debug: {msg: "{{ ansible_failed_task.name }}: {{ ansible_failed_result.results | map(attribute='rc') | list }}"}
    - debug: {msg: "after {{ ansible_failed_task.name }}"}
"#;
    let (_d, r) = run(&[("play.yml", play)], &[]);
    assert_eq!(r.code, 0, "{}", all_output(&r));
    assert_eq!(
        messages(&r),
        [
            "h1: the failing one rc=1 failed=True",
            "h1: looped: [0, 3]",
            "h1: after looped",
        ]
    );
}

#[test]
fn tagged_does_not_select_never_tasks() {
    let play = "
- hosts: h1
  gather_facts: false
  tasks:
    - {debug: {msg: plain}}
    - {debug: {msg: tagged}, tags: [a]}
    - {debug: {msg: never}, tags: [never]}
    - {debug: {msg: never-b}, tags: [never, b]}
    - {debug: {msg: always}, tags: [always]}
";
    let files = [("play.yml", play)];
    let (_d, r) = run(&files, &["--tags", "tagged"]);
    assert_eq!(messages(&r), ["h1: tagged", "h1: always"]);
    let (_d, r) = run(&files, &["--tags", "untagged"]);
    assert_eq!(messages(&r), ["h1: plain", "h1: always"]);
    let (_d, r) = run(&files, &["--tags", "all,b"]);
    assert_eq!(
        messages(&r),
        ["h1: plain", "h1: tagged", "h1: never-b", "h1: always"]
    );
}

#[test]
fn roles_run_once_per_play_unless_params_differ_or_duplicates_are_allowed() {
    let task = |r: &str| format!("- debug: {{msg: \"{r} x={{{{ x | default('none') }}}}\"}}\n");
    let mut files: Vec<(String, String)> = ["a", "b", "c", "common", "dup", "dup2"]
        .iter()
        .map(|r| (format!("roles/{r}/tasks/main.yml"), task(r)))
        .collect();
    files.extend([
        ("roles/b/meta/main.yml".into(), "dependencies: [common]\n".into()),
        (
            "roles/c/meta/main.yml".into(),
            "dependencies: [common, dup, dup]\n".into(),
        ),
        ("roles/dup/meta/main.yml".into(), "allow_duplicates: true\n".into()),
        (
            "roles/dup2/meta/main.yml".into(),
            "dependencies:\n  - role: common\n    x: 2\n".into(),
        ),
        (
            "play.yml".into(),
            "- hosts: h1\n  gather_facts: false\n  roles:\n    - a\n    - a\n    - {role: a, x: 1}\n    - {role: a, x: 1}\n    - b\n    - c\n    - dup2\n    - dup\n  tasks:\n    - include_role: {name: a}\n    - include_role: {name: a}\n".into(),
        ),
    ]);
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let (_d, r) = run(&refs, &[]);
    assert_eq!(r.code, 0, "{}", all_output(&r));
    // the sequence ansible-core 2.19 prints for the same roles
    assert_eq!(
        messages(&r),
        [
            "h1: a x=none",
            "h1: a x=1",
            "h1: common x=none",
            "h1: b x=none",
            "h1: dup x=none",
            "h1: dup x=none",
            "h1: c x=none",
            "h1: common x=2",
            "h1: dup2 x=none",
            "h1: dup x=none",
            "h1: a x=none",
            "h1: a x=none",
        ]
    );
}

/// A small deterministic generator (no extra dependency).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[test]
fn unbounded_include_recursion_fails_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    // a role that includes itself
    let r = run_in(
        dir.path(),
        &[
            (
                "roles/r/tasks/main.yml",
                "- name: again\n  include_role: {name: r}\n",
            ),
            (
                "play.yml",
                "- hosts: h1\n  gather_facts: false\n  tasks:\n    - include_role: {name: r}\n",
            ),
        ],
        &[],
    );
    assert_eq!(r.code, 2, "{}", all_output(&r));
    let failed = r.results_for("r : again");
    assert_eq!(failed.len(), 1, "{}", r.stdout);
    let msg = failed[0]["msg"].as_str().unwrap_or_default();
    assert!(
        msg.contains("roles/r/tasks/main.yml:1:3")
            && msg.contains("include_role 'r'")
            && msg.contains("64"),
        "{msg}"
    );

    // fuzz-ish: random task files where each includes at most one other (chains and
    // cycles, sometimes through a block); the run fails exactly when the chain from
    // the play reaches a cycle, and never crashes
    let mut rng = Lcg(0x5eed);
    for round in 0..12 {
        let dir = tempfile::tempdir().expect("tempdir");
        let n = 1 + rng.below(5) as usize;
        let next: Vec<Option<usize>> = (0..n)
            .map(|_| (rng.below(3) != 0).then(|| rng.below(n as u64) as usize))
            .collect();
        let mut files = vec![];
        for (i, target) in next.iter().enumerate() {
            let mut text = format!("- debug: {{msg: \"file {i}\"}}\n");
            if let Some(t) = target {
                if rng.below(2) == 0 {
                    text.push_str(&format!("- block:\n    - include_tasks: f{t}.yml\n"));
                } else {
                    text.push_str(&format!("- name: include {t}\n  include_tasks: f{t}.yml\n"));
                }
            }
            files.push((format!("f{i}.yml"), text));
        }
        files.push((
            "play.yml".into(),
            "- hosts: h1\n  gather_facts: false\n  tasks:\n    - include_tasks: f0.yml\n".into(),
        ));
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        let r = run_in(dir.path(), &refs, &[]);
        // follow the chain from f0: a file seen twice is a cycle
        let mut seen = vec![false; n];
        let mut at = Some(0);
        let mut cycle = false;
        while let Some(i) = at {
            if seen[i] {
                cycle = true;
                break;
            }
            seen[i] = true;
            at = next[i];
        }
        let ctx = format!("round {round}: {next:?}\n{}", all_output(&r));
        assert!(!r.stderr.contains("panicked"), "{ctx}");
        assert!(!r.stderr.contains("overflow"), "{ctx}");
        if cycle {
            assert_eq!(r.code, 2, "{ctx}");
            assert!(
                r.stdout.contains("nested more than 64 includes deep"),
                "{ctx}"
            );
        } else {
            assert_eq!(r.code, 0, "{ctx}");
        }
    }
}

#[test]
fn throttle_runs_the_task_on_one_host_at_a_time() {
    // each host takes a lock directory for a while: two at once collide
    let play = "
- hosts: all
  gather_facts: false
  tasks:
    - name: exclusive
      shell: mkdir lock && sleep 0.4 && rmdir lock
      args: {chdir: \"{{ playbook_dir }}\"}
      throttle: \"{{ one }}\"
      vars: {one: 1}
";
    let (_d, r) = run(&[("play.yml", play)], &[]);
    assert_eq!(r.code, 0, "{}", all_output(&r));
    assert_eq!(r.total("changed"), 3);
}

#[test]
fn timeout_fails_the_task_and_ends_its_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("pid");
    let play = format!(
        "
- hosts: h1
  gather_facts: false
  tasks:
    - name: slow
      shell: echo $$ > {}; exec sleep 30
      timeout: 1
      register: r
      ignore_errors: true
    - debug: {{msg: \"{{{{ r.msg }}}} {{{{ r.timedout.period }}}}\"}}
    - name: fails
      command: sleep 30
      timeout: 1
",
        pid_file.display()
    );
    let r = run_in(dir.path(), &[("play.yml", &play)], &[]);
    assert_eq!(r.code, 2, "{}", all_output(&r));
    assert_eq!(messages(&r), ["h1: timed out after 1 second(s) 1"]);
    assert_eq!(
        r.results_for("fails")[0]["msg"],
        "timed out after 1 second(s)"
    );
    let pid = std::fs::read_to_string(&pid_file).expect("pid");
    let proc_dir = Path::new("/proc").join(pid.trim());
    let deadline = Instant::now() + Duration::from_secs(10);
    while proc_dir.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!proc_dir.exists(), "the timed-out command still runs");
}

#[test]
fn mistyped_keywords_are_refused_up_front() {
    for (kv, col) in [
        ("ignore_errors: maybe", 7),
        ("retries: lots", 7),
        ("delay: soon", 7),
        ("timeout: forever", 7),
        ("throttle: x", 7),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let marker = dir.path().join("touched");
        let play = format!(
            "- hosts: h1\n  gather_facts: false\n  tasks:\n    - file: {{path: {}, state: touch}}\n    - name: t\n      command: 'true'\n      until: r is success\n      {kv}\n",
            marker.display()
        );
        let r = run_in(dir.path(), &[("play.yml", &play)], &[]);
        assert_eq!(r.code, 4, "{kv}: {}", all_output(&r));
        let key = kv.split(':').next().unwrap_or_default();
        assert!(
            r.stderr
                .contains(&format!("play.yml:8:{col}: '{key}' must be")),
            "{kv}: {}",
            r.stderr
        );
        assert!(!marker.exists(), "{kv}: a host was touched");
    }
    // templates are checked when the task runs
    let play = "- hosts: h1\n  gather_facts: false\n  vars: {lax: true, n: 1}\n  tasks:\n    - command: /bin/false\n      ignore_errors: \"{{ lax }}\"\n      retries: \"{{ n }}\"\n      delay: 0\n      until: false\n";
    let (_d, r) = run(&[("play.yml", play)], &[]);
    assert_eq!(r.code, 0, "{}", all_output(&r));
}

#[test]
fn missing_vars_files_are_named_with_the_play() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("touched");
    let tasks = format!(
        "  tasks:\n    - file: {{path: {}, state: touch}}\n",
        marker.display()
    );
    let play =
        format!("- hosts: all\n  gather_facts: false\n  vars_files: [vars/nope.yml]\n{tasks}");
    let r = run_in(dir.path(), &[("play.yml", &play)], &[]);
    assert_eq!(r.code, 4, "{}", all_output(&r));
    assert!(
        r.stderr
            .contains("play.yml:1:3: play 'all': vars_files 'vars/nope.yml' not found"),
        "{}",
        r.stderr
    );
    assert!(!marker.exists());

    // a templated path fails at run time, naming the play and the variable
    let play = format!(
        "- hosts: all\n  gather_facts: false\n  vars_files: [\"vars/{{{{ envname }}}}.yml\"]\n{tasks}"
    );
    let r = run_in(dir.path(), &[("play.yml", &play)], &[]);
    assert_eq!(r.code, 2, "{}", all_output(&r));
    let failed: Vec<Value> = r
        .events()
        .into_iter()
        .filter(|e| e["event"] == "host_result" && e["status"] == "failed")
        .collect();
    assert_eq!(failed.len(), 3, "{}", r.stdout);
    let msg = failed[0]["msg"].as_str().unwrap_or_default();
    assert!(
        msg.contains("play.yml:1:3: vars_files 'vars/{{ envname }}.yml'"),
        "{msg}"
    );
    assert!(msg.contains("envname"), "{msg}");
    assert!(!marker.exists());
}

#[test]
fn playbook_dir_is_absolute_and_follows_import_playbook() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("sub/sub")).expect("mkdir");
    let debug = |what: &str| {
        format!(
            "- hosts: h1\n  gather_facts: false\n  tasks:\n    - debug: {{msg: \"{what} {{{{ playbook_dir }}}}\"}}\n"
        )
    };
    let top = format!("{}- import_playbook: sub/inner.yml\n", debug("top"));
    std::fs::write(dir.path().join("inv.yml"), INVENTORY).expect("inventory");
    std::fs::write(dir.path().join("sub/play.yml"), top).expect("write");
    std::fs::write(dir.path().join("sub/sub/inner.yml"), debug("inner")).expect("write");
    // run from `sub` with a path that goes up and down again
    let r = super::fmc_in(
        &dir.path().join("sub"),
        &["-i", "../inv.yml", "../sub/./play.yml", "--output", "json"],
    );
    assert_eq!(r.code, 0, "{}", all_output(&r));
    let base = dir.path().join("sub");
    assert_eq!(
        messages(&r),
        [
            format!("h1: top {}", base.display()),
            format!("h1: inner {}", base.join("sub").display()),
        ]
    );
}

/// Kills the sshd listener with this pid and every process below it (the
/// per-connection sshd processes and their shells), all started by the test.
fn killer_script(pid: u32) -> String {
    format!(
        "all={pid}\ntodo={pid}\nwhile [ -n \"$todo\" ]; do\n  next=''\n  for p in $todo; do next=\"$next $(ps -o pid= --ppid \"$p\" || true)\"; done\n  todo=$(echo $next)\n  all=\"$all $todo\"\ndone\nkill -9 $all\n"
    )
}

#[test]
fn a_host_whose_sshd_dies_mid_play_is_unreachable_and_the_others_finish() {
    if !sshd::can_run() {
        return;
    }
    let fleet = sshd::Fleet::start(3);
    let inv = fleet.inventory("");
    // sshd -D writes its own pid (the listener the fleet started) to its PidFile
    let pid_file = fleet.path().join("sshd-h2/sshd.pid");
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .expect("sshd pid file")
        .trim()
        .parse()
        .expect("pid");
    let killer = fleet.path().join("kill-h2.sh");
    std::fs::write(&killer, killer_script(pid)).expect("killer");
    let pb = fleet.path().join("midplay.yml");
    std::fs::write(
        &pb,
        format!(
            "- hosts: web\n  gather_facts: false\n  tasks:\n    - name: before\n      file: {{path: \"{{{{ root }}}}/before\", state: touch}}\n    - name: kill h2's sshd\n      command: sh {}\n      delegate_to: localhost\n      run_once: true\n    - name: after\n      file: {{path: \"{{{{ root }}}}/after\", state: touch}}\n    - name: last\n      file: {{path: \"{{{{ root }}}}/last\", state: touch}}\n- hosts: web\n  gather_facts: false\n  tasks:\n    - name: next play\n      file: {{path: \"{{{{ root }}}}/next\", state: touch}}\n",
            killer.display()
        ),
    )
    .expect("playbook");
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
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    let recap = r.recap();
    assert_eq!(recap["h2"]["unreachable"], 1, "{recap}");
    assert_eq!(recap["h2"]["failed"], 0, "{recap}");
    let h2 = &fleet.hosts[1].root;
    assert!(h2.join("before").exists());
    for f in ["after", "last", "next"] {
        assert!(!h2.join(f).exists(), "h2 ran '{f}'");
    }
    for h in [&fleet.hosts[0], &fleet.hosts[2]] {
        for f in ["before", "after", "last", "next"] {
            assert!(h.root.join(f).exists(), "{} did not run '{f}'", h.name);
        }
        assert_eq!(recap[&h.name]["failed"], 0, "{recap}");
        assert_eq!(recap[&h.name]["unreachable"], 0, "{recap}");
    }
    // h2 shows up unreachable once, at the task after the kill
    let h2_unreachable: Vec<Value> = r
        .events()
        .into_iter()
        .filter(|e| {
            e["event"] == "host_result" && e["host"] == "h2" && e["status"] == "unreachable"
        })
        .collect();
    assert_eq!(h2_unreachable.len(), 1, "{}", r.stdout);
    assert_eq!(h2_unreachable[0]["task"], "after");
}

#[test]
fn a_timed_out_command_does_not_outlive_its_task_over_ssh() {
    if !sshd::can_run() {
        return;
    }
    let fleet = sshd::Fleet::start(1);
    let inv = fleet.inventory("");
    let pb = fleet.path().join("timeout.yml");
    std::fs::write(
        &pb,
        "- hosts: web\n  gather_facts: false\n  tasks:\n    - name: slow\n      shell: echo $$ > {{ root }}/pid; exec sleep 30\n      timeout: 1\n",
    )
    .expect("playbook");
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
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(
        r.results_for("slow")[0]["msg"],
        "timed out after 1 second(s)"
    );
    let pid = std::fs::read_to_string(fleet.hosts[0].root.join("pid")).expect("pid");
    let proc_dir = Path::new("/proc").join(pid.trim());
    let deadline = Instant::now() + Duration::from_secs(10);
    while proc_dir.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !proc_dir.exists(),
        "the timed-out command still runs on the host"
    );
}
