//! [`Templar`]: the minijinja environment with Ansible's semantics.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fmc_core::Value as Json;
use minijinja::syntax::SyntaxConfig;
use minijinja::{AutoEscape, Environment, Error, ErrorKind, UndefinedBehavior};

use crate::chain::{self, guard_expr, guard_template};
use crate::context::{self, CAPTURE_FN, Scope, Shared};
use crate::error::{EXPR_NAME, INLINE_NAME, TemplateError};
use crate::{OMIT, Vars, filters, lookups, tests};

/// The minijinja environment with Ansible's filters. Create once per run; Send + Sync; cheap to share.
#[derive(Clone)]
pub struct Templar {
    env: Arc<Environment<'static>>,
}

impl Default for Templar {
    fn default() -> Self {
        Templar::new()
    }
}

impl std::fmt::Debug for Templar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Templar")
    }
}

impl Templar {
    /// Builds the environment: strict undefined, no auto-escaping, `trim_blocks` and
    /// `keep_trailing_newline` (Ansible's defaults), Python string/dict methods and the
    /// Ansible filters, tests and lookups.
    pub fn new() -> Templar {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Auto-escaping would JSON-quote `*.yml.j2` and HTML-escape `*.html.j2` output.
        env.set_auto_escape_callback(|_| AutoEscape::None);
        let syntax = SyntaxConfig::builder()
            .trim_blocks(true)
            .keep_trailing_newline(true)
            .build();
        if let Ok(syntax) = syntax {
            env.set_syntax(syntax);
        }
        // Needed for undefined variable names in errors. The debug dump it attaches holds
        // variable values; `TemplateError` only ever copies kind, detail, name and line.
        env.set_debug(true);
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_global("omit", OMIT);
        env.add_function(CAPTURE_FN, context::capture);
        chain::register(&mut env);
        filters::register(&mut env);
        tests::register(&mut env);
        lookups::register(&mut env);
        Templar { env: Arc::new(env) }
    }

    fn scope(&self, vars: &Vars) -> Arc<Scope> {
        Scope::new(vars.clone(), Shared::new(self.env.clone()))
    }

    /// Renders a string. A string without `{{`/`{%`/`{#` is returned as-is without touching the engine.
    /// Like Ansible for strings from YAML, string literals inside `{{ }}` take their backslashes
    /// literally (`'\1'` is a backslash and `1`); `{% %}` statements keep Jinja's escapes.
    pub fn render_str(&self, s: &str, vars: &Vars) -> Result<String, TemplateError> {
        if !context::is_template(s) {
            return Ok(s.to_string());
        }
        let scope = self.scope(vars);
        context::render_text(&scope, INLINE_NAME, s).map_err(|e| scope.shared.error(&e))
    }

    /// Renders every string inside a value (maps, lists) recursively. A string that is exactly one
    /// expression `"{{ expr }}"` (whitespace around allowed) yields the expression's native value
    /// (list, dict, bool, int) like Ansible's native types; anything else yields a string. Map keys
    /// whose value renders to `omit` are removed.
    ///
    /// Deviation from Ansible: a result that is a string stays a string; `"[1, 2]"` coming
    /// out of a variable is not parsed back into a list.
    pub fn render_value(&self, v: &Json, vars: &Vars) -> Result<Json, TemplateError> {
        if !context::contains_template(v) {
            return Ok(v.clone());
        }
        let scope = self.scope(vars);
        context::render_json(&scope, INLINE_NAME, v).map_err(|e| scope.shared.error(&e))
    }

    /// Evaluates a conditional (`when`, `changed_when`, `failed_when`, `until`, `assert that`).
    ///
    /// The string is a bare expression; a string wrapped in one `{{ }}` is unwrapped. Booleans
    /// are taken as they are; strings use Ansible's boolean words (`yes`/`no`, `true`/`false`,
    /// `on`/`off`, `1`/`0`, `y`/`n`, empty); numbers are true when non-zero; lists and maps when
    /// non-empty; `none` is false. Any other string is an error (Ansible 2.19 rejects it too).
    pub fn eval_cond(&self, expr: &str, vars: &Vars) -> Result<bool, TemplateError> {
        let expr = unwrap_braces(expr);
        let v = self.eval_expr(expr, vars).map_err(|e| {
            if expr.contains("{{") {
                e.with_hint("conditionals are bare expressions: write `x == 1`, not `{{ x }} == 1`")
            } else {
                e
            }
        })?;
        truthy(&v).ok_or_else(|| {
            TemplateError::new(format!(
                "conditional `{expr}` evaluated to a string that is not a boolean"
            ))
            .with_hint("compare explicitly (`x == 'value'`, `x | length > 0`) or use `x | bool`")
        })
    }

