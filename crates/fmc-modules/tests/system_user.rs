//! user / group: fixture tests only (never touches the machine's accounts).
#![allow(clippy::unwrap_used)]

#[path = "support/fixture.rs"]
mod fixture;
#[path = "support/system.rs"]
mod system_support;

use fixture::{only_script, plan_with, prepare, prepare_err, probe_script};
use fmc_core::Action;
use serde_json::json;

const HASH: &str = "$6$salt$abcdefghijklmnop";

fn existing(groups: &str, wanted: &str) -> String {
    format!(
        "::fmc::passwd\nk3s:x:1001:1001:K3s:/home/k3s:/bin/bash\n::fmc::primary\nk3s\n::fmc::groups\nk3s {groups}\n::fmc::shadow\nk3s:{HASH}:19000:0:99999:7:::\n::fmc::wanted\n{wanted}"
    )
}

#[test]
fn user_plans() {
    let cases = [
        (
            json!({"name": "k3s", "shell": "/bin/bash", "groups": "adm,wheel", "uid": 1001}),
            existing("adm wheel", "adm=etc\nwheel=etc\n"),
            vec![],
            None,
        ),
        (
            json!({"name": "k3s", "groups": ["docker"], "append": true}),
            existing("adm", "docker=etc\n"),
            vec!["add k3s to groups docker"],
            Some("usermod -a -G docker -- k3s"),
        ),
        (
            json!({"name": "k3s", "groups": ["docker"]}),
            existing("adm", "docker=etc\n"),
            vec!["set groups of k3s to [docker] (currently [adm])"],
            Some("usermod -G docker -- k3s"),
        ),
        (
            json!({"name": "k3s", "groups": ""}),
            existing("adm", ""),
            vec!["set groups of k3s to [] (currently [adm])"],
            Some("usermod -G '' -- k3s"),
        ),
        (
            json!({"name": "k3s", "shell": "/bin/sh", "comment": "K 3s", "group": "k3s"}),
            existing("", ""),
            vec![
                "set shell of k3s to /bin/sh (currently /bin/bash)",
                "set comment of k3s to K 3s (currently K3s)",
            ],
            Some("usermod -s /bin/sh -c 'K 3s' -- k3s"),
        ),
        (
            json!({"name": "k3s", "password": HASH}),
            existing("", ""),
            vec![],
            None,
        ),
        (
            json!({"name": "k3s", "password": "$6$other$zzz", "update_password": "on_create"}),
            existing("", ""),
            vec![],
            None,
        ),
        (
            json!({"name": "k3s", "state": "absent", "remove": true}),
            existing("", ""),
            vec!["remove user k3s"],
            Some("userdel -r -- k3s"),
        ),
    ];
    for (params, probe, changes, script) in cases {
        let m = prepare("user", params.clone());
        let plan = plan_with(m.as_ref(), &probe, None).unwrap();
        assert_eq!(plan.changes, changes, "{params}");
        assert_eq!(plan.failed, None, "{params}");
        match script {
            None => assert!(plan.actions.is_empty(), "{params}"),
            Some(s) => assert!(
                only_script(&plan).contains(s),
                "{params}: {}",
                only_script(&plan)
            ),
        }
    }
}

#[test]
fn password_is_never_shown() {
    let secret = "$6$new$SECRETHASHVALUE";
    let m = prepare("user", json!({"name": "k3s", "password": secret}));
    assert!(probe_script(m.as_ref(), None).contains("getent shadow -- k3s"));
    let plan = plan_with(m.as_ref(), &existing("", ""), None).unwrap();
    assert_eq!(plan.changes, vec!["set password of k3s"]);
    match &plan.actions[..] {
        [
            Action::Exec {
                script,
                stdin: Some(stdin),
                ..
            },
        ] => {
            assert!(!script.contains("SECRET"));
            assert!(script.contains("chpasswd -e"));
            assert_eq!(stdin, format!("k3s:{secret}\n").as_bytes());
        }
        other => panic!("{other:?}"),
    }
    assert!(!format!("{:?}{:?}", plan.changes, plan.result).contains("SECRET"));
    let e = prepare_err("user", json!({"name": "k3s", "password": "a:SECRETX"}));
    assert!(!e.contains("SECRET"), "{e}");
    // no shadow access (no become): say so instead of guessing
    let probe = existing("", "").replace(&format!("k3s:{HASH}:19000:0:99999:7:::\n"), "");
    let plan = plan_with(m.as_ref(), &probe, None).unwrap();
    assert!(plan.failed.unwrap().contains("run with become"));
}

