//! Benchmarks against ansible-playbook and pyinfra (`cargo xtask bench`).
//!
//! Starts a fleet of plain sshd hosts on 127.0.0.1 (hosts.rs), installs the tools
//! (tools.rs), generates the shared workloads (workloads.rs), times every cell with the
//! tools alternating, and writes the tables to BENCHMARKS.md (report.rs).

mod hosts;
mod report;
mod tools;
mod workloads;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use report::{Cell, Context};
use tools::{Tool, Toolchain};
use workloads::Workload;

/// Runs per tool and cell (when its runs finish), before the time budget may stop it.
const MIN_RUNS: usize = 3;

/// Set by Ctrl-C / SIGTERM; the running tool is killed and the bench cleans up.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Marks the hand-written part of BENCHMARKS.md that a new run keeps.
const ANALYSIS_MARKER: &str =
    "<!-- analysis: everything below is hand-written and kept across runs -->";

const USAGE: &str = "usage: cargo xtask bench [--quick] [--hosts 1,10,50,200] [--reps K] \
[--tools fmc,ansible,pyinfra] [--keep] [--timeout SECS] [--budget SECS] [--port-base P] [--workdir DIR] \
[--fmc-bin PATH]";

struct Options {
    quick: bool,
    sizes: Vec<usize>,
    reps: usize,
    tools: Vec<Tool>,
    keep: bool,
    timeout: Duration,
    budget: Duration,
    port_base: u16,
    workdir: PathBuf,
    /// An fmc-run binary to time instead of the workspace's release build.
    fmc_bin: Option<PathBuf>,
}

fn parse_args(args: &[String], workspace: &Path) -> Result<Options, String> {
    let mut o = Options {
        quick: false,
        sizes: Vec::new(),
        reps: 0,
        tools: Tool::ALL.to_vec(),
        keep: false,
        timeout: Duration::ZERO,
        budget: Duration::ZERO,
        port_base: 42000,
        workdir: workspace.join("target/bench"),
        fmc_bin: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--quick" => o.quick = true,
            "--keep" => o.keep = true,
            "--hosts" => {
                o.sizes = value("--hosts")?
                    .split(',')
                    .map(|s| match s.trim().parse::<usize>() {
                        Ok(n) if (1..=1000).contains(&n) => Ok(n),
                        _ => Err(format!(
                            "--hosts: '{s}' is not a host count between 1 and 1000"
                        )),
                    })
                    .collect::<Result<_, _>>()?
            }
            "--reps" => {
                let v = value("--reps")?;
                o.reps = match v.parse() {
                    Ok(k) if k >= 1 => k,
                    _ => return Err(format!("--reps: '{v}' is not a positive number")),
                };
            }
            "--tools" => {
                let v = value("--tools")?;
                let mut tools = v
                    .split(',')
                    .map(|t| Tool::parse(t.trim()))
                    .collect::<Result<Vec<_>, _>>()?;
                tools.sort();
                tools.dedup();
                o.tools = tools;
            }
            "--timeout" => o.timeout = seconds("--timeout", &value("--timeout")?)?,
            "--budget" => o.budget = seconds("--budget", &value("--budget")?)?,
            "--port-base" => {
                let v = value("--port-base")?;
                o.port_base = v
                    .parse()
                    .map_err(|_| format!("--port-base: '{v}' is not a port"))?;
            }
            "--workdir" => o.workdir = PathBuf::from(value("--workdir")?),
            "--fmc-bin" => o.fmc_bin = Some(PathBuf::from(value("--fmc-bin")?)),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown bench option '{other}'\n{USAGE}")),
        }
    }
    if o.sizes.is_empty() {
        o.sizes = if o.quick {
            vec![1, 10]
        } else {
            vec![1, 10, 50, 200]
        };
    }
    // Sized so that --quick takes about 5 minutes and the full run about 25 (goal: 30)
    // on a 2-core machine: ansible-playbook needs ~0.3 s of CPU per task and host, so its
    // big cells hit the timeout and are reported as lower bounds, or are not run when a
    // smaller fleet already shows they would (see `predicted_over`).
    if o.reps == 0 {
        o.reps = if o.quick { 3 } else { 5 };
    }
    if o.timeout.is_zero() {
        o.timeout = Duration::from_secs(60);
    }
    if o.budget.is_zero() {
        o.budget = Duration::from_secs(if o.quick { 15 } else { 20 });
    }
    o.sizes.sort_unstable();
    o.sizes.dedup();
    if o.tools.is_empty() {
        return Err("--tools selects no tool".into());
    }
    Ok(o)
}

