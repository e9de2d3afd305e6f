//! systemd_service / service: fixture tests (never touches the machine's services).
#![allow(clippy::unwrap_used)]

#[path = "support/fixture.rs"]
mod fixture;
#[path = "support/system.rs"]
mod system_support;

use fixture::{only_script, plan_with, prepare, prepare_err, probe_script};
use serde_json::json;

fn show(load: &str, active: &str, ufs: &str, reload: &str) -> String {
    format!(
        "::fmc::show\nId=nginx.service\nLoadState={load}\nActiveState={active}\nSubState=x\nUnitFileState={ufs}\nNeedDaemonReload={reload}\nrc=0\n::fmc::err\n"
    )
}

#[test]
fn plans_from_unit_state() {
    // (params, probe, expected change lines, expected commands in the script)
    let running_enabled = show("loaded", "active", "enabled", "no");
    let stopped_disabled = show("loaded", "inactive", "disabled", "no");
    let cases: Vec<(serde_json::Value, String, Vec<&str>, Vec<&str>)> = vec![
        (
            json!({"name": "nginx", "state": "started", "enabled": true}),
            running_enabled.clone(),
            vec![],
            vec![],
        ),
        (
            json!({"name": "nginx", "state": "started", "enabled": "yes"}),
            stopped_disabled.clone(),
            vec!["enable nginx", "start nginx"],
            vec!["systemctl enable -- nginx && systemctl start -- nginx"],
        ),
        (
            json!({"name": "nginx", "state": "stopped"}),
            running_enabled.clone(),
            vec!["stop nginx"],
            vec!["systemctl stop -- nginx"],
        ),
        (
            json!({"name": "nginx", "state": "stopped"}),
            show("loaded", "deactivating", "enabled", "no"),
            vec!["stop nginx"],
            vec!["stop"],
        ),
        (
            json!({"name": "nginx", "state": "stopped"}),
            stopped_disabled.clone(),
            vec![],
            vec![],
        ),
        (
            json!({"name": "nginx", "state": "restarted"}),
            running_enabled.clone(),
            vec!["restart nginx"],
            vec!["systemctl restart -- nginx"],
        ),
        (
            json!({"name": "nginx", "state": "restarted"}),
            stopped_disabled.clone(),
            vec!["start nginx"],
            vec!["systemctl start -- nginx"],
        ),
        (
            json!({"name": "nginx", "state": "reloaded", "no_block": true}),
            running_enabled.clone(),
            vec!["reload nginx"],
            vec!["systemctl --no-block reload -- nginx"],
        ),
        (
            json!({"name": "nginx", "enabled": false}),
            running_enabled.clone(),
            vec!["disable nginx"],
            vec!["systemctl disable -- nginx"],
        ),
        (
            json!({"name": "nginx", "enabled": false}),
            show("loaded", "active", "static", "no"),
            vec![],
            vec![],
        ),
        (
            json!({"name": "nginx", "enabled": true}),
            show("loaded", "active", "indirect", "no"),
            vec!["enable nginx"],
            vec!["enable"],
        ),
        (
            json!({"name": "locksmithd", "masked": true}),
            running_enabled.clone(),
            vec!["mask locksmithd"],
            vec!["systemctl mask -- locksmithd"],
        ),
        (
            json!({"name": "locksmithd", "masked": true}),
            show("masked", "inactive", "masked", "no"),
            vec![],
            vec![],
        ),
        (
            json!({"name": "nginx", "masked": false, "enabled": true}),
            show("masked", "inactive", "masked", "no"),
            vec!["unmask nginx", "enable nginx"],
            vec!["unmask -- nginx && systemctl enable"],
        ),
        (
            json!({"name": "k3s", "daemon_reload": true, "state": "started"}),
            show("loaded", "active", "enabled", "yes"),
            vec!["reload systemd manager configuration (unit files changed)"],
            vec!["systemctl daemon-reload"],
        ),
        (
            json!({"name": "k3s", "daemon-reload": "yes", "state": "started"}),
            show("loaded", "active", "enabled", "no"),
            vec![],
            vec![],
        ),
        (
            json!({"name": "my unit@x", "state": "started"}),
            show("loaded", "inactive", "enabled", "no"),
            vec!["start my unit@x"],
            vec!["start -- 'my unit@x'"],
        ),
    ];
    for (params, probe, changes, scripts) in cases {
        let m = prepare("systemd_service", params.clone());
        let plan = plan_with(m.as_ref(), &probe, None).unwrap();
        assert_eq!(plan.changes, changes, "{params}");
        if scripts.is_empty() {
            assert!(plan.actions.is_empty(), "{params}");
            assert!(plan.reason.is_some());
        } else {
            let s = only_script(&plan);
            for want in scripts {
                assert!(s.contains(want), "{params}: {s}");
            }
        }
    }
}

