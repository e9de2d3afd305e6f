//! Data filters: types, JSON/YAML, dict and list manipulation, sizes.

use std::borrow::Cow;
use std::collections::HashSet;

use fmc_core::{Map, Value as Json};
use minijinja::value::{Kwargs, Rest, ValueKind};
use minijinja::{Environment, Error, State, Value};
use rand::SeedableRng;
use rand::seq::SliceRandom;

use super::{add, ensure_defined, fail, json, list, param, py_str, value, yaml_emit};

pub(super) fn register(env: &mut Environment<'static>) {
    add(env, "bool", to_bool);
    add(env, "int", to_int);
    add(env, "float", to_float);
    add(env, "mandatory", mandatory);
    add(env, "ternary", ternary);
    add(env, "type_debug", type_debug);
    add(env, "to_json", to_json);
    add(env, "to_nice_json", to_nice_json);
    add(env, "from_json", from_json);
    add(env, "to_yaml", to_yaml);
    add(env, "to_nice_yaml", to_nice_yaml);
    add(env, "from_yaml", from_yaml);
    add(env, "from_yaml_all", from_yaml_all);
    add(env, "subelements", subelements);
    add(env, "combine", combine);
    add(env, "dict2items", dict2items);
    add(env, "items2dict", items2dict);
    add(env, "flatten", flatten);
    add(env, "union", union);
    add(env, "difference", difference);
    add(env, "intersect", intersect);
    add(env, "symmetric_difference", symmetric_difference);
    add(env, "zip", zip);
    add(env, "zip_longest", zip_longest);
    add(env, "product", product);
    add(env, "extract", extract);
    add(env, "random", random);
    add(env, "shuffle", shuffle);
    add(env, "human_to_bytes", human_to_bytes);
    add(env, "human_readable", human_readable);
    add(env, "comment", comment);
}

/// Ansible's `bool`: yes/on/true/1 (any case) are true, everything else false.
fn to_bool(state: &State, v: &Value) -> Result<bool, Error> {
    ensure_defined(state, v)?;
    Ok(fmc_core::lenient::to_bool(&json(state, v)?).unwrap_or(false))
}

/// Jinja's `int(default=0, base=10)`: unparsable input gives the default.
fn to_int(
    state: &State,
    v: &Value,
    default: Option<i64>,
    base: Option<u32>,
    kwargs: Kwargs,
) -> Result<i64, Error> {
    let default = param(default, &kwargs, "default")?.unwrap_or(0);
    let base = param(base, &kwargs, "base")?.unwrap_or(10);
    kwargs.assert_all_used()?;
    if !(2..=36).contains(&base) {
        return Err(fail("int: base must be between 2 and 36"));
    }
    Ok(match json(state, v)? {
        Json::Number(n) => n
            .as_i64()
            .unwrap_or_else(|| n.as_f64().map_or(default, |f| f as i64)),
        Json::Bool(b) => i64::from(b),
        Json::String(s) => parse_int(s.trim(), base).unwrap_or(default),
        _ => default,
    })
}

fn parse_int(s: &str, base: u32) -> Option<i64> {
    let s = s.replace('_', "");
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(&s)),
    };
    let lower = digits.to_ascii_lowercase();
    let digits = match base {
        16 => lower.strip_prefix("0x").unwrap_or(&lower),
        8 => lower.strip_prefix("0o").unwrap_or(&lower),
        2 => lower.strip_prefix("0b").unwrap_or(&lower),
        _ => &lower,
    };
    let n = match i64::from_str_radix(digits, base) {
        Ok(n) => n,
        // Jinja falls back to float parsing in base 10 ("4.7" -> 4).
        Err(_) if base == 10 => digits.parse::<f64>().ok().filter(|f| f.is_finite())? as i64,
        Err(_) => return None,
    };
    Some(if neg { -n } else { n })
}

