//! `lookup()` / `query()` / `q()`: controller-side data (files, templates, env, commands).

use std::path::{Path, PathBuf};

use fmc_core::Value as Json;
use minijinja::value::{Kwargs, Rest, ValueKind};
use minijinja::{Environment, Error, State, Value};

use crate::context::{Scope, scope_of};
use crate::filters::{ensure_defined, fail, json, value};

/// Registers `lookup`, `query` and `q`.
pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_function("lookup", lookup);
    env.add_function("query", query);
    env.add_function("q", query);
}

/// `lookup(name, terms..., wantlist=False, errors='strict', ...)`: one result is returned as
/// it is, several are joined with commas (like Ansible).
fn lookup(state: &State, name: String, terms: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let wantlist: Option<bool> = kwargs.get("wantlist")?;
    let results = run(state, &name, &terms, &kwargs)?;
    kwargs.assert_all_used()?;
    if wantlist.unwrap_or(false) {
        return Ok(value(&Json::Array(results)));
    }
    Ok(match results.len() {
        0 => Value::from(""),
        1 => value(&results[0]),
        _ => {
            let texts: Vec<String> = results.iter().map(crate::filters::py_str).collect();
            Value::from(texts.join(","))
        }
    })
}

/// `query(name, terms...)`: always a list.
fn query(state: &State, name: String, terms: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let results = run(state, &name, &terms, &kwargs)?;
    kwargs.assert_all_used()?;
    Ok(value(&Json::Array(results)))
}

fn run(state: &State, name: &str, terms: &[Value], kwargs: &Kwargs) -> Result<Vec<Json>, Error> {
    let errors: Option<String> = kwargs.get("errors")?;
    let scope = scope_of(state)?;
    let plugin = name.strip_prefix("ansible.builtin.").unwrap_or(name);
    let result = match plugin {
        "file" => file(state, &scope, terms, kwargs),
        "template" => template(state, &scope, terms),
        "env" => env_var(state, terms, kwargs),
        "pipe" => pipe(state, &scope, terms),
        "first_found" => first_found(state, &scope, terms, kwargs),
        "fileglob" => fileglob(state, &scope, terms),
        "vars" => vars(state, &scope, terms, kwargs),
        other => return Err(fail(format!("lookup plugin '{other}' is not supported"))),
    };
    match (result, errors.as_deref().unwrap_or("strict")) {
        (Ok(r), _) => Ok(r),
        (Err(_), "ignore" | "warn") => Ok(Vec::new()),
        (Err(e), _) => Err(e),
    }
}

/// The terms as strings, one level of lists flattened.
fn strings(state: &State, terms: &[Value]) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    for t in terms {
        match json(state, t)? {
            Json::Array(items) => out.extend(items.iter().map(crate::filters::py_str)),
            other => out.push(crate::filters::py_str(&other)),
        }
    }
    Ok(out)
}

/// Finds a controller file: absolute as is, else `<dir>/<subdir>/<name>` or `<dir>/<name>`
/// for each search path.
fn find(scope: &Scope, name: &str, subdir: &str) -> Option<PathBuf> {
    // `~/...` is the controller user's home, as in Ansible
    let expanded = match (name.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Some(Path::new(&home).join(rest)),
        _ => None,
    };
    let p = expanded.as_deref().unwrap_or(Path::new(name));
    if p.is_absolute() {
        return p.exists().then(|| p.to_path_buf());
    }
    scope.vars.search_paths().iter().find_map(|dir| {
        [dir.join(subdir).join(name), dir.join(name)]
            .into_iter()
            .find(|c| c.exists())
    })
}

fn not_found(what: &str, name: &str) -> Error {
    fail(format!(
        "lookup('{what}'): could not find '{name}' in the search paths"
    ))
}

/// `lookup('file', path, rstrip=True, lstrip=False)`.
fn file(
    state: &State,
    scope: &Scope,
    terms: &[Value],
    kwargs: &Kwargs,
) -> Result<Vec<Json>, Error> {
    let rstrip: Option<bool> = kwargs.get("rstrip")?;
    let lstrip: Option<bool> = kwargs.get("lstrip")?;
    let mut out = Vec::new();
    for name in strings(state, terms)? {
        let path = find(scope, &name, "files").ok_or_else(|| not_found("file", &name))?;
        let text = std::fs::read_to_string(&path).map_err(|e| {
            fail(format!(
                "lookup('file'): cannot read {}: {e}",
                path.display()
            ))
        })?;
        let mut t: &str = &text;
        if rstrip.unwrap_or(true) {
            t = t.trim_end();
        }
        if lstrip.unwrap_or(false) {
            t = t.trim_start();
        }
        out.push(Json::from(t));
    }
    Ok(out)
}

/// `lookup('template', path)`: renders with the current variables.
fn template(
    state: &State,
    scope: &std::sync::Arc<Scope>,
    terms: &[Value],
) -> Result<Vec<Json>, Error> {
    let mut out = Vec::new();
    for name in strings(state, terms)? {
        let path = find(scope, &name, "templates").ok_or_else(|| not_found("template", &name))?;
        out.push(Json::from(crate::templar::render_file_raw(scope, &path)?));
    }
    Ok(out)
}

/// `lookup('env', NAME, default='')`.
fn env_var(state: &State, terms: &[Value], kwargs: &Kwargs) -> Result<Vec<Json>, Error> {
    let default: Option<String> = kwargs.get("default")?;
    Ok(strings(state, terms)?
        .into_iter()
        .map(|name| {
            Json::from(std::env::var(&name).unwrap_or_else(|_| default.clone().unwrap_or_default()))
        })
        .collect())
}