fn seconds(flag: &str, v: &str) -> Result<Duration, String> {
    match v.parse::<u64>() {
        Ok(s) if s > 0 => Ok(Duration::from_secs(s)),
        _ => Err(format!("{flag}: '{v}' is not a positive number of seconds")),
    }
}

/// `cargo xtask bench ...`
pub fn main(args: &[String]) -> Result<(), String> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("xtask has no parent directory")?
        .to_path_buf();
    let o = parse_args(args, &workspace)?;
    let started = Instant::now();
    let load_start = loadavg();
    if INTERRUPTED.load(Ordering::SeqCst) {
        return Err("interrupted".into());
    }
    if let Err(e) = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst)) {
        eprintln!(
            "bench: warning: cannot catch Ctrl-C ({e}); an interrupted run may leave sshd processes"
        );
    }
    check_root()?;
    install_prerequisites()?;
    fs::create_dir_all(&o.workdir).map_err(|e| format!("{}: {e}", o.workdir.display()))?;
    let workdir =
        fs::canonicalize(&o.workdir).map_err(|e| format!("{}: {e}", o.workdir.display()))?;
    let logs = workdir.join("logs");
    let _ = fs::remove_dir_all(&logs);
    let toolchain = tools::prepare(&workdir, &workspace, &o.tools, o.fmc_bin.as_deref())?;
    for (t, v) in &toolchain.versions {
        eprintln!("bench: {}: {v}", t.label());
    }

    let control_dir = PathBuf::from(format!("/tmp/fmc-bench-cp-{}", std::process::id()));
    let _cleanup = Cleanup {
        workdir: workdir.clone(),
        control_dir: control_dir.clone(),
        keep: o.keep,
    };
    fs::create_dir_all(&control_dir).map_err(|e| format!("{}: {e}", control_dir.display()))?;
    for d in ["hosts", "sshd", "gen"] {
        let _ = fs::remove_dir_all(workdir.join(d));
    }
    let key = new_client_key(&workdir)?;
    let pubkey =
        fs::read_to_string(key.with_extension("pub")).map_err(|e| format!("client key: {e}"))?;
    hosts::ensure_user(&pubkey)?;
    let max_n = o.sizes.iter().copied().max().unwrap_or(1);
    eprintln!(
        "bench: starting {max_n} sshd hosts on free ports of 127.0.0.1 from {} up",
        o.port_base + 1
    );
    let fleet_started = Instant::now();
    let fleet = hosts::start(&workdir, max_n, o.port_base, &o.tools)?;
    // Dropped before the fleet: clients disconnect before their sshd goes away.
    let masters = AnsibleMasters(control_dir.clone());
    eprintln!(
        "bench: {max_n} hosts answering after {}",
        report::fmt_duration(fleet_started.elapsed())
    );
    let g = workloads::generate(&workdir, &key, &fleet.hosts, &o.sizes, &control_dir)?;

    let mut cells = Vec::new();
    let mut history = History::default();
    for &n in &o.sizes {
        run_size(
            &o,
            &toolchain,
            &g,
            &fleet.hosts[..n],
            n,
            &mut cells,
            &mut history,
        )?;
    }
    drop(masters);
    drop(fleet);

    let ctx = Context {
        command: command_line(args),
        date: utc_now(),
        machine: machine(),
        load_start,
        load_end: loadavg(),
        versions: toolchain
            .versions
            .iter()
            .map(|(t, v)| format!("{}: `{v}`", t.label()))
            .collect(),
        elapsed: started.elapsed(),
        setup: setup_lines(&o),
    };
    for w in Workload::TABLE {
        println!("{}", report::table(w, &cells));
    }
    for l in report::targets(&cells) {
        println!("{l}");
    }
    let path = workspace.join("BENCHMARKS.md");
    let mut md = report::markdown(&ctx, &cells);
    md.push_str(&failure_notes(&cells));
    let kept = fs::read_to_string(&path)
        .ok()
        .and_then(|old| old.find(ANALYSIS_MARKER).map(|i| old[i..].to_string()));
    md.push('\n');
    md.push_str(
        &kept.unwrap_or_else(|| format!("{ANALYSIS_MARKER}\n\n## Analysis\n\n(not written yet)\n")),
    );
    fs::write(&path, md).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!(
        "bench: wrote {}; total elapsed {:.1} min",
        path.display(),
        started.elapsed().as_secs_f64() / 60.0
    );
    Ok(())
}

