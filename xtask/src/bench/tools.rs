//! The three tools: installing them (a private virtualenv for ansible-core and pyinfra, a
//! release build for fmc-run), running one workload with each, and checking from each
//! tool's own report that every host converged.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::hosts::Host;
use super::workloads::{Generated, Workload};
use super::{INTERRUPTED, run_checked};

const TIME: &str = "/usr/bin/time";

/// A benchmarked tool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tool {
    Fmc,
    Ansible,
    Pyinfra,
}

impl Tool {
    /// Every tool, in table order.
    pub const ALL: [Tool; 3] = [Tool::Fmc, Tool::Ansible, Tool::Pyinfra];

    /// Name on the command line and in directory names.
    pub fn key(self) -> &'static str {
        match self {
            Tool::Fmc => "fmc",
            Tool::Ansible => "ansible",
            Tool::Pyinfra => "pyinfra",
        }
    }

    /// Name of the executable, for tables.
    pub fn label(self) -> &'static str {
        match self {
            Tool::Fmc => "fmc-run",
            Tool::Ansible => "ansible-playbook",
            Tool::Pyinfra => "pyinfra",
        }
    }

    /// Parses a `--tools` item.
    pub fn parse(s: &str) -> Result<Tool, String> {
        Tool::ALL
            .into_iter()
            .find(|t| t.key() == s || t.label() == s)
            .ok_or_else(|| format!("unknown tool '{s}'\nhint: use fmc, ansible or pyinfra"))
    }
}

/// Installed tools and where their logs go.
pub struct Toolchain {
    venv: PathBuf,
    fmc: Result<PathBuf, String>,
    logs: PathBuf,
    /// `label -> version line` for each selected tool.
    pub versions: Vec<(Tool, String)>,
}

/// One timed run.
pub struct RunResult {
    /// Wall time from spawn to exit.
    pub wall: Duration,
    /// Peak RSS of the tool's own process in KiB (`/usr/bin/time %M`).
    pub rss_kib: Option<u64>,
    /// `Ok` when every host reported exactly the expected changes and no failure.
    pub check: Result<(), String>,
    /// Killed after the per-run timeout (`check` is then an error too).
    pub timed_out: bool,
}

/// Installs what the selected tools need and records their versions.
/// `fmc_bin` replaces the workspace's release build (before/after comparisons).
pub fn prepare(
    workdir: &Path,
    workspace: &Path,
    tools: &[Tool],
    fmc_bin: Option<&Path>,
) -> Result<Toolchain, String> {
    let venv = workdir.join("venv");
    let logs = workdir.join("logs");
    fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    if tools.iter().any(|t| *t != Tool::Fmc) {
        ensure_venv(&venv)?;
    }
    let fmc = if !tools.contains(&Tool::Fmc) {
        Err("not selected".into())
    } else if let Some(bin) = fmc_bin {
        fs::canonicalize(bin).map_err(|e| format!("--fmc-bin {}: {e}", bin.display()))
    } else {
        build_fmc(workspace)
    };
    let mut versions = Vec::new();
    for &t in tools {
        let v = match t {
            Tool::Fmc => match &fmc {
                Ok(bin) => version_line(Command::new(bin).arg("--version"))
                    .filter(|v| v.contains('.'))
                    .unwrap_or_else(|| {
                        format!("fmc-run (workspace build, {})", git_describe(workspace))
                    }),
                Err(e) => format!("fmc-run build failed: {e}"),
            },
            Tool::Ansible => {
                version_line(Command::new(venv.join("bin/ansible-playbook")).arg("--version"))
                    .ok_or("cannot run ansible-playbook --version")?
            }
            Tool::Pyinfra => version_line(Command::new(venv.join("bin/pyinfra")).arg("--version"))
                .ok_or("cannot run pyinfra --version")?,
        };
        versions.push((t, v));
    }
    Ok(Toolchain {
        venv,
        fmc,
        logs,
        versions,
    })
}

fn ensure_venv(venv: &Path) -> Result<(), String> {
    let marker = venv.join(".fmc-bench-installed");
    if marker.exists() {
        return Ok(());
    }
    eprintln!(
        "bench: installing ansible-core and pyinfra into {}",
        venv.display()
    );
    let python = if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    };
    if run_checked(
        Command::new(python)
            .args(["-m", "venv", "--clear"])
            .arg(venv),
    )
    .is_err()
    {
        super::apt_install(&["python3-venv"])?;
        run_checked(
            Command::new(python)
                .args(["-m", "venv", "--clear"])
                .arg(venv),
        )?;
    }
    run_checked(
        Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "ansible-core", "pyinfra"])
            .stdout(Stdio::inherit()),
    )?;
    fs::write(&marker, "").map_err(|e| format!("{}: {e}", marker.display()))
}

