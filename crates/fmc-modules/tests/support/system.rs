//! Local executor for system-module tests: runs probe -> plan -> actions -> finish
//! with `sh -c` on this machine, in a directory the test chooses (a `TempDir`).
//! Include it with `#[path = "support/system.rs"] mod system_support;`.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fmc_core::{Action, ControllerFiles, ExecOutput, Map, ModuleCtx, Outcome, Plan, Value};

/// Controller files are not needed by system modules.
pub struct NoFiles;

impl ControllerFiles for NoFiles {
    fn find(&self, name: &str, _template: bool) -> Result<std::path::PathBuf, String> {
        Err(format!("no controller files in tests: {name}"))
    }
    fn read(&self, path: &Path) -> Result<Vec<u8>, String> {
        Err(format!("no controller files in tests: {}", path.display()))
    }
    fn render(&self, path: &Path) -> Result<String, String> {
        Err(format!("no controller files in tests: {}", path.display()))
    }
}

/// Runs `script` with `sh -c` in `cwd`, feeding `stdin`, killing it after `timeout`.
pub fn sh(script: &str, stdin: Option<&[u8]>, timeout: Option<Duration>, cwd: &Path) -> ExecOutput {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.map(<[u8]>::to_vec).unwrap_or_default();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut b = vec![];
        let _ = out.read_to_end(&mut b);
        b
    });
    let err_t = std::thread::spawn(move || {
        let mut b = vec![];
        let _ = err.read_to_end(&mut b);
        b
    });
    let limit = timeout.unwrap_or(Duration::from_secs(60));
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = writer.join();
    match status {
        Some(st) => ExecOutput {
            rc: st.code().unwrap_or(-1),
            stdout: out_t.join().unwrap(),
            stderr: err_t.join().unwrap(),
        },
        None => ExecOutput {
            rc: -1,
            stdout: vec![],
            stderr: b"timed out".to_vec(),
        },
    }
}

/// What one task did: the plan (as check mode would report it) and the outcome.
pub struct Run {
    pub plan: Plan,
    pub outcome: Outcome,
}

fn args_of(args: Value) -> Map {
    match args {
        Value::Object(m) => m,
        other => panic!("args must be an object, got {other}"),
    }
}

/// Prepares `module` and computes its plan from a real local probe (check mode).
pub fn check(module: &str, args: Value, cwd: &Path) -> Plan {
    let factory = fmc_modules::registry().get(module).unwrap();
    let prepared = factory.prepare(&args_of(args)).unwrap();
    let vars = Map::new();
    let ctx = ModuleCtx {
        host: "local",
        facts: None,
        files: &NoFiles,
        vars: &vars,
    };
    let probe = prepared.probe(&ctx).unwrap();
    let out = probe.map(|p| sh(&p.script, p.stdin.as_deref(), None, cwd));
    prepared.plan(&ctx, out.as_ref()).unwrap()
}

/// Runs `module` for real: probe, plan, actions (stopping at a failing one that
/// does not allow failure), finish.
pub fn run(module: &str, args: Value, cwd: &Path) -> Run {
    let factory = fmc_modules::registry().get(module).unwrap();
    let prepared = factory.prepare(&args_of(args)).unwrap();
    let vars = Map::new();
    let ctx = ModuleCtx {
        host: "local",
        facts: None,
        files: &NoFiles,
        vars: &vars,
    };
    let probe = prepared.probe(&ctx).unwrap();
    let out = probe.map(|p| sh(&p.script, p.stdin.as_deref(), None, cwd));
    let plan = prepared.plan(&ctx, out.as_ref()).unwrap();
    if plan.failed.is_some() {
        let outcome = Outcome {
            failed: plan.failed.clone(),
            result: plan.result.clone(),
            ..Default::default()
        };
        return Run { plan, outcome };
    }
    let mut outputs = vec![];
    for action in &plan.actions {
        match action {
            Action::Exec {
                script,
                stdin,
                allow_failure,
                timeout,
            } => {
                let o = sh(script, stdin.as_deref(), *timeout, cwd);
                let bad = o.rc != 0 && !allow_failure;
                outputs.push(o);
                if bad {
                    let last = outputs.last().unwrap();
                    let outcome = Outcome {
                        failed: Some(format!(
                            "action failed (rc={}): {}",
                            last.rc,
                            last.stderr_str()
                        )),
                        ..Default::default()
                    };
                    return Run { plan, outcome };
                }
            }
            Action::Reboot { .. } => panic!("reboot cannot run locally"),
        }
    }
    let outcome = prepared.finish(&plan, &outputs).unwrap();
    Run { plan, outcome }
}
