//! Source locations carried from YAML files to error messages.

use std::fmt;
use std::sync::Arc;

/// A position in a source file: `file:line:col` (1-based). `line == 0` means unknown.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default, serde::Serialize)]
pub struct Span {
    pub file: Arc<str>,
    pub line: u32,
    pub col: u32,
}

impl Span {
    pub fn new(file: impl Into<Arc<str>>, line: u32, col: u32) -> Self {
        Span {
            file: file.into(),
            line,
            col,
        }
    }

    /// A span naming only a file.
    pub fn file(file: impl Into<Arc<str>>) -> Self {
        Span::new(file, 0, 0)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.col) {
            (0, _) => write!(f, "{}", self.file),
            (l, 0) => write!(f, "{}:{}", self.file, l),
            (l, c) => write!(f, "{}:{}:{}", self.file, l, c),
        }
    }
}
