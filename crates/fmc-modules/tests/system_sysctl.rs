//! sysctl: fixtures for the live value, real file edits in a temp dir (never the
//! machine's kernel settings: real runs use `reload: false`).
#![allow(clippy::unwrap_used)]

#[path = "support/fixture.rs"]
mod fixture;
#[path = "support/system.rs"]
mod system_support;

use fixture::{plan_with, prepare, prepare_err};
use serde_json::json;
use system_support::{check, run};
use tempfile::TempDir;

#[test]
fn file_edits_converge() {
    let dir = TempDir::new().unwrap();
    let f = dir.path().join("99-k8s.conf");
    let fs = f.to_str().unwrap();
    std::fs::write(
        &f,
        "# keep me\nnet.ipv4.ip_forward = 0\nvm.swappiness=10\nnet/ipv4/ip_forward=0\n",
    )
    .unwrap();
    let p =
        json!({"name": "net.ipv4.ip_forward", "value": true, "sysctl_file": fs, "reload": false});
    let plan = check("sysctl", p.clone(), dir.path());
    assert_eq!(
        plan.changes,
        vec![format!("set net.ipv4.ip_forward=1 in {fs}")]
    );
    assert!(plan.diff.unwrap().after.contains("net.ipv4.ip_forward=1"));
    let r = run("sysctl", p.clone(), dir.path());
    assert!(r.outcome.changed && r.outcome.failed.is_none());
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        "# keep me\nnet.ipv4.ip_forward=1\nvm.swappiness=10\n"
    );
    assert!(check("sysctl", p, dir.path()).changes.is_empty());

    // whitespace-insensitive value comparison, then absent
    let p = json!({"key": "vm.swappiness", "val": " 10 ", "sysctl_file": fs, "reload": "no"});
    assert!(check("sysctl", p, dir.path()).changes.is_empty());
    let p = json!({"name": "vm.swappiness", "state": "absent", "sysctl_file": fs});
    assert!(run("sysctl", p.clone(), dir.path()).outcome.changed);
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        "# keep me\nnet.ipv4.ip_forward=1\n"
    );
    assert!(check("sysctl", p, dir.path()).changes.is_empty());

    // a missing file is created
    let new = dir.path().join("new.conf");
    let p = json!({"name": "fs.inotify.max_user_instances", "value": 8192, "sysctl_file": new.to_str().unwrap(), "reload": false});
    assert!(run("sysctl", p.clone(), dir.path()).outcome.changed);
    assert_eq!(
        std::fs::read_to_string(&new).unwrap(),
        "fs.inotify.max_user_instances=8192\n"
    );
    assert!(check("sysctl", p, dir.path()).changes.is_empty());
}

const FILE_OK: &str = "::fmc::file\nfmc-file file\nparent 1\numask 0022\nstat 644 0 0 22 0 root root\nsha256 x\ncontent bmV0LmlwdjQuaXBfZm9yd2FyZD0xCg==\n";

#[test]
fn live_value_fixtures() {
    let m = prepare(
        "sysctl",
        json!({"name": "net.ipv4.ip_forward", "value": "1"}),
    );
    let plan = plan_with(m.as_ref(), &format!("::fmc::live\nok\n1\n{FILE_OK}"), None).unwrap();
    assert!(plan.changes.is_empty() && plan.actions.is_empty());
    let plan = plan_with(m.as_ref(), &format!("::fmc::live\nok\n0\n{FILE_OK}"), None).unwrap();
    assert_eq!(
        plan.changes,
        vec!["set live value of net.ipv4.ip_forward to 1 (currently 0)"]
    );
    match &plan.actions[..] {
        [fmc_core::Action::Exec { script, .. }] => {
            assert!(script.ends_with("sysctl -q -w net.ipv4.ip_forward=1"))
        }
        other => panic!("{other:?}"),
    }
    let live_err = format!(
        "::fmc::live\nerr\nsysctl: cannot stat /proc/sys/net/ipv4/ip_forward: No such file\n{FILE_OK}"
    );
    let plan = plan_with(m.as_ref(), &live_err, None).unwrap();
    assert!(plan.failed.unwrap().contains("not available on this host"));
    let m = prepare(
        "sysctl",
        json!({"name": "net.ipv4.ip_forward", "value": "1", "ignoreerrors": true}),
    );
    assert!(
        plan_with(m.as_ref(), &live_err, None)
            .unwrap()
            .failed
            .is_none()
    );
    let dir_probe = "::fmc::live\nok\n1\n::fmc::file\nfmc-file directory\nparent 1\numask 0022\nstat 755 0 0 4096 0 root root\n";
    let m = prepare(
        "sysctl",
        json!({"name": "net.ipv4.ip_forward", "value": "1"}),
    );
    assert!(
        plan_with(m.as_ref(), dir_probe, None)
            .unwrap()
            .failed
            .unwrap()
            .contains("not a regular file")
    );
}

#[test]
fn parameter_errors() {
    for (p, want) in [
        (json!({"name": "a.b"}), "required when state is present"),
        (json!({"name": "-a", "value": 1}), "invalid sysctl key"),
        (json!({"name": "a b", "value": 1}), "invalid sysctl key"),
        (
            json!({"value": 1}),
            "missing required parameter 'name or key'",
        ),
        (
            json!({"name": "a", "value": 1, "state": "latest"}),
            "unknown variant",
        ),
    ] {
        let e = prepare_err("sysctl", p.clone());
        assert!(e.contains(want), "{p}: {e}");
    }
}
