//! Strict undefined handling and error messages.

use super::*;

#[test]
fn undefined_variables_are_named() {
    let v = vars(json!({"services": {"nginx": {}}}));
    let e = render_err("x {{ nope }}", &v);
    assert_eq!(e.undefined(), Some("nope"));
    let e = render_err("{{ services.nginx.port }}", &v);
    assert_eq!(e.undefined(), Some("services.nginx.port"));
    let e = render_err("{{ nope.port }}", &v);
    assert_eq!(e.undefined(), Some("nope"));
    insta::assert_snapshot!(render_err("{{ nope }}", &v).to_string(), @"'nope' is undefined");
}

#[test]
fn undefined_in_if_is_an_error() {
    let e = render_err("{% if nope %}x{% endif %}", &Vars::new());
    assert_eq!(e.undefined(), Some("nope"));
}

#[test]
fn undefined_handling_that_works() {
    let v = vars(json!({"x": {"a": 1}, "empty": ""}));
    assert_eq!(render("{{ nope | default('d') }}", &v), "d");
    assert_eq!(render("{{ nope | d('d') }}", &v), "d");
    assert_eq!(render("{{ empty | default('d', true) }}", &v), "d");
    assert_eq!(render("{{ empty | default('d') }}", &v), "");
    assert_eq!(render("{{ nope is defined }}", &v), "False");
    assert_eq!(render("{{ x.missing is defined }}", &v), "False");
    assert_eq!(render("{{ x.missing | default(1) }}", &v), "1");
    assert_eq!(render("{{ x.a is defined }}", &v), "True");
}

#[test]
fn undefined_inside_a_lazy_variable() {
    let v =
        vars(json!({"a": "{{ b }}", "b": "x-{{ nope }}", "c": "{{ a | default('fallback') }}"}));
    let e = render_err("{{ a }}", &v);
    assert_eq!(e.undefined(), Some("nope"));
    insta::assert_snapshot!(e.to_string(), @"'nope' is undefined (via 'a' -> 'b')");
    // Like Ansible, a variable whose template is undefined is itself undefined.
    assert_eq!(render("{{ a is defined }}", &v), "False");
    assert_eq!(render("{{ c }}", &v), "fallback");
}

#[test]
fn errors_inside_lazy_variables_name_the_variable() {
    let v = vars(json!({"a": "{{ 1 | no_such_filter }}"}));
    let e = render_err("{{ a }}", &v);
    insta::assert_snapshot!(e.to_string());
}

#[test]
fn mandatory_names_the_variable() {
    let e = render_err("{{ token | mandatory }}", &Vars::new());
    assert_eq!(e.undefined(), Some("token"));
    let e = render_err("{{ token | mandatory('set token first') }}", &Vars::new());
    assert_eq!(e.to_string(), "set token first");
    assert_eq!(render("{{ t | mandatory }}", &vars(json!({"t": "x"}))), "x");
}

#[test]
fn filters_on_undefined_name_the_variable() {
    let e = render_err("{{ nope | b64encode }}", &Vars::new());
    assert_eq!(e.undefined(), Some("nope"));
    let e = render_err("{{ nope | to_json }}", &Vars::new());
    assert_eq!(e.undefined(), Some("nope"));
}

#[test]
fn syntax_errors_have_lines() {
    let e = render_err("line1\n{{ x + }}", &vars(json!({"x": 1})));
    assert_eq!(e.line(), Some(2));
    insta::assert_snapshot!(e.to_string());
}

#[test]
fn errors_never_contain_values() {
    let secret = "hunter2-SECRET";
    let v = vars(json!({
        "token": secret,
        "cfg": {"password": secret},
        "bad": "{{ token ~ (token | int(base=99)) }}",
    }));
    let t = Templar::new();
    let attempts = [
        "{{ token + 1 }}",
        "{{ cfg.password.nope.deeper }}",
        "{{ token | from_json }}",
        "{{ cfg | combine(token) }}",
        "{{ bad }}",
        "{{ token is version('1', 'bogus') }}",
        "{{ token | b64decode }}",
        "{{ lookup('pipe', 'echo ' ~ token ~ '; exit 3') }}",
        "{% for x in token.nope %}{% endfor %}",
        "{{ token | human_to_bytes }}",
        "{{ token | int + cfg }}",
    ];
    for a in attempts {
        let e = t.render_str(a, &v).unwrap_err();
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains(secret), "{a}: {shown}");
    }
    let e = t.eval_cond("token", &v).unwrap_err();
    assert!(!format!("{e} {e:?}").contains(secret));
}