/// Runs at smaller fleet sizes, per tool and workload.
#[derive(Default)]
struct History(BTreeMap<(Tool, Workload), Vec<PastRun>>);

/// One earlier run: fleet size, wall time, killed after the timeout.
struct PastRun {
    n: usize,
    wall: Duration,
    timed_out: bool,
}

impl History {
    fn record(&mut self, t: Tool, w: Workload, n: usize, wall: Duration, timed_out: bool) {
        self.0
            .entry((t, w))
            .or_default()
            .push(PastRun { n, wall, timed_out });
    }

    /// Why a run of `t` on `w` at `n` hosts would not finish within `timeout`, judging
    /// from smaller fleets: a run there timed out (more hosts never make a tool
    /// faster), or the slowest run at the largest smaller N of at least 10 hosts,
    /// scaled linearly to `n`, exceeds twice the timeout. From 10 hosts on, every
    /// tool's time grew by at least half the factor of hosts on this 2-core machine;
    /// below that fixed costs dominate and nothing is extrapolated.
    fn predicted_over(&self, t: Tool, w: Workload, n: usize, timeout: Duration) -> Option<String> {
        let runs: Vec<&PastRun> = self.0.get(&(t, w))?.iter().filter(|r| r.n < n).collect();
        if let Some(r) = runs.iter().find(|r| r.timed_out) {
            return Some(format!("it timed out at N={}", r.n));
        }
        let m = runs.iter().map(|r| r.n).filter(|m| *m >= 10).max()?;
        let wall = runs.iter().filter(|r| r.n == m).map(|r| r.wall).max()?;
        let scaled = wall.mul_f64(n as f64 / m as f64);
        (scaled > timeout * 2).then(|| {
            format!(
                "it took {} at N={m}, so about {} at N={n} if linear, over twice the {} s limit",
                report::fmt_duration(wall),
                report::fmt_duration(scaled),
                timeout.as_secs()
            )
        })
    }
}

