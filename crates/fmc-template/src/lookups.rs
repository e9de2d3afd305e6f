//! `lookup()` / `query()` / `q()`: controller-side data (files, templates, env, commands).

use std::path::{Path, PathBuf};

use fmc_core::Value as Json;
use minijinja::value::{Kwargs, Rest, ValueKind};
use minijinja::{Environment, Error, State, Value};

use crate::Vars;
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
/// for each search path. The result is absolute, as in Ansible.
fn find(search_paths: &[PathBuf], name: &str, subdir: &str) -> Option<PathBuf> {
    // `~/...` is the controller user's home, as in Ansible
    let expanded = match (name.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Some(Path::new(&home).join(rest)),
        _ => None,
    };
    let p = expanded.as_deref().unwrap_or(Path::new(name));
    if p.is_absolute() {
        return p.exists().then(|| p.to_path_buf());
    }
    search_paths
        .iter()
        .find_map(|dir| {
            [dir.join(subdir).join(name), dir.join(name)]
                .into_iter()
                .find(|c| c.exists())
        })
        .map(|c| absolute(&c))
}

/// `path` made absolute against the current directory (symlinks kept, like Ansible).
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The search paths as text, for messages.
fn searched(search_paths: &[PathBuf]) -> String {
    let dirs: Vec<String> = search_paths
        .iter()
        .map(|d| absolute(d).display().to_string())
        .collect();
    dirs.join(", ")
}