/// Jinja's `float(default=0.0)`.
fn to_float(state: &State, v: &Value, default: Option<f64>, kwargs: Kwargs) -> Result<f64, Error> {
    let default = param(default, &kwargs, "default")?.unwrap_or(0.0);
    kwargs.assert_all_used()?;
    Ok(match json(state, v)? {
        Json::Number(n) => n.as_f64().unwrap_or(default),
        Json::Bool(b) => f64::from(u8::from(b)),
        Json::String(s) => s.trim().parse().unwrap_or(default),
        _ => default,
    })
}

/// Fails when the value is undefined; the error names the variable.
fn mandatory(state: &State, v: Value, msg: Option<String>, kwargs: Kwargs) -> Result<Value, Error> {
    let msg = param(msg, &kwargs, "msg")?;
    kwargs.assert_all_used()?;
    if v.is_undefined() {
        if let Some(msg) = msg {
            return Err(fail(msg));
        }
        ensure_defined(state, &v)?;
    }
    Ok(v)
}

/// `cond | ternary(a, b, none_value)`.
fn ternary(
    state: &State,
    v: &Value,
    yes: Value,
    no: Value,
    none: Option<Value>,
) -> Result<Value, Error> {
    ensure_defined(state, v)?;
    if let Some(none) = none.filter(|_| v.is_none()) {
        return Ok(none);
    }
    Ok(if v.is_true() { yes } else { no })
}

/// The Python type name Ansible reports.
fn type_debug(v: &Value) -> &'static str {
    match v.kind() {
        ValueKind::Undefined => "AnsibleUndefined",
        ValueKind::None => "NoneType",
        ValueKind::Bool => "bool",
        ValueKind::Number if v.is_integer() => "int",
        ValueKind::Number => "float",
        ValueKind::String => "str",
        ValueKind::Bytes => "bytes",
        ValueKind::Seq | ValueKind::Iterable => "list",
        ValueKind::Map => "dict",
        _ => "object",
    }
}

/// A serde_json formatter producing Python's `json.dumps` layout: `", "` and `": "`
/// separators (compact) or `","` with indentation (pretty), and `ensure_ascii`.
struct PyFormatter {
    indent: Option<Vec<u8>>,
    level: usize,
    has_value: bool,
}

impl PyFormatter {
    fn newline<W: ?Sized + std::io::Write>(&self, w: &mut W) -> std::io::Result<()> {
        if let Some(indent) = &self.indent {
            w.write_all(b"\n")?;
            for _ in 0..self.level {
                w.write_all(indent)?;
            }
        }
        Ok(())
    }

    fn begin<W: ?Sized + std::io::Write>(&mut self, w: &mut W, open: &[u8]) -> std::io::Result<()> {
        self.level += 1;
        self.has_value = false;
        w.write_all(open)
    }

    fn end<W: ?Sized + std::io::Write>(&mut self, w: &mut W, close: &[u8]) -> std::io::Result<()> {
        self.level -= 1;
        if self.has_value {
            self.newline(w)?;
        }
        self.has_value = true;
        w.write_all(close)
    }

    fn item<W: ?Sized + std::io::Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        if !first {
            w.write_all(if self.indent.is_some() { b"," } else { b", " })?;
        }
        self.newline(w)
    }
}

impl serde_json::ser::Formatter for PyFormatter {
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.begin(w, b"[")
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.end(w, b"]")
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.item(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, _w: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.begin(w, b"{")
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.end(w, b"}")
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.item(w, first)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, _w: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        for c in fragment.chars() {
            if c.is_ascii() {
                w.write_all(&[c as u8])?;
            } else {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    write!(w, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }
}

/// Serializes like Python's `json.dumps(v, indent=indent, sort_keys=sort)`.
fn py_json(v: &Json, indent: Option<usize>, sort: bool) -> Result<String, Error> {
    let sorted;
    let v = if sort {
        sorted = sort_keys(v);
        &sorted
    } else {
        v
    };
    let fmt = PyFormatter {
        indent: indent.map(|n| vec![b' '; n]),
        level: 0,
        has_value: false,
    };
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    serde::Serialize::serialize(v, &mut ser).map_err(|e| fail(format!("to_json: {e}")))?;
    String::from_utf8(out).map_err(|e| fail(format!("to_json: {e}")))
}

fn sort_keys(v: &Json) -> Json {
    match v {
        Json::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Json::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sort_keys(&m[k])))
                    .collect(),
            )
        }
        Json::Array(a) => Json::Array(a.iter().map(sort_keys).collect()),
        other => other.clone(),
    }
}

