//! firewalld: fixture tests only (never touches a firewall), plus the local probe
//! on this machine, which has no firewalld.
#![allow(clippy::unwrap_used)]

#[path = "support/fixture.rs"]
mod fixture;
#[path = "support/system.rs"]
mod system_support;

use fixture::{only_script, plan_with, prepare, prepare_err, probe_script};
use serde_json::json;

fn fw(runtime: Option<&str>, permanent: Option<&str>) -> String {
    let mut s = String::from("::fmc::err\n::fmc::fw\nstate=running \n");
    if let Some(r) = runtime {
        s.push_str(&format!("runtime={r}\nruntime_msg=no\n"));
    }
    if let Some(p) = permanent {
        s.push_str(&format!("permanent={p}\npermanent_msg=no\n"));
    }
    s
}

#[test]
fn plans_per_configuration() {
    // (params, probe, changes, script)
    let cases = [
        (
            json!({"service": "https", "state": "enabled"}),
            fw(Some("1"), None),
            vec!["enable service https in the default zone (runtime)"],
            Some("firewall-cmd --add-service=https"),
        ),
        (
            json!({"service": "https", "state": "enabled"}),
            fw(Some("0"), None),
            vec![],
            None,
        ),
        (
            json!({"port": "6443/tcp", "zone": "public", "permanent": true, "immediate": true, "state": "enabled"}),
            fw(Some("1"), Some("1")),
            vec![
                "enable port 6443/tcp in zone public (runtime)",
                "enable port 6443/tcp in zone public (permanent)",
            ],
            Some(
                "firewall-cmd --zone=public --add-port=6443/tcp && firewall-cmd --permanent --zone=public --add-port=6443/tcp",
            ),
        ),
        (
            json!({"port": "30000-32767/udp", "permanent": "yes", "state": "disabled"}),
            fw(None, Some("0")),
            vec!["disable port 30000-32767/udp in the default zone (permanent)"],
            Some("firewall-cmd --permanent --remove-port=30000-32767/udp"),
        ),
        (
            json!({"rich_rule": "rule family=\"ipv4\" source address=\"10.0.0.0/8\" accept", "zone": "internal", "state": "enabled", "permanent": true, "immediate": true}),
            fw(Some("0"), Some("1")),
            vec![
                "enable rich rule rule family=\"ipv4\" source address=\"10.0.0.0/8\" accept in zone internal (permanent)",
            ],
            Some(
                "firewall-cmd --permanent --zone=internal '--add-rich-rule=rule family=\"ipv4\" source address=\"10.0.0.0/8\" accept'",
            ),
        ),
        (
            json!({"interface": "cni0", "zone": "trusted", "state": "enabled"}),
            fw(Some("1"), None),
            vec!["enable interface cni0 in zone trusted (runtime)"],
            Some("firewall-cmd --zone=trusted --change-interface=cni0"),
        ),
        (
            json!({"interface": "cni0", "zone": "trusted", "state": "disabled"}),
            fw(Some("0"), None),
            vec!["disable interface cni0 in zone trusted (runtime)"],
            Some("--remove-interface=cni0"),
        ),
        (
            json!({"source": "10.42.0.0/16", "zone": "trusted", "state": "enabled", "permanent": false}),
            fw(Some("1"), None),
            vec!["enable source 10.42.0.0/16 in zone trusted (runtime)"],
            Some("--add-source=10.42.0.0/16"),
        ),
        (
            json!({"masquerade": "yes", "zone": "public", "state": "disabled", "immediate": "true"}),
            fw(Some("0"), None),
            vec!["disable masquerade in zone public (runtime)"],
            Some("firewall-cmd --zone=public --remove-masquerade"),
        ),
        (
            json!({"icmp_block": "echo-request", "state": "enabled"}),
            fw(Some("1"), None),
            vec!["enable icmp block echo-request in the default zone (runtime)"],
            Some("--add-icmp-block=echo-request"),
        ),
        (
            json!({"protocol": "vrrp", "state": "enabled", "permanent": true}),
            fw(None, Some("0")),
            vec![],
            None,
        ),
    ];
    for (params, probe, changes, script) in cases {
        let m = prepare("ansible.posix.firewalld", params.clone());
        let plan = plan_with(m.as_ref(), &probe, None).unwrap();
        assert_eq!(plan.failed, None, "{params}");
        assert_eq!(plan.changes, changes, "{params}");
        match script {
            Some(s) => {
                let got = only_script(&plan);
                assert!(got.contains(s), "{params}: {got}");
            }
            None => assert!(plan.actions.is_empty(), "{params}"),
        }
    }
}

#[test]
fn probe_queries_only_the_touched_configurations() {
    let m = prepare(
        "firewalld",
        json!({"service": "http", "zone": "public", "permanent": true, "state": "enabled"}),
    );
    let s = probe_script(m.as_ref(), None);
    assert!(
        s.contains("firewall-cmd --permanent --zone=public --query-service=http"),
        "{s}"
    );
    assert!(!s.contains("runtime="), "{s}");
    let m = prepare("firewalld", json!({"service": "http", "state": "enabled"}));
    let s = probe_script(m.as_ref(), None);
    assert!(s.contains("firewall-cmd --query-service=http"), "{s}");
    assert!(!s.contains("--permanent"), "{s}");
}

