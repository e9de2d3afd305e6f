//! Ansible compatibility on local hosts (`ansible_connection=local`): chained undefined
//! in `default`/`is defined`, `--start-at-task` across playbooks, subscripts of empty
//! groups, `apply:` on includes, `timeout` per loop item.

use std::path::Path;

use serde_json::Value;

const INVENTORY: &str = "[web]\nw1 ansible_connection=local\nw2 ansible_connection=local\n[empty]\n[db]\nd1 ansible_connection=local\n";

struct Out {
    code: i32,
    events: Vec<Value>,
    text: String,
}

impl Out {
    /// `(task, status, msg)` of every host result, in order.
    fn results(&self) -> Vec<(String, String, String)> {
        self.events
            .iter()
            .filter(|e| e["event"] == "host_result")
            .map(|e| {
                let msg = match (&e["result"]["msg"], &e["msg"]) {
                    (Value::String(s), _) | (Value::Null, Value::String(s)) => s.clone(),
                    (Value::Null, _) => String::new(),
                    (v, _) => v.to_string(),
                };
                (
                    e["task"].as_str().unwrap_or_default().to_string(),
                    e["status"].as_str().unwrap_or_default().to_string(),
                    msg,
                )
            })
            .collect()
    }
    /// Names of the tasks that ran (not skipped) on any host.
    fn ran(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .results()
            .into_iter()
            .filter(|(_, s, _)| s != "skipped")
            .map(|(t, _, _)| t)
            .collect();
        v.dedup();
        v
    }
}

fn run(dir: &Path, files: &[(&str, &str)], args: &[&str]) -> Out {
    super::write_tree(dir, files);
    std::fs::write(dir.join("inv.ini"), INVENTORY).expect("inventory");
    let mut all = vec!["-i", "inv.ini", "--output", "json"];
    all.extend_from_slice(args);
    let r = super::fmc_in(dir, &all);
    Out {
        code: r.code,
        events: r.events(),
        text: format!("{}{}", r.stdout, r.stderr),
    }
}

#[test]
fn default_and_defined_catch_undefined_anywhere_in_a_chain() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let play = r#"
- hosts: localhost
  gather_facts: false
  vars:
    a: {x: 1}
  tasks:
    - name: d1
      debug: {msg: "{{ a.b.c | default('x') }}"}
    - name: d2
      debug: {msg: "{{ z.b.c | default('x') }}"}
    - name: d3
      debug: {msg: "{{ a['b']['c'] | default('x') }}"}
    - name: d4
      debug: {msg: "{{ a.b.c is defined }} {{ a.b.c is undefined }}"}
    - name: d5
      debug: {msg: "{{ (a.b.c | default({})).d | default(1) }}"}
    - name: when defined
      debug: {msg: no}
      when: a.b.c is defined
    - name: when default
      debug: {msg: no}
      when: a.b.c | default(false)
    - name: when not defined
      debug: {msg: fine}
      when: not a.b.c is defined
    - name: plain use
      debug: {msg: "{{ a.b.c }}"}
"#;
    let r = run(tmp.path(), &[("play.yml", play)], &["play.yml"]);
    assert_eq!(r.code, 2, "{}", r.text);
    let got = r.results();
    let want = [
        ("d1", "ok", "x"),
        ("d2", "ok", "x"),
        ("d3", "ok", "x"),
        ("d4", "ok", "False True"),
        ("d5", "ok", "1"),
        ("when defined", "skipped", ""),
        ("when default", "skipped", ""),
        ("when not defined", "ok", "fine"),
    ];
    for ((task, status, msg), (t, s, m)) in got.iter().zip(want) {
        assert_eq!((task.as_str(), status.as_str()), (t, s), "{}", r.text);
        if s == "ok" {
            assert_eq!(msg, m, "{t}: {}", r.text);
        }
    }
    let (task, status, msg) = &got[8];
    assert_eq!((task.as_str(), status.as_str()), ("plain use", "failed"));
    assert!(msg.contains("'a.b' is undefined"), "{msg}");
}

fn playbook(prefix: &str) -> String {
    format!(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - name: {prefix}a\n      debug: {{msg: {prefix}a}}\n    - name: {prefix}b\n      debug: {{msg: {prefix}b}}\n"
    )
}

#[test]
fn start_at_task_carries_across_playbooks() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (p1, p2, p3) = (playbook("p1"), playbook("p2"), playbook("p3"));
    let files = [
        ("pb1.yml", p1.as_str()),
        ("pb2.yml", p2.as_str()),
        ("pb3.yml", p3.as_str()),
        (
            "imp.yml",
            "- import_playbook: pb1.yml\n- import_playbook: pb2.yml\n",
        ),
    ];
    let cases: [(&[&str], &str, &[&str]); 3] = [
        (
            &["pb1.yml", "pb2.yml", "pb3.yml"],
            "p1b",
            &["p1b", "p2a", "p2b", "p3a", "p3b"],
        ),
        (
            &["pb1.yml", "pb2.yml", "pb3.yml"],
            "p2b",
            &["p2b", "p3a", "p3b"],
        ),
        (
            &["imp.yml", "pb3.yml"],
            "p1b",
            &["p1b", "p2a", "p2b", "p3a", "p3b"],
        ),
    ];
    for (playbooks, start, want) in cases {
        let mut args = playbooks.to_vec();
        args.extend(["--start-at-task", start]);
        let r = run(tmp.path(), &files, &args);
        assert_eq!(r.code, 0, "{}", r.text);
        assert_eq!(r.ran(), want, "{args:?}: {}", r.text);
    }
}

