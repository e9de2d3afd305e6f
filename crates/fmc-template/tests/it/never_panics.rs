//! Property: no input makes the templar panic.

use super::*;
use proptest::prelude::*;

fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("{{".to_string()),
        Just("}}".to_string()),
        Just("{%".to_string()),
        Just("%}".to_string()),
        Just("{#".to_string()),
        Just(" | ".to_string()),
        Just("(".to_string()),
        Just(")".to_string()),
        Just("'".to_string()),
        Just(" if ".to_string()),
        Just(" for x in ".to_string()),
        Just("endfor".to_string()),
        Just(" is ".to_string()),
        Just("default(".to_string()),
        Just("lookup('vars', ".to_string()),
        Just("a".to_string()),
        Just("loop_a".to_string()),
        Just("h.x".to_string()),
        Just("[0]".to_string()),
        Just("omit".to_string()),
        Just("regex_replace('(', '\\\\1')".to_string()),
        Just("ipaddr('-1')".to_string()),
        Just("human_to_bytes".to_string()),
        Just("to_nice_json".to_string()),
        Just("version('1', '<')".to_string()),
        Just("combine(".to_string()),
        "[a-z0-9 .,:+*/<>=\\-]{1,6}",
        any::<String>(),
    ]
}

fn input() -> impl Strategy<Value = String> {
    prop::collection::vec(fragment(), 0..14).prop_map(|v| v.concat())
}

fn test_vars() -> Vars {
    vars(json!({
        "a": "{{ b }}",
        "b": [1, "{{ c | default(2) }}"],
        "loop_a": "{{ loop_a }}",
        "h": {"x": "{{ nope }}"},
    }))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn render_str_never_panics(s in input()) {
        let _ = Templar::new().render_str(&s, &test_vars());
    }

    #[test]
    fn eval_cond_never_panics(s in input()) {
        let _ = Templar::new().eval_cond(&s, &test_vars());
    }

    #[test]
    fn render_value_never_panics(k in input(), s in input()) {
        let v = json!({ k: [s.clone(), {"x": s}] });
        let _ = Templar::new().render_value(&v, &test_vars());
    }
}

#[test]
fn deeply_nested_input_is_an_error_not_a_crash() {
    let deep = format!("{{{{ {}1{} }}}}", "(".repeat(5000), ")".repeat(5000));
    assert!(Templar::new().render_str(&deep, &Vars::new()).is_err());
    assert!(Templar::new().eval_cond(&deep, &Vars::new()).is_err());
    let deep_list = format!("{{{{ {}1{} }}}}", "[".repeat(5000), "]".repeat(5000));
    assert!(Templar::new().render_str(&deep_list, &Vars::new()).is_err());
}
