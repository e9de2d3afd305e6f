//! Error messages for bad playbooks (insta snapshots, one per file in
//! `fixtures/errors/`), and a property: loading arbitrary text never panics.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use fmc_playbook::{LoadOptions, load_playbook};
use proptest::prelude::*;

#[test]
fn error_messages() {
    let dir = Path::new("tests/fixtures/errors");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .collect();
    files.sort();
    assert!(files.len() >= 20);
    for path in files {
        let err = match load_playbook(&path, &LoadOptions::default()) {
            Ok(pb) => panic!("{} loaded: {pb:?}", path.display()),
            Err(e) => e,
        };
        let msg = err.to_string();
        // Every error names the file it is about.
        let span = err.span().unwrap_or_else(|| panic!("no span: {msg}"));
        assert!(msg.starts_with(&span.to_string()), "{msg}");
        assert!(span.line > 0, "{msg}");
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        insta::assert_snapshot!(name, msg);
    }
}

#[test]
fn read_errors_name_the_file() {
    let err = load_playbook(
        Path::new("tests/fixtures/nope.yml"),
        &LoadOptions::default(),
    )
    .unwrap_err();
    assert!(err.span().is_none());
    assert!(
        err.to_string()
            .starts_with("cannot read 'tests/fixtures/nope.yml': "),
        "{err}"
    );
}

/// Pathological nesting must give an error, not a stack overflow.
#[test]
fn deeply_nested_yaml_does_not_overflow() {
    let dir = tempfile::tempdir().unwrap();
    for text in [
        "[".repeat(100_000),
        format!(
            "- hosts: all\n  vars:\n    a: {}1{}\n",
            "[".repeat(5000),
            "]".repeat(5000)
        ),
        "- ".repeat(20_000),
    ] {
        let path = dir.path().join("pb.yml");
        std::fs::write(&path, &text).unwrap();
        let r = fmc_playbook::load_playbook(&path, &Default::default());
        if let Err(e) = r {
            assert!(
                e.to_string().starts_with(&path.display().to_string()),
                "{e}"
            );
        }
    }
}

fn yamlish() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        Just("- ".to_string()),
        Just("  ".to_string()),
        Just("\n".to_string()),
        Just(": ".to_string()),
        Just("hosts".to_string()),
        Just("tasks".to_string()),
        Just("block".to_string()),
        Just("roles".to_string()),
        Just("import_tasks".to_string()),
        Just("import_playbook".to_string()),
        Just("shell".to_string()),
        Just("loop".to_string()),
        Just("when".to_string()),
        Just("{{ x }}".to_string()),
        Just("'".to_string()),
        Just("\"".to_string()),
        Just("[".to_string()),
        Just("{".to_string()),
        Just("&a ".to_string()),
        Just("*a".to_string()),
        Just("<<".to_string()),
        Just("k=v ".to_string()),
        "[a-z0-9 =%./-]{0,8}",
    ];
    prop::collection::vec(atom, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn load_playbook_never_panics(text in yamlish()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pb.yml");
        std::fs::write(&path, &text).unwrap();
        let _ = load_playbook(&path, &LoadOptions::default());
    }

    #[test]
    fn arbitrary_bytes_never_panic(text in "\\PC{0,200}") {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pb.yml");
        std::fs::write(&path, &text).unwrap();
        let _ = load_playbook(&path, &LoadOptions::default());
    }
}
