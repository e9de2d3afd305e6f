//! package / apt / dnf: fixture tests only (never installs anything here).
#![allow(clippy::unwrap_used)]

#[path = "support/fixture.rs"]
mod fixture;
#[path = "support/system.rs"]
mod system_support;

use fixture::{only_script, plan_with, prepare, prepare_err, probe_script};
use serde_json::json;

const DEBIAN: &str = "::fmc::env\nhas_apt-get=yes\nos=debian\nnow=1000000\nstamp=999000\n";
const ROCKY: &str = "::fmc::env\nhas_dnf=yes\nhas_yum=yes\nos=rocky\nnow=1\nstamp=\n";

#[test]
fn apt_plans() {
    let dpkg = "::fmc::dpkg\nnginx|install ok installed|1.22.1-9\ncurl||\nhaproxy=2.6.*|install ok installed|2.6.12-1\n";
    let cases = [
        (
            json!({"name": ["nginx", "curl"], "state": "present"}),
            vec!["install curl"],
            Some(
                "apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold -- curl",
            ),
        ),
        (json!({"name": "nginx,haproxy=2.6.*"}), vec![], None),
        (
            json!({"name": "nginx", "state": "absent", "purge": true}),
            vec!["remove nginx"],
            Some("apt-get remove -y -q --purge -- nginx"),
        ),
        (json!({"name": "curl", "state": "absent"}), vec![], None),
        (
            json!({"name": "curl", "install_recommends": false}),
            vec!["install curl"],
            Some("--no-install-recommends -o"),
        ),
        (
            json!({"name": "nginx", "update_cache": true}),
            vec!["update the apt package cache"],
            Some("apt-get update -q"),
        ),
        // lists are 1000 s old
        (
            json!({"name": "nginx", "cache_valid_time": 3600}),
            vec![],
            None,
        ),
        (
            json!({"name": "curl", "cache_valid_time": 600}),
            vec!["update the apt package cache", "install curl"],
            Some("apt-get update -q\napt-get install"),
        ),
    ];
    for (params, changes, script) in cases {
        let m = prepare("apt", params.clone());
        let plan = plan_with(m.as_ref(), &format!("{DEBIAN}{dpkg}"), None).unwrap();
        assert_eq!(plan.changes, changes, "{params}");
        match script {
            None => assert!(plan.actions.is_empty(), "{params}"),
            Some(s) => {
                let got = only_script(&plan);
                assert!(got.contains(s), "{params}: {got}");
                assert!(got.contains("export DEBIAN_FRONTEND=noninteractive"));
            }
        }
    }
    // fresh but empty lists (a cleaned image): updated whatever cache_valid_time says
    let m = prepare("apt", json!({"name": "nginx", "cache_valid_time": 3600}));
    let plan = plan_with(m.as_ref(), &format!("{DEBIAN}lists=none\n{dpkg}"), None).unwrap();
    assert_eq!(plan.changes, vec!["update the apt package cache"]);
    assert!(only_script(&plan).contains("apt-get update -q"));
    assert!(probe_script(m.as_ref(), None).contains("lists=none"));
    // version pin not matching the installed version -> install the pinned version
    let m = prepare("apt", json!({"name": "haproxy=2.8.*"}));
    let plan = plan_with(
        m.as_ref(),
        &format!("{DEBIAN}::fmc::dpkg\nhaproxy=2.8.*|install ok installed|2.6.12-1\n"),
        None,
    )
    .unwrap();
    assert_eq!(plan.changes, vec!["install haproxy=2.8.*"]);
    // deinstalled-but-configured counts as absent
    let m = prepare("package", json!({"name": "nginx"}));
    let plan = plan_with(
        m.as_ref(),
        &format!("{DEBIAN}::fmc::dpkg\nnginx|deinstall ok config-files|1.0\n"),
        None,
    )
    .unwrap();
    assert_eq!(plan.changes, vec!["install nginx"]);
}

