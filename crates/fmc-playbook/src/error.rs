//! Load errors. Every message starts with `file:line:col: ` when the place is known.

use std::fmt;
use std::path::PathBuf;

use fmc_core::Span;

/// Why a playbook, task file or role could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PlaybookError {
    /// Malformed YAML (the message already starts with `file:line:col`).
    #[error(transparent)]
    Yaml(#[from] fmc_yaml::YamlError),
    /// A file could not be read; `span` is where it was referenced.
    #[error("{}cannot read '{path}': {msg}", Prefix(span))]
    Read {
        span: Span,
        path: String,
        msg: String,
    },
    /// Valid YAML that is not a valid playbook, task list or role.
    #[error("{}{msg}{}", Prefix(span), Hint(hint))]
    Invalid {
        span: Span,
        msg: String,
        hint: Option<String>,
    },
    /// A role name that matches no directory in the search path.
    #[error(
        "{}role '{name}' not found\nhint: searched {}",
        Prefix(span),
        Searched(searched)
    )]
    RoleNotFound {
        span: Span,
        name: String,
        searched: Vec<PathBuf>,
    },
}

impl PlaybookError {
    /// Where the problem is, when known.
    pub fn span(&self) -> Option<&Span> {
        let span = match self {
            PlaybookError::Yaml(e) => return e.span(),
            PlaybookError::Read { span, .. }
            | PlaybookError::Invalid { span, .. }
            | PlaybookError::RoleNotFound { span, .. } => span,
        };
        (!span.file.is_empty()).then_some(span)
    }

    pub(crate) fn invalid(span: Span, msg: impl Into<String>) -> Self {
        PlaybookError::Invalid {
            span,
            msg: msg.into(),
            hint: None,
        }
    }

    pub(crate) fn with_hint(span: Span, msg: impl Into<String>, hint: impl Into<String>) -> Self {
        PlaybookError::Invalid {
            span,
            msg: msg.into(),
            hint: Some(hint.into()),
        }
    }
}

/// `file:line:col: `, or nothing for an unknown place (`Span::default()`).
struct Prefix<'a>(&'a Span);

impl fmt::Display for Prefix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.file.is_empty() {
            Ok(())
        } else {
            write!(f, "{}: ", self.0)
        }
    }
}

struct Hint<'a>(&'a Option<String>);

impl fmt::Display for Hint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(h) => write!(f, "\nhint: {h}"),
            None => Ok(()),
        }
    }
}

struct Searched<'a>(&'a [PathBuf]);

impl fmt::Display for Searched<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", p.display())?;
        }
        Ok(())
    }
}