/// `to_json(indent=None, sort_keys=False)`.
fn to_json(state: &State, v: &Value, kwargs: Kwargs) -> Result<String, Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    let sort: Option<bool> = kwargs.get("sort_keys")?;
    kwargs.assert_all_used()?;
    py_json(&json(state, v)?, indent, sort.unwrap_or(false))
}

/// `to_nice_json(indent=4, sort_keys=True)`.
fn to_nice_json(state: &State, v: &Value, kwargs: Kwargs) -> Result<String, Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    let sort: Option<bool> = kwargs.get("sort_keys")?;
    kwargs.assert_all_used()?;
    py_json(
        &json(state, v)?,
        Some(indent.unwrap_or(4)),
        sort.unwrap_or(true),
    )
}

fn from_json(s: Cow<'_, str>) -> Result<Value, Error> {
    let j: Json = serde_json::from_str(&s).map_err(|e| {
        fail(format!(
            "from_json: invalid JSON at line {} column {}",
            e.line(),
            e.column()
        ))
    })?;
    Ok(value(&j))
}

/// PyYAML's `dump` options that `to_yaml`/`to_nice_yaml` take.
fn yaml(
    state: &State,
    v: &Value,
    kwargs: &Kwargs,
    indent: Option<usize>,
    flow: Option<bool>,
) -> Result<String, Error> {
    let indent = match indent {
        Some(i) => Some(i),
        None => kwargs.get("indent")?,
    };
    let flow = match kwargs.get::<Option<Value>>("default_flow_style")? {
        Some(f) if f.is_none() => None,
        Some(f) => Some(f.is_true()),
        None => flow,
    };
    let width: Option<usize> = kwargs.get("width")?;
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    // Output is always Unicode, as with Ansible's `allow_unicode=True`.
    let _: Option<bool> = kwargs.get("allow_unicode")?;
    kwargs.assert_all_used()?;
    let style = yaml_emit::Style {
        flow,
        indent: indent.unwrap_or(2),
        width: width.unwrap_or(80),
        sort_keys: sort_keys.unwrap_or(true),
    };
    Ok(yaml_emit::emit(&json(state, v)?, &style))
}

/// `to_yaml(indent=2, default_flow_style=None, width=80, sort_keys=True)`: PyYAML's
/// output; collections that hold only scalars are written in flow style.
fn to_yaml(state: &State, v: &Value, kwargs: Kwargs) -> Result<String, Error> {
    yaml(state, v, &kwargs, None, None)
}

/// `to_nice_yaml(indent=4, default_flow_style=False, ...)`: block style throughout.
fn to_nice_yaml(
    state: &State,
    v: &Value,
    indent: Option<usize>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let indent = param(indent, &kwargs, "indent")?.unwrap_or(4);
    yaml(state, v, &kwargs, Some(indent), Some(false))
}

/// `from_yaml_all`: every document of a YAML stream, as a list.
fn from_yaml_all(s: Cow<'_, str>) -> Result<Value, Error> {
    let docs = fmc_yaml::parse_all(&s, "<from_yaml_all>")
        .map_err(|e| fail(format!("from_yaml_all: {e}")))?;
    Ok(value(&Json::Array(docs)))
}

