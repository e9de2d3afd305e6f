//! The error type of templating.

use std::fmt;

use minijinja::ErrorKind;

/// Template name used for inline strings (`render_str`, `render_value`).
pub(crate) const INLINE_NAME: &str = "<template>";
/// Template name used for bare expressions (`eval_expr`, `eval_cond`).
pub(crate) const EXPR_NAME: &str = "<expression>";
/// Prefix of the template name used when a variable's value is templated lazily.
const VAR_PREFIX: &str = "variable '";

/// The name under which the value of variable `name` is templated.
pub(crate) fn var_template_name(name: &str) -> String {
    format!("{VAR_PREFIX}{name}'")
}

/// A templating failure. Never contains variable values (they may be secrets).
///
/// Display: `<msg>` plus ` (in <template name> line N)` when known, and an optional
/// `hint: ...` line.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub struct TemplateError {
    message: String,
    undefined: Option<String>,
    template: Option<String>,
    line: Option<u32>,
    hint: Option<String>,
}

impl TemplateError {
    /// An error with a message and no location.
    pub(crate) fn new(message: impl Into<String>) -> TemplateError {
        TemplateError {
            message: message.into(),
            undefined: None,
            template: None,
            line: None,
            hint: None,
        }
    }

    /// Adds a `hint: ...` line.
    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> TemplateError {
        self.hint = Some(hint.into());
        self
    }

    /// Converts an engine error. For undefined errors, `resolve(name)` returns the chain of
    /// variables whose lazy templating ended in an undefined name: `[name, ..., innermost]`.
    pub(crate) fn from_engine(
        err: &minijinja::Error,
        resolve: impl Fn(&str) -> Vec<String>,
    ) -> Self {
        // Only kind, detail, name and line are read: the engine's debug info holds
        // variable values and must never reach a message.
        let detail = err.detail().map(str::to_string);
        let mut undefined = detail.as_deref().and_then(undefined_name);
        let message = match err.kind() {
            ErrorKind::UndefinedError => match &undefined {
                Some(name) => {
                    let chain = resolve(name);
                    if chain.len() > 1 {
                        let inner = chain.last().cloned().unwrap_or_default();
                        let via: Vec<String> = chain[..chain.len() - 1]
                            .iter()
                            .map(|v| format!("'{v}'"))
                            .collect();
                        let msg = format!("'{inner}' is undefined (via {})", via.join(" -> "));
                        undefined = Some(inner);
                        msg
                    } else {
                        format!("'{name}' is undefined")
                    }
                }
                None => "undefined value".to_string(),
            },
            ErrorKind::SyntaxError => match &detail {
                Some(d) => format!("template syntax error: {d}"),
                None => "template syntax error".to_string(),
            },
            // Kinds whose detail is a full sentence on its own.
            ErrorKind::InvalidOperation
            | ErrorKind::UnknownFilter
            | ErrorKind::UnknownTest
            | ErrorKind::UnknownFunction
            | ErrorKind::UnknownMethod
            | ErrorKind::TemplateNotFound => match &detail {
                Some(d) => d.clone(),
                None => err.kind().to_string(),
            },
            kind => match &detail {
                Some(d) => format!("{kind}: {d}"),
                None => kind.to_string(),
            },
        };
        TemplateError {
            message,
            undefined,
            template: err.name().map(str::to_string),
            line: err.line().and_then(|l| u32::try_from(l).ok()),
            hint: None,
        }
    }

    /// The undefined variable's name/path, e.g. `services.nginx.port`, when the error is an undefined value.
    pub fn undefined(&self) -> Option<&str> {
        self.undefined.as_deref()
    }

    /// ` (variable 'x')` when the error is about an undefined variable its message does
    /// not name already; empty otherwise. Callers append it to their own message.
    pub fn variable_note(&self) -> String {
        self.undefined()
            .filter(|v| !self.message.contains(&format!("'{v}'")))
            .map(|v| format!(" (variable '{v}')"))
            .unwrap_or_default()
    }

    /// The line inside the template, when known.
    pub fn line(&self) -> Option<u32> {
        self.line
    }

    /// The template the error happened in (a file path or `variable 'name'`), when known.
    pub fn template(&self) -> Option<&str> {
        match self.template.as_deref() {
            Some(INLINE_NAME | EXPR_NAME) | None => None,
            Some(t) => Some(t),
        }
    }

    /// The message without location and hint.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Extracts `X` from an engine detail such as ``"`X` is undefined"``.
pub(crate) fn undefined_name(detail: &str) -> Option<String> {
    let end = detail.find("` is undefined")?;
    let start = detail[..end].rfind('`')?;
    Some(detail[start + 1..end].to_string())
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        match (self.template(), self.line) {
            (Some(t), Some(line)) if t.starts_with(VAR_PREFIX) && line > 1 => {
                write!(f, " (in {t} line {line})")?
            }
            (Some(t), _) if t.starts_with(VAR_PREFIX) => write!(f, " (in {t})")?,
            (Some(t), Some(line)) => write!(f, " (in {t} line {line})")?,
            (Some(t), None) => write!(f, " (in {t})")?,
            (None, Some(line)) if line > 1 => write!(f, " (line {line})")?,
            (None, _) => {}
        }
        if let Some(hint) = &self.hint {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_undefined_names() {
        assert_eq!(undefined_name("`a.b` is undefined").as_deref(), Some("a.b"));
        assert_eq!(
            undefined_name("cannot do it (`x[0]` is undefined, from line 2)").as_deref(),
            Some("x[0]")
        );
        assert_eq!(undefined_name("something else"), None);
    }

    #[test]
    fn display_locations() {
        let mut e = TemplateError::new("boom");
        assert_eq!(e.to_string(), "boom");
        e.template = Some("roles/x/templates/a.j2".into());
        e.line = Some(3);
        assert_eq!(e.to_string(), "boom (in roles/x/templates/a.j2 line 3)");
        e.template = Some(var_template_name("a"));
        e.line = Some(1);
        assert_eq!(e.to_string(), "boom (in variable 'a')");
        e.template = Some(INLINE_NAME.into());
        e.line = Some(2);
        assert_eq!(
            e.with_hint("try x").to_string(),
            "boom (line 2)\nhint: try x"
        );
    }
}