#[test]
fn apt_latest_uses_policy() {
    let m = prepare("apt", json!({"name": ["nginx", "curl"], "state": "latest"}));
    assert!(probe_script(m.as_ref(), None).contains("apt-cache policy -- nginx curl"));
    let probe = format!(
        "{DEBIAN}::fmc::dpkg\nnginx|install ok installed|1.0\ncurl|install ok installed|7.88\n::fmc::policy\nnginx:\n  Installed: 1.0\n  Candidate: 1.1\n  Version table:\n     1.1 500\ncurl:\n  Installed: 7.88\n  Candidate: 7.88\n::fmc::upgrades\n"
    );
    let plan = plan_with(m.as_ref(), &probe, None).unwrap();
    assert_eq!(plan.changes, vec!["upgrade nginx"]);
}

#[test]
fn dnf_plans() {
    let rpm = "::fmc::rpm\nhaproxy|installed\nkeepalived|missing\n::fmc::upgrades\nAvailable Upgrades\nhaproxy.x86_64   2.8.5-1.el9   appstream\n";
    let m = prepare(
        "dnf",
        json!({"name": ["haproxy", "keepalived"], "state": "latest", "update_cache": true}),
    );
    let plan = plan_with(m.as_ref(), &format!("{ROCKY}{rpm}"), None).unwrap();
    assert_eq!(plan.changes, vec!["install keepalived", "upgrade haproxy"]);
    let s = only_script(&plan);
    assert!(
        s.contains("dnf install -y -q --refresh -- keepalived")
            && s.contains("dnf upgrade -y -q --refresh -- haproxy"),
        "{s}"
    );
    let m = prepare("yum", json!({"name": "haproxy", "state": "installed"}));
    assert!(
        plan_with(m.as_ref(), &format!("{ROCKY}{rpm}"), None)
            .unwrap()
            .changes
            .is_empty()
    );
    let m = prepare("package", json!({"name": "haproxy", "state": "removed"}));
    let plan = plan_with(m.as_ref(), &format!("::fmc::env\nhas_yum=yes\n{rpm}"), None).unwrap();
    assert_eq!(only_script(&plan), "set -e\nyum remove -y -q -- haproxy");
}

#[test]
fn no_package_manager() {
    let flatcar = "::fmc::env\nos=flatcar\nnow=1\nstamp=\n::fmc::dpkg\n::fmc::rpm\n";
    for module in ["package", "apt", "dnf"] {
        let m = prepare(module, json!({"name": "htop"}));
        let e = plan_with(m.as_ref(), flatcar, None).unwrap_err();
        assert!(
            e.contains("Flatcar Container Linux")
                && e.contains(
                    "hint: Flatcar has no package manager; ship a static binary to /opt/bin"
                ),
            "{e}"
        );
    }
    let m = prepare("apt", json!({"name": "htop"}));
    let e = plan_with(
        m.as_ref(),
        &format!("{ROCKY}::fmc::rpm\nhtop|missing\n"),
        None,
    )
    .unwrap_err();
    assert!(e.starts_with("apt is not available on this host"), "{e}");
    // a status line missing for a name is a probe error, not "installed"
    let m = prepare("dnf", json!({"name": "htop"}));
    assert!(
        plan_with(m.as_ref(), &format!("{ROCKY}::fmc::rpm\n"), None)
            .unwrap_err()
            .contains("no package status for htop")
    );
}

#[test]
fn parameter_errors() {
    for (module, p, want) in [
        ("apt", json!({}), "no package given"),
        ("dnf", json!({"name": "@core"}), "no groups"),
        (
            "dnf",
            json!({"name": "nginx>=1"}),
            "apt (name=version) only",
        ),
        ("package", json!({"name": "-x"}), "invalid package name"),
        (
            "package",
            json!({"name": "x", "use": "pacman"}),
            "only auto, apt",
        ),
        (
            "apt",
            json!({"name": "x", "autoremove": true}),
            "unsupported parameter 'autoremove'",
        ),
        (
            "apt",
            json!({"name": "x", "state": "fixed"}),
            "unknown variant",
        ),
    ] {
        let e = prepare_err(module, p.clone());
        assert!(e.contains(want), "{module} {p}: {e}");
    }
    // update_cache alone is fine for apt
    let m = prepare("apt", json!({"update_cache": true}));
    let plan = plan_with(m.as_ref(), &format!("{DEBIAN}::fmc::dpkg\n"), None).unwrap();
    assert_eq!(plan.changes, vec!["update the apt package cache"]);
}