#[test]
fn errors_from_the_host() {
    let m = prepare("firewalld", json!({"service": "htp", "state": "enabled"}));
    let probe = "::fmc::err\n::fmc::fw\nstate=running \nruntime=101\nruntime_msg=Error: INVALID_SERVICE: htp \n";
    let plan = plan_with(m.as_ref(), probe, None).unwrap();
    assert_eq!(
        plan.failed.as_deref(),
        Some("firewall-cmd query of service htp failed (rc=101): Error: INVALID_SERVICE: htp")
    );
    let probe = "::fmc::err\n::fmc::fw\nstate=not running \nruntime=252\nruntime_msg=FirewallD is not running \n";
    let plan = plan_with(m.as_ref(), probe, None).unwrap();
    assert!(
        plan.failed
            .as_deref()
            .unwrap()
            .starts_with("firewalld is not running (firewall-cmd --state: not running)\nhint:"),
        "{:?}",
        plan.failed
    );
    let probe = "::fmc::err\nfirewall-cmd not found (firewalld is not installed)\n";
    let e = plan_with(m.as_ref(), probe, None).unwrap_err();
    assert!(
        e.starts_with("cannot manage the firewall: firewall-cmd not found"),
        "{e}"
    );
    assert!(e.contains("\nhint: "), "{e}");

    // this machine has no firewalld: the real probe says so (read-only)
    let dir = tempfile::TempDir::new().unwrap();
    let out = system_support::sh(&probe_script(m.as_ref(), None), None, None, dir.path());
    assert_eq!(out.rc, 0);
    if !out.stdout_str().contains("::fmc::fw") {
        let e = plan_with(m.as_ref(), &out.stdout_str(), None).unwrap_err();
        assert!(e.contains("firewall-cmd not found"), "{e}");
    }
}

#[test]
fn parameter_errors() {
    for (p, want) in [
        (
            json!({"service": "http"}),
            "missing required parameter 'state'",
        ),
        (
            json!({"state": "enabled"}),
            "exactly one of service, port, rich_rule",
        ),
        (
            json!({"service": "http", "port": "80/tcp", "state": "enabled"}),
            "exactly one of",
        ),
        (
            json!({"port": "80", "state": "enabled"}),
            "expected PORT/PROTOCOL",
        ),
        (
            json!({"port": "80/icmp", "state": "enabled"}),
            "expected PORT/PROTOCOL",
        ),
        (
            json!({"zone": "dmz", "state": "present"}),
            "zone creation/removal",
        ),
        (
            json!({"service": "http", "state": "enabled", "timeout": 60}),
            "timed rules are not supported",
        ),
        (
            json!({"service": "http", "state": "enabled", "offline": true}),
            "offline mode is not supported",
        ),
        (
            json!({"masquerade": false, "state": "enabled"}),
            "masquerade: true",
        ),
        (
            json!({"service": "a b", "state": "enabled"}),
            "invalid value",
        ),
        (
            json!({"service": "http", "zone": "a b", "state": "enabled"}),
            "invalid zone name",
        ),
        (
            json!({"service": "http", "state": "enabled", "target": "ACCEPT"}),
            "unsupported parameter 'target'",
        ),
    ] {
        let e = prepare_err("firewalld", p.clone());
        assert!(e.contains(want), "{p}: {e}");
    }
}

/// TEST DOUBLE: a `firewall-cmd` stand-in that only answers queries. It checks that
/// the probe script runs under `sh` and is parsed; firewalld itself (D-Bus + systemd)
/// is not run by this test. The module is not proven against real firewalld yet.
#[test]
fn probe_runs_under_sh_against_a_stub_firewall_cmd() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::TempDir::new().unwrap();
    let stub = dir.path().join("firewall-cmd");
    std::fs::write(
        &stub,
        "#!/bin/sh\ncase \"$*\" in\n  --state) echo running ;;\n  *--permanent*--query-port=8080/tcp) exit 0 ;;\n  *--query-port=8080/tcp) echo no; exit 1 ;;\n  *) echo \"Error: $*\" >&2; exit 2 ;;\nesac\n",
    )
    .unwrap();
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    let m = prepare(
        "firewalld",
        json!({"port": "8080/tcp", "zone": "public", "permanent": true, "immediate": true, "state": "enabled"}),
    );
    let script = format!(
        "PATH={}:$PATH; export PATH\n{}",
        dir.path().display(),
        probe_script(m.as_ref(), None)
    );
    let out = system_support::sh(&script, None, None, dir.path());
    assert_eq!(out.rc, 0, "{}", out.stderr_str());
    let plan = plan_with(m.as_ref(), &out.stdout_str(), None).unwrap();
    assert_eq!(plan.failed, None, "{}", out.stdout_str());
    assert_eq!(
        plan.changes,
        vec!["enable port 8080/tcp in zone public (runtime)"]
    );
}
