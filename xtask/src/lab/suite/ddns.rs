//! Lab check of the dynamic DNS updater (role `cloudflare_ddns`, `crates/fmc-ddns`).
//!
//! The real Cloudflare API cannot be reached, so the check runs `cf-standin` — the
//! Cloudflare API **test double** of `crates/cf-standin` — on the lab's internet client
//! (203.0.113.10, the address the staging inventory's `cloudflare_ddns_api_url`
//! names), and drives the installed `fmc-ddns.service` on the KVM host through it: the
//! KVM host reaches the double through the ISP router's NAT, so the double sees the
//! router's public address, as 1.1.1.1 would.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Check, Ns, Suite, wait_for};

const HOST: &str = "virtualizacion-server";
const CONFIG: &str = "/etc/fmc-ddns/config.yaml";
const TOKEN: &str = "/etc/fmc-ddns/token";
/// The router's address on the lab's internet: what the double sees as the caller.
const ROUTER_WAN: &str = "203.0.113.1";
/// The "new" public address the double is told after the first runs.
const NEW_IP: &str = "203.0.113.77";

/// The checks of this file, in order.
pub fn checks() -> Vec<Check> {
    vec![
        Check {
            name: "ddns-updates",
            proves: "fmc-ddns creates the records, writes nothing when in sync, follows an address change, fails clearly on an API error and recovers (Cloudflare test double)",
            run: ddns_updates,
        },
        Check {
            name: "ddns-glibc",
            proves: "the fmc-ddns binary the role copies needs no glibc symbol newer than Rocky/Alma 9's (2.34)",
            run: ddns_glibc,
        },
    ]
}

/// glibc of Rocky/Alma Linux 9, the production KVM host's.
const HOST_GLIBC: (u32, u32) = (2, 34);

fn ddns_glibc(s: &Suite) -> Result<(), String> {
    build(s.repo_root())?;
    let bin = s.repo_root().join("target/release/fmc-ddns");
    let out = std::process::Command::new("objdump")
        .arg("-T")
        .arg(&bin)
        .output()
        .map_err(|e| format!("cannot run objdump (binutils): {e}"))?;
    if !out.status.success() {
        return Err(format!("objdump -T {}: {}", bin.display(), out.status));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let newest = text
        .split("GLIBC_")
        .skip(1)
        .filter_map(|rest| {
            let v: String = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
            Some((parts.next()??, parts.next().flatten().unwrap_or(0)))
        })
        .max()
        .ok_or("fmc-ddns: no versioned glibc symbol found (objdump output changed?)")?;
    if newest > HOST_GLIBC {
        return Err(format!(
            "fmc-ddns needs GLIBC_{}.{}, Rocky/Alma 9 has {}.{}: build it on an older system or for musl",
            newest.0, newest.1, HOST_GLIBC.0, HOST_GLIBC.1
        ));
    }
    println!(
        "    newest glibc symbol GLIBC_{}.{} (Rocky/Alma 9: 2.34)",
        newest.0, newest.1
    );
    Ok(())
}

/// The double: the lab's own (started by `cargo xtask demo`, left running) or, when
/// that is not running, one started by this check and killed by PID on drop.
struct Standin {
    own: Option<(Child, PathBuf)>,
    base: String,
}

impl Drop for Standin {
    fn drop(&mut self) {
        if let Some((child, token_file)) = &mut self.own {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_file(token_file);
        }
    }
}

fn ddns_updates(s: &Suite) -> Result<(), String> {
    build(s.repo_root())?;
    converge(s)?;
    // no timer-started run may interleave with the check's own runs
    s.sh(HOST, "systemctl stop fmc-ddns.timer fmc-ddns.service")?;
    let result = scenario(s);
    let restored = s
        .sh(HOST, "systemctl start fmc-ddns.timer")
        .map(|_| ())
        .map_err(|e| format!("restoring the timer: {e}"));
    result.and(restored)
}

fn build(root: &Path) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args([
            "build",
            "--release",
            "-q",
            // the demo's package set: the same feature resolution, so a no-op after it
            "-p",
            "fmc-cli",
            "-p",
            "fmc-ddns",
            "-p",
            "cf-standin",
        ])
        .current_dir(root)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "cargo build --release -p fmc-ddns -p cf-standin failed ({status})"
        ))
    }
}

fn converge(s: &Suite) -> Result<(), String> {
    let (code, out) = s.fmc_run(&["playbooks/ddns.yaml", "--output", "json"])?;
    if code == 0 {
        return Ok(());
    }
    let mut failed = String::new();
    for line in out.lines() {
        let Ok(e) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if e["event"] == "host_result" && e["status"] == "failed" {
            failed.push_str(&format!("\n  {}: {}", e["task"], e["msg"]));
        }
    }
    Err(format!("fmc-run playbooks/ddns.yaml exited {code}{failed}"))
}

