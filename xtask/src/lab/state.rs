//! What the lab started, and how it goes away.
//!
//! Every long-running process the lab starts is recorded in `.lab/run/<name>.pid` with its
//! start time (so a recycled PID is never signalled) and runs in its own cgroup
//! `fmclab/<name>` (in the `name=systemd` and `unified` hierarchies), which also holds
//! everything it forks. Teardown signals only those PIDs, unmounts only what is mounted under
//! `.lab/`, deletes only namespaces named `fmclab*`: it works from what exists, so it also
//! cleans after a crash or a half-finished `up`, and running it twice is harmless.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::net;

/// The cgroup hierarchies each container gets its own cgroup in (the machine's PID 1 is not
/// systemd, so nspawn cannot ask for one; without it containers break each other's units).
const CGROUP_ROOTS: [&str; 2] = ["/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"];
const CGROUP_PARENT: &str = "fmclab";

/// The lab's state directory (`.lab/`).
#[derive(Debug, Clone)]
pub struct Lab {
    pub dir: PathBuf,
}

/// A process the lab started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    pub name: String,
    pub pid: u32,
    pub start: u64,
}

impl Lab {
    /// `dir/run`: one pid file per process.
    pub fn run_dir(&self) -> PathBuf {
        self.dir.join("run")
    }
    /// Logs of images, containers and the repository server.
    pub fn logs(&self) -> PathBuf {
        self.dir.join("logs")
    }
    /// Per-host overlay directories and host keys.
    pub fn hosts(&self) -> PathBuf {
        self.dir.join("hosts")
    }
    /// The lab's SSH key pair.
    pub fn key(&self) -> PathBuf {
        self.dir.join("keys").join("id_ed25519")
    }
    /// known_hosts for every lab host.
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.join("known_hosts")
    }

    fn pid_file(&self, name: &str) -> PathBuf {
        self.run_dir().join(format!("{name}.pid"))
    }

    /// The tracked process `name`, if recorded.
    pub fn tracked(&self, name: &str) -> Option<Tracked> {
        let text = fs::read_to_string(self.pid_file(name)).ok()?;
        let mut it = text.split_whitespace();
        Some(Tracked {
            name: name.to_string(),
            pid: it.next()?.parse().ok()?,
            start: it.next()?.parse().ok()?,
        })
    }

    /// Every recorded process.
    pub fn all_tracked(&self) -> Vec<Tracked> {
        let Ok(rd) = fs::read_dir(self.run_dir()) else {
            return Vec::new();
        };
        let mut out: Vec<Tracked> = rd
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_suffix(".pid")
                    .map(str::to_string)
            })
            .filter_map(|n| self.tracked(&n))
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Starts `cmd` detached (own session, stdin closed, output to `logs/<name>.log`), in its
    /// own cgroup, and records it. The PID is the command's own: the wrapper shell joins
    /// the cgroups and then `exec`s it.
    pub fn spawn(&self, name: &str, cmd: &[&str], env: &[(&str, &str)]) -> Result<u32, String> {
        fs::create_dir_all(self.run_dir())
            .map_err(|e| format!("{}: {e}", self.run_dir().display()))?;
        fs::create_dir_all(self.logs()).map_err(|e| format!("{}: {e}", self.logs().display()))?;
        let procs = create_cgroups(name)?;
        let log_path = self.logs().join(format!("{name}.log"));
        let log =
            fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
        let log2 = log
            .try_clone()
            .map_err(|e| format!("{}: {e}", log_path.display()))?;
        let mut c = Command::new("setsid");
        c.args([
            "sh",
            "-c",
            "for f in \"$1\" \"$2\"; do echo $$ > \"$f\" || exit 125; done; shift 2; exec \"$@\"",
            "sh",
        ])
        .args(&procs)
        .args(cmd)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
        let child = c
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", cmd.join(" ")))?;
        let pid = child.id();
        // the child is detached on purpose: `lab down` ends it by its recorded PID
        drop(child);
        let start = start_time(pid)
            .ok_or_else(|| format!("{name} exited at once, see {}", log_path.display()))?;
        let pf = self.pid_file(name);
        fs::write(&pf, format!("{pid} {start}\n")).map_err(|e| format!("{}: {e}", pf.display()))?;
        Ok(pid)
    }

    /// Stops the named processes: SIGTERM, then SIGKILL after `grace`, then whatever is left
    /// in their cgroups; removes their pid files and cgroups.
    pub fn stop(&self, names: &[String], grace: Duration) -> Result<(), String> {
        let procs: Vec<Tracked> = names.iter().filter_map(|n| self.tracked(n)).collect();
        for p in procs.iter().filter(|p| alive(p)) {
            signal(p.pid, "TERM");
        }
        let t = Instant::now();
        while procs.iter().any(alive) && t.elapsed() < grace {
            sleep(Duration::from_millis(50));
        }
        for p in procs.iter().filter(|p| alive(p)) {
            signal(p.pid, "KILL");
        }
        for n in names {
            kill_cgroup(n);
        }
        let t = Instant::now();
        while names.iter().any(|n| !cgroup_pids(n).is_empty())
            && t.elapsed() < Duration::from_secs(3)
        {
            sleep(Duration::from_millis(50));
        }
        let mut errors = Vec::new();
        for n in names {
            let _ = fs::remove_file(self.pid_file(n));
            if let Err(e) = remove_cgroups(n) {
                errors.push(e);
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("\n"))
        }
    }
}

