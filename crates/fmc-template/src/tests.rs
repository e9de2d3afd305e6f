//! Ansible's Jinja tests (`is changed`, `is version(...)`, `is match(...)`, ...).

use std::borrow::Cow;
use std::cmp::Ordering;
use std::path::Path;

use fmc_core::Value as Json;
use minijinja::value::Kwargs;
use minijinja::{Environment, Error, State, Value};

use crate::filters::{ensure_defined, fail, json, list};

/// Registers every test, also under `ansible.builtin.`.
pub(crate) fn register(env: &mut Environment<'static>) {
    macro_rules! add {
        ($($name:literal => $f:expr),* $(,)?) => {$(
            env.add_test($name, $f);
            env.add_test(concat!("ansible.builtin.", $name), $f);
        )*};
    }
    add! {
        "changed" => changed, "change" => changed,
        "failed" => failed, "failure" => failed,
        "succeeded" => succeeded, "success" => succeeded, "successful" => succeeded,
        "skipped" => skipped, "skip" => skipped,
        "match" => is_match, "search" => is_search, "regex" => is_regex,
        "version" => version, "version_compare" => version,
        "subset" => subset, "superset" => superset, "contains" => contains,
        "any" => any, "all" => all,
        "file" => is_file, "directory" => is_dir, "exists" => exists, "link" => is_link,
        "abs" => is_abs,
        "truthy" => truthy, "falsy" => falsy,
    }
}

/// A registered task result.
fn result(state: &State, v: &Value, test: &str) -> Result<fmc_core::Map, Error> {
    match json(state, v)? {
        Json::Object(m) => Ok(m),
        _ => Err(fail(format!(
            "the '{test}' test expects a task result (a dictionary)"
        ))),
    }
}

fn flag(m: &fmc_core::Map, key: &str) -> bool {
    m.get(key)
        .and_then(fmc_core::lenient::to_bool)
        .unwrap_or(false)
}

/// `changed`, also when any loop item changed.
fn changed(state: &State, v: &Value) -> Result<bool, Error> {
    let m = result(state, v, "changed")?;
    let in_loop = match m.get("results") {
        Some(Json::Array(items)) => items
            .iter()
            .any(|r| r.as_object().is_some_and(|r| flag(r, "changed"))),
        _ => false,
    };
    Ok(flag(&m, "changed") || in_loop)
}

fn failed(state: &State, v: &Value) -> Result<bool, Error> {
    Ok(flag(&result(state, v, "failed")?, "failed"))
}

fn succeeded(state: &State, v: &Value) -> Result<bool, Error> {
    Ok(!flag(&result(state, v, "succeeded")?, "failed"))
}

fn skipped(state: &State, v: &Value) -> Result<bool, Error> {
    Ok(flag(&result(state, v, "skipped")?, "skipped"))
}

fn regex_test(s: &str, pattern: &str, kwargs: &Kwargs) -> Result<bool, Error> {
    let i: Option<bool> = kwargs.get("ignorecase")?;
    let m: Option<bool> = kwargs.get("multiline")?;
    let re = crate::filters::regex(pattern, i.unwrap_or(false), m.unwrap_or(false))?;
    Ok(re.is_match(s))
}

/// `x is match(re)`: matches at the start (Python's `re.match`).
fn is_match(s: Cow<'_, str>, pattern: Cow<'_, str>, kwargs: Kwargs) -> Result<bool, Error> {
    let anchored = format!("\\A(?:{pattern})");
    let r = regex_test(&s, &anchored, &kwargs);
    kwargs.assert_all_used()?;
    r
}

/// `x is search(re)`: matches anywhere.
fn is_search(s: Cow<'_, str>, pattern: Cow<'_, str>, kwargs: Kwargs) -> Result<bool, Error> {
    let r = regex_test(&s, &pattern, &kwargs);
    kwargs.assert_all_used()?;
    r
}

/// `x is regex(re, match_type='search')`.
fn is_regex(s: Cow<'_, str>, pattern: Cow<'_, str>, kwargs: Kwargs) -> Result<bool, Error> {
    let match_type: Option<String> = kwargs.get("match_type")?;
    let r = match match_type.as_deref().unwrap_or("search") {
        "search" => regex_test(&s, &pattern, &kwargs),
        "match" => regex_test(&s, &format!("\\A(?:{pattern})"), &kwargs),
        "fullmatch" => regex_test(&s, &format!("\\A(?:{pattern})\\z"), &kwargs),
        other => Err(fail(format!("regex: unknown match_type '{other}'"))),
    };
    kwargs.assert_all_used()?;
    r
}

/// One component of a loose version: a number or a text run.
#[derive(Debug, PartialEq, Eq)]
enum Part {
    Num(u64),
    Text(String),
}

impl PartialOrd for Part {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Part {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Part::Num(a), Part::Num(b)) => a.cmp(b),
            (Part::Text(a), Part::Text(b)) => a.cmp(b),
            (Part::Num(_), Part::Text(_)) => Ordering::Greater,
            (Part::Text(_), Part::Num(_)) => Ordering::Less,
        }
    }
}

