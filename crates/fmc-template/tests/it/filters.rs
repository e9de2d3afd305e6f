//! Ansible filters. Expected values come from Python/Ansible or openssl where noted.

use super::*;

#[test]
fn types() {
    assert_eq!(ev("'yes' | bool"), json!(true));
    assert_eq!(ev("'Off' | bool"), json!(false));
    assert_eq!(ev("'garbage' | bool"), json!(false));
    assert_eq!(ev("1 | bool"), json!(true));
    assert_eq!(ev("'42' | int"), json!(42));
    assert_eq!(ev("'4.7' | int"), json!(4));
    assert_eq!(ev("'x' | int"), json!(0));
    assert_eq!(ev("'x' | int(7)"), json!(7));
    assert_eq!(ev("'0x1A' | int(base=16)"), json!(26));
    assert_eq!(ev("'1.5' | float"), json!(1.5));
    assert_eq!(ev("5 | string"), json!("5"));
    assert_eq!(ev("[1] | type_debug"), json!("list"));
    assert_eq!(ev("{} | type_debug"), json!("dict"));
    assert_eq!(ev("'s' | type_debug"), json!("str"));
    assert_eq!(ev("1.5 | type_debug"), json!("float"));
    assert_eq!(ev("none | type_debug"), json!("NoneType"));
}

#[test]
fn ternary() {
    assert_eq!(ev("true | ternary('a', 'b')"), json!("a"));
    assert_eq!(ev("0 | ternary('a', 'b')"), json!("b"));
    assert_eq!(ev("none | ternary('a', 'b', 'n')"), json!("n"));
    assert_eq!(ev("none | ternary('a', 'b')"), json!("b"));
}

#[test]
fn json_like_python() {
    let v = vars(json!({"d": {"b": [1, "é", {"z": null, "a": true}], "a": 1.5, "e": {}, "f": []}}));
    // Python: json.dumps(d)
    assert_eq!(
        render("{{ d | to_json }}", &v),
        r#"{"b": [1, "\u00e9", {"z": null, "a": true}], "a": 1.5, "e": {}, "f": []}"#
    );
    // Python: json.dumps(d, indent=4, sort_keys=True)
    assert_eq!(
        render("{{ d | to_nice_json }}", &v),
        "{\n    \"a\": 1.5,\n    \"b\": [\n        1,\n        \"\\u00e9\",\n        {\n            \"a\": true,\n            \"z\": null\n        }\n    ],\n    \"e\": {},\n    \"f\": []\n}"
    );
    assert_eq!(
        render("{{ [1] | to_nice_json(indent=2) }}", &v),
        "[\n  1\n]"
    );
    assert_eq!(
        eval("'{\"a\": [1, 2]}' | from_json", &v),
        json!({"a": [1, 2]})
    );
    assert_eq!(
        eval("d | to_json | from_json", &v),
        v.get_raw("d").cloned().unwrap()
    );
    assert!(
        Templar::new()
            .render_str("{{ '{' | from_json }}", &v)
            .is_err()
    );
}

#[test]
fn yaml_round_trip() {
    let v =
        vars(json!({"d": {"name": "web", "ports": [80, 443], "on": "yes", "nested": {"k": "v"}}}));
    let y = render("{{ d | to_yaml }}", &v);
    assert!(y.contains("name: web"), "{y}");
    assert!(
        y.contains("'yes'") || y.contains("\"yes\""),
        "a YAML 1.1 boolean word must be quoted: {y}"
    );
    assert_eq!(
        eval("d | to_yaml | from_yaml", &v),
        v.get_raw("d").cloned().unwrap()
    );
    let nice = render("{{ d | to_nice_yaml }}", &v);
    assert!(nice.contains("nested:\n    k: v"), "{nice}");
    assert_eq!(
        eval("d | to_nice_yaml | from_yaml", &v),
        v.get_raw("d").cloned().unwrap()
    );
    assert_eq!(
        ev("'a: yes\\nmode: 0644' | from_yaml"),
        json!({"a": true, "mode": 420})
    );
}