fn build_fmc(workspace: &Path) -> Result<PathBuf, String> {
    eprintln!("bench: cargo build --release -p fmc-cli");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--release", "--quiet", "-p", "fmc-cli"])
        .current_dir(workspace)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err
            .lines()
            .find(|l| l.starts_with("error"))
            .unwrap_or("cargo build failed");
        return Err(line.to_string());
    }
    let bin = workspace.join("target/release/fmc-run");
    if bin.exists() {
        Ok(bin)
    } else {
        Err(format!("{} was not built", bin.display()))
    }
}

fn version_line(cmd: &mut Command) -> Option<String> {
    let out = cmd.stdin(Stdio::null()).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

fn git_describe(workspace: &Path) -> String {
    let out = Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .current_dir(workspace)
        .output();
    match out {
        Ok(o) if o.status.success() => format!("git {}", String::from_utf8_lossy(&o.stdout).trim()),
        _ => "git revision unknown".into(),
    }
}

/// Per-host totals a tool reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub changed: u32,
    pub failed: u32,
    pub unreachable: u32,
}

impl Toolchain {
    /// Runs `workload` with `tool` against the first `hosts.len()` hosts and checks the result.
    pub fn run(
        &self,
        tool: Tool,
        workload: Workload,
        hosts: &[Host],
        g: &Generated,
        tag: &str,
        timeout: Duration,
    ) -> RunResult {
        let n = hosts.len();
        let out_path = self.logs.join(format!("{tag}.out"));
        let err_path = self.logs.join(format!("{tag}.err"));
        let rss_path = self.logs.join(format!("{tag}.rss"));
        let failed = |msg: String| RunResult {
            wall: Duration::ZERO,
            rss_kib: None,
            check: Err(msg),
            timed_out: false,
        };
        let (Ok(out), Ok(err)) = (fs::File::create(&out_path), fs::File::create(&err_path)) else {
            return failed(format!("cannot create logs in {}", self.logs.display()));
        };
        let mut cmd = Command::new(TIME);
        cmd.arg("-f").arg("%M").arg("-o").arg(&rss_path);
        let forks = n.to_string();
        match tool {
            Tool::Fmc => {
                let bin = match &self.fmc {
                    Ok(b) => b,
                    Err(e) => return failed(e.clone()),
                };
                cmd.arg(bin)
                    .arg("-i")
                    .arg(g.inventory_ini(n))
                    .arg(g.playbook(workload))
                    .args(["--output", "json", "-f", &forks, "-e", "bench_tool=fmc"])
                    // Throwaway hosts, like ansible's host_key_checking = False.
                    .env("FMC_HOST_KEY_CHECKING", "off")
                    .current_dir(&g.dir);
            }
            Tool::Ansible => {
                cmd.arg(self.venv.join("bin/ansible-playbook"))
                    .arg("-i")
                    .arg(g.inventory_ini(n))
                    .arg(g.playbook(workload))
                    .args(["-f", &forks, "-e", "bench_tool=ansible"])
                    .env("ANSIBLE_CONFIG", g.ansible_cfg())
                    .env("ANSIBLE_NOCOLOR", "1")
                    .current_dir(&g.dir);
            }
            Tool::Pyinfra => {
                cmd.arg(self.venv.join("bin/pyinfra"))
                    .args(["-y", "--json", "--no-wait", "--parallel", &forks])
                    .arg(g.inventory_py(n))
                    .arg(g.deploy(workload))
                    .env("PYINFRA_PROGRESS", "off")
                    .current_dir(g.dir.join("pyinfra"));
            }
        }
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let (wall, status) = match run_watched(&mut cmd, timeout) {
            Ok(r) => r,
            Err(e) => return failed(e),
        };
        let rss_kib = fs::read_to_string(&rss_path)
            .ok()
            .and_then(|t| t.lines().rev().find_map(|l| l.trim().parse().ok()));
        let stdout = fs::read_to_string(&out_path).unwrap_or_default();
        let stderr = fs::read_to_string(&err_path).unwrap_or_default();
        let parsed = match tool {
            Tool::Fmc => parse_fmc(&stdout),
            Tool::Ansible => parse_ansible(&stdout),
            Tool::Pyinfra => parse_pyinfra(&stdout),
        };
        let check = match (status, parsed) {
            (Some(st), Ok(counts)) => {
                verify(workload.expected_changes(), hosts, &counts).and_then(|()| {
                    if st.success() {
                        Ok(())
                    } else {
                        Err(format!(
                            "exited with {st}: {}",
                            first_error_line(&stderr, &stdout)
                        ))
                    }
                })
            }
            (Some(st), Err(e)) if st.success() => Err(e),
            (Some(st), Err(_)) => Err(format!(
                "exited with {st}: {}",
                first_error_line(&stderr, &stdout)
            )),
            (None, _) => Err(format!("timed out after {} s", timeout.as_secs())),
        };
        RunResult {
            wall,
            rss_kib,
            check,
            timed_out: status.is_none(),
        }
    }

