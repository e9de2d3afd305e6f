//! YAML output the way Ansible's `to_yaml` / `to_nice_yaml` write it (PyYAML's emitter):
//! keys sorted, collections of scalars in flow style unless told otherwise, PyYAML's
//! quoting rules (YAML 1.1 look-alikes such as `'yes'` or `'0644'` are quoted), its
//! indentation quirks (`-   a: 1` at indent 4) and folding of long scalars at `width`.

use fmc_core::Value as Json;

/// How to write a document.
pub(crate) struct Style {
    /// `Some(true)`: every collection in flow style; `Some(false)`: block style;
    /// `None` (PyYAML's default): flow only for collections that hold no collections.
    pub(crate) flow: Option<bool>,
    pub(crate) indent: usize,
    pub(crate) width: usize,
    pub(crate) sort_keys: bool,
}

/// Writes `v` as one YAML document.
pub(crate) fn emit(v: &Json, style: &Style) -> String {
    let mut e = Emitter {
        out: String::new(),
        best_indent: if (2..10).contains(&style.indent) {
            style.indent
        } else {
            2
        },
        best_width: 80,
        flow_default: style.flow,
        sort_keys: style.sort_keys,
        indent: None,
        indents: Vec::new(),
        flow_level: 0,
        column: 0,
        whitespace: true,
        indention: true,
    };
    if style.width > e.best_indent * 2 {
        e.best_width = style.width;
    }
    e.node(v, Ctx::default());
    e.write_indent();
    e.out
}

/// Where a node sits (PyYAML's `*_context` flags).
#[derive(Clone, Copy, Default)]
struct Ctx {
    mapping: bool,
    simple_key: bool,
}

struct Emitter {
    out: String,
    best_indent: usize,
    best_width: usize,
    flow_default: Option<bool>,
    sort_keys: bool,
    indent: Option<usize>,
    indents: Vec<Option<usize>>,
    flow_level: usize,
    column: usize,
    whitespace: bool,
    indention: bool,
}

fn is_scalar(v: &Json) -> bool {
    !matches!(v, Json::Array(_) | Json::Object(_))
}