    /// Evaluates a bare expression to a value (e.g. `debug: var=x`, loop items).
    pub fn eval_expr(&self, expr: &str, vars: &Vars) -> Result<Json, TemplateError> {
        if expr.trim().is_empty() {
            return Err(TemplateError::new("empty expression"));
        }
        let scope = self.scope(vars);
        context::eval_native(&scope, EXPR_NAME, expr)
            .and_then(|v| context::to_json(&v))
            .map_err(|e| scope.shared.error(&e))
    }

    /// Checks that `s` compiles as a template, without rendering it (up-front
    /// validation: a syntax error is bad input, found before any host is touched).
    pub fn check_syntax(&self, s: &str) -> Result<(), TemplateError> {
        if !context::is_template(s) {
            return Ok(());
        }
        self.env
            .template_from_named_str(
                INLINE_NAME,
                &guard_template(&crate::escape::escape_backslashes(s)),
            )
            .map(|_| ())
            .map_err(|e| TemplateError::from_engine(&e, |n| vec![n.to_string()]))
    }

    /// Checks that a conditional compiles as an expression, without evaluating it.
    pub fn check_cond(&self, expr: &str) -> Result<(), TemplateError> {
        self.env
            .compile_expression(&guard_expr(unwrap_braces(expr)))
            .map(|_| ())
            .map_err(|e| TemplateError::from_engine(&e, |n| vec![n.to_string()]))
    }

    /// Renders a template file for the `template` module (trim_blocks on, keep trailing newline,
    /// `{% include %}`/`{% import %}` resolved against the file's directory, then vars' search paths).
    /// Errors name the template file and line.
    pub fn render_file(&self, path: &Path, vars: &Vars) -> Result<String, TemplateError> {
        let scope = self.scope(vars);
        render_file_raw(&scope, path).map_err(|e| scope.shared.error(&e))
    }
}

/// Renders the template file at `path` with `scope`'s variables.
pub(crate) fn render_file_raw(scope: &Arc<Scope>, path: &Path) -> Result<String, Error> {
    let name = path.display().to_string();
    let source = std::fs::read_to_string(path).map_err(|e| {
        Error::new(
            ErrorKind::TemplateNotFound,
            format!("cannot read template {name}: {e}"),
        )
    })?;
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(parent) = path.parent() {
        dirs.push(parent.to_path_buf());
    }
    dirs.extend(scope.vars.search_paths().iter().cloned());
    // A private copy of the environment: its loader and template cache belong to this
    // file's search path only.
    let mut env = (*scope.shared.env).clone();
    env.set_loader(move |include: &str| load_include(&dirs, include));
    env.add_template_owned(name.clone(), guard_template(&source).into_owned())?;
    env.get_template(&name)?.render(scope.context())
}

/// Finds `include` in `dirs` (absolute paths are used as they are).
fn load_include(dirs: &[PathBuf], include: &str) -> Result<Option<String>, Error> {
    let candidates: Vec<PathBuf> = if Path::new(include).is_absolute() {
        vec![PathBuf::from(include)]
    } else {
        dirs.iter().map(|d| d.join(include)).collect()
    };
    for candidate in candidates {
        if candidate.is_file() {
            return std::fs::read_to_string(&candidate)
                .map(|s| Some(guard_template(&s).into_owned()))
                .map_err(|e| {
                    Error::new(
                        ErrorKind::TemplateNotFound,
                        format!("cannot read {}: {e}", candidate.display()),
                    )
                });
        }
    }
    Ok(None)
}

/// `"{{ x }}"` -> `"x"`; anything else unchanged.
fn unwrap_braces(expr: &str) -> &str {
    let t = expr.trim();
    match t.strip_prefix("{{").and_then(|i| i.strip_suffix("}}")) {
        Some(inner) if !inner.contains("{{") && !inner.contains("}}") => inner.trim(),
        _ => expr,
    }
}

/// Ansible's truthiness of a conditional's result; `None` for a non-boolean string.
pub(crate) fn truthy(v: &Json) -> Option<bool> {
    match v {
        Json::String(_) => fmc_core::lenient::to_bool(v),
        Json::Bool(b) => Some(*b),
        Json::Null => Some(false),
        Json::Number(n) => Some(n.as_f64().is_some_and(|f| f != 0.0)),
        Json::Array(a) => Some(!a.is_empty()),
        Json::Object(m) => Some(!m.is_empty()),
    }
}
