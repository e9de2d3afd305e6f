//! The render context: layered variables exposed to minijinja as a lazy object.
//!
//! A template reads variables through [`VarsObject::get_value`]. A raw value that
//! contains template syntax is rendered on access with the same variables, guarded
//! against recursion; results are cached per render call only (one [`Shared`] per
//! public `Templar` call), so nothing can go stale between tasks.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use fmc_core::Value as Json;
use minijinja::value::{Enumerator, Object, ObjectRepr};
use minijinja::{Environment, Error, ErrorKind, State, Value};

use crate::OMIT;
use crate::error::{TemplateError, undefined_name, var_template_name};
use crate::escape::escape_backslashes;
use crate::vars::{HostVars, Vars};

/// Hidden variable through which functions and filters reach the current [`Scope`].
pub(crate) const SCOPE_KEY: &str = "__fmc_scope";
/// Hidden function that captures the native value of a single expression.
pub(crate) const CAPTURE_FN: &str = "__fmc_capture";
/// Deepest chain of lazily templated variables (`a` -> `b` -> `c` ...).
const MAX_DEPTH: usize = 48;

/// State shared by every scope of one public `Templar` call.
pub(crate) struct Shared {
    pub(crate) env: Arc<Environment<'static>>,
    /// Variables being templated right now: (scope id, name).
    active: Mutex<Vec<(usize, String)>>,
    /// `(variable, undefined name)`: lazily templating `variable` hit an undefined name.
    nested_undefined: Mutex<Vec<(String, String)>>,
    /// The value captured by the last `__fmc_capture` call.
    captured: Mutex<Option<Value>>,
}

impl Shared {
    pub(crate) fn new(env: Arc<Environment<'static>>) -> Arc<Shared> {
        Arc::new(Shared {
            env,
            active: Mutex::new(Vec::new()),
            nested_undefined: Mutex::new(Vec::new()),
            captured: Mutex::new(None),
        })
    }

    /// Converts an engine error, following lazily templated variables to the innermost
    /// undefined name.
    pub(crate) fn error(&self, err: &Error) -> TemplateError {
        let nested = lock(&self.nested_undefined).clone();
        TemplateError::from_engine(err, |name| {
            let mut chain = vec![name.to_string()];
            let mut current = root_name(name).to_string();
            while chain.len() <= MAX_DEPTH {
                match nested.iter().rev().find(|(var, _)| *var == current) {
                    Some((_, inner)) => {
                        chain.push(inner.clone());
                        current = root_name(inner).to_string();
                    }
                    None => break,
                }
            }
            chain
        })
    }

    pub(crate) fn take_captured(&self) -> Option<Value> {
        lock(&self.captured).take()
    }
}

