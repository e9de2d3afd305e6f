//! service_facts and package_facts: parsers from fixtures, and the real probes
//! run on this machine (both are read-only).
#![allow(clippy::unwrap_used)]

#[path = "support/fixture.rs"]
mod fixture;
#[path = "support/system.rs"]
mod system_support;

use fixture::{plan_with, prepare, prepare_err, probe_script};
use serde_json::json;
use tempfile::TempDir;

const UNITS: &str = "\
cron.service loaded active running Regular background program processing daemon
ssh.service loaded active running OpenBSD Secure Shell server
k3s.service loaded failed failed Lightweight Kubernetes
nfs.service not-found inactive dead nfs.service
systemd-fsck-root.service loaded inactive exited File System Check on Root Device
● old.service masked inactive dead old.service
fmc-rc 0
";

const FILES: &str = "\
cron.service enabled enabled
ssh.service enabled enabled
k3s.service enabled enabled
old.service masked enabled
systemd-fsck-root.service static -
getty@.service enabled enabled
rsync.service disabled enabled

2 unit files listed.
fmc-rc 0
";

#[test]
fn services_from_systemctl_listings() {
    let m = prepare("service_facts", json!({}));
    let plan = plan_with(
        m.as_ref(),
        &format!("::fmc::err\n::fmc::units\n{UNITS}::fmc::files\n{FILES}"),
        None,
    )
    .unwrap();
    assert!(plan.changes.is_empty() && plan.actions.is_empty());
    let services = &plan.result["ansible_facts"]["services"];
    let entry = |name: &str| services[name].clone();
    let svc = |name: &str, state: &str, status: &str| json!({"name": name, "state": state, "status": status, "source": "systemd"});
    assert_eq!(
        entry("cron.service"),
        svc("cron.service", "running", "enabled")
    );
    assert_eq!(
        entry("k3s.service"),
        svc("k3s.service", "stopped", "failed")
    );
    assert_eq!(
        entry("nfs.service"),
        svc("nfs.service", "stopped", "not-found")
    );
    assert_eq!(
        entry("old.service"),
        svc("old.service", "stopped", "masked")
    );
    assert_eq!(
        entry("systemd-fsck-root.service"),
        svc("systemd-fsck-root.service", "stopped", "static")
    );
    assert_eq!(
        entry("rsync.service"),
        svc("rsync.service", "inactive", "disabled")
    );
    assert_eq!(
        entry("getty@.service"),
        svc("getty@.service", "unknown", "enabled")
    );
    let names: Vec<&String> = services.as_object().unwrap().keys().collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert_eq!(names.len(), 8);
}

#[test]
fn service_facts_failures() {
    let m = prepare("service_facts", json!({}));
    let e = plan_with(m.as_ref(), "::fmc::err\nsystemctl not found\n", None).unwrap_err();
    assert!(
        e.starts_with("cannot gather service facts: systemctl not found\nhint: "),
        "{e}"
    );
    let failing = "::fmc::err\n::fmc::units\nFailed to connect to bus: No such file\nfmc-rc 1\n::fmc::files\nfmc-rc 0\n";
    let e = plan_with(m.as_ref(), failing, None).unwrap_err();
    assert_eq!(
        e,
        "systemctl list-units failed (rc=1): Failed to connect to bus: No such file"
    );
    let short = "::fmc::err\n::fmc::units\nx.service loaded\nfmc-rc 0\n::fmc::files\nfmc-rc 0\n";
    assert!(
        plan_with(m.as_ref(), short, None)
            .unwrap_err()
            .contains("malformed")
    );
    assert!(prepare_err("service_facts", json!({"name": "x"})).contains("unsupported parameter"));
}

#[test]
fn service_facts_probe_on_this_machine() {
    // This machine has systemctl but was not booted with systemd (or has no
    // systemctl at all): the probe must say so instead of failing obscurely.
    let m = prepare("ansible.builtin.service_facts", json!({}));
    let dir = TempDir::new().unwrap();
    let out = system_support::sh(&probe_script(m.as_ref(), None), None, None, dir.path());
    assert_eq!(out.rc, 0, "{}", out.stderr_str());
    let booted_with_systemd = std::path::Path::new("/run/systemd/system").is_dir();
    match plan_with(m.as_ref(), &out.stdout_str(), None) {
        Ok(plan) => {
            assert!(booted_with_systemd);
            assert!(plan.result["ansible_facts"]["services"].is_object());
        }
        Err(e) => {
            assert!(!booted_with_systemd, "{e}");
            assert!(
                e.contains("systemd is not running on this host")
                    || e.contains("systemctl not found"),
                "{e}"
            );
            assert!(e.contains("hint: "), "{e}");
        }
    }
}

