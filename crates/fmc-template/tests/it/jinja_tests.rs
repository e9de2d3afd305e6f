//! Ansible's Jinja tests.

use super::*;

fn cond(e: &str, v: &Vars) -> bool {
    match Templar::new().eval_cond(e, v) {
        Ok(b) => b,
        Err(err) => panic!("{e}: {err}"),
    }
}

#[test]
fn task_result_tests() {
    let v = vars(json!({
        "ok": {"changed": false, "failed": false, "rc": 0},
        "ch": {"changed": true, "rc": 0},
        "bad": {"failed": true, "rc": 1},
        "skip": {"skipped": true, "changed": false},
        "looped": {"results": [{"changed": false}, {"changed": true}]},
    }));
    let cases = [
        ("ok is changed", false),
        ("ch is changed", true),
        ("ch is change", true),
        ("looped is changed", true),
        ("ok is failed", false),
        ("bad is failed", true),
        ("bad is failure", true),
        ("ok is succeeded", true),
        ("bad is success", false),
        ("ch is successful", true),
        ("skip is skipped", true),
        ("skip is skip", true),
        ("ok is skipped", false),
        ("bad is not succeeded", true),
    ];
    for (e, want) in cases {
        assert_eq!(cond(e, &v), want, "{e}");
    }
    assert!(Templar::new().eval_cond("'x' is changed", &v).is_err());
    assert_eq!(
        Templar::new()
            .eval_cond("nope is changed", &v)
            .unwrap_err()
            .undefined(),
        Some("nope")
    );
}

#[test]
fn regex_tests() {
    let v = vars(json!({"url": "https://example.com/x"}));
    let cases = [
        ("url is match('https://')", true),
        ("url is match('example')", false),
        ("url is search('example')", true),
        ("url is search('EXAMPLE')", false),
        ("url is search('EXAMPLE', ignorecase=True)", true),
        ("url is regex('example\\\\.com')", true),
        ("url is regex('example', match_type='match')", false),
        ("'abc' is regex('a.c', match_type='fullmatch')", true),
        ("'a\\nb' is match('^b', multiline=True)", false),
        ("'a\\nb' is search('^b', multiline=True)", true),
    ];
    for (e, want) in cases {
        assert_eq!(cond(e, &v), want, "{e}");
    }
}

#[test]
fn version_tests() {
    let v = vars(json!({"k3s": "v1.28.3+k3s1", "ver": "2.10.1"}));
    let cases = [
        ("ver is version('2.9', '>')", true),
        ("ver is version('2.10.1', '==')", true),
        ("ver is version('2.10.1')", true),
        ("ver is version('2.11', 'lt')", true),
        ("ver is version('2.10', 'ge')", true),
        ("ver is version('2.10.1', '!=')", false),
        ("ver is version_compare('3', '<=')", true),
        ("k3s is version('v1.29.0+k3s1', '<')", true),
        (
            "'1.2.3-rc1' is version('1.2.3', '<', version_type='semver')",
            true,
        ),
        (
            "'1.2.3' is version('1.2.3-rc1', '>', version_type='semver')",
            true,
        ),
    ];
    for (e, want) in cases {
        assert_eq!(cond(e, &v), want, "{e}");
    }
    assert!(
        Templar::new()
            .eval_cond("ver is version('1', 'like')", &v)
            .is_err()
    );
}

#[test]
fn set_and_collection_tests() {
    let v = vars(json!({"a": [1, 2], "b": [1, 2, 3]}));
    let cases = [
        ("a is subset(b)", true),
        ("b is subset(a)", false),
        ("b is superset(a)", true),
        ("b is contains(3)", true),
        ("2 in a", true),
        ("'x' in 'xyz'", true),
        ("[1, 0] is any", true),
        ("[1, 0] is all", false),
    ];
    for (e, want) in cases {
        assert_eq!(cond(e, &v), want, "{e}");
    }
}

#[test]
fn type_tests() {
    let v =
        vars(json!({"s": "x", "n": 1, "f": 1.5, "b": true, "l": [1], "m": {"k": 1}, "z": null}));
    let cases = [
        ("s is string", true),
        ("n is string", false),
        ("n is number", true),
        ("n is integer", true),
        ("f is float", true),
        ("n is float", false),
        ("b is boolean", true),
        ("s is boolean", false),
        ("l is sequence", true),
        ("m is mapping", true),
        ("l is mapping", false),
        ("m is iterable", true),
        ("z is none", true),
        ("n is none", false),
        ("z is defined", true),
        ("qq is undefined", true),
    ];
    for (e, want) in cases {
        assert_eq!(cond(e, &v), want, "{e}");
    }
}

#[test]
fn truthiness_tests() {
    let v = vars(json!({"s": "no", "e": "", "l": []}));
    let cases = [
        ("s is truthy", true),
        ("s is truthy(convert_bool=True)", false),
        ("e is falsy", true),
        ("l is falsy", true),
        ("'yes' is falsy(convert_bool=True)", false),
    ];
    for (e, want) in cases {
        assert_eq!(cond(e, &v), want, "{e}");
    }
}

#[test]
fn controller_path_tests() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f.txt");
    std::fs::write(&file, "x").unwrap();
    let link = dir.path().join("l");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    let v = vars(json!({
        "d": dir.path().display().to_string(),
        "f": file.display().to_string(),
        "l": link.display().to_string(),
        "missing": dir.path().join("nope").display().to_string(),
    }));
    let cases = [
        ("f is file", true),
        ("d is file", false),
        ("d is directory", true),
        ("f is exists", true),
        ("missing is exists", false),
        ("l is link", true),
        ("f is link", false),
        ("f is abs", true),
        ("'rel/x' is abs", false),
    ];
    for (e, want) in cases {
        assert_eq!(cond(e, &v), want, "{e}");
    }
}