#[test]
fn combine() {
    let v = vars(json!({
        "a": {"x": 1, "n": {"p": 1, "l": [1]}},
        "b": {"y": 2, "n": {"q": 2, "l": [2]}},
    }));
    assert_eq!(
        eval("a | combine(b)", &v),
        json!({"x": 1, "n": {"q": 2, "l": [2]}, "y": 2})
    );
    assert_eq!(
        eval("a | combine(b, recursive=True)", &v),
        json!({"x": 1, "n": {"p": 1, "l": [2], "q": 2}, "y": 2})
    );
    assert_eq!(
        eval("a | combine(b, recursive=True, list_merge='append')", &v),
        json!({"x": 1, "n": {"p": 1, "l": [1, 2], "q": 2}, "y": 2})
    );
    assert_eq!(
        eval("a | combine(b, recursive=True, list_merge='prepend')", &v)["n"]["l"],
        json!([2, 1])
    );
    assert_eq!(eval("[a, b] | combine", &v)["y"], json!(2));
    assert_eq!(
        eval("{} | combine({'k': 1}, {'k': 2})", &v),
        json!({"k": 2})
    );
    assert!(Templar::new().eval_expr("a | combine(1)", &v).is_err());
    assert!(
        Templar::new()
            .eval_expr("a | combine(b, list_merge='bogus')", &v)
            .is_err()
    );
}

#[test]
fn dict_items() {
    let v = vars(json!({"d": {"a": 1, "b": 2}}));
    assert_eq!(
        eval("d | dict2items", &v),
        json!([{"key": "a", "value": 1}, {"key": "b", "value": 2}])
    );
    assert_eq!(
        eval("d | dict2items(key_name='k', value_name='v')", &v),
        json!([{"k": "a", "v": 1}, {"k": "b", "v": 2}])
    );
    assert_eq!(
        eval("d | dict2items | items2dict", &v),
        json!({"a": 1, "b": 2})
    );
    assert_eq!(
        eval(
            "[{'n': 'x', 'v': 1}] | items2dict(key_name='n', value_name='v')",
            &v
        ),
        json!({"x": 1})
    );
    assert_eq!(
        render(
            "{% for k, x in d | dictsort %}{{ k }}{{ x }}{% endfor %}",
            &v
        ),
        "a1b2"
    );
}

#[test]
fn lists_and_sets() {
    assert_eq!(ev("[1, [2, [3, [4]]]] | flatten"), json!([1, 2, 3, 4]));
    assert_eq!(
        ev("[1, [2, [3, [4]]]] | flatten(1)"),
        json!([1, 2, [3, [4]]])
    );
    assert_eq!(ev("[1, [2, [3]]] | flatten(levels=1)"), json!([1, 2, [3]]));
    assert_eq!(ev("[1, 2, 1, 3] | unique | list"), json!([1, 2, 3]));
    assert_eq!(ev("[1, 2] | union([2, 3])"), json!([1, 2, 3]));
    assert_eq!(ev("[1, 2, 3] | difference([2])"), json!([1, 3]));
    assert_eq!(ev("[1, 2, 3] | intersect([3, 2, 9])"), json!([2, 3]));
    assert_eq!(ev("[1, 2] | symmetric_difference([2, 3])"), json!([1, 3]));
    assert_eq!(
        ev("[1, 2, 3] | zip(['a', 'b'])"),
        json!([[1, "a"], [2, "b"]])
    );
    assert_eq!(
        ev("[1, 2] | zip_longest(['a'])"),
        json!([[1, "a"], [2, null]])
    );
    assert_eq!(
        ev("[1, 2] | zip_longest(['a'], fillvalue='-')"),
        json!([[1, "a"], [2, "-"]])
    );
    assert_eq!(
        ev("[1, 2] | product(['a', 'b'])"),
        json!([[1, "a"], [1, "b"], [2, "a"], [2, "b"]])
    );
    assert_eq!(ev("'a,b' | split(',') | list"), json!(["a", "b"]));
    assert!(
        Templar::new()
            .eval_expr("'abc' | flatten", &Vars::new())
            .is_err()
    );
}

