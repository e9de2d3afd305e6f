//! `-e`: `k=v k2="v 2"`, inline JSON/YAML, or `@file`.

use fmc_core::{Map, Value};

pub fn parse(arg: &str) -> Result<Vec<(String, Value)>, String> {
    let arg = arg.trim();
    if let Some(file) = arg.strip_prefix('@') {
        let v =
            fmc_yaml::load(std::path::Path::new(file)).map_err(|e| format!("-e @{file}: {e}"))?;
        return into_pairs(v, arg);
    }
    if arg.starts_with('{') {
        let v = fmc_yaml::parse(arg, "-e").map_err(|e| format!("-e: {e}"))?;
        return into_pairs(v, arg);
    }
    let mut out = vec![];
    for word in split_words(arg)? {
        let Some((k, v)) = word.split_once('=') else {
            return Err(format!(
                "-e: expected key=value, JSON or @file, got '{word}'"
            ));
        };
        if k.is_empty() {
            return Err(format!("-e: empty variable name in '{word}'"));
        }
        out.push((k.to_string(), Value::String(v.to_string())));
    }
    Ok(out)
}

fn into_pairs(v: Value, arg: &str) -> Result<Vec<(String, Value)>, String> {
    match v {
        Value::Object(m) => Ok(Map::into_iter(m).collect()),
        Value::Null => Ok(vec![]),
        _ => Err(format!("-e {arg}: must be a mapping of variables")),
    }
}

/// Splits on whitespace, honouring single and double quotes.
fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = vec![];
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (None, c) => cur.push(c),
        }
    }
    if quote.is_some() {
        return Err(format!("-e: unterminated quote in '{s}'"));
    }
    if any || !cur.is_empty() {
        words.push(cur);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn forms() {
        assert_eq!(
            parse("a=1 b='x y'").unwrap(),
            vec![("a".into(), json!("1")), ("b".into(), json!("x y"))]
        );
        assert_eq!(
            parse(r#"{"n": 2, "l": [1]}"#).unwrap(),
            vec![("n".into(), json!(2)), ("l".into(), json!([1]))]
        );
        assert!(parse("novalue").is_err());
        assert!(parse("a='x").is_err());
    }
}
