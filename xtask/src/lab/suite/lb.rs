//! Lab checks of the load balancers (roles `haproxy` + `keepalived`): one holder per VIP,
//! failover measured by a client polling through the VIP, health-checked API backends,
//! and a broken haproxy value stopped by validation.
//!
//! Until K3s runs in the lab, the backends are the stand-ins of `tests/lab/standins.yaml`:
//! socat listeners on the K3s servers (API port) and the workers (ingress NodePorts)
//! answering "<backend> via <address that connected>". Haproxy connects from its load
//! balancer's own LAN address, so each answer names the backend and the load balancer.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::super::topology::{Inventory, load_group_vars};
use super::{Check, Ns, Suite, wait_for};

const PLAYBOOK: &str = "playbooks/loadbalancers.yaml";
const STANDINS: &str = "tests/lab/standins.yaml";
const HAPROXY_CFG: &str = "/etc/haproxy/haproxy.cfg";
/// The haproxy role's statistics listener (CSV at `/;csv`), on each load balancer.
const STATS_CSV: &str = "http://127.0.0.1:9000/;csv";
/// The bound for a failover after SIGKILL of keepalived on the holder.
const FAILOVER_LIMIT: Duration = Duration::from_secs(5);
/// A crash of keepalived: every process of the unit stopped, then killed. A bare
/// `systemctl kill -s SIGKILL` kills the parent first; its VRRP child then gets its
/// parent-death SIGTERM and may shut down cleanly (priority-0 advert, VIPs removed) before
/// its own SIGKILL arrives: a graceful stop, not a crash. Prints the time of the kill.
const CRASH_KEEPALIVED: &str =
    "systemctl kill -s SIGSTOP keepalived && systemctl kill -s SIGKILL keepalived && date +%s.%N";
/// A template value haproxy rejects (`timeout connect` takes a number and a unit).
const BROKEN_VALUE: &str = "haproxy_timeout_connect=5parsecs";

/// The checks of this file, in order.
pub fn checks() -> Vec<Check> {
    vec![
        Check {
            name: "vip-single-holder",
            proves: "exactly one load balancer (the preferred one) holds each VIP, both VIPs serve",
            run: vip_single_holder,
        },
        Check {
            name: "vip-failover",
            proves: "SIGKILL of keepalived on the holder: the VIP serves from the other LB within 5 s",
            run: vip_failover,
        },
        Check {
            name: "vip-track-haproxy",
            proves: "haproxy stopped on the holder: the track script moves the VIPs to the other LB",
            run: vip_track_haproxy,
        },
        Check {
            name: "api-backend-health",
            proves: "a stopped API backend is marked down, then every request through the VIP succeeds",
            run: api_backend_health,
        },
        Check {
            name: "haproxy-validation",
            proves: "a broken haproxy value fails validation: live config untouched, the VIP serves",
            run: haproxy_validation,
        },
    ]
}

/// What the checks need from the inventory and the roles' defaults.
struct Lbs {
    /// The load balancers in inventory order; the first is keepalived's preferred one.
    hosts: Vec<String>,
    api_vip: String,
    ingress_vip: String,
    api_port: u64,
    /// The K3s servers (the API backends).
    masters: Vec<String>,
}

impl Lbs {
    fn load(s: &Suite) -> Result<Self, String> {
        let staging = s.repo_root().join("inventory/staging");
        let inv = Inventory::load(&staging)?;
        let all = load_group_vars(&staging, "all")?;
        let defaults_file = s.repo_root().join("roles/haproxy/defaults/main.yml");
        let defaults = fmc_yaml::load(&defaults_file).map_err(|e| e.to_string())?;
        let group = |g: &str| -> Vec<String> {
            let members = inv.group_hosts.get(g).cloned().unwrap_or_default();
            inv.hosts
                .iter()
                .map(|(h, _)| h.clone())
                .filter(|h| members.contains(h))
                .collect()
        };
        let var = |k: &str| -> Result<String, String> {
            all.get(k)
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .ok_or_else(|| format!("inventory/staging: no string variable '{k}'"))
        };
        let lbs = Lbs {
            hosts: group("loadbalancers"),
            api_vip: var("api_vip")?,
            ingress_vip: var("ingress_vip")?,
            api_port: defaults["haproxy_api_port"].as_u64().ok_or_else(|| {
                format!(
                    "{}: haproxy_api_port is not a number",
                    defaults_file.display()
                )
            })?,
            masters: group("masters"),
        };
        if lbs.hosts.len() != 2 || lbs.masters.len() < 2 {
            return Err(format!(
                "the checks expect 2 load balancers and at least 2 masters, found {:?} and {:?}",
                lbs.hosts, lbs.masters
            ));
        }
        Ok(lbs)
    }