/// `key: "value"` of the installed configuration (the role writes JSON strings).
fn config_value(config: &str, key: &str) -> Result<String, String> {
    config
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")))
        .and_then(|v| serde_json::from_str::<String>(v.trim()).ok())
        .ok_or_else(|| format!("{HOST}:{CONFIG} has no {key}"))
}

fn start_standin(s: &Suite) -> Result<Standin, String> {
    let config = s.sh(HOST, &format!("cat {CONFIG}"))?;
    let zone = config_value(&config, "zone")?;
    let api_url = config_value(&config, "api_url")?;
    let listen =
        crate::lab::demo::cf_standin_listen(&api_url).map_err(|e| format!("{HOST}: {e}"))?;
    let base = format!("http://{listen}");
    if control(s, &base, "GET", "log", None).is_ok() {
        // from scratch: no records, no log, the caller's address
        control(s, &base, "POST", "reset", Some("{}"))?;
        println!("    the lab's cf-standin (test double) answers on {listen}: reset, using it");
        return Ok(Standin { own: None, base });
    }
    let token = s.sh(HOST, &format!("cat {TOKEN}"))?;
    let run_dir = s.repo_root().join(".lab/run");
    std::fs::create_dir_all(&run_dir).map_err(|e| format!("{}: {e}", run_dir.display()))?;
    let token_file = run_dir.join("cf-standin.token");
    crate::lab::demo::write_private(&token_file, token.trim())?;
    let log_path = s.repo_root().join(".lab/logs/cf-standin.log");
    if let Some(dir) = log_path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let log =
        std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let err_log = log
        .try_clone()
        .map_err(|e| format!("{}: {e}", log_path.display()))?;
    let bin = s.repo_root().join("target/release/cf-standin");
    let child = s
        .cmd(Ns::Internet, &bin.display().to_string())
        .args(["--listen", &listen, "--zone", &zone, "--token-file"])
        .arg(&token_file)
        .stdout(log)
        .stderr(err_log)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let standin = Standin {
        own: Some((child, token_file)),
        base,
    };
    wait_for(
        "the Cloudflare test double answering",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || Ok(control(s, &standin.base, "GET", "log", None).ok()),
    )?;
    println!("    cf-standin (test double) on {listen}, zone {zone}");
    Ok(standin)
}

/// A call of the double's control API from the internet namespace.
fn control(
    s: &Suite,
    base: &str,
    method: &str,
    op: &str,
    body: Option<&str>,
) -> Result<Value, String> {
    let mut c = s.cmd(Ns::Internet, "curl");
    c.args(["-sS", "-f", "-m", "5", "-X", method])
        .arg(format!("{base}/__standin/{op}"));
    if let Some(b) = body {
        c.args(["-H", "Content-Type: application/json", "--data", b]);
    }
    let out = c.output().map_err(|e| format!("cannot run curl: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{method} {op} on the test double: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("{op}: not JSON: {e}"))
}

/// What one `systemctl start fmc-ddns.service` did.
struct UnitRun {
    ok: bool,
    result: String,
    journal: String,
    secs: f64,
}

fn run_unit(s: &Suite) -> Result<UnitRun, String> {
    let t = Instant::now();
    // the check starts the unit more often than systemd's default start limit allows
    // (5 starts in 10 s): reset the counter so every run is a real run
    let out = s.sh_output(
        HOST,
        "systemctl reset-failed fmc-ddns.service 2>/dev/null; systemctl start fmc-ddns.service",
    )?;
    let secs = t.elapsed().as_secs_f64();
    let show = s.sh(
        HOST,
        "systemctl show -p Result --value fmc-ddns.service; systemctl show -p InvocationID --value fmc-ddns.service",
    )?;
    let mut lines = show.lines();
    let result = lines.next().unwrap_or_default().trim().to_string();
    let invocation = lines.next().unwrap_or_default().trim().to_string();
    if invocation.is_empty() || !invocation.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "{HOST}: fmc-ddns.service has no invocation id ({invocation:?})"
        ));
    }
    // journald may take a moment to store the last lines of the run
    let journal = wait_for(
        "the run's lines in the journal",
        Duration::from_secs(5),
        Duration::from_millis(200),
        || {
            let j = s.sh(
                HOST,
                &format!("journalctl --no-pager -o cat _SYSTEMD_INVOCATION_ID={invocation}"),
            )?;
            let done = j.contains("fmc-ddns: error")
                || j.lines()
                    .any(|l| l.contains(" A: ") || l.contains(" AAAA: "));
            Ok(done.then_some(j))
        },
    )?;
    Ok(UnitRun {
        ok: out.status.success(),
        result,
        journal,
        secs,
    })
}

fn writes(log: &Value) -> usize {
    log.as_array()
        .map(|l| {
            l.iter()
                .filter(|e| {
                    e["path"]
                        .as_str()
                        .is_some_and(|p| p.starts_with("/client/v4"))
                        && !matches!(e["method"].as_str(), Some("GET" | "HEAD"))
                })
                .count()
        })
        .unwrap_or(0)
}

