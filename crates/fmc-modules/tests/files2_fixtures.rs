//! Fixture tests for fetch, find, tempfile, get_url and unarchive: probe output
//! bytes -> plan, for the edge cases a real run cannot easily produce.
#![allow(clippy::unwrap_used)]

mod support;

use fmc_core::{Action, Plan};
use serde_json::{Value, json};
use support::{TestFiles, plan_from, prepare, prepare_err};

fn no_files() -> TestFiles {
    TestFiles {
        root: "/nonexistent".into(),
        vars: vec![],
    }
}

fn merged(base: &Value, extra: &Value) -> Value {
    let mut a = base.clone();
    for (k, v) in extra.as_object().unwrap() {
        a[k] = v.clone();
    }
    a
}

fn script(plan: &Plan) -> &str {
    match plan.actions.as_slice() {
        [Action::Exec { script, .. }] => script,
        other => panic!("expected one exec action, got {other:?}"),
    }
}

/// Checks `plan` against an expected failure substring or change-line prefixes.
fn check(name: &str, plan: &Plan, changes: &[&str], failure: Option<&str>) {
    match failure {
        Some(f) => assert!(
            plan.failed.as_deref().unwrap_or_default().contains(f),
            "{name}: {:?}",
            plan.failed
        ),
        None => {
            assert_eq!(plan.failed, None, "{name}");
            assert_eq!(
                plan.changes.len(),
                changes.len(),
                "{name}: {:?}",
                plan.changes
            );
            for (got, want) in plan.changes.iter().zip(changes) {
                assert!(got.starts_with(want), "{name}: {got:?} vs {want:?}");
            }
            assert_eq!(plan.actions.is_empty(), changes.is_empty(), "{name}");
        }
    }
}

/// (case, extra args, probe stdout, expected change-line prefixes, expected failure).
type Case = (
    &'static str,
    Value,
    String,
    Vec<&'static str>,
    Option<&'static str>,
);

const FILE: &str = "fmc-file file\nparent 1\numask 0022\nstat 644 0 0 5 1 root root\n";

#[test]
fn fetch_plans() {
    let dir = tempfile::tempdir().unwrap();
    let files = TestFiles {
        root: dir.path().into(),
        vars: vec![],
    };
    let dest = dir.path().join("out");
    let local = dest.join("testhost/etc/hostname");
    std::fs::create_dir_all(local.parent().unwrap()).unwrap();
    std::fs::write(&local, "web1\n").unwrap();
    let sha = fmc_modules::common::sha1_hex(b"web1\n");
    let args = json!({"src": "/etc/hostname", "dest": dest.to_str().unwrap()});
    let cases: Vec<Case> = vec![
        (
            "in sync",
            json!({}),
            format!("{FILE}sha1 {sha}\n"),
            vec![],
            None,
        ),
        (
            "differs",
            json!({}),
            format!("{FILE}sha1 00\n"),
            vec!["fetch /etc/hostname to "],
            None,
        ),
        (
            "flat new",
            json!({"flat": true, "dest": dir.path().join("f").to_str().unwrap()}),
            format!("{FILE}sha1 {sha}\n"),
            vec!["fetch /etc/hostname to "],
            None,
        ),
        (
            "absent",
            json!({}),
            "fmc-file absent\nparent 1\numask 0022\n".into(),
            vec![],
            Some("does not exist"),
        ),
        (
            "absent ignored",
            json!({"fail_on_missing": "no"}),
            "fmc-file absent\nparent 1\numask 0022\n".into(),
            vec![],
            None,
        ),
        (
            "dangling link",
            json!({}),
            "fmc-file link\nparent 1\numask 0022\nstat 777 0 0 1 1 root root\nlink eA==\n".into(),
            vec![],
            Some("does not exist"),
        ),
        (
            "directory",
            json!({}),
            "fmc-file directory\nparent 1\numask 0022\nstat 755 0 0 1 1 root root\n".into(),
            vec![],
            Some("is a directory"),
        ),
        (
            "unreadable",
            json!({}),
            format!("{FILE}unreadable\n"),
            vec![],
            Some("become"),
        ),
    ];
    for (name, extra, stdout, changes, failure) in cases {
        let plan = plan_from("fetch", merged(&args, &extra), &stdout, &files);
        check(name, &plan, &changes, failure);
    }
    let plan = plan_from(
        "fetch",
        args.clone(),
        &format!("{FILE}sha1 {sha}\n"),
        &files,
    );
    assert_eq!(plan.result["dest"], local.to_str().unwrap());
    // finish refuses bytes whose sha1 differs from the probed one
    let m = prepare("fetch", args);
    let plan = plan_from(
        "fetch",
        json!({"src": "/etc/hostname", "dest": dest.to_str().unwrap()}),
        &format!("{FILE}sha1 {}\n", fmc_modules::common::sha1_hex(b"new\n")),
        &files,
    );
    let changed_meanwhile = fmc_core::ExecOutput {
        rc: 0,
        stdout: b"newer\n".to_vec(),
        stderr: vec![],
    };
    let out = m.finish(&plan, &[changed_meanwhile]).unwrap();
    assert!(out.failed.unwrap().contains("checksum mismatch"));
    assert!(out.controller_writes.is_empty());
    let good = fmc_core::ExecOutput {
        rc: 0,
        stdout: b"new\n".to_vec(),
        stderr: vec![],
    };
    let out = m.finish(&plan, &[good]).unwrap();
    assert_eq!(out.controller_writes, vec![(local, b"new\n".to_vec())]);
}

