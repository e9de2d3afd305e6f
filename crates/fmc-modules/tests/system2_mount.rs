//! mount: fixture tests for everything that mounts or unmounts; real runs only for
//! fstab edits on a temp file (`state: present/absent_from_fstab/absent` of paths
//! that are not mounted), which never touch the machine's mounts.
#![allow(clippy::unwrap_used)]

#[path = "support/fixture.rs"]
mod fixture;
#[path = "support/system.rs"]
mod system_support;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use fixture::{plan_with, prepare, prepare_err};
use fmc_core::{Action, Plan};
use serde_json::json;
use system_support::{check, run};
use tempfile::TempDir;

const MNT_DATA: &str = "97 27 8:17 / /mnt/data rw,relatime shared:50 - ext4 /dev/sdb1 rw\n";

fn probe(mounts: &str, dir: &str, fstab: Option<&str>) -> String {
    let file = match fstab {
        None => "fmc-file absent\nparent 1\numask 0022\n".to_string(),
        Some(c) => format!(
            "fmc-file file\nparent 1\numask 0022\nstat 644 0 0 {} 0 root root\nsha256 x\ncontent {}\n",
            c.len(),
            B64.encode(c)
        ),
    };
    format!("::fmc::mounts\n{mounts}::fmc::dir\n{dir}\n::fmc::fstab\n{file}")
}

fn scripts(plan: &Plan) -> Vec<String> {
    plan.actions
        .iter()
        .map(|a| match a {
            Action::Exec { script, .. } => script.lines().last().unwrap_or_default().to_string(),
            other => panic!("{other:?}"),
        })
        .collect()
}

fn fstab_written(plan: &Plan) -> Option<String> {
    plan.actions.iter().find_map(|a| match a {
        Action::Exec { stdin: Some(s), .. } => Some(String::from_utf8(s.clone()).unwrap()),
        _ => None,
    })
}

const FSTAB: &str =
    "# static\nUUID=abc / ext4 defaults 0 1\n/dev/sdb1 /mnt/data ext4 defaults 0 2\n";

#[test]
fn mounted() {
    let p = json!({"path": "/mnt/data", "src": "/dev/sdb1", "fstype": "ext4", "passno": 2, "state": "mounted"});
    let m = prepare("ansible.posix.mount", p.clone());
    // in sync
    let plan = plan_with(m.as_ref(), &probe(MNT_DATA, "dir", Some(FSTAB)), None).unwrap();
    assert!(plan.changes.is_empty() && plan.actions.is_empty());
    assert_eq!(plan.result["opts"], "defaults");
    assert_eq!(plan.result["passno"], "2");
    // entry right, not mounted: explicit mount, no fstab write
    let plan = plan_with(m.as_ref(), &probe("", "dir", Some(FSTAB)), None).unwrap();
    assert_eq!(plan.changes, vec!["mount /mnt/data"]);
    assert_eq!(
        scripts(&plan),
        vec!["mount -t ext4 -o defaults -- /dev/sdb1 /mnt/data"]
    );
    // no entry, no directory: mkdir, mount, then write fstab (a failed mount keeps
    // the old fstab)
    let plan = plan_with(m.as_ref(), &probe("", "absent", None), None).unwrap();
    assert_eq!(
        plan.changes,
        vec![
            "add /mnt/data to /etc/fstab",
            "create mount point /mnt/data",
            "mount /mnt/data"
        ]
    );
    let s = scripts(&plan);
    assert_eq!(s[0], "mkdir -p -- /mnt/data");
    assert_eq!(s[1], "mount -t ext4 -o defaults -- /dev/sdb1 /mnt/data");
    assert_eq!(s[2], "mv -f -- \"$t\" \"$d\"");
    assert_eq!(
        fstab_written(&plan).unwrap(),
        "/dev/sdb1 /mnt/data ext4 defaults 0 2\n"
    );
    let diff = plan.diff.unwrap();
    assert_eq!(diff.before, "");
    // mounted with a changed entry: write then remount
    let m = prepare(
        "mount",
        json!({"path": "/mnt/data/", "src": "/dev/sdb1", "fstype": "ext4", "opts": "noatime", "passno": "2", "state": "mounted"}),
    );
    let plan = plan_with(m.as_ref(), &probe(MNT_DATA, "dir", Some(FSTAB)), None).unwrap();
    assert_eq!(
        plan.changes,
        vec!["update /mnt/data in /etc/fstab", "remount /mnt/data"]
    );
    assert_eq!(
        fstab_written(&plan).unwrap(),
        "# static\nUUID=abc / ext4 defaults 0 1\n/dev/sdb1 /mnt/data ext4 noatime 0 2\n"
    );
    assert_eq!(
        scripts(&plan)[1],
        "mount -o remount /mnt/data || { umount /mnt/data && mount /mnt/data; }"
    );
    // the mount point is a file
    let plan = plan_with(m.as_ref(), &probe("", "other", Some(FSTAB)), None).unwrap();
    assert_eq!(
        plan.failed.as_deref(),
        Some("/mnt/data exists and is not a directory")
    );
}