fn expect(run: &UnitRun, what: &str, wanted: &[&str]) -> Result<(), String> {
    if !run.ok || run.result != "success" {
        return Err(format!(
            "{what}: fmc-ddns.service failed (Result={}):\n{}",
            run.result,
            run.journal.trim()
        ));
    }
    for w in wanted {
        if !run.journal.contains(w) {
            return Err(format!(
                "{what}: the journal lacks {w:?}:\n{}",
                run.journal.trim()
            ));
        }
    }
    Ok(())
}

fn scenario(s: &Suite) -> Result<(), String> {
    let cf = start_standin(s)?;
    let zone = config_value(&s.sh(HOST, &format!("cat {CONFIG}"))?, "zone")?;
    let vpn = format!("vpn.{zone} A");

    // the KVM host reaches the double through the router's NAT
    let trace = s.sh(HOST, &format!("curl -sS -m 5 {}/cdn-cgi/trace", cf.base))?;
    if !trace.lines().any(|l| l == format!("ip={ROUTER_WAN}")) {
        return Err(format!(
            "{HOST} reaches the test double, which does not see the router's address {ROUTER_WAN}:\n{trace}"
        ));
    }

    let first = run_unit(s)?;
    expect(
        &first,
        "first run",
        &[&format!("{vpn}: created ({ROUTER_WAN}, ttl 300, dns only)")],
    )?;
    let records = control(s, &cf.base, "GET", "records", None)?;
    let vpn_record = records
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["name"] == format!("vpn.{zone}")))
        .ok_or_else(|| format!("the double holds no vpn.{zone} record: {records}"))?;
    if vpn_record["content"] != ROUTER_WAN || vpn_record["proxied"] != false {
        return Err(format!(
            "vpn.{zone} is {vpn_record}, not {ROUTER_WAN} DNS-only"
        ));
    }
    let created = writes(&control(s, &cf.base, "GET", "log", None)?);
    println!("    run 1: created {created} records in {:.2}s", first.secs);

    let before = control(s, &cf.base, "GET", "log", None)?;
    let second = run_unit(s)?;
    expect(&second, "second run", &[&format!("{vpn}: unchanged")])?;
    let after = control(s, &cf.base, "GET", "log", None)?;
    let (n_before, n_after) = (
        before.as_array().map_or(0, Vec::len),
        after.as_array().map_or(0, Vec::len),
    );
    if writes(&after) != writes(&before) {
        return Err(format!(
            "second run: {} write requests on records already in sync",
            writes(&after) - writes(&before)
        ));
    }
    println!(
        "    run 2: unchanged, {} read requests, 0 writes, {:.2}s",
        n_after - n_before,
        second.secs
    );

    control(
        s,
        &cf.base,
        "POST",
        "public-ip",
        Some(&format!("{{\"ip\":\"{NEW_IP}\"}}")),
    )?;
    let third = run_unit(s)?;
    expect(
        &third,
        "after the public address changed",
        &[&format!(
            "{vpn}: updated (content {ROUTER_WAN} -> {NEW_IP})"
        )],
    )?;
    let records = control(s, &cf.base, "GET", "records", None)?;
    let stale: Vec<&Value> = records
        .as_array()
        .map(|rs| rs.iter().filter(|r| r["content"] != NEW_IP).collect())
        .unwrap_or_default();
    if !stale.is_empty() {
        return Err(format!("records not moved to {NEW_IP}: {stale:?}"));
    }
    println!(
        "    run 3: address change {ROUTER_WAN} -> {NEW_IP} followed in {:.2}s",
        third.secs
    );

    control(
        s,
        &cf.base,
        "POST",
        "inject",
        Some(r#"{"status":500,"count":1}"#),
    )?;
    let fourth = run_unit(s)?;
    if fourth.ok || fourth.result == "success" {
        return Err(format!(
            "an API error (500) did not fail fmc-ddns.service:\n{}",
            fourth.journal.trim()
        ));
    }
    if !fourth.journal.contains("HTTP 500") || !fourth.journal.contains("the next run tries again")
    {
        return Err(format!(
            "the journal of the failed run does not say what failed:\n{}",
            fourth.journal.trim()
        ));
    }
    let msg = fourth
        .journal
        .lines()
        .find(|l| l.contains("HTTP 500"))
        .unwrap_or_default();
    println!("    run 4: API error -> unit {} : {msg}", fourth.result);

    let fifth = run_unit(s)?;
    expect(
        &fifth,
        "the run after the API error",
        &[&format!("{vpn}: unchanged ({NEW_IP}")],
    )?;
    println!("    run 5: recovered, {:.2}s", fifth.secs);
    drop(cf);
    Ok(())
}
