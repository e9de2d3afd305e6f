//! Ansible's filters on top of minijinja's built-ins.

use std::borrow::Cow;

use fmc_core::Value as Json;
use minijinja::value::{ArgType, Kwargs};
use minijinja::{Environment, Error, ErrorKind, State, Value};

mod data;
mod dates;
mod net;
mod text;
mod yaml_emit;

pub(crate) use text::regex;

/// Registers every filter, also under `ansible.builtin.` (and the IP filters under
/// `ansible.utils.` / `ansible.netcommon.`).
pub(crate) fn register(env: &mut Environment<'static>) {
    data::register(env);
    dates::register(env);
    text::register(env);
    net::register(env);
}

/// Adds `f` as filter `name` and `ansible.builtin.name`.
pub(crate) fn add<F, Rv, Args>(env: &mut Environment<'static>, name: &'static str, f: F)
where
    F: minijinja::functions::Function<Rv, Args> + Clone,
    Rv: minijinja::value::FunctionResult,
    Args: for<'a> minijinja::value::FunctionArgs<'a>,
{
    env.add_filter(format!("ansible.builtin.{name}"), f.clone());
    env.add_filter(name, f);
}

/// An `InvalidOperation` error with a message.
pub(crate) fn fail(msg: impl Into<Cow<'static, str>>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg)
}

/// Fails with the engine's undefined error (which names the variable) if `v` is undefined.
pub(crate) fn ensure_defined(state: &State, v: &Value) -> Result<(), Error> {
    if v.is_undefined() {
        <Cow<'_, str> as ArgType>::from_state_and_value(Some(state), Some(v))?;
        return Err(Error::from(ErrorKind::UndefinedError));
    }
    Ok(())
}

/// A parameter given by position or by keyword (`int(7)` or `int(default=7)`).
pub(crate) fn param<'a, T>(
    positional: Option<T>,
    kwargs: &'a Kwargs,
    name: &'a str,
) -> Result<Option<T>, Error>
where
    Option<T>: ArgType<'a, Output = Option<T>>,
{
    match positional {
        Some(v) => Ok(Some(v)),
        None => kwargs.get(name),
    }
}

/// Converts a defined value to JSON.
pub(crate) fn json(state: &State, v: &Value) -> Result<Json, Error> {
    ensure_defined(state, v)?;
    crate::context::to_json(v)
}

/// Converts JSON back to an engine value.
pub(crate) fn value(j: &Json) -> Value {
    Value::from(minijinja::value::Serde(j))
}

/// The items of a list-like value (strings are not lists here).
pub(crate) fn list(state: &State, v: &Value, what: &str) -> Result<Vec<Json>, Error> {
    match json(state, v)? {
        Json::Array(a) => Ok(a),
        _ => Err(fail(format!("{what} expects a list"))),
    }
}

/// Python's `str()` of a JSON value, for string-ish filters.
pub(crate) fn py_str(j: &Json) -> String {
    match j {
        Json::String(s) => s.clone(),
        Json::Null => "None".to_string(),
        Json::Bool(true) => "True".to_string(),
        Json::Bool(false) => "False".to_string(),
        other => other.to_string(),
    }
}