/// `lookup('pipe', cmd)`: runs `sh -c cmd` on the controller (in the playbook directory, the
/// last search path) and returns its stdout without trailing whitespace.
fn pipe(state: &State, scope: &Scope, terms: &[Value]) -> Result<Vec<Json>, Error> {
    let mut out = Vec::new();
    for cmd in strings(state, terms)? {
        let mut command = std::process::Command::new("sh");
        command
            .arg("-c")
            .arg(&cmd)
            .stdin(std::process::Stdio::null());
        if let Some(dir) = scope.vars.search_paths().last().filter(|d| d.is_dir()) {
            command.current_dir(dir);
        }
        let output = command
            .output()
            .map_err(|e| fail(format!("lookup('pipe'): cannot run sh: {e}")))?;
        if !output.status.success() {
            // The command text and its output may hold secrets: report the status only.
            let status = output
                .status
                .code()
                .map_or_else(|| "a signal".to_string(), |c| format!("status {c}"));
            return Err(fail(format!(
                "lookup('pipe'): the command exited with {status}"
            )));
        }
        out.push(Json::from(
            String::from_utf8_lossy(&output.stdout).trim_end(),
        ));
    }
    Ok(out)
}

/// `lookup('first_found', ['a', 'b'], files=[...], paths=[...], skip=False)`; terms may also be
/// dicts with `files`, `paths` and `skip`.
fn first_found(
    state: &State,
    scope: &Scope,
    terms: &[Value],
    kwargs: &Kwargs,
) -> Result<Vec<Json>, Error> {
    let kw_files: Option<Value> = kwargs.get("files")?;
    let kw_paths: Option<Value> = kwargs.get("paths")?;
    let kw_skip: Option<bool> = kwargs.get("skip")?;
    let as_list = |j: Option<&Json>| -> Vec<String> {
        match j {
            Some(Json::Array(a)) => a.iter().map(crate::filters::py_str).collect(),
            Some(Json::String(s)) => s.split([',', ';']).map(|p| p.trim().to_string()).collect(),
            _ => Vec::new(),
        }
    };
    let kw_files = kw_files.map(|v| json(state, &v)).transpose()?;
    let kw_paths = kw_paths.map(|v| json(state, &v)).transpose()?;
    let mut files = as_list(kw_files.as_ref());
    let mut paths = as_list(kw_paths.as_ref());
    let mut skip = kw_skip.unwrap_or(false);
    for t in terms {
        ensure_defined(state, t)?;
        let items = match json(state, t)? {
            Json::Array(items) => items,
            other => vec![other],
        };
        for item in items {
            match item {
                Json::Object(m) => {
                    files.extend(as_list(m.get("files")));
                    paths.extend(as_list(m.get("paths")));
                    skip |= m
                        .get("skip")
                        .and_then(fmc_core::lenient::to_bool)
                        .unwrap_or(false);
                }
                other => files.push(crate::filters::py_str(&other)),
            }
        }
    }
    for f in &files {
        let found = if paths.is_empty() || Path::new(f).is_absolute() {
            find(scope, f, "files")
        } else {
            paths
                .iter()
                .map(|p| Path::new(p).join(f))
                .find(|c| c.exists())
        };
        if let Some(p) = found {
            return Ok(vec![Json::from(p.display().to_string())]);
        }
    }
    if skip {
        return Ok(Vec::new());
    }
    Err(fail(format!(
        "lookup('first_found'): none of {} candidate files exists",
        files.len()
    )))
}

/// `lookup('fileglob', '*.conf')`: matching files in the first search path that has any.
fn fileglob(state: &State, scope: &Scope, terms: &[Value]) -> Result<Vec<Json>, Error> {
    let mut out = Vec::new();
    for pattern in strings(state, terms)? {
        let bases: Vec<PathBuf> = if Path::new(&pattern).is_absolute() {
            vec![PathBuf::new()]
        } else {
            scope
                .vars
                .search_paths()
                .iter()
                .flat_map(|d| [d.join("files"), d.clone()])
                .collect()
        };
        for base in bases {
            let full = base.join(&pattern);
            let full = full.to_string_lossy();
            let matches =
                glob::glob(&full).map_err(|e| fail(format!("lookup('fileglob'): {e}")))?;
            let found: Vec<Json> = matches
                .filter_map(Result::ok)
                .filter(|p| p.is_file())
                .map(|p| Json::from(p.display().to_string()))
                .collect();
            if !found.is_empty() {
                out.extend(found);
                break;
            }
        }
    }
    Ok(out)
}

/// `lookup('vars', 'name', default=x)`: a variable by computed name.
fn vars(
    state: &State,
    scope: &std::sync::Arc<Scope>,
    terms: &[Value],
    kwargs: &Kwargs,
) -> Result<Vec<Json>, Error> {
    let default: Option<Value> = kwargs.get("default")?;
    let ctx = scope.context();
    let mut out = Vec::new();
    for name in strings(state, terms)? {
        let v = ctx.get_attr(&name)?;
        let v = match (v.kind(), &default) {
            (ValueKind::Undefined, Some(d)) => d.clone(),
            (ValueKind::Undefined, None) => {
                return Err(fail(format!("lookup('vars'): no variable named '{name}'")));
            }
            _ => v,
        };
        out.push(json(state, &v)?);
    }
    Ok(out)
}
