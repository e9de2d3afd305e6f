//! Filters real roles use, with the results ansible-core 2.19 (and ansible.utils with
//! netaddr, for the IP filters) gave for the same expressions.

use serde_json::json;

use super::{ev, eval, r, render, vars};

#[test]
fn to_yaml_matches_pyyaml() {
    let long = ["word"; 30].join(" ");
    let v = vars(json!({
        "d": {"a": [1, "b"], "c": {"d": "e"}, "s": "x: y", "n": null, "t": true, "e": [], "f": {}},
        "l": [1, "a", {"k": [2, 3]}],
        "q": {"k": "yes", "l": "multi\nline", "m": "0644", "u": "ünï"},
        "n": {"nested": [{"a": 1, "b": [1, 2]}, {"c": {"d": [{"e": 1}]}}]},
        "deep": [[1, [2, [3]]], {"a": {}}],
        "long": {"x": long},
        "long2": {"long": long},
        "num": {"b": 1.0, "c": 1e20, "d": -0.0, "g": 0.1, "i": 12},
    }));
    let cases = [
        (
            "d | to_yaml",
            "a: [1, b]\nc: {d: e}\ne: []\nf: {}\nn: null\ns: 'x: y'\nt: true\n",
        ),
        (
            "d | to_nice_yaml",
            "a:\n- 1\n- b\nc:\n    d: e\ne: []\nf: {}\nn: null\ns: 'x: y'\nt: true\n",
        ),
        ("l | to_yaml", "- 1\n- a\n- k: [2, 3]\n"),
        ("l | to_nice_yaml", "- 1\n- a\n-   k:\n    - 2\n    - 3\n"),
        ("'plain' | to_yaml", "plain\n"),
        ("'' | to_yaml", "''\n"),
        ("{'b': 1, 'a': 2} | to_yaml", "{a: 2, b: 1}\n"),
        ("{'b': 1, 'a': 2} | to_nice_yaml", "a: 2\nb: 1\n"),
        (
            "q | to_yaml",
            "{k: 'yes', l: 'multi\n\n    line', m: '0644', u: ünï}\n",
        ),
        (
            "q | to_nice_yaml",
            "k: 'yes'\nl: 'multi\n\n    line'\nm: '0644'\nu: ünï\n",
        ),
        (
            "n | to_yaml",
            "nested:\n- a: 1\n  b: [1, 2]\n- c:\n    d:\n    - {e: 1}\n",
        ),
        (
            "n | to_nice_yaml",
            "nested:\n-   a: 1\n    b:\n    - 1\n    - 2\n-   c:\n        d:\n        -   e: 1\n",
        ),
        (
            "{'a': {'b': [1, {'c': 2}]}, 'z': [[1,2],[]]} | to_nice_yaml(indent=2)",
            "a:\n  b:\n  - 1\n  - c: 2\nz:\n- - 1\n  - 2\n- []\n",
        ),
        (
            "deep | to_nice_yaml",
            "-   - 1\n    -   - 2\n        -   - 3\n-   a: {}\n",
        ),
        (
            "long2 | to_yaml",
            "{long: word word word word word word word word word word word word word word word\n    word word word word word word word word word word word word word word word}\n",
        ),
        (
            "long | to_nice_yaml",
            "x: word word word word word word word word word word word word word word word word\n    word word word word word word word word word word word word word word\n",
        ),
        (
            "long | to_nice_yaml(width=1000)",
            "x: word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word\n",
        ),
        (
            "num | to_yaml",
            "{b: 1.0, c: 1.0e+20, d: -0.0, g: 0.1, i: 12}\n",
        ),
    ];
    for (expr, want) in cases {
        assert_eq!(eval(expr, &v), json!(want), "{expr}");
    }
}