#[test]
fn extract_and_map() {
    let v = vars(json!({
        "hv": {"h1": {"ip": "10.0.0.1", "n": {"a": 1}}, "h2": {"ip": "10.0.0.2", "n": {"a": 2}}},
        "users": [{"name": "a", "on": true}, {"name": "b", "on": false}],
    }));
    assert_eq!(
        eval("['h1', 'h2'] | map('extract', hv, 'ip') | list", &v),
        json!(["10.0.0.1", "10.0.0.2"])
    );
    assert_eq!(eval("'h2' | extract(hv, ['n', 'a'])", &v), json!(2));
    assert_eq!(
        eval(
            "users | selectattr('on') | map(attribute='name') | list",
            &v
        ),
        json!(["a"])
    );
    assert_eq!(
        eval(
            "users | rejectattr('on') | map(attribute='name') | list",
            &v
        ),
        json!(["b"])
    );
    assert_eq!(eval("['1', '2'] | map('int') | sum", &v), json!(3));
}

#[test]
fn random_and_shuffle_with_seed_are_stable() {
    let a = ev("[1, 2, 3, 4, 5, 6, 7, 8] | shuffle(seed='host1')");
    assert_eq!(a, ev("[1, 2, 3, 4, 5, 6, 7, 8] | shuffle(seed='host1')"));
    let mut sorted: Vec<i64> = a
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    sorted.sort();
    assert_eq!(sorted, vec![1, 2, 3, 4, 5, 6, 7, 8]);
    let pick = ev("['a', 'b', 'c'] | random(seed='x')");
    assert_eq!(pick, ev("['a', 'b', 'c'] | random(seed='x')"));
    assert!(["a", "b", "c"].contains(&pick.as_str().unwrap()));
    let n = ev("60 | random(seed=inventory_hostname | default('h'))")
        .as_i64()
        .unwrap();
    assert!((0..60).contains(&n));
    let stepped = ev("100 | random(start=10, step=10, seed='s')")
        .as_i64()
        .unwrap();
    assert!((10..100).contains(&stepped) && stepped % 10 == 0);
}

#[test]
fn sizes() {
    assert_eq!(ev("'10M' | human_to_bytes"), json!(10485760));
    assert_eq!(ev("'1.5K' | human_to_bytes"), json!(1536));
    assert_eq!(ev("'2 GB' | human_to_bytes"), json!(2147483648_i64));
    assert_eq!(ev("'512' | human_to_bytes"), json!(512));
    assert_eq!(ev("'10' | human_to_bytes('K')"), json!(10240));
    assert_eq!(ev("'1Mb' | human_to_bytes(isbits=True)"), json!(1048576));
    assert!(
        Templar::new()
            .eval_expr("'1Mb' | human_to_bytes", &Vars::new())
            .is_err()
    );
    assert!(
        Templar::new()
            .eval_expr("'lots' | human_to_bytes", &Vars::new())
            .is_err()
    );
    assert_eq!(ev("1048576 | human_readable"), json!("1.00 MB"));
    assert_eq!(ev("1536 | human_readable"), json!("1.50 KB"));
    assert_eq!(ev("10 | human_readable"), json!("10.00 Bytes"));
    assert_eq!(
        ev("1048576 | human_readable(unit='K')"),
        json!("1024.00 KB")
    );
    assert_eq!(ev("2048 | human_readable(isbits=True)"), json!("2.00 Kb"));
}

#[test]
fn comment_styles() {
    assert_eq!(
        r("{{ 'managed by fmc' | comment }}"),
        "#\n# managed by fmc\n#"
    );
    // A literal in `{{ }}` is raw text (Ansible's rule for YAML strings): real newlines here.
    assert_eq!(r("{{ 'a\n\nb' | comment }}"), "#\n# a\n#\n# b\n#");
    assert_eq!(r("{{ 'x' | comment('c') }}"), "//\n// x\n//");
    assert_eq!(r("{{ 'x' | comment('cblock') }}"), "/*\n *\n * x\n *\n */");
    assert_eq!(r("{{ 'x' | comment('xml') }}"), "<!--\n -\n - x\n -\n-->");
    assert_eq!(r("{{ 'x' | comment(decoration='; ') }}"), ";\n; x\n;");
}

