//! Results: medians, ratios to fmc-run, the markdown tables and BENCHMARKS.md.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use super::tools::Tool;
use super::workloads::Workload;

/// What one tool did in one cell.
#[derive(Default)]
pub struct ToolCell {
    /// Wall time of every converged run.
    pub walls: Vec<Duration>,
    /// Peak RSS (KiB) of every run that reported one.
    pub rss_kib: Vec<u64>,
    /// Why the cell failed (the first failing run); no median is reported then.
    pub error: Option<String>,
    /// A run was killed after this per-run timeout: the time is only a lower bound.
    pub timed_out: Option<Duration>,
    /// Why the cell was not measured at all (not a failure of this cell).
    pub skipped: Option<String>,
}

impl ToolCell {
    /// Whether more runs of this tool are pointless in this cell.
    pub fn finished(&self) -> bool {
        self.error.is_some() || self.timed_out.is_some() || self.skipped.is_some()
    }

    /// Median wall time of a cell whose runs all converged in time.
    pub fn median(&self) -> Option<Duration> {
        if self.finished() {
            return None;
        }
        median(&self.walls)
    }

    /// The median, or the timeout as a lower bound (`true`).
    fn estimate(&self) -> Option<(Duration, bool)> {
        match (self.median(), self.timed_out) {
            (Some(m), _) => Some((m, false)),
            (None, Some(t)) if self.error.is_none() => Some((t, true)),
            _ => None,
        }
    }
}

/// One (workload, N) cell of a table.
pub struct Cell {
    pub workload: Workload,
    pub n: usize,
    pub tools: BTreeMap<Tool, ToolCell>,
}

/// Everything BENCHMARKS.md says besides the tables.
pub struct Context {
    pub command: String,
    pub date: String,
    pub machine: Vec<String>,
    pub load_start: String,
    pub load_end: String,
    pub versions: Vec<String>,
    pub elapsed: Duration,
    pub setup: Vec<String>,
}

/// Median of a sample (mean of the two middle values for an even count).
pub fn median(xs: &[Duration]) -> Option<Duration> {
    let mut v = xs.to_vec();
    v.sort_unstable();
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[n / 2]),
        n => Some((v[n / 2 - 1] + v[n / 2]) / 2),
    }
}

/// `123 ms` below a second, `1.23 s` above.
pub fn fmt_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

/// `tool / fmc`; `(r, true)` when the tool timed out, so `r` is a lower bound.
fn ratio(cell: &Cell, tool: Tool) -> Option<(f64, bool)> {
    let fmc = cell.tools.get(&Tool::Fmc)?.median()?;
    let (t, lower) = cell.tools.get(&tool)?.estimate()?;
    (!fmc.is_zero()).then(|| (t.as_secs_f64() / fmc.as_secs_f64(), lower))
}

fn fmt_ratio(r: Option<(f64, bool)>) -> String {
    match r {
        None => "n/a".into(),
        Some((r, true)) => format!("> {r:.1}x"),
        Some((r, false)) => format!("{r:.1}x"),
    }
}

fn peak_rss_mib(cell: &Cell) -> Option<f64> {
    let c = cell.tools.get(&Tool::Fmc)?;
    c.rss_kib.iter().max().map(|k| *k as f64 / 1024.0)
}

fn tool_text(cell: &Cell, tool: Tool) -> String {
    match cell.tools.get(&tool) {
        None => "not run".into(),
        Some(c) => match (&c.error, &c.skipped, c.estimate()) {
            (Some(e), _, _) if tool == Tool::Fmc => format!("n/a (fmc-run failed: {})", escape(e)),
            (Some(e), _, _) => format!("FAILED ({})", escape(e)),
            (None, Some(why), _) => format!("not measured ({})", escape(why)),
            (None, None, Some((t, true))) => format!("> {} (timed out)", fmt_duration(t)),
            (None, None, Some((m, false))) => fmt_duration(m),
            (None, None, None) => "no run".into(),
        },
    }
}

fn escape(s: &str) -> String {
    let s: String = s.chars().take(140).collect();
    s.replace('|', "\\|")
}