#[test]
fn get_url_plans() {
    let sum = "a".repeat(64);
    let base = json!({"url": "https://user:pw@example.test/dl/k3s", "dest": "/usr/local/bin/k3s"});
    let absent = "fmc-file absent\nparent 1\numask 0022\ntool curl\n".to_string();
    let cases: Vec<Case> = vec![
        (
            "absent",
            json!({}),
            absent.clone(),
            vec!["download https://***@example.test/dl/k3s to /usr/local/bin/k3s"],
            None,
        ),
        (
            "absent, mode",
            json!({"mode": "0755"}),
            absent.clone(),
            vec!["download "],
            None,
        ),
        (
            "no tool",
            json!({}),
            absent.replace("curl", "none"),
            vec![],
            Some("neither curl nor wget"),
        ),
        (
            "exists, no checksum",
            json!({"mode": "0644"}),
            format!("{FILE}tool curl\n"),
            vec![],
            None,
        ),
        (
            "exists, mode drift",
            json!({"mode": "0755"}),
            format!("{FILE}tool curl\n"),
            vec!["mode 0644 -> 0755"],
            None,
        ),
        (
            "checksum matches",
            json!({"checksum": format!("sha256:{}", sum.to_uppercase())}),
            format!("{FILE}tool curl\ndigest {sum}\n"),
            vec![],
            None,
        ),
        (
            "checksum differs",
            json!({"checksum": format!("sha256:{sum}")}),
            format!("{FILE}tool none\ndigest 00\n"),
            vec![],
            Some("neither curl nor wget"),
        ),
        (
            "checksum differs, curl",
            json!({"checksum": format!("sha256:{sum}")}),
            format!("{FILE}tool curl\ndigest 00\n"),
            vec!["download "],
            None,
        ),
        (
            "checksum file",
            json!({"checksum": "sha256:https://example.test/sums"}),
            format!(
                "{FILE}tool curl\ndigest {sum}\nsumfile {}\n",
                b64(&format!("{sum} *k3s\nbbb  k3s-arm\n"))
            ),
            vec![],
            None,
        ),
        (
            "checksum file without the name",
            json!({"checksum": "sha256:https://example.test/sums"}),
            format!(
                "{FILE}tool curl\ndigest {sum}\nsumfile {}\n",
                b64("bbb  other\nccc  more\n")
            ),
            vec![],
            Some("unable to find a checksum for file 'k3s'"),
        ),
        (
            "checksum file failed",
            json!({"checksum": "sha256:https://example.test/sums"}),
            format!("{FILE}tool curl\nsumfile-failed\n"),
            vec![],
            Some("could not download the checksum file"),
        ),
        (
            "checksum file with a hostile entry",
            json!({"checksum": "sha256:https://example.test/sums"}),
            format!("{FILE}tool curl\nsumfile {}\n", b64("$(reboot)  k3s\n")),
            vec![],
            Some("is not a sha256 checksum"),
        ),
        (
            "force",
            json!({"force": true}),
            format!("{FILE}tool curl\n"),
            vec!["download "],
            None,
        ),
        (
            "directory",
            json!({}),
            "fmc-file directory\nparent 1\numask 0022\nstat 755 0 0 1 1 root root\ntool curl\n"
                .into(),
            vec![],
            Some("is a directory"),
        ),
        (
            "no parent",
            json!({}),
            "fmc-file absent\nparent 0\numask 0022\ntool curl\n".into(),
            vec![],
            Some("does not exist"),
        ),
    ];
    for (name, extra, stdout, changes, failure) in cases {
        let plan = plan_from("get_url", merged(&base, &extra), &stdout, &no_files());
        check(name, &plan, &changes, failure);
        assert!(
            plan.changes
                .iter()
                .chain(&plan.failed)
                .all(|l| !l.contains("pw@")),
            "{name}: credentials leaked"
        );
    }
    // The download verifies the checksum before the rename; validate_certs and the agent apply.
    let plan = plan_from(
        "get_url",
        merged(
            &base,
            &json!({"checksum": format!("sha512:{}", "b".repeat(128)), "validate_certs": false, "http_agent": "fmc"}),
        ),
        &absent,
        &no_files(),
    );
    let sc = script(&plan);
    assert!(sc.contains("sha512sum < \"$t\""), "{sc}");
    assert!(
        sc.contains("curl -fsSL") && sc.contains(" -k ") && sc.contains("-A fmc"),
        "{sc}"
    );
    assert!(
        sc.contains("wget -nv") && sc.contains("--no-check-certificate"),
        "{sc}"
    );
    let check_pos = sc.find("checksum mismatch").unwrap();
    assert!(check_pos < sc.find("mv -f").unwrap());

    for (args, want) in [
        (json!({"url": "ftp2://x", "dest": "/x"}), "not an http"),
        (json!({"url": "htt€://x", "dest": "/x"}), "not an http"),
        (
            json!({"url": "https://x/y", "dest": "/x", "checksum": "sha256:abc"}),
            "64 hex digits",
        ),
        (
            json!({"url": "https://x/y", "dest": "/x", "checksum": "crc32:abc"}),
            "not supported",
        ),
        (
            json!({"url": "https://x/y", "dest": "/x", "url_password": "hunter2"}),
            "not supported yet",
        ),
        (
            json!({"url": "https://x/y", "dest": "/tmp/"}),
            "directory dest",
        ),
        (
            json!({"url": "https://x/y", "dest": "/x", "headers": {"A": "tok\nen"}}),
            "line break",
        ),
    ] {
        let e = prepare_err("get_url", args.clone());
        assert!(e.contains(want), "{args}: {e}");
        assert!(!e.contains("hunter2") && !e.contains("tok\nen"), "{e}");
    }
    assert!(
        prepare(
            "get_url",
            json!({"url": "https://x/y", "dest": "/x", "headers": "A:1,B:2"})
        )
        .check_support()
        .is_none()
    );
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// One `stat --printf` record of the find probe.
fn entry(raw_mode: &str, size: u64, mtime: i64, path: &str) -> String {
    format!("e\t{raw_mode}\t{size}\t{mtime}\t{mtime}\t{mtime}\t0\t0\t1\t7\t9\troot\troot\t{path}\0")
}

#[test]
fn find_plans() {
    let now = 1_700_000_000;
    let day = 86_400;
    let mut out = format!("now\t{now}\0root\t0\t1\0");
    out += &entry("81a4", 10, now - 3 * day, "/d/old.log");
    out += &entry("81a4", 5000, now - 60, "/d/big.log");
    out += &entry("81a4", 1, now, "/d/tab\there\n.log");
    out += &entry("41ed", 4096, now, "/d/dir.log");
    out += &entry("a1ff", 5, now, "/d/ln.log");
    out += &entry("81a4", 1, now, "/d/.hidden.log");
    out += "c\tdeadbeef\t/d/old.log\0";
    out += "root\t1\t0\0";
    let paths = json!(["/d", "/missing"]);
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (
            json!({}),
            vec!["/d/big.log", "/d/old.log", "/d/tab\there\n.log"],
        ),
        (json!({"age": "2d"}), vec!["/d/old.log"]),
        (
            json!({"age": "-1h"}),
            vec!["/d/big.log", "/d/tab\there\n.log"],
        ),
        (json!({"size": "4k"}), vec!["/d/big.log"]),
        (
            json!({"size": "-4k"}),
            vec!["/d/old.log", "/d/tab\there\n.log"],
        ),
        (
            json!({"file_type": "any", "size": "4k"}),
            vec![
                "/d/big.log",
                "/d/dir.log",
                "/d/ln.log",
                "/d/old.log",
                "/d/tab\there\n.log",
            ],
        ),
        (
            json!({"file_type": "any", "hidden": true, "patterns": ".h*"}),
            vec!["/d/.hidden.log"],
        ),
        (
            json!({"patterns": "*.log,b*", "excludes": ["o*"]}),
            vec!["/d/big.log", "/d/tab\there\n.log"],
        ),
    ];
    for (extra, want) in cases {
        let plan = plan_from(
            "find",
            merged(&json!({"paths": paths}), &extra),
            &out,
            &no_files(),
        );
        let got: Vec<&str> = plan.result["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap())
            .collect();
        assert_eq!(got, want, "{extra}");
        assert_eq!(plan.result["examined"], 6);
        assert!(plan.result["skipped_paths"].get("/missing").is_some());
    }
    let plan = plan_from(
        "find",
        json!({"paths": "/d", "patterns": "old.log", "get_checksum": true}),
        &out,
        &no_files(),
    );
    let f = &plan.result["files"][0];
    assert_eq!(
        (
            f["checksum"].as_str(),
            f["mode"].as_str(),
            f["rusr"].as_bool()
        ),
        (Some("deadbeef"), Some("0644"), Some(true))
    );
    // contains on a file larger than the limit cannot be decided
    let plan = plan_from(
        "find",
        json!({"paths": "/d", "contains": "x"}),
        &entry("81a4", 1 << 30, now, "/d/huge"),
        &no_files(),
    );
    assert!(plan.failed.unwrap().contains("larger than"));
    let plan = plan_from(
        "find",
        json!({"paths": "/d", "contains": "x"}),
        &format!("{}x\t{}\t/d/a\0", entry("81a4", 2, now, "/d/a"), b64("x\n")),
        &no_files(),
    );
    assert_eq!(plan.result["matched"], 1);
    for (args, want) in [
        (json!({"paths": "/d", "file_type": "socket"}), "not one of"),
        (json!({"paths": "/d", "size": "1q"}), "size"),
        (
            json!({"paths": "/d", "contains": "("}),
            "invalid regular expression",
        ),
        (
            json!({"paths": "/d", "patterns": "(", "use_regex": true}),
            "invalid pattern",
        ),
        (
            json!({"paths": "/d", "recurse": true, "depth": 0}),
            "at least 1",
        ),
    ] {
        let e = prepare_err("find", args.clone());
        assert!(e.contains(want), "{args}: {e}");
    }
}

#[test]
fn tempfile_plan_is_an_action_without_probe() {
    let m = prepare("tempfile", json!({"prefix": "it's ", "suffix": ".tmpX"}));
    assert_eq!(m.check_support(), None);
    let plan = plan_from(
        "tempfile",
        json!({"prefix": "it's ", "suffix": ".tmpX"}),
        "",
        &no_files(),
    );
    assert_eq!(
        plan.changes,
        vec!["create a temporary file in $TMPDIR or /tmp"]
    );
    assert_eq!(
        script(&plan),
        "set -e\nmktemp --suffix=.tmpX \"${TMPDIR:-/tmp}\"/'it'\"'\"'s XXXXXXXXXX'\n"
    );
    assert!(prepare_err("tempfile", json!({"prefix": "a/b"})).contains("'/'"));
}

#[test]
fn unarchive_plans() {
    let base = json!({"src": "/srv/app.tgz", "remote_src": true, "dest": "/opt/app"});
    let head = "uid 0\n";
    let cmp = |rc: i32, text: &str| format!("compare-rc {rc}\ncompare {}\n", b64(text));
    let cases: Vec<Case> = vec![
        (
            "in sync",
            json!({}),
            format!("{head}{}", cmp(0, "")),
            vec![],
            None,
        ),
        (
            "content",
            json!({}),
            format!("{head}{}", cmp(1, "bin/app: Contents differ\n")),
            vec![
                "extract /srv/app.tgz into /opt/app (1 difference, first: bin/app: Contents differ)",
            ],
            None,
        ),
        (
            "missing",
            json!({}),
            format!(
                "{head}{}",
                cmp(
                    1,
                    "tar: bin/app: Warning: Cannot stat: No such file or directory\n"
                )
            ),
            vec!["extract "],
            None,
        ),
        (
            "stripped root entry",
            json!({"extra_opts": "--strip-components=1"}),
            format!(
                "{head}{}",
                cmp(
                    1,
                    "tar: : Warning: Cannot stat: No such file or directory\n"
                )
            ),
            vec![],
            None,
        ),
        (
            "uid as root",
            json!({}),
            format!("{head}{}", cmp(1, "a: Uid differs\n")),
            vec!["extract "],
            None,
        ),
        (
            "uid as user",
            json!({}),
            format!("uid 1000\n{}", cmp(1, "a: Uid differs\na: Gid differs\n")),
            vec![],
            None,
        ),
        (
            "uid with owner",
            json!({"owner": "app"}),
            format!(
                "{head}{}m 81a4 644 5 5 app app\n",
                cmp(1, "a: Uid differs\n")
            ),
            vec![],
            None,
        ),
        (
            "mode with mode",
            json!({"mode": "0644"}),
            format!(
                "{head}{}m 81a4 644 0 0 root root\n",
                cmp(1, "a: Mode differs\n")
            ),
            vec![],
            None,
        ),
        (
            "member drift",
            json!({"mode": "0644"}),
            format!(
                "{head}{}m 81a4 600 0 0 root root\nm a1ff 777 0 0 root root\nm absent\n",
                cmp(0, "")
            ),
            vec!["set mode/owner/group on 2 extracted paths under /opt/app"],
            None,
        ),
        (
            "creates",
            json!({"creates": "/opt/app/bin"}),
            "creates\n".into(),
            vec![],
            None,
        ),
        (
            "dest missing",
            json!({}),
            "dest-missing\n".into(),
            vec![],
            Some("not an existing directory"),
        ),
        (
            "src missing",
            json!({}),
            "src-missing\n".into(),
            vec![],
            Some("not a regular file"),
        ),
        (
            "zip",
            json!({}),
            format!("{head}format zip\n"),
            vec![],
            Some("zip is not supported yet"),
        ),
        (
            "corrupt",
            json!({}),
            format!(
                "{head}{}",
                cmp(2, "tar: This does not look like a tar archive\n")
            ),
            vec![],
            Some("This does not look like a tar archive"),
        ),
    ];
    for (name, extra, stdout, changes, failure) in cases {
        let plan = plan_from("unarchive", merged(&base, &extra), &stdout, &no_files());
        check(name, &plan, &changes, failure);
    }
    let plan = plan_from(
        "unarchive",
        merged(
            &base,
            &json!({"owner": "app", "extra_opts": ["--strip-components", "2"]}),
        ),
        &format!("{head}{}", cmp(1, "x: Size differs\n")),
        &no_files(),
    );
    let sc = script(&plan);
    assert!(
        sc.contains("tar -x -p -f \"$a\" -C \"$d\" --strip-components 2"),
        "{sc}"
    );
    assert!(
        sc.contains("cut -s -d/ -f3-") && sc.contains("chown -h -- app \"$p\""),
        "{sc}"
    );
    let plan = plan_from(
        "unarchive",
        merged(&base, &json!({"list_files": true})),
        &format!("{head}{}list {}\n", cmp(0, ""), b64("top/\ntop/a\n")),
        &no_files(),
    );
    assert_eq!(plan.result["files"], json!(["top/", "top/a"]));
    assert!(
        prepare_err(
            "unarchive",
            json!({"src": "a.tgz", "dest": "/x", "extra_opts": "--strip-components=z"})
        )
        .contains("strip")
    );
    assert!(
        prepare_err(
            "unarchive",
            json!({"src": "a.tgz", "dest": "/x", "include": ["a"]})
        )
        .contains("unsupported parameter")
    );
}