/// The start time (clock ticks after boot) of a live process.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // fields after the command name, which is in parentheses and may hold anything
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // state is field 3 of the file, starttime field 22
    if fields.first() == Some(&"Z") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// Whether the recorded process is still the one the lab started.
pub fn alive(t: &Tracked) -> bool {
    start_time(t.pid) == Some(t.start)
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args(["-s", sig, &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

fn cgroup_dirs(name: &str) -> Vec<PathBuf> {
    CGROUP_ROOTS
        .iter()
        .map(|r| Path::new(r).join(CGROUP_PARENT).join(name))
        .collect()
}

fn create_cgroups(name: &str) -> Result<Vec<PathBuf>, String> {
    cgroup_dirs(name)
        .into_iter()
        .map(|d| {
            fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
            Ok(d.join("cgroup.procs"))
        })
        .collect()
}

/// Every directory of a cgroup tree, deepest first.
fn cgroup_tree(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.filter_map(|e| e.ok()) {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                cgroup_tree(&e.path(), out);
            }
        }
    }
    if dir.is_dir() {
        out.push(dir.to_path_buf());
    }
}

/// PIDs in the cgroups of `name` (all hierarchies, all sub-cgroups).
pub fn cgroup_pids(name: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for root in cgroup_dirs(name) {
        let mut dirs = Vec::new();
        cgroup_tree(&root, &mut dirs);
        for d in dirs {
            if let Ok(text) = fs::read_to_string(d.join("cgroup.procs")) {
                pids.extend(text.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
            }
        }
    }
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// Names of the lab's cgroups that exist now.
pub fn cgroup_names() -> Vec<String> {
    let mut names: Vec<String> = CGROUP_ROOTS
        .iter()
        .filter_map(|r| fs::read_dir(Path::new(r).join(CGROUP_PARENT)).ok())
        .flat_map(|rd| rd.filter_map(|e| e.ok()))
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// SIGKILLs what is left in the cgroups of `name`: only processes the lab started (and
/// their descendants) are ever in there.
fn kill_cgroup(name: &str) {
    for pid in cgroup_pids(name) {
        signal(pid, "KILL");
    }
}

fn remove_cgroups(name: &str) -> Result<(), String> {
    let mut dirs = Vec::new();
    for root in cgroup_dirs(name) {
        cgroup_tree(&root, &mut dirs);
    }
    for d in dirs {
        fs::remove_dir(&d).map_err(|e| format!("cannot remove cgroup {}: {e}", d.display()))?;
    }
    Ok(())
}

/// Mount points at or below `dir`, deepest first.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(unescape_mount(m)))
        .filter(|m| m.starts_with(dir))
        .collect();
    out.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
    out.dedup();
    out
}

/// Undoes the octal escapes of /proc/self/mountinfo (`\040` for a space).
fn unescape_mount(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 4])
                .ok()
                .and_then(|o| u8::from_str_radix(o, 8).ok())
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Unmounts `dir` and everything below it.
pub fn unmount_under(dir: &Path) -> Result<(), String> {
    let mut errors = Vec::new();
    for m in mounts_under(dir) {
        let ok = Command::new("umount")
            .arg(&m)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // still busy: detach it so teardown can go on; the kernel frees it when unused
            let lazy = Command::new("umount")
                .arg("-l")
                .arg(&m)
                .status()
                .is_ok_and(|s| s.success());
            if !lazy {
                errors.push(format!("cannot unmount {}", m.display()));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

/// The `st_dev:st_ino` of a path, as systemd-nspawn names its image lock files.
fn dev_ino(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let m = fs::metadata(path).ok()?;
    Some(format!("{}:{}", m.dev(), m.ino()))
}

/// Inodes of the lab's network namespaces (`/run/netns/fmclab*`), as `/proc/PID/ns/net`
/// names them (`net:[INODE]`).
fn lab_netns_ids() -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    net::lab_namespaces()
        .iter()
        .filter_map(|n| fs::metadata(Path::new("/run/netns").join(n)).ok())
        .map(|m| format!("net:[{}]", m.ino()))
        .collect()
}

/// Processes whose network namespace is one of `ids`: started inside the lab (by `lab exec`,
/// a check, or a container), since nothing else can enter those namespaces.
fn pids_in_netns(ids: &[String]) -> Vec<u32> {
    if ids.is_empty() {
        return Vec::new();
    }
    let me = std::process::id();
    let Ok(rd) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            fs::read_link(format!("/proc/{pid}/ns/net"))
                .is_ok_and(|l| ids.iter().any(|id| l.as_os_str() == id.as_str()))
        })
        .collect()
}

/// Ends (TERM, then KILL after `grace`) every process still inside the lab's namespaces.
fn end_netns_processes(ids: &[String], grace: Duration) -> usize {
    let pids = pids_in_netns(ids);
    for pid in &pids {
        signal(*pid, "TERM");
    }
    let t = Instant::now();
    while !pids_in_netns(ids).is_empty() && t.elapsed() < grace {
        sleep(Duration::from_millis(50));
    }
    for pid in pids_in_netns(ids) {
        signal(pid, "KILL");
    }
    let t = Instant::now();
    while !pids_in_netns(ids).is_empty() && t.elapsed() < Duration::from_secs(2) {
        sleep(Duration::from_millis(50));
    }
    pids.len()
}

/// What teardown found beyond what the lab tracks.
#[derive(Debug, Default)]
pub struct Teardown {
    /// Processes found inside the lab's namespaces outside any lab cgroup, and ended.
    pub strays: usize,
}

/// Tears the whole lab down: processes, mounts, namespaces, cgroups, per-host state, then
/// checks that none of them is left. Keeps images, keys and the package repository.
/// Idempotent.
pub fn teardown(lab: &Lab, etc_netns: &Path) -> Result<Teardown, String> {
    let mut errors = Vec::new();
    let netns_ids = lab_netns_ids();
    // nspawn's image locks are named after the root directory's inode: note them while mounted
    let locks: Vec<PathBuf> = mounts_under(&lab.hosts())
        .iter()
        .filter(|m| m.file_name().is_some_and(|n| n == "root"))
        .filter_map(|m| dev_ino(m))
        .map(|id| Path::new(NSPAWN_LOCKS).join(format!("inode-{id}")))
        .collect();
    let mut names: Vec<String> = lab.all_tracked().into_iter().map(|t| t.name).collect();
    for n in cgroup_names() {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    if let Err(e) = lab.stop(&names, Duration::from_secs(10)) {
        errors.push(e);
    }
    // what `lab exec` and the checks started (wireguard-go, a CLI run, ...) runs in no cgroup
    let strays = end_netns_processes(&netns_ids, Duration::from_secs(3));
    if let Err(e) = unmount_under(&lab.hosts()) {
        errors.push(e);
    }
    if let Err(e) = net::down() {
        errors.push(e);
    }
    for root in CGROUP_ROOTS {
        let p = Path::new(root).join(CGROUP_PARENT);
        if p.is_dir()
            && let Err(e) = fs::remove_dir(&p)
        {
            errors.push(format!("cannot remove cgroup {}: {e}", p.display()));
        }
    }
    if etc_netns.exists()
        && let Err(e) = fs::remove_dir_all(etc_netns)
    {
        errors.push(format!("{}: {e}", etc_netns.display()));
    }
    // /etc/netns itself, if the lab made it and nothing else uses it (fails harmlessly otherwise)
    if let Some(parent) = etc_netns.parent() {
        let _ = fs::remove_dir(parent);
    }
    for lock in &locks {
        let _ = fs::remove_file(lock);
    }
    if mounts_under(&lab.hosts()).is_empty() {
        for d in [lab.hosts(), lab.run_dir()] {
            if d.exists()
                && let Err(e) = fs::remove_dir_all(&d)
            {
                errors.push(format!("{}: {e}", d.display()));
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors.join("\n"));
    }
    let left = leftovers(lab, etc_netns, &netns_ids);
    if left.is_empty() {
        Ok(Teardown { strays })
    } else {
        Err(format!(
            "left behind after teardown:\n  {}",
            left.join("\n  ")
        ))
    }
}

/// Where systemd-nspawn keeps its image lock files.
const NSPAWN_LOCKS: &str = "/run/systemd/nspawn/locks";

/// Everything of the lab that still exists: namespaces, mounts under `.lab/`, cgroups,
/// live tracked processes, processes in the (deleted) namespaces `netns_ids`, per-host
/// state. Empty once the lab is down.
pub fn leftovers(lab: &Lab, etc_netns: &Path, netns_ids: &[String]) -> Vec<String> {
    let mut left = Vec::new();
    left.extend(
        net::lab_namespaces()
            .into_iter()
            .map(|n| format!("namespace {n}")),
    );
    left.extend(
        mounts_under(&lab.dir)
            .into_iter()
            .map(|m| format!("mount {}", m.display())),
    );
    left.extend(
        CGROUP_ROOTS
            .iter()
            .map(|r| Path::new(r).join(CGROUP_PARENT))
            .filter(|p| p.exists())
            .map(|p| format!("cgroup {}", p.display())),
    );
    left.extend(
        lab.all_tracked()
            .into_iter()
            .filter(alive)
            .map(|t| format!("process {} ({})", t.pid, t.name)),
    );
    left.extend(
        pids_in_netns(netns_ids)
            .into_iter()
            .map(|p| format!("process {p} in a lab namespace")),
    );
    for p in [lab.hosts(), lab.run_dir(), etc_netns.to_path_buf()] {
        if p.exists() {
            left.push(format!("directory {}", p.display()));
        }
    }
    left
}

/// Memory (KiB) of every process in the lab's cgroups and pid files: (PSS, RSS). PSS splits
/// shared pages between their users (the lab's real cost); RSS counts them once per process.
pub fn lab_memory_kib(lab: &Lab) -> (u64, u64) {
    let mut pids: Vec<u32> = cgroup_names().iter().flat_map(|n| cgroup_pids(n)).collect();
    pids.extend(lab.all_tracked().iter().filter(|t| alive(t)).map(|t| t.pid));
    pids.sort_unstable();
    pids.dedup();
    let field = |rollup: &str, name: &str| -> u64 {
        rollup
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    pids.iter()
        .filter_map(|pid| fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok())
        .fold((0, 0), |(pss, rss), r| {
            (pss + field(&r, "Pss:"), rss + field(&r, "Rss:"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_identifies_this_process_and_not_a_recycled_pid() {
        let me = std::process::id();
        let start = start_time(me).unwrap();
        assert!(alive(&Tracked {
            name: "t".into(),
            pid: me,
            start
        }));
        assert!(!alive(&Tracked {
            name: "t".into(),
            pid: me,
            start: start + 1
        }));
    }

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape_mount("/a\\040b/c"), "/a b/c");
        assert_eq!(unescape_mount("/plain"), "/plain");
        assert_eq!(unescape_mount("/end\\"), "/end\\");
    }

    #[test]
    fn pid_files_round_trip_and_garbage_is_ignored() {
        let d = tempfile::tempdir().unwrap();
        let lab = Lab {
            dir: d.path().to_path_buf(),
        };
        fs::create_dir_all(lab.run_dir()).unwrap();
        fs::write(lab.run_dir().join("a.pid"), "12 34\n").unwrap();
        fs::write(lab.run_dir().join("b.pid"), "junk").unwrap();
        assert_eq!(
            lab.all_tracked(),
            vec![Tracked {
                name: "a".into(),
                pid: 12,
                start: 34
            }]
        );
    }
}
