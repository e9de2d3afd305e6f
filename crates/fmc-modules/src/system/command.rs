//! `command`: runs a program with arguments, without shell interpretation.
//!
//! The free-form text is split into words on the controller (Python `shlex.split`
//! rules, as Ansible does) and each word is re-quoted, so `;`, `|`, `>` reach the
//! program as plain arguments. `$VAR`/`${VAR}` and a leading `~` are still expanded
//! (Ansible's `expand_argument_vars: true`, the default); unlike Python an unset
//! variable expands to the empty string. Inline `chdir=`, `creates=` ... words
//! are taken out of the free-form text by the playbook parser, before templating.
//!
//! This file also holds the machinery shared with `shell`: `creates`/`removes`
//! probing and the result fields (`rc`, `stdout`, `stdout_lines`, ...).

use fmc_core::lenient;
use fmc_core::module::parse_params;
use fmc_core::shell::quote;
use fmc_core::{
    Action, CheckSupport, ExecOutput, Map, ModuleCtx, ModuleError, ModuleInfo, Outcome, ParamError,
    Plan, PreparedModule, Probe, Value,
};
use serde::Deserialize;

use super::{Factory, invalid, lines_value, sections};

pub(crate) const FACTORY: Factory = Factory {
    info: ModuleInfo {
        name: "command",
        aliases: &[],
        params: &[
            "cmd",
            "argv",
            "chdir",
            "creates",
            "removes",
            "stdin",
            "stdin_add_newline",
            "strip_empty_ends",
            "expand_argument_vars",
        ],
        required: &[],
        free_form: true,
        check: CheckSupport::None,
        diff: false,
    },
    prepare,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(
        rename = "_raw_params",
        default,
        deserialize_with = "lenient::opt_string"
    )]
    raw: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    cmd: Option<String>,
    #[serde(default)]
    argv: Option<Vec<Value>>,
    #[serde(flatten)]
    common: CommonParams,
    #[serde(default = "yes", deserialize_with = "lenient::bool")]
    expand_argument_vars: bool,
}

/// Parameters shared by `command` and `shell`.
#[derive(Deserialize, Default)]
pub(super) struct CommonParams {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub chdir: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub creates: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub removes: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub stdin: Option<String>,
    #[serde(default = "yes", deserialize_with = "lenient::bool")]
    pub stdin_add_newline: bool,
    #[serde(default = "yes", deserialize_with = "lenient::bool")]
    pub strip_empty_ends: bool,
}

pub(super) fn yes() -> bool {
    true
}

fn prepare(info: &ModuleInfo, args: &Map) -> Result<Box<dyn PreparedModule>, ParamError> {
    let p: Params = parse_params(info, args)?;
    let words = match (p.raw, p.cmd, p.argv) {
        (Some(text), None, None) | (None, Some(text), None) => {
            split_words(&text).map_err(|e| invalid(info, "_raw_params", e))?
        }
        (None, None, Some(argv)) => argv
            .iter()
            .map(|v| {
                lenient::to_string(v)
                    .ok_or_else(|| invalid(info, "argv", format!("expected strings, got {v}")))
            })
            .collect::<Result<Vec<_>, _>>()?,
        (None, None, None) => {
            return Err(invalid(info, "cmd", "no command given"));
        }
        _ => {
            return Err(super::other(
                info,
                "only one of free-form text, 'cmd' and 'argv' may be given",
            ));
        }
    };
    if words.is_empty() || words.iter().all(|w| w.trim().is_empty()) {
        return Err(invalid(info, "cmd", "no command given"));
    }
    let line: Vec<String> = words
        .iter()
        .map(|w| {
            if p.expand_argument_vars {
                expanding_quote(w)
            } else {
                quote(w)
            }
        })
        .collect();
    let run = RunSpec {
        common: p.common,
        program: line.join(" "),
        cmd: Value::Array(words.into_iter().map(Value::String).collect()),
    };
    Ok(Box::new(Run(run)))
}