fn not_found(what: &str, name: &str, search_paths: &[PathBuf]) -> Error {
    fail(format!(
        "lookup('{what}'): could not find '{name}'; searched {} (each with its {what}s/ first)",
        searched(search_paths)
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
        let path = find(scope.vars.search_paths(), &name, "files")
            .ok_or_else(|| not_found("file", &name, scope.vars.search_paths()))?;
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
        let path = find(scope.vars.search_paths(), &name, "templates")
            .ok_or_else(|| not_found("template", &name, scope.vars.search_paths()))?;
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
    let options = FirstFound {
        files: kw_files.map(|v| json(state, &v)).transpose()?,
        paths: kw_paths.map(|v| json(state, &v)).transpose()?,
        skip: kw_skip.unwrap_or(false),
    };
    let mut items = Vec::new();
    for t in terms {
        ensure_defined(state, t)?;
        items.push(json(state, t)?);
    }
    let found = options
        .find(&items, scope.vars.search_paths(), "files")
        .map_err(|e| fail(format!("lookup('first_found'): {e}")))?;
    Ok(found
        .map(|p| Json::from(p.display().to_string()))
        .into_iter()
        .collect())
}

/// The items of a `with_first_found` loop: the first existing file of `terms` (names,
/// lists and `{files, paths, skip}` mappings, as for `lookup('first_found')`) in `vars`'
/// search paths, as an absolute path; none when nothing exists and `skip` is set.
/// `subdir` is looked at first in each search path: Ansible takes it from the task's
/// action (`templates` for `template`, `vars` for `include_vars`, else `files`).
pub fn first_found_items(terms: &Json, subdir: &str, vars: &Vars) -> Result<Vec<Json>, String> {
    let terms = match terms {
        Json::Array(items) => items.clone(),
        other => vec![other.clone()],
    };
    let found = FirstFound::default().find(&terms, vars.search_paths(), subdir)?;
    Ok(found
        .map(|p| Json::from(p.display().to_string()))
        .into_iter()
        .collect())
}

/// The options of `first_found` given as keyword arguments.
#[derive(Default)]
struct FirstFound {
    files: Option<Json>,
    paths: Option<Json>,
    skip: bool,
}

impl FirstFound {
    /// The first candidate of `terms` that exists; `Ok(None)` when none does and
    /// `skip` is set (by the options or by a mapping term).
    fn find(
        &self,
        terms: &[Json],
        search_paths: &[PathBuf],
        subdir: &str,
    ) -> Result<Option<PathBuf>, String> {
        let mut candidates = Vec::new();
        let mut skip = self.skip;
        if terms.is_empty() {
            self.candidates(self.files.as_ref(), self.paths.as_ref(), &mut candidates);
        }
        self.collect(terms, &mut candidates, &mut skip);
        if let Some(found) = candidates
            .iter()
            .find_map(|c| find(search_paths, c, subdir))
        {
            return Ok(Some(found));
        }
        if skip {
            return Ok(None);
        }
        let names: Vec<String> = candidates.iter().map(|c| format!("'{c}'")).collect();
        Err(format!(
            "no file was found; tried {} in {} (each with its {subdir}/ first)",
            if names.is_empty() {
                "no names".to_string()
            } else {
                names.join(", ")
            },
            searched(search_paths)
        ))
    }

    /// Adds the candidate names of `terms` (recursing into lists).
    fn collect(&self, terms: &[Json], out: &mut Vec<String>, skip: &mut bool) {
        for term in terms {
            match term {
                Json::Array(items) => self.collect(items, out, skip),
                Json::Object(m) => {
                    let files = m.get("files").or(self.files.as_ref());
                    let paths = m.get("paths").or(self.paths.as_ref());
                    self.candidates(files, paths, out);
                    if let Some(s) = m.get("skip") {
                        *skip = fmc_core::lenient::to_bool(s).unwrap_or(false);
                    }
                }
                other => {
                    let name = Json::from(crate::filters::py_str(other));
                    self.candidates(Some(&name), self.paths.as_ref(), out);
                }
            }
        }
    }

    /// `path/file` for every path and file (files split on `,;`, paths on `,:;`), or the
    /// files alone without paths.
    fn candidates(&self, files: Option<&Json>, paths: Option<&Json>, out: &mut Vec<String>) {
        let files = split(files, &[',', ';']);
        let paths = split(paths, &[',', ':', ';']);
        if paths.is_empty() {
            out.extend(files);
            return;
        }
        for p in &paths {
            for f in &files {
                out.push(Path::new(p).join(f).display().to_string());
            }
        }
    }
}

/// A string or list of strings, each split on `seps`, empty parts dropped.
fn split(v: Option<&Json>, seps: &[char]) -> Vec<String> {
    let items: Vec<String> = match v {
        Some(Json::Array(a)) => a.iter().map(crate::filters::py_str).collect(),
        Some(Json::Null) | None => Vec::new(),
        Some(other) => vec![crate::filters::py_str(other)],
    };
    items
        .iter()
        .flat_map(|s| s.split(seps))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// `lookup('fileglob', '*.conf')`: matching files in the first search path that has any.
fn fileglob(state: &State, scope: &Scope, terms: &[Value]) -> Result<Vec<Json>, Error> {
    fileglob_items(&strings(state, terms)?, &scope.vars)
        .map_err(|e| fail(format!("lookup('fileglob'): {e}")))
}

/// The items of a `with_fileglob` loop (and `lookup('fileglob')`): for each pattern, the
/// regular files it matches, as absolute paths, sorted by name. A relative pattern is
/// tried in each search path's `files/`, then in the search path itself; the first one
/// with matches wins.
pub fn fileglob_items(patterns: &[String], vars: &Vars) -> Result<Vec<Json>, String> {
    let mut out = Vec::new();
    for pattern in patterns {
        let bases: Vec<PathBuf> = if Path::new(pattern).is_absolute() {
            vec![PathBuf::new()]
        } else {
            vars.search_paths()
                .iter()
                .flat_map(|d| [d.join("files"), d.clone()])
                .collect()
        };
        for base in bases {
            let full = base.join(pattern);
            let full = full.to_string_lossy();
            let matches = glob::glob(&full).map_err(|e| format!("pattern '{pattern}': {e}"))?;
            let found: Vec<Json> = matches
                .filter_map(Result::ok)
                .filter(|p| p.is_file())
                .map(|p| Json::from(absolute(&p).display().to_string()))
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