/// The markdown table of one workload.
pub fn table(workload: Workload, cells: &[Cell]) -> String {
    let mut s = format!("### {}\n\n", workload.title());
    s.push_str(
        "| N | fmc-run median | ansible median | pyinfra median | ansible/fmc | pyinfra/fmc | fmc peak RSS | converged? | runs fmc/ansible/pyinfra |\n\
         |---:|---:|---:|---:|---:|---:|---:|---|---:|\n",
    );
    for cell in cells.iter().filter(|c| c.workload == workload) {
        let list = |f: fn(&ToolCell) -> bool| -> Vec<&str> {
            cell.tools
                .iter()
                .filter(|(_, c)| f(c))
                .map(|(t, _)| t.label())
                .collect()
        };
        let failed = list(|c| c.error.is_some());
        let slow = list(|c| c.error.is_none() && c.timed_out.is_some());
        let converged = match (failed.is_empty(), slow.is_empty()) {
            (true, true) => "yes".to_string(),
            (false, _) => format!("FAILED: {}", failed.join(", ")),
            (true, false) => format!("timed out: {}", slow.join(", ")),
        };
        let runs: Vec<String> = Tool::ALL
            .iter()
            .map(|t| {
                cell.tools
                    .get(t)
                    .map_or_else(|| "-".into(), |c| c.walls.len().to_string())
            })
            .collect();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell.n,
            tool_text(cell, Tool::Fmc),
            tool_text(cell, Tool::Ansible),
            tool_text(cell, Tool::Pyinfra),
            fmt_ratio(ratio(cell, Tool::Ansible)),
            fmt_ratio(ratio(cell, Tool::Pyinfra)),
            peak_rss_mib(cell).map_or_else(|| "n/a".into(), |m| format!("{m:.1} MiB")),
            converged,
            runs.join("/"),
        );
    }
    s
}

/// Checks the issue's goals against the cells; one line each.
pub fn targets(cells: &[Cell]) -> Vec<String> {
    let mut out = Vec::new();
    for cell in cells
        .iter()
        .filter(|c| matches!(c.workload, Workload::W2NoChange | Workload::W3NoChange))
    {
        let fmc = cell.tools.get(&Tool::Fmc).and_then(ToolCell::median);
        for (tool, goal) in [(Tool::Ansible, 10.0), (Tool::Pyinfra, 3.0)] {
            let what = format!(
                "{} N={}: {} / fmc-run >= {goal}x",
                cell.workload.key(),
                cell.n,
                tool.label()
            );
            out.push(match ratio(cell, tool) {
                Some((r, false)) if r >= goal => format!("- {what}: met ({r:.1}x)"),
                Some((r, true)) if r >= goal => {
                    format!("- {what}: met (> {r:.1}x, {} timed out)", tool.label())
                }
                Some((r, false)) => format!("- {what}: MISSED ({r:.1}x, {:.1}x short)", goal / r),
                Some((r, true)) => format!(
                    "- {what}: not measured (> {r:.1}x, {} timed out)",
                    tool.label()
                ),
                None => format!("- {what}: not measured"),
            });
        }
        if cell.workload == Workload::W2NoChange && cell.n == 200 {
            out.push(match fmc {
                Some(m) if m < Duration::from_secs(5) => {
                    format!("- w2-nochange N=200 under 5 s: met ({})", fmt_duration(m))
                }
                Some(m) => format!(
                    "- w2-nochange N=200 under 5 s: MISSED ({}, {:.1}x over)",
                    fmt_duration(m),
                    m.as_secs_f64() / 5.0
                ),
                None => "- w2-nochange N=200 under 5 s: not measured".into(),
            });
        }
    }
    let at200: Vec<f64> = cells
        .iter()
        .filter(|c| c.n == 200)
        .filter_map(peak_rss_mib)
        .collect();
    if let Some(max) = at200.iter().copied().reduce(f64::max) {
        let verdict = if max < 100.0 { "met" } else { "MISSED" };
        out.push(format!(
            "- fmc-run peak RSS at N=200 under 100 MiB: {verdict} ({max:.1} MiB)"
        ));
    } else {
        out.push("- fmc-run peak RSS at N=200 under 100 MiB: not measured".into());
    }
    out
}

