//! Ansible's chained undefined for `default` and `is defined`.
//!
//! In Ansible, `a.b.c | default(x)` and `a.b.c is defined` work when `a` or `a.b` is
//! missing: an undefined value stays undefined through further attribute and item
//! lookups until something uses it. minijinja's strict mode instead fails at the lookup
//! on the undefined `a.b`. So before a template is compiled, every attribute/item chain
//! that is the direct operand of the `default` (`d`) filter or of the `defined` /
//! `undefined` tests is rewritten into the hidden filter [`CHAIN_FILTER`], which walks
//! the chain and yields undefined at the first missing step:
//! `a.b['c'] | default(1)` becomes `a | __fmc_chain('b', ('c')) | default(1)`.
//! Every other use of an undefined chain still fails and names the missing part
//! (`'a.b' is undefined`). The scanner mirrors minijinja's lexer far enough for this:
//! names, string and number literals, brackets.

use std::borrow::Cow;

use minijinja::value::{Rest, ValueKind};
use minijinja::{Environment, Value};

use crate::escape::code_blocks;

/// Name of the hidden filter that looks a chain of keys up without failing.
pub(crate) const CHAIN_FILTER: &str = "__fmc_chain";

/// Registers [`CHAIN_FILTER`].
pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter(CHAIN_FILTER, chain);
}

/// `value | __fmc_chain(k1, k2, ...)`: `value[k1][k2]...`, undefined at the first
/// missing step (or when `value` is undefined).
fn chain(value: Value, keys: Rest<Value>) -> Value {
    let mut v = value;
    for key in keys.iter() {
        if v.is_undefined() || v.kind() == ValueKind::Invalid {
            break;
        }
        v = v.get_item(key).unwrap_or(Value::UNDEFINED);
    }
    v
}

/// Rewrites the guarded chains inside the `{{ }}` and `{% %}` blocks of a template.
pub(crate) fn guard_template(src: &str) -> Cow<'_, str> {
    if !worth_scanning(src) {
        return Cow::Borrowed(src);
    }
    let mut rewrites = Vec::new();
    for (from, to) in code_blocks(src) {
        find_rewrites(src, from, to, &mut rewrites);
    }
    apply(src, rewrites)
}

/// Rewrites the guarded chains of a bare expression (a conditional).
pub(crate) fn guard_expr(src: &str) -> Cow<'_, str> {
    if !worth_scanning(src) {
        return Cow::Borrowed(src);
    }
    let mut rewrites = Vec::new();
    find_rewrites(src, 0, src.len(), &mut rewrites);
    apply(src, rewrites)
}

/// Cheap pre-check: a chain and a `default`/`defined` could be there.
fn worth_scanning(src: &str) -> bool {
    (src.contains('.') || src.contains('[')) && (src.contains('|') || src.contains("defined"))
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Ident,
    Str,
    Num,
    Open(u8),
    Close(u8),
    Punct(u8),
}

#[derive(Debug)]
struct Tok {
    kind: Kind,
    start: usize,
    end: usize,
    /// For brackets: the index of the matching bracket.
    mate: Option<usize>,
}

/// One step of a rewritten chain (byte ranges into the source).
#[derive(Debug)]
enum Step {
    /// `.name` (or `.0`): the key's text; `quoted` for names.
    Key {
        start: usize,
        end: usize,
        quoted: bool,
    },
    /// `[expr]`: the range of `expr`.
    Item { start: usize, end: usize },
}

/// The accessor range `start..end` of a chain is replaced by ` | __fmc_chain(steps)`.
#[derive(Debug)]
struct Rewrite {
    start: usize,
    end: usize,
    steps: Vec<Step>,
}

fn tokenize(src: &str, from: usize, to: usize) -> Vec<Tok> {
    let b = &src.as_bytes()[..to];
    let mut toks: Vec<Tok> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    let mut i = from;
    while i < b.len() {
        let c = b[i];
        let start = i;
        let kind = if c.is_ascii_whitespace() {
            i += 1;
            continue;
        } else if c == b'\'' || c == b'"' {
            i += 1;
            while i < b.len() && b[i] != c {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(b.len());
            Kind::Str
        } else if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
                i += 1;
            }
            if i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            }
            Kind::Num
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            Kind::Ident
        } else {
            i += 1;
            match c {
                b'(' | b'[' | b'{' => Kind::Open(c),
                b')' | b']' | b'}' => Kind::Close(c),
                _ => Kind::Punct(c),
            }
        };
        let idx = toks.len();
        let mut mate = None;
        match kind {
            Kind::Open(_) => open.push(idx),
            Kind::Close(_) => {
                if let Some(o) = open.pop() {
                    mate = Some(o);
                    toks[o].mate = Some(idx);
                }
            }
            _ => {}
        }
        toks.push(Tok {
            kind,
            start,
            end: i,
            mate,
        });
    }
    toks
}

