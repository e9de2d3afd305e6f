//! The part of Python's `ast.literal_eval` that INI inventories rely on.
//!
//! Ansible passes every INI variable value (host lines and `[group:vars]`) through
//! `literal_eval`: `True` is a boolean, `22` an integer, `'x'` a string, `[1, 2]` a
//! list; anything that is not a Python literal (`yes`, `0644`, `a b`) stays the
//! original text.

use fmc_core::{Map, Value};

/// Nesting deeper than this is not parsed (the text stays a string).
const MAX_DEPTH: usize = 64;

/// The value Ansible gives the INI text `text`.
pub(crate) fn ini_value(text: &str) -> Value {
    let mut p = Parser {
        s: text.chars().collect(),
        pos: 0,
    };
    match p.value(0) {
        Some(v) if p.at_end() => v,
        _ => Value::String(text.to_string()),
    }
}

struct Parser {
    s: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.s.get(self.pos).copied()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.s.get(self.pos + n).copied()
    }

    /// Skips blanks and a `#` comment (which runs to the end of the text).
    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if c == '#' {
                self.pos = self.s.len();
            } else if c.is_whitespace() {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    fn at_end(&mut self) -> bool {
        self.skip_ws();
        self.pos == self.s.len()
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.skip_ws();
        let c = self.peek()?;
        match c {
            '[' => {
                self.pos += 1;
                self.sequence(']', depth).map(Value::Array)
            }
            '(' => self.paren(depth),
            '{' => self.brace(depth),
            '+' | '-' => {
                self.pos += 1;
                self.skip_ws();
                let n = self.number(c == '-')?;
                Some(n)
            }
            c if c.is_ascii_digit()
                || (c == '.' && self.peek_at(1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                self.number(false)
            }
            _ => {
                if let Some(s) = self.strings() {
                    return Some(Value::String(s));
                }
                let word = self.identifier();
                match word.as_str() {
                    "True" => Some(Value::Bool(true)),
                    "False" => Some(Value::Bool(false)),
                    "None" => Some(Value::Null),
                    _ => None,
                }
            }
        }
    }

    fn identifier(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
            self.pos += 1;
        }
        self.s[start..self.pos].iter().collect()
    }

    /// Comma-separated values up to `close` (trailing comma allowed).
    fn sequence(&mut self, close: char, depth: usize) -> Option<Vec<Value>> {
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                return Some(items);
            }
            items.push(self.value(depth + 1)?);
            if !self.eat(',') {
                return self.eat(close).then_some(items);
            }
        }
    }

    /// `()` and `(a, b)` are tuples (lists here); `(a)` is just `a`.
    fn paren(&mut self, depth: usize) -> Option<Value> {
        self.pos += 1;
        if self.eat(')') {
            return Some(Value::Array(vec![]));
        }
        let first = self.value(depth + 1)?;
        if self.eat(')') {
            return Some(first);
        }
        if !self.eat(',') {
            return None;
        }
        let mut rest = self.sequence(')', depth)?;
        rest.insert(0, first);
        Some(Value::Array(rest))
    }

    /// A dict, or a set (which Ansible turns into a list).
    fn brace(&mut self, depth: usize) -> Option<Value> {
        self.pos += 1;
        if self.eat('}') {
            return Some(Value::Object(Map::new()));
        }
        let first = self.value(depth + 1)?;
        if self.eat(':') {
            let mut map = Map::new();
            let mut key = first;
            loop {
                let v = self.value(depth + 1)?;
                map.insert(dict_key(&key)?, v);
                if self.eat('}') {
                    return Some(Value::Object(map));
                }
                if !self.eat(',') {
                    return None;
                }
                if self.eat('}') {
                    return Some(Value::Object(map));
                }
                key = self.value(depth + 1)?;
                if !self.eat(':') {
                    return None;
                }
            }
        }
        let mut items = vec![first];
        if self.eat(',') {
            items.extend(self.sequence('}', depth)?);
        } else if !self.eat('}') {
            return None;
        }
        let mut unique: Vec<Value> = Vec::new();
        for item in items {
            if !unique.contains(&item) {
                unique.push(item);
            }
        }
        Some(Value::Array(unique))
    }

    /// One or more adjacent string literals, concatenated as Python does.
    fn strings(&mut self) -> Option<String> {
        let mut out: Option<String> = None;
        loop {
            self.skip_ws();
            let start = self.pos;
            let raw = match self.peek() {
                Some('r' | 'R') => {
                    self.pos += 1;
                    true
                }
                Some('u' | 'U') => {
                    self.pos += 1;
                    false
                }
                _ => false,
            };
            match self.peek() {
                Some(q @ ('\'' | '"')) => {
                    self.pos += 1;
                    let s = self.string_body(q, raw)?;
                    out.get_or_insert_with(String::new).push_str(&s);
                }
                _ => {
                    self.pos = start;
                    return out;
                }
            }
        }
    }

    fn string_body(&mut self, quote: char, raw: bool) -> Option<String> {
        let mut out = String::new();
        loop {
            let c = self.peek()?;
            self.pos += 1;
            if c == quote {
                return Some(out);
            }
            if c != '\\' {
                out.push(c);
                continue;
            }
            let e = self.peek()?;
            self.pos += 1;
            if raw {
                out.push('\\');
                out.push(e);
                continue;
            }
            match e {
                '\\' | '\'' | '"' => out.push(e),
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'a' => out.push('\u{7}'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'v' => out.push('\u{b}'),
                '0'..='7' => {
                    let mut n = e.to_digit(8)?;
                    for _ in 0..2 {
                        match self.peek().and_then(|d| d.to_digit(8)) {
                            Some(d) => {
                                n = n * 8 + d;
                                self.pos += 1;
                            }
                            None => break,
                        }
                    }
                    out.push(char::from_u32(n)?);
                }
                'x' => out.push(self.hex_escape(2)?),
                'u' => out.push(self.hex_escape(4)?),
                'U' => out.push(self.hex_escape(8)?),
                other => {
                    out.push('\\');
                    out.push(other);
                }
            }
        }
    }

    fn hex_escape(&mut self, len: usize) -> Option<char> {
        let digits: String = self.s.get(self.pos..self.pos + len)?.iter().collect();
        if !digits.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        self.pos += len;
        char::from_u32(u32::from_str_radix(&digits, 16).ok()?)
    }

    /// A Python int or float literal (underscores allowed between digits).
    fn number(&mut self, negative: bool) -> Option<Value> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            let exponent_sign = matches!(c, '+' | '-')
                && self.pos > start
                && matches!(self.s[self.pos - 1], 'e' | 'E')
                && !self.s[start..self.pos]
                    .iter()
                    .any(|c| matches!(c, 'x' | 'X'));
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' || exponent_sign {
                self.pos += 1;
            } else {
                break;
            }
        }
        let text: String = self.s[start..self.pos].iter().collect();
        let sign = if negative { "-" } else { "" };
        let lower = text.to_ascii_lowercase();
        for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
            if let Some(digits) = lower.strip_prefix(prefix) {
                let digits = strip_underscores(digits, true)?;
                return int_value(i128::from_str_radix(&format!("{sign}{digits}"), radix).ok()?);
            }
        }
        let is_float = lower.contains(['.', 'e']);
        let digits = strip_underscores(&lower, false)?;
        if is_float {
            if !valid_float(&digits) {
                return None;
            }
            let f: f64 = format!("{sign}{digits}").parse().ok()?;
            if !f.is_finite() {
                return None;
            }
            return serde_json::Number::from_f64(f).map(Value::Number);
        }
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if digits.len() > 1 && digits.starts_with('0') && digits.bytes().any(|b| b != b'0') {
            return None; // Python 3 rejects leading zeros such as 0644
        }
        int_value(format!("{sign}{digits}").parse::<i128>().ok()?)
    }
}

