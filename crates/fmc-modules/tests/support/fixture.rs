//! Fixture helpers for system-module tests: prepare a module and plan it
//! against a given probe output, without running anything.
#![allow(dead_code, clippy::unwrap_used)]

use fmc_core::{ExecOutput, Facts, Map, ModuleCtx, Plan, PreparedModule, Value};

use super::system_support::NoFiles;

pub fn prepare(module: &str, args: Value) -> Box<dyn PreparedModule> {
    let args: Map = args.as_object().unwrap().clone();
    fmc_modules::registry()
        .get(module)
        .unwrap()
        .prepare(&args)
        .unwrap()
}

pub fn prepare_err(module: &str, args: Value) -> String {
    let args: Map = args.as_object().unwrap().clone();
    match fmc_modules::registry().get(module).unwrap().prepare(&args) {
        Ok(_) => panic!("{module}: expected a parameter error"),
        Err(e) => e.to_string(),
    }
}

pub fn ok(stdout: &str) -> ExecOutput {
    ExecOutput {
        rc: 0,
        stdout: stdout.as_bytes().to_vec(),
        stderr: vec![],
    }
}

/// The probe script (must exist) of `m` for a host with `facts`.
pub fn probe_script(m: &dyn PreparedModule, facts: Option<&Facts>) -> String {
    let vars = Map::new();
    let ctx = ModuleCtx {
        host: "h",
        facts,
        files: &NoFiles,
        vars: &vars,
    };
    m.probe(&ctx).unwrap().unwrap().script
}

/// Plans `m` against `stdout` (rc 0) for a host with `facts`.
pub fn plan_with(
    m: &dyn PreparedModule,
    stdout: &str,
    facts: Option<&Facts>,
) -> Result<Plan, String> {
    let vars = Map::new();
    let ctx = ModuleCtx {
        host: "h",
        facts,
        files: &NoFiles,
        vars: &vars,
    };
    m.plan(&ctx, Some(&ok(stdout))).map_err(|e| e.to_string())
}

/// The single Exec script of a plan (panics if there is not exactly one).
pub fn only_script(plan: &Plan) -> String {
    match plan.actions.as_slice() {
        [fmc_core::Action::Exec { script, .. }] => script.clone(),
        other => panic!("expected one exec action, got {other:?}"),
    }
}
