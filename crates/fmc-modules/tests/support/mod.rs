//! Test executor: runs a module's probe -> plan -> actions -> finish with local `sh`
//! inside a temp dir, then re-probes so tests can assert convergence.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use fmc_core::{Action, ControllerFiles, ExecOutput, Map, ModuleCtx, Outcome, Plan, Value};

/// Controller files rooted at a directory; `render` replaces `{{ name }}` with `vars`.
pub struct TestFiles {
    pub root: PathBuf,
    pub vars: Vec<(String, String)>,
}

impl ControllerFiles for TestFiles {
    fn find(&self, name: &str, _template: bool) -> Result<PathBuf, String> {
        let p = self.root.join(name);
        if p.exists() {
            Ok(p)
        } else {
            Err(format!("could not find {name}"))
        }
    }
    fn read(&self, path: &Path) -> Result<Vec<u8>, String> {
        std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
    }
    fn render(&self, path: &Path) -> Result<String, String> {
        let mut s = String::from_utf8(self.read(path)?).map_err(|e| e.to_string())?;
        for (k, v) in &self.vars {
            s = s.replace(&format!("{{{{ {k} }}}}"), v);
        }
        Ok(s)
    }
}

/// Runs `script` with `sh -c`, feeding `stdin`.
pub fn sh(script: &str, stdin: Option<&[u8]>) -> ExecOutput {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
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
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    ExecOutput {
        rc: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: out.stderr,
    }
}

/// A module invocation against the local machine.
pub struct Harness {
    pub files: TestFiles,
    pub vars: Map,
}

/// What one converge did.
pub struct Run {
    pub plan: Plan,
    pub outcome: Option<Outcome>,
    /// The plan computed from a fresh probe after applying.
    pub replan: Plan,
}

impl Harness {
    pub fn new(root: &Path) -> Self {
        Harness {
            files: TestFiles {
                root: root.to_path_buf(),
                vars: vec![],
            },
            vars: Map::new(),
        }
    }

    fn ctx(&self) -> ModuleCtx<'_> {
        ModuleCtx {
            host: "testhost",
            facts: None,
            files: &self.files,
            vars: &self.vars,
        }
    }

    /// Probe and plan only (what `--check` does).
    pub fn plan(&self, module: &str, args: Value) -> Plan {
        let m = prepare(module, args);
        let ctx = self.ctx();
        let probe = m.probe(&ctx).unwrap();
        let out = probe.map(|p| sh(&p.script, p.stdin.as_deref()));
        m.plan(&ctx, out.as_ref()).unwrap()
    }

    /// probe -> plan -> actions -> finish -> probe -> plan, like the runner.
    pub fn converge(&self, module: &str, args: Value) -> Run {
        let m = prepare(module, args.clone());
        let ctx = self.ctx();
        let probe = m.probe(&ctx).unwrap();
        let out = probe.map(|p| sh(&p.script, p.stdin.as_deref()));
        let plan = m.plan(&ctx, out.as_ref()).unwrap();
        if plan.failed.is_some() {
            return Run {
                replan: plan.clone(),
                plan,
                outcome: None,
            };
        }
        let mut outputs = Vec::new();
        for a in &plan.actions {
            match a {
                Action::Exec {
                    script,
                    stdin,
                    allow_failure,
                    ..
                } => {
                    let o = sh(script, stdin.as_deref());
                    let stop = o.rc != 0 && !allow_failure;
                    outputs.push(o);
                    if stop {
                        break;
                    }
                }
                Action::Reboot { .. } => panic!("tests never reboot"),
            }
        }
        let outcome = m.finish(&plan, &outputs).unwrap();
        let replan = self.plan(module, args);
        Run {
            plan,
            outcome: Some(outcome),
            replan,
        }
    }
}

/// Prepares a module from the registry with JSON args.
pub fn prepare(module: &str, args: Value) -> Box<dyn fmc_core::PreparedModule> {
    let f = fmc_modules::registry()
        .get(module)
        .unwrap_or_else(|| panic!("no module {module}"));
    let Value::Object(map) = args else {
        panic!("args must be an object")
    };
    f.prepare(&map).unwrap_or_else(|e| panic!("{e}"))
}

/// The parameter error `prepare` returns.
pub fn prepare_err(module: &str, args: Value) -> String {
    let f = fmc_modules::registry().get(module).unwrap();
    let Value::Object(map) = args else {
        panic!("args must be an object")
    };
    match f.prepare(&map) {
        Ok(_) => panic!("expected a parameter error"),
        Err(e) => e.to_string(),
    }
}

/// Probe output bytes -> plan, for fixture tests.
pub fn plan_from(module: &str, args: Value, stdout: &str, files: &TestFiles) -> Plan {
    let m = prepare(module, args);
    let vars = Map::new();
    let ctx = ModuleCtx {
        host: "testhost",
        facts: None,
        files,
        vars: &vars,
    };
    let out = ExecOutput {
        rc: 0,
        stdout: stdout.as_bytes().to_vec(),
        stderr: vec![],
    };
    m.plan(&ctx, Some(&out)).unwrap()
}