/// `list | subelements('a.b', skip_missing=False)`: `[item, sub]` for every element of
/// the list found at the dotted path in every item (a dict's values count as the list).
fn subelements(
    state: &State,
    v: &Value,
    path: &Value,
    skip_missing: Option<bool>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let skip_missing = param(skip_missing, &kwargs, "skip_missing")?.unwrap_or(false);
    kwargs.assert_all_used()?;
    let items = match json(state, v)? {
        Json::Array(a) => a,
        Json::Object(m) => m.into_iter().map(|(_, v)| v).collect(),
        _ => {
            return Err(fail(
                "subelements: obj must be a list of dicts or a nested dict",
            ));
        }
    };
    let keys: Vec<String> = match json(state, path)? {
        Json::String(s) => s.split('.').map(str::to_string).collect(),
        Json::Array(a) => a.iter().map(py_str).collect(),
        _ => return Err(fail("subelements: subelements must be a list or a string")),
    };
    let mut out = Vec::new();
    for item in items {
        let mut at = &item;
        let mut missing = false;
        for key in &keys {
            match at {
                Json::Object(m) => match m.get(key) {
                    Some(next) => at = next,
                    None if skip_missing => {
                        missing = true;
                        break;
                    }
                    None => {
                        return Err(fail(format!(
                            "subelements: could not find '{key}' key in iterated item"
                        )));
                    }
                },
                _ => {
                    return Err(fail(format!(
                        "subelements: the key {key} should point to a dictionary"
                    )));
                }
            }
        }
        if missing {
            continue;
        }
        let Json::Array(subs) = at else {
            let key = keys.last().map_or("", String::as_str);
            return Err(fail(format!(
                "subelements: the key '{key}' should point to a list"
            )));
        };
        for sub in subs {
            out.push(Json::Array(vec![item.clone(), sub.clone()]));
        }
    }
    Ok(value(&Json::Array(out)))
}

fn from_yaml(s: Cow<'_, str>) -> Result<Value, Error> {
    let j = fmc_yaml::parse(&s, "<from_yaml>").map_err(|e| fail(format!("from_yaml: {e}")))?;
    Ok(value(&j))
}

/// How `combine(recursive=True)` merges two lists.
#[derive(Clone, Copy)]
enum ListMerge {
    Replace,
    Keep,
    Append,
    Prepend,
    AppendRp,
    PrependRp,
}