/// Splits a command line into words like Python's `shlex.split` (POSIX mode).
pub(crate) fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = vec![];
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err("no closing quotation".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x @ ('"' | '\\')) => cur.push(x),
                            Some(x) => {
                                cur.push('\\');
                                cur.push(x);
                            }
                            None => return Err("no closing quotation".into()),
                        },
                        Some(x) => cur.push(x),
                        None => return Err("no closing quotation".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(x) => cur.push(x),
                    None => return Err("no escaped character".into()),
                }
            }
            x => {
                in_word = true;
                cur.push(x);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// Quotes `w` for `sh` but lets `$NAME`, `${NAME}` and a leading `~`/`~/` expand.
/// Everything else (including `$(`, backquotes, globs) stays literal.
fn expanding_quote(w: &str) -> String {
    let (tilde, rest) = if w == "~" {
        return "~".into();
    } else if let Some(r) = w.strip_prefix("~/") {
        ("~/", r)
    } else {
        ("", w)
    };
    if !rest.contains('$') {
        return if rest.is_empty() {
            tilde.to_string()
        } else {
            format!("{tilde}{}", quote(rest))
        };
    }
    let mut out = format!("{tilde}\"");
    let chars: Vec<char> = rest.chars().collect();
    let mut i = 0;
    let is_name_start = |c: char| c.is_ascii_alphabetic() || c == '_';
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    while i < chars.len() {
        let c = chars[i];
        match c {
            '$' if chars.get(i + 1).is_some_and(|c| is_name_start(*c)) => {
                out.push('$');
                i += 1;
                while i < chars.len() && is_name(chars[i]) {
                    out.push(chars[i]);
                    i += 1;
                }
                continue;
            }
            '$' if chars.get(i + 1) == Some(&'{') => {
                let close = chars[i + 2..].iter().position(|c| *c == '}');
                if let Some(len) = close
                    && len > 0
                    && is_name_start(chars[i + 2])
                    && chars[i + 2..i + 2 + len].iter().all(|c| is_name(*c))
                {
                    out.extend(&chars[i..i + 3 + len]);
                    i += 3 + len;
                    continue;
                }
                out.push_str("\\$");
            }
            '$' | '"' | '\\' | '`' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
        i += 1;
    }
    out.push('"');
    out
}

/// What `command` and `shell` share once parameters are validated.
pub(super) struct RunSpec {
    pub common: CommonParams,
    /// The script fragment that runs the program (already quoted).
    pub program: String,
    /// The `cmd` result field: the argument list for `command`, the text for `shell`.
    pub cmd: Value,
}

impl RunSpec {
    fn chdir_prefix(&self) -> String {
        match &self.common.chdir {
            Some(d) => format!(
                "cd -- {} || {{ echo 'Unable to change directory before execution' >&2; exit 1; }}\n",
                quote(d)
            ),
            None => String::new(),
        }
    }

    pub fn check_support(&self) -> Option<CheckSupport> {
        (self.common.creates.is_some() || self.common.removes.is_some())
            .then_some(CheckSupport::Full)
    }

    /// Probes `creates`/`removes` (globs, relative to `chdir`) and `chdir` itself.
    pub fn probe(&self) -> Option<Probe> {
        if self.common.creates.is_none() && self.common.removes.is_none() {
            return None;
        }
        let mut s = String::from(
            "exists() { p=$1; IFS=; set -- $p; unset IFS; [ -e \"$1\" ] || [ -L \"$1\" ]; }\n",
        );
        if let Some(d) = &self.common.chdir {
            s.push_str(&format!(
                "cd -- {} 2>/dev/null || {{ {}; exit 0; }}\n",
                quote(d),
                super::section("nochdir")
            ));
        }
        for (name, path) in [
            ("creates", &self.common.creates),
            ("removes", &self.common.removes),
        ] {
            if let Some(p) = path {
                s.push_str(&format!(
                    "{}\nif exists {}; then echo yes; else echo no; fi\n",
                    super::section(name),
                    quote(p)
                ));
            }
        }
        Some(Probe::new(s))
    }

    pub fn plan(&self, probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        let mut result = Map::new();
        result.insert("cmd".into(), self.cmd.clone());
        if let Some(out) = probe {
            if out.rc != 0 {
                return Err(super::probe_failed(out));
            }
            let sec = sections(out);
            if sec.contains_key("nochdir") {
                return Ok(Plan {
                    failed: Some("Unable to change directory before execution".into()),
                    result,
                    ..Default::default()
                });
            }
            let answer = |name: &str| -> Result<Option<bool>, ModuleError> {
                match sec.get(name).map(|s| s.trim()) {
                    None => Ok(None),
                    Some("yes") => Ok(Some(true)),
                    Some("no") => Ok(Some(false)),
                    Some(other) => Err(ModuleError::Probe(format!("{name}: {other:?}"))),
                }
            };
            let skip = match (&self.common.creates, answer("creates")?) {
                (Some(c), Some(true)) => Some((c, "exists")),
                (Some(_), None) => return Err(ModuleError::Probe("missing creates".into())),
                _ => match (&self.common.removes, answer("removes")?) {
                    (Some(r), Some(false)) => Some((r, "does not exist")),
                    (Some(_), None) => return Err(ModuleError::Probe("missing removes".into())),
                    _ => None,
                },
            };
            if let Some((path, why)) = skip {
                result.insert("rc".into(), 0.into());
                result.insert(
                    "stdout".into(),
                    format!("skipped, since {path} {why}").into(),
                );
                result.insert(
                    "stdout_lines".into(),
                    lines_value(&format!("skipped, since {path} {why}")),
                );
                result.insert("stderr".into(), "".into());
                result.insert("stderr_lines".into(), Value::Array(vec![]));
                result.insert(
                    "msg".into(),
                    format!("Did not run command since '{path}' {why}").into(),
                );
                return Ok(Plan {
                    reason: Some(format!("{path} {why}")),
                    result,
                    ..Default::default()
                });
            }
        }
        let stdin = self.common.stdin.as_ref().map(|s| {
            let mut b = s.clone().into_bytes();
            if self.common.stdin_add_newline {
                b.push(b'\n');
            }
            b
        });
        let script = format!("{}{}", self.chdir_prefix(), self.program);
        let why = match (&self.common.creates, &self.common.removes) {
            (Some(c), _) => format!("run command ({c} does not exist)"),
            (None, Some(r)) => format!("run command ({r} exists)"),
            (None, None) => "run command".to_string(),
        };
        Ok(Plan {
            changes: vec![why],
            actions: vec![Action::Exec {
                script,
                stdin: Some(stdin.unwrap_or_default()),
                allow_failure: true,
                timeout: None,
            }],
            result,
            ..Default::default()
        })
    }

    pub fn finish(&self, plan: &Plan, outputs: &[ExecOutput]) -> Result<Outcome, ModuleError> {
        let Some(out) = outputs.first() else {
            return Ok(Outcome {
                changed: false,
                failed: plan.failed.clone(),
                result: plan.result.clone(),
                ..Default::default()
            });
        };
        let mut result = plan.result.clone();
        let failed = fill_output(&mut result, out, self.common.strip_empty_ends);
        Ok(Outcome {
            changed: true,
            failed,
            result,
            ..Default::default()
        })
    }
}

/// Puts `rc`, `stdout(_lines)`, `stderr(_lines)` into `result`; returns
/// `Some("non-zero return code")` when rc != 0 (then also sets `msg`).
pub(super) fn fill_output(result: &mut Map, out: &ExecOutput, strip: bool) -> Option<String> {
    let mut stdout = out.stdout_str();
    let mut stderr = out.stderr_str();
    if strip {
        stdout.truncate(stdout.trim_end_matches(['\r', '\n']).len());
        stderr.truncate(stderr.trim_end_matches(['\r', '\n']).len());
    }
    result.insert("rc".into(), out.rc.into());
    result.insert("stdout_lines".into(), lines_value(&stdout));
    result.insert("stderr_lines".into(), lines_value(&stderr));
    result.insert("stdout".into(), stdout.into());
    result.insert("stderr".into(), stderr.into());
    if out.rc != 0 {
        result.insert("msg".into(), "non-zero return code".into());
        Some("non-zero return code".into())
    } else {
        None
    }
}

/// A prepared `command` or `shell` task.
pub(super) struct Run(pub RunSpec);

impl PreparedModule for Run {
    fn check_support(&self) -> Option<CheckSupport> {
        self.0.check_support()
    }
    fn probe(&self, _ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        Ok(self.0.probe())
    }
    fn plan(&self, _ctx: &ModuleCtx<'_>, probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        self.0.plan(probe)
    }
    fn finish(&self, plan: &Plan, outputs: &[ExecOutput]) -> Result<Outcome, ModuleError> {
        self.0.finish(plan, outputs)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_shlex() {
        let cases: &[(&str, &[&str])] = &[
            ("echo hi", &["echo", "hi"]),
            ("  a   b  ", &["a", "b"]),
            ("echo 'a b' \"c d\"", &["echo", "a b", "c d"]),
            (
                r#"echo "a\"b" 'c\d' e\ f"#,
                &["echo", "a\"b", "c\\d", "e f"],
            ),
            (r#"echo "x\ny""#, &["echo", "x\\ny"]),
            ("echo ''", &["echo", ""]),
            ("a;b | c", &["a;b", "|", "c"]),
        ];
        for (input, want) in cases {
            assert_eq!(split_words(input).unwrap(), *want, "{input}");
        }
        assert!(split_words("echo 'open").is_err());
        assert!(split_words("echo \\").is_err());
    }

    #[test]
    fn expanding_quote_keeps_only_variables() {
        assert_eq!(expanding_quote("plain"), "plain");
        assert_eq!(expanding_quote("a b"), "'a b'");
        assert_eq!(expanding_quote("$HOME/x"), "\"$HOME/x\"");
        assert_eq!(expanding_quote("${HOME}x"), "\"${HOME}x\"");
        assert_eq!(expanding_quote("$(rm -rf /)"), "\"\\$(rm -rf /)\"");
        assert_eq!(expanding_quote("`id`$1"), "\"\\`id\\`\\$1\"");
        assert_eq!(expanding_quote("~/a b"), "~/'a b'");
        assert_eq!(expanding_quote("~"), "~");
        assert_eq!(expanding_quote("a~"), "'a~'");
    }
}
