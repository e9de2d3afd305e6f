//! Lazy templating of variables, layers, hostvars.

use super::*;
use fmc_template::HostVars;
use std::collections::BTreeMap;

#[test]
fn variables_are_templated_on_access() {
    let v = vars(json!({"a": "{{ b }}", "b": "{{ c | default(1) }}"}));
    assert_eq!(render("{{ a }}", &v), "1");
    assert_eq!(eval("a", &v), json!(1));
}

#[test]
fn nested_strings_in_lists_and_maps_are_templated() {
    let v = vars(json!({
        "port": 8080,
        "svc": {"listen": "0.0.0.0:{{ port }}", "ports": ["{{ port }}", "{{ port + 1 }}"]},
    }));
    assert_eq!(render("{{ svc.listen }}", &v), "0.0.0.0:8080");
    assert_eq!(eval("svc.ports", &v), json!([8080, 8081]));
    assert_eq!(render("{{ svc.ports | sum }}", &v), "16161");
}

#[test]
fn lazy_values_see_later_layers() {
    // A role default referring to a variable set by a later (higher) layer.
    let mut v = Vars::new();
    v.push(
        "role defaults",
        layer(json!({"url": "http://{{ host }}:{{ port }}", "port": 80})),
    );
    v.push(
        "play vars",
        layer(json!({"host": "example.test", "port": 8080})),
    );
    assert_eq!(render("{{ url }}", &v), "http://example.test:8080");
}

#[test]
fn set_values_are_literal() {
    let mut v = vars(json!({"x": 1}));
    v.set("out", json!({"stdout": "{{ x }}"}));
    assert_eq!(render("{{ out.stdout }}", &v), "{{ x }}");
}

#[test]
fn literal_layers_are_not_templated() {
    let mut v = vars(json!({"x": 1}));
    v.push_literal("facts", layer(json!({"ansible_hostname": "{{ x }}"})));
    assert_eq!(render("{{ ansible_hostname }}", &v), "{{ x }}");
}

#[test]
fn runtime_values_win_over_layers() {
    let mut v = vars(json!({"x": "layer"}));
    v.set("x", json!("runtime"));
    assert_eq!(render("{{ x }}", &v), "runtime");
}

#[test]
fn recursion_is_detected() {
    let v = vars(json!({"a": "{{ a }}"}));
    let e = render_err("{{ a }}", &v);
    assert!(
        e.to_string()
            .contains("recursive loop detected in template for variable 'a'"),
        "{e}"
    );
    let v = vars(json!({"a": "{{ b }}", "b": "x{{ a }}"}));
    let e = render_err("{{ a }}", &v);
    assert!(e.to_string().contains("recursive loop detected"), "{e}");
}

#[test]
fn deep_chains_do_not_overflow_the_stack() {
    // Tests run on 2 MiB threads, like tokio workers.
    let mut m = serde_json::Map::new();
    for i in 0..200 {
        m.insert(format!("v{i}"), json!(format!("{{{{ v{} }}}}", i + 1)));
    }
    m.insert("v200".into(), json!("end"));
    let v = vars(Value::Object(m));
    let e = render_err("{{ v0 }}", &v);
    assert!(e.to_string().contains("levels deep"), "{e}");
    // A chain of reasonable depth works.
    let mut m = serde_json::Map::new();
    for i in 0..20 {
        m.insert(format!("v{i}"), json!(format!("{{{{ v{} }}}}", i + 1)));
    }
    m.insert("v20".into(), json!("end"));
    assert_eq!(render("{{ v0 }}", &vars(Value::Object(m))), "end");
}

#[test]
fn vars_variable_gives_dynamic_access() {
    let v = vars(json!({"pkg_web": "nginx", "role": "web", "ref": "{{ pkg_web }}"}));
    assert_eq!(render("{{ vars['pkg_' + role] }}", &v), "nginx");
    assert_eq!(render("{{ vars.ref }}", &v), "nginx");
    assert_eq!(render("{{ lookup('vars', 'pkg_' ~ role) }}", &v), "nginx");
}

struct Hosts(BTreeMap<String, Vars>);

impl HostVars for Hosts {
    fn host_names(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }
    fn vars_of(&self, host: &str) -> Option<Vars> {
        self.0.get(host).cloned()
    }
}

fn cluster() -> Vars {
    let mut hosts = BTreeMap::new();
    hosts.insert(
        "h1".to_string(),
        vars(json!({"ansible_host": "10.0.0.1", "role": "primary", "url": "http://{{ ansible_host }}"})),
    );
    hosts.insert(
        "h2".to_string(),
        vars(json!({"ansible_host": "10.0.0.2", "role": "backup", "url": "http://{{ ansible_host }}"})),
    );
    let mut me = vars(json!({"ansible_host": "10.0.0.9", "groups": {"all": ["h1", "h2"]}}));
    me.set_hostvars(Arc::new(Hosts(hosts)));
    me
}

#[test]
fn hostvars_lookups_and_iteration() {
    let v = cluster();
    assert_eq!(render("{{ hostvars['h1'].ansible_host }}", &v), "10.0.0.1");
    assert_eq!(
        render("{% for h in hostvars %}{{ h }} {% endfor %}", &v),
        "h1 h2 "
    );
    assert_eq!(
        render(
            "{% for h in groups.all %}{{ hostvars[h]['role'] }},{% endfor %}",
            &v
        ),
        "primary,backup,"
    );
    assert_eq!(
        eval(
            "groups.all | map('extract', hostvars, 'ansible_host') | list",
            &v
        ),
        json!(["10.0.0.1", "10.0.0.2"])
    );
    assert!(
        Templar::new()
            .eval_cond("'h3' not in hostvars", &v)
            .unwrap()
    );
}

#[test]
fn hostvars_are_templated_in_that_hosts_vars() {
    let v = cluster();
    assert_eq!(render("{{ hostvars.h2.url }}", &v), "http://10.0.0.2");
}

#[test]
fn hostvars_of_unknown_host_is_undefined() {
    let v = cluster();
    assert_eq!(render("{{ hostvars['nope'] is defined }}", &v), "False");
    let e = render_err("{{ hostvars['nope'].x }}", &v);
    assert!(e.undefined().is_some(), "{e}");
}

#[test]
fn names_include_hostvars() {
    let v = cluster();
    assert!(v.names().contains(&"hostvars".to_string()));
    assert!(v.names().contains(&"ansible_host".to_string()));
}