fn merge(into: &mut Map, from: &Map, recursive: bool, lists: ListMerge) {
    for (k, v) in from {
        match (into.get_mut(k), v) {
            (Some(Json::Object(a)), Json::Object(b)) if recursive => merge(a, b, recursive, lists),
            (Some(Json::Array(a)), Json::Array(b)) => merge_lists(a, b, lists),
            _ => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

fn merge_lists(a: &mut Vec<Json>, b: &[Json], how: ListMerge) {
    match how {
        ListMerge::Replace => *a = b.to_vec(),
        ListMerge::Keep => {}
        ListMerge::Append => a.extend(b.iter().cloned()),
        ListMerge::Prepend => {
            let mut out = b.to_vec();
            out.append(a);
            *a = out;
        }
        ListMerge::AppendRp => {
            a.retain(|x| !b.contains(x));
            a.extend(b.iter().cloned());
        }
        ListMerge::PrependRp => {
            let mut out = b.to_vec();
            out.extend(a.drain(..).filter(|x| !b.contains(x)));
            *a = out;
        }
    }
}

/// `a | combine(b, c, recursive=False, list_merge='replace')`; also accepts lists of dicts.
fn combine(state: &State, v: &Value, others: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let recursive: Option<bool> = kwargs.get("recursive")?;
    let list_merge: Option<String> = kwargs.get("list_merge")?;
    kwargs.assert_all_used()?;
    let lists = match list_merge.as_deref().unwrap_or("replace") {
        "replace" => ListMerge::Replace,
        "keep" => ListMerge::Keep,
        "append" => ListMerge::Append,
        "prepend" => ListMerge::Prepend,
        "append_rp" => ListMerge::AppendRp,
        "prepend_rp" => ListMerge::PrependRp,
        other => return Err(fail(format!("combine: unknown list_merge '{other}'"))),
    };
    // Plain combine replaces lists unless list_merge was asked for.
    let lists = if list_merge.is_none() {
        ListMerge::Replace
    } else {
        lists
    };
    let mut dicts = Vec::new();
    for item in std::iter::once(v).chain(others.iter()) {
        match json(state, item)? {
            Json::Object(m) => dicts.push(m),
            Json::Array(a) => {
                for x in a {
                    match x {
                        Json::Object(m) => dicts.push(m),
                        _ => return Err(fail("combine expects dictionaries")),
                    }
                }
            }
            _ => return Err(fail("combine expects dictionaries")),
        }
    }
    let mut out = Map::new();
    for d in &dicts {
        merge(&mut out, d, recursive.unwrap_or(false), lists);
    }
    Ok(value(&Json::Object(out)))
}

/// `{a: 1} | dict2items(key_name='key', value_name='value')` -> `[{key: a, value: 1}]`.
fn dict2items(state: &State, v: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let key_name: Option<String> = kwargs.get("key_name")?;
    let value_name: Option<String> = kwargs.get("value_name")?;
    kwargs.assert_all_used()?;
    let (kn, vn) = (
        key_name.as_deref().unwrap_or("key"),
        value_name.as_deref().unwrap_or("value"),
    );
    let Json::Object(m) = json(state, v)? else {
        return Err(fail("dict2items expects a dictionary"));
    };
    let items: Vec<Json> = m
        .into_iter()
        .map(|(k, v)| {
            let mut item = Map::new();
            item.insert(kn.to_string(), Json::String(k));
            item.insert(vn.to_string(), v);
            Json::Object(item)
        })
        .collect();
    Ok(value(&Json::Array(items)))
}

/// The inverse of `dict2items`.
fn items2dict(state: &State, v: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let key_name: Option<String> = kwargs.get("key_name")?;
    let value_name: Option<String> = kwargs.get("value_name")?;
    kwargs.assert_all_used()?;
    let (kn, vn) = (
        key_name.as_deref().unwrap_or("key"),
        value_name.as_deref().unwrap_or("value"),
    );
    let mut out = Map::new();
    for item in list(state, v, "items2dict")? {
        let (Some(k), Some(val)) = (item.get(kn), item.get(vn)) else {
            return Err(fail(format!(
                "items2dict: every item needs '{kn}' and '{vn}'"
            )));
        };
        out.insert(py_str(k), val.clone());
    }
    Ok(value(&Json::Object(out)))
}

/// `flatten(levels=None, skip_nulls=True)`.
fn flatten(
    state: &State,
    v: &Value,
    levels: Option<usize>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let levels = match levels {
        Some(l) => Some(l),
        None => kwargs.get("levels")?,
    };
    let skip_nulls: Option<bool> = kwargs.get("skip_nulls")?;
    kwargs.assert_all_used()?;
    fn go(items: Vec<Json>, levels: Option<usize>, skip_nulls: bool, out: &mut Vec<Json>) {
        for item in items {
            match item {
                Json::Array(inner) if levels != Some(0) => {
                    go(inner, levels.map(|l| l - 1), skip_nulls, out)
                }
                Json::Null if skip_nulls => {}
                other => out.push(other),
            }
        }
    }
    let mut out = Vec::new();
    go(
        list(state, v, "flatten")?,
        levels,
        skip_nulls.unwrap_or(true),
        &mut out,
    );
    Ok(value(&Json::Array(out)))
}

fn dedup(items: impl IntoIterator<Item = Json>) -> Vec<Json> {
    let mut seen = HashSet::new();
    items
        .into_iter()
        .filter(|x| seen.insert(x.to_string()))
        .collect()
}

fn two_lists(
    state: &State,
    a: &Value,
    b: &Value,
    what: &str,
) -> Result<(Vec<Json>, Vec<Json>), Error> {
    Ok((list(state, a, what)?, list(state, b, what)?))
}

fn union(state: &State, a: &Value, b: &Value) -> Result<Value, Error> {
    let (a, b) = two_lists(state, a, b, "union")?;
    Ok(value(&Json::Array(dedup(a.into_iter().chain(b)))))
}

fn difference(state: &State, a: &Value, b: &Value) -> Result<Value, Error> {
    let (a, b) = two_lists(state, a, b, "difference")?;
    Ok(value(&Json::Array(dedup(
        a.into_iter().filter(|x| !b.contains(x)),
    ))))
}

fn intersect(state: &State, a: &Value, b: &Value) -> Result<Value, Error> {
    let (a, b) = two_lists(state, a, b, "intersect")?;
    Ok(value(&Json::Array(dedup(
        a.into_iter().filter(|x| b.contains(x)),
    ))))
}

fn symmetric_difference(state: &State, a: &Value, b: &Value) -> Result<Value, Error> {
    let (a, b) = two_lists(state, a, b, "symmetric_difference")?;
    let left = a.iter().filter(|x| !b.contains(x)).cloned();
    let right = b.iter().filter(|x| !a.contains(x)).cloned();
    Ok(value(&Json::Array(dedup(
        left.chain(right).collect::<Vec<_>>(),
    ))))
}

fn lists(
    state: &State,
    first: &Value,
    rest: &[Value],
    what: &str,
) -> Result<Vec<Vec<Json>>, Error> {
    std::iter::once(first)
        .chain(rest.iter())
        .map(|v| list(state, v, what))
        .collect()
}

/// Python's `zip`: a list of lists, as long as the shortest input.
fn zip(state: &State, v: &Value, others: Rest<Value>) -> Result<Value, Error> {
    let ls = lists(state, v, &others, "zip")?;
    let n = ls.iter().map(Vec::len).min().unwrap_or(0);
    let out: Vec<Json> = (0..n)
        .map(|i| Json::Array(ls.iter().map(|l| l[i].clone()).collect()))
        .collect();
    Ok(value(&Json::Array(out)))
}

/// `zip_longest(..., fillvalue=None)`.
fn zip_longest(
    state: &State,
    v: &Value,
    others: Rest<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let fill: Option<Value> = kwargs.get("fillvalue")?;
    kwargs.assert_all_used()?;
    let fill = match fill {
        Some(f) => json(state, &f)?,
        None => Json::Null,
    };
    let ls = lists(state, v, &others, "zip_longest")?;
    let n = ls.iter().map(Vec::len).max().unwrap_or(0);
    let out: Vec<Json> = (0..n)
        .map(|i| {
            Json::Array(
                ls.iter()
                    .map(|l| l.get(i).cloned().unwrap_or(fill.clone()))
                    .collect(),
            )
        })
        .collect();
    Ok(value(&Json::Array(out)))
}

/// The cartesian product (`itertools.product`), as a list of lists.
fn product(state: &State, v: &Value, others: Rest<Value>) -> Result<Value, Error> {
    let mut out: Vec<Vec<Json>> = vec![Vec::new()];
    for l in lists(state, v, &others, "product")? {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                l.iter().map(move |x| {
                    let mut p = prefix.clone();
                    p.push(x.clone());
                    p
                })
            })
            .collect();
    }
    Ok(value(&Json::Array(
        out.into_iter().map(Json::Array).collect(),
    )))
}

/// `key | extract(container, morekeys)`: `container[key][morekeys...]`.
fn extract(
    state: &State,
    key: &Value,
    container: &Value,
    more: Option<Value>,
) -> Result<Value, Error> {
    ensure_defined(state, key)?;
    ensure_defined(state, container)?;
    let mut v = container.get_item(key)?;
    if let Some(more) = more {
        let keys: Vec<Value> = if more.kind() == ValueKind::Seq {
            more.try_iter()?.collect()
        } else {
            vec![more]
        };
        for k in keys {
            v = v.get_item(&k)?;
        }
    }
    ensure_defined(state, &v)?;
    Ok(v)
}

fn rng(seed: Option<&Value>) -> rand::rngs::StdRng {
    match seed {
        Some(seed) => {
            // A stable hash of the seed's text (Ansible seeds Python's Random with it).
            let digest = <sha2::Sha256 as sha2::Digest>::digest(seed.to_string().as_bytes());
            let mut bytes = [0u8; 32];
            bytes.copy_from_slice(&digest);
            rand::rngs::StdRng::from_seed(bytes)
        }
        None => rand::rngs::StdRng::from_entropy(),
    }
}

/// `list | random(seed=x)` picks an item; `n | random(start=0, step=1)` a number below n.
fn random(state: &State, v: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let seed: Option<Value> = kwargs.get("seed")?;
    let start: Option<i64> = kwargs.get("start")?;
    let step: Option<i64> = kwargs.get("step")?;
    kwargs.assert_all_used()?;
    let mut r = rng(seed.as_ref());
    match json(state, v)? {
        Json::Number(n) => {
            let end = n
                .as_i64()
                .ok_or_else(|| fail("random expects an integer end"))?;
            let (start, step) = (start.unwrap_or(0), step.unwrap_or(1));
            if step <= 0 || end <= start {
                return Err(fail("random: empty range"));
            }
            let count = (end - start + step - 1) / step;
            let i = rand::Rng::gen_range(&mut r, 0..count);
            Ok(Value::from(start + i * step))
        }
        Json::Array(a) => a
            .choose(&mut r)
            .map(value)
            .ok_or_else(|| fail("random: empty list")),
        Json::String(s) => {
            let chars: Vec<char> = s.chars().collect();
            chars
                .choose(&mut r)
                .map(|c| Value::from(c.to_string()))
                .ok_or_else(|| fail("random: empty string"))
        }
        _ => Err(fail("random expects a list or an integer")),
    }
}

/// `list | shuffle(seed=x)`.
fn shuffle(state: &State, v: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let seed: Option<Value> = kwargs.get("seed")?;
    kwargs.assert_all_used()?;
    let mut items = list(state, v, "shuffle")?;
    items.shuffle(&mut rng(seed.as_ref()));
    Ok(value(&Json::Array(items)))
}

const UNITS: &[(char, u32)] = &[
    ('Y', 80),
    ('Z', 70),
    ('E', 60),
    ('P', 50),
    ('T', 40),
    ('G', 30),
    ('M', 20),
    ('K', 10),
    ('B', 0),
];

/// `'10M' | human_to_bytes` -> 10485760; `isbits=True` accepts `Mb`.
fn human_to_bytes(
    state: &State,
    v: &Value,
    default_unit: Option<String>,
    kwargs: Kwargs,
) -> Result<i64, Error> {
    let isbits: Option<bool> = kwargs.get("isbits")?;
    let default_unit = match default_unit {
        Some(u) => Some(u),
        None => kwargs.get("default_unit")?,
    };
    kwargs.assert_all_used()?;
    let isbits = isbits.unwrap_or(false);
    let text = py_str(&json(state, v)?);
    let s = text.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = (&s[..split], s[split..].trim());
    let bad = || fail("human_to_bytes: the value is not a size like '10M'");
    let num: f64 = num.parse().map_err(|_| bad())?;
    let unit = if unit.is_empty() {
        default_unit.unwrap_or_default()
    } else {
        unit.to_string()
    };
    let Some(first) = unit.chars().next() else {
        return Ok(num.round() as i64);
    };
    if !unit.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(bad());
    }
    let shift = UNITS
        .iter()
        .find(|(u, _)| *u == first.to_ascii_uppercase())
        .map(|(_, s)| *s)
        .ok_or_else(bad)?;
    if unit.len() > 1 {
        let (class, class_name) = if isbits { ('b', "bit") } else { ('B', "byte") };
        if !unit.to_ascii_lowercase().contains(class_name) && unit.chars().nth(1) != Some(class) {
            return Err(bad());
        }
    }
    Ok((num * 2f64.powi(shift as i32)).round() as i64)
}