/// Splits like Python's `LooseVersion`: digit runs, letter runs and other characters; dots dropped.
fn loose_parts(v: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut chars = v.trim().chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_ascii_digit() {
            let mut n = String::new();
            while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                n.push(d);
                chars.next();
            }
            parts.push(n.parse().map_or(Part::Text(n), Part::Num));
        } else if c.is_ascii_alphabetic() {
            let mut t = String::new();
            while let Some(a) = chars.peek().copied().filter(char::is_ascii_alphabetic) {
                t.push(a);
                chars.next();
            }
            parts.push(Part::Text(t));
        } else {
            chars.next();
            if c != '.' {
                parts.push(Part::Text(c.to_string()));
            }
        }
    }
    parts
}

/// Semantic version order: `1.2.3-rc1 < 1.2.3`; build metadata is ignored.
fn semver_cmp(a: &str, b: &str) -> Ordering {
    let split = |v: &str| {
        let v = v.trim().trim_start_matches('v');
        let v = v.split('+').next().unwrap_or(v).to_string();
        match v.split_once('-') {
            Some((core, pre)) => (core.to_string(), Some(pre.to_string())),
            None => (v, None),
        }
    };
    let ((ca, pa), (cb, pb)) = (split(a), split(b));
    loose_parts(&ca)
        .cmp(&loose_parts(&cb))
        .then_with(|| match (pa, pb) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) => loose_parts(&x).cmp(&loose_parts(&y)),
        })
}

/// `x is version('1.2', '>=', version_type='loose'|'semver'|'strict')`.
fn version(
    state: &State,
    v: &Value,
    other: &Value,
    op: Option<String>,
    kwargs: Kwargs,
) -> Result<bool, Error> {
    ensure_defined(state, v)?;
    ensure_defined(state, other)?;
    let vt: Option<String> = kwargs.get("version_type")?;
    let _strict: Option<bool> = kwargs.get("strict")?;
    let op = match op {
        Some(op) => Some(op),
        None => kwargs.get("operator")?,
    };
    kwargs.assert_all_used()?;
    let (a, b) = (v.to_string(), other.to_string());
    if a.trim().is_empty() {
        return Err(fail("version: the version to compare is empty"));
    }
    let ord = match vt.as_deref().unwrap_or("loose") {
        "loose" | "strict" | "pep440" => loose_parts(&a).cmp(&loose_parts(&b)),
        "semver" | "semantic" => semver_cmp(&a, &b),
        other => return Err(fail(format!("version: unknown version_type '{other}'"))),
    };
    Ok(match op.as_deref().unwrap_or("eq") {
        "<" | "lt" => ord == Ordering::Less,
        "<=" | "le" => ord != Ordering::Greater,
        ">" | "gt" => ord == Ordering::Greater,
        ">=" | "ge" => ord != Ordering::Less,
        "==" | "=" | "eq" => ord == Ordering::Equal,
        "!=" | "<>" | "ne" => ord != Ordering::Equal,
        other => return Err(fail(format!("version: unknown operator '{other}'"))),
    })
}

fn subset(state: &State, a: &Value, b: &Value) -> Result<bool, Error> {
    let (a, b) = (list(state, a, "subset")?, list(state, b, "subset")?);
    Ok(a.iter().all(|x| b.contains(x)))
}

fn superset(state: &State, a: &Value, b: &Value) -> Result<bool, Error> {
    subset(state, b, a)
}

/// `list is contains(x)`.
fn contains(state: &State, l: &Value, x: &Value) -> Result<bool, Error> {
    Ok(list(state, l, "contains")?.contains(&json(state, x)?))
}

fn any(state: &State, l: &Value) -> Result<bool, Error> {
    Ok(list(state, l, "any")?
        .iter()
        .any(|x| crate::templar::truthy(x).unwrap_or(true)))
}

fn all(state: &State, l: &Value) -> Result<bool, Error> {
    Ok(list(state, l, "all")?
        .iter()
        .all(|x| crate::templar::truthy(x).unwrap_or(true)))
}

fn is_file(p: Cow<'_, str>) -> bool {
    Path::new(p.as_ref()).is_file()
}

fn is_dir(p: Cow<'_, str>) -> bool {
    Path::new(p.as_ref()).is_dir()
}

fn exists(p: Cow<'_, str>) -> bool {
    Path::new(p.as_ref()).exists()
}

fn is_link(p: Cow<'_, str>) -> bool {
    Path::new(p.as_ref()).is_symlink()
}

fn is_abs(p: Cow<'_, str>) -> bool {
    Path::new(p.as_ref()).is_absolute()
}

/// Python truthiness; with `convert_bool=True` strings use Ansible's boolean words.
fn truthy(state: &State, v: &Value, kwargs: Kwargs) -> Result<bool, Error> {
    let convert: Option<bool> = kwargs.get("convert_bool")?;
    kwargs.assert_all_used()?;
    ensure_defined(state, v)?;
    if convert.unwrap_or(false)
        && let Some(b) = fmc_core::lenient::to_bool(&json(state, v)?)
    {
        return Ok(b);
    }
    Ok(v.is_true())
}

fn falsy(state: &State, v: &Value, kwargs: Kwargs) -> Result<bool, Error> {
    truthy(state, v, kwargs).map(|t| !t)
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn loose_versions_order() {
        assert!(loose_parts("1.10") > loose_parts("1.9"));
        assert!(loose_parts("1.2.3") < loose_parts("1.2.3.1"));
        assert!(loose_parts("v1.28.3+k3s1") < loose_parts("v1.29.0+k3s1"));
        assert_eq!(semver_cmp("1.2.3-rc1", "1.2.3"), Ordering::Less);
        assert_eq!(semver_cmp("1.2.3+build", "1.2.3"), Ordering::Equal);
    }
}
