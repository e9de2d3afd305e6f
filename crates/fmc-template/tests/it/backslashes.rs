//! Ansible's backslash rule for `{{ }}` string literals in YAML-sourced templates.
//!
//! Each case is a YAML `vars:` entry; the expected values were recorded from
//! ansible-core 2.19 (`debug: var=<name>` on a `connection: local` play).

use fmc_template::Templar;
use serde_json::json;

use super::{layer, vars};

const VARS_YAML: &str = r#"
v_dq: "{{ 'a1' | regex_replace('a(\\d)', 'b\\1') }}"
v_sq: '{{ ''a1'' | regex_replace(''a(\d)'', ''b\1'') }}'
v_plain: x{{ 'a1' | regex_replace('a(\d)', 'b\1') }}
v_block: |-
  {{ 'a1' | regex_replace('a(\d)', 'b\1') }}
v_dq4: "{{ 'a1' | regex_replace('a(\\\\d)', 'b\\\\1') }}"
v_n: "{{ 'x\\ny' }}"
v_n1: "{{ 'x\ny' }}"
v_t: '{{ "x\ty" }}'
v_quote: '{{ "it\"s" }}'
v_squote: "{{ 'it\\'s' }}"
v_search: "{{ 'ab12' | regex_search('(\\d)(\\d)', '\\2') }}"
v_search2: "{{ 'ab12' | regex_search('b(?P<x>\\d)', '\\g<x>') }}"
v_search3: "{{ 'ab12' | regex_search('(?P<x>\\d)(\\d)', '\\g<x>', '\\2') }}"
v_search4: '{{ ''ab12'' | regex_search(''(\d)(\d)'', ''\1'') }}'
v_stmt: "{% set r = 'b\\1' %}{{ 'a1' | regex_replace('a(\\d)', r) }}"
v_outside: "pre\\3 {{ 'a' }}"
v_dollar: "{{ 'a1' | regex_replace('a(\\d)', '\\\\1') }}"
v_path: "{{ 'C:\\temp' }}"
v_bs_rep: "{{ 'a.b' | regex_replace('\\.', '\\\\') }}"
v_lazy: "{{ v_search4 }}"
v_list: "{{ ['x\\y'] }}"
"#;

#[test]
fn yaml_sourced_templates_match_ansible() {
    let parsed = fmc_yaml::parse(VARS_YAML, "vars.yml").unwrap();
    let v = vars(parsed.clone());
    let t = Templar::new();
    let expected = [
        ("v_dq", json!("b1")),
        ("v_sq", json!("b1")),
        ("v_plain", json!("xb1")),
        ("v_block", json!("b1")),
        ("v_dq4", json!("a1")),
        ("v_n", json!("x\\ny")),
        ("v_n1", json!("x\ny")),
        ("v_t", json!("x\\ty")),
        ("v_quote", json!("it\\\"s")),
        ("v_squote", json!("it\\'s")),
        ("v_search", json!(["2"])),
        ("v_search2", json!(["1"])),
        ("v_search3", json!(["1", "2"])),
        ("v_search4", json!(["1"])),
        ("v_stmt", json!("b\u{1}")),
        ("v_outside", json!("pre\\3 a")),
        ("v_dollar", json!("\\1")),
        ("v_path", json!("C:\\temp")),
        ("v_bs_rep", json!("a\\b")),
        ("v_lazy", json!(["1"])),
        ("v_list", json!(["x\\y"])),
    ];
    let names: Vec<&str> = expected.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        parsed.as_object().unwrap().keys().collect::<Vec<_>>(),
        names,
        "every case has an expected value"
    );
    for (name, want) in expected {
        // As a task argument (rendered directly) and as a variable (templated lazily).
        let direct = t.render_value(&parsed[name], &v).unwrap();
        assert_eq!(direct, want, "{name} rendered directly");
        assert_eq!(t.eval_expr(name, &v).unwrap(), want, "{name} as a variable");
    }
}

#[test]
fn bare_expressions_and_template_files_keep_jinja_escapes() {
    let t = Templar::new();
    let v = vars(json!({}));
    // `debug: var=` and conditionals are bare expressions: ansible-core does not escape them.
    assert_eq!(
        t.eval_expr(r"'a1' | regex_replace('a(\d)', 'b\1')", &v)
            .unwrap(),
        json!("b\u{1}")
    );
    assert!(
        !t.eval_cond(r"'a1' | regex_replace('a(\d)', 'b\1') == 'b1'", &v)
            .unwrap()
    );
    assert!(
        t.eval_cond(r"'a1' | regex_replace('a(\\d)', 'b\\1') == 'b1'", &v)
            .unwrap()
    );
    // Template files (the `template` module, `lookup('template')`) do not either.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.j2");
    std::fs::write(
        &path,
        "{{ 'a1' | regex_replace('a(\\d)', 'b\\1') }}|{{ 'x\\ty' }}\n",
    )
    .unwrap();
    assert_eq!(t.render_file(&path, &v).unwrap(), "b\u{1}|x\ty\n");
    let looked_up = vars(json!({"p": path.display().to_string()}));
    assert_eq!(
        t.render_str("{{ lookup('template', p) }}", &looked_up)
            .unwrap(),
        "b\u{1}|x\ty\n"
    );
    let _ = layer;
}

#[test]
fn escaped_literals_pass_the_syntax_check() {
    // `\u` without hex digits is a bad escape for Jinja, but a raw literal for Ansible.
    Templar::new().check_syntax(r"{{ 'C:\users' }}").unwrap();
}
