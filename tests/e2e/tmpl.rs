//! Templates and YAML as Ansible reads them, through the CLI (`hosts: localhost`):
//! PyYAML's booleans and the backslash rule of `{{ }}` literals in playbook strings.
//! Expected values were recorded with ansible-core 2.19 on the same play.

#[test]
fn yaml_scalars_and_backslashes_match_ansible() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out_file = tmp.path().join("out.json");
    let play = format!(
        r#"- hosts: localhost
  gather_facts: false
  vars:
    words: [y, n, yEs, yes, On, OFF, 1e3, 0644]
    name: n
    dq: "{{{{ 'a1' | regex_replace('a(\\d)', 'b\\1') }}}}"
    sq: '{{{{ ''a1'' | regex_replace(''a(\d)'', ''b\1'') }}}}'
    block: |-
      {{{{ 'ab12' | regex_search('(\d)(\d)', '\2') | first }}}}
    stmt: "{{% set r = 'b\\1' %}}{{{{ 'a1' | regex_replace('a(\\d)', r) }}}}"
  tasks:
    - copy:
        dest: {}
        content: "{{{{ {{'words': words, 'name': name, 'dq': dq, 'sq': sq, 'block': block, 'stmt': stmt}} | to_json }}}}"
"#,
        out_file.display()
    );
    std::fs::write(tmp.path().join("play.yml"), play).expect("write play");
    let out = super::fmc_in(tmp.path(), &["play.yml", "--output", "json"]);
    let log = format!("{}{}", out.stdout, out.stderr);
    assert_eq!(out.code, 0, "{log}");
    let got: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out_file).expect("out")).expect("json");
    assert_eq!(
        got,
        serde_json::json!({
            "words": ["y", "n", "yEs", true, true, false, "1e3", 420],
            "name": "n",
            "dq": "b1",
            "sq": "b1",
            "block": "2",
            "stmt": "b\u{1}",
        })
    );
}
