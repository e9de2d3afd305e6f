//! Task execution on the controller (`connection: local`): `with_fileglob` and
//! `with_first_found` searches, connection variables that fail to template, the
//! location in run-time error messages, inventory warnings.

use std::path::Path;

use serde_json::Value;

use super::write_tree as tree;

/// Runs `fmc-run <args> play.yml --output json` in `dir`: exit code, stdout+stderr.
fn run(dir: &Path, args: &[&str]) -> (i32, String) {
    let mut all = args.to_vec();
    all.extend(["play.yml", "--output", "json"]);
    let r = super::fmc_in(dir, &all);
    (r.code, format!("{}{}", r.stdout, r.stderr))
}

/// The `host_result` events of task `task`.
fn results<'a>(out: &'a str, task: &'a str) -> impl Iterator<Item = Value> + 'a {
    out.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(move |v| v["event"] == "host_result" && v["task"] == task)
}

/// The message of the only result of `task` on `host`.
fn msg_of(out: &str, task: &str, host: &str) -> String {
    let r: Vec<Value> = results(out, task).filter(|v| v["host"] == host).collect();
    assert_eq!(r.len(), 1, "one result of {task} on {host}: {out}");
    r[0]["msg"].as_str().unwrap_or_default().to_string()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn with_fileglob_and_with_first_found_search_the_role_like_ansible() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let out = d.join("out");
    tree(
        d,
        &[
            ("roles/r1/files/a.txt", "a\n"),
            ("roles/r1/files/b.txt", "b\n"),
            ("roles/r1/vars/v.yml", "picked: from-role-vars\n"),
            // include_vars looks in vars/, not files/
            ("roles/r1/files/v.yml", "picked: from-role-files\n"),
            ("roles/r1/templates/t.j2", "t={{ picked }}\n"),
            ("other/o.yml", "o: 1\n"),
            ("files/pb.txt", "pb\n"),
            (
                "roles/r1/tasks/main.yml",
                "- name: glob\n  copy: {content: \"{{ item }}\", dest: \"{{ out }}/{{ item | basename }}\"}\n  with_fileglob: ['*.txt']\n\
                 - name: vars\n  include_vars: \"{{ item }}\"\n  with_first_found: [\"{{ not_defined }}.yml\", missing.yml, v.yml]\n\
                 - name: template\n  template: {src: \"{{ item }}\", dest: \"{{ out }}/t\"}\n  with_first_found: [t.j2]\n\
                 - name: dict form\n  copy: {content: \"{{ item }}\", dest: \"{{ out }}/dict\"}\n  with_first_found:\n    - files: [nope.yml, o.yml]\n      paths: [other]\n\
                 - name: skip\n  copy: {content: never, dest: \"{{ out }}/never\"}\n  with_first_found:\n    - files: [nope.yml]\n      skip: true\n\
                 - name: playbook files\n  copy: {content: \"{{ item }}\", dest: \"{{ out }}/pb\"}\n  with_first_found: [pb.txt]\n",
            ),
        ],
    );
    std::fs::create_dir_all(&out).expect("out");
    let play = format!(
        "- hosts: localhost\n  gather_facts: false\n  vars: {{out: {}}}\n  roles: [r1]\n",
        out.display()
    );
    std::fs::write(d.join("play.yml"), play).expect("play");
    let (code, text) = run(d, &[]);
    assert_eq!(code, 0, "{text}");
    let abs = |p: &str| d.join(p).display().to_string();
    // items are absolute paths in the role's files/
    assert_eq!(read(&out.join("a.txt")), abs("roles/r1/files/a.txt"));
    assert_eq!(read(&out.join("b.txt")), abs("roles/r1/files/b.txt"));
    // include_vars searched vars/ (the undefined term was dropped), template templates/
    assert_eq!(read(&out.join("t")), "t=from-role-vars\n");
    assert_eq!(read(&out.join("dict")), abs("other/o.yml"));
    assert!(!out.join("never").exists());
    let skip: Vec<Value> = results(&text, "r1 : skip").collect();
    assert!(
        !skip.is_empty() && skip.iter().all(|v| v["status"] == "skipped"),
        "{text}"
    );
    assert_eq!(read(&out.join("pb")), abs("files/pb.txt"));
}

#[test]
fn with_first_found_without_a_file_names_the_task_and_the_candidates() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    std::fs::write(
        d.join("play.yml"),
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - name: none found\n      debug: {msg: \"{{ item }}\"}\n      with_first_found: [a.yml, b.yml]\n",
    )
    .expect("play");
    let (code, text) = run(d, &[]);
    assert_eq!(code, 2, "{text}");
    let msg = msg_of(&text, "none found", "localhost");
    assert!(
        msg.starts_with("play.yml:4:7: task 'none found': loop: with_first_found: no file was found; tried 'a.yml', 'b.yml' in "),
        "{msg}"
    );
}