#[test]
fn subscripts_of_empty_or_missing_groups_match_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for (pattern, hosts) in [
        ("empty[0]", &[][..]),
        ("missing[0]", &[][..]),
        ("db[1:]", &[][..]),
        ("web[1:]", &["w2"][..]),
        ("web[-1]", &["w2"][..]),
    ] {
        let play = format!(
            "- hosts: \"{pattern}\"\n  gather_facts: false\n  tasks:\n    - name: first\n      debug: {{msg: hi}}\n- hosts: localhost\n  gather_facts: false\n  tasks:\n    - name: second\n      debug: {{msg: hi}}\n"
        );
        let r = run(tmp.path(), &[("play.yml", &play)], &["play.yml"]);
        assert_eq!(r.code, 0, "{pattern}: {}", r.text);
        let first: Vec<&Value> = r
            .events
            .iter()
            .filter(|e| e["event"] == "host_result" && e["task"] == "first")
            .map(|e| &e["host"])
            .collect();
        assert_eq!(first, hosts, "{pattern}: {}", r.text);
        assert_eq!(r.results_for_second(), 1, "{pattern}: {}", r.text);
        if hosts.is_empty() {
            assert!(r.text.contains("no hosts matched"), "{pattern}: {}", r.text);
        }
    }
    // past the end of a group that has hosts: bad input (Ansible errors too), found
    // before any host is touched
    let marker = tmp.path().join("touched");
    let play = format!(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - file: {{path: {}, state: touch}}\n- hosts: web[5]\n  tasks:\n    - debug: {{msg: hi}}\n",
        marker.display()
    );
    let r = run(tmp.path(), &[("play.yml", &play)], &["play.yml"]);
    assert_eq!(r.code, 4, "{}", r.text);
    assert!(
        r.text
            .contains("play.yml:5:3: hosts: invalid host pattern \"web[5]\""),
        "{}",
        r.text
    );
    assert!(!marker.exists());
}

impl Out {
    fn results_for_second(&self) -> usize {
        self.results()
            .iter()
            .filter(|(t, _, _)| t == "second")
            .count()
    }
}

#[test]
fn apply_gives_included_tasks_keywords() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let inc = "- name: env\n  command: printenv FOO\n  register: r\n  changed_when: false\n- name: show\n  debug: {msg: \"{{ r.stdout }} {{ v1 }}\"}\n- name: flip\n  set_fact: {flag: true}\n- name: after flip\n  debug: {msg: after}\n";
    let play = r#"
- hosts: localhost
  gather_facts: false
  vars:
    flag: false
  tasks:
    - name: with apply
      include_tasks:
        file: inc.yml
        apply:
          tags: [tx]
          environment: {FOO: from_apply}
          when: not flag
          vars: {v1: one}
      tags: [always]
    - name: role with apply
      include_role:
        name: r1
        apply:
          tags: [ty]
          environment: {FOO: role_apply}
          vars: {v1: two}
      tags: [always]
"#;
    let files = [
        ("play.yml", play),
        ("inc.yml", inc),
        ("roles/r1/tasks/main.yml", inc),
    ];
    let r = run(tmp.path(), &files, &["play.yml"]);
    assert_eq!(r.code, 0, "{}", r.text);
    let shown: Vec<(String, String)> = r
        .results()
        .into_iter()
        .filter(|(t, _, _)| t.ends_with("show") || t.ends_with("after flip"))
        .map(|(t, s, m)| (t, if s == "skipped" { s } else { m }))
        .collect();
    let want = [
        ("show", "from_apply one"),
        ("after flip", "skipped"),
        ("r1 : show", "role_apply two"),
        ("r1 : after flip", "after"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(shown, want, "{}", r.text);
    // --tags selects the included tasks by their `apply` tags
    let r = run(tmp.path(), &files, &["play.yml", "--tags", "tx"]);
    assert_eq!(r.code, 0, "{}", r.text);
    assert_eq!(r.ran(), ["env", "show", "flip"], "{}", r.text);
}

#[test]
fn timeout_bounds_each_loop_item_and_attempt() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let play = r#"
- hosts: localhost
  gather_facts: false
  tasks:
    - name: items
      command: sleep 1.2
      loop: [1, 2, 3]
      timeout: 2
    - name: attempts
      command: sleep 1.2
      register: r
      until: r.attempts >= 2
      retries: 2
      delay: 0
      timeout: 2
    - name: one slow item
      command: "sleep {{ item }}"
      loop: [0, 5, 0]
      timeout: 2
      ignore_errors: true
"#;
    let r = run(tmp.path(), &[("play.yml", play)], &["play.yml"]);
    assert_eq!(r.code, 0, "{}", r.text);
    let slow: Vec<(String, String)> = r
        .results()
        .into_iter()
        .filter(|(t, _, _)| t == "one slow item")
        .map(|(_, s, m)| (s, m))
        .collect();
    assert_eq!(slow.len(), 3, "one result per item: {}", r.text);
    assert_eq!(slow[0].0, "changed");
    assert_eq!(
        (slow[1].0.as_str(), slow[1].1.as_str()),
        ("failed", "timed out after 2 second(s)")
    );
    assert_eq!(slow[2].0, "changed");
    let items: Vec<String> = r
        .results()
        .into_iter()
        .filter(|(t, _, _)| t == "items" || t == "attempts")
        .map(|(_, s, _)| s)
        .collect();
    assert!(items.iter().all(|s| s == "changed"), "{items:?} {}", r.text);
}
