//! command / shell / raw: parameter checks, fixtures and real local execution.
#![allow(clippy::unwrap_used)]

#[path = "support/system.rs"]
mod system_support;

use fmc_core::{CheckSupport, ExecOutput, Map, ModuleCtx, Value};
use serde_json::json;
use system_support::{NoFiles, check, run};
use tempfile::TempDir;

fn args(v: Value) -> Map {
    v.as_object().unwrap().clone()
}

fn prepare_err(module: &str, v: Value) -> String {
    match fmc_modules::registry()
        .get(module)
        .unwrap()
        .prepare(&args(v))
    {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn parameter_errors() {
    let cases = [
        (
            "command",
            json!({"_raw_params": "echo", "chdri": "/"}),
            "did you mean 'chdir'",
        ),
        ("command", json!({}), "no command given"),
        ("command", json!({"cmd": "a", "argv": ["b"]}), "only one of"),
        (
            "command",
            json!({"_raw_params": "echo 'x"}),
            "no closing quotation",
        ),
        (
            "command",
            json!({"_raw_params": "ls", "executable": "/bin/bash"}),
            "unsupported parameter 'executable'",
        ),
        ("shell", json!({"_raw_params": "  "}), "no command given"),
        (
            "shell",
            json!({"_raw_params": "x", "argv": ["a"]}),
            "unsupported parameter 'argv'",
        ),
        ("raw", json!({}), "missing required parameter '_raw_params'"),
        (
            "command",
            json!({"_raw_params": "ls", "strip_empty_ends": "maybe"}),
            "expected a boolean",
        ),
    ];
    for (module, v, want) in cases {
        let e = prepare_err(module, v.clone());
        assert!(e.contains(want), "{module} {v}: {e}");
    }
}

/// Fixture table: probe output of creates/removes -> plan.
#[test]
fn creates_removes_fixtures() {
    let cases: &[(Value, &str, bool, Option<&str>)] = &[
        // (params, probe stdout, would run, failure)
        (
            json!({"_raw_params": "touch x", "creates": "x"}),
            "::fmc::creates\nno\n",
            true,
            None,
        ),
        (
            json!({"_raw_params": "touch x", "creates": "x"}),
            "::fmc::creates\nyes\n",
            false,
            None,
        ),
        (
            json!({"_raw_params": "rm x", "removes": "x"}),
            "::fmc::removes\nyes\n",
            true,
            None,
        ),
        (
            json!({"_raw_params": "rm x", "removes": "x"}),
            "::fmc::removes\nno\n",
            false,
            None,
        ),
        (
            json!({"_raw_params": "rm x", "creates": "a", "removes": "x"}),
            "::fmc::creates\nno\n::fmc::removes\nno\n",
            false,
            None,
        ),
        (
            json!({"_raw_params": "ls", "chdir": "/nope", "creates": "a"}),
            "::fmc::nochdir\n",
            false,
            Some("Unable to change directory before execution"),
        ),
    ];
    let vars = Map::new();
    let ctx = ModuleCtx {
        host: "h",
        facts: None,
        files: &NoFiles,
        vars: &vars,
    };
    for (params, stdout, runs, failed) in cases {
        let m = fmc_modules::registry()
            .get("command")
            .unwrap()
            .prepare(&args(params.clone()))
            .unwrap();
        assert_eq!(m.check_support(), Some(CheckSupport::Full));
        assert!(m.probe(&ctx).unwrap().is_some());
        let out = ExecOutput {
            rc: 0,
            stdout: stdout.as_bytes().to_vec(),
            stderr: vec![],
        };
        let plan = m.plan(&ctx, Some(&out)).unwrap();
        assert_eq!(plan.changed(), *runs, "{params}");
        assert_eq!(plan.actions.len(), usize::from(*runs), "{params}");
        assert_eq!(plan.failed.as_deref(), *failed, "{params}");
        if !runs && failed.is_none() {
            let msg = plan.result["msg"].as_str().unwrap();
            assert!(msg.starts_with("Did not run command since"), "{msg}");
        }
    }
    // garbage probe output is an error, not a guess
    let m = fmc_modules::registry()
        .get("command")
        .unwrap()
        .prepare(&args(json!({"_raw_params": "ls", "creates": "a"})))
        .unwrap();
    let out = ExecOutput {
        rc: 0,
        stdout: b"::fmc::creates\nmaybe\n".to_vec(),
        stderr: vec![],
    };
    assert!(m.plan(&ctx, Some(&out)).is_err());
    let plain = fmc_modules::registry()
        .get("command")
        .unwrap()
        .prepare(&args(json!({"_raw_params": "ls"})))
        .unwrap();
    assert_eq!(plain.check_support(), None);
    assert!(plain.probe(&ctx).unwrap().is_none());
}

#[test]
fn command_does_not_interpret_shell_syntax() {
    let dir = TempDir::new().unwrap();
    let r = run(
        "command",
        json!({"_raw_params": "echo a;b 'c  d' | $HOME ${HOME} $(id) `id` *"}),
        dir.path(),
    );
    let home = std::env::var("HOME").unwrap();
    assert!(r.outcome.changed);
    assert_eq!(r.outcome.failed, None);
    assert_eq!(
        r.outcome.result["stdout"],
        format!("a;b c  d | {home} {home} $(id) `id` *")
    );
    assert_eq!(r.outcome.result["rc"], 0);
    assert_eq!(r.outcome.result["cmd"][1], "a;b");
}

#[test]
fn command_argv_stdin_and_failure() {
    let dir = TempDir::new().unwrap();
    let r = run(
        "command",
        json!({"argv": ["printf", "%s|%s", "a b", "$HOME"], "expand_argument_vars": false}),
        dir.path(),
    );
    assert_eq!(r.outcome.result["stdout"], "a b|$HOME");

    let r = run(
        "command",
        json!({"_raw_params": "cat", "stdin": "line1\nline2"}),
        dir.path(),
    );
    assert_eq!(r.outcome.result["stdout"], "line1\nline2");
    assert_eq!(r.outcome.result["stdout_lines"], json!(["line1", "line2"]));

    let r = run(
        "command",
        json!({"_raw_params": "printf 'x\\n\\n'", "strip_empty_ends": false}),
        dir.path(),
    );
    assert_eq!(r.outcome.result["stdout"], "x\n\n");

    let r = run(
        "command",
        json!({"_raw_params": "ls /definitely/not/here"}),
        dir.path(),
    );
    assert_eq!(r.outcome.failed.as_deref(), Some("non-zero return code"));
    assert_eq!(r.outcome.result["rc"], 2);
    assert!(
        r.outcome.result["stderr"]
            .as_str()
            .unwrap()
            .contains("not/here")
    );
    assert_eq!(r.outcome.result["msg"], "non-zero return code");
}

#[test]
fn creates_converges_and_chdir_applies() {
    let dir = TempDir::new().unwrap();
    let sub = dir.path().join("my dir");
    std::fs::create_dir(&sub).unwrap();
    let params =
        json!({"_raw_params": "touch marker", "chdir": sub.to_str().unwrap(), "creates": "mark*"});
    let before = check("command", params.clone(), dir.path());
    assert_eq!(before.changes, vec!["run command (mark* does not exist)"]);
    let r = run("command", params.clone(), dir.path());
    assert!(r.outcome.changed);
    assert!(sub.join("marker").exists());
    let after = run("command", params, dir.path());
    assert!(!after.outcome.changed);
    assert!(after.plan.actions.is_empty());
    assert_eq!(
        after.outcome.result["msg"],
        "Did not run command since 'mark*' exists"
    );

    let removes = json!({"cmd": "rm marker", "chdir": sub.to_str().unwrap(), "removes": "marker"});
    assert!(run("command", removes.clone(), dir.path()).outcome.changed);
    assert!(!sub.join("marker").exists());
    assert!(!run("command", removes, dir.path()).outcome.changed);

    let r = run(
        "command",
        json!({"cmd": "ls", "chdir": dir.path().join("nope").to_str().unwrap()}),
        dir.path(),
    );
    assert_eq!(r.outcome.failed.as_deref(), Some("non-zero return code"));
    assert!(
        r.outcome.result["stderr"]
            .as_str()
            .unwrap()
            .contains("Unable to change directory")
    );
}

#[test]
fn shell_pipes_redirects_and_executable() {
    let dir = TempDir::new().unwrap();
    let r = run(
        "shell",
        json!({"_raw_params": "echo abc | tr a x > out.txt\ncat out.txt; echo \"q'uote\""}),
        dir.path(),
    );
    assert_eq!(r.outcome.failed, None);
    assert_eq!(r.outcome.result["stdout"], "xbc\nq'uote");
    assert_eq!(
        r.outcome.result["cmd"],
        "echo abc | tr a x > out.txt\ncat out.txt; echo \"q'uote\""
    );

    let r = run(
        "shell",
        json!({"cmd": "echo ${BASH_VERSION:+bash}", "executable": "/bin/bash"}),
        dir.path(),
    );
    assert_eq!(r.outcome.result["stdout"], "bash");

    let r = run("shell", json!({"_raw_params": "exit 3"}), dir.path());
    assert_eq!(r.outcome.failed.as_deref(), Some("non-zero return code"));
    assert_eq!(r.outcome.result["rc"], 3);

    let params = json!({"_raw_params": "echo made > made.txt", "creates": "made.txt"});
    assert!(run("shell", params.clone(), dir.path()).outcome.changed);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("made.txt")).unwrap(),
        "made\n"
    );
    assert!(check("shell", params, dir.path()).changes.is_empty());
}

#[test]
fn raw_runs_as_is_without_stripping() {
    let dir = TempDir::new().unwrap();
    let r = run(
        "raw",
        json!({"_raw_params": "printf 'a\\n'; echo err >&2"}),
        dir.path(),
    );
    assert!(r.outcome.changed);
    assert_eq!(r.outcome.result["stdout"], "a\n");
    assert_eq!(r.outcome.result["stderr"], "err\n");
    let r = run("raw", json!({"_raw_params": "false"}), dir.path());
    assert_eq!(r.outcome.failed.as_deref(), Some("non-zero return code"));
    let r = run(
        "raw",
        json!({"_raw_params": "echo $0", "executable": "/bin/bash"}),
        dir.path(),
    );
    assert_eq!(r.outcome.result["stdout"], "/bin/bash\n");
}