/// Times every workload at fleet size `n`.
fn run_size(
    o: &Options,
    tc: &Toolchain,
    g: &workloads::Generated,
    hosts: &[hosts::Host],
    n: usize,
    cells: &mut Vec<Cell>,
    history: &mut History,
) -> Result<(), String> {
    let run = |t: Tool, w: Workload, tag: String| {
        let r = tc.run(
            t,
            w,
            hosts,
            g,
            &format!("n{n}-{}-{}-{tag}", w.key(), t.key()),
            limit(o, w),
        );
        interrupted().map(|()| r)
    };
    // Untimed warm-up: page cache, Python bytecode, ansible's ControlPersist masters.
    for &t in &o.tools {
        if let Err(e) = run(t, Workload::W1, "warmup".into())?.check {
            eprintln!("bench: N={n} warm-up {}: {e}", t.label());
        }
    }
    // Per tool: why its hosts are not converged for the next no-change cell, if they are not.
    let mut not_converged: BTreeMap<Tool, String> = BTreeMap::new();
    for w in [
        Workload::W1,
        Workload::W2First,
        Workload::W2NoChange,
        Workload::W3First,
        Workload::W3NoChange,
    ] {
        if w == Workload::W3First {
            // Converges the hosts for the W3 no-change cell (one run, not tabulated).
            for &t in &o.tools {
                if let Some(why) = history.predicted_over(t, w, n, limit(o, w)) {
                    eprintln!("bench: N={n} {} {}: not run: {why}", w.key(), t.label());
                    not_converged.insert(t, format!("its W3 first run was not run: {why}"));
                    continue;
                }
                hosts::reset(hosts, t, w.subdir())?;
                let r = run(t, w, "setup".into())?;
                progress(n, w, t, 0, 1, &r);
                history.record(t, w, n, r.wall, r.timed_out);
                record_convergence(&mut not_converged, t, w, &r, limit(o, w));
            }
            continue;
        }
        let mut cell = Cell {
            workload: w,
            n,
            tools: BTreeMap::new(),
        };
        if matches!(w, Workload::W2NoChange | Workload::W3NoChange) {
            for (t, why) in &not_converged {
                cell.tools.entry(*t).or_default().skipped = Some(why.clone());
            }
        }
        for &t in &o.tools {
            if let Some(why) = history.predicted_over(t, w, n, limit(o, w)) {
                let tc_cell = cell.tools.entry(t).or_default();
                if tc_cell.skipped.is_none() {
                    eprintln!("bench: N={n} {} {}: not run: {why}", w.key(), t.label());
                    tc_cell.skipped = Some(format!("not run: {why}"));
                    if w == Workload::W2First {
                        not_converged.insert(t, format!("its W2 first run was not run: {why}"));
                    }
                }
            }
        }
        for rep in 0..o.reps {
            let mut order = o.tools.clone();
            order.rotate_left(rep % o.tools.len());
            for t in order {
                let tc_cell = cell.tools.entry(t).or_default();
                // Every tool that finishes gets MIN_RUNS runs; more only within the budget.
                let spent: Duration = tc_cell.walls.iter().sum();
                if tc_cell.finished() || (tc_cell.walls.len() >= MIN_RUNS && spent >= o.budget) {
                    continue;
                }
                if w == Workload::W2First {
                    hosts::reset(hosts, t, w.subdir())?;
                }
                let r = run(t, w, rep.to_string())?;
                progress(n, w, t, rep, o.reps, &r);
                if w == Workload::W2First {
                    record_convergence(&mut not_converged, t, w, &r, o.timeout);
                }
                tc_cell.rss_kib.extend(r.rss_kib);
                history.record(t, w, n, r.wall, r.timed_out);
                match r.check {
                    Ok(()) => tc_cell.walls.push(r.wall),
                    Err(_) if r.timed_out => tc_cell.timed_out = Some(o.timeout),
                    Err(e) => tc_cell.error = Some(e),
                }
            }
        }
        cells.push(cell);
    }
    Ok(())
}

/// The per-run limit: twice `--timeout` for the untimed W3 first run that converges the
/// hosts for the W3 no-change cell, so a tool slow to converge can still be measured
/// on re-runs.
fn limit(o: &Options, w: Workload) -> Duration {
    if w == Workload::W3First {
        o.timeout * 2
    } else {
        o.timeout
    }
}