/// Removes `_` separators, each of which must sit between two digits.
fn strip_underscores(s: &str, allow_leading: bool) -> Option<String> {
    let b = s.as_bytes();
    for (i, c) in b.iter().enumerate() {
        if *c == b'_' {
            let before_ok = if i == 0 {
                allow_leading
            } else {
                b[i - 1].is_ascii_alphanumeric()
            };
            let after_ok = b.get(i + 1).is_some_and(|n| n.is_ascii_alphanumeric());
            if !before_ok || !after_ok {
                return None;
            }
        }
    }
    Some(s.replace('_', ""))
}

/// `1.5`, `1.`, `.5`, `1e3`, `1.5e-3` (digits only, at most one dot before the exponent).
fn valid_float(s: &str) -> bool {
    let (mantissa, exp) = match s.split_once('e') {
        Some((m, e)) => (m, Some(e)),
        None => (s, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = digits(int) && digits(frac) && !(int.is_empty() && frac.is_empty());
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exp_ok
}

fn int_value(n: i128) -> Option<Value> {
    if let Ok(i) = i64::try_from(n) {
        Some(Value::from(i))
    } else {
        u64::try_from(n).ok().map(Value::from)
    }
}

/// Python dict keys become JSON object keys: strings stay, scalars become their
/// Python text; unhashable keys make the whole value plain text.
fn dict_key(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(true) => Some("True".into()),
        Value::Bool(false) => Some("False".into()),
        Value::Null => Some("None".into()),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_literals() {
        let cases = [
            ("22", json!(22)),
            ("-5", json!(-5)),
            ("1_000", json!(1000)),
            ("0x1F", json!(31)),
            ("0o17", json!(15)),
            ("1.5", json!(1.5)),
            ("1e3", json!(1000.0)),
            ("True", json!(true)),
            ("False", json!(false)),
            ("None", json!(null)),
            ("'quoted'", json!("quoted")),
            ("\"a\\tb\"", json!("a\tb")),
            ("r'a\\d'", json!("a\\d")),
            ("'a' 'b'", json!("ab")),
            ("'03#pa33w0rd'", json!("03#pa33w0rd")),
            ("[1, 'two', [3]]", json!([1, "two", [3]])),
            ("(1, 2)", json!([1, 2])),
            ("(7)", json!(7)),
            ("{'a': 1, 2: [True]}", json!({"a": 1, "2": [true]})),
            ("{'a': 1,}", json!({"a": 1})),
            ("{1, 1, 2}", json!([1, 2])),
            ("23 # a comment", json!(23)),
        ];
        for (text, want) in cases {
            assert_eq!(ini_value(text), want, "{text}");
        }
    }

    #[test]
    fn non_literals_stay_text() {
        for text in [
            "yes",
            "no",
            "true",
            "0644",
            "10-5",
            "56L",
            "1__0",
            "_1",
            "1_",
            "a b",
            "web01",
            "--1",
            "[1, 2",
            "{'a' 1}",
            "'open",
            "1.2.3",
            "1e",
            "1j",
            "192.168.0.1",
            "",
            "99999999999999999999999999999999999999999",
            "{[1]: 2}",
            "f'x'",
            "b'x'",
        ] {
            assert_eq!(ini_value(text), json!(text), "{text}");
        }
    }
}