/// `a` for `a.b[0]`.
fn root_name(path: &str) -> &str {
    let end = path.find(['.', '[']).unwrap_or(path.len());
    &path[..end]
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One host's variables during one `Templar` call.
pub(crate) struct Scope {
    pub(crate) vars: Vars,
    pub(crate) shared: Arc<Shared>,
    cache: Mutex<HashMap<String, Value>>,
    hostvars: Option<Value>,
}

impl Scope {
    pub(crate) fn new(vars: Vars, shared: Arc<Shared>) -> Arc<Scope> {
        let hostvars = vars.hostvars.clone().map(|provider| {
            Value::from_object(HostVarsObject {
                provider,
                shared: shared.clone(),
                cache: Mutex::new(HashMap::new()),
            })
        });
        Arc::new(Scope {
            vars,
            shared,
            cache: Mutex::new(HashMap::new()),
            hostvars,
        })
    }

    /// The root context value for a render.
    pub(crate) fn context(self: &Arc<Scope>) -> Value {
        Value::from_object(VarsObject(self.clone()))
    }

    fn id(self: &Arc<Scope>) -> usize {
        Arc::as_ptr(self) as usize
    }

    /// Looks a variable up, templating its raw value if needed.
    fn lookup(self: &Arc<Scope>, name: &str) -> Option<Value> {
        let (raw, literal) = self.vars.get_entry(name)?;
        if let Some(v) = lock(&self.cache).get(name) {
            return Some(v.clone());
        }
        let value = if literal || !contains_template(raw) {
            Value::from(minijinja::value::Serde(raw))
        } else {
            match self.render_lazily(name, raw) {
                Ok(v) => v,
                Err(err) => return self.lazy_failure(name, err),
            }
        };
        lock(&self.cache).insert(name.to_string(), value.clone());
        Some(value)
    }

    fn render_lazily(self: &Arc<Scope>, name: &str, raw: &Json) -> Result<Value, Error> {
        {
            let mut active = lock(&self.shared.active);
            if active.iter().any(|(id, n)| *id == self.id() && n == name) {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("recursive loop detected in template for variable '{name}'"),
                ));
            }
            if active.len() >= MAX_DEPTH {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!(
                        "variables nest more than {MAX_DEPTH} levels deep while templating '{name}'"
                    ),
                ));
            }
            active.push((self.id(), name.to_string()));
        }
        let result = render_json(self, &var_template_name(name), raw);
        lock(&self.shared.active).pop();
        Ok(Value::from(minijinja::value::Serde(result?)))
    }

    /// A variable whose template hit an undefined name is itself undefined (like
    /// Ansible), so `a | default(x)` and `a is defined` work; the inner name is kept
    /// for the error message. (`None` lets the engine create the undefined value, which
    /// then carries its name.) Other failures become errors when the value is used.
    fn lazy_failure(&self, name: &str, err: Error) -> Option<Value> {
        if err.kind() == ErrorKind::UndefinedError {
            if let Some(inner) = err.detail().and_then(undefined_name) {
                lock(&self.shared.nested_undefined).push((name.to_string(), inner));
            }
            return None;
        }
        Some(Value::from(err))
    }
}

/// Whether any string inside `v` contains template syntax.
pub(crate) fn contains_template(v: &Json) -> bool {
    match v {
        Json::String(s) => is_template(s),
        Json::Array(a) => a.iter().any(contains_template),
        Json::Object(m) => m
            .iter()
            .any(|(k, v)| is_template(k) || contains_template(v)),
        _ => false,
    }
}

/// Whether a string contains template syntax.
pub(crate) fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
}

/// If `s` is exactly one `{{ expression }}` with nothing around it, the expression.
/// Surrounding text, even whitespace such as a trailing newline, makes the result a
/// string (`"{{ item }}\n"` renders `"a\n"`), as in Ansible.
/// Strings like `{{ a }} {{ b }}` also pass this cheap check; they fail to compile as a
/// single expression and are then rendered as text.
fn single_expression(s: &str) -> Option<&str> {
    let inner = s.strip_prefix("{{")?.strip_suffix("}}")?;
    let inner = inner.strip_prefix('-').unwrap_or(inner);
    let inner = inner.strip_suffix('-').unwrap_or(inner);
    (!inner.trim().is_empty()).then_some(inner)
}

/// Renders a string that came from YAML (a task argument, a variable) as text, with
/// Ansible's backslash rule for `{{ }}` string literals (see [`escape_backslashes`]).
pub(crate) fn render_text(scope: &Arc<Scope>, name: &str, s: &str) -> Result<String, Error> {
    if !is_template(s) {
        return Ok(s.to_string());
    }
    render_escaped(scope, name, &escape_backslashes(s))
}

/// Renders template source whose backslashes are already escaped.
fn render_escaped(scope: &Arc<Scope>, name: &str, s: &str) -> Result<String, Error> {
    let s = crate::chain::guard_template(s);
    scope.shared.env.render_named_str(name, &s, scope.context())
}

/// Evaluates an expression to its native value. Strict about undefined values: the
/// result is emitted, so an undefined result fails with its name.
pub(crate) fn eval_native(scope: &Arc<Scope>, name: &str, expr: &str) -> Result<Value, Error> {
    let expr = crate::chain::guard_expr(expr);
    let source = format!("{{{{ {CAPTURE_FN}(({expr}\n)) }}}}");
    scope
        .shared
        .env
        .render_named_str(name, &source, scope.context())?;
    scope
        .shared
        .take_captured()
        .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "expression produced no value"))
}