#[test]
fn to_yaml_quotes_like_pyyaml() {
    // yaml.dump({...}, Dumper=AnsibleDumper, allow_unicode=True, default_flow_style=False)
    let v = vars(json!({"m": {
        "k": "a\tb", "j": "café", "z": "\u{1}", "w": "line1\nline2\n", "q": "it's",
        "dq": "say \"hi\"", "c": "a # b", "h": "#x", "dash": "- x", "colon": "a:b",
        "col2": "a: b", "star": "*x", "lead": " x", "trail": "x ", "num": "12", "f": "1.5",
        "null": "null", "tilde": "~", "date": "2024-01-01", "oct": "0o17", "hex": "0x1F",
        "e": "1e3", "inf": ".inf", "q1": "?x", "sq": "'x", "eq": "=", "lt": "<<", "y": "y",
        "Y": "Yes", "und": "_x", "pct": "%x"
    }}));
    let want = "Y: 'Yes'\nc: 'a # b'\ncol2: 'a: b'\ncolon: a:b\ndash: '- x'\ndate: '2024-01-01'\n\
        dq: say \"hi\"\ne: 1e3\neq: '='\nf: '1.5'\nh: '#x'\nhex: '0x1F'\ninf: '.inf'\nj: café\n\
        k: \"a\\tb\"\nlead: ' x'\nlt: '<<'\n'null': 'null'\nnum: '12'\noct: 0o17\npct: '%x'\n\
        q: it's\nq1: ?x\nsq: '''x'\nstar: '*x'\ntilde: '~'\ntrail: 'x '\nund: _x\n\
        w: 'line1\n\n  line2\n\n  '\ny: y\nz: \"\\x01\"\n";
    assert_eq!(eval("m | to_nice_yaml(indent=2)", &v), json!(want));
    // What to_yaml writes reads back as the same data.
    assert_eq!(eval("m | to_yaml | from_yaml", &v), eval("m", &v));
    assert_eq!(eval("m | to_nice_yaml | from_yaml", &v), eval("m", &v));
}

#[test]
fn subelements_path_join_wordcount_from_yaml_all() {
    let v = vars(json!({"users": [
        {"name": "alice", "groups": ["wheel", "docker"]},
        {"name": "bob", "groups": []},
        {"name": "carol", "groups": ["users"], "x": {"y": [1]}},
    ]}));
    assert_eq!(
        eval(
            "users | subelements('groups') | map(attribute='1') | list",
            &v
        ),
        json!(["wheel", "docker", "users"])
    );
    assert_eq!(
        eval("(users | subelements('groups'))[0][0].name", &v),
        json!("alice")
    );
    assert_eq!(
        eval(
            "users | subelements('x.y', skip_missing=True) | map(attribute='1') | list",
            &v
        ),
        json!([1])
    );
    let err = fmc_template::Templar::new()
        .eval_expr("users | subelements('x.y')", &v)
        .unwrap_err();
    assert!(err.to_string().contains("could not find 'x'"), "{err}");
    assert_eq!(
        ev("['/etc', 'ssh', 'sshd_config'] | path_join"),
        json!("/etc/ssh/sshd_config")
    );
    assert_eq!(ev("['/etc', '/abs', 'x'] | path_join"), json!("/abs/x"));
    assert_eq!(ev("'hello big  world\\nnext' | wordcount"), json!(4));
    assert_eq!(
        ev("'a: 1\\n---\\nb: 2\\n' | from_yaml_all | list"),
        json!([{"a": 1}, {"b": 2}])
    );
}

#[test]
fn dates() {
    assert_eq!(
        ev("('2024-01-02 03:04:05' | to_datetime).year"),
        json!(2024)
    );
    assert_eq!(
        r("{{ '2024-01-02' | to_datetime('%Y-%m-%d') }}"),
        "2024-01-02 00:00:00"
    );
    assert_eq!(
        ev("('02/01/2024 10:20' | to_datetime('%d/%m/%Y %H:%M')).strftime('%Y-%m-%dT%H:%M')"),
        json!("2024-01-02T10:20")
    );
    assert_eq!(
        ev("('2024-01-02 03:04:05' | to_datetime).isoformat()"),
        json!("2024-01-02T03:04:05")
    );
    assert_eq!(
        ev("'%Y-%m-%dT%H:%M:%S' | strftime(1700000000, utc=True)"),
        json!("2023-11-14T22:13:20")
    );
    assert_eq!(
        ev("'%s' | strftime('1700000000.7', utc=True)"),
        json!("1700000000")
    );
    let t = fmc_template::Templar::new();
    let bad = t.eval_expr("'x' | to_datetime", &super::vars(json!({})));
    assert!(
        bad.unwrap_err()
            .to_string()
            .contains("does not match format")
    );
    let bad = t.eval_expr("'%Y' | strftime('soon')", &super::vars(json!({})));
    assert!(
        bad.unwrap_err()
            .to_string()
            .contains("invalid value for epoch")
    );
}

