//! Runs on the controller itself (`hosts: localhost`, implicit local connection): engine
//! behaviour that needs no SSH host.

fn run(dir: &std::path::Path, play: &str, args: &[&str]) -> (i32, String) {
    std::fs::write(dir.join("play.yml"), play).expect("write play");
    let mut all = vec!["play.yml"];
    all.extend_from_slice(args);
    all.extend(["--output", "json"]);
    let r = super::fmc_in(dir, &all);
    (r.code, format!("{}{}", r.stdout, r.stderr))
}

#[test]
fn a_block_whose_tasks_tags_filter_out_does_not_evaluate_its_when() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let play = "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - name: registers\n      command: echo hi\n      register: r\n      tags: [one]\n    - name: block on the registered value\n      when: r.changed\n      block:\n        - name: inner\n          debug: {msg: inner}\n          tags: [one]\n    - name: the other tag\n      debug: {msg: two}\n      tags: [two]\n";
    let (code, out) = run(tmp.path(), play, &["--tags", "two"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("\"task\":\"the other tag\""), "{out}");
    assert!(!out.contains("\"task\":\"inner\""), "{out}");
    // with its tag the block runs, its `when` evaluated on the registered result
    let (code, out) = run(tmp.path(), play, &["--tags", "one"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("\"task\":\"inner\""), "{out}");
}

#[test]
fn include_vars_are_templated_when_used_and_rank_below_set_fact() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        tmp.path().join("extra.yml"),
        "port: 8080\nurl: \"http://{{ host_name }}:{{ port }}/\"\nlevel: from-include\n",
    )
    .expect("vars file");
    let out_file = tmp.path().join("out.txt");
    let play = format!(
        "- hosts: localhost\n  gather_facts: false\n  vars:\n    host_name: api\n  tasks:\n    - set_fact: {{level: from-set-fact}}\n    - include_vars: extra.yml\n    - copy:\n        dest: {}\n        content: \"{{{{ url }}}} {{{{ level }}}}\"\n",
        out_file.display()
    );
    let (code, out) = run(tmp.path(), &play, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        std::fs::read_to_string(&out_file).expect("out"),
        "http://api:8080/ from-set-fact"
    );
}