fn is_break(c: char) -> bool {
    matches!(c, '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

impl Emitter {
    fn entries<'a>(&self, m: &'a fmc_core::Map) -> Vec<(&'a String, &'a Json)> {
        let mut entries: Vec<_> = m.iter().collect();
        if self.sort_keys {
            entries.sort_by(|a, b| a.0.cmp(b.0));
        }
        entries
    }

    fn node(&mut self, v: &Json, ctx: Ctx) {
        match v {
            Json::Array(items) => {
                let flow = self.flow_default.unwrap_or(items.iter().all(is_scalar));
                if self.flow_level > 0 || flow || items.is_empty() {
                    self.flow_sequence(items);
                } else {
                    self.block_sequence(items, ctx);
                }
            }
            Json::Object(m) => {
                let flow = self.flow_default.unwrap_or(m.values().all(is_scalar));
                if self.flow_level > 0 || flow || m.is_empty() {
                    self.flow_mapping(m);
                } else {
                    self.block_mapping(m);
                }
            }
            scalar => {
                self.increase_indent(true, false);
                self.scalar(scalar, ctx);
                self.pop_indent();
            }
        }
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        self.indents.push(self.indent);
        self.indent = match self.indent {
            None if flow => Some(self.best_indent),
            None => Some(0),
            Some(i) if !indentless => Some(i + self.best_indent),
            Some(i) => Some(i),
        };
    }

    fn pop_indent(&mut self) {
        self.indent = self.indents.pop().flatten();
    }

    fn flow_sequence(&mut self, items: &[Json]) {
        self.write_indicator("[", true, true, false);
        self.flow_level += 1;
        self.increase_indent(true, false);
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.write_indicator(",", false, false, false);
            }
            if self.column > self.best_width {
                self.write_indent();
            }
            self.node(item, Ctx::default());
        }
        self.pop_indent();
        self.flow_level -= 1;
        self.write_indicator("]", false, false, false);
    }

    fn flow_mapping(&mut self, m: &fmc_core::Map) {
        self.write_indicator("{", true, true, false);
        self.flow_level += 1;
        self.increase_indent(true, false);
        for (i, (k, v)) in self.entries(m).into_iter().enumerate() {
            if i > 0 {
                self.write_indicator(",", false, false, false);
            }
            if self.column > self.best_width {
                self.write_indent();
            }
            if simple_key(k) {
                self.key(k, true);
                self.write_indicator(":", false, false, false);
            } else {
                self.write_indicator("?", true, false, false);
                self.key(k, false);
                if self.column > self.best_width {
                    self.write_indent();
                }
                self.write_indicator(":", true, false, false);
            }
            self.node(
                v,
                Ctx {
                    mapping: true,
                    simple_key: false,
                },
            );
        }
        self.pop_indent();
        self.flow_level -= 1;
        self.write_indicator("}", false, false, false);
    }

    fn block_sequence(&mut self, items: &[Json], ctx: Ctx) {
        let indentless = ctx.mapping && !self.indention;
        self.increase_indent(false, indentless);
        for item in items {
            self.write_indent();
            self.write_indicator("-", true, false, true);
            self.node(item, Ctx::default());
        }
        self.pop_indent();
    }

    fn block_mapping(&mut self, m: &fmc_core::Map) {
        self.increase_indent(false, false);
        for (k, v) in self.entries(m) {
            self.write_indent();
            if simple_key(k) {
                self.key(k, true);
                self.write_indicator(":", false, false, false);
            } else {
                self.write_indicator("?", true, false, true);
                self.key(k, false);
                self.write_indent();
                self.write_indicator(":", true, false, true);
            }
            self.node(
                v,
                Ctx {
                    mapping: true,
                    simple_key: false,
                },
            );
        }
        self.pop_indent();
    }

    fn key(&mut self, k: &str, simple: bool) {
        self.increase_indent(true, false);
        self.string(
            k,
            Ctx {
                mapping: true,
                simple_key: simple,
            },
        );
        self.pop_indent();
    }

    fn scalar(&mut self, v: &Json, ctx: Ctx) {
        match v {
            Json::String(s) => self.string(s, ctx),
            Json::Null => self.write_plain("null", true),
            Json::Bool(b) => self.write_plain(if *b { "true" } else { "false" }, true),
            Json::Number(n) => {
                let text = match (n.is_f64(), n.as_f64()) {
                    (true, Some(f)) => py_float(f),
                    _ => n.to_string(),
                };
                self.write_plain(&text, true);
            }
            Json::Array(_) | Json::Object(_) => {}
        }
    }

    /// PyYAML's `choose_scalar_style` and `process_scalar` for a string.
    fn string(&mut self, s: &str, ctx: Ctx) {
        let a = analyze(s);
        let split = !ctx.simple_key;
        let plain_ok = if self.flow_level > 0 {
            a.allow_flow_plain
        } else {
            a.allow_block_plain
        };
        if fmc_yaml::plain_is_string(s) && !(ctx.simple_key && (a.empty || a.multiline)) && plain_ok
        {
            self.write_plain(s, split);
        } else if a.allow_single_quoted && !(ctx.simple_key && a.multiline) {
            self.write_single_quoted(s, split);
        } else {
            self.write_double_quoted(s, split);
        }
    }

    fn write(&mut self, s: &str) {
        self.column += s.chars().count();
        self.out.push_str(s);
    }

    fn write_indicator(&mut self, ind: &str, need_ws: bool, whitespace: bool, indention: bool) {
        if !self.whitespace && need_ws {
            self.write(" ");
        }
        self.write(ind);
        self.whitespace = whitespace;
        self.indention = self.indention && indention;
    }

    fn write_indent(&mut self) {
        let indent = self.indent.unwrap_or(0);
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.write_line_break();
        }
        if self.column < indent {
            self.whitespace = true;
            let pad = " ".repeat(indent - self.column);
            self.write(&pad);
        }
    }

    fn write_line_break(&mut self) {
        self.out.push('\n');
        self.whitespace = true;
        self.indention = true;
        self.column = 0;
    }

    /// Line breaks inside a quoted scalar: a leading `\n` doubles, then the indent.
    fn write_breaks(&mut self, text: &[char]) {
        if text.first() == Some(&'\n') {
            self.write_line_break();
        }
        for &br in text {
            if br == '\n' {
                self.write_line_break();
            } else {
                self.out.push(br);
                self.whitespace = true;
                self.indention = true;
                self.column = 0;
            }
        }
        self.write_indent();
    }

    fn write_plain(&mut self, text: &str, split: bool) {
        if text.is_empty() {
            return;
        }
        if !self.whitespace {
            self.write(" ");
        }
        self.whitespace = false;
        self.indention = false;
        let t: Vec<char> = text.chars().collect();
        let (mut spaces, mut breaks) = (false, false);
        let mut start = 0;
        for end in 0..=t.len() {
            let ch = t.get(end).copied();
            if spaces {
                if ch != Some(' ') {
                    if start + 1 == end && self.column > self.best_width && split {
                        self.write_indent();
                        self.whitespace = false;
                        self.indention = false;
                    } else {
                        self.write(&t[start..end].iter().collect::<String>());
                    }
                    start = end;
                }
            } else if breaks {
                if !ch.is_some_and(is_break) {
                    self.write_breaks(&t[start..end]);
                    self.whitespace = false;
                    self.indention = false;
                    start = end;
                }
            } else if ch.is_none_or(|c| c == ' ' || is_break(c)) {
                self.write(&t[start..end].iter().collect::<String>());
                start = end;
            }
            if let Some(c) = ch {
                spaces = c == ' ';
                breaks = is_break(c);
            }
        }
    }

    fn write_single_quoted(&mut self, text: &str, split: bool) {
        self.write_indicator("'", true, false, false);
        let t: Vec<char> = text.chars().collect();
        let (mut spaces, mut breaks) = (false, false);
        let mut start = 0;
        for end in 0..=t.len() {
            let ch = t.get(end).copied();
            if spaces {
                if ch != Some(' ') {
                    if start + 1 == end
                        && self.column > self.best_width
                        && split
                        && start != 0
                        && end != t.len()
                    {
                        self.write_indent();
                    } else {
                        self.write(&t[start..end].iter().collect::<String>());
                    }
                    start = end;
                }
            } else if breaks {
                if !ch.is_some_and(is_break) {
                    self.write_breaks(&t[start..end]);
                    start = end;
                }
            } else if ch.is_none_or(|c| c == ' ' || c == '\'' || is_break(c)) && start < end {
                self.write(&t[start..end].iter().collect::<String>());
                start = end;
            }
            if ch == Some('\'') {
                self.write("''");
                start = end + 1;
            }
            if let Some(c) = ch {
                spaces = c == ' ';
                breaks = is_break(c);
            }
        }
        self.write_indicator("'", false, false, false);
    }

    fn write_double_quoted(&mut self, text: &str, split: bool) {
        self.write_indicator("\"", true, false, false);
        let t: Vec<char> = text.chars().collect();
        let mut start = 0;
        for end in 0..=t.len() {
            let ch = t.get(end).copied();
            if ch.is_none_or(needs_escape) {
                if start < end {
                    self.write(&t[start..end].iter().collect::<String>());
                    start = end;
                }
                if let Some(c) = ch {
                    self.write(&escape(c));
                    start = end + 1;
                }
            }
            if 0 < end
                && end + 1 < t.len()
                && (ch == Some(' ') || start >= end)
                // `end - start` is -1 right after an escape, as in PyYAML.
                && (self.column + end) as isize - start as isize > self.best_width as isize
                && split
            {
                let mut data: String = t[start.min(end)..end].iter().collect();
                data.push('\\');
                if start < end {
                    start = end;
                }
                self.write(&data);
                self.write_indent();
                self.whitespace = false;
                self.indention = false;
                if t.get(start) == Some(&' ') {
                    self.write("\\");
                }
            }
        }
        self.write_indicator("\"", false, false, false);
    }
}