/// Whether a token can end an operand (a `.x` or `[x]` may follow it).
fn operand_end(t: &Tok) -> bool {
    matches!(t.kind, Kind::Ident | Kind::Str | Kind::Num | Kind::Close(_))
}

fn text<'s>(src: &'s str, t: &Tok) -> &'s str {
    &src[t.start..t.end]
}

/// Whether `toks[k..]` starts with `| default`, `| d`, `is defined`, `is undefined`
/// or `is not defined`.
fn is_guard(src: &str, toks: &[Tok], k: usize) -> bool {
    let ident = |i: usize, names: &[&str]| {
        toks.get(i)
            .is_some_and(|t| t.kind == Kind::Ident && names.contains(&text(src, t)))
    };
    match toks[k].kind {
        Kind::Punct(b'|') => {
            ident(k + 1, &["default", "d"])
                && !toks.get(k + 2).is_some_and(|t| t.kind == Kind::Punct(b'.'))
        }
        Kind::Ident if text(src, &toks[k]) == "is" => {
            let j = if ident(k + 1, &["not"]) { k + 2 } else { k + 1 };
            ident(j, &["defined", "undefined"])
        }
        _ => false,
    }
}

/// Index of the first token of the postfix expression that ends at token `e`.
fn operand_start(toks: &[Tok], mut e: usize) -> usize {
    loop {
        let t = &toks[e];
        match (t.kind, t.mate) {
            (Kind::Close(_), Some(m)) => {
                let call_or_item = m > 0
                    && matches!(toks[m].kind, Kind::Open(b'(' | b'['))
                    && operand_end(&toks[m - 1]);
                if !call_or_item {
                    return m;
                }
                e = m - 1;
            }
            (Kind::Ident | Kind::Num, _) if e >= 2 && toks[e - 1].kind == Kind::Punct(b'.') => {
                e -= 2;
            }
            _ => return e,
        }
    }
}

/// Whether the bracket pair `open..close` holds a slice (`:` at its top level).
fn is_slice(toks: &[Tok], open: usize, close: usize) -> bool {
    let mut depth = 0usize;
    for t in &toks[open + 1..close] {
        match t.kind {
            Kind::Open(_) => depth += 1,
            Kind::Close(_) => depth = depth.saturating_sub(1),
            Kind::Punct(b':') if depth == 0 => return true,
            _ => {}
        }
    }
    false
}

/// Finds the chains guarded by `default`/`defined` in the code `src[from..to]`.
fn find_rewrites(src: &str, from: usize, to: usize, out: &mut Vec<Rewrite>) {
    let toks = tokenize(src, from, to);
    for k in 1..toks.len() {
        if !is_guard(src, &toks, k) {
            continue;
        }
        // Walk back over the accessors right before the guard.
        let mut steps = Vec::new();
        let mut j = k; // the accessors are toks[j..k]
        while j > 0 {
            let p = j - 1;
            let t = &toks[p];
            match (t.kind, t.mate) {
                (Kind::Ident | Kind::Num, _) if p >= 2 && toks[p - 1].kind == Kind::Punct(b'.') => {
                    steps.push(Step::Key {
                        start: t.start,
                        end: t.end,
                        quoted: t.kind == Kind::Ident,
                    });
                    j = p - 1;
                }
                (Kind::Close(b']'), Some(m))
                    if m > 0 && operand_end(&toks[m - 1]) && !is_slice(&toks, m, p) =>
                {
                    steps.push(Step::Item {
                        start: toks[m].end,
                        end: t.start,
                    });
                    j = m;
                }
                _ => break,
            }
        }
        if steps.is_empty() || j == 0 || !operand_end(&toks[j - 1]) {
            continue;
        }
        // `x | ansible.builtin.f` is a dotted filter name, not a chain.
        let base = operand_start(&toks, j - 1);
        if base > 0 {
            let word = |i: usize, w: &str| toks[i].kind == Kind::Ident && text(src, &toks[i]) == w;
            let is_filter_or_test_name = toks[base - 1].kind == Kind::Punct(b'|')
                || word(base - 1, "is")
                || (base >= 2 && word(base - 1, "not") && word(base - 2, "is"));
            if is_filter_or_test_name {
                continue;
            }
        }
        steps.reverse();
        out.push(Rewrite {
            start: toks[j].start,
            end: toks[k - 1].end,
            steps,
        });
    }
}

