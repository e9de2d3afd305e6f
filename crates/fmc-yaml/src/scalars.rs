//! PyYAML's (YAML 1.1) reading of plain scalars, exactly.
//!
//! serde-saphyr reads `y`, `n` and any capitalisation of `yes`/`no`/`on`/`off`/`true`/
//! `false` as booleans, and `1e3` or `0o17` as numbers. PyYAML (and so Ansible) accepts
//! only the lowercase, Capitalised and UPPERCASE forms of those six words, and reads
//! `1e3`, `0o17` or `08` as strings: `name: n` is the string "n". Before serde-saphyr sees
//! the text, the plain scalars that PyYAML reads as strings but serde-saphyr might not
//! are quoted; [`Rewrite::original_col`] maps positions in the rewritten text back.

use std::sync::LazyLock;

use regex::Regex;
use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle};

/// Text with some plain scalars quoted, and where the quotes went.
pub(crate) struct Rewrite {
    pub(crate) text: String,
    /// `(line, col)` (1-based, in the rewritten text) of every inserted opening quote,
    /// in text order.
    quotes: Vec<(u64, u64)>,
}

impl Rewrite {
    /// The source column of a position in the rewritten text.
    pub(crate) fn original_col(&self, line: u64, col: u64) -> u64 {
        let before = self
            .quotes
            .iter()
            .filter(|(l, c)| *l == line && *c < col)
            .count() as u64;
        col.saturating_sub(2 * before)
    }
}

/// PyYAML's implicit resolvers: bool, float, int, merge/value/null, timestamp.
static IMPLICIT: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$",
        r"^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$",
        r"^(?:<<|=|~|null|Null|NULL|)$",
        r"^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)$",
    ]
    .iter()
    .filter_map(|p| Regex::new(p).ok())
    .collect()
});

/// Whether PyYAML reads `s`, written as a plain scalar, as a string (no implicit
/// resolver of YAML 1.1 matches it: not a boolean, number, null, timestamp or `<<`).
pub fn plain_is_string(s: &str) -> bool {
    !IMPLICIT.iter().any(|re| re.is_match(s))
}

/// Whether serde-saphyr might read the plain scalar `s` as something else than the
/// string PyYAML reads: it looks like a number, or a boolean or null word of any case.
fn misread(s: &str) -> bool {
    let numeric = matches!(
        s.as_bytes().first(),
        Some(b'0'..=b'9' | b'+' | b'-' | b'.' | b'~')
    ) && !matches!(s, "-" | "---" | "...");
    let word = ["y", "n", "yes", "no", "on", "off", "true", "false", "null"]
        .iter()
        .any(|w| s.eq_ignore_ascii_case(w));
    (numeric || word) && plain_is_string(s)
}

/// Quotes the plain, untagged scalars of `text` that serde-saphyr would misread as
/// booleans. `None` when there are none (or the text does not parse: the caller's parse
/// then reports the error at its true position).
pub(crate) fn rewrite(text: &str) -> Option<Rewrite> {
    // Cheap pre-check on whitespace/flow-separated words: most files have no candidate.
    if !text
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '[' | ']' | '{' | '}'))
        .any(|w| misread(w.trim_end_matches(':')))
    {
        return None;
    }
    let mut spans = Vec::new();
    for event in Parser::new_from_str(text) {
        let (event, span) = event.ok()?;
        if let Event::Scalar(value, ScalarStyle::Plain, _, None) = &event
            && misread(value)
            && let (Some(start), Some(end)) = (span.start.byte_offset(), span.end.byte_offset())
            && text.get(start..end) == Some(value.as_ref())
        {
            spans.push((start, end, span.start.line() as u64));
        }
    }
    if spans.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(text.len() + 2 * spans.len());
    let mut quotes = Vec::with_capacity(spans.len());
    let mut copied = 0;
    for (start, end, line) in spans {
        out.push_str(&text[copied..start]);
        let line_start = out.rfind('\n').map_or(0, |i| i + 1);
        quotes.push((line, (out.len() - line_start) as u64 + 1));
        out.push('\'');
        out.push_str(&text[start..end]);
        out.push('\'');
        copied = end;
    }
    out.push_str(&text[copied..]);
    Some(Rewrite { text: out, quotes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_pyyaml_reads_as_strings() {
        let r = rewrite("a: [y, N, yes, tRUE, 'n']\ny: yEs # n\nname: n\n").unwrap();
        assert_eq!(
            r.text,
            "a: ['y', 'N', yes, 'tRUE', 'n']\n'y': 'yEs' # n\nname: 'n'\n"
        );
        // `yes` moved from column 12 to 16 on line 1 (two quoted scalars before it).
        assert_eq!(r.original_col(1, 16), 12);
        assert_eq!(r.original_col(1, 5), 5);
        assert_eq!(r.original_col(2, 6), 4);
        assert_eq!(r.original_col(3, 7), 7);
        assert!(rewrite("a: yes\nb: [On, OFF]\nc: 8080\nd: -1.5\n- x\n").is_none());
        let r = rewrite("a: [1e3, 0o17, 08, 1.0e+3, 1_000, 1.2.3, ~, Null, nULL]\n").unwrap();
        assert_eq!(
            r.text,
            "a: ['1e3', '0o17', '08', 1.0e+3, 1_000, '1.2.3', ~, Null, 'nULL']\n"
        );
    }
}
