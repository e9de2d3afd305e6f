//! Reporters: Ansible-like text (with a live progress line on a terminal) and a
//! JSON event stream. Data goes to stdout; warnings to stderr.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fmc_core::{Event, FileDiff, HostRecap, HostStatus};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::args::{OutputFormat, Progress};
use crate::out;

struct State {
    bar: Option<ProgressBar>,
    play_hosts: usize,
    done_in_task: usize,
    task_started: Option<(String, Instant)>,
    timings: Vec<(String, Duration)>,
}

pub struct Reporter {
    format: OutputFormat,
    verbose: u8,
    show_diff: bool,
    color: bool,
    progress: bool,
    state: Mutex<State>,
}

const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const RED: &str = "\x1b[31m";
const CYAN: &str = "\x1b[36m";
const PURPLE: &str = "\x1b[35m";
const RESET: &str = "\x1b[0m";

impl Reporter {
    pub fn new(format: OutputFormat, progress: Progress, verbose: u8, show_diff: bool) -> Self {
        let tty = std::io::stdout().is_terminal();
        let color = tty && std::env::var_os("NO_COLOR").is_none();
        let progress = format == OutputFormat::Human
            && match progress {
                Progress::Always => true,
                Progress::Never => false,
                Progress::Auto => tty && std::env::var_os("CI").is_none(),
            };
        Reporter {
            format,
            verbose,
            show_diff,
            color,
            progress,
            state: Mutex::new(State {
                bar: None,
                play_hosts: 0,
                done_in_task: 0,
                task_started: None,
                timings: vec![],
            }),
        }
    }

    fn paint(&self, color: &str, s: &str) -> String {
        if self.color {
            format!("{color}{s}{RESET}")
        } else {
            s.to_string()
        }
    }

    fn line(&self, st: &State, text: &str) {
        match &st.bar {
            Some(b) if !b.is_hidden() => b.println(text),
            _ => out::line(text),
        }
    }

    fn header(&self, kind: &str, name: &str) -> String {
        Self::banner(&format!("{kind} [{name}] "))
    }

    /// `head` padded with stars to Ansible's 79 columns, after an empty line.
    fn banner(head: &str) -> String {
        let stars = 79usize.saturating_sub(head.chars().count()).max(3);
        format!("\n{head}{}", "*".repeat(stars))
    }

    fn close_task(st: &mut State) {
        if let Some((name, t)) = st.task_started.take() {
            st.timings.push((name, t.elapsed()));
        }
    }

    /// Prints the final recap (combined over all playbooks).
    pub fn finish(&self, recap: &BTreeMap<String, HostRecap>) {
        let mut st = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Self::close_task(&mut st);
        if let Some(b) = st.bar.take() {
            b.finish_and_clear();
        }
        match self.format {
            OutputFormat::Json => {
                let e = Event::Recap {
                    hosts: recap.clone(),
                };
                out::line(&serde_json::to_string(&e).unwrap_or_default());
            }
            OutputFormat::Human => {
                out::line(&Self::banner("PLAY RECAP "));
                let width = recap.keys().map(|h| h.len()).max().unwrap_or(0).max(26);
                for (h, r) in recap {
                    let hc = if r.failed > 0 || r.unreachable > 0 {
                        RED
                    } else if r.changed > 0 {
                        YELLOW
                    } else {
                        GREEN
                    };
                    let f = |label: &str, n: u32, c: &str| {
                        let s = format!("{label}={n:<4}");
                        if n > 0 { self.paint(c, &s) } else { s }
                    };
                    out::line(&format!(
                        "{} : {} {} {} {} {}",
                        self.paint(hc, &format!("{h:<width$}")),
                        f("ok", r.ok, GREEN),
                        f("changed", r.changed, YELLOW),
                        f("unreachable", r.unreachable, RED),
                        f("failed", r.failed, RED),
                        f("skipped", r.skipped, CYAN),
                    ));
                }
                if !st.timings.is_empty() {
                    let mut t = st.timings.clone();
                    t.sort_by_key(|x| std::cmp::Reverse(x.1));
                    let total: Duration = t.iter().map(|x| x.1).sum();
                    out::line(&format!(
                        "\nTASK TIMINGS (slowest of {} tasks, {:.2}s in tasks)",
                        t.len(),
                        total.as_secs_f64()
                    ));
                    for (name, d) in t.iter().take(if self.verbose > 0 { 20 } else { 5 }) {
                        out::line(&format!("  {:>8.3}s  {name}", d.as_secs_f64()));
                    }
                }
            }
        }
    }