#[test]
fn fields_are_escaped_and_matched_like_ansible() {
    // spaces in the path, boot: false adds noauto, 4-field lines count
    let p = json!({"path": "/srv/my share", "src": "//nas/a&b", "fstype": "cifs", "opts": "ro", "boot": false, "state": "present", "fstab": "/etc/fstab"});
    let m = prepare("mount", p);
    let old = "//nas/x /srv/my\\040share cifs ro\n";
    let plan = plan_with(m.as_ref(), &probe("", "dir", Some(old)), None).unwrap();
    assert_eq!(plan.changes, vec!["update /srv/my share in /etc/fstab"]);
    assert_eq!(
        fstab_written(&plan).unwrap(),
        "//nas/a\\046b /srv/my\\040share cifs ro,noauto 0 0\n"
    );
    assert_eq!(plan.result["boot"], "no");
    // mounted detection unescapes mountinfo
    let m = prepare(
        "mount",
        json!({"path": "/srv/my share", "state": "unmounted"}),
    );
    let mi = "99 27 0:50 / /srv/my\\040share rw - cifs //nas/a rw\n";
    let plan = plan_with(m.as_ref(), &probe(mi, "dir", None), None).unwrap();
    assert_eq!(plan.changes, vec!["unmount /srv/my share"]);
    assert_eq!(scripts(&plan), vec!["umount '/srv/my share'"]);
    let plan = plan_with(m.as_ref(), &probe("", "dir", None), None).unwrap();
    assert!(plan.changes.is_empty());
    // swap: several "none" entries told apart by src
    let m = prepare(
        "mount",
        json!({"path": "none", "src": "/swapfile", "fstype": "swap", "opts": "sw", "state": "present"}),
    );
    let old = "/dev/sda2 none swap sw 0 0\n/swapfile none swap sw 0 0\n";
    let plan = plan_with(m.as_ref(), &probe("", "absent", Some(old)), None).unwrap();
    assert!(plan.changes.is_empty(), "{:?}", plan.changes);
}

#[test]
fn absent_unmounted_remounted() {
    let m = prepare("mount", json!({"path": "/mnt/data", "state": "absent"}));
    let plan = plan_with(m.as_ref(), &probe(MNT_DATA, "dir", Some(FSTAB)), None).unwrap();
    assert_eq!(
        plan.changes,
        vec![
            "remove /mnt/data from /etc/fstab",
            "unmount /mnt/data",
            "remove mount point /mnt/data"
        ]
    );
    let s = scripts(&plan);
    assert_eq!(s[1..], ["umount /mnt/data", "rmdir -- /mnt/data"]);
    assert_eq!(
        fstab_written(&plan).unwrap(),
        "# static\nUUID=abc / ext4 defaults 0 1\n"
    );
    // like Ansible: no entry -> nothing, even if mounted
    let plan = plan_with(m.as_ref(), &probe(MNT_DATA, "dir", Some("# empty\n")), None).unwrap();
    assert!(plan.changes.is_empty() && plan.actions.is_empty());
    // absent_mount keeps the directory; absent_from_fstab does not unmount
    let m = prepare(
        "mount",
        json!({"path": "/mnt/data", "state": "absent_mount"}),
    );
    let plan = plan_with(m.as_ref(), &probe(MNT_DATA, "dir", Some(FSTAB)), None).unwrap();
    assert_eq!(
        plan.changes,
        vec!["remove /mnt/data from /etc/fstab", "unmount /mnt/data"]
    );
    let m = prepare(
        "mount",
        json!({"path": "/mnt/data", "state": "absent_from_fstab"}),
    );
    let plan = plan_with(m.as_ref(), &probe(MNT_DATA, "dir", Some(FSTAB)), None).unwrap();
    assert_eq!(plan.changes, vec!["remove /mnt/data from /etc/fstab"]);
    assert_eq!(plan.actions.len(), 1);
    // remounted always changes; options make it strict
    let m = prepare("mount", json!({"path": "/mnt/data", "state": "remounted"}));
    let plan = plan_with(m.as_ref(), &probe(MNT_DATA, "dir", Some(FSTAB)), None).unwrap();
    assert_eq!(plan.changes, vec!["remount /mnt/data"]);
    let m = prepare(
        "mount",
        json!({"path": "/mnt/data", "state": "remounted", "opts": "ro", "fstab": "/tmp/x tab"}),
    );
    let plan = plan_with(m.as_ref(), &probe(MNT_DATA, "dir", Some(FSTAB)), None).unwrap();
    assert_eq!(
        scripts(&plan),
        vec!["mount -o remount,ro -T '/tmp/x tab' /mnt/data"]
    );
}