/// The whole BENCHMARKS.md.
pub fn markdown(ctx: &Context, cells: &[Cell]) -> String {
    let mut s = String::from("# Benchmarks: fmc-run vs ansible-playbook vs pyinfra\n\n");
    let _ = write!(
        s,
        "Generated by `cargo xtask bench` on {}: the latest run replaces this file.\n\n\
         ## Reproduce\n\n```sh\n{}\n```\n\n\
         `cargo xtask bench --quick` runs N = 1 and 10 only; `--hosts 1,10,50`, `--reps K`, \
         `--tools fmc,ansible,pyinfra`, `--keep` (keep hosts, keys and generated files under \
         `target/bench`), `--timeout SECS` (per run), `--budget SECS` (per tool and cell), \
         `--port-base P` (the first port tried), `--fmc-bin PATH` (time that fmc-run binary \
         instead of the workspace build) adjust it; `cargo xtask bench` alone is the full run. \
         Run it as root: it \
         installs what it needs (openssh-server, time, python3-venv, a virtualenv with ansible-core \
         and pyinfra from PyPI, a release build of fmc-run) and creates the login `fmcbench`. \
         Per-run logs stay in `target/bench/logs`.\n\n",
        ctx.date, ctx.command
    );
    s.push_str("## Setup\n\n");
    for l in &ctx.setup {
        let _ = writeln!(s, "- {l}");
    }
    s.push_str("\n## Machine\n\n");
    for l in &ctx.machine {
        let _ = writeln!(s, "- {l}");
    }
    let _ = writeln!(
        s,
        "- load average at start: {}; at end: {} (the end value also counts the bench's own host \
         processes: at N = 200 every probe is a process on this machine)",
        ctx.load_start, ctx.load_end
    );
    let _ = writeln!(
        s,
        "- the machine is shared with other builds and is noisy: compare ratios measured in the same run, \
         not absolute times across runs\n- total bench time: {:.1} min (goal for the full run: 30 min)",
        ctx.elapsed.as_secs_f64() / 60.0
    );
    s.push_str("\n## Versions\n\n");
    for v in &ctx.versions {
        let _ = writeln!(s, "- {v}");
    }
    s.push_str(
        "\n## Results\n\nMedian wall time of each tool per cell (the runs alternate the tools, rotating \
         their order every repetition); ratios are tool median / fmc-run median from the same run. \
         A cell is timed only if every run converged: each run's own report must show, for every host, \
         the expected number of changes (W1: 1, W2 first: 4, no-change re-runs: 0) and no failure or \
         unreachable host; otherwise it says FAILED with the first reason. fmc peak RSS is the maximum \
         resident set of the fmc-run process over the cell's runs (GNU time `%M`).\n\n",
    );
    for w in Workload::TABLE {
        s.push_str(&table(w, cells));
        s.push('\n');
    }
    s.push_str("## Targets (goals, measured not asserted)\n\n");
    for l in targets(cells) {
        let _ = writeln!(s, "{l}");
    }
    s.push_str(
        "\nWhere a target is missed, the gap above is the measured factor; the analysis at the end says \
         what dominates.\n\n## Notes\n\n",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn median_of_odd_and_even_samples() {
        assert_eq!(median(&[ms(30), ms(10), ms(20)]), Some(ms(20)));
        assert_eq!(median(&[ms(40), ms(10), ms(20), ms(30)]), Some(ms(25)));
        assert_eq!(median(&[]), None);
    }

    fn cell(fmc: Option<&str>, ansible_ms: u64) -> Cell {
        let mut tools = BTreeMap::new();
        tools.insert(
            Tool::Fmc,
            ToolCell {
                walls: vec![ms(100), ms(120), ms(110)],
                rss_kib: vec![10240, 20480],
                error: fmc.map(str::to_string),
                ..ToolCell::default()
            },
        );
        tools.insert(
            Tool::Ansible,
            ToolCell {
                walls: vec![ms(ansible_ms); 3],
                ..ToolCell::default()
            },
        );
        Cell {
            workload: Workload::W2NoChange,
            n: 200,
            tools,
        }
    }

    #[test]
    fn table_reports_ratio_rss_and_failures() {
        let t = table(Workload::W2NoChange, &[cell(None, 2200)]);
        assert!(
            t.contains(
                "| 200 | 110 ms | 2.20 s | not run | 20.0x | n/a | 20.0 MiB | yes | 3/3/- |"
            ),
            "{t}"
        );
        let t = table(Workload::W2NoChange, &[cell(Some("no recap"), 2200)]);
        assert!(t.contains("n/a (fmc-run failed: no recap)"), "{t}");
        assert!(t.contains("FAILED: fmc-run"), "{t}");
        assert!(!t.contains("20.0x"), "{t}");
    }

    #[test]
    fn a_timeout_gives_a_lower_bound_not_a_failure() {
        let mut c = cell(None, 2200);
        if let Some(a) = c.tools.get_mut(&Tool::Ansible) {
            a.walls.clear();
            a.timed_out = Some(Duration::from_secs(300));
        }
        let t = table(Workload::W2NoChange, &[c]);
        assert!(
            t.contains("| > 300.00 s (timed out) | not run | > 2727.3x |"),
            "{t}"
        );
        assert!(t.contains("timed out: ansible-playbook"), "{t}");
        assert!(!t.contains("FAILED"), "{t}");
    }

    #[test]
    fn targets_say_by_how_much() {
        let lines = targets(&[cell(None, 550)]);
        assert!(lines.iter().any(|l| l.contains("ansible-playbook / fmc-run >= 10x: MISSED (5.0x, 2.0x short)")), "{lines:?}");
        assert!(
            lines.iter().any(|l| l.contains("under 5 s: met (110 ms)")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("under 100 MiB: met (20.0 MiB)")),
            "{lines:?}"
        );
    }
}
