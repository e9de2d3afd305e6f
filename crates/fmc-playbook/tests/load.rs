//! Loading the fixture site playbook: imports, roles, blocks, inheritance, args.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use fmc_playbook::*;
use serde_json::json;

const SITE: &str = "tests/fixtures/site/site.yml";

fn site() -> Playbook {
    load_playbook(Path::new(SITE), &LoadOptions::default()).unwrap()
}

use fmc_playbook::flatten_tasks as walk;

fn find<'a>(tasks: &'a [Task], name: &str) -> &'a Task {
    walk(tasks)
        .into_iter()
        .find(|t| t.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no task {name}"))
}

fn module(t: &Task) -> (&str, serde_json::Value) {
    match &t.action {
        TaskAction::Module { module, args } => (module, serde_json::Value::Object(args.clone())),
        other => panic!("not a module: {other:?}"),
    }
}

#[test]
fn import_playbook_expands_in_place_with_tags_vars_when() {
    let pb = site();
    assert_eq!(pb.plays.len(), 2);
    let web = &pb.plays[0];
    assert_eq!(web.hosts, "web");
    assert_eq!(web.name, "web");
    assert!(web.span.file.ends_with("plays/web.yml"));
    assert_eq!((web.span.line, web.span.col), (1, 3));
    // import vars win over the play's own; the import's tags are inherited.
    assert_eq!(web.vars["tier"], json!("frontend"));
    assert_eq!(web.vars["other"], json!(1));
    assert_eq!(web.tags, ["web", "nginx"]);
    let t = find(&web.tasks, "web task");
    assert_eq!(t.when, ["deploy_web | bool"]);
    assert_eq!(t.tags, ["web", "nginx"]);
    assert_eq!(web.roles[0].when, ["deploy_web | bool"]);
    assert_eq!(web.roles[0].vars["listen_port"], json!(80));
}

