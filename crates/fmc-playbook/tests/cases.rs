//! Small playbooks written to a temporary directory, one feature each.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use fmc_playbook::*;
use serde_json::json;

/// Writes `files` (path, text) under a new temporary directory and loads `pb.yml`.
fn load(files: &[(&str, &str)]) -> (tempfile::TempDir, Result<Playbook, PlaybookError>) {
    let dir = tempfile::tempdir().unwrap();
    for (p, text) in files {
        let path = dir.path().join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let r = load_playbook(&dir.path().join("pb.yml"), &LoadOptions::default());
    (dir, r)
}

fn err(files: &[(&str, &str)]) -> String {
    let (dir, r) = load(files);
    let e = r.unwrap_err().to_string();
    e.replace(&dir.path().display().to_string(), "$DIR")
}

fn tasks(yaml: &str) -> Vec<Task> {
    let (_d, r) = load(&[("pb.yml", &format!("- hosts: all\n  tasks:\n{yaml}"))]);
    r.unwrap().plays.remove(0).tasks
}

fn args(t: &Task) -> (String, serde_json::Value) {
    match &t.action {
        TaskAction::Module { module, args } => (module.clone(), json!(args)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn role_dependency_cycle_is_an_error() {
    let e = err(&[
        ("pb.yml", "- hosts: all\n  roles: [a]\n"),
        ("roles/a/meta/main.yml", "dependencies: [b]\n"),
        ("roles/b/meta/main.yml", "dependencies:\n  - role: a\n"),
    ]);
    assert_eq!(
        e,
        "$DIR/roles/b/meta/main.yml:2:5: role dependency cycle: \
         $DIR/roles/a -> $DIR/roles/b -> $DIR/roles/a"
    );
}

#[test]
fn import_cycle_of_task_files_is_an_error() {
    let e = err(&[
        (
            "pb.yml",
            "- hosts: all\n  tasks:\n    - import_tasks: t.yml\n",
        ),
        ("t.yml", "- import_tasks: t.yml\n"),
    ]);
    assert!(e.starts_with("$DIR/t.yml:1:17: import cycle: "), "{e}");
}

#[test]
fn one_loop_per_task() {
    let e = err(&[(
        "pb.yml",
        "- hosts: all\n  tasks:\n    - debug: msg=x\n      loop: [1]\n      with_items: [2]\n",
    )]);
    assert_eq!(
        e,
        "$DIR/pb.yml:5:7: only one loop per task: 'loop' and 'with_items'"
    );
}

#[test]
fn with_loops_keep_their_kind() {
    let t = tasks("    - debug: var=item\n      with_dict: \"{{ d }}\"\n");
    let l = t[0].loop_spec.as_ref().unwrap();
    assert_eq!(
        (l.kind.clone(), l.items.clone()),
        (LoopKind::WithDict, json!("{{ d }}"))
    );
}

#[test]
fn action_forms() {
    let t = tasks(
        "    - action:\n        module: file\n        path: /x\n    - local_action: command echo hi chdir=/\n      run_once: true\n",
    );
    assert_eq!(args(&t[0]), ("file".into(), json!({"path": "/x"})));
    assert_eq!(
        args(&t[1]),
        (
            "command".into(),
            json!({"_raw_params": "echo hi", "chdir": "/"})
        )
    );
    assert_eq!(t[1].keywords.delegate_to.as_deref(), Some("localhost"));
    assert_eq!(t[1].keywords.run_once, Some(true));
    let e = err(&[(
        "pb.yml",
        "- hosts: all\n  tasks:\n    - local_action: ping\n      delegate_to: x\n",
    )]);
    assert_eq!(
        e,
        "$DIR/pb.yml:3:7: 'local_action' and 'delegate_to' cannot be used together"
    );
}

#[test]
fn loose_values() {
    let t = tasks(
        "    - shell: 42\n      tags: 7\n      notify: [a, b]\n      ignore_errors: \"{{ x }}\"\n      no_log: \"{{ y }}\"\n      changed_when: true\n      when: [a, b]\n",
    );
    assert_eq!(args(&t[0]).1, json!({"_raw_params": "42"}));
    assert_eq!(t[0].tags, ["7"]);
    assert_eq!(t[0].notify, ["a", "b"]);
    assert_eq!(t[0].keywords.ignore_errors, Some(json!("{{ x }}")));
    assert_eq!(t[0].keywords.no_log, Some(json!("{{ y }}")));
    assert_eq!(t[0].changed_when, Some(vec!["True".to_string()]));
    assert_eq!(t[0].when, ["a", "b"]);
    let t = tasks("    - ping:\n      name: ~\n");
    assert_eq!(t[0].name, None);
    assert_eq!(args(&t[0]).1, json!({}));
}

#[test]
fn keyword_precedence_task_over_block_over_role_over_play() {
    let (_d, r) = load(&[
        (
            "pb.yml",
            "- hosts: all\n  become_user: play\n  remote_user: play\n  connection: ssh\n  roles:\n    - role: r\n      remote_user: role\n",
        ),
        (
            "roles/r/tasks/main.yml",
            "- block:\n    - ping:\n      become_user: task\n  become_user: block\n  remote_user: block\n",
        ),
    ]);
    let pb = r.unwrap();
    let role = &pb.plays[0].roles[0].role;
    let TaskAction::Block { block, .. } = &role.tasks[0].action else {
        panic!()
    };
    let kw = &block[0].keywords;
    assert_eq!(kw.become_user.as_deref(), Some("task"));
    assert_eq!(kw.remote_user.as_deref(), Some("block"));
    assert_eq!(kw.connection.as_deref(), Some("ssh"));
    assert_eq!(role.tasks[0].keywords.remote_user.as_deref(), Some("block"));
}

#[test]
fn included_tasks_report_imported_role_handlers() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("roles/h/handlers")).unwrap();
    std::fs::write(d.join("roles/h/handlers/main.yml"), "- name: hh\n  ping:\n").unwrap();
    std::fs::write(d.join("inc.yml"), "- import_role: name=h\n").unwrap();
    let inc =
        load_included_tasks(&d.join("inc.yml"), &[], None, d, &LoadOptions::default()).unwrap();
    assert_eq!(inc.handlers[0].name.as_deref(), Some("hh"));
    assert_eq!(inc.handlers[0].tags, ["h"]);
    let TaskAction::Block { block, .. } = &inc.tasks[0].action else {
        panic!()
    };
    assert!(block.is_empty(), "role h has no tasks");
}

#[test]
fn include_role_rejects_unsupported_options_and_missing_name() {
    let e = err(&[(
        "pb.yml",
        "- hosts: all\n  tasks:\n    - include_role:\n        name: x\n        publc: true\n",
    )]);
    assert_eq!(
        e,
        "$DIR/pb.yml:4:9: include_role: unsupported option 'publc'"
    );
    // `apply` belongs to the dynamic includes only (Ansible rejects it on imports too)
    let e = err(&[
        (
            "pb.yml",
            "- hosts: all\n  tasks:\n    - import_tasks:\n        file: t.yml\n        apply: {tags: [a]}\n",
        ),
        ("t.yml", "- ping:\n"),
    ]);
    assert_eq!(
        e,
        "$DIR/pb.yml:4:9: import_tasks: unsupported option 'apply'"
    );
    let e = err(&[(
        "pb.yml",
        "- hosts: all\n  tasks:\n    - name: r\n      import_role: {tasks_from: x}\n",
    )]);
    assert_eq!(e, "$DIR/pb.yml:4:20: task 'r': import_role needs 'name'");
}

#[test]
fn tasks_from_missing_file_is_an_error() {
    let e = err(&[
        (
            "pb.yml",
            "- hosts: all\n  tasks:\n    - import_role: {name: r, tasks_from: nope}\n",
        ),
        ("roles/r/tasks/main.yml", "- ping:\n"),
    ]);
    assert_eq!(
        e,
        "$DIR/pb.yml:3:20: role 'r' has no tasks file 'nope' in $DIR/roles/r/tasks"
    );
}

#[test]
fn vars_files_must_be_mappings() {
    let e = err(&[
        ("pb.yml", "- hosts: all\n  roles: [r]\n"),
        ("roles/r/defaults/main.yml", "- a\n- b\n"),
    ]);
    assert_eq!(
        e,
        "$DIR/roles/r/defaults/main.yml:1:1: a variables file must be a mapping"
    );
}

#[test]
fn empty_files_are_empty() {
    let (_d, r) = load(&[("pb.yml", "# nothing yet\n")]);
    assert!(r.unwrap().plays.is_empty());
    let (_d, r) = load(&[
        ("pb.yml", "- hosts: all\n  roles: [r]\n  tasks:\n"),
        ("roles/r/tasks/main.yml", ""),
        ("roles/r/meta/main.yml", "---\n"),
    ]);
    let pb = r.unwrap();
    assert!(pb.plays[0].tasks.is_empty());
    assert!(pb.plays[0].roles[0].role.tasks.is_empty());
    assert!(Path::new(&*pb.plays[0].span.file).ends_with("pb.yml"));
}

#[test]
fn include_and_import_tasks_take_a_file_mapping() {
    let (_d, r) = load(&[
        (
            "pb.yml",
            "- hosts: all\n  tasks:\n    - include_tasks: {file: \"{{ x }}.yml\"}\n    - ansible.builtin.import_tasks:\n        file: t.yml\n      when: z\n",
        ),
        ("t.yml", "- name: t\n  ping:\n"),
    ]);
    let tasks = r.unwrap().plays.remove(0).tasks;
    assert!(
        matches!(&tasks[0].action, TaskAction::IncludeTasks { file, .. } if file == "{{ x }}.yml")
    );
    assert_eq!(tasks[1].when, ["z"]);
    let TaskAction::Block { block, .. } = &tasks[1].action else {
        panic!()
    };
    assert_eq!(block[0].name.as_deref(), Some("t"));
    assert!(block[0].when.is_empty());
}

#[test]
fn count_and_flag_keywords_take_values_or_templates() {
    let t = tasks(
        "    - ping:\n      until: r is success\n      retries: \"{{ n }}\"\n      delay: 0.5\n      timeout: '10'\n      throttle: 2\n      ignore_errors: \"{{ lax }}\"\n      no_log: yes\n",
    );
    assert_eq!(t[0].retries, Some(json!("{{ n }}")));
    assert_eq!(t[0].delay, Some(json!(0.5)));
    assert_eq!(t[0].keywords.timeout, Some(json!("10")));
    assert_eq!(t[0].keywords.throttle, Some(json!(2)));
    assert_eq!(t[0].keywords.ignore_errors, Some(json!("{{ lax }}")));
    assert_eq!(t[0].keywords.no_log, Some(json!(true)));
    // a block passes throttle and timeout down to its tasks
    let t = tasks("    - throttle: 1\n      timeout: 3\n      block:\n        - ping:\n");
    let TaskAction::Block { block, .. } = &t[0].action else {
        panic!("{:?}", t[0].action)
    };
    assert_eq!(block[0].keywords.throttle, Some(json!(1)));
    assert_eq!(block[0].keywords.timeout, Some(json!(3)));
    // a bare word is neither a boolean nor a template
    let e = err(&[(
        "pb.yml",
        "- hosts: all\n  tasks:\n    - ping:\n      no_log: sometimes\n",
    )]);
    assert_eq!(
        e,
        "$DIR/pb.yml:4:7: 'no_log' must be a boolean (yes/no, true/false), got \"sometimes\""
    );
}

#[test]
fn apply_on_includes_is_parsed_with_spans() {
    let t = tasks(
        "    - include_tasks:\n        file: t.yml\n        apply:\n          tags: [a, b]\n          become: yes\n          when: x is defined\n          environment: {FOO: bar}\n          vars: {v: 1}\n    - include_role:\n        name: r\n      args:\n        apply: {tags: c}\n    - include_tasks: t.yml\n",
    );
    let TaskAction::IncludeTasks { apply: Some(a), .. } = &t[0].action else {
        panic!("{:?}", t[0].action)
    };
    assert_eq!(a.tags, ["a", "b"]);
    assert_eq!(a.when, ["x is defined"]);
    assert_eq!(a.keywords.r#become, Some(true));
    assert_eq!(a.keywords.environment, Some(json!({"FOO": "bar"})));
    assert_eq!(json!(a.vars), json!({"v": 1}));
    // the include's own keywords stay its own
    assert!(t[0].tags.is_empty() && t[0].keywords.r#become.is_none());
    let TaskAction::IncludeRole { apply: Some(a), .. } = &t[1].action else {
        panic!("{:?}", t[1].action)
    };
    assert_eq!(a.tags, ["c"]);
    assert!(matches!(
        &t[2].action,
        TaskAction::IncludeTasks { apply: None, .. }
    ));

    let e = err(&[(
        "pb.yml",
        "- hosts: all\n  tasks:\n    - include_tasks:\n        file: t.yml\n        apply:\n          tag: [a]\n",
    )]);
    assert_eq!(
        e,
        "$DIR/pb.yml:6:11: unknown 'apply' keyword 'tag' (did you mean 'tags'?)"
    );
    let e = err(&[(
        "pb.yml",
        "- hosts: all\n  tasks:\n    - include_tasks:\n        file: t.yml\n        apply: [tags]\n",
    )]);
    assert!(e.contains("'apply' must be a mapping of keywords"), "{e}");
}

#[test]
fn apply_to_included_tasks() {
    let mut t = tasks(
        "    - name: own\n      ping:\n      become: false\n      when: own\n      vars: {v: 2}\n    - block:\n        - name: inner\n          ping:\n",
    );
    let apply = Apply {
        tags: vec!["a".into()],
        when: vec!["outer".into()],
        vars: json!({"v": 1, "w": 1}).as_object().unwrap().clone(),
        keywords: TaskDefaults {
            r#become: Some(true),
            ..TaskDefaults::default()
        },
    };
    apply_to_included(&mut t, &apply);
    assert_eq!(t[0].when, ["outer", "own"]);
    assert_eq!(t[0].tags, ["a"]);
    assert_eq!(t[0].keywords.r#become, Some(false));
    assert_eq!(json!(t[0].vars), json!({"v": 2, "w": 1}));
    let TaskAction::Block { block, .. } = &t[1].action else {
        panic!()
    };
    assert_eq!(block[0].when, ["outer"]);
    assert_eq!(block[0].tags, ["a"]);
    assert_eq!(block[0].keywords.r#become, Some(true));
}
