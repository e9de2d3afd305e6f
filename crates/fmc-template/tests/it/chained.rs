//! Ansible's chained undefined: `default` and `is defined` catch an undefined anywhere
//! in an attribute/item chain; every other use still fails naming the chain.

use super::*;

fn v() -> Vars {
    vars(json!({"a": {"x": 1, "deep": {"b": {"c": 5}}}, "l": [{"k": 1}]}))
}

#[test]
fn default_catches_undefined_in_the_chain() {
    let v = v();
    assert_eq!(render("{{ a.b.c | default('x') }}", &v), "x");
    assert_eq!(render("{{ z.b.c | default('x') }}", &v), "x");
    assert_eq!(render("{{ a['b']['c'] | default('x') }}", &v), "x");
    assert_eq!(render("{{ a.b.c | d('y') | upper }}", &v), "Y");
    assert_eq!(
        render(
            "{{ l[3].k | default('i') }}-{{ l[0].k.m | default('m') }}",
            &v
        ),
        "i-m"
    );
    assert_eq!(
        render("{{ (a.b.c | default({})).d | default(1) }}", &v),
        "1"
    );
    assert_eq!(
        render("{{ a[a.b.c | default('x')] | default(0) }}", &v),
        "1"
    );
    // defined values are still found through the chain
    assert_eq!(render("{{ a.deep.b.c | default(0) }}", &v), "5");
    assert_eq!(render("{{ a.deep['b'].c is defined }}", &v), "True");
}

#[test]
fn defined_tests_and_conditionals() {
    let t = Templar::new();
    let v = v();
    assert_eq!(eval("a.b.c is defined", &v), json!(false));
    assert_eq!(eval("a.b.c is undefined", &v), json!(true));
    assert_eq!(eval("z.b is not defined", &v), json!(true));
    assert!(!t.eval_cond("a.b.c is defined", &v).unwrap());
    assert!(!t.eval_cond("a.b.c | default(false)", &v).unwrap());
    assert!(t.eval_cond("not a.b.c is defined", &v).unwrap());
    assert!(t.eval_cond("{{ a.b.c is undefined }}", &v).unwrap());
    assert!(t.check_cond("a.b.c is defined").is_ok());
    assert_eq!(
        render("{% if a.b.c is defined %}y{% else %}n{% endif %}", &v),
        "n"
    );
}

#[test]
fn other_uses_still_fail_naming_the_chain() {
    let v = v();
    for t in [
        "{{ a.b.c }}",
        "{% if a.b.c %}y{% endif %}",
        "{% for i in a.b.c %}{% endfor %}",
        "{{ a.b.c == 1 }}",
        "{{ a.b.c | lower | default('x') }}",
    ] {
        let e = render_err(t, &v);
        assert_eq!(e.undefined(), Some("a.b"), "{t}: {e}");
        assert!(e.to_string().contains("'a.b' is undefined"), "{t}: {e}");
    }
    let e = Templar::new().eval_cond("a.b.c", &v).unwrap_err();
    assert_eq!(e.undefined(), Some("a.b"));
}

#[test]
fn lazily_templated_variables_and_files() {
    let mut v = v();
    v.push(
        "task",
        layer(json!({"lazy": "{{ a.b.c | default('lazy') }}"})),
    );
    assert_eq!(render("{{ lazy }}", &v), "lazy");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.j2");
    std::fs::write(
        &path,
        "{{ a.b.c | default('f') }}\n{% if a.b is defined and a.b.c is defined %}bad{% endif %}\n",
    )
    .unwrap();
    assert_eq!(Templar::new().render_file(&path, &v).unwrap(), "f\n");
}