    fn preferred(&self) -> &str {
        &self.hosts[0]
    }

    fn other(&self) -> &str {
        &self.hosts[1]
    }

    fn api_url(&self) -> String {
        format!("http://{}:{}/", self.api_vip, self.api_port)
    }

    fn ingress_url(&self) -> String {
        format!("http://{}/", self.ingress_vip)
    }

    fn vips(&self) -> [&str; 2] {
        [&self.api_vip, &self.ingress_vip]
    }
}

static CONVERGED: AtomicBool = AtomicBool::new(false);

/// Converges the stand-ins and the load balancers (once per suite run) and reads the
/// inventory.
fn prepare(s: &Suite) -> Result<Lbs, String> {
    if !CONVERGED.load(Ordering::SeqCst) {
        for playbook in [STANDINS, PLAYBOOK] {
            let (code, out) = s.fmc_run(&[playbook])?;
            if code != 0 {
                return Err(format!("{playbook} exited {code}:\n{}", tail(&out, 15)));
            }
        }
        CONVERGED.store(true, Ordering::SeqCst);
    }
    Lbs::load(s)
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The load balancers that have `vip` configured.
fn holders(s: &Suite, lbs: &Lbs, vip: &str) -> Result<Vec<String>, String> {
    let needle = format!(" inet {vip}/");
    let mut out = Vec::new();
    for h in &lbs.hosts {
        if s.sh(h, "ip -4 -o addr show")?.contains(&needle) {
            out.push(h.clone());
        }
    }
    Ok(out)
}

/// Waits until `host` alone holds both VIPs.
fn wait_sole_holder(s: &Suite, lbs: &Lbs, host: &str, within: Duration) -> Result<(), String> {
    wait_for(
        &format!("{host} alone holding both VIPs"),
        within,
        Duration::from_millis(300),
        || {
            for vip in lbs.vips() {
                let h = holders(s, lbs, vip)?;
                if h != [host] {
                    return Err(format!("{vip} held by {h:?}"));
                }
            }
            Ok(Some(()))
        },
    )
}

/// One HTTP GET from the controller (on the LAN); the body, trimmed.
fn get(s: &Suite, url: &str) -> Result<String, String> {
    s.http_get(Ns::Controller, url, "2")
}

/// The LAN address of an inventory host (what the stand-ins report as "via").
fn addr(s: &Suite, host: &str) -> Result<String, String> {
    Ok(s.host(host)?.address.to_string())
}

fn vip_single_holder(s: &Suite) -> Result<(), String> {
    let lbs = prepare(s)?;
    for vip in lbs.vips() {
        let h = holders(s, &lbs, vip)?;
        if h != [lbs.preferred()] {
            return Err(format!(
                "{vip} is held by {h:?}; expected exactly the preferred {}",
                lbs.preferred()
            ));
        }
    }
    let via = format!(" via {}", addr(s, lbs.preferred())?);
    for url in [lbs.api_url(), lbs.ingress_url()] {
        let body = get(s, &url)?;
        if !body.ends_with(&via) {
            return Err(format!(
                "GET {url} answered {body:?}, not through {}",
                lbs.preferred()
            ));
        }
        println!("    GET {url} -> {body}");
    }
    println!(
        "    {} and {} held by {} only",
        lbs.api_vip,
        lbs.ingress_vip,
        lbs.preferred()
    );
    Ok(())
}

/// A client polling a URL from the controller every ~50 ms (curl, 300 ms timeout); each
/// answer (or `fail`) arrives with the wall-clock time it was read.
struct Poller {
    child: Child,
    rx: Receiver<(SystemTime, String)>,
}

impl Poller {
    fn start(s: &Suite, url: &str) -> Result<Self, String> {
        let script = format!(
            "while :; do curl -s --max-time 0.3 {} || echo fail; sleep 0.05; done",
            super::shell_quote(url)
        );
        let mut child = s
            .cmd(Ns::Controller, "sh")
            .args(["-c", &script])
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the polling client: {e}"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or("the polling client has no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx
                    .send((SystemTime::now(), line.trim().to_string()))
                    .is_err()
                {
                    break;
                }
            }
        });
        Ok(Poller { child, rx })
    }

    /// The first answer for which `f` holds, within `within`; counts the `fail`s before it.
    fn until(
        &self,
        within: Duration,
        f: impl Fn(&str) -> bool,
    ) -> Result<(SystemTime, String, usize), String> {
        let end = Instant::now() + within;
        let mut fails = 0;
        let mut last = String::from("nothing");
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok((t, line)) if f(&line) => return Ok((t, line, fails)),
                Ok((_, line)) => {
                    if line == "fail" {
                        fails += 1;
                    }
                    last = line;
                }
                Err(_) => {
                    return Err(format!(
                        "no matching answer within {:.1}s (last: {last:?}, {fails} failed polls)",
                        within.as_secs_f64()
                    ));
                }
            }
        }
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        // our own child (sh inside the namespace), by PID
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Seconds since the epoch printed by `date +%s.%N` on a lab host (the lab shares this
/// machine's clock, so it compares with `SystemTime::now()` here).
fn parse_epoch(text: &str) -> Result<SystemTime, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("not a time stamp: {text:?}"))?;
    Ok(UNIX_EPOCH + Duration::from_secs_f64(secs))
}

