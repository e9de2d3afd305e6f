//! Real execution of fetch, find, tempfile, get_url and unarchive with local `sh` in
//! a temp dir (get_url against an HTTP server on 127.0.0.1 started by the test).
#![allow(clippy::unwrap_used)]

mod support;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use fmc_core::{ExecOutput, Map, ModuleCtx, Outcome};
use serde_json::{Value, json};
use support::{Harness, prepare, prepare_err, sh};

fn setup() -> (tempfile::TempDir, Harness) {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::new(dir.path());
    (dir, h)
}

fn mode_of(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ok(out: &Option<Outcome>) -> &Outcome {
    let o = out.as_ref().expect("the plan failed");
    assert!(o.failed.is_none(), "{:?}", o.failed);
    o
}

/// What the runner does with `controller_writes`.
fn apply_writes(out: &Outcome) {
    for (path, bytes) in &out.controller_writes {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
    }
}

fn no_temp_files(dir: &Path) {
    let out = Command::new("find").arg(dir).output().unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(!listing.contains("fmc-tmp"), "{listing}");
}

#[test]
fn tempfile_creates_file_and_directory() {
    let (dir, h) = setup();
    let args = json!({"path": s(dir.path()), "prefix": "app.", "suffix": ".XX"});
    let r = h.converge("tempfile", args.clone());
    let out = ok(&r.outcome);
    assert!(out.changed);
    let path = out.result["path"].as_str().unwrap().to_string();
    let name = path.rsplit('/').next().unwrap();
    assert!(
        name.starts_with("app.") && name.ends_with(".XX") && name.len() > 12,
        "{name}"
    );
    assert!(Path::new(&path).is_file());
    assert_eq!(mode_of(Path::new(&path)), 0o600);
    assert!(!r.replan.changes.is_empty(), "tempfile is always changed");

    let r = h.converge(
        "ansible.builtin.tempfile",
        json!({"state": "directory", "path": s(dir.path())}),
    );
    let out = ok(&r.outcome);
    let path = out.result["path"].as_str().unwrap();
    assert!(Path::new(path).is_dir());
    assert!(path.rsplit('/').next().unwrap().starts_with("ansible."));
    assert_eq!(mode_of(Path::new(path)), 0o700);
    assert_eq!(out.result["state"], "directory");

    let r = h.converge("tempfile", json!({"path": s(&dir.path().join("missing"))}));
    assert!(r.outcome.unwrap().failed.is_some());
    assert!(prepare_err("tempfile", json!({"state": "link"})).contains("not one of"));
}

#[test]
fn fetch_to_controller_layout_and_flat() {
    let (dir, h) = setup();
    let host_dir = dir.path().join("host etc");
    fs::create_dir(&host_dir).unwrap();
    let src = host_dir.join("app's.conf");
    fs::write(&src, b"key=1\n\x00bin").unwrap();
    let ctl = dir.path().join("fetched");
    let args = json!({"src": s(&src), "dest": s(&ctl)});
    let r = h.converge("fetch", args.clone());
    let out = ok(&r.outcome);
    assert!(out.changed);
    let want = ctl.join("testhost").join(src.strip_prefix("/").unwrap());
    assert_eq!(out.controller_writes.len(), 1);
    assert_eq!(out.controller_writes[0].0, want);
    assert_eq!(out.controller_writes[0].1, b"key=1\n\x00bin");
    assert_eq!(
        out.result["checksum"],
        fmc_modules::common::sha1_hex(b"key=1\n\x00bin")
    );
    assert!(!r.replan.changes.is_empty(), "nothing written yet");
    apply_writes(out);
    let again = h.plan("fetch", args.clone());
    assert!(again.changes.is_empty(), "{:?}", again.changes);
    assert!(again.actions.is_empty());

    // The host file changes: fetched again.
    fs::write(&src, "key=2\n").unwrap();
    let r = h.converge("fetch", args.clone());
    apply_writes(ok(&r.outcome));
    assert_eq!(fs::read(&want).unwrap(), b"key=2\n");
    assert!(h.plan("fetch", args).changes.is_empty());

    // flat, into a directory (trailing slash keeps the basename)
    let flat_dir = format!("{}/", s(&dir.path().join("flat")));
    let args = json!({"src": s(&src), "dest": flat_dir, "flat": true});
    let r = h.converge("fetch", args.clone());
    let out = ok(&r.outcome);
    assert_eq!(
        out.controller_writes[0].0,
        dir.path().join("flat").join("app's.conf")
    );
    apply_writes(out);
    assert!(h.plan("fetch", args).changes.is_empty());

    let missing = s(&host_dir.join("nope")).to_string();
    let p = h.plan("fetch", json!({"src": missing, "dest": s(&ctl)}));
    assert!(p.failed.unwrap().contains("does not exist"));
    let p = h.plan(
        "fetch",
        json!({"src": missing, "dest": s(&ctl), "fail_on_missing": false}),
    );
    assert!(p.failed.is_none() && p.changes.is_empty());
    let p = h.plan("fetch", json!({"src": s(&host_dir), "dest": s(&ctl)}));
    assert!(p.failed.unwrap().contains("is a directory"));
    assert!(prepare_err("fetch", json!({"src": "../x", "dest": "d"})).contains(".."));
}

fn touch_days_ago(p: &Path, days: u32) {
    let st = Command::new("touch")
        .arg("-d")
        .arg(format!("{days} days ago"))
        .arg(p)
        .status()
        .unwrap();
    assert!(st.success());
}

fn found(h: &Harness, args: Value) -> Vec<String> {
    let plan = h.plan("find", args);
    assert!(plan.failed.is_none(), "{:?}", plan.failed);
    assert!(plan.changes.is_empty());
    let files = plan.result["files"].as_array().unwrap();
    assert_eq!(plan.result["matched"], files.len());
    files
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn find_filters() {
    let (dir, h) = setup();
    let root = dir.path().join("logs");
    fs::create_dir_all(root.join("sub/deeper")).unwrap();
    fs::create_dir_all(root.join(".hid")).unwrap();
    fs::write(root.join("a.log"), "ERROR boom\nok\n").unwrap();
    fs::write(root.join("b.log"), vec![b'x'; 3000]).unwrap();
    fs::write(root.join("c.txt"), "warn: ERROR inside\n").unwrap();
    fs::write(root.join("new\nline.log"), "ERROR\n").unwrap();
    fs::write(root.join(".secret.log"), "x").unwrap();
    fs::write(root.join("sub/d.log"), "").unwrap();
    fs::write(root.join("sub/deeper/e.log"), "").unwrap();
    fs::write(root.join(".hid/f.log"), "").unwrap();
    std::os::unix::fs::symlink("a.log", root.join("link.log")).unwrap();
    touch_days_ago(&root.join("b.log"), 10);
    let r = s(&root);
    let p = |n: &str| format!("{r}/{n}");

    assert_eq!(
        found(&h, json!({"paths": r, "patterns": "*.log"})),
        vec![p("a.log"), p("b.log"), p("new\nline.log")]
    );
    assert_eq!(
        found(
            &h,
            json!({"paths": r, "patterns": ["*.log"], "recurse": true, "hidden": true})
        ),
        vec![
            p(".hid/f.log"),
            p(".secret.log"),
            p("a.log"),
            p("b.log"),
            p("new\nline.log"),
            p("sub/d.log"),
            p("sub/deeper/e.log")
        ]
    );
    // Like Ansible, hidden directories are still walked: only hidden names are skipped.
    assert_eq!(
        found(
            &h,
            json!({"paths": r, "patterns": "*.log", "recurse": true, "depth": 2})
        ),
        vec![
            p(".hid/f.log"),
            p("a.log"),
            p("b.log"),
            p("new\nline.log"),
            p("sub/d.log")
        ]
    );
    assert_eq!(
        found(&h, json!({"paths": r, "age": "5d"})),
        vec![p("b.log")]
    );
    assert_eq!(
        found(
            &h,
            json!({"paths": r, "patterns": "*.log", "age": "-5d", "excludes": "new*"})
        ),
        vec![p("a.log")]
    );
    assert_eq!(
        found(&h, json!({"paths": r, "size": "2k"})),
        vec![p("b.log")]
    );
    // contains is matched at the start of a line, like Ansible's re.match
    assert_eq!(
        found(&h, json!({"paths": r, "contains": "ERROR"})),
        vec![p("a.log"), p("new\nline.log")]
    );
    assert_eq!(
        found(
            &h,
            json!({"paths": r, "contains": ".*ERROR", "patterns": "*.txt"})
        ),
        vec![p("c.txt")]
    );
    assert_eq!(
        found(&h, json!({"paths": r, "file_type": "directory"})),
        vec![p("sub")]
    );
    assert_eq!(
        found(&h, json!({"paths": r, "file_type": "link"})),
        vec![p("link.log")]
    );
    assert_eq!(
        found(
            &h,
            json!({"paths": r, "patterns": "^[ab]\\.log$", "use_regex": true})
        ),
        vec![p("a.log"), p("b.log")]
    );
    let plan = h.plan(
        "find",
        json!({"paths": [r, s(&dir.path().join("nope"))], "patterns": "a.log", "get_checksum": true}),
    );
    let f = &plan.result["files"][0];
    assert_eq!(
        f["checksum"],
        fmc_modules::common::sha1_hex(b"ERROR boom\nok\n")
    );
    assert_eq!(f["isreg"], true);
    assert_eq!(f["size"], 14);
    assert_eq!(plan.result["skipped_paths"].as_object().unwrap().len(), 1);
    assert!(prepare_err("find", json!({"paths": r, "age": "3y"})).contains("age"));
}

/// A tiny HTTP/1.0 server on 127.0.0.1: fixed routes, records each request head.
struct Server {
    base: String,
    requests: Arc<Mutex<Vec<String>>>,
}

fn serve(routes: Vec<(&'static str, Vec<u8>)>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let path = head.split(' ').nth(1).unwrap_or("").to_string();
            seen.lock().unwrap().push(head);
            let resp = match routes.iter().find(|(p, _)| *p == path) {
                Some((_, body)) => {
                    let mut r = format!(
                        "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    r.extend_from_slice(body);
                    r
                }
                None => b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec(),
            };
            let _ = stream.write_all(&resp);
        }
    });
    Server { base, requests }
}

impl Server {
    fn count(&self, path: &str) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h.split(' ').nth(1) == Some(path))
            .count()
    }
}

