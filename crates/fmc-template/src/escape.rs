//! Ansible's backslash rule for templates that come from YAML.
//!
//! YAML has already processed the backslashes of a playbook string, so ansible-core
//! doubles every backslash inside the string literals of `{{ ... }}` blocks before
//! Jinja unescapes them: `"{{ x | regex_replace('a(\\d)', 'b\\1') }}"` passes the regex
//! `a(\d)` and the replacement `b\1` to the filter, not `b` + `\x01`: each literal is
//! the raw text between its quotes. String literals in
//! `{% ... %}` statements, bare expressions (conditionals, `debug: var=`) and template
//! files keep Jinja's escapes. The scanner below mirrors minijinja's lexer far enough to
//! find those literals: comments, `{% raw %}` blocks, statements and brace balancing.

use std::borrow::Cow;

/// Doubles the backslashes inside string literals of `{{ }}` blocks, so each literal
/// reaches the engine as the raw text between its quotes. Everything else is unchanged.
pub(crate) fn escape_backslashes(src: &str) -> Cow<'_, str> {
    if !src.contains('\\') || !src.contains("{{") {
        return Cow::Borrowed(src);
    }
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len() + 8);
    let mut copied = 0; // bytes of `src` already in `out`
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] != b'{' {
            i += 1;
            continue;
        }
        match b[i + 1] {
            b'#' => match find(b, i + 2, b"#}") {
                Some(end) => i = end + 2,
                None => break,
            },
            b'%' => {
                let start = i + 2;
                if let Some(len) = basic_tag(&b[start..], b"raw") {
                    match end_of_raw(b, start + len) {
                        Some(end) => i = end,
                        None => break,
                    }
                } else {
                    i = scan_code(b, start, b"%}", &mut |_, _| {});
                }
            }
            b'{' => {
                let mut literals = Vec::new();
                i = scan_code(b, i + 2, b"}}", &mut |from, to| literals.push((from, to)));
                for (from, to) in literals {
                    out.push_str(&src[copied..from]);
                    push_raw_literal(&mut out, &src[from..to], char::from(b[from - 1]));
                    copied = to;
                }
            }
            _ => i += 1,
        }
    }
    if copied == 0 {
        return Cow::Borrowed(src);
    }
    out.push_str(&src[copied..]);
    Cow::Owned(out)
}

/// The code ranges of the `{{ ... }}` and `{% ... %}` blocks of a template source (between
/// the delimiters, whitespace-control marks included), skipping comments and
/// `{% raw %}` blocks. An unterminated block runs to the end of the source.
pub(crate) fn code_blocks(src: &str) -> Vec<(usize, usize)> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] != b'{' {
            i += 1;
            continue;
        }
        let (end_marker, start) = match b[i + 1] {
            b'#' => match find(b, i + 2, b"#}") {
                Some(end) => {
                    i = end + 2;
                    continue;
                }
                None => break,
            },
            b'%' => {
                if let Some(len) = basic_tag(&b[i + 2..], b"raw") {
                    match end_of_raw(b, i + 2 + len) {
                        Some(end) => {
                            i = end;
                            continue;
                        }
                        None => break,
                    }
                }
                (b"%}", i + 2)
            }
            b'{' => (b"}}", i + 2),
            _ => {
                i += 1;
                continue;
            }
        };
        let next = scan_code(b, start, end_marker, &mut |_, _| {});
        let end = if b[start.min(next)..next].ends_with(end_marker) {
            next - end_marker.len()
        } else {
            next
        };
        out.push((start, end.max(start)));
        i = next;
    }
    out
}

/// Writes `content` (the text between the quotes of a literal delimited by `quote`) so
/// that the engine's unescaping yields exactly that text: every backslash is doubled,
/// and a quote (which can only follow a backslash here) is escaped again.
fn push_raw_literal(out: &mut String, content: &str, quote: char) {
    for c in content.chars() {
        if c == '\\' || c == quote {
            out.push('\\');
        }
        out.push(c);
    }
}

/// The first index at or after `from` where `needle` starts.
fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    b.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Scans the inside of a `{{ }}` or `{% %}` block from `i`: reports the content range
/// of every string literal to `literal` and returns the index just past the block's end
/// marker (`end`, optionally preceded by `-` or `+`), found only when brackets balance.
fn scan_code(b: &[u8], mut i: usize, end: &[u8], literal: &mut dyn FnMut(usize, usize)) -> usize {
    let mut depth: isize = 0;
    while i < b.len() {
        let rest = &b[i..];
        if depth == 0 {
            if rest.starts_with(end) {
                return i + end.len();
            }
            if matches!(rest[0], b'-' | b'+') && rest[1..].starts_with(end) {
                return i + 1 + end.len();
            }
        }
        match rest[0] {
            q @ (b'\'' | b'"') => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && b[j] != q {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                if j >= b.len() {
                    // Unterminated: the engine reports it; change nothing.
                    return b.len();
                }
                literal(start, j);
                i = j + 1;
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                i += 1;
            }
            b')' | b']' | b'}' => {
                depth -= 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    b.len()
}

/// Length of `[-+]? ws* name ws* [-+]? %}` at the start of `b` (after a `{%`).
fn basic_tag(b: &[u8], name: &[u8]) -> Option<usize> {
    let mut i = usize::from(matches!(b.first(), Some(b'-' | b'+')));
    while b.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    if !b.get(i..)?.starts_with(name) {
        return None;
    }
    i += name.len();
    while b.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    if matches!(b.get(i), Some(b'-' | b'+')) {
        i += 1;
    }
    // Only blanks and one `-`/`+` may follow the name (`{% rawx %}` is no raw tag).
    b.get(i..)?.starts_with(b"%}").then_some(i + 2)
}

/// The index just past the `{% endraw %}` that closes a raw block whose body starts at `i`.
fn end_of_raw(b: &[u8], mut i: usize) -> Option<usize> {
    while let Some(start) = find(b, i, b"{%") {
        if let Some(len) = basic_tag(&b[start + 2..], b"endraw") {
            return Some(start + 2 + len);
        }
        i = start + 2;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::escape_backslashes as esc;

    #[test]
    fn doubles_backslashes_in_expression_literals_only() {
        assert_eq!(esc(r"{{ 'a\1' }}"), r"{{ 'a\\1' }}");
        assert_eq!(
            esc(r#"x\3 {{ "\d" ~ '\'' }} \n"#),
            r#"x\3 {{ "\\d" ~ '\\\'' }} \n"#
        );
        assert_eq!(
            esc(r"{% set r = 'b\1' %}{{ r }}"),
            r"{% set r = 'b\1' %}{{ r }}"
        );
        assert_eq!(esc(r"{# '\1' #}{{ '\1' }}"), r"{# '\1' #}{{ '\\1' }}");
        assert_eq!(
            esc(r"{% raw %}{{ '\1' }}{% endraw %}{{ '\1' }}"),
            r"{% raw %}{{ '\1' }}{% endraw %}{{ '\\1' }}"
        );
        assert_eq!(esc(r"{{ {'k': '}}\1'} -}}"), r"{{ {'k': '}}\\1'} -}}");
        assert_eq!(
            esc(r"{%- if x -%}{{ '\t' }}{% endif %}"),
            r"{%- if x -%}{{ '\\t' }}{% endif %}"
        );
    }

    #[test]
    fn leaves_other_text_alone() {
        for s in [
            r"no template \1",
            r"{{ x }} \1",
            r"{{ 'unterminated\1 }}",
            "{{ '\\",
        ] {
            assert_eq!(esc(s), s);
        }
    }
}
