//! Real execution of the file modules with local `sh` in a temp dir: converge, then
//! re-probe and assert the plan is in sync.
#![allow(clippy::unwrap_used)]

mod support;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use serde_json::json;
use support::{Harness, prepare_err};

fn setup() -> (tempfile::TempDir, Harness) {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::new(dir.path());
    (dir, h)
}

fn mode_of(p: &std::path::Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn copy_content_creates_updates_and_converges() {
    let (dir, h) = setup();
    let dest = dir.path().join("a file 'q'.conf");
    let d = dest.to_str().unwrap();
    let r = h.converge(
        "copy",
        json!({"content": "hello\n", "dest": d, "mode": "0640"}),
    );
    assert_eq!(r.plan.changes.len(), 1, "{:?}", r.plan.changes);
    assert!(r.plan.changes[0].starts_with("create"));
    let out = r.outcome.unwrap();
    assert!(out.changed && out.failed.is_none(), "{:?}", out.failed);
    assert_eq!(fs::read(&dest).unwrap(), b"hello\n");
    assert_eq!(mode_of(&dest), 0o640);
    assert!(r.replan.changes.is_empty(), "{:?}", r.replan.changes);
    assert_eq!(
        out.result["checksum"],
        "f572d396fae9206628714fb2ce00f72e94f2258f"
    );

    // content drift + backup
    let r = h.converge(
        "ansible.builtin.copy",
        json!({"content": "bye\n", "dest": d, "backup": true}),
    );
    let out = r.outcome.unwrap();
    assert!(out.changed);
    let backup = out.result["backup_file"].as_str().unwrap().to_string();
    assert_eq!(fs::read(&backup).unwrap(), b"hello\n");
    assert_eq!(fs::read(&dest).unwrap(), b"bye\n");
    assert_eq!(mode_of(&dest), 0o640, "existing mode is kept");
    let diff = r.plan.diff.unwrap();
    assert_eq!(
        (diff.before.as_str(), diff.after.as_str()),
        ("hello\n", "bye\n")
    );
    assert!(r.replan.changes.is_empty());

    // mode drift only, symbolic
    let r = h.converge(
        "copy",
        json!({"content": "bye\n", "dest": d, "mode": "u=rw,go="}),
    );
    assert_eq!(r.plan.changes, vec![format!("mode 0640 -> 0600 on {d}")]);
    assert_eq!(mode_of(&dest), 0o600);
    assert!(r.replan.changes.is_empty());
    // no temp files left behind
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("fmc-tmp")
        })
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn copy_validate_failure_keeps_live_file() {
    let (dir, h) = setup();
    let dest = dir.path().join("cfg");
    fs::write(&dest, "good\n").unwrap();
    let d = dest.to_str().unwrap();
    let r = h.converge(
        "copy",
        json!({"content": "bad\n", "dest": d, "validate": "grep -q good %s"}),
    );
    let out = r.outcome.unwrap();
    let msg = out.failed.unwrap();
    assert!(msg.contains("validation failed"), "{msg}");
    assert_eq!(fs::read(&dest).unwrap(), b"good\n");
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        1,
        "temp file removed"
    );
    let r = h.converge(
        "copy",
        json!({"content": "good too\n", "dest": d, "validate": "grep -q good %s"}),
    );
    assert!(r.outcome.unwrap().failed.is_none());
    assert!(r.replan.changes.is_empty());
    assert!(
        prepare_err(
            "copy",
            json!({"content": "x", "dest": d, "validate": "true"})
        )
        .contains("%s")
    );
}

#[test]
fn copy_src_from_controller_into_directory_and_remote_src() {
    let (dir, h) = setup();
    fs::write(dir.path().join("motd"), "welcome\n").unwrap();
    let sub = dir.path().join("etc");
    fs::create_dir(&sub).unwrap();
    let r = h.converge(
        "copy",
        json!({"src": "motd", "dest": sub.to_str().unwrap()}),
    );
    assert!(r.outcome.unwrap().failed.is_none());
    assert_eq!(fs::read(sub.join("motd")).unwrap(), b"welcome\n");
    assert!(r.replan.changes.is_empty());

    let dest = dir.path().join("copy2");
    let src = sub.join("motd");
    let args =
        json!({"src": src.to_str().unwrap(), "dest": dest.to_str().unwrap(), "remote_src": true});
    let r = h.converge("copy", args);
    assert!(r.plan.changed());
    assert_eq!(fs::read(&dest).unwrap(), b"welcome\n");
    assert!(r.replan.changes.is_empty());

    let missing = h.plan(
        "copy",
        json!({"content": "x", "dest": dir.path().join("no/such").to_str().unwrap()}),
    );
    assert!(missing.failed.unwrap().contains("does not exist"));
    let isdir = h.plan(
        "copy",
        json!({"content": "x", "dest": sub.to_str().unwrap()}),
    );
    assert!(isdir.failed.unwrap().contains("is a directory"));
    assert!(prepare_err("copy", json!({"src": "d/", "dest": "/x"})).contains("not supported"));
}

