//! lookup() / query() on the controller.

use super::*;

fn with_files() -> (tempfile::TempDir, Vars) {
    let dir = tempfile::tempdir().unwrap();
    let role_files = dir.path().join("role/files");
    let playbook = dir.path().join("pb");
    std::fs::create_dir_all(&role_files).unwrap();
    std::fs::create_dir_all(playbook.join("templates")).unwrap();
    std::fs::create_dir_all(playbook.join("files")).unwrap();
    std::fs::write(role_files.join("key.pub"), "ssh-ed25519 AAAA me\n\n").unwrap();
    std::fs::write(role_files.join("a.conf"), "a").unwrap();
    std::fs::write(role_files.join("b.conf"), "b").unwrap();
    std::fs::write(playbook.join("files/pb.txt"), "from playbook").unwrap();
    std::fs::write(
        playbook.join("templates/motd.j2"),
        "hello {{ who }}{% if x is defined %}!{% endif %}\n\n",
    )
    .unwrap();
    std::fs::write(playbook.join("templates/broken.j2"), "ok\n{{ nope }}\n").unwrap();
    let mut v = vars(json!({"who": "world", "name": "key.pub"}));
    v.set_search_paths(vec![role_files, playbook]);
    (dir, v)
}

#[test]
fn file_lookup() {
    let (_d, v) = with_files();
    assert_eq!(
        render("{{ lookup('file', 'key.pub') }}", &v),
        "ssh-ed25519 AAAA me"
    );
    assert_eq!(
        render("{{ lookup('file', name, rstrip=False) }}", &v),
        "ssh-ed25519 AAAA me\n\n"
    );
    assert_eq!(
        render("{{ lookup('ansible.builtin.file', 'pb.txt') }}", &v),
        "from playbook"
    );
    assert_eq!(
        render("{{ lookup('file', 'a.conf', 'b.conf') }}", &v),
        "a,b"
    );
    assert_eq!(
        eval("query('file', 'a.conf', 'b.conf')", &v),
        json!(["a", "b"])
    );
    assert_eq!(eval("q('file', 'a.conf')", &v), json!(["a"]));
    assert_eq!(
        eval("lookup('file', 'a.conf', wantlist=True)", &v),
        json!(["a"])
    );
    let e = render_err("{{ lookup('file', 'nope.txt') }}", &v);
    assert!(e.to_string().contains("could not find 'nope.txt'"), "{e}");
    assert_eq!(
        render("{{ lookup('file', 'nope.txt', errors='ignore') }}", &v),
        ""
    );
}

#[test]
fn template_lookup_uses_current_vars() {
    let (_d, v) = with_files();
    assert_eq!(
        render("{{ lookup('template', 'motd.j2') }}", &v),
        "hello world\n"
    );
    let e = render_err("{{ lookup('template', 'broken.j2') }}", &v);
    assert_eq!(e.undefined(), Some("nope"));
    assert_eq!(e.line(), Some(2));
    assert!(e.to_string().contains("broken.j2 line 2"), "{e}");
}

#[test]
fn env_lookup() {
    let path = std::env::var("PATH").unwrap();
    assert_eq!(r("{{ lookup('env', 'PATH') }}"), path);
    assert_eq!(r("{{ lookup('env', 'FMC_SURELY_UNSET_VAR') }}"), "");
    assert_eq!(
        r("{{ lookup('env', 'FMC_SURELY_UNSET_VAR', default='d') }}"),
        "d"
    );
}

#[test]
fn pipe_lookup() {
    let (_d, v) = with_files();
    assert_eq!(
        render("{{ lookup('pipe', 'echo hi; echo there') }}", &v),
        "hi\nthere"
    );
    // Runs in the last search path (the playbook directory).
    assert_eq!(
        render("{{ lookup('pipe', 'cat files/pb.txt') }}", &v),
        "from playbook"
    );
    let e = render_err("{{ lookup('pipe', 'exit 3') }}", &v);
    insta::assert_snapshot!(e.to_string(), @"lookup('pipe'): the command exited with status 3");
}

#[test]
fn first_found_lookup() {
    let (d, v) = with_files();
    let found = render(
        "{{ lookup('first_found', ['nope.conf', 'b.conf', 'a.conf']) }}",
        &v,
    );
    assert_eq!(
        found,
        d.path().join("role/files/b.conf").display().to_string()
    );
    let dirs = json!([d.path().join("pb/files").display().to_string()]);
    let mut v2 = v.clone();
    v2.set("dirs", dirs);
    let found = render(
        "{{ lookup('first_found', {'files': ['x', 'pb.txt'], 'paths': dirs}) }}",
        &v2,
    );
    assert_eq!(
        found,
        d.path().join("pb/files/pb.txt").display().to_string()
    );
    assert_eq!(
        eval("query('first_found', ['nope'], skip=True)", &v),
        json!([])
    );
    assert!(
        Templar::new()
            .render_str("{{ lookup('first_found', ['nope']) }}", &v)
            .is_err()
    );
}

#[test]
fn fileglob_lookup() {
    let (d, v) = with_files();
    let mut found: Vec<String> = eval("query('fileglob', '*.conf')", &v)
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    found.sort();
    let base = d.path().join("role/files");
    assert_eq!(
        found,
        vec![
            base.join("a.conf").display().to_string(),
            base.join("b.conf").display().to_string()
        ]
    );
    assert_eq!(eval("query('fileglob', '*.none')", &v), json!([]));
}

#[test]
fn unknown_lookup_is_an_error() {
    let e = render_err("{{ lookup('redis', 'k') }}", &Vars::new());
    assert!(
        e.to_string()
            .contains("lookup plugin 'redis' is not supported"),
        "{e}"
    );
}

#[test]
fn file_lookup_expands_the_home_directory() {
    let Some(home) = std::env::var_os("HOME") else {
        return;
    };
    let Ok(dir) = tempfile::tempdir_in(&home) else {
        return;
    };
    std::fs::write(dir.path().join("id.pub"), "ssh-ed25519 BBBB home\n").unwrap();
    let rel = dir
        .path()
        .strip_prefix(&home)
        .unwrap()
        .join("id.pub")
        .display()
        .to_string();
    let (_d, v) = with_files();
    assert_eq!(
        render(&format!("{{{{ lookup('file', '~/{rel}') }}}}"), &v),
        "ssh-ed25519 BBBB home"
    );
}

#[test]
fn first_found_items_search_the_given_subdir_first() {
    let (d, mut v) = with_files();
    let role = d.path().join("role");
    std::fs::create_dir_all(role.join("vars")).unwrap();
    std::fs::write(role.join("vars/a.conf"), "vars").unwrap();
    v.set_search_paths(vec![role.clone(), d.path().join("pb")]);
    let found = |terms: Value, subdir: &str| fmc_template::first_found_items(&terms, subdir, &v);
    let vars_a = role.join("vars/a.conf").display().to_string();
    let files_a = role.join("files/a.conf").display().to_string();
    assert_eq!(
        found(json!(["nope", "a.conf"]), "vars"),
        Ok(vec![json!(vars_a)])
    );
    assert_eq!(found(json!(["a.conf"]), "files"), Ok(vec![json!(files_a)]));
    assert_eq!(
        found(json!([{"files": ["nope"], "skip": true}]), "files"),
        Ok(vec![])
    );
    let e = found(json!(["nope"]), "files").unwrap_err();
    assert!(e.starts_with("no file was found; tried 'nope' in "), "{e}");
}