#[test]
fn get_url_downloads_and_converges() {
    let body = b"#!/bin/sh\necho k3s\n".to_vec();
    let sum = fmc_modules::common::sha256_hex(&body);
    let srv = serve(vec![
        ("/k3s", body.clone()),
        (
            "/sums.txt",
            format!("0000  other\n{sum}  k3s\n").into_bytes(),
        ),
    ]);
    let (dir, h) = setup();
    let dest = dir.path().join("k3s bin");
    let url = format!("{}/k3s", srv.base);
    // use_proxy: no keeps curl/wget off any proxy configured in the environment.
    let base = json!({"url": url, "dest": s(&dest), "use_proxy": false});
    let with = |extra: Value| {
        let mut a = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            a[k] = v.clone();
        }
        a
    };

    let r = h.converge("get_url", with(json!({"mode": "0750"})));
    assert!(ok(&r.outcome).changed);
    assert_eq!(fs::read(&dest).unwrap(), body);
    assert_eq!(mode_of(&dest), 0o750);
    assert!(r.replan.changes.is_empty(), "{:?}", r.replan.changes);
    assert_eq!(srv.count("/k3s"), 1, "no download when dest exists");

    // checksum given and matching: nothing to do; drifted file: downloaded again
    let args = with(json!({"checksum": format!("sha256:{sum}"), "mode": "0750"}));
    assert!(h.plan("get_url", args.clone()).changes.is_empty());
    fs::write(&dest, "tampered").unwrap();
    let r = h.converge("get_url", args);
    assert!(
        r.plan.changes[0].contains("checksum differs"),
        "{:?}",
        r.plan.changes
    );
    assert_eq!(fs::read(&dest).unwrap(), body);
    assert!(r.replan.changes.is_empty());
    assert_eq!(srv.count("/k3s"), 2);

    // checksum from a checksum file URL, on a new dest
    let dest2 = dir.path().join("k3s2");
    let args = json!({"url": url, "dest": s(&dest2), "use_proxy": false,
                      "checksum": format!("sha256:{}/sums.txt", srv.base)});
    let r = h.converge("get_url", args);
    assert!(ok(&r.outcome).changed);
    assert!(r.replan.changes.is_empty(), "{:?}", r.replan.changes);

    // wrong checksum: fails, nothing left behind
    let dest3 = dir.path().join("k3s3");
    let args = json!({"url": url, "dest": s(&dest3), "use_proxy": false,
                      "checksum": format!("sha256:{}", "0".repeat(64))});
    let r = h.converge("get_url", args);
    let msg = r.outcome.unwrap().failed.unwrap();
    assert!(msg.contains("checksum mismatch"), "{msg}");
    assert!(!dest3.exists());
    no_temp_files(dir.path());

    // 404
    let r = h.converge(
        "get_url",
        json!({"url": format!("{}/nope", srv.base), "dest": s(&dest3), "use_proxy": false}),
    );
    let msg = r.outcome.unwrap().failed.unwrap();
    assert!(msg.contains("404"), "{msg}");
    assert!(!dest3.exists());

    // force without checksum: downloads, but unchanged content is not a change
    let m = prepare("get_url", with(json!({"force": true})));
    assert_eq!(m.check_support(), Some(fmc_core::CheckSupport::None));
    let r = h.converge("get_url", with(json!({"force": true})));
    assert!(!ok(&r.outcome).changed);
    assert_eq!(srv.count("/k3s"), 5);

    // headers reach the server through stdin, never the command line
    let dest4 = dir.path().join("k3s4");
    let args = json!({"url": url, "dest": s(&dest4), "use_proxy": false,
                      "headers": {"Authorization": "Bearer s3cret"}});
    let r = h.converge("get_url", args);
    ok(&r.outcome);
    match &r.plan.actions[0] {
        fmc_core::Action::Exec { script, stdin, .. } => {
            assert!(!script.contains("s3cret"));
            assert!(
                stdin
                    .as_ref()
                    .is_some_and(|s| s.ends_with(b"Bearer s3cret\n"))
            );
        }
        other => panic!("{other:?}"),
    }
    let last = srv.requests.lock().unwrap().last().unwrap().clone();
    assert!(last.contains("Authorization: Bearer s3cret"), "{last}");
}