fn needs_escape(c: char) -> bool {
    matches!(
        c,
        '"' | '\\' | '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{FEFF}'
    ) || !((' '..='~').contains(&c)
        || ('\u{A0}'..='\u{D7FF}').contains(&c)
        || ('\u{E000}'..='\u{FFFD}').contains(&c))
}

fn escape(c: char) -> String {
    let short = match c {
        '\0' => "0",
        '\x07' => "a",
        '\x08' => "b",
        '\t' => "t",
        '\n' => "n",
        '\x0B' => "v",
        '\x0C' => "f",
        '\r' => "r",
        '\x1B' => "e",
        '"' => "\"",
        '\\' => "\\",
        '\u{85}' => "N",
        '\u{A0}' => "_",
        '\u{2028}' => "L",
        '\u{2029}' => "P",
        _ => "",
    };
    let n = u32::from(c);
    if !short.is_empty() {
        format!("\\{short}")
    } else if n <= 0xFF {
        format!("\\x{n:02X}")
    } else if n <= 0xFFFF {
        format!("\\u{n:04X}")
    } else {
        format!("\\U{n:08X}")
    }
}

/// A key fits on one line before `:` (PyYAML's `check_simple_key`).
fn simple_key(k: &str) -> bool {
    let a = analyze(k);
    k.chars().count() < 128 && !a.empty && !a.multiline
}