fn since(t: SystemTime, from: SystemTime) -> f64 {
    t.duration_since(from)
        .map(|d| d.as_secs_f64())
        .unwrap_or_else(|e| -e.duration().as_secs_f64())
}

fn vip_failover(s: &Suite) -> Result<(), String> {
    let lbs = prepare(s)?;
    wait_sole_holder(s, &lbs, lbs.preferred(), Duration::from_secs(10))?;
    let result = kill_and_measure(s, &lbs);
    // restore: keepalived back on the preferred LB, which takes the VIPs back
    let restored = s
        .sh(lbs.preferred(), "systemctl start keepalived")
        .and_then(|_| {
            let t = Instant::now();
            wait_sole_holder(s, &lbs, lbs.preferred(), Duration::from_secs(20))?;
            println!(
                "    restored: keepalived started on {}, which holds both VIPs again after {:.1}s",
                lbs.preferred(),
                t.elapsed().as_secs_f64()
            );
            Ok(())
        });
    result.and(restored)
}

fn kill_and_measure(s: &Suite, lbs: &Lbs) -> Result<(), String> {
    let from_pref = format!(" via {}", addr(s, lbs.preferred())?);
    let from_other = format!(" via {}", addr(s, lbs.other())?);
    let poller = Poller::start(s, &lbs.api_url())?;
    poller.until(Duration::from_secs(5), |l| l.ends_with(&from_pref))?;
    let killed = parse_epoch(&s.sh(lbs.preferred(), CRASH_KEEPALIVED)?)?;
    let (t, line, fails) = poller
        .until(Duration::from_secs(12), |l| l.ends_with(&from_other))
        .map_err(|e| format!("after SIGKILL of keepalived on {}: {e}", lbs.preferred()))?;
    let secs = since(t, killed);
    println!(
        "    SIGKILL keepalived on {} -> {} answers through {} via {} after {secs:.2}s ({fails} failed polls)",
        lbs.preferred(),
        line,
        lbs.api_vip,
        lbs.other()
    );
    if !holders(s, lbs, &lbs.api_vip)?.contains(&lbs.other().to_string()) {
        return Err(format!(
            "{} answers but does not hold {}",
            lbs.other(),
            lbs.api_vip
        ));
    }
    if secs > FAILOVER_LIMIT.as_secs_f64() {
        return Err(format!(
            "failover took {secs:.2}s, more than {}s",
            FAILOVER_LIMIT.as_secs()
        ));
    }
    Ok(())
}