#[test]
fn packages_from_dpkg_and_rpm() {
    let dpkg = "::fmc::apt\n\
        coreutils\t9.1-1\tamd64\tutils\tinstall ok installed\n\
        libc6\t2.36-9\tamd64\tlibs\tinstall ok installed\n\
        libc6\t2.36-9\ti386\tlibs\thold ok installed\n\
        oldpkg\t1.0\tall\tmisc\tdeinstall ok config-files\n\
        nginx\t1:1.22-1\tamd64\thttpd\tinstall ok half-configured\n\
        fmc-rc 0\n";
    let m = prepare("package_facts", json!({}));
    let plan = plan_with(m.as_ref(), dpkg, None).unwrap();
    let pk = &plan.result["ansible_facts"]["packages"];
    assert_eq!(
        pk["coreutils"],
        json!([{"name": "coreutils", "version": "9.1-1", "arch": "amd64", "category": "utils", "source": "apt"}])
    );
    assert_eq!(pk["libc6"].as_array().unwrap().len(), 2);
    assert_eq!(pk["libc6"][1]["arch"], "i386");
    assert_eq!(pk["nginx"][0]["version"], "1:1.22-1");
    assert!(pk.get("oldpkg").is_none());

    let rpm = "::fmc::rpm\n\
        bash\t5.1.8\t6.el9\t(none)\tx86_64\n\
        openssl\t3.0.7\t27.el9\t1\tx86_64\n\
        gpg-pubkey\t8483c65d\t5ccc5b19\t(none)\t(none)\n\
        fmc-rc 0\n";
    let plan = plan_with(m.as_ref(), rpm, None).unwrap();
    let pk = &plan.result["ansible_facts"]["packages"];
    assert_eq!(
        pk["openssl"],
        json!([{"name": "openssl", "version": "3.0.7", "release": "27.el9", "epoch": 1, "arch": "x86_64", "source": "rpm"}])
    );
    assert_eq!(pk["bash"][0]["epoch"], serde_json::Value::Null);
    assert_eq!(pk["gpg-pubkey"][0]["arch"], serde_json::Value::Null);

    // strategy all merges both; an empty database is fine
    let m = prepare(
        "package_facts",
        json!({"manager": ["apt", "rpm"], "strategy": "all"}),
    );
    let plan = plan_with(m.as_ref(), &format!("{dpkg}{rpm}"), None).unwrap();
    let pk = plan.result["ansible_facts"]["packages"]
        .as_object()
        .unwrap();
    assert!(pk.contains_key("coreutils") && pk.contains_key("openssl"));
    let m = prepare("package_facts", json!({"manager": "auto"}));
    let plan = plan_with(m.as_ref(), "::fmc::rpm\nfmc-rc 0\n", None).unwrap();
    assert_eq!(plan.result["ansible_facts"]["packages"], json!({}));
}

#[test]
fn package_facts_failures() {
    let m = prepare("package_facts", json!({}));
    let e = plan_with(m.as_ref(), "", None).unwrap_err();
    assert!(
        e.starts_with("could not detect a supported package manager"),
        "{e}"
    );
    assert!(e.contains("hint: "), "{e}");
    let m = prepare("package_facts", json!({"manager": "rpm"}));
    let e = plan_with(m.as_ref(), "::fmc::apt\nfmc-rc 0\n", None).unwrap_err();
    assert_eq!(e, "package manager rpm is not available on this host");
    let m = prepare("package_facts", json!({}));
    let e = plan_with(m.as_ref(), "::fmc::apt\nfmc-rc 2\n", None).unwrap_err();
    assert_eq!(e, "listing apt packages failed (rc=2)");
    for (p, want) in [
        (json!({"manager": "portage"}), "only auto, apt and rpm"),
        (json!({"strategy": "any"}), "unknown variant"),
    ] {
        let e = prepare_err("package_facts", p.clone());
        assert!(e.contains(want), "{p}: {e}");
    }
}

#[test]
fn package_facts_on_this_machine() {
    // Debian: dpkg-query lists coreutils; the probe stops at the first manager.
    let m = prepare("package_facts", json!({}));
    let script = probe_script(m.as_ref(), None);
    let dir = TempDir::new().unwrap();
    let out = system_support::sh(&script, None, None, dir.path());
    assert_eq!(out.rc, 0, "{}", out.stderr_str());
    let plan = plan_with(m.as_ref(), &out.stdout_str(), None).unwrap();
    let pk = plan.result["ansible_facts"]["packages"]
        .as_object()
        .unwrap();
    let core = &pk["coreutils"][0];
    assert_eq!(core["source"], "apt");
    assert_eq!(core["name"], "coreutils");
    let version = core["version"].as_str().unwrap();
    assert!(
        version.chars().next().unwrap().is_ascii_digit(),
        "{version}"
    );
    // cross-check with dpkg itself
    let want = std::process::Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", "coreutils"])
        .output()
        .unwrap();
    assert_eq!(version, String::from_utf8_lossy(&want.stdout));
    assert!(pk.len() > 50, "only {} packages", pk.len());
}
