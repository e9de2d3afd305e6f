//! Unit tests: formats, structure errors, precedence, patterns.

use std::path::PathBuf;

use serde_json::json;
use tempfile::TempDir;

use super::*;

/// Writes `files` (relative path, content) under a fresh temp dir.
fn tree(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

fn load_one(dir: &TempDir, path: &str) -> Result<Inventory, InventoryError> {
    Inventory::load(&[dir.path().join(path)])
}

fn inv(name: &str, text: &str) -> Inventory {
    let dir = tree(&[(name, text)]);
    load_one(&dir, name).unwrap()
}

fn err(name: &str, text: &str) -> String {
    let dir = tree(&[(name, text)]);
    let e = load_one(&dir, name).unwrap_err().to_string();
    // Keep messages readable in assertions: drop the temp dir prefix.
    e.replace(&format!("{}/", dir.path().display()), "")
}

fn sel(inv: &Inventory, pattern: &str) -> Vec<String> {
    inv.select(pattern).unwrap()
}

const INI: &str = "\
# comment
; another comment
bastion ansible_host=192.0.2.1

[web]
web[01:03] http_port=8080
web04:2222 ansible_user=core

[db]
db-[a:b]

[web:vars]
proxy=True
region=eu
pin='0644'

[prod:children]
web
db

[all:vars]
ntp=pool.ntp.org
";

#[test]
fn ini_hosts_groups_children() {
    let inv = inv("hosts", INI);
    assert_eq!(
        inv.host_names(),
        [
            "bastion", "web01", "web02", "web03", "web04", "db-a", "db-b"
        ]
    );
    let groups = inv.groups();
    assert_eq!(groups["all"].len(), 7);
    assert_eq!(groups["ungrouped"], ["bastion"]);
    assert_eq!(groups["web"], ["web01", "web02", "web03", "web04"]);
    assert_eq!(
        groups["prod"],
        ["web01", "web02", "web03", "web04", "db-a", "db-b"]
    );
    assert_eq!(inv.group_names("web02"), ["prod", "web"]);
    // Ansible 2.19: a host in no other group has group_names ['ungrouped']
    assert_eq!(inv.group_names("bastion"), ["ungrouped"]);
    assert!(inv.has_host("db-b") && !inv.has_host("db-c"));
}

#[test]
fn ini_values_follow_python_literal_eval() {
    let inv = inv(
        "hosts",
        "h1 a=22 b=True c=yes d=\"123\" e=\"'123'\" f='x y' g=[1,2] h=0644 i=None\n[g]\nh1\n[g:vars]\nx=False\ny = some text\nz=23 # trailing comment\n",
    );
    let v = inv.host_vars("h1");
    assert_eq!(v["a"], json!(22));
    assert_eq!(v["b"], json!(true));
    assert_eq!(v["c"], json!("yes"));
    assert_eq!(v["d"], json!(123), "shlex removes the quotes first");
    assert_eq!(v["e"], json!("123"));
    assert_eq!(v["f"], json!("x y"));
    assert_eq!(v["g"], json!([1, 2]));
    assert_eq!(v["h"], json!("0644"));
    assert_eq!(v["i"], json!(null));
    assert_eq!(v["x"], json!(false));
    assert_eq!(v["y"], json!("some text"));
    assert_eq!(v["z"], json!(23));
}

#[test]
fn ini_port_shorthand_and_inventory_file() {
    let dir = tree(&[(
        "inv/hosts",
        "web04:2222 ansible_user=core\n[v6]\n[fe80::1]:2200\n",
    )]);
    let inv = load_one(&dir, "inv/hosts").unwrap();
    let v = inv.host_vars("web04");
    assert_eq!(v["ansible_port"], json!(2222));
    assert_eq!(v["ansible_user"], json!("core"));
    let file = dir.path().join("inv/hosts");
    assert_eq!(v["inventory_file"], json!(file.display().to_string()));
    assert_eq!(
        v["inventory_dir"],
        json!(dir.path().join("inv").display().to_string())
    );
    assert_eq!(inv.host_vars("fe80::1")["ansible_port"], json!(2200));
}

#[test]
fn ini_errors_name_file_and_line() {
    assert_eq!(
        err("hosts", "[web:children]\napp\n"),
        "hosts:2: section [web:children] includes group app, which is never declared\nhint: add a [app] section"
    );
    assert_eq!(
        err("hosts", "[web]\nw1\n[dbs:vars]\nx=1\n"),
        "hosts:3: section [dbs:vars] is for group dbs, which is never declared\nhint: add a [dbs] or [dbs:children] section"
    );
    assert!(
        err("hosts", "[web:hostz]\n").starts_with("hosts:1: section [web:hostz] has unknown type")
    );
    assert!(
        err("hosts", "\n[web]\nw1 a=1 b\n").starts_with("hosts:3: host w1: expected key=value")
    );
    assert!(err("hosts", "[web]\nw1:\n").starts_with("hosts:2: invalid host \"w1:\""));
    assert!(err("hosts", "[web servers]\n").starts_with("hosts:1: invalid section header"));
    assert!(err("hosts", "[web] ; comment\n").starts_with("hosts:1: invalid section header"));
    assert!(err("hosts", "[g]\n[g:vars]\nnovalue\n").starts_with("hosts:3: expected key=value"));
}

#[test]
fn ini_errors_do_not_echo_values() {
    let e = err("hosts", "[web]\nw1 ansible_password=hunter2 secret words\n");
    assert!(e.starts_with("hosts:2:"), "{e}");
    assert!(!e.contains("hunter2") && !e.contains("secret"), "{e}");
    let e = err("hosts", "w1 ansible_password='unterminated hunter2\n");
    assert!(e.starts_with("hosts:1: missing closing quote"), "{e}");
    assert!(!e.contains("hunter2"), "{e}");
}

#[test]
fn ini_children_declared_later_and_cycles() {
    let inv = inv(
        "hosts",
        "[k3s:children]\nmasters\nworkers\n[workers]\nw1\n[masters]\nm1\n",
    );
    assert_eq!(inv.groups()["k3s"], ["w1", "m1"]);
    assert_eq!(inv.group_names("m1"), ["k3s", "masters"]);
    let e = err("hosts", "[a:children]\nb\n[b:children]\na\n");
    assert!(
        e.starts_with("hosts:4: adding group a as a child of b creates a cycle"),
        "{e}"
    );
    assert!(err("hosts", "[a:children]\nall\n[x]\n").contains("creates a cycle"));
}

const YAML: &str = "\
all:
  vars:
    ntp: pool.ntp.org
  hosts:
    bastion:
      ansible_host: 192.0.2.1
  children:
    web:
      hosts:
        web[01:02]:
          http_port: 8080
        web03:2222:
      vars:
        proxy: true
    prod:
      children:
        web:
        db:
          hosts:
            db1:
extra:
  hosts: solo
";

#[test]
fn yaml_inventory() {
    let inv = inv("hosts.yml", YAML);
    assert_eq!(
        inv.host_names(),
        ["bastion", "web01", "web02", "web03", "db1", "solo"]
    );
    let groups = inv.groups();
    assert_eq!(groups["ungrouped"], ["bastion"]);
    assert_eq!(groups["prod"], ["web01", "web02", "web03", "db1"]);
    assert_eq!(groups["extra"], ["solo"]);
    let v = inv.host_vars("web01");
    assert_eq!(v["http_port"], json!(8080));
    assert_eq!(v["proxy"], json!(true));
    assert_eq!(v["ntp"], json!("pool.ntp.org"));
    assert_eq!(inv.host_vars("web03")["ansible_port"], json!(2222));
    assert_eq!(inv.group_names("web01"), ["prod", "web"]);
    assert_eq!(inv.host_vars("bastion")["ansible_host"], json!("192.0.2.1"));
}

#[test]
fn format_is_detected_without_extension() {
    let yaml = inv("hosts", YAML);
    assert!(yaml.has_host("web01"));
    let ini = inv("inventory", "web1\nweb2\n");
    assert_eq!(ini.host_names(), ["web1", "web2"]);
    // A YAML-looking file with a YAML mistake reports the YAML error position.
    let e = err("hosts", "all:\n  hosts:\n    a: 1\n   b: 2\n");
    assert!(e.starts_with("hosts:"), "{e}");
}

#[test]
fn yaml_structure_errors() {
    assert!(
        err("i.yml", "all:\n  hosts: [a, b]\n")
            .contains("group all: hosts must be a mapping\nhint:")
    );
    assert!(err("i.yml", "all:\n  host:\n    a:\n").contains("unexpected key \"host\""));
    assert!(err("i.yml", "web: [a]\n").contains("group web: a group must be a mapping"));
    assert!(
        err("i.yml", "web:\n  hosts:\n    a: 5\n")
            .contains("host a in group web: host variables must be a mapping")
    );
    assert!(
        err(
            "i.yml",
            "a:\n  children:\n    b:\n      children:\n        a:\n"
        )
        .contains("creates a cycle")
    );
    assert!(err("i.yml", "plugin: aws_ec2\n").contains("inventory plugins are not supported"));
    assert_eq!(
        err("i.yml", "web:\n  hosts:\n    web:\n"),
        "i.yml: web is both a host and a group\nhint: give the host or the group another name"
    );
    let e = err("i.yml", "all:\n  hosts:\n    a: {x: 1\n");
    assert!(e.starts_with("i.yml:"), "{e}");
}

#[test]
fn empty_sources_are_fine() {
    assert!(inv("empty.yml", "").host_names().is_empty());
    assert!(inv("hosts", "# nothing\n").host_names().is_empty());
}

#[test]
fn missing_source_and_scripts_are_errors() {
    let dir = tree(&[]);
    let e = load_one(&dir, "nope").unwrap_err().to_string();
    assert!(e.contains("cannot read inventory source"), "{e}");
    assert!(
        err("hosts.sh", "#!/bin/sh\necho {}\n").contains("inventory scripts are not supported")
    );
}

#[test]
fn host_list_source() {
    let inv = Inventory::load(&[PathBuf::from("web1, web2:2222,")]).unwrap();
    assert_eq!(inv.host_names(), ["web1", "web2"]);
    assert_eq!(inv.groups()["ungrouped"], ["web1", "web2"]);
    assert_eq!(inv.host_vars("web2")["ansible_port"], json!(2222));
}

#[test]
fn group_precedence_by_depth_priority_and_name() {
    let inv = inv(
        "hosts",
        "[a]\nh\n[b]\nh\n[child]\nh\n[parent:children]\nchild\n[top:children]\nparent\n\
         [all:vars]\nv=all\nw=all\n[top:vars]\nv=top\n[parent:vars]\nv=parent\n[child:vars]\nv=child\n\
         [a:vars]\nw=a\n[b:vars]\nw=b\n",
    );
    let v = inv.host_vars("h");
    // child is deepest (top > parent > child), so it wins over its ancestors.
    assert_eq!(v["v"], json!("child"));
    // a and b have the same depth: the later name wins.
    assert_eq!(v["w"], json!("b"));

    let inv2 = inv_with_priority();
    assert_eq!(inv2.host_vars("h")["w"], json!("a"));
}

fn inv_with_priority() -> Inventory {
    inv(
        "hosts.yml",
        "a:\n  hosts: {h: }\n  vars: {w: a, ansible_group_priority: 10}\nb:\n  hosts: {h: }\n  vars: {w: b}\n",
    )
}

#[test]
fn vars_dirs_precedence() {
    let dir = tree(&[
        (
            "inv/hosts",
            "[web]\nw1 from_host=inline\n[web:vars]\nlevel=web-inline\nfrom_group=web-inline\n[all:vars]\nlevel=all-inline\nall_only=inline\n",
        ),
        (
            "inv/group_vars/all.yml",
            "level: all-dir\nall_only: dir\nfrom_group: all-dir\n",
        ),
        ("inv/group_vars/web.yml", "level: web-dir\n"),
        (
            "inv/group_vars/unknown.yml",
            "this: [is not even: valid yaml\n",
        ),
        ("inv/host_vars/w1.yml", "from_host: dir\n"),
        (
            "play/group_vars/web/10-a.yml",
            "level: play-web-a\nsplit: a\n",
        ),
        ("play/group_vars/web/20-b.yaml", "split: b\n"),
        ("play/group_vars/web/.hidden.yml", "split: hidden\n"),
        ("play/group_vars/web/old.yml~", "split: backup\n"),
        (
            "play/group_vars/web.yml",
            "ignored: because the directory comes first\n",
        ),
        ("play/host_vars/w1", "from_host: play\n"),
        ("play/host_vars/w1.yml", "from_host: ignored\n"),
    ]);
    let mut inv = load_one(&dir, "inv/hosts").unwrap();
    assert!(inv.warnings().is_empty(), "{:?}", inv.warnings());
    let v = inv.host_vars("w1");
    assert_eq!(v["level"], json!("web-dir"));
    assert_eq!(v["all_only"], json!("dir"));
    // group_vars/all (a vars dir) beats [web:vars] in the inventory file (Ansible order).
    assert_eq!(v["from_group"], json!("all-dir"));
    assert_eq!(v["from_host"], json!("dir"));

    inv.add_vars_dir(&dir.path().join("play")).unwrap();
    inv.add_vars_dir(&dir.path().join("play")).unwrap();
    let v = inv.host_vars("w1");
    assert_eq!(v["level"], json!("play-web-a"));
    assert_eq!(v["split"], json!("b"));
    assert_eq!(v["from_host"], json!("play"));
    assert!(v.get("ignored").is_none());
    // both ignored files are reported, once each although the dir was added twice
    let play = dir.path().join("play");
    assert_eq!(
        inv.warnings(),
        [
            format!(
                "{0}/group_vars/web.yml is ignored: {0}/group_vars/web/ exists and wins, as in Ansible; move the file into the directory",
                play.display()
            ),
            format!(
                "{0}/host_vars/w1.yml is ignored: {0}/host_vars/w1 exists and wins, as in Ansible; merge the two files",
                play.display()
            ),
        ]
    );
}

#[test]
fn vault_files_are_reported() {
    let dir = tree(&[
        ("hosts", "[web]\nw1\n"),
        ("group_vars/web.yml", "$ANSIBLE_VAULT;1.1;AES256\n6162\n"),
    ]);
    // Decryption itself is tested in tests/vault.rs; a damaged file names itself.
    let e = load_one(&dir, "hosts").unwrap_err().to_string();
    assert!(
        e.contains("group_vars/web.yml: malformed vault data: "),
        "{e}"
    );
}

#[test]
fn vars_files_must_be_mappings() {
    let dir = tree(&[("hosts", "w1\n"), ("host_vars/w1.yml", "- a\n- b\n")]);
    let e = load_one(&dir, "hosts").unwrap_err().to_string();
    assert!(
        e.ends_with("host_vars/w1.yml: a vars file must be a mapping of variable names to values"),
        "{e}"
    );
}

#[test]
fn directory_sources() {
    let dir = tree(&[
        ("inv/01-hosts.ini", "[web]\nw1\n"),
        ("inv/02-more.yml", "db:\n  hosts:\n    d1:\n"),
        ("inv/sub/03-extra", "[web]\nw2\n"),
        ("inv/README.md", "# not an inventory [\n"),
        ("inv/notes.txt", "garbage ===\n"),
        ("inv/.hidden", "garbage ===\n"),
        ("inv/hosts~", "garbage ===\n"),
        ("inv/group_vars/web.yml", "role: web\n"),
        ("inv/host_vars/d1.yml", "role: db\n"),
    ]);
    let inv = load_one(&dir, "inv").unwrap();
    assert_eq!(inv.host_names(), ["w1", "d1", "w2"]);
    assert_eq!(inv.host_vars("w2")["role"], json!("web"));
    assert_eq!(inv.host_vars("d1")["role"], json!("db"));
}

#[test]
fn several_sources_merge() {
    let dir = tree(&[
        ("a/hosts", "[web]\nw1 x=1\n"),
        ("a/group_vars/web.yml", "src: a\n"),
        ("b/hosts.yml", "web:\n  hosts:\n    w1: {x: 2}\n    w2:\n"),
        ("b/group_vars/web.yml", "src: b\n"),
    ]);
    let inv =
        Inventory::load(&[dir.path().join("a/hosts"), dir.path().join("b/hosts.yml")]).unwrap();
    assert_eq!(inv.groups()["web"], ["w1", "w2"]);
    assert_eq!(inv.host_vars("w1")["x"], json!(2));
    assert_eq!(inv.host_vars("w1")["src"], json!("b"));
}

#[test]
fn implicit_localhost() {
    let dir = tree(&[
        ("hosts", "[web]\nw1\n[all:vars]\nntp=pool\n"),
        ("host_vars/localhost.yml", "greeting: hi\n"),
    ]);
    let inv = load_one(&dir, "hosts").unwrap();
    assert_eq!(sel(&inv, "localhost"), ["localhost"]);
    assert_eq!(sel(&inv, "127.0.0.1:web"), ["127.0.0.1", "w1"]);
    assert_eq!(sel(&inv, "all"), ["w1"]);
    assert!(sel(&inv, "local*").is_empty());
    assert!(inv.has_host("localhost"));
    assert!(!inv.host_names().contains(&"localhost".to_string()));
    let v = inv.host_vars("localhost");
    assert_eq!(v["ansible_connection"], json!("local"));
    assert_eq!(v["ntp"], json!("pool"));
    assert_eq!(v["greeting"], json!("hi"));
    assert!(inv.group_names("localhost").is_empty());
    assert!(inv.host_vars("nowhere").is_empty());

    // An explicit localhost is an ordinary host.
    let explicit = self::inv("hosts", "localhost ansible_user=me\n");
    assert_eq!(sel(&explicit, "all"), ["localhost"]);
    assert!(
        explicit
            .host_vars("localhost")
            .get("ansible_connection")
            .is_none()
    );
}

#[test]
fn localhost_only_inventory() {
    let inv = Inventory::localhost_only();
    assert!(inv.host_names().is_empty());
    assert!(sel(&inv, "all").is_empty());
    assert_eq!(sel(&inv, "localhost"), ["localhost"]);
    assert_eq!(
        inv.host_vars("localhost")["ansible_connection"],
        json!("local")
    );
    assert_eq!(
        inv.groups().keys().collect::<Vec<_>>(),
        ["all", "ungrouped"]
    );
}

#[test]
fn patterns() {
    let inv = inv("hosts", INI);
    let all = inv.host_names();
    assert_eq!(sel(&inv, "all"), all);
    assert_eq!(sel(&inv, "*"), all);
    assert_eq!(sel(&inv, "web04"), ["web04"]);
    assert_eq!(sel(&inv, "db:web01"), ["db-a", "db-b", "web01"]);
    assert_eq!(sel(&inv, "db,bastion"), ["db-a", "db-b", "bastion"]);
    assert_eq!(sel(&inv, "prod:&web"), ["web01", "web02", "web03", "web04"]);
    assert_eq!(sel(&inv, "prod:!web"), ["db-a", "db-b"]);
    assert_eq!(sel(&inv, "!prod"), ["bastion"]);
    assert_eq!(sel(&inv, "&db"), ["db-a", "db-b"]);
    // Exclusions apply last, whatever their position.
    assert_eq!(sel(&inv, "!web01:web:&prod"), ["web02", "web03", "web04"]);
    assert_eq!(sel(&inv, "web0*"), ["web01", "web02", "web03", "web04"]);
    assert_eq!(sel(&inv, "we?0[!34]"), ["web01", "web02"]);
    assert_eq!(
        sel(&inv, "~(web|db)-?[0-9a]+$"),
        ["web01", "web02", "web03", "web04", "db-a"]
    );
    assert_eq!(sel(&inv, "web[0]"), ["web01"]);
    assert_eq!(sel(&inv, "web[-1]"), ["web04"]);
    assert_eq!(sel(&inv, "web[1:2]"), ["web02", "web03"]);
    assert_eq!(sel(&inv, "web[2:]"), ["web03", "web04"]);
    assert_eq!(sel(&inv, "web[3:9]"), ["web04"]);
    assert_eq!(sel(&inv, "web[0]:db[-1]"), ["web01", "db-b"]);
    assert_eq!(sel(&inv, "p*"), sel(&inv, "prod"));
    assert!(sel(&inv, "nothing").is_empty());
    assert!(sel(&inv, "web:&db").is_empty());

    for bad in [
        "",
        " , ",
        "web:!",
        "~(open",
        "web[7]",
        "web[-5]",
        "web[99999999999999999999]",
    ] {
        let e = inv.select(bad).unwrap_err();
        assert!(matches!(e, InventoryError::Pattern { .. }), "{bad}: {e}");
    }
}

#[test]
fn subscripts_of_empty_or_missing_groups_match_nothing() {
    // as in Ansible: no error, the play is skipped with "no hosts matched"
    let inv = inv("hosts", "[web]\nw1\nw2\n[empty]\n[db]\nd1\n");
    for pattern in [
        "empty[0]",
        "empty[-1]",
        "empty[0:1]",
        "missing[0]",
        "missing[1:]",
        "db[1:]",
        "web[2:]",
    ] {
        assert!(sel(&inv, pattern).is_empty(), "{pattern}");
    }
    assert_eq!(sel(&inv, "web[1:]"), ["w2"]);
    assert_eq!(sel(&inv, "web[-1]"), ["w2"]);
    assert_eq!(sel(&inv, "empty[0]:web[0]"), ["w1"]);
    // an index past the end of a group that has hosts stays an error (Ansible too)
    assert!(inv.select("db[1]").is_err());
}

#[test]
fn ip_patterns() {
    let inv = inv(
        "hosts",
        "[masters]\n10.17.4.21\n10.17.4.22\n[workers]\n10.17.4.24\n10.17.3.11\n",
    );
    assert_eq!(
        sel(&inv, "10.17.4.*"),
        ["10.17.4.21", "10.17.4.22", "10.17.4.24"]
    );
    assert_eq!(sel(&inv, "10.17.4.21"), ["10.17.4.21"]);
    assert_eq!(sel(&inv, "workers:!10.17.3.*"), ["10.17.4.24"]);
}

#[test]
fn debug_hides_variables() {
    let inv = inv("hosts", "w1 ansible_become_password=hunter2\n");
    let dbg = format!("{inv:?}");
    assert!(dbg.contains("w1") && !dbg.contains("hunter2"), "{dbg}");
}

#[test]
fn host_lines_may_repeat_across_groups() {
    let inv = inv("hosts", "[a]\nh x=1\n[b]\nh y=2\n[a]\nh2\n");
    assert_eq!(inv.groups()["a"], ["h", "h2"]);
    let v = inv.host_vars("h");
    assert_eq!((v["x"].clone(), v["y"].clone()), (json!(1), json!(2)));
    assert_eq!(inv.group_names("h"), ["a", "b"]);
}