fn vip_track_haproxy(s: &Suite) -> Result<(), String> {
    let lbs = prepare(s)?;
    wait_sole_holder(s, &lbs, lbs.preferred(), Duration::from_secs(10))?;
    let result = stop_haproxy_and_measure(s, &lbs);
    let restored = s
        .sh(lbs.preferred(), "systemctl start haproxy")
        .and_then(|_| {
            let t = Instant::now();
            wait_sole_holder(s, &lbs, lbs.preferred(), Duration::from_secs(20))?;
            println!(
                "    restored: haproxy started on {}, which holds both VIPs again after {:.1}s",
                lbs.preferred(),
                t.elapsed().as_secs_f64()
            );
            Ok(())
        });
    result.and(restored)
}

fn stop_haproxy_and_measure(s: &Suite, lbs: &Lbs) -> Result<(), String> {
    let from_other = format!(" via {}", addr(s, lbs.other())?);
    let poller = Poller::start(s, &lbs.api_url())?;
    poller.until(Duration::from_secs(5), |l| l != "fail")?;
    let stopped = parse_epoch(&s.sh(lbs.preferred(), "systemctl stop haproxy && date +%s.%N")?)?;
    let (t, _, fails) = poller
        .until(Duration::from_secs(15), |l| l.ends_with(&from_other))
        .map_err(|e| format!("after stopping haproxy on {}: {e}", lbs.preferred()))?;
    println!(
        "    haproxy stopped on {} -> served via {} after {:.2}s ({fails} failed polls)",
        lbs.preferred(),
        lbs.other(),
        since(t, stopped)
    );
    wait_sole_holder(s, lbs, lbs.other(), Duration::from_secs(10))
}

/// The haproxy status (`UP`, `DOWN`, ...) of server `server` in backend `backend`, from
/// the statistics CSV on `lb` (field 18 is `status`).
fn server_status(s: &Suite, lb: &str, backend: &str, server: &str) -> Result<String, String> {
    let csv = s.sh(lb, &format!("curl -fsS --max-time 2 '{STATS_CSV}'"))?;
    csv.lines()
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|f| f.len() > 17 && f[0] == backend && f[1] == server)
        .map(|f| f[17].to_string())
        .ok_or_else(|| format!("{lb}: no server {backend}/{server} in haproxy's statistics"))
}

fn api_backend_health(s: &Suite) -> Result<(), String> {
    let lbs = prepare(s)?;
    let victim = lbs.masters.last().cloned().ok_or("no masters")?;
    let unit = format!("fmc-standin@{}.service", lbs.api_port);
    let result = stop_backend_and_count(s, &lbs, &victim, &unit);
    let restored = s
        .sh(&victim, &format!("systemctl start {unit}"))
        .and_then(|_| {
            wait_for(
                &format!("{victim} back UP in haproxy on {}", lbs.preferred()),
                Duration::from_secs(20),
                Duration::from_millis(300),
                || {
                    Ok(
                        (server_status(s, lbs.preferred(), "k8s_api", &victim)? == "UP")
                            .then_some(()),
                    )
                },
            )
        });
    result.and(restored)
}