#[test]
fn ip_membership_ranges_and_subnets() {
    let v = vars(
        json!({"addrs": ["10.1.2.3", "192.168.1.5", "10.0.0.0/16", "nope", "2001:db8::1", "172.16.0.1/12"]}),
    );
    let cases = [
        (
            "addrs | ansible.utils.ipaddr('10.0.0.0/8')",
            json!(["10.1.2.3", "10.0.0.0/16"]),
        ),
        ("'10.1.2.3' | ipaddr('10.0.0.0/8')", json!("10.1.2.3")),
        ("'11.1.2.3' | ipaddr('10.0.0.0/8')", json!(null)),
        ("'10.1.2.3/24' | ipaddr('10.0.0.0/8')", json!("10.1.2.3/24")),
        ("'10.0.0.0/8' | ipaddr('10.1.0.0/16')", json!(null)),
        ("'10.1.2.3' | ipaddr('10.1.2.3')", json!("10.1.2.3")),
        ("'x' | ipaddr('10.0.0.0/8')", json!(false)),
        (
            "'192.168.0.0/24' | ipaddr('range_usable')",
            json!("192.168.0.1-192.168.0.254"),
        ),
        (
            "'192.168.0.5/24' | ipaddr('range_usable')",
            json!("192.168.0.1-192.168.0.254"),
        ),
        (
            "'192.168.0.5/31' | ipaddr('range_usable')",
            json!("192.168.0.4-192.168.0.5"),
        ),
        ("'192.168.0.5/32' | ipaddr('range_usable')", json!(null)),
        (
            "'2001:db8::/126' | ipaddr('range_usable')",
            json!("2001:db8::1-2001:db8::2"),
        ),
        ("'10.0.0.0/24' | ipaddr('first_usable')", json!("10.0.0.1")),
        ("'10.0.0.0/24' | ipaddr('last_usable')", json!("10.0.0.254")),
        ("'10.0.0.5/24' | ipaddr('next_usable')", json!("10.0.0.6")),
        (
            "'10.0.0.5/24' | ipaddr('previous_usable')",
            json!("10.0.0.4"),
        ),
        ("'10.0.0.5/24' | ipaddr('network_id')", json!("10.0.0.0")),
        (
            "'10.0.0.5/24' | ipaddr('network_netmask')",
            json!("10.0.0.0 255.255.255.0"),
        ),
        (
            "'10.0.0.5/24' | ipaddr('network_wildcard')",
            json!("10.0.0.0 0.0.0.255"),
        ),
        ("'192.168.0.0/24' | ipsubnet", json!("192.168.0.0/24")),
        ("'192.168.0.0/24' | ipsubnet(26)", json!("4")),
        (
            "'192.168.0.0/24' | ipsubnet(26, 2)",
            json!("192.168.0.128/26"),
        ),
        (
            "'192.168.0.0/24' | ipsubnet(26, -1)",
            json!("192.168.0.192/26"),
        ),
        ("'192.168.0.0/24' | ipsubnet(26, 9)", json!(false)),
        ("'192.168.0.0/24' | ipsubnet(24)", json!("1")),
        ("'192.168.0.0/24' | ipsubnet(23, 1)", json!(false)),
        (
            "'192.168.0.70' | ansible.utils.ipsubnet(26, 0)",
            json!("192.168.0.64/26"),
        ),
        ("'192.168.0.70' | ipsubnet", json!("192.168.0.70/32")),
        ("'192.168.1.5' | ipmath(3)", json!("192.168.1.8")),
        ("'192.168.1.5' | ipmath(-10)", json!("192.168.0.251")),
        ("'192.168.1.5/24' | ipmath(3)", json!("192.168.1.8")),
        ("'2001:db8::1' | ipmath(16)", json!("2001:db8::11")),
        (
            "'10.0.0.0/8' | network_in_network('10.1.0.0/16')",
            json!(true),
        ),
        ("'10.0.0.0/8' | network_in_network('10.1.2.3')", json!(true)),
        (
            "'10.0.0.0/16' | network_in_network('10.0.0.0/8')",
            json!(false),
        ),
        (
            "'10.0.0.0/8' | network_in_network('11.0.0.0/16')",
            json!(false),
        ),
        (
            "'10.0.0.0/24' | network_in_usable('10.0.0.255')",
            json!(false),
        ),
        (
            "'10.0.0.0/24' | network_in_usable('10.0.0.0/30')",
            json!(false),
        ),
        ("'10.0.0.0/24' | network_in_usable('10.0.0.1')", json!(true)),
    ];
    for (expr, want) in cases {
        assert_eq!(eval(expr, &v), want, "{expr}");
    }
    let t = fmc_template::Templar::new();
    for (expr, msg) in [
        (
            "'192.168.0.0/24' | ipsubnet(20)",
            "requested subnet size of 20 is invalid",
        ),
        (
            "'192.168.0.0/24' | ipsubnet('192.168.0.64/26')",
            "is not in the subnet",
        ),
        (
            "'10.0.0.5' | ipaddr('range_usable')",
            "not a network address",
        ),
    ] {
        let e = t.eval_expr(expr, &v).unwrap_err().to_string();
        assert!(e.contains(msg), "{expr}: {e}");
    }
    assert_eq!(
        render("{{ '192.168.0.64/26' | ipsubnet('192.168.0.0/24') }}", &v),
        "2"
    );
}