/// Renders a string from YAML with Ansible's native types: a single expression keeps
/// its type.
fn render_string_native(scope: &Arc<Scope>, name: &str, s: &str) -> Result<Json, Error> {
    let s = escape_backslashes(s);
    if let Some(expr) = single_expression(&s) {
        match eval_native(scope, name, expr) {
            Ok(v) => return to_json(&v),
            Err(e) if e.kind() == ErrorKind::SyntaxError => {}
            Err(e) => return Err(e),
        }
    }
    render_escaped(scope, name, &s).map(Json::String)
}

/// Renders every string inside a JSON value; map entries rendering to `omit` are dropped.
pub(crate) fn render_json(scope: &Arc<Scope>, name: &str, v: &Json) -> Result<Json, Error> {
    Ok(match v {
        Json::String(s) if is_template(s) => render_string_native(scope, name, s)?,
        Json::Array(items) => Json::Array(
            items
                .iter()
                .map(|i| render_json(scope, name, i))
                .collect::<Result<_, _>>()?,
        ),
        Json::Object(map) => {
            let mut out = fmc_core::Map::new();
            for (k, val) in map {
                let key = if is_template(k) {
                    render_text(scope, name, k)?
                } else {
                    k.clone()
                };
                let val = render_json(scope, name, val)?;
                if val.as_str() != Some(OMIT) {
                    out.insert(key, val);
                }
            }
            Json::Object(out)
        }
        other => other.clone(),
    })
}

/// Converts an engine value to JSON (objects such as `hostvars` are enumerated).
pub(crate) fn to_json(v: &Value) -> Result<Json, Error> {
    serde_json::to_value(v).map_err(|e| {
        Error::new(
            ErrorKind::BadSerialization,
            format!("cannot convert the result to data: {e}"),
        )
    })
}

/// The scope of the render `state` belongs to.
pub(crate) fn scope_of(state: &State) -> Result<Arc<Scope>, Error> {
    state
        .lookup(SCOPE_KEY)
        .and_then(|v| v.downcast_object::<VarsObject>())
        .map(|o| o.0.clone())
        .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "no variables in this context"))
}

/// `__fmc_capture(value)`: records the value; returns it only when undefined so the
/// strict emit reports the undefined name.
pub(crate) fn capture(state: &State, value: Value) -> Result<Value, Error> {
    let scope = scope_of(state)?;
    let rv = if value.is_undefined() {
        value.clone()
    } else {
        Value::from("")
    };
    *lock(&scope.shared.captured) = Some(value);
    Ok(rv)
}

/// The variables of one host as a template context (and as the `vars` variable).
pub(crate) struct VarsObject(Arc<Scope>);

impl fmt::Debug for VarsObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<vars>")
    }
}

impl Object for VarsObject {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        match name {
            SCOPE_KEY => return Some(Value::from_dyn_object(self.clone())),
            "hostvars" if self.0.hostvars.is_some() => return self.0.hostvars.clone(),
            _ => {}
        }
        match self.0.lookup(name) {
            Some(v) => Some(v),
            None if name == "vars" => Some(Value::from_dyn_object(self.clone())),
            None => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let names: Vec<Value> = self.0.vars.names().into_iter().map(Value::from).collect();
        Enumerator::Iter(Box::new(names.into_iter()))
    }
}

/// `hostvars`: other hosts' variables, templated in that host's variables.
struct HostVarsObject {
    provider: Arc<dyn HostVars>,
    shared: Arc<Shared>,
    cache: Mutex<HashMap<String, Value>>,
}

impl fmt::Debug for HostVarsObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<hostvars>")
    }
}

impl Object for HostVarsObject {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let host = key.as_str()?;
        if let Some(v) = lock(&self.cache).get(host) {
            return Some(v.clone());
        }
        let vars = self.provider.vars_of(host)?;
        let v = Scope::new(vars, self.shared.clone()).context();
        lock(&self.cache).insert(host.to_string(), v.clone());
        Some(v)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let names: Vec<Value> = self
            .provider
            .host_names()
            .into_iter()
            .map(Value::from)
            .collect();
        Enumerator::Iter(Box::new(names.into_iter()))
    }
}