#[test]
fn new_user_and_flatcar_groups() {
    let absent = "::fmc::passwd\n::fmc::primary\n::fmc::groups\n::fmc::wanted\ndocker=etc\n";
    let m = prepare(
        "user",
        json!({"name": "ops", "groups": ["docker"], "shell": "/bin/bash", "system": true, "create_home": "no", "password": HASH}),
    );
    let plan = plan_with(m.as_ref(), absent, None).unwrap();
    assert_eq!(plan.changes, vec!["create user ops", "set password of ops"]);
    let s = only_script(&plan);
    assert!(
        s.contains("useradd -G docker -s /bin/bash -M -r -- ops\nchpasswd -e"),
        "{s}"
    );

    let flatcar = existing("", "docker=nss\n");
    let m = prepare(
        "user",
        json!({"name": "k3s", "groups": "docker", "append": true}),
    );
    let failed = plan_with(m.as_ref(), &flatcar, None)
        .unwrap()
        .failed
        .unwrap();
    assert!(
        failed.contains("not in /etc/group")
            && failed
                .contains("hint: add a systemd-userdb drop-in /etc/userdb/k3s:docker.membership"),
        "{failed}"
    );
    let m = prepare(
        "user",
        json!({"name": "k3s", "groups": "nope", "append": true}),
    );
    assert_eq!(
        plan_with(m.as_ref(), &existing("", "nope=missing\n"), None)
            .unwrap()
            .failed
            .unwrap(),
        "group nope does not exist"
    );
    let m = prepare("user", json!({"name": "ops", "state": "absent"}));
    assert!(
        plan_with(m.as_ref(), absent, None)
            .unwrap()
            .changes
            .is_empty()
    );
}

#[test]
fn group_plans() {
    let cases = [
        (
            json!({"name": "etcd", "gid": 990, "system": true}),
            "::fmc::group\n",
            vec!["create group etcd"],
            Some("groupadd -g 990 -r -- etcd"),
        ),
        (
            json!({"name": "etcd", "gid": 990}),
            "::fmc::group\netcd:x:990:\n",
            vec![],
            None,
        ),
        (
            json!({"name": "etcd"}),
            "::fmc::group\netcd:x:991:a,b\n",
            vec![],
            None,
        ),
        (
            json!({"name": "etcd", "gid": "990"}),
            "::fmc::group\netcd:x:991:\n",
            vec!["set gid of group etcd to 990 (currently 991)"],
            Some("groupmod -g 990 -- etcd"),
        ),
        (
            json!({"name": "etcd", "state": "absent"}),
            "::fmc::group\netcd:x:991:\n",
            vec!["remove group etcd"],
            Some("groupdel -- etcd"),
        ),
        (
            json!({"name": "etcd", "state": "absent"}),
            "::fmc::group\n",
            vec![],
            None,
        ),
    ];
    for (params, probe, changes, script) in cases {
        let m = prepare("group", params.clone());
        let plan = plan_with(m.as_ref(), probe, None).unwrap();
        assert_eq!(plan.changes, changes, "{params}");
        match script {
            None => assert!(plan.actions.is_empty()),
            Some(s) => assert!(only_script(&plan).contains(s), "{params}"),
        }
    }
    let m = prepare("group", json!({"name": "etcd"}));
    assert!(plan_with(m.as_ref(), "::fmc::group\netcd:x:notanumber:\n", None).is_err());
    for (p, want) in [
        (json!({"name": "a:b"}), "invalid group name"),
        (json!({"name": "a", "gid": -1}), "must not be negative"),
        (
            json!({"name": "a", "non_unique": true}),
            "unsupported parameter",
        ),
    ] {
        assert!(prepare_err("group", p.clone()).contains(want), "{p}");
    }
    assert!(
        prepare_err("user", json!({"name": "x", "update_password": "never"}))
            .contains("expected always or on_create")
    );
}
