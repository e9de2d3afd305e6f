//! Fixture tests: probe output bytes -> plan, for each case of the file modules.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::json;
use support::{TestFiles, plan_from};

/// (case, extra args, probe stdout, expected changes, expected failure substring).
type Case = (
    &'static str,
    serde_json::Value,
    String,
    Vec<String>,
    Option<&'static str>,
);

/// sha256 of "hello\n".
const HELLO: &str = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";

#[test]
fn copy_plans_from_probe_output() {
    let files = TestFiles {
        root: "/nonexistent".into(),
        vars: vec![],
    };
    let in_sync = format!(
        "fmc-file file\nparent 1\numask 0022\nstat 644 0 0 6 1 root root\nsha256 {HELLO}\ncontent aGVsbG8K\n"
    );
    let cases: Vec<Case> = vec![
        ("absent", json!({}), "fmc-file absent\nparent 1\numask 0022\n".into(),
         vec!["create /etc/x (6 bytes)".into()], None),
        ("in sync", json!({"mode": "0644", "owner": "root", "group": "0"}), in_sync.clone(), vec![], None),
        ("content drift", json!({}),
         "fmc-file file\nparent 1\numask 0022\nstat 644 0 0 3 1 root root\nsha256 00\ncontent YWIK\n".into(),
         vec!["update content of /etc/x (3 -> 6 bytes)".into()], None),
        ("mode and owner drift", json!({"mode": 384, "owner": "app"}), in_sync.clone(),
         vec!["mode 0644 -> 0600 on /etc/x".into(), "owner root -> app on /etc/x".into()], None),
        ("force off", json!({"force": "no"}), in_sync.replace(HELLO, "00"), vec![], None),
        ("directory", json!({}), "fmc-file directory\nparent 1\numask 0022\nstat 755 0 0 4096 1 root root\n".into(),
         vec![], Some("is a directory")),
        ("no parent", json!({}), "fmc-file absent\nparent 0\numask 0022\n".into(), vec![], Some("does not exist")),
        ("unreadable", json!({}), "fmc-file file\nparent 1\numask 0022\nstat 600 0 0 6 1 root root\nunreadable\n".into(),
         vec![], Some("become")),
    ];
    for (name, extra, stdout, changes, failure) in cases {
        let mut args = json!({"content": "hello\n", "dest": "/etc/x"});
        for (k, v) in extra.as_object().unwrap() {
            args[k] = v.clone();
        }
        let plan = plan_from("copy", args, &stdout, &files);
        match failure {
            Some(f) => assert!(
                plan.failed.as_deref().unwrap_or_default().contains(f),
                "{name}: {:?}",
                plan.failed
            ),
            None => {
                assert_eq!(plan.failed, None, "{name}");
                assert_eq!(plan.changes, changes, "{name}");
                assert_eq!(plan.actions.is_empty(), changes.is_empty(), "{name}");
            }
        }
    }
}

#[test]
fn content_is_never_in_change_lines() {
    let files = TestFiles {
        root: "/nonexistent".into(),
        vars: vec![],
    };
    let stdout = "fmc-file file\nparent 1\numask 0022\nstat 600 0 0 3 1 root root\nsha256 00\ncontent YWIK\n";
    let plan = plan_from(
        "copy",
        json!({"content": "s3cret-token", "dest": "/etc/x"}),
        stdout,
        &files,
    );
    assert!(plan.changes.iter().all(|c| !c.contains("s3cret")));
    assert!(
        plan.diff.unwrap().after.contains("s3cret"),
        "the diff carries content (runner redacts for no_log)"
    );
}

#[test]
fn lineinfile_large_file_fails_clearly() {
    let files = TestFiles {
        root: "/nonexistent".into(),
        vars: vec![],
    };
    let stdout =
        "fmc-file file\nparent 1\numask 0022\nstat 644 0 0 99999999 1 root root\nsha256 00\n";
    let plan = plan_from(
        "lineinfile",
        json!({"path": "/var/big", "line": "x"}),
        stdout,
        &files,
    );
    assert!(plan.failed.unwrap().contains("too large"));
}

#[test]
fn probe_errors_are_reported() {
    let files = TestFiles {
        root: "/nonexistent".into(),
        vars: vec![],
    };
    let m = support::prepare("stat", json!({"path": "/x"}));
    let vars = fmc_core::Map::new();
    let ctx = fmc_core::ModuleCtx {
        host: "h",
        facts: None,
        files: &files,
        vars: &vars,
    };
    let out = fmc_core::ExecOutput {
        rc: 0,
        stdout: b"fmc-file file\nstat 6z4 0 0 1 1 root root\n".to_vec(),
        stderr: vec![],
    };
    assert!(m.plan(&ctx, Some(&out)).is_err());
}