#[test]
fn play_keywords() {
    let play = &site().plays[1];
    assert_eq!(play.name, "base setup");
    assert_eq!(play.hosts, "servers,!db");
    assert_eq!(play.serial, [Serial::Count(1), Serial::Percent(30.0)]);
    assert!(!play.gather_facts);
    assert_eq!(play.max_fail_percentage, Some(20.0));
    assert_eq!(play.defaults.r#become, Some(true));
    assert_eq!(play.vars_files, ["vars/common.yml"]);
    assert_eq!(play.tags, ["setup"]);
    assert!(play.base_dir.ends_with("fixtures/site"));
}

#[test]
fn roles_with_defaults_vars_meta_dependencies() {
    let play = &site().plays[1];
    let base = &play.roles[0];
    assert_eq!(base.role.name, "base");
    assert_eq!(base.role.defaults["base_mode"], json!(0o644));
    assert_eq!(base.role.vars["base_internal"], json!(true));
    assert!(base.role.allow_duplicates);
    let dep = &base.role.dependencies[0];
    assert_eq!(dep.role.name, "common");
    assert_eq!(dep.vars["common_flag"], json!(true));
    // defaults/main/ directory: files merged in name order.
    assert_eq!(dep.role.defaults["common_a"], json!(1));
    assert_eq!(dep.role.defaults["common_b"], json!(2));
    // The dependency inherits the parent role's tags.
    assert_eq!(dep.role.tasks[0].tags, ["setup", "base", "common"]);

    let t = &base.role.tasks[0];
    assert_eq!(t.name.as_deref(), Some("install {{ base_pkg }}"));
    let r = t.role.as_ref().unwrap();
    assert_eq!(r.name, "base");
    assert_eq!(r.defaults["base_pkg"], json!("vim"));
    assert_eq!(t.tags, ["setup", "base"]);
    assert_eq!(t.keywords.r#become, Some(true));
    assert_eq!(
        base.role.handlers[0].name.as_deref(),
        Some("base restarted")
    );

    let common = &play.roles[1];
    assert_eq!(common.tags, ["common"]);
    assert_eq!(common.when, ["ansible_os_family == \"RedHat\""]);
    assert_eq!(common.vars["port"], json!(8080));
    let ct = &common.role.tasks[0];
    assert_eq!(ct.tags, ["setup", "common"]);
    assert_eq!(ct.keywords.become_user.as_deref(), Some("admin"));
    assert_eq!(ct.keywords.r#become, Some(true));
    assert_eq!(ct.span.line, 1);
    assert!(ct.span.file.ends_with("common/tasks/main.yaml"));
}

#[test]
fn free_form_and_key_value_args() {
    let play = &site().plays[1];
    let (m, args) = module(find(&play.pre_tasks, "free-form command"));
    assert_eq!(m, "command");
    // Inline chdir wins over args:, other args: keys are merged.
    assert_eq!(
        args,
        json!({"chdir": "/tmp", "creates": "/tmp/x", "_raw_params": "echo  \"a  b\"", "stdin": "data"})
    );
    let t = find(&play.tasks, "key=value args");
    assert_eq!(
        module(t).1,
        json!({"path": "/etc/x", "state": "touch", "mode": "0644"})
    );
    assert_eq!(t.notify, ["restart things"]);
    assert_eq!(t.register.as_deref(), Some("touched"));
    assert_eq!(t.tags, ["setup", "one", "two"]);
    let (m, args) = module(find(&play.tasks, "inside"));
    assert_eq!(m, "ansible.builtin.debug");
    assert_eq!(args, json!({"msg": "hi there"}));
    let (_, args) = module(find(&play.tasks, "from common"));
    assert_eq!(
        args,
        json!({"_raw_params": "set -e\necho \"it's multi-line\""})
    );
}

#[test]
fn blocks_inherit_tags_and_keywords() {
    let play = &site().plays[1];
    let block = find(&play.tasks, "a block");
    assert_eq!(block.when, ["greeting is defined"]);
    let TaskAction::Block {
        block: inner,
        rescue,
        always,
    } = &block.action
    else {
        panic!("not a block")
    };
    assert_eq!(inner.len(), 2);
    let inside = &inner[0];
    assert!(inside.when.is_empty(), "block's when stays on the block");
    assert_eq!(inside.tags, ["setup", "blk"]);
    assert_eq!(inside.keywords.become_user.as_deref(), Some("blockuser"));
    assert_eq!(inside.keywords.r#become, Some(true));
    let l = inside.loop_spec.as_ref().unwrap();
    assert_eq!(l.kind, LoopKind::Loop);
    assert_eq!(l.items, json!("{{ users }}"));
    assert_eq!(inside.loop_control.loop_var, "user");
    assert_eq!(
        inside.loop_control.label.as_deref(),
        Some("{{ user.name }}")
    );
    assert!(matches!(&rescue[0].action, TaskAction::Meta(m) if m == "flush_handlers"));
    let (m, args) = module(&always[0]);
    assert_eq!((m, args), ("shell", json!({"_raw_params": "echo done"})));
    assert_eq!(always[0].keywords.delegate_to.as_deref(), Some("localhost"));
}

#[test]
fn import_tasks_is_a_block_with_the_import_keywords() {
    let play = &site().plays[1];
    let nested = find(&play.tasks, "nested task");
    assert_eq!(nested.tags, ["setup", "blk", "imported"]);
    assert_eq!(nested.keywords.r#become, Some(false));
    assert_eq!(nested.keywords.become_user.as_deref(), Some("blockuser"));
    assert!(nested.span.file.ends_with("tasks/nested.yml"));
    assert_eq!((nested.span.line, nested.span.col), (1, 3));
}

#[test]
fn includes_stay_dynamic_and_import_role_registers_handlers() {
    let play = &site().plays[1];
    let inc = walk(&play.tasks)
        .into_iter()
        .find_map(|t| match &t.action {
            TaskAction::IncludeTasks { file, base_dir, .. } => {
                Some((file.clone(), base_dir.clone()))
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(inc.0, "tasks/{{ kind }}.yml");
    assert!(inc.1.ends_with("fixtures/site"));
    let role = walk(&play.tasks)
        .into_iter()
        .find_map(|t| match &t.action {
            TaskAction::IncludeRole {
                name, tasks_from, ..
            } => Some((name.clone(), tasks_from.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(role, ("helper".to_string(), Some("extra".to_string())));

    let helper = find(&play.tasks, "helper main");
    assert_eq!(helper.tags, ["setup", "helper"]);
    assert_eq!(helper.role.as_ref().unwrap().name, "helper");
    let names: Vec<_> = play
        .handlers
        .iter()
        .map(|h| h.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["restart things", "helper handler"]);
    assert_eq!(play.handlers[0].listen, ["restart all"]);
    // A role's own import_role handlers stay with that role.
    let web = &site().plays[0].roles[0].role;
    assert_eq!(web.handlers.len(), 2);
}

#[test]
fn action_keyword_and_conditions() {
    let play = &site().plays[1];
    let t = play.tasks.last().unwrap();
    assert_eq!(module(t), ("copy", json!({"src": "a", "dest": "/b"})));
    assert_eq!(t.failed_when, Some(vec!["False".to_string()]));
    assert_eq!(
        t.changed_when,
        Some(vec!["out.rc != 0".to_string(), "out.stdout".to_string()])
    );
    assert_eq!(t.until, Some(vec!["out is succeeded".to_string()]));
    assert_eq!(t.retries, Some(json!(3)));
    assert_eq!(t.display_name(), "copy");
}

#[test]
fn load_role_and_tasks_file_for_dynamic_includes() {
    let dir = Path::new("tests/fixtures/site");
    let role = load_role("helper", Some("extra"), dir, &LoadOptions::default()).unwrap();
    assert_eq!(role.tasks[0].name.as_deref(), Some("helper extra"));
    assert_eq!(role.tasks[0].tags, ["helper"]);
    assert_eq!(role.tasks[0].display_name(), "helper : helper extra");

    let mut tasks =
        load_tasks_file(&dir.join("tasks/common.yml"), &["inc".to_string()], None).unwrap();
    assert_eq!(tasks[0].tags, ["inc"]);
    let kw = TaskDefaults {
        become_user: Some("x".into()),
        ..Default::default()
    };
    apply_inherited(&mut tasks, &["outer".to_string()], &kw);
    let nested = find(&tasks, "nested task");
    assert_eq!(nested.tags, ["outer", "inc"]);
    assert_eq!(nested.keywords.become_user.as_deref(), Some("x"));
    assert_eq!(nested.keywords.r#become, Some(false));

    let role_ref = role.tasks[0].role.clone().unwrap();
    assert_eq!(
        resolve_tasks_file("extra.yml", Path::new("/nonexistent"), Some(&role_ref)),
        Some(dir.join("roles/helper/tasks/extra.yml"))
    );
}

#[test]
fn role_paths_are_searched() {
    let tmp = tempfile::tempdir().unwrap();
    let pb = tmp.path().join("pb.yml");
    std::fs::write(&pb, "- hosts: all\n  roles: [helper]\n").unwrap();
    let err = load_playbook(&pb, &LoadOptions::default()).unwrap_err();
    assert!(matches!(err, PlaybookError::RoleNotFound { .. }), "{err}");
    let opts = LoadOptions {
        role_paths: vec![Path::new("tests/fixtures/site/roles").to_path_buf()],
    };
    let loaded = load_playbook(&pb, &opts).unwrap();
    assert_eq!(loaded.plays[0].roles[0].role.name, "helper");
}