/// `1048576 | human_readable` -> `"1.00 MB"` (`isbits=True` -> `Mb`, `unit='K'` forces a unit).
fn human_readable(
    state: &State,
    v: &Value,
    isbits: Option<bool>,
    unit: Option<String>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let isbits = param(isbits, &kwargs, "isbits")?;
    let unit = param(unit, &kwargs, "unit")?;
    kwargs.assert_all_used()?;
    let j = json(state, v)?;
    let n = match &j {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| fail("human_readable expects a number"))?;
    let isbits = isbits.unwrap_or(false);
    let forced = unit
        .as_deref()
        .and_then(|u| u.chars().next())
        .map(|c| c.to_ascii_uppercase());
    let (letter, shift) = UNITS
        .iter()
        .find(|(u, s)| match forced {
            Some(f) => *u == f,
            None => n >= 2f64.powi(*s as i32),
        })
        .copied()
        .unwrap_or(('B', 0));
    let scaled = n / 2f64.powi(shift as i32);
    let suffix = match (letter, isbits) {
        ('B', false) => "Bytes".to_string(),
        ('B', true) => "bits".to_string(),
        (l, false) => format!("{l}B"),
        (l, true) => format!("{l}b"),
    };
    Ok(format!("{scaled:.2} {suffix}"))
}