#[test]
fn a_connection_variable_that_fails_to_template_fails_the_host() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    tree(
        d,
        &[
            (
                "inv.yml",
                "all:\n  hosts:\n    h1:\n      ansible_connection: local\n      ansible_user: \"{{ nope_user }}\"\n    h2:\n      ansible_connection: local\n",
            ),
            (
                "play.yml",
                "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: skipped\n      command: \"true\"\n      when: false\n    - name: first\n      debug: {msg: hi}\n    - name: second\n      command: \"true\"\n",
            ),
        ],
    );
    let (code, text) = run(d, &["-i", "inv.yml"]);
    assert_eq!(code, 2, "{text}");
    // a task whose `when` is false does not template them (as in Ansible)
    assert!(
        results(&text, "skipped").all(|v| v["status"] == "skipped"),
        "{text}"
    );
    let msg = msg_of(&text, "first", "h1");
    assert!(
        msg.starts_with("play.yml:7:7: task 'first': connection variable 'ansible_user': 'nope_user' is undefined"),
        "{msg}"
    );
    assert_eq!(
        results(&text, "second")
            .filter(|v| v["host"] == "h1")
            .count(),
        0
    );
    assert_eq!(msg_of(&text, "second", "h2"), "");
}

#[test]
fn run_time_input_errors_name_the_task_and_the_path() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let play = "- hosts: localhost\n  gather_facts: false\n  tasks:\n\
        \x20   - name: vars file\n      include_vars: nope.yml\n      ignore_errors: true\n\
        \x20   - name: copy src\n      copy: {src: nope.txt, dest: /nonexistent/x}\n      ignore_errors: true\n\
        \x20   - name: template src\n      template: {src: nope.j2, dest: /nonexistent/x}\n      ignore_errors: true\n\
        \x20   - name: template syntax\n      template: {src: bad.j2, dest: /nonexistent/x}\n      ignore_errors: true\n\
        \x20   - name: lookup file\n      debug: {msg: \"{{ lookup('file', 'nope.txt') }}\"}\n      ignore_errors: true\n";
    tree(
        d,
        &[
            ("templates/bad.j2", "line1\n{% if x %}\nbad {{ \n"),
            ("play.yml", play),
        ],
    );
    let (code, text) = run(d, &[]);
    assert_eq!(code, 0, "{text}");
    let abs = |p: &str| d.join(p).display().to_string();
    let cases = [
        ("vars file", "play.yml:4:7", "'nope.yml'", abs("vars")),
        ("copy src", "play.yml:7:7", "'nope.txt'", abs("files")),
        (
            "template src",
            "play.yml:10:7",
            "'nope.j2'",
            abs("templates"),
        ),
        (
            "template syntax",
            "play.yml:13:7",
            "templates/bad.j2:3: template syntax error",
            String::new(),
        ),
        (
            "lookup file",
            "play.yml:16:7",
            "'nope.txt'",
            d.display().to_string(),
        ),
    ];
    for (task, at, what, searched) in cases {
        let msg = msg_of(&text, task, "localhost");
        assert!(
            msg.starts_with(&format!("{at}: task '{task}': ")),
            "{task}: {msg}"
        );
        assert!(msg.contains(what), "{task}: {msg}");
        assert!(msg.contains(&searched), "{task}: {msg}");
    }
}

#[test]
fn ungrouped_hosts_and_shadowed_group_vars_files() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    tree(
        d,
        &[
            (
                "inv/hosts",
                "h1 ansible_connection=local\n[web]\nw1 ansible_connection=local\n",
            ),
            ("inv/group_vars/all/main.yml", "from_dir: d\n"),
            ("inv/group_vars/all.yml", "from_file: f\n"),
            (
                "play.yml",
                "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: show\n      debug: {msg: \"{{ group_names }} {{ groups['ungrouped'] }} {{ from_dir }} {{ from_file | default('-') }}\"}\n",
            ),
        ],
    );
    let (code, text) = run(d, &["-i", "inv/hosts"]);
    assert_eq!(code, 0, "{text}");
    let msg = |host: &str| {
        results(&text, "show")
            .find(|v| v["host"] == host)
            .map(|v| v["result"]["msg"].clone())
            .unwrap_or_default()
    };
    assert_eq!(msg("h1"), "['ungrouped'] ['h1'] d -", "{text}");
    assert_eq!(msg("w1"), "['web'] ['h1'] d -", "{text}");
    assert!(
        text.contains(&format!(
            "{0}/group_vars/all.yml is ignored: {0}/group_vars/all/ exists and wins, as in Ansible; move the file into the directory",
            Path::new("inv").display()
        )),
        "{text}"
    );
}