/// After a first run: the next no-change cell of `t` is measurable only if it converged.
fn record_convergence(
    not_converged: &mut BTreeMap<Tool, String>,
    t: Tool,
    w: Workload,
    r: &tools::RunResult,
    timeout: Duration,
) {
    let what = if w == Workload::W2First { "W2" } else { "W3" };
    match &r.check {
        Ok(()) => {
            not_converged.remove(&t);
        }
        Err(_) if r.timed_out => {
            let why = format!(
                "its {what} first run timed out after {} s",
                timeout.as_secs()
            );
            not_converged.insert(t, why);
        }
        Err(e) => {
            not_converged.insert(t, format!("its {what} first run failed: {e}"));
        }
    }
}

fn progress(n: usize, w: Workload, t: Tool, rep: usize, k: usize, r: &tools::RunResult) {
    let verdict = match &r.check {
        Ok(()) => "converged".to_string(),
        Err(e) => format!("FAILED: {e}"),
    };
    eprintln!(
        "bench: N={n} {} {} run {}/{k}: {} {verdict}",
        w.key(),
        t.label(),
        rep + 1,
        report::fmt_duration(r.wall)
    );
}

fn interrupted() -> Result<(), String> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        Err("interrupted".into())
    } else {
        Ok(())
    }
}

/// Asks ansible's ControlPersist masters (ssh processes it left running) to exit.
struct AnsibleMasters(PathBuf);

impl Drop for AnsibleMasters {
    fn drop(&mut self) {
        if Toolchain::stop_ansible_masters(&self.0) > 0 {
            // Let the sshd session processes see the disconnect while their listener lives.
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

/// Removes the run's files (not the virtualenv) and revokes the run's key.
struct Cleanup {
    workdir: PathBuf,
    control_dir: PathBuf,
    keep: bool,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.control_dir);
        // The authorized key of this run is useless once its private key is gone.
        let _ = fs::write(format!("/home/{}/.ssh/authorized_keys", hosts::USER), "");
        if !self.keep {
            for d in ["hosts", "sshd", "gen", "keys", "pyinfra_known_hosts"] {
                let p = self.workdir.join(d);
                let _ = if p.is_dir() {
                    fs::remove_dir_all(&p)
                } else {
                    fs::remove_file(&p)
                };
            }
        }
    }
}

fn failure_notes(cells: &[Cell]) -> String {
    let mut s = String::from(
        "- ansible-playbook keeps its ssh connections between runs (ControlPersist=60s, its default): its \
         warm runs skip the ssh handshake; fmc-run and pyinfra connect afresh on every run.\n\
         - pyinfra runs with `-y --no-wait --parallel N`: no change-detection pass, hosts do not wait \
         for each other between operations (its fastest mode).\n",
    );
    for c in cells {
        for (t, tc) in &c.tools {
            let what = match (&tc.error, &tc.skipped, tc.timed_out) {
                (Some(e), _, _) => format!("FAILED: {e}"),
                (None, Some(why), _) => format!("not measured: {why}"),
                (None, None, Some(limit)) => format!("a run timed out after {} s", limit.as_secs()),
                (None, None, None) => continue,
            };
            s.push_str(&format!(
                "- {} N={} {}: {what}\n",
                c.workload.key(),
                c.n,
                t.label()
            ));
        }
    }
    s
}

fn setup_lines(o: &Options) -> Vec<String> {
    vec![
        format!(
            "hosts: one `/usr/sbin/sshd -D` per host on 127.0.0.1, on free ports from {} up (busy ports skipped), each with its own ed25519 host key \
             and directory tree; `MaxStartups 500:30:1000`, `MaxSessions 50`, `UsePAM no`, sftp via internal-sftp",
            o.port_base + 1
        ),
        format!(
            "login `{}` with shell `/bin/sh` and an empty profile (no `.bashrc`), key generated per run; \
             workloads write only under each host's `bench_root` (one subdirectory per tool)",
            hosts::USER
        ),
        "ansible-playbook: ansible.cfg with `pipelining = True`, `forks` = N (`-f N`), `gathering = explicit`, \
         `host_key_checking = False`, no callbacks enabled, ControlPersist=60s (default)"
            .into(),
        "fmc-run: `target/release/fmc-run -i inventory.ini PLAYBOOK --output json -f N` with \
         `FMC_HOST_KEY_CHECKING=off`, on the same playbook, role and inventory files as ansible-playbook"
            .into(),
        "pyinfra: the same operations as a Python deploy (files.directory, files.put, files.line, \
         files.template, server.shell) with an inventory.py; `-y --json --no-wait --parallel N`"
            .into(),
        format!(
            "workloads: W1 one command task; W2 directory + copy + lineinfile + template (first run from an empty \
             directory, then the no-change re-run); W3 a 50-task role (14 directories, 12 copies, 12 lines, \
             12 templates), converged once then timed on re-runs; N = {}",
            o.sizes.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")
        ),
        format!(
            "repetitions (the `runs` column counts the converged runs per tool): up to {} per tool and cell; every \
             tool gets at least {} runs (fewer only when --reps is lower), then no more once its runs in the cell add up to {} s; \
             a run is killed after {} s ({} s for the W3 first run) and then counts as a lower bound \
             (`> T`); a cell is not run when the same tool timed out there at a smaller N or its time at \
             the next smaller N >= 10, scaled linearly to this N, exceeds twice that limit (the notes say which); \
             each tool also runs W1 once untimed as a warm-up per N",
            o.reps,
            MIN_RUNS.min(o.reps),
            o.budget.as_secs(),
            o.timeout.as_secs(),
            limit(o, Workload::W3First).as_secs()
        ),
    ]
}

fn check_root() -> Result<(), String> {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| format!("cannot run id: {e}"))?;
    if String::from_utf8_lossy(&out.stdout).trim() != "0" {
        return Err("bench must run as root: it creates the login user and starts sshd hosts\nhint: sudo -E cargo xtask bench".into());
    }
    Ok(())
}