fn stop_backend_and_count(s: &Suite, lbs: &Lbs, victim: &str, unit: &str) -> Result<(), String> {
    let lb = lbs.preferred();
    if server_status(s, lb, "k8s_api", victim)? != "UP" {
        return Err(format!(
            "{victim} is not UP in haproxy on {lb} before the test"
        ));
    }
    s.sh(victim, &format!("systemctl stop {unit}"))?;
    let t = Instant::now();
    wait_for(
        &format!("{victim} marked DOWN by haproxy on {lb}"),
        Duration::from_secs(20),
        Duration::from_millis(200),
        || {
            let st = server_status(s, lb, "k8s_api", victim)?;
            Ok(st.starts_with("DOWN").then_some(()))
        },
    )?;
    println!(
        "    stand-in stopped on {victim}: marked DOWN after {:.1}s",
        t.elapsed().as_secs_f64()
    );
    const N: usize = 30;
    let mut served = std::collections::BTreeMap::<String, usize>::new();
    for i in 0..N {
        let body = get(s, &lbs.api_url()).map_err(|e| format!("request {}/{N}: {e}", i + 1))?;
        let backend = body.split(" via ").next().unwrap_or_default().to_string();
        if backend == victim {
            return Err(format!(
                "request {}/{N} was served by the stopped {victim}",
                i + 1
            ));
        }
        *served.entry(backend).or_default() += 1;
    }
    println!(
        "    {N}/{N} requests through {} succeeded: {served:?}",
        lbs.api_vip
    );
    if served.len() < 2 {
        return Err(format!(
            "round robin over the healthy backends expected, got {served:?}"
        ));
    }
    Ok(())
}

fn checksums(s: &Suite, lbs: &Lbs) -> Result<Vec<String>, String> {
    lbs.hosts
        .iter()
        .map(|h| s.sh(h, &format!("sha256sum {HAPROXY_CFG}")))
        .collect()
}

fn haproxy_validation(s: &Suite) -> Result<(), String> {
    let lbs = prepare(s)?;
    let before = checksums(s, &lbs)?;
    let (code, out) = s.fmc_run(&[
        PLAYBOOK,
        "--tags",
        "haproxy",
        "-e",
        BROKEN_VALUE,
        "--output",
        "json",
    ])?;
    let events: Vec<serde_json::Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let failed: Vec<(String, String, String)> = events
        .iter()
        .filter(|e| e["event"] == "host_result" && e["status"] == "failed")
        .map(|e| {
            let field = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (field("host"), field("task"), field("msg"))
        })
        .collect();
    if code != 2 {
        return Err(format!(
            "the run with {BROKEN_VALUE} exited {code}, expected 2 (failed): {failed:?}"
        ));
    }
    for h in &lbs.hosts {
        let Some((_, task, msg)) = failed.iter().find(|(fh, _, _)| fh == h) else {
            return Err(format!("{h} did not fail with {BROKEN_VALUE}"));
        };
        if !task.contains("haproxy configuration") || !msg.contains("validation failed") {
            return Err(format!(
                "{h} failed at {task:?} with {msg:?}, not at the validation of the configuration"
            ));
        }
        let alert = msg.lines().find(|l| l.contains("ALERT"));
        println!(
            "    {h}: {}",
            alert.or(msg.lines().next()).unwrap_or_default().trim()
        );
    }
    if checksums(s, &lbs)? != before {
        return Err(format!(
            "{HAPROXY_CFG} changed despite the failed validation"
        ));
    }
    for url in [lbs.api_url(), lbs.ingress_url()] {
        get(s, &url).map_err(|e| format!("after the failed run: {e}"))?;
    }
    println!("    {HAPROXY_CFG} unchanged on both, both VIPs still serve");
    let (code, out) = s.fmc_run(&[PLAYBOOK, "--tags", "haproxy", "--output", "json"])?;
    if code != 0 {
        return Err(format!(
            "the clean run after it exited {code}:\n{}",
            tail(&out, 10)
        ));
    }
    let changed: Vec<String> = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "host_result" && e["status"] == "changed")
        .map(|e| format!("{} {}", e["host"], e["task"]))
        .collect();
    if !changed.is_empty() {
        return Err(format!("the clean run changed {changed:?}"));
    }
    println!("    the clean run converges with no change");
    Ok(())
}
