//! Module arguments written as a string: `file: path=/x state=touch` and the
//! free-form `command: echo hi creates=/x`.

use fmc_core::{Map, Value};

/// Modules whose string argument is a command line (`_raw_params`).
const FREE_FORM: &[&str] = &["command", "shell", "raw", "script"];

/// `key=value` options a free-form module takes out of its command line.
const FREE_FORM_OPTIONS: &[&str] = &[
    "creates",
    "removes",
    "chdir",
    "executable",
    "stdin",
    "stdin_add_newline",
    "strip_empty_ends",
    "warn",
];

/// The module name without an `ansible.builtin.` / `ansible.legacy.` prefix.
pub(crate) fn short_name(module: &str) -> &str {
    module
        .strip_prefix("ansible.builtin.")
        .or_else(|| module.strip_prefix("ansible.legacy."))
        .unwrap_or(module)
}

pub(crate) fn is_free_form(module: &str) -> bool {
    FREE_FORM.contains(&short_name(module))
}

/// Splits a module's string argument into parameters. Values stay strings; text that
/// is not `key=value` goes to `_raw_params`, keeping its original spacing. For
/// free-form modules only [`FREE_FORM_OPTIONS`] are taken out, and unbalanced quotes
/// are not an error (the whole text is the command).
pub(crate) fn parse_kv(module: &str, text: &str) -> Result<Map, String> {
    let free_form = is_free_form(module);
    let tokens = match split(text) {
        Ok(t) => t,
        Err(_) if free_form => {
            let mut m = Map::new();
            let raw = text.trim();
            if !raw.is_empty() {
                m.insert("_raw_params".into(), Value::String(raw.to_string()));
            }
            return Ok(m);
        }
        Err(e) => return Err(e),
    };
    let mut args = Map::new();
    let mut raw = String::new();
    let mut prev_end = 0;
    for (start, end) in tokens {
        let token = &text[start..end];
        let gap = &text[prev_end..start];
        prev_end = end;
        if let Some((key, value)) = key_value(token)
            && (!free_form || FREE_FORM_OPTIONS.contains(&key))
        {
            args.insert(key.to_string(), Value::String(unquote(value).to_string()));
            continue;
        }
        if !raw.is_empty() {
            raw.push_str(gap);
        }
        raw.push_str(token);
    }
    if !raw.is_empty() {
        args.insert("_raw_params".into(), Value::String(raw));
    }
    Ok(args)
}

/// `key=value` when the token starts with an identifier followed by `=`.
fn key_value(token: &str) -> Option<(&str, &str)> {
    let (key, value) = token.split_once('=')?;
    let ident = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    ident.then_some((key, value))
}

/// Strips one pair of matching outer quotes.
fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

/// Byte ranges of whitespace-separated tokens; quotes (with backslash escapes) and
/// Jinja `{{ }}`, `{% %}`, `{# #}` blocks keep their spaces inside one token.
fn split(text: &str) -> Result<Vec<(usize, usize)>, String> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut start: Option<usize> = None;
    let mut quote: Option<u8> = None;
    let mut jinja = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if let Some(q) = quote {
            if b == b'\\' {
                i += 2;
                continue;
            }
            if b == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        let pair = bytes.get(i..i + 2);
        if b.is_ascii_whitespace() && jinja == 0 {
            if let Some(s) = start.take() {
                tokens.push((s, i));
            }
            i += 1;
            continue;
        }
        start.get_or_insert(i);
        match pair {
            Some(b"{{" | b"{%" | b"{#") => {
                jinja += 1;
                i += 2;
                continue;
            }
            Some(b"}}" | b"%}" | b"#}") if jinja > 0 => {
                jinja -= 1;
                i += 2;
                continue;
            }
            _ => {}
        }
        if b == b'"' || b == b'\'' {
            quote = Some(b);
        }
        i += 1;
    }
    if quote.is_some() {
        return Err("unbalanced quotes in module arguments".into());
    }
    if jinja > 0 {
        return Err("unbalanced jinja block in module arguments".into());
    }
    if let Some(s) = start {
        tokens.push((s, text.len()));
    }
    Ok(tokens)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kv(module: &str, text: &str) -> Value {
        Value::Object(parse_kv(module, text).unwrap())
    }

    #[test]
    fn key_values_with_quotes_and_jinja() {
        assert_eq!(
            kv("file", "path=/x state=touch mode=0644"),
            json!({"path": "/x", "state": "touch", "mode": "0644"})
        );
        assert_eq!(kv("debug", r#"msg="hi there""#), json!({"msg": "hi there"}));
        assert_eq!(
            kv("debug", "msg={{ a | default('x y') }} verbosity=1"),
            json!({"msg": "{{ a | default('x y') }}", "verbosity": "1"})
        );
        assert_eq!(
            kv("set_fact", "a=1 b='two words'"),
            json!({"a": "1", "b": "two words"})
        );
        assert_eq!(
            kv("meta", "flush_handlers"),
            json!({"_raw_params": "flush_handlers"})
        );
        assert_eq!(kv("debug", "msg=a=b"), json!({"msg": "a=b"}));
    }

    #[test]
    fn free_form_keeps_command_text() {
        assert_eq!(
            kv("command", "chdir=/tmp echo  'a  b' creates=/x   done"),
            json!({"chdir": "/tmp", "creates": "/x", "_raw_params": "echo  'a  b'   done"})
        );
        assert_eq!(
            kv("ansible.builtin.shell", "FOO=bar ./run --x=1"),
            json!({"_raw_params": "FOO=bar ./run --x=1"})
        );
        // A shell comment with an apostrophe is still a valid command.
        assert_eq!(
            kv("shell", "echo hi # it's fine\n"),
            json!({"_raw_params": "echo hi # it's fine"})
        );
        assert_eq!(kv("raw", "  "), json!({}));
    }

    #[test]
    fn unbalanced_quotes_are_errors_for_key_value_modules() {
        let e = parse_kv("copy", "content='abc dest=/x").unwrap_err();
        assert_eq!(e, "unbalanced quotes in module arguments");
        let e = parse_kv("debug", "msg={{ x").unwrap_err();
        assert_eq!(e, "unbalanced jinja block in module arguments");
    }
}