#[test]
fn template_renders() {
    let (dir, mut h) = setup();
    fs::write(dir.path().join("t.j2"), "port={{ port }}\n").unwrap();
    h.files.vars.push(("port".into(), "8080".into()));
    let dest = dir.path().join("out");
    let r = h.converge(
        "template",
        json!({"src": "t.j2", "dest": dest.to_str().unwrap()}),
    );
    assert!(r.outcome.unwrap().failed.is_none());
    assert_eq!(fs::read_to_string(&dest).unwrap(), "port=8080\n");
    assert!(r.replan.changes.is_empty());
    assert!(
        prepare_err(
            "template",
            json!({"src": "t", "dest": "/x", "trim_blocks": false})
        )
        .contains("default")
    );
}

#[test]
fn file_states() {
    let (dir, h) = setup();
    let d = dir.path().join("a/b");
    let ds = d.to_str().unwrap();
    let r = h.converge(
        "file",
        json!({"path": ds, "state": "directory", "mode": "0750"}),
    );
    assert_eq!(mode_of(&d), 0o750);
    assert!(r.replan.changes.is_empty());

    fs::write(d.join("f"), "x").unwrap();
    fs::set_permissions(d.join("f"), fs::Permissions::from_mode(0o600)).unwrap();
    let args = json!({"path": ds, "state": "directory", "recurse": true, "mode": "0755"});
    let r = h.converge("file", args.clone());
    assert_eq!(r.plan.changes.len(), 1, "{:?}", r.plan.changes);
    assert_eq!(mode_of(&d.join("f")), 0o755);
    assert!(r.replan.changes.is_empty(), "{:?}", r.replan.changes);

    let link = dir.path().join("lnk");
    let ls = link.to_str().unwrap();
    let r = h.converge("file", json!({"path": ls, "src": ds, "state": "link"}));
    assert_eq!(fs::read_link(&link).unwrap(), d);
    assert!(r.replan.changes.is_empty(), "{:?}", r.replan.changes);
    let r = h.converge("file", json!({"path": ls, "src": "a", "state": "link"}));
    assert!(
        r.plan.changes[0].starts_with("change link"),
        "{:?}",
        r.plan.changes
    );
    assert!(r.replan.changes.is_empty());

    let hard = dir.path().join("hard");
    let r = h.converge("file", json!({"path": hard.to_str().unwrap(), "src": d.join("f").to_str().unwrap(), "state": "hard"}));
    assert_eq!(
        fs::metadata(&hard).unwrap().ino(),
        fs::metadata(d.join("f")).unwrap().ino()
    );
    assert!(
        r.replan.changes.is_empty(),
        "{:?} {:?}",
        r.replan.changes,
        r.replan.failed
    );

    let t = dir.path().join("touched");
    let ts = t.to_str().unwrap();
    let r = h.converge(
        "file",
        json!({"path": ts, "state": "touch", "mode": "0604"}),
    );
    assert_eq!(mode_of(&t), 0o604);
    assert_eq!(
        r.replan.changes,
        vec![format!("touch {ts}")],
        "touch is always changed"
    );
    let keep = json!({"path": ts, "state": "touch", "access_time": "preserve", "modification_time": "preserve"});
    assert!(h.plan("file", keep).changes.is_empty());

    let r = h.converge(
        "file",
        json!({"path": dir.path().join("a").to_str().unwrap(), "state": "absent"}),
    );
    assert!(!dir.path().join("a").exists());
    assert!(r.replan.changes.is_empty());
    assert!(
        h.plan("file", json!({"path": ts, "state": "directory"}))
            .failed
            .is_some()
    );
    assert!(prepare_err("file", json!({"path": ts, "state": "dir"})).contains("not one of"));
}