/// `text | comment(style='plain', decoration=...)`: Ansible's comment block.
fn comment(
    state: &State,
    v: &Value,
    style: Option<String>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let text = py_str(&json(state, v)?);
    let (beginning, decoration, end) = match style.as_deref().unwrap_or("plain") {
        "plain" => ("", "# ", ""),
        "erlang" => ("", "% ", ""),
        "c" => ("", "// ", ""),
        "cblock" => ("/*", " * ", " */"),
        "xml" => ("<!--", " - ", "-->"),
        other => return Err(fail(format!("comment: unknown style '{other}'"))),
    };
    let decoration_kw: Option<String> = kwargs.get("decoration")?;
    let beginning = kwargs
        .get::<Option<String>>("beginning")?
        .unwrap_or_else(|| beginning.into());
    let end = kwargs
        .get::<Option<String>>("end")?
        .unwrap_or_else(|| end.into());
    let newline = kwargs
        .get::<Option<String>>("newline")?
        .unwrap_or_else(|| "\n".into());
    let decoration = decoration_kw.unwrap_or_else(|| decoration.into());
    let edge = decoration.trim_end().to_string();
    let prefix = kwargs
        .get::<Option<String>>("prefix")?
        .unwrap_or_else(|| edge.clone());
    let postfix = kwargs.get::<Option<String>>("postfix")?.unwrap_or(edge);
    kwargs.assert_all_used()?;
    let mut out = String::new();
    if !beginning.is_empty() {
        out.push_str(&beginning);
        out.push_str(&newline);
    }
    if !prefix.is_empty() {
        out.push_str(&prefix);
        out.push_str(&newline);
    }
    let lines: Vec<String> = text
        .split(newline.as_str())
        .map(|l| {
            if l.is_empty() {
                decoration.trim_end().to_string()
            } else {
                format!("{decoration}{l}")
            }
        })
        .collect();
    out.push_str(&lines.join(&newline));
    out.push_str(&newline);
    out.push_str(&postfix);
    if !end.is_empty() {
        out.push_str(&newline);
        out.push_str(&end);
    }
    Ok(out)
}