#[test]
fn regex_filters() {
    // Python: re.sub(r'(?P<x>\w+)=(\d+)', r'\2=\g<x>$', 'a=1 b=2') == '1=a$ 2=b$'
    // (literals in `{{ }}` of a YAML string are raw text, like Python's r'')
    let v = vars(json!({"s": "a=1 b=2"}));
    assert_eq!(
        render(
            r"{{ s | regex_replace('(?P<x>\w+)=(\d+)', '\2=\g<x>$') }}",
            &v
        ),
        "1=a$ 2=b$"
    );
    assert_eq!(
        render(
            "{{ 'Hello' | regex_replace('h', 'J', ignorecase=True) }}",
            &v
        ),
        "Jello"
    );
    assert_eq!(
        render(
            "{{ 'a\nb' | regex_replace('^', '> ', multiline=True) }}",
            &v
        ),
        "> a\n> b"
    );
    assert_eq!(
        render("{{ 'aaa' | regex_replace('a', 'b', count=2) }}", &v),
        "bba"
    );
    assert_eq!(render("{{ 'x' | regex_replace('x') }}", &v), "");
    assert_eq!(
        eval(r"s | regex_search('(\\w)=(\\d)', '\\2', '\\1')", &v),
        json!(["1", "a"])
    );
    assert_eq!(
        eval(r"s | regex_search('(?P<k>\\w)=', '\\g<k>')", &v),
        json!(["a"])
    );
    assert_eq!(eval(r"s | regex_search('b=\\d')", &v), json!("b=2"));
    assert_eq!(eval("s | regex_search('zzz')", &v), json!(null));
    // Python: re.findall(r'(\w)=(\d)', 'a=1 b=2'), re.findall(r'\d', 'a1b2')
    assert_eq!(
        eval(r"s | regex_findall('(\\w)=(\\d)')", &v),
        json!([["a", "1"], ["b", "2"]])
    );
    assert_eq!(
        eval(r"'a1b2' | regex_findall('\\d')", &v),
        json!(["1", "2"])
    );
    // Python: re.escape("a.b*c (d) [e] ^$|?+ {f} #&~-")
    assert_eq!(
        render("{{ 'a.b*c (d) [e] ^$|?+ {f} #&~-' | regex_escape }}", &v),
        r"a\.b\*c\ \(d\)\ \[e\]\ \^\$\|\?\+\ \{f\}\ \#\&\~\-"
    );
    assert_eq!(
        render("{{ 'a.b' | regex_escape('posix_basic') }}", &v),
        r"a\.b"
    );
    let e = Templar::new()
        .render_str("{{ 'x' | regex_replace('(') }}", &v)
        .unwrap_err();
    assert!(e.to_string().contains("invalid regular expression"), "{e}");
}