#[test]
fn lineinfile_cases() {
    let (dir, h) = setup();
    let p = dir.path().join("sshd_config");
    let ps = p.to_str().unwrap();
    fs::write(&p, "Port 22\n#PermitRootLogin yes\nUsePAM yes").unwrap();
    let cases = [
        (
            json!({"regexp": "^#?PermitRootLogin", "line": "PermitRootLogin no"}),
            "Port 22\nPermitRootLogin no\nUsePAM yes",
        ),
        (
            json!({"line": "X11Forwarding no"}),
            "Port 22\nPermitRootLogin no\nUsePAM yes\nX11Forwarding no\n",
        ),
        (
            json!({"line": "# top", "insertbefore": "BOF"}),
            "# top\nPort 22\nPermitRootLogin no\nUsePAM yes\nX11Forwarding no\n",
        ),
        (
            json!({"line": "Port 2222", "regexp": "^Port (\\d+)$", "backrefs": true}),
            "# top\nPort 2222\nPermitRootLogin no\nUsePAM yes\nX11Forwarding no\n",
        ),
        (
            json!({"line": "Banner none", "insertafter": "^Port"}),
            "# top\nPort 2222\nBanner none\nPermitRootLogin no\nUsePAM yes\nX11Forwarding no\n",
        ),
        (
            json!({"regexp": "^UsePAM", "state": "absent"}),
            "# top\nPort 2222\nBanner none\nPermitRootLogin no\nX11Forwarding no\n",
        ),
        // regexp misses but the exact line exists: nothing changes
        (
            json!({"regexp": "^NoSuch", "line": "Banner none"}),
            "# top\nPort 2222\nBanner none\nPermitRootLogin no\nX11Forwarding no\n",
        ),
        // backrefs without a match: nothing changes
        (
            json!({"regexp": "^Nope(.*)", "line": "x\\1", "backrefs": true}),
            "# top\nPort 2222\nBanner none\nPermitRootLogin no\nX11Forwarding no\n",
        ),
    ];
    for (args, want) in cases {
        let mut a = args.clone();
        a["path"] = ps.into();
        let r = h.converge("lineinfile", a);
        assert_eq!(fs::read_to_string(&p).unwrap(), want, "{args}");
        assert!(
            r.replan.changes.is_empty(),
            "{args}: {:?}",
            r.replan.changes
        );
    }
    let new = dir.path().join("new");
    let r = h.plan(
        "lineinfile",
        json!({"path": new.to_str().unwrap(), "line": "a"}),
    );
    assert!(r.failed.unwrap().contains("create: yes"));
    let r = h.converge(
        "lineinfile",
        json!({"path": new.to_str().unwrap(), "line": "a", "create": true, "mode": "0600"}),
    );
    assert_eq!(fs::read_to_string(&new).unwrap(), "a\n");
    assert_eq!(mode_of(&new), 0o600);
    assert!(r.replan.changes.is_empty());
}

#[test]
fn blockinfile_and_replace() {
    let (dir, h) = setup();
    let p = dir.path().join("hosts");
    let ps = p.to_str().unwrap();
    fs::write(&p, "127.0.0.1 localhost\n").unwrap();
    let r = h.converge(
        "blockinfile",
        json!({"path": ps, "block": "10.0.0.1 a\n10.0.0.2 b"}),
    );
    assert_eq!(
        fs::read_to_string(&p).unwrap(),
        "127.0.0.1 localhost\n# BEGIN ANSIBLE MANAGED BLOCK\n10.0.0.1 a\n10.0.0.2 b\n# END ANSIBLE MANAGED BLOCK\n"
    );
    assert!(r.replan.changes.is_empty());
    let r = h.converge(
        "blockinfile",
        json!({"path": ps, "block": "10.0.0.3 c", "insertbefore": "BOF"}),
    );
    assert_eq!(
        fs::read_to_string(&p).unwrap(),
        "127.0.0.1 localhost\n# BEGIN ANSIBLE MANAGED BLOCK\n10.0.0.3 c\n# END ANSIBLE MANAGED BLOCK\n",
        "an existing block is replaced in place"
    );
    assert!(r.replan.changes.is_empty());
    let r = h.converge("replace", json!({"path": ps, "regexp": "^10\\.0\\.0\\.(\\d+) (\\w+)$", "replace": "192.168.0.\\1 \\2.lan"}));
    assert!(
        fs::read_to_string(&p)
            .unwrap()
            .contains("192.168.0.3 c.lan\n")
    );
    assert!(r.replan.changes.is_empty());
    let r = h.converge("blockinfile", json!({"path": ps, "state": "absent"}));
    assert_eq!(fs::read_to_string(&p).unwrap(), "127.0.0.1 localhost\n");
    assert!(r.replan.changes.is_empty());
}

#[test]
fn stat_and_slurp() {
    let (dir, h) = setup();
    let p = dir.path().join("bin\nary");
    fs::write(&p, b"\x00\xffdata").unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o4755)).unwrap();
    let plan = h.plan(
        "stat",
        json!({"path": p.to_str().unwrap(), "checksum_algorithm": "sha256"}),
    );
    let st = &plan.result["stat"];
    assert_eq!(st["exists"], true);
    assert_eq!(st["isreg"], true);
    assert_eq!(st["mode"], "4755");
    assert_eq!(st["size"], 6);
    assert_eq!(
        st["checksum"],
        fmc_modules::common::sha256_hex(b"\x00\xffdata")
    );
    let plan = h.plan(
        "stat",
        json!({"path": dir.path().join("nope").to_str().unwrap()}),
    );
    assert_eq!(plan.result["stat"], json!({"exists": false}));

    let plan = h.plan("slurp", json!({"src": p.to_str().unwrap()}));
    assert_eq!(plan.result["content"], "AP9kYXRh");
    let plan = h.plan(
        "slurp",
        json!({"src": dir.path().join("nope").to_str().unwrap()}),
    );
    assert!(plan.failed.unwrap().starts_with("file not found"));
}