    /// Asks every ansible ControlPersist master in `control_dir` to exit; returns how many
    /// control sockets there were.
    pub fn stop_ansible_masters(control_dir: &Path) -> usize {
        let Ok(entries) = fs::read_dir(control_dir) else {
            return 0;
        };
        let mut count = 0;
        for e in entries.flatten() {
            count += 1;
            let _ = Command::new("ssh")
                .arg("-o")
                .arg(format!("ControlPath={}", e.path().display()))
                .args(["-O", "exit", "bench-host"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        count
    }
}

/// Spawns `cmd` in its own process group and waits for it. `Ok((wall, None))` means it was
/// killed (the whole group) after `timeout`; `Err` means it could not start or was interrupted.
fn run_watched(
    cmd: &mut Command,
    timeout: Duration,
) -> Result<(Duration, Option<ExitStatus>), String> {
    cmd.process_group(0);
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
    let pgid = child.id();
    let done = AtomicBool::new(false);
    let killed = AtomicBool::new(false);
    let (status, wall) = std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                if INTERRUPTED.load(Ordering::SeqCst) || start.elapsed() > timeout {
                    killed.store(true, Ordering::SeqCst);
                    kill_tree(pgid);
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let status = child.wait();
        let wall = start.elapsed();
        done.store(true, Ordering::SeqCst);
        (status, wall)
    });
    let status = status.map_err(|e| format!("wait failed: {e}"))?;
    if INTERRUPTED.load(Ordering::SeqCst) {
        return Err("interrupted".into());
    }
    Ok((
        wall,
        if killed.load(Ordering::SeqCst) {
            None
        } else {
            Some(status)
        },
    ))
}

/// SIGKILLs `pid`, its process group and every descendant (ansible's workers start their
/// own sessions, so the group alone is not enough). Only processes this bench spawned.
fn kill_tree(pid: u32) {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            // /proc/PID/stat: "pid (comm) state ppid ..."; comm may contain spaces.
            let stat = fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u32>().ok());
            if let Some(pp) = ppid {
                parents.push((p, pp));
            }
        }
    }
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    let mut args: Vec<String> = vec!["-KILL".into(), "--".into(), format!("-{pid}")];
    args.extend(tree.iter().map(u32::to_string));
    let _ = Command::new("kill")
        .args(&args)
        .stderr(Stdio::null())
        .status();
}

fn first_error_line(stderr: &str, stdout: &str) -> String {
    let pick = |t: &str| {
        t.lines()
            .map(str::trim)
            .find(|l| l.to_ascii_lowercase().contains("error"))
            .or_else(|| t.lines().map(str::trim).find(|l| !l.is_empty()))
            .map(str::to_string)
    };
    let line = pick(stderr)
        .or_else(|| pick(stdout))
        .unwrap_or_else(|| "no output".into());
    truncate(&line, 160)
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(max).collect::<String>())
    }
}

/// Every host must be present with `expected` changes, no failure and no unreachable.
fn verify(expected: u32, hosts: &[Host], counts: &BTreeMap<String, Counts>) -> Result<(), String> {
    let mut bad = Vec::new();
    for h in hosts {
        match counts.get(&h.name) {
            None => bad.push(format!("{}: missing from the report", h.name)),
            Some(c) if c.changed != expected || c.failed != 0 || c.unreachable != 0 => {
                bad.push(format!(
                    "{}: changed={} failed={} unreachable={} (expected changed={expected})",
                    h.name, c.changed, c.failed, c.unreachable
                ))
            }
            Some(_) => {}
        }
    }
    match bad.as_slice() {
        [] => Ok(()),
        [one] => Err(one.clone()),
        [first, rest @ ..] => Err(format!("{first} (and {} more hosts)", rest.len())),
    }
}

/// fmc-run `--output json`: the last line is the recap event.
fn parse_fmc(stdout: &str) -> Result<BTreeMap<String, Counts>, String> {
    let last = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .ok_or("no output on stdout")?;
    let v: serde_json::Value =
        serde_json::from_str(last).map_err(|e| format!("last stdout line is not JSON: {e}"))?;
    if v.get("event").and_then(|e| e.as_str()) != Some("recap") {
        return Err("last stdout line is not the recap event".into());
    }
    let hosts = v
        .get("hosts")
        .and_then(|h| h.as_object())
        .ok_or("recap has no hosts object")?;
    let num = |o: &serde_json::Value, k: &str| {
        o.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0) as u32
    };
    Ok(hosts
        .iter()
        .map(|(name, o)| {
            let c = Counts {
                changed: num(o, "changed"),
                failed: num(o, "failed"),
                unreachable: num(o, "unreachable"),
            };
            (name.clone(), c)
        })
        .collect())
}

