//! wait_for (real, on 127.0.0.1 ports this test opens and files in a temp dir),
//! reboot and timezone (fixtures only).
#![allow(clippy::unwrap_used)]

#[path = "support/fixture.rs"]
mod fixture;
#[path = "support/system.rs"]
mod system_support;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use fixture::{only_script, plan_with, prepare, prepare_err};
use fmc_core::Action;
use serde_json::json;
use system_support::run;
use tempfile::TempDir;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn waits_for_ports_on_loopback() {
    let dir = TempDir::new().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let r = run("wait_for", json!({"port": port, "timeout": 5}), dir.path());
    assert_eq!(r.outcome.failed, None);
    assert!(!r.outcome.changed);
    assert_eq!(r.outcome.result["elapsed"], 0);

    let closed = free_port();
    let start = Instant::now();
    let r = run(
        "wait_for",
        json!({"host": "127.0.0.1", "port": closed, "timeout": 1}),
        dir.path(),
    );
    assert_eq!(
        r.outcome.failed.as_deref(),
        Some(format!("Timeout when waiting for 127.0.0.1:{closed}").as_str())
    );
    assert!(start.elapsed() < Duration::from_secs(8));
    let r = run(
        "wait_for",
        json!({"port": closed, "state": "stopped", "timeout": 2}),
        dir.path(),
    );
    assert_eq!(r.outcome.failed, None);

    // a port that opens while we wait
    let late = free_port();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1200));
        let l = TcpListener::bind(("127.0.0.1", late)).unwrap();
        std::thread::sleep(Duration::from_secs(3));
        drop(l);
    });
    let r = run(
        "wait_for",
        json!({"port": late, "timeout": 10, "sleep": 1, "msg": "k3s api down"}),
        dir.path(),
    );
    assert_eq!(r.outcome.failed, None);
    t.join().unwrap();
    drop(listener);
}

#[test]
fn waits_for_files_and_content() {
    let dir = TempDir::new().unwrap();
    let f = dir.path().join("node token");
    let fs = f.to_str().unwrap().to_string();
    let f2 = f.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(800));
        std::fs::write(&f2, "starting\nREADY 1\n").unwrap();
    });
    let r = run(
        "wait_for",
        json!({"path": fs, "search_regex": "READY [0-9]+", "timeout": 10}),
        dir.path(),
    );
    t.join().unwrap();
    assert_eq!(r.outcome.failed, None);
    let r = run(
        "wait_for",
        json!({"path": fs, "search_regex": "^NEVER$", "timeout": 1}),
        dir.path(),
    );
    assert_eq!(
        r.outcome.failed.as_deref(),
        Some(format!("Timeout when waiting for search string ^NEVER$ in {fs}").as_str())
    );
    let r = run(
        "wait_for",
        json!({"path": fs, "state": "absent", "timeout": 1, "msg": "still there"}),
        dir.path(),
    );
    assert_eq!(r.outcome.failed.as_deref(), Some("still there"));
    std::fs::remove_file(&f).unwrap();
    assert_eq!(
        run(
            "wait_for",
            json!({"path": fs, "state": "absent", "timeout": 1}),
            dir.path()
        )
        .outcome
        .failed,
        None
    );
}

#[test]
fn wait_for_parameter_errors() {
    for (p, want) in [
        (json!({"port": 0}), "between 1 and 65535"),
        (json!({"port": 22, "path": "/x"}), "mutually exclusive"),
        (
            json!({"port": 22, "search_regex": "x"}),
            "only supported with 'path'",
        ),
        (json!({"port": 22, "state": "drained"}), "unknown variant"),
        (json!({"port": 22, "timeout": -1}), "must not be negative"),
        (json!({"port": 22, "host": "-oProxy"}), "invalid host"),
        (
            json!({"port": 22, "exclude_hosts": ["a"]}),
            "unsupported parameter",
        ),
    ] {
        assert!(prepare_err("wait_for", p.clone()).contains(want), "{p}");
    }
    // the action's own timeout is a bit above the module timeout
    let m = prepare("wait_for", json!({"port": 6443, "timeout": 60, "delay": 5}));
    let plan = plan_with(m.as_ref(), "", None).unwrap();
    assert!(plan.changes.is_empty());
    match &plan.actions[..] {
        [
            Action::Exec {
                timeout: Some(t),
                allow_failure: true,
                ..
            },
        ] => assert!(*t > Duration::from_secs(65)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn reboot_action() {
    let m = prepare(
        "reboot",
        json!({"reboot_timeout": 900, "pre_reboot_delay": 5, "post_reboot_delay": 10, "test_command": "systemctl is-system-running", "msg": "kernel update"}),
    );
    let plan = plan_with(m.as_ref(), "", None).unwrap();
    assert_eq!(plan.changes, vec!["reboot the host"]);
    match &plan.actions[..] {
        [
            Action::Reboot {
                command,
                test_command,
                timeout,
            },
        ] => {
            assert!(
                command.contains("sleep 5\nshutdown -r now 'kernel update'"),
                "{command}"
            );
            assert_eq!(test_command, "sleep 10\nsystemctl is-system-running");
            assert_eq!(*timeout, Duration::from_secs(900));
        }
        other => panic!("{other:?}"),
    }
    assert!(prepare_err("reboot", json!({"reboot_timeout": -5})).contains("must not be negative"));
}

#[test]
fn timezone_plans() {
    let m = prepare("timezone", json!({"name": "Europe/Madrid"}));
    assert!(
        plan_with(m.as_ref(), "current=Europe/Madrid\nknown=yes\n", None)
            .unwrap()
            .changes
            .is_empty()
    );
    let plan = plan_with(m.as_ref(), "current=Etc/UTC\nknown=yes\n", None).unwrap();
    assert_eq!(
        plan.changes,
        vec!["set time zone to Europe/Madrid (currently Etc/UTC)"]
    );
    assert!(only_script(&plan).contains("timedatectl set-timezone Europe/Madrid"));
    // the link is written whatever timedated did (a running one may hold a stale zone)
    assert!(
        only_script(&plan).contains("ln -sfn /usr/share/zoneinfo/Europe/Madrid /etc/localtime")
    );
    let plan = plan_with(m.as_ref(), "current=\nknown=no\n", None).unwrap();
    assert!(
        plan.failed
            .unwrap()
            .starts_with("unknown time zone Europe/Madrid")
    );
    for bad in ["../etc/passwd", "/UTC", "Europe//Madrid", "a b"] {
        assert!(
            prepare_err("timezone", json!({"name": bad})).contains("invalid time zone"),
            "{bad}"
        );
    }
}
