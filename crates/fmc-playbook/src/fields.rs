//! Typed reads of keyword values from spanned YAML nodes, with errors that name the
//! keyword and point at it.

use fmc_core::lenient::{to_bool, to_string};
use fmc_core::{Map, Span, Value};
use fmc_yaml::{Key, Node, NodeKind};

use crate::PlaybookError;

type Result<T> = std::result::Result<T, PlaybookError>;

/// The entries of a mapping node.
pub(crate) fn entries(node: &Node) -> Option<&[(Key, Node)]> {
    match &node.kind {
        NodeKind::Map(e) => Some(e),
        _ => None,
    }
}

fn kind_name(node: &Node) -> &'static str {
    match &node.kind {
        NodeKind::Map(_) => "a mapping",
        NodeKind::Seq(_) => "a list",
        NodeKind::Scalar(Value::Null) => "null",
        NodeKind::Scalar(Value::Bool(_)) => "a boolean",
        NodeKind::Scalar(Value::Number(_)) => "a number",
        NodeKind::Scalar(_) => "a string",
    }
}

/// "'key' must be X, got Y" at the key.
pub(crate) fn type_error(file: &str, key: &Key, want: &str, got: &Node) -> PlaybookError {
    PlaybookError::invalid(
        key.span(file),
        format!("'{}' must be {want}, got {}", key.name, kind_name(got)),
    )
}

fn scalar_string(node: &Node) -> Option<String> {
    match &node.kind {
        NodeKind::Scalar(v) => to_string(v),
        _ => None,
    }
}

pub(crate) fn string(file: &str, key: &Key, v: &Node) -> Result<String> {
    scalar_string(v).ok_or_else(|| type_error(file, key, "a string", v))
}

/// A string, or `None` for null.
pub(crate) fn opt_string(file: &str, key: &Key, v: &Node) -> Result<Option<String>> {
    if v.is_null() {
        return Ok(None);
    }
    string(file, key, v).map(Some)
}

pub(crate) fn boolean(file: &str, key: &Key, v: &Node) -> Result<bool> {
    let b = match &v.kind {
        NodeKind::Scalar(s) if !s.is_null() => to_bool(s),
        _ => None,
    };
    b.ok_or_else(|| {
        PlaybookError::invalid(
            key.span(file),
            format!(
                "'{}' must be a boolean (yes/no, true/false), got {}",
                key.name,
                v.to_value()
            ),
        )
    })
}

/// A boolean, or `None` for null.
pub(crate) fn opt_bool(file: &str, key: &Key, v: &Node) -> Result<Option<bool>> {
    if v.is_null() {
        return Ok(None);
    }
    boolean(file, key, v).map(Some)
}

/// Whether a scalar holds Jinja (the runner renders it per host).
fn is_template(v: &Value) -> bool {
    matches!(v, Value::String(s) if s.contains("{{") || s.contains("{%"))
}

/// A boolean, or a template the runner evaluates per host; null is unset.
pub(crate) fn opt_bool_or_template(file: &str, key: &Key, v: &Node) -> Result<Option<Value>> {
    if v.is_null() {
        return Ok(None);
    }
    let value = v.to_value();
    if !is_template(&value) {
        boolean(file, key, v)?;
    }
    Ok(Some(value))
}

/// A non-negative number (an integer unless `fraction`), or a template the runner
/// renders per host; null is unset. `retries`, `delay`, `timeout`, `throttle`.
pub(crate) fn opt_count_or_template(
    file: &str,
    key: &Key,
    v: &Node,
    fraction: bool,
) -> Result<Option<Value>> {
    if v.is_null() {
        return Ok(None);
    }
    let value = v.to_value();
    if is_template(&value) {
        return Ok(Some(value));
    }
    let n = match &value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    let ok = n.is_some_and(|n| n.is_finite() && n >= 0.0 && (fraction || n.fract() == 0.0));
    if !ok {
        let want = if fraction {
            "a non-negative number of seconds"
        } else {
            "a non-negative integer"
        };
        return Err(PlaybookError::invalid(
            key.span(file),
            format!("'{}' must be {want} or a template, got {value}", key.name),
        ));
    }
    Ok(Some(value))
}

/// A string or a list of strings (`notify`, `listen`, `vars_files`).
pub(crate) fn string_list(file: &str, key: &Key, v: &Node) -> Result<Vec<String>> {
    match &v.kind {
        NodeKind::Scalar(Value::Null) => Ok(vec![]),
        NodeKind::Seq(items) => items
            .iter()
            .map(|i| scalar_string(i).ok_or_else(|| type_error(file, key, "a list of strings", i)))
            .collect(),
        _ => Ok(vec![string(file, key, v)?]),
    }
}

/// `tags`: a list, or a comma-separated string.
pub(crate) fn tags(file: &str, key: &Key, v: &Node) -> Result<Vec<String>> {
    let list = match &v.kind {
        NodeKind::Seq(_) | NodeKind::Scalar(Value::Null) => string_list(file, key, v)?,
        _ => string(file, key, v)?
            .split(',')
            .map(str::to_string)
            .collect(),
    };
    Ok(list
        .into_iter()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect())
}

/// `when`, `changed_when`, `failed_when`, `until`: an expression, a boolean or a list
/// of those (ANDed). Booleans become `True` / `False`.
pub(crate) fn conditions(file: &str, key: &Key, v: &Node) -> Result<Vec<String>> {
    match &v.kind {
        NodeKind::Scalar(Value::Null) => Ok(vec![]),
        NodeKind::Seq(items) => items
            .iter()
            .map(|i| {
                scalar_string(i)
                    .ok_or_else(|| type_error(file, key, "an expression or a list of them", i))
            })
            .collect(),
        NodeKind::Scalar(_) => Ok(vec![string(file, key, v)?]),
        NodeKind::Map(_) => Err(type_error(file, key, "an expression or a list of them", v)),
    }
}

/// A mapping (null is empty).
pub(crate) fn mapping(file: &str, key: &Key, v: &Node) -> Result<Map> {
    match v.to_value() {
        Value::Object(m) => Ok(m),
        Value::Null => Ok(Map::new()),
        _ => Err(type_error(file, key, "a mapping", v)),
    }
}

/// "unknown keyword 'whn' (did you mean 'when'?)".
pub(crate) fn unknown_keyword(span: Span, what: &str, name: &str, known: &[&str]) -> PlaybookError {
    let msg = match fmc_core::module::closest(name, known) {
        Some(c) => format!("unknown {what} '{name}' (did you mean '{c}'?)"),
        None => format!("unknown {what} '{name}'"),
    };
    PlaybookError::invalid(span, msg)
}