/// ansible-playbook's default output: the `PLAY RECAP` lines `host : ok=4 changed=4 ...`.
fn parse_ansible(stdout: &str) -> Result<BTreeMap<String, Counts>, String> {
    let recap = stdout
        .rfind("PLAY RECAP")
        .ok_or("no PLAY RECAP in the output")?;
    let mut out = BTreeMap::new();
    for line in stdout[recap..].lines().skip(1) {
        let Some((name, rest)) = line.split_once(" : ") else {
            continue;
        };
        let mut c = Counts::default();
        for field in rest.split_whitespace() {
            let Some((k, v)) = field.split_once('=') else {
                continue;
            };
            let v: u32 = v
                .parse()
                .map_err(|_| format!("bad recap field '{field}'"))?;
            match k {
                "changed" => c.changed = v,
                "failed" => c.failed = v,
                "unreachable" => c.unreachable = v,
                _ => {}
            }
        }
        out.insert(name.trim().to_string(), c);
    }
    Ok(out)
}

/// pyinfra `--json`: `results.operations[]` list the hosts that changed (`success`),
/// did not change (`no_change`) and failed (`error`).
fn parse_pyinfra(stdout: &str) -> Result<BTreeMap<String, Counts>, String> {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or("no JSON results on stdout")?;
    let v: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("pyinfra JSON: {e}"))?;
    let ops = v
        .pointer("/results/operations")
        .and_then(|o| o.as_array())
        .ok_or("pyinfra JSON has no results.operations")?;
    let mut out: BTreeMap<String, Counts> = BTreeMap::new();
    let names = |op: &serde_json::Value, k: &str| -> Vec<String> {
        op.get(k)
            .and_then(|a| a.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    for op in ops {
        for h in names(op, "success") {
            out.entry(h).or_default().changed += 1;
        }
        for h in names(op, "no_change") {
            out.entry(h).or_default();
        }
        for h in names(op, "error") {
            out.entry(h).or_default().failed += 1;
        }
    }
    if let Some(failed) = v
        .pointer("/results/failed_hosts")
        .and_then(|f| f.as_array())
    {
        for h in failed.iter().filter_map(|s| s.as_str()) {
            out.entry(h.to_string()).or_default().unreachable += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(n: usize) -> Vec<Host> {
        (1..=n)
            .map(|i| Host {
                name: format!("h{i:03}"),
                port: 1,
                root: PathBuf::new(),
            })
            .collect()
    }

    #[test]
    fn ansible_recap_counts_changes_per_host() {
        let out = "TASK [x] ***\nchanged: [h001]\n\nPLAY RECAP *********\n\
                   h001                       : ok=4    changed=4    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0\n\
                   h002                       : ok=3    changed=3    unreachable=0    failed=1    skipped=0    rescued=0    ignored=0\n";
        let c = parse_ansible(out).unwrap();
        assert_eq!(c["h001"].changed, 4);
        assert_eq!(c["h002"].failed, 1);
        assert!(verify(4, &hosts(1), &c).is_ok());
        let e = verify(4, &hosts(2), &c).unwrap_err();
        assert!(e.contains("h002: changed=3 failed=1"), "{e}");
    }

    #[test]
    fn fmc_recap_is_the_last_line() {
        let out = "{\"event\":\"play_start\",\"name\":\"w2\",\"hosts\":[\"h001\"]}\n\
                   {\"event\":\"recap\",\"hosts\":{\"h001\":{\"ok\":4,\"changed\":0,\"failed\":0,\"skipped\":0,\"unreachable\":0}}}\n";
        let c = parse_fmc(out).unwrap();
        assert!(verify(0, &hosts(1), &c).is_ok());
        assert!(verify(4, &hosts(1), &c).is_err());
        assert!(parse_fmc("").is_err());
        assert!(parse_fmc("{\"event\":\"play_start\"}").is_err());
    }

    #[test]
    fn pyinfra_results_count_changed_and_missing_hosts() {
        let out = "{\"plan\": [], \"results\": {\"operations\": [\
                   {\"success\": [\"h001\"], \"no_change\": [\"h002\"], \"error\": []},\
                   {\"success\": [\"h001\", \"h002\"], \"no_change\": [], \"error\": []}],\
                   \"totals\": {}, \"failed_hosts\": []}}\n";
        let c = parse_pyinfra(out).unwrap();
        assert_eq!(c["h001"].changed, 2);
        assert_eq!(c["h002"].changed, 1);
        let e = verify(2, &hosts(3), &c).unwrap_err();
        assert!(e.starts_with("h002: changed=1"), "{e}");
        assert!(e.contains("and 1 more"), "{e}");
    }
}
