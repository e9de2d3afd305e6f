//! Ansible-style loose typing for module parameters.
//!
//! After templating, values often arrive as strings (`"yes"`, `"10"`, `"0644"`).
//! Ansible converts them per parameter type; these `serde(deserialize_with)`
//! helpers do the same so module parameter structs can stay strongly typed.

use serde::de::{self, Deserialize, Deserializer};

use crate::Value;

/// Ansible's boolean conversion: yes/no, true/false, on/off, 1/0, y/n (any case).
pub fn to_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_f64().map(|f| f != 0.0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "yes" | "true" | "on" | "1" | "y" | "t" => Some(true),
            "no" | "false" | "off" | "0" | "n" | "f" | "" => Some(false),
            _ => None,
        },
        Value::Null => Some(false),
        _ => None,
    }
}

pub fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let v = Value::deserialize(d)?;
    to_bool(&v).ok_or_else(|| de::Error::custom(format!("expected a boolean, got {v}")))
}

pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    let v = Value::deserialize(d)?;
    if v.is_null() {
        return Ok(None);
    }
    to_bool(&v)
        .map(Some)
        .ok_or_else(|| de::Error::custom(format!("expected a boolean, got {v}")))
}

fn to_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

pub fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let v = Value::deserialize(d)?;
    to_i64(&v).ok_or_else(|| de::Error::custom(format!("expected an integer, got {v}")))
}

pub fn opt_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let v = Value::deserialize(d)?;
    if v.is_null() {
        return Ok(None);
    }
    to_i64(&v)
        .map(Some)
        .ok_or_else(|| de::Error::custom(format!("expected an integer, got {v}")))
}

/// Scalars (numbers, booleans) become their string form, as Ansible's `str` type does.
pub fn to_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "True" } else { "False" }.to_string()),
        _ => None,
    }
}

pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = Value::deserialize(d)?;
    to_string(&v).ok_or_else(|| de::Error::custom(format!("expected a string, got {v}")))
}

pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Value::deserialize(d)?;
    if v.is_null() {
        return Ok(None);
    }
    to_string(&v)
        .map(Some)
        .ok_or_else(|| de::Error::custom(format!("expected a string, got {v}")))
}

/// Ansible's `list` type: a list stays a list, a string is split on commas, a scalar
/// becomes a one-element list. Elements become strings.
pub fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v = Value::deserialize(d)?;
    match &v {
        Value::Null => Ok(vec![]),
        Value::Array(a) => a
            .iter()
            .map(|x| {
                to_string(x).ok_or_else(|| de::Error::custom(format!("expected a string, got {x}")))
            })
            .collect(),
        Value::String(s) => Ok(s
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect()),
        other => to_string(other)
            .map(|s| vec![s])
            .ok_or_else(|| de::Error::custom(format!("expected a list, got {other}"))),
    }
}

/// A file mode. YAML 1.1 reads `0644` as the integer 420, which Ansible then uses
/// as the numeric mode; strings are read as octal (`"0644"`, `"644"`), and symbolic
/// modes (`u=rw,g=r`) are kept as given for `chmod`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    Octal(u32),
    Symbolic(String),
}

impl Mode {
    /// The argument to pass to `chmod`.
    pub fn chmod_arg(&self) -> String {
        match self {
            Mode::Octal(m) => format!("{m:04o}"),
            Mode::Symbolic(s) => s.clone(),
        }
    }
}

pub fn parse_mode(v: &Value) -> Result<Mode, String> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .filter(|m| *m <= 0o7777)
            .map(|m| Mode::Octal(m as u32))
            .ok_or_else(|| format!("invalid mode {n}")),
        Value::String(s) => {
            let s = s.trim();
            let digits = s.strip_prefix("0o").unwrap_or(s);
            if !digits.is_empty() && digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                u32::from_str_radix(digits, 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .map(Mode::Octal)
                    .ok_or_else(|| format!("invalid mode {s:?}"))
            } else if !s.is_empty() && s.bytes().all(|b| b"ugoa+-=rwxXst,".contains(&b)) {
                Ok(Mode::Symbolic(s.to_string()))
            } else {
                Err(format!("invalid mode {s:?}"))
            }
        }
        other => Err(format!("invalid mode {other}")),
    }
}

pub fn opt_mode<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Mode>, D::Error> {
    let v = Value::deserialize(d)?;
    if v.is_null() {
        return Ok(None);
    }
    parse_mode(&v).map(Some).map_err(de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn booleans_like_ansible() {
        for t in ["yes", "True", "on", "1"] {
            assert_eq!(to_bool(&json!(t)), Some(true), "{t}");
        }
        for f in ["no", "false", "OFF", "0"] {
            assert_eq!(to_bool(&json!(f)), Some(false), "{f}");
        }
        assert_eq!(to_bool(&json!("maybe")), None);
    }

    #[test]
    fn modes() {
        assert_eq!(parse_mode(&json!(420)), Ok(Mode::Octal(0o644)));
        assert_eq!(parse_mode(&json!("0644")), Ok(Mode::Octal(0o644)));
        assert_eq!(parse_mode(&json!("600")), Ok(Mode::Octal(0o600)));
        assert_eq!(
            parse_mode(&json!("u=rw,g=r")),
            Ok(Mode::Symbolic("u=rw,g=r".into()))
        );
        assert!(parse_mode(&json!("0989")).is_err());
        assert_eq!(Mode::Octal(0o644).chmod_arg(), "0644");
    }
}