/// Applies the rewrites (which nest only inside `[...]` steps) to `src`.
fn apply(src: &str, mut rewrites: Vec<Rewrite>) -> Cow<'_, str> {
    if rewrites.is_empty() {
        return Cow::Borrowed(src);
    }
    rewrites.sort_by_key(|r| r.start);
    let mut out = String::with_capacity(src.len() + 32 * rewrites.len());
    emit(src, 0, src.len(), &rewrites, &mut out);
    Cow::Owned(out)
}

fn emit(src: &str, from: usize, to: usize, rewrites: &[Rewrite], out: &mut String) {
    let mut pos = from;
    for r in rewrites {
        if r.start < pos || r.end > to {
            continue;
        }
        out.push_str(&src[pos..r.start]);
        out.push_str(" | ");
        out.push_str(CHAIN_FILTER);
        out.push('(');
        for (n, step) in r.steps.iter().enumerate() {
            if n > 0 {
                out.push_str(", ");
            }
            match *step {
                Step::Key { start, end, quoted } => {
                    if quoted {
                        out.push('\'');
                        out.push_str(&src[start..end]);
                        out.push('\'');
                    } else {
                        out.push_str(&src[start..end]);
                    }
                }
                Step::Item { start, end } => {
                    out.push('(');
                    emit(src, start, end, rewrites, out);
                    out.push(')');
                }
            }
        }
        out.push(')');
        pos = r.end;
    }
    out.push_str(&src[pos..to]);
}

#[cfg(test)]
mod tests {
    use super::{guard_expr, guard_template};

    #[test]
    fn rewrites_guarded_chains() {
        let cases = [
            (
                "a.b.c | default('x')",
                "a | __fmc_chain('b', 'c') | default('x')",
            ),
            ("a['b'][\"c\"]|d(1)", "a | __fmc_chain(('b'), (\"c\"))|d(1)"),
            ("a.b.c is defined", "a | __fmc_chain('b', 'c') is defined"),
            (
                "not a.b is not defined",
                "not a | __fmc_chain('b') is not defined",
            ),
            ("a.0.b | default(1)", "a | __fmc_chain(0, 'b') | default(1)"),
            (
                "(a.b.c | default({})).d | default(1)",
                "(a | __fmc_chain('b', 'c') | default({})) | __fmc_chain('d') | default(1)",
            ),
            (
                "h[a.b | d(0)].c | d(2)",
                "h | __fmc_chain((a | __fmc_chain('b') | d(0)), 'c') | d(2)",
            ),
            (
                "x.get('k').y | default(1)",
                "x.get('k') | __fmc_chain('y') | default(1)",
            ),
        ];
        for (src, want) in cases {
            assert_eq!(guard_expr(src), want, "{src}");
        }
    }

    #[test]
    fn leaves_other_expressions_alone() {
        for src in [
            "a.b.c",
            "a | default(1)",
            "a.b | lower | default(1)",
            "x | ansible.builtin.to_json | default(1)",
            "l[1:] | default([])",
            "[a.b] | default(1)",
            "'a.b' | default(1)",
            "a.b.default",
            "f(a).b is string",
        ] {
            assert_eq!(guard_expr(src), src);
        }
    }

    #[test]
    fn only_code_blocks_of_templates() {
        assert_eq!(
            guard_template("a.b | d(1) {{ a.b | d(1) }}{# a.b | d #}{% if a.b is defined %}"),
            "a.b | d(1) {{ a | __fmc_chain('b') | d(1) }}{# a.b | d #}{% if a | __fmc_chain('b') is defined %}"
        );
        assert_eq!(
            guard_template("{% raw %}{{ a.b | d }}{% endraw %}"),
            "{% raw %}{{ a.b | d }}{% endraw %}"
        );
    }
}