fn install_prerequisites() -> Result<(), String> {
    let mut missing = Vec::new();
    if !Path::new("/usr/sbin/sshd").exists() || !Path::new("/usr/bin/ssh-keygen").exists() {
        missing.push("openssh-server");
    }
    if !Path::new("/usr/bin/time").exists() {
        missing.push("time");
    }
    if missing.is_empty() {
        Ok(())
    } else {
        apt_install(&missing)
    }
}

/// `apt-get update && apt-get install -y PKGS`.
fn apt_install(pkgs: &[&str]) -> Result<(), String> {
    eprintln!("bench: apt-get install {}", pkgs.join(" "));
    run_checked(
        Command::new("apt-get")
            .args(["update", "-qq"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    run_checked(
        Command::new("apt-get")
            .args(["install", "-y", "-qq"])
            .args(pkgs)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// Runs a command to completion; its stderr's last line becomes the error.
fn run_checked(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    Err(format!(
        "{:?} failed ({}): {}",
        cmd.get_program(),
        out.status,
        err.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no output")
    ))
}

fn new_client_key(workdir: &Path) -> Result<PathBuf, String> {
    let dir = workdir.join("keys");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let key = dir.join("id_ed25519");
    run_checked(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "fmc-bench", "-f"])
            .arg(&key),
    )?;
    Ok(key)
}

fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn utc_now() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| "unknown date".into())
}

fn machine() -> Vec<String> {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or_else(
            || "unknown".into(),
            |kb| format!("{:.1} GiB", kb as f64 / 1024.0 / 1024.0),
        );
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    vec![
        format!("CPUs (nproc): {cpus}, model: {model}"),
        format!("memory: {mem}"),
        format!("kernel: {}", kernel.trim()),
    ]
}

fn command_line(args: &[String]) -> String {
    let mut s = String::from("cargo xtask bench");
    for a in args {
        s.push(' ');
        s.push_str(a);
    }
    s
}