/// Which styles can write a string (PyYAML's `analyze_scalar`, with `allow_unicode`).
struct Analysis {
    empty: bool,
    multiline: bool,
    allow_flow_plain: bool,
    allow_block_plain: bool,
    allow_single_quoted: bool,
}

fn is_ws(c: Option<char>) -> bool {
    c.is_none_or(|c| matches!(c, '\0' | ' ' | '\t' | '\r') || is_break(c))
}

fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            empty: true,
            multiline: false,
            allow_flow_plain: false,
            allow_block_plain: true,
            allow_single_quoted: true,
        };
    }
    let t: Vec<char> = s.chars().collect();
    let mut block_ind = s.starts_with("---") || s.starts_with("...");
    let mut flow_ind = block_ind;
    let (mut line_breaks, mut special) = (false, false);
    let (mut leading, mut trailing, mut break_space, mut space_break) =
        (false, false, false, false);
    let (mut prev_space, mut prev_break) = (false, false);
    for (i, &c) in t.iter().enumerate() {
        let followed_by_ws = is_ws(t.get(i + 1).copied());
        let preceded_by_ws = i == 0 || is_ws(Some(t[i - 1]));
        if i == 0 {
            if "#,[]{}&*!|>'\"%@`".contains(c) {
                flow_ind = true;
                block_ind = true;
            }
            if c == '?' || c == ':' {
                flow_ind = true;
                block_ind |= followed_by_ws;
            }
            if c == '-' && followed_by_ws {
                flow_ind = true;
                block_ind = true;
            }
        } else {
            if ",?[]{}".contains(c) {
                flow_ind = true;
            }
            if c == ':' {
                flow_ind = true;
                block_ind |= followed_by_ws;
            }
            if c == '#' && preceded_by_ws {
                flow_ind = true;
                block_ind = true;
            }
        }
        if is_break(c) {
            line_breaks = true;
        }
        if !(c == '\n' || (' '..='~').contains(&c)) {
            let printable = c == '\u{85}'
                || ('\u{A0}'..='\u{D7FF}').contains(&c)
                || ('\u{E000}'..='\u{FFFD}').contains(&c)
                || ('\u{10000}'..'\u{10FFFF}').contains(&c);
            if !printable || c == '\u{FEFF}' {
                special = true;
            }
        }
        let last = i + 1 == t.len();
        if c == ' ' {
            leading |= i == 0;
            trailing |= last;
            break_space |= prev_break;
            prev_space = true;
            prev_break = false;
        } else if is_break(c) {
            leading |= i == 0;
            trailing |= last;
            space_break |= prev_space;
            prev_space = false;
            prev_break = true;
        } else {
            prev_space = false;
            prev_break = false;
        }
    }
    let mut flow_plain = !(leading || trailing || break_space || space_break || special);
    let mut block_plain = flow_plain;
    let single = !(break_space || space_break || special);
    if line_breaks {
        flow_plain = false;
        block_plain = false;
    }
    if flow_ind {
        flow_plain = false;
    }
    if block_ind {
        block_plain = false;
    }
    Analysis {
        empty: false,
        multiline: line_breaks,
        allow_flow_plain: flow_plain,
        allow_block_plain: block_plain,
        allow_single_quoted: single,
    }
}

/// PyYAML's float text: Python's `repr`, with `.0` added before a bare exponent.
fn py_float(f: f64) -> String {
    if f.is_nan() {
        return ".nan".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.to_string();
    }
    // Shortest round-trip digits and the decimal exponent, as Python's repr picks them.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if f.is_sign_negative() { "-" } else { "" };
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        let body = if point <= 0 {
            format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
        } else if (point as usize) >= digits.len() {
            format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
        } else {
            let (a, b) = digits.split_at(point as usize);
            format!("{a}.{b}")
        };
        format!("{sign}{body}")
    } else {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            ".0".to_string()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{first}{frac}e{esign}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_like_python() {
        for (f, want) in [
            (1.0, "1.0"),
            (1e20, "1.0e+20"),
            (-0.0, "-0.0"),
            (0.1, "0.1"),
            (1.5e-5, "1.5e-05"),
            (123.456, "123.456"),
            (1e16, "1.0e+16"),
            (1234567890123456.0, "1234567890123456.0"),
            (0.0001, "0.0001"),
        ] {
            assert_eq!(py_float(f), want, "{f}");
        }
    }
}