#[test]
fn probe_errors() {
    let m = prepare("mount", json!({"path": "/mnt/data", "state": "unmounted"}));
    let plan = plan_with(
        m.as_ref(),
        &probe("fmc-mountinfo-error\n", "dir", None),
        None,
    )
    .unwrap();
    assert_eq!(
        plan.failed.as_deref(),
        Some("cannot read /proc/self/mountinfo")
    );
    let dirprobe = "::fmc::mounts\n::fmc::dir\ndir\n::fmc::fstab\nfmc-file directory\nparent 1\numask 0022\nstat 755 0 0 1 0 root root\n";
    let plan = plan_with(m.as_ref(), dirprobe, None).unwrap();
    assert_eq!(
        plan.failed.as_deref(),
        Some("/etc/fstab is a directory, not a regular file")
    );
    let bad = format!(
        "::fmc::mounts\n::fmc::dir\ndir\n::fmc::fstab\nfmc-file file\nparent 1\numask 0022\nstat 644 0 0 2 0 root root\ncontent {}\n",
        B64.encode([0xff, 0x00])
    );
    let e = plan_with(m.as_ref(), &bad, None).unwrap_err();
    assert!(e.contains("not valid UTF-8"), "{e}");
}

#[test]
fn fstab_edits_converge_on_a_temp_file() {
    let dir = TempDir::new().unwrap();
    let fstab = dir.path().join("fs tab");
    let fs = fstab.to_str().unwrap();
    std::fs::write(&fstab, "# keep\nproc /proc proc defaults 0 0\n").unwrap();
    let mp = dir.path().join("mnt point");
    let mps = mp.to_str().unwrap().to_string();
    let p = json!({"path": mps, "src": "LABEL=data", "fstype": "xfs", "opts": "noatime", "state": "present", "fstab": fs, "backup": true});
    let plan = check("mount", p.clone(), dir.path());
    assert_eq!(plan.changes, vec![format!("add {mps} to {fs}")]);
    let r = run("mount", p.clone(), dir.path());
    assert_eq!(r.outcome.failed, None);
    assert!(r.outcome.changed);
    let esc = mps.replace(' ', "\\040");
    assert_eq!(
        std::fs::read_to_string(&fstab).unwrap(),
        format!("# keep\nproc /proc proc defaults 0 0\nLABEL=data {esc} xfs noatime 0 0\n")
    );
    let backup = r.outcome.result["backup_file"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(backup.starts_with(fs), "{backup}");
    assert_eq!(
        std::fs::read_to_string(&backup).unwrap(),
        "# keep\nproc /proc proc defaults 0 0\n"
    );
    assert!(check("mount", p, dir.path()).changes.is_empty());

    // absent: removes the entry and the (unmounted) mount point directory
    std::fs::create_dir(&mp).unwrap();
    let p = json!({"name": mps, "state": "absent", "fstab": fs});
    let r = run("mount", p.clone(), dir.path());
    assert_eq!(r.outcome.failed, None);
    assert_eq!(
        r.plan.changes,
        vec![
            format!("remove {mps} from {fs}"),
            format!("remove mount point {mps}")
        ]
    );
    assert!(!mp.exists());
    assert_eq!(
        std::fs::read_to_string(&fstab).unwrap(),
        "# keep\nproc /proc proc defaults 0 0\n"
    );
    assert!(check("mount", p, dir.path()).changes.is_empty());

    // a missing fstab is created by present
    let new = dir.path().join("sub/fstab");
    let p = json!({"path": "/srv/x", "src": "tmpfs", "fstype": "tmpfs", "state": "present", "fstab": new.to_str().unwrap()});
    assert!(run("mount", p.clone(), dir.path()).outcome.changed);
    assert_eq!(
        std::fs::read_to_string(&new).unwrap(),
        "tmpfs /srv/x tmpfs defaults 0 0\n"
    );
    assert!(check("mount", p, dir.path()).changes.is_empty());
}

#[test]
fn parameter_errors() {
    for (p, want) in [
        (json!({"path": "/x"}), "missing required parameter 'state'"),
        (
            json!({"state": "mounted"}),
            "missing required parameter 'path or name'",
        ),
        (
            json!({"path": "/x", "state": "mounted", "fstype": "ext4"}),
            "parameter 'src' of module mount: required when state is mounted",
        ),
        (
            json!({"path": "/x", "state": "present", "src": "/dev/a"}),
            "parameter 'fstype' of module mount: required when state is present",
        ),
        (
            json!({"path": "x", "state": "unmounted"}),
            "must be an absolute path",
        ),
        (
            json!({"path": "/x", "state": "ephemeral", "src": "a", "fstype": "b"}),
            "'ephemeral' is not supported",
        ),
        (
            json!({"path": "/x\n/y", "state": "unmounted"}),
            "single line",
        ),
        (json!({"path": "/x", "state": "gone"}), "unknown variant"),
        (
            json!({"path": "/x", "state": "unmounted", "fstab": ""}),
            "must not be empty",
        ),
    ] {
        let e = prepare_err("mount", p.clone());
        assert!(e.contains(want), "{p}: {e}");
    }
}
