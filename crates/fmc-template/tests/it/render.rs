//! render_str / render_value / eval_cond / eval_expr / render_file.

use super::*;
use fmc_template::OMIT;

#[test]
fn plain_strings_are_returned_as_is() {
    // No engine involved: even Jinja-looking but harmless text passes through.
    assert_eq!(r("plain } text {"), "plain } text {");
}

#[test]
fn native_types_for_single_expressions() {
    let t = Templar::new();
    let v = vars(json!({"l": [1, 2], "n": 5, "s": "[1, 2]", "b": true}));
    let out = t
        .render_value(
            &json!({
                "list": "{{ l }}",
                "num": "{{ n }}",
                "spaced": "  {{ n + 1 }}  ",
                "newline": "{{ n }}\n",
                "text": "a {{ n }}",
                "string_stays": "{{ s }}",
                "bool": "{{ b }}",
                "dict": "{{ {'k': n} }}",
                "nested": ["{{ n }}", {"x": "{{ l | length }}"}],
                "ws": "{{- n -}}",
                "two": "{{ n }}{{ n }}",
            }),
            &v,
        )
        .unwrap();
    assert_eq!(
        out,
        json!({
            "list": [1, 2], "num": 5, "spaced": "  6  ", "newline": "5\n", "text": "a 5", "string_stays": "[1, 2]",
            "bool": true, "dict": {"k": 5}, "nested": [5, {"x": 2}], "ws": 5, "two": "55",
        })
    );
}

#[test]
fn omit_removes_map_keys() {
    let t = Templar::new();
    let v = vars(json!({"mode": null}));
    let out = t
        .render_value(
            &json!({"path": "/x", "mode": "{{ mode | default(omit, true) }}", "owner": "{{ omit }}"}),
            &v,
        )
        .unwrap();
    assert_eq!(out, json!({"path": "/x"}));
    assert_eq!(r("{{ omit }}"), OMIT);
}

#[test]
fn map_keys_are_templated() {
    let t = Templar::new();
    let v = vars(json!({"k": "name"}));
    assert_eq!(
        t.render_value(&json!({"{{ k }}": 1}), &v).unwrap(),
        json!({"name": 1})
    );
}

#[test]
fn values_without_templates_are_untouched() {
    let t = Templar::new();
    let v = json!({"a": [1, "x", null], "b": {"c": true}});
    assert_eq!(t.render_value(&v, &Vars::new()).unwrap(), v);
}

#[test]
fn conditionals_follow_ansible() {
    let t = Templar::new();
    let v = vars(json!({
        "yes_str": "yes", "false_str": "False", "n": 0, "items": [], "x": 3, "name": "web",
        "lazy": "{{ x > 2 }}",
    }));
    let cases = [
        ("x > 2", true),
        ("{{ x > 2 }}", true),
        ("  {{ x == 1 }} ", false),
        ("yes_str", true),
        ("false_str", false),
        ("n", false),
        ("items", false),
        ("nope is defined", false),
        ("nope is undefined", true),
        ("name == 'web' and x is number", true),
        ("lazy", true),
        ("none", false),
    ];
    for (expr, want) in cases {
        assert_eq!(t.eval_cond(expr, &v).unwrap(), want, "{expr}");
    }
}

#[test]
fn conditional_on_undefined_fails() {
    let t = Templar::new();
    let e = t.eval_cond("nope", &Vars::new()).unwrap_err();
    assert_eq!(e.undefined(), Some("nope"));
    let e = t.eval_cond("nope == 1", &Vars::new()).unwrap_err();
    assert_eq!(e.undefined(), Some("nope"));
}

#[test]
fn conditional_on_arbitrary_string_fails() {
    let t = Templar::new();
    let v = vars(json!({"s": "hello"}));
    let e = t.eval_cond("s", &v).unwrap_err();
    insta::assert_snapshot!(e.to_string());
}

#[test]
fn embedded_templates_in_conditionals_get_a_hint() {
    let t = Templar::new();
    let v = vars(json!({"x": 1}));
    let e = t.eval_cond("{{ x }} == 1", &v).unwrap_err();
    assert!(
        e.to_string()
            .contains("hint: conditionals are bare expressions"),
        "{e}"
    );
}