#[test]
fn result_fields_and_probe() {
    let m = prepare("systemd", json!({"name": "nginx", "state": "started"}));
    let script = probe_script(m.as_ref(), None);
    assert!(script.contains("systemctl show -p Id,LoadState,ActiveState,SubState,UnitFileState,NeedDaemonReload -- nginx"));
    let plan = plan_with(
        m.as_ref(),
        &show("loaded", "inactive", "disabled", "no"),
        None,
    )
    .unwrap();
    assert_eq!(plan.result["state"], "started");
    assert_eq!(plan.result["enabled"], false);
    assert_eq!(plan.result["status"]["ActiveState"], "inactive");
}

#[test]
fn failures() {
    let m = prepare(
        "systemd_service",
        json!({"name": "nope", "state": "started"}),
    );
    let plan = plan_with(m.as_ref(), &show("not-found", "inactive", "", "no"), None).unwrap();
    assert_eq!(
        plan.failed.as_deref(),
        Some("Could not find the requested service nope: host")
    );
    // masking a unit that does not exist is allowed (systemd links it to /dev/null)
    let m = prepare("systemd_service", json!({"name": "nope", "masked": true}));
    assert_eq!(
        plan_with(m.as_ref(), &show("not-found", "inactive", "", "no"), None)
            .unwrap()
            .changes,
        vec!["mask nope"]
    );

    let m = prepare("systemd_service", json!({"name": "x", "state": "started"}));
    let e = plan_with(
        m.as_ref(),
        "::fmc::show\nrc=1\n::fmc::err\nsystemd is not running on this host\n",
        None,
    )
    .unwrap_err();
    assert!(
        e.contains("systemd is not running") && e.contains("hint:"),
        "{e}"
    );
    let e = plan_with(m.as_ref(), "::fmc::show\nrc=1\n::fmc::err\n", None).unwrap_err();
    assert!(e.contains("rc=1"), "{e}");

    for (module, params, want) in [
        (
            "systemd_service",
            json!({"name": "x", "scope": "user"}),
            "only 'system' is supported",
        ),
        (
            "systemd_service",
            json!({"state": "started"}),
            "missing required parameter 'name'",
        ),
        (
            "systemd_service",
            json!({}),
            "one of 'name', 'daemon_reload'",
        ),
        (
            "systemd_service",
            json!({"name": "x", "state": "running"}),
            "unknown variant",
        ),
        (
            "systemd_service",
            json!({"name": "-x", "state": "started"}),
            "must not start with '-'",
        ),
        (
            "service",
            json!({"name": "x", "pattern": "foo"}),
            "systemd only",
        ),
        (
            "service",
            json!({"name": "x", "use": "sysvinit"}),
            "only 'auto' and 'systemd'",
        ),
        (
            "service",
            json!({"name": "x", "masked": true}),
            "unsupported parameter 'masked'",
        ),
    ] {
        let e = prepare_err(module, params.clone());
        assert!(e.contains(want), "{params}: {e}");
    }
}

#[test]
fn daemon_reload_without_name_always_runs_unreported() {
    let m = prepare("systemd_service", json!({"daemon_reload": true}));
    let vars = fmc_core::Map::new();
    let ctx = fmc_core::ModuleCtx {
        host: "h",
        facts: None,
        files: &system_support::NoFiles,
        vars: &vars,
    };
    assert!(m.probe(&ctx).unwrap().is_none());
    let plan = m.plan(&ctx, None).unwrap();
    assert!(plan.changes.is_empty());
    assert_eq!(only_script(&plan), "systemctl daemon-reload");
}

#[test]
fn service_maps_to_systemd_and_refuses_non_systemd_hosts() {
    let m = prepare(
        "service",
        json!({"name": "chronyd", "state": "started", "enabled": true, "sleep": 3}),
    );
    let plan = plan_with(
        m.as_ref(),
        &show("loaded", "inactive", "disabled", "no"),
        None,
    )
    .unwrap();
    assert_eq!(plan.changes, vec!["enable chronyd", "start chronyd"]);
    let facts = fmc_core::Facts {
        systemd: false,
        ..Default::default()
    };
    let vars = fmc_core::Map::new();
    let ctx = fmc_core::ModuleCtx {
        host: "h",
        facts: Some(&facts),
        files: &system_support::NoFiles,
        vars: &vars,
    };
    let e = m.probe(&ctx).unwrap_err().to_string();
    assert!(e.contains("does not run systemd"), "{e}");
}