/// Runs probe -> plan -> actions with `PATH` limited to a directory without curl.
#[test]
fn get_url_falls_back_to_wget() {
    if sh("command -v wget", None).rc != 0 {
        eprintln!("wget not installed; skipping");
        return;
    }
    let body = b"via wget\n".to_vec();
    let srv = serve(vec![("/f", body.clone())]);
    let (dir, h) = setup();
    let bin = dir.path().join("bin");
    fs::create_dir(&bin).unwrap();
    for tool in [
        "wget",
        "sha256sum",
        "mktemp",
        "chmod",
        "chown",
        "mv",
        "rm",
        "cat",
        "stat",
        "base64",
        "readlink",
        "sed",
    ] {
        let out = sh(&format!("command -v {tool}"), None);
        let real = out.stdout_str().trim().to_string();
        std::os::unix::fs::symlink(real, bin.join(tool)).unwrap();
    }
    let env = format!("PATH={}; export PATH\n", s(&bin));
    let dest = dir.path().join("out");
    let args = json!({"url": format!("{}/f", srv.base), "dest": s(&dest), "use_proxy": false,
                      "headers": {"X-Token": "t0k"}});
    let m = prepare("get_url", args);
    let vars = Map::new();
    let ctx = ModuleCtx {
        host: "testhost",
        facts: None,
        files: &h.files,
        vars: &vars,
    };
    let run =
        |script: &str, stdin: Option<&[u8]>| -> ExecOutput { sh(&format!("{env}{script}"), stdin) };
    let probe = m.probe(&ctx).unwrap().unwrap();
    let plan = m.plan(&ctx, Some(&run(&probe.script, None))).unwrap();
    assert!(plan.failed.is_none(), "{:?}", plan.failed);
    let fmc_core::Action::Exec { script, stdin, .. } = &plan.actions[0] else {
        panic!()
    };
    let out = run(script, stdin.as_deref());
    assert_eq!(out.rc, 0, "{}", out.stderr_str());
    assert_eq!(fs::read(&dest).unwrap(), body);
    let last = srv.requests.lock().unwrap().last().unwrap().clone();
    assert!(last.contains("X-Token: t0k"), "{last}");
    assert!(last.to_ascii_lowercase().contains("wget"), "{last}");
    let replan = m.plan(&ctx, Some(&run(&probe.script, None))).unwrap();
    assert!(replan.changes.is_empty());
    no_temp_files(dir.path());
}