#[test]
fn eval_expr_gives_values() {
    let v = vars(json!({"m": {"a": [1, {"b": "c"}]}}));
    assert_eq!(eval("m.a[1]", &v), json!({"b": "c"}));
    assert_eq!(eval("m.a | length", &v), json!(2));
    assert_eq!(eval("range(3) | list", &v), json!([0, 1, 2]));
    assert_eq!(eval("none", &v), json!(null));
    assert!(Templar::new().eval_expr("  ", &v).is_err());
}

#[test]
fn python_methods_work() {
    let v = vars(json!({"s": " a,b ", "d": {"x": 1}}));
    assert_eq!(render("{{ s.strip().split(',') }}", &v), "['a', 'b']");
    assert_eq!(render("{{ 'abc'.startswith('a') }}", &v), "True");
    assert_eq!(
        render(
            "{% for k, val in d.items() %}{{ k }}={{ val }}{% endfor %}",
            &v
        ),
        "x=1"
    );
    assert_eq!(render("{{ d.keys() | list }}", &v), "['x']");
    assert_eq!(render("{{ 'a-b'.replace('-', '_') }}", &v), "a_b");
    assert_eq!(render("{{ '{}:{}'.format('h', 1) }}", &v), "h:1");
}

#[test]
fn no_auto_escaping_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let v = vars(json!({"s": "a&b \"q\" <x>"}));
    for name in ["app.yml.j2", "index.html.j2", "data.json", "plain.j2"] {
        let p = dir.path().join(name);
        std::fs::write(&p, "v: {{ s }}\n").unwrap();
        assert_eq!(
            Templar::new().render_file(&p, &v).unwrap(),
            "v: a&b \"q\" <x>\n",
            "{name}"
        );
    }
}

#[test]
fn template_files_trim_blocks_and_keep_trailing_newline() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("list.conf.j2");
    std::fs::write(&p, "{% for x in xs %}\nitem {{ x }}\n{% endfor %}\nend\n\n").unwrap();
    let v = vars(json!({"xs": [1, 2]}));
    let out = Templar::new().render_file(&p, &v).unwrap();
    assert_eq!(out, "item 1\nitem 2\nend\n\n");
}

#[test]
fn template_files_include_from_own_dir_and_search_paths() {
    let dir = tempfile::tempdir().unwrap();
    let tpl = dir.path().join("role/templates");
    let shared = dir.path().join("shared");
    std::fs::create_dir_all(&tpl).unwrap();
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::write(
        tpl.join("main.j2"),
        "{% include 'part.j2' %}|{% include 'common.j2' %}\n\n",
    )
    .unwrap();
    std::fs::write(tpl.join("part.j2"), "part {{ x }}").unwrap();
    std::fs::write(
        shared.join("common.j2"),
        "{% from 'macros.j2' import m %}{{ m(x) }}",
    )
    .unwrap();
    std::fs::write(
        shared.join("macros.j2"),
        "{% macro m(v) %}macro {{ v }}{% endmacro %}",
    )
    .unwrap();
    let mut v = vars(json!({"x": 7}));
    v.set_search_paths(vec![shared.clone()]);
    let out = Templar::new()
        .render_file(&tpl.join("main.j2"), &v)
        .unwrap();
    assert_eq!(out, "part 7|macro 7\n");
}

#[test]
fn template_file_errors_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("haproxy.cfg.j2");
    std::fs::write(
        &p,
        "global\n  maxconn {{ maxconn }}\n  bind {{ services.web.port }}\n",
    )
    .unwrap();
    let v = vars(json!({"maxconn": 100, "services": {"web": {}}}));
    let e = Templar::new().render_file(&p, &v).unwrap_err();
    assert_eq!(e.line(), Some(3));
    assert_eq!(e.undefined(), Some("services.web.port"));
    let shown = e
        .to_string()
        .replace(&dir.path().display().to_string(), "<dir>");
    insta::assert_snapshot!(shown);
}

#[test]
fn missing_template_file_is_an_error() {
    let e = Templar::new()
        .render_file(std::path::Path::new("/nonexistent/x.j2"), &Vars::new())
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("cannot read template /nonexistent/x.j2"),
        "{e}"
    );
}

#[test]
fn templar_is_send_sync_and_shareable() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Templar>();
    assert_send_sync::<Vars>();
    let t = Arc::new(Templar::new());
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let t = t.clone();
            std::thread::spawn(move || {
                let v = vars(json!({"i": i, "a": "{{ i * 2 }}"}));
                t.render_str("{{ a }}", &v).unwrap()
            })
        })
        .collect();
    let out: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(out, vec!["0", "2", "4", "6"]);
}