    /// Announces a playbook: the first JSON event of its run (`playbook`, `check`,
    /// `diff`); with `-v`, Ansible's `PLAYBOOK:` header.
    pub fn playbook_start(&self, path: &Path, check: bool, diff: bool) {
        let playbook = path.display().to_string();
        match self.format {
            OutputFormat::Json => out::line(
                &serde_json::json!({
                    "event": "playbook_start",
                    "playbook": playbook,
                    "check": check,
                    "diff": diff,
                })
                .to_string(),
            ),
            OutputFormat::Human if self.verbose >= 1 => {
                let st = self
                    .state
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                self.line(
                    &st,
                    Self::banner(&format!("PLAYBOOK: {playbook} ")).trim_start(),
                );
            }
            OutputFormat::Human => {}
        }
    }

    fn diff_text(&self, d: &FileDiff) -> String {
        let diff = similar::TextDiff::from_lines(&d.before, &d.after);
        let text = diff
            .unified_diff()
            .context_radius(3)
            .header(&d.before_header, &d.after_header)
            .to_string();
        if !self.color {
            return text;
        }
        text.lines()
            .map(|l| {
                if l.starts_with('+') && !l.starts_with("+++") {
                    self.paint(GREEN, l)
                } else if l.starts_with('-') && !l.starts_with("---") {
                    self.paint(RED, l)
                } else if l.starts_with("@@") {
                    self.paint(CYAN, l)
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn human(&self, e: Event) {
        let mut st = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match e {
            Event::PlaybookStart { .. } | Event::Recap { .. } => {}
            Event::PlayStart { name, hosts } => {
                Self::close_task(&mut st);
                st.play_hosts = hosts.len();
                if self.progress && st.bar.is_none() {
                    let b = ProgressBar::with_draw_target(
                        Some(hosts.len() as u64),
                        ProgressDrawTarget::stderr(),
                    );
                    b.set_style(
                        ProgressStyle::with_template(
                            "{spinner} {elapsed_precise} [{pos}/{len} hosts] {msg}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    b.enable_steady_tick(Duration::from_millis(120));
                    st.bar = Some(b);
                }
                let text = self.header("PLAY", &name);
                self.line(&st, &text);
            }
            Event::TaskStart {
                name,
                location,
                handler,
            } => {
                Self::close_task(&mut st);
                st.task_started = Some((name.clone(), Instant::now()));
                st.done_in_task = 0;
                if let Some(b) = &st.bar {
                    b.set_length(st.play_hosts as u64);
                    b.set_position(0);
                    b.set_message(name.clone());
                }
                let kind = if handler { "RUNNING HANDLER" } else { "TASK" };
                let mut text = self.header(kind, &name);
                if self.verbose >= 2 && !location.is_empty() {
                    text.push_str(&format!("\ntask path: {location}"));
                }
                self.line(&st, &text);
            }
            Event::HostResult {
                host,
                status,
                ignored,
                delegated_to,
                item,
                msg,
                diff,
                changes,
                result,
                duration_ms,
                ..
            } => {
                if item.is_none() {
                    st.done_in_task += 1;
                    if let Some(b) = &st.bar {
                        b.set_position(st.done_in_task as u64);
                    }
                }
                let target = match &delegated_to {
                    Some(d) => format!("[{host} -> {d}]"),
                    None => format!("[{host}]"),
                };
                let item_s = item.map(|i| format!(" => (item={i})")).unwrap_or_default();
                // The result's fields, with the message first when there is one.
                let body = |r: &Option<fmc_core::Value>, msg: &Option<String>| -> String {
                    let mut shown = serde_json::Map::new();
                    if let Some(m) = msg {
                        shown.insert("msg".into(), m.clone().into());
                    }
                    if let Some(fmc_core::Value::Object(fields)) = r {
                        for (k, v) in fields {
                            shown.entry(k.clone()).or_insert_with(|| v.clone());
                        }
                    }
                    if shown.is_empty() {
                        return String::new();
                    }
                    serde_json::to_string_pretty(&shown).unwrap_or_default()
                };
                let timing = if self.verbose >= 2 {
                    format!(" ({:.3}s)", duration_ms as f64 / 1000.0)
                } else {
                    String::new()
                };
                let mut text = match status {
                    HostStatus::Ok => {
                        let mut s = self.paint(GREEN, &format!("ok: {target}{item_s}"));
                        if result.is_some() {
                            s.push_str(
                                &self.paint(GREEN, &format!(" => {}", body(&result, &None))),
                            );
                        }
                        s
                    }
                    HostStatus::Changed => {
                        let mut s = self.paint(YELLOW, &format!("changed: {target}{item_s}"));
                        if result.is_some() {
                            s.push_str(
                                &self.paint(YELLOW, &format!(" => {}", body(&result, &None))),
                            );
                        }
                        s
                    }
                    HostStatus::Skipped => {
                        let mut s = self.paint(CYAN, &format!("skipping: {target}{item_s}"));
                        if self.verbose >= 1
                            && let Some(m) = &msg
                        {
                            s.push_str(&self.paint(CYAN, &format!(" => {m}")));
                        }
                        s
                    }
                    HostStatus::Failed => {
                        let kind = if item_s.is_empty() { "fatal" } else { "failed" };
                        let mut s = self.paint(
                            RED,
                            &format!(
                                "{kind}: {target}{item_s}: FAILED! => {}",
                                body(&result, &msg)
                            ),
                        );
                        if ignored {
                            s.push_str(&format!("\n{}", self.paint(CYAN, "...ignoring")));
                        }
                        s
                    }
                    HostStatus::Unreachable => self.paint(
                        RED,
                        &format!("fatal: {target}: UNREACHABLE! => {}", body(&None, &msg)),
                    ),
                };
                text.push_str(&timing);
                if self.verbose >= 1 && !changes.is_empty() {
                    for c in &changes {
                        text.push_str(&format!("\n  {}", self.paint(YELLOW, &format!("~ {c}"))));
                    }
                }
                if self.show_diff
                    && let Some(d) = &diff
                {
                    let dt = self.diff_text(d);
                    if !dt.is_empty() {
                        text.push('\n');
                        text.push_str(dt.trim_end());
                    }
                }
                self.line(&st, &text);
            }
            Event::Retry {
                host,
                attempt,
                retries,
                ..
            } => {
                let text = self.paint(
                    PURPLE,
                    &format!(
                        "FAILED - RETRYING: [{host}] ({} retries left).",
                        retries.saturating_sub(attempt)
                    ),
                );
                self.line(&st, &text);
            }
            Event::Warning { msg } => {
                let text = self.paint(PURPLE, &format!("[WARNING]: {msg}"));
                match &st.bar {
                    Some(b) if !b.is_hidden() => b.println(text),
                    _ => out::err_line(&text),
                }
            }
            Event::PlayEnd { .. } => Self::close_task(&mut st),
        }
    }
}

impl fmc_runner::EventSink for Reporter {
    fn emit(&self, event: Event) {
        match self.format {
            OutputFormat::Json => {
                // The combined recap is written by `finish`, as the last line.
                if matches!(event, Event::Recap { .. }) {
                    return;
                }
                out::line(&serde_json::to_string(&event).unwrap_or_default());
            }
            OutputFormat::Human => self.human(event),
        }
    }
}