#[test]
fn encodings_and_hashes() {
    assert_eq!(r("{{ 'hello' | b64encode }}"), "aGVsbG8=");
    assert_eq!(r("{{ 'aGVsbG8=' | b64decode }}"), "hello");
    assert!(
        Templar::new()
            .render_str("{{ '!!' | b64decode }}", &Vars::new())
            .is_err()
    );
    // Python hashlib
    assert_eq!(
        r("{{ 'abc' | hash('sha256') }}"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        r("{{ 'abc' | hash('md5') }}"),
        "900150983cd24fb0d6963f7d28e17f72"
    );
    assert_eq!(
        r("{{ 'abc' | hash }}"),
        "a9993e364706816aba3e25717850c26c9cd0d89d"
    );
    assert_eq!(
        r("{{ 'abc' | checksum }}"),
        "a9993e364706816aba3e25717850c26c9cd0d89d"
    );
    assert!(
        Templar::new()
            .render_str("{{ 'abc' | hash('crc') }}", &Vars::new())
            .is_err()
    );
    // Python: uuid.uuid5(uuid.UUID('361E6D51-FAEC-444A-9079-341386DA8E2E'), 'example.com')
    assert_eq!(
        r("{{ 'example.com' | to_uuid }}"),
        "ae780c3a-a3ab-53c2-bfb4-098da300b3fe"
    );
}

#[test]
fn password_hash_matches_openssl() {
    // openssl passwd -6 -salt mysalt secret / openssl passwd -5 -salt mysalt secret
    assert_eq!(
        r("{{ 'secret' | password_hash('sha512', 'mysalt') }}"),
        "$6$mysalt$UX6P1VKOf6dr0s2pg4pLNvIUB6hLXvP6M5f/Yj9hJgMPdAJ4oArvk5YUD9/XWtk1JOpVwt/JTsczMJr8sFVML1"
    );
    assert_eq!(
        r("{{ 'secret' | password_hash('sha256', salt='mysalt') }}"),
        "$5$mysalt$I2SNajjJ3Gc5gIR/tkrLOGngF8wqv59buJCqxh.o9s8"
    );
    let random = r("{{ 'secret' | password_hash }}");
    assert!(random.starts_with("$6$") && random.len() > 100, "{random}");
    assert_ne!(random, r("{{ 'secret' | password_hash }}"));
    assert!(
        r("{{ 'x' | password_hash('sha512', 'salt', rounds=6000) }}")
            .starts_with("$6$rounds=6000$salt$")
    );
    assert!(
        Templar::new()
            .render_str(
                "{{ 'x' | password_hash('sha512', 'bad salt!') }}",
                &Vars::new()
            )
            .is_err()
    );
    assert!(
        Templar::new()
            .render_str("{{ 'x' | password_hash('md5', 'salt') }}", &Vars::new())
            .is_err()
    );
}

#[test]
fn paths() {
    // Python os.path
    assert_eq!(r("{{ '/etc/nginx/nginx.conf' | basename }}"), "nginx.conf");
    assert_eq!(r("{{ '/etc/nginx/nginx.conf' | dirname }}"), "/etc/nginx");
    assert_eq!(r("{{ '/a/b/' | dirname }}"), "/a/b");
    assert_eq!(r("{{ 'a' | dirname }}"), "");
    assert_eq!(r("{{ '/a' | dirname }}"), "/");
    assert_eq!(ev("'/a/b.tar.gz' | splitext"), json!(["/a/b.tar", ".gz"]));
    assert_eq!(ev("'.bashrc' | splitext"), json!([".bashrc", ""]));
    assert_eq!(ev("'a.b/c' | splitext"), json!(["a.b/c", ""]));
    assert_eq!(r("{{ '/x/./y/../z' | realpath }}"), "/x/z");
    let home = std::env::var("HOME").unwrap();
    assert_eq!(r("{{ '~/.ssh' | expanduser }}"), format!("{home}/.ssh"));
    assert_eq!(r("{{ '~other/x' | expanduser }}"), "~other/x");
    assert_eq!(r("{{ \"it's a file\" | quote }}"), "'it'\"'\"'s a file'");
    assert_eq!(r("{{ 'plain' | quote }}"), "plain");
}

#[test]
fn urlsplit() {
    // Python: urlsplit('https://user:pw@Example.com:8443/p/a?q=1#frag')
    let v = ev("'https://user:pw@Example.com:8443/p/a?q=1#frag' | urlsplit");
    assert_eq!(
        v,
        json!({
            "fragment": "frag", "hostname": "example.com", "netloc": "user:pw@Example.com:8443",
            "password": "pw", "path": "/p/a", "port": 8443, "query": "q=1", "scheme": "https",
            "username": "user",
        })
    );
    assert_eq!(
        ev("'http://[::1]:80/x' | urlsplit('hostname')"),
        json!("::1")
    );
    assert_eq!(ev("'http://h/x' | urlsplit('port')"), json!(null));
}

#[test]
fn ip_filters() {
    let cases = [
        ("'192.168.1.5/24' | ipaddr", json!("192.168.1.5/24")),
        ("'192.168.1.5/24' | ipaddr('address')", json!("192.168.1.5")),
        ("'192.168.1.5/24' | ipaddr('network')", json!("192.168.1.0")),
        (
            "'192.168.1.5/24' | ipaddr('netmask')",
            json!("255.255.255.0"),
        ),
        ("'192.168.1.5/24' | ipaddr('prefix')", json!(24)),
        (
            "'192.168.1.5/24' | ipaddr('broadcast')",
            json!("192.168.1.255"),
        ),
        ("'192.168.1.5/24' | ipaddr('host')", json!("192.168.1.5/24")),
        ("'192.168.1.0/24' | ipaddr('host')", json!(false)),
        ("'192.168.1.5' | ipaddr('host')", json!("192.168.1.5/32")),
        ("'192.168.1.5/24' | ipaddr('cidr')", json!("192.168.1.0/24")),
        ("'192.168.1.0/24' | ipaddr('size')", json!(256)),
        ("'192.168.1.0/24' | ipaddr(5)", json!("192.168.1.5/24")),
        ("'192.168.1.0/24' | ipaddr('-1')", json!("192.168.1.255/24")),
        ("'10.0.0.1/255.0.0.0' | ipaddr('prefix')", json!(8)),
        ("'nonsense' | ipaddr", json!(false)),
        (
            "['10.0.0.1', 'x', '2001:db8::1'] | ipaddr",
            json!(["10.0.0.1", "2001:db8::1"]),
        ),
        (
            "['10.0.0.1', 'x', '2001:db8::1'] | ipv4",
            json!(["10.0.0.1"]),
        ),
        ("['10.0.0.1', '2001:db8::1'] | ipv6", json!(["2001:db8::1"])),
        ("'10.0.0.1/8' | ipv4('address')", json!("10.0.0.1")),
        ("'10.0.0.1' | ipv6", json!(false)),
        ("'10.1.2.3' | ipaddr('private')", json!("10.1.2.3")),
        ("'8.8.8.8' | ipaddr('private')", json!(false)),
        ("'8.8.8.8' | ipaddr('public')", json!("8.8.8.8")),
        (
            "'192.168.0.1' | ipaddr('revdns')",
            json!("1.0.168.192.in-addr.arpa."),
        ),
        ("'2001:db8::1' | ipwrap", json!("[2001:db8::1]")),
        ("'10.0.0.1' | ipwrap", json!("10.0.0.1")),
        ("'example.com' | ipwrap", json!("example.com")),
        ("['::1', 'h'] | ipwrap", json!(["[::1]", "h"])),
        ("'192.168.1.5' | ipmath(3)", json!("192.168.1.8")),
        ("'192.168.1.5' | ipmath(-10)", json!("192.168.0.251")),
        ("'2001:db8::1' | ipmath(1)", json!("2001:db8::2")),
        ("'10.0.0.0/24' | nthhost(5)", json!("10.0.0.5")),
        ("'10.0.0.0/24' | nthhost(-1)", json!("10.0.0.255")),
        ("'10.0.0.0/30' | nthhost(9)", json!(false)),
        ("'10.0.0.0/24' | network_in_usable('10.0.0.7')", json!(true)),
        (
            "'10.0.0.0/24' | network_in_usable('10.0.0.255')",
            json!(false),
        ),
        (
            "'10.0.0.0/24' | network_in_usable('10.0.1.1')",
            json!(false),
        ),
        (
            "'192.168.1.5/24' | ansible.utils.ipaddr('network')",
            json!("192.168.1.0"),
        ),
        (
            "'192.168.1.5/24' | ansible.netcommon.ipv4('prefix')",
            json!(24),
        ),
    ];
    for (expr, want) in cases {
        assert_eq!(ev(expr), want, "{expr}");
    }
    assert!(
        Templar::new()
            .eval_expr("'10.0.0.1' | ipaddr('bogus')", &Vars::new())
            .is_err()
    );
    assert!(
        Templar::new()
            .eval_expr("'255.255.255.255' | ipmath(1)", &Vars::new())
            .is_err()
    );
}

#[test]
fn fully_qualified_names() {
    assert_eq!(r("{{ {'a': 1} | ansible.builtin.to_json }}"), r#"{"a": 1}"#);
    assert_eq!(r("{{ 'x' | ansible.builtin.b64encode }}"), "eA==");
    assert_eq!(
        r("{{ {'changed': true} is ansible.builtin.changed }}"),
        "True"
    );
}