fn tar(args: &[&str]) {
    let st = Command::new("tar").args(args).status().unwrap();
    assert!(st.success(), "tar {args:?}");
}

/// `top/{a, sub/b, link -> a}` archived as `name` in `dir`.
fn make_archive(dir: &Path, name: &str, compress: &str) {
    let src = dir.join("tree");
    fs::create_dir_all(src.join("top/sub")).unwrap();
    fs::write(src.join("top/a"), "alpha\n").unwrap();
    fs::write(src.join("top/sub/b"), "beta\n").unwrap();
    fs::set_permissions(src.join("top/sub/b"), fs::Permissions::from_mode(0o600)).unwrap();
    let _ = fs::remove_file(src.join("top/link"));
    std::os::unix::fs::symlink("a", src.join("top/link")).unwrap();
    tar(&[compress, "-cf", s(&dir.join(name)), "-C", s(&src), "top"]);
}

#[test]
fn unarchive_controller_and_remote() {
    let (dir, h) = setup();
    make_archive(dir.path(), "app.tgz", "-z");
    let dest = dir.path().join("opt app");
    fs::create_dir(&dest).unwrap();
    let args = json!({"src": "app.tgz", "dest": s(&dest)});
    let r = h.converge("unarchive", args.clone());
    assert!(ok(&r.outcome).changed);
    assert_eq!(
        fs::read_to_string(dest.join("top/sub/b")).unwrap(),
        "beta\n"
    );
    assert_eq!(mode_of(&dest.join("top/sub/b")), 0o600);
    assert_eq!(
        fs::read_link(dest.join("top/link")).unwrap(),
        Path::new("a")
    );
    assert!(r.replan.changes.is_empty(), "{:?}", r.replan.changes);

    // a changed member is restored
    fs::write(dest.join("top/a"), "edited\n").unwrap();
    let r = h.converge("unarchive", args.clone());
    assert!(r.plan.changes[0].contains("top/a"), "{:?}", r.plan.changes);
    assert_eq!(fs::read_to_string(dest.join("top/a")).unwrap(), "alpha\n");
    assert!(r.replan.changes.is_empty());

    // remote xz archive, stripped, with attributes and the member list
    make_archive(dir.path(), "app.tar.xz", "-J");
    let uid = sh("id -u", None).stdout_str().trim().to_string();
    let dest2 = dir.path().join("stripped");
    fs::create_dir(&dest2).unwrap();
    let args = json!({"src": s(&dir.path().join("app.tar.xz")), "remote_src": true,
                      "dest": s(&dest2), "extra_opts": ["--strip-components=1"],
                      "mode": "u=rwX,g=rX,o=", "owner": uid, "list_files": true});
    let r = h.converge("unarchive", args.clone());
    let out = ok(&r.outcome);
    assert!(out.changed);
    let files: Vec<&str> = out.result["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(files.contains(&"top/sub/b"), "{files:?}");
    assert_eq!(fs::read_to_string(dest2.join("a")).unwrap(), "alpha\n");
    assert_eq!(mode_of(&dest2.join("sub/b")), 0o640);
    assert_eq!(mode_of(&dest2.join("sub")), 0o750);
    assert!(r.replan.changes.is_empty(), "{:?}", r.replan.changes);
    // attribute drift only: fixed without extracting
    fs::set_permissions(dest2.join("a"), fs::Permissions::from_mode(0o644)).unwrap();
    let r = h.converge("unarchive", args);
    assert_eq!(
        r.plan.changes,
        vec![format!(
            "set mode/owner/group on 1 extracted path under {}",
            s(&dest2)
        )]
    );
    assert_eq!(mode_of(&dest2.join("a")), 0o640);
    assert!(r.replan.changes.is_empty());

    // creates
    let p = h.plan(
        "unarchive",
        json!({"src": "app.tgz", "dest": s(&dest), "creates": s(&dest.join("top"))}),
    );
    assert!(p.changes.is_empty() && p.failed.is_none());
    fs::write(dest.join("top/a"), "edited again\n").unwrap();
    assert!(
        h.plan(
            "unarchive",
            json!({"src": "app.tgz", "dest": s(&dest), "creates": s(&dest.join("top"))})
        )
        .changes
        .is_empty(),
        "creates wins over content"
    );

    // errors
    let p = h.plan(
        "unarchive",
        json!({"src": "app.tgz", "dest": s(&dir.path().join("nope"))}),
    );
    assert!(p.failed.unwrap().contains("not an existing directory"));
    fs::write(dir.path().join("x.zip"), b"PK\x03\x04rest").unwrap();
    let p = h.plan("unarchive", json!({"src": "x.zip", "dest": s(&dest)}));
    assert!(p.failed.unwrap().contains("zip"));
    fs::write(dir.path().join("bad.tgz"), b"not an archive at all").unwrap();
    let p = h.plan("unarchive", json!({"src": "bad.tgz", "dest": s(&dest)}));
    assert!(p.failed.unwrap().contains("cannot read archive"));
    assert!(
        prepare_err(
            "unarchive",
            json!({"src": "https://x/y.tgz", "dest": "/opt"})
        )
        .contains("get_url")
    );
}
