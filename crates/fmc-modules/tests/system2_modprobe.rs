//! modprobe: fixture tests (never loads or unloads anything), plus a read-only
//! local probe run.
#![allow(clippy::unwrap_used)]

#[path = "support/fixture.rs"]
mod fixture;
#[path = "support/system.rs"]
mod system_support;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use fixture::{only_script, plan_with, prepare, prepare_err, probe_script};
use fmc_core::Action;
use serde_json::json;

fn state(proc_: &str, builtin: &str, sysfs: &str) -> String {
    format!("::fmc::state\nproc={proc_}\nbuiltin={builtin}\nsysfs={sysfs}\n::fmc::conf\n")
}

fn conf(kind: &str, path: &str, content: &str) -> String {
    format!("{kind} {} {}\n", B64.encode(path), B64.encode(content))
}

/// (path, stdin) of every write action.
fn writes(plan: &fmc_core::Plan) -> Vec<(String, String)> {
    plan.actions
        .iter()
        .filter_map(|a| match a {
            Action::Exec {
                script,
                stdin: Some(s),
                ..
            } => {
                let d = script.lines().find_map(|l| l.strip_prefix("d="))?;
                Some((d.to_string(), String::from_utf8(s.clone()).unwrap()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn load_and_unload() {
    // (params, probe, changes, command in the single script or None)
    let cases = [
        (
            json!({"name": "br_netfilter"}),
            state("0", "0", "0"),
            vec!["load kernel module br_netfilter"],
            Some("modprobe br_netfilter"),
        ),
        (
            json!({"name": "dummy", "params": "numdummies=2 'x=a b'"}),
            state("0", "0", "0"),
            vec!["load kernel module dummy"],
            Some("modprobe dummy numdummies=2 'x=a b'"),
        ),
        (
            json!({"name": "overlay"}),
            state("1", "0", "1"),
            vec![],
            None,
        ),
        // built-in: counts as loaded (modules.builtin or /sys/module)
        (
            json!({"name": "overlay"}),
            state("0", "1", "0"),
            vec![],
            None,
        ),
        (
            json!({"name": "overlay", "state": "present"}),
            state("0", "0", "1"),
            vec![],
            None,
        ),
        (
            json!({"name": "wireguard", "state": "absent"}),
            state("1", "0", "1"),
            vec!["unload kernel module wireguard"],
            Some("modprobe -r wireguard"),
        ),
        (
            json!({"name": "wireguard", "state": "absent"}),
            state("0", "0", "0"),
            vec![],
            None,
        ),
    ];
    for (params, probe, changes, cmd) in cases {
        let m = prepare("community.general.modprobe", params.clone());
        let plan = plan_with(m.as_ref(), &probe, None).unwrap();
        assert_eq!(plan.changes, changes, "{params}");
        assert_eq!(plan.result["name"], params["name"], "{params}");
        match cmd {
            Some(c) => assert!(only_script(&plan).ends_with(c), "{params}"),
            None => assert!(plan.actions.is_empty(), "{params}"),
        }
    }
    let m = prepare("modprobe", json!({"name": "ext4", "state": "absent"}));
    let plan = plan_with(m.as_ref(), &state("0", "1", "1"), None).unwrap();
    assert_eq!(
        plan.failed.as_deref(),
        Some("kernel module ext4 is built into the kernel and cannot be unloaded")
    );
    let plan = plan_with(m.as_ref(), &state("unreadable", "0", "0"), None).unwrap();
    assert_eq!(plan.failed.as_deref(), Some("cannot read /proc/modules"));
    assert!(plan_with(m.as_ref(), "garbage\n", None).is_err());
}

#[test]
fn dash_and_underscore_are_one_module_in_the_probe() {
    let m = prepare("modprobe", json!({"name": "snd-hda-intel"}));
    let s = probe_script(m.as_ref(), None);
    assert!(s.contains("n=snd_hda_intel\n"), "{s}");
    // no persistence: the configuration directories are not read
    assert!(!s.contains("modules-load.d"), "{s}");
}

#[test]
fn persistent_present() {
    let loaded = state("1", "0", "1");
    // nothing persistent yet: both files written
    let m = prepare(
        "modprobe",
        json!({"name": "br_netfilter", "params": "a=1 b=2", "persistent": "present"}),
    );
    let plan = plan_with(m.as_ref(), &loaded, None).unwrap();
    assert_eq!(
        plan.changes,
        vec![
            "add br_netfilter to /etc/modules-load.d/br_netfilter.conf",
            "set options 'a=1 b=2' for br_netfilter in /etc/modprobe.d/br_netfilter.conf",
        ]
    );
    assert_eq!(
        writes(&plan),
        vec![
            (
                "/etc/modprobe.d/br_netfilter.conf".into(),
                "options br_netfilter a=1\noptions br_netfilter b=2\n".into()
            ),
            (
                "/etc/modules-load.d/br_netfilter.conf".into(),
                "br_netfilter\n".into()
            ),
        ]
    );
    assert!(only_or_first(&plan).starts_with("mkdir -p -- /etc/modprobe.d\n"));

    // listed in another file, options split over lines and files, with comments
    let probe = format!(
        "{loaded}{}{}{}",
        conf(
            "load",
            "/etc/modules-load.d/k8s.conf",
            "overlay\n  br_netfilter # k8s\n"
        ),
        conf(
            "opts",
            "/etc/modprobe.d/a.conf",
            "options br_netfilter b=2\n"
        ),
        conf(
            "opts",
            "/etc/modprobe.d/b.conf",
            "options br_netfilter a=1 ; x\n"
        ),
    );
    let plan = plan_with(m.as_ref(), &probe, None).unwrap();
    assert!(plan.changes.is_empty(), "{:?}", plan.changes);
    assert!(plan.actions.is_empty());

    // a commented-out entry does not count; params drift: old lines commented out,
    // the module's own file keeps its other lines
    let m = prepare(
        "modprobe",
        json!({"name": "br_netfilter", "params": "a=3", "persistent": "present"}),
    );
    let probe = format!(
        "{loaded}{}{}{}",
        conf("load", "/etc/modules-load.d/k8s.conf", "#br_netfilter\n"),
        conf(
            "opts",
            "/etc/modprobe.d/a.conf",
            "options br_netfilter a=1\n"
        ),
        conf(
            "opts",
            "/etc/modprobe.d/br_netfilter.conf",
            "blacklist br_netfilter_x\noptions br_netfilter a=2"
        ),
    );
    let plan = plan_with(m.as_ref(), &probe, None).unwrap();
    assert_eq!(
        plan.changes,
        vec![
            "add br_netfilter to /etc/modules-load.d/br_netfilter.conf",
            "comment out options for br_netfilter in /etc/modprobe.d/a.conf",
            "comment out options for br_netfilter in /etc/modprobe.d/br_netfilter.conf",
            "set options 'a=3' for br_netfilter in /etc/modprobe.d/br_netfilter.conf",
        ]
    );
    assert_eq!(
        writes(&plan),
        vec![
            (
                "/etc/modprobe.d/a.conf".into(),
                "#options br_netfilter a=1\n".into()
            ),
            (
                "/etc/modprobe.d/br_netfilter.conf".into(),
                "blacklist br_netfilter_x\n#options br_netfilter a=2\noptions br_netfilter a=3\n"
                    .into()
            ),
            (
                "/etc/modules-load.d/br_netfilter.conf".into(),
                "br_netfilter\n".into()
            ),
        ]
    );

    // not yet loaded and not persistent: load first, then write
    let m = prepare(
        "modprobe",
        json!({"name": "overlay", "persistent": "present"}),
    );
    let plan = plan_with(m.as_ref(), &state("0", "0", "0"), None).unwrap();
    assert_eq!(plan.actions.len(), 2);
    match &plan.actions[0] {
        Action::Exec { script, .. } => assert!(script.ends_with("modprobe overlay")),
        other => panic!("{other:?}"),
    }
}

fn only_or_first(plan: &fmc_core::Plan) -> String {
    match plan.actions.first() {
        Some(Action::Exec { script, .. }) => script.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn persistent_absent() {
    let m = prepare(
        "modprobe",
        json!({"name": "pcspkr", "state": "absent", "persistent": "absent"}),
    );
    let probe = format!(
        "{}{}{}{}",
        state("0", "0", "0"),
        conf("load", "/etc/modules-load.d/x.conf", "pcspkr\npcspkr2\n"),
        conf("load", "/etc/modules-load.d/y.conf", "# pcspkr\n"),
        conf(
            "opts",
            "/etc/modprobe.d/pcspkr.conf",
            "options pcspkr a=1\n"
        ),
    );
    let plan = plan_with(m.as_ref(), &probe, None).unwrap();
    assert_eq!(
        plan.changes,
        vec![
            "comment out pcspkr in /etc/modules-load.d/x.conf",
            "comment out options for pcspkr in /etc/modprobe.d/pcspkr.conf",
        ]
    );
    assert_eq!(
        writes(&plan),
        vec![
            (
                "/etc/modprobe.d/pcspkr.conf".into(),
                "#options pcspkr a=1\n".into()
            ),
            (
                "/etc/modules-load.d/x.conf".into(),
                "#pcspkr\npcspkr2\n".into()
            ),
        ]
    );
    // already gone
    let probe = format!(
        "{}{}",
        state("0", "0", "0"),
        conf("load", "/etc/modules-load.d/y.conf", "#pcspkr\n")
    );
    let plan = plan_with(m.as_ref(), &probe, None).unwrap();
    assert!(plan.changes.is_empty() && plan.actions.is_empty());
    // a non-UTF-8 file is an error, not silently rewritten
    let probe = format!(
        "{}load {} {}\n",
        state("0", "0", "0"),
        B64.encode("/etc/modules-load.d/z.conf"),
        B64.encode([0xff, 0xfe])
    );
    let e = plan_with(m.as_ref(), &probe, None).unwrap_err();
    assert!(e.contains("is not valid UTF-8"), "{e}");
}

#[test]
fn local_probe_is_read_only_and_parses() {
    // Reads /proc/modules, modules.builtin and /etc/modules-load.d on this machine.
    let m = prepare(
        "modprobe",
        json!({"name": "fmc_no_such_module_x", "state": "absent", "persistent": "absent"}),
    );
    let script = probe_script(m.as_ref(), None);
    let dir = tempfile::TempDir::new().unwrap();
    let out = system_support::sh(&script, None, None, dir.path());
    assert_eq!(out.rc, 0, "{}", out.stderr_str());
    let plan = plan_with(m.as_ref(), &out.stdout_str(), None).unwrap();
    assert!(plan.changes.is_empty(), "{:?}", plan.changes);
    assert_eq!(plan.failed, None);
}

#[test]
fn parameter_errors() {
    for (p, want) in [
        (json!({}), "missing required parameter 'name'"),
        (json!({"name": "a b"}), "invalid kernel module name"),
        (json!({"name": "-r"}), "invalid kernel module name"),
        (json!({"name": "x/y"}), "invalid kernel module name"),
        (json!({"name": "x", "params": "a='1"}), "parameter 'params'"),
        (json!({"name": "x", "params": "a=1\nb=2"}), "single line"),
        (json!({"name": "x", "persistent": "yes"}), "unknown variant"),
        (json!({"name": "x", "state": "loaded"}), "unknown variant"),
        (
            json!({"name": "x", "force": true}),
            "unsupported parameter 'force'",
        ),
    ] {
        let e = prepare_err("modprobe", p.clone());
        assert!(e.contains(want), "{p}: {e}");
    }
}
