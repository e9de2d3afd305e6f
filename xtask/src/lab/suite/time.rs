//! Lab checks of time keeping (role `chrony`): the chrony clients select the infra
//! node's chronyd, the Flatcar hosts' systemd-timesyncd gets its answers from it, and no
//! daemon can step the machine's shared clock (no CAP_SYS_TIME in any lab host).
//!
//! In the lab the server has no upstream (no internet): it serves its own clock at
//! `local stratum`, so its stratum identifies its answers on the clients.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::super::topology::{Profile, load_group_vars};
use super::{Check, Suite, shell_quote, wait_for};

const PLAYBOOK: &str = "playbooks/time.yaml";
/// Bound for a restarted client to use the server again (chrony `iburst`: 4 polls 2 s
/// apart; timesyncd: its first poll right after start).
const RESELECT_LIMIT: Duration = Duration::from_secs(30);
/// Bit of CAP_SYS_TIME in /proc/PID/status capability masks.
const CAP_SYS_TIME: u32 = 25;

/// The checks of this file, in order.
pub fn checks() -> Vec<Check> {
    vec![
        Check {
            name: "chrony-selection",
            proves: "every chrony client selects the infra server (^*); a restarted one reselects it in < 30 s",
            run: chrony_selection,
        },
        Check {
            name: "timesyncd-points-at-infra",
            proves: "Flatcar hosts' timesyncd is answered by the infra server; no time daemon holds CAP_SYS_TIME",
            run: timesyncd_points_at_infra,
        },
    ]
}

/// Who serves and who follows.
struct Time {
    /// The server's address (`ntp_server`).
    server_addr: String,
    /// The inventory host whose address that is.
    server: String,
    /// Hosts running chronyd as clients (Debian profile: Rocky/Alma in production).
    chrony_clients: Vec<String>,
    /// Hosts running systemd-timesyncd (Flatcar profile).
    timesyncd_clients: Vec<String>,
}

static CONVERGED: AtomicBool = AtomicBool::new(false);

/// Converges `playbooks/time.yaml` (once per suite run) and reads who is who.
fn prepare(s: &Suite) -> Result<Time, String> {
    if !CONVERGED.load(Ordering::SeqCst) {
        let (code, out) = s.fmc_run(&[PLAYBOOK])?;
        if code != 0 {
            return Err(format!("{PLAYBOOK} exited {code}:\n{}", tail(&out, 15)));
        }
        CONVERGED.store(true, Ordering::SeqCst);
    }
    let staging = s.repo_root().join("inventory/staging");
    let all = load_group_vars(&staging, "all")?;
    let server_addr = all
        .get("ntp_server")
        .and_then(|v| v.as_str())
        .ok_or("inventory/staging: no string variable 'ntp_server'")?
        .to_string();
    let server = s
        .topo
        .hosts
        .iter()
        .find(|h| h.address.to_string() == server_addr)
        .ok_or_else(|| format!("no lab host has the ntp_server address {server_addr}"))?
        .name
        .clone();
    let names = |p: Profile| -> Vec<String> {
        s.topo
            .hosts
            .iter()
            .filter(|h| h.profile == p && h.name != server)
            .map(|h| h.name.clone())
            .collect()
    };
    let t = Time {
        chrony_clients: names(Profile::Debian),
        timesyncd_clients: names(Profile::Flatcar),
        server_addr,
        server,
    };
    if t.chrony_clients.is_empty() || t.timesyncd_clients.is_empty() {
        return Err("the checks expect chrony clients and timesyncd clients in the lab".into());
    }
    Ok(t)
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Whether `chronyc -n sources` shows `addr` as the selected source (`^*`).
fn selects(sources: &str, addr: &str) -> bool {
    sources
        .lines()
        .any(|l| l.split_whitespace().take(2).eq(["^*", addr]))
}

/// A poll of [`wait_for`]: `host` selects `addr`, or the error is its source list.
fn selected(s: &Suite, host: &str, addr: &str) -> Result<Option<()>, String> {
    let out = s.sh(host, "chronyc -n sources")?;
    if selects(&out, addr) {
        Ok(Some(()))
    } else {
        Err(out)
    }
}

/// The server's stratum, from `chronyc -n tracking` on it.
fn server_stratum(s: &Suite, t: &Time) -> Result<u32, String> {
    let tracking = s.sh(&t.server, "chronyc -n tracking")?;
    field(&tracking, "Stratum", ':')
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            format!(
                "{}: no stratum in `chronyc tracking`:\n{tracking}",
                t.server
            )
        })
}

/// The value of `key<sep> value` in a line of `text`.
fn field<'a>(text: &'a str, key: &str, sep: char) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(sep)?;
        (k.trim() == key).then(|| v.trim())
    })
}

/// Fails if the main process of `unit` on `host` may set the clock (CAP_SYS_TIME in its
/// bounding set: the lab's containers never grant it).
fn no_clock_control(s: &Suite, host: &str, unit: &str) -> Result<(), String> {
    let script = format!(
        "pid=$(systemctl show -p MainPID --value {u}); [ \"$pid\" -gt 0 ] && grep '^CapBnd:' /proc/$pid/status",
        u = shell_quote(unit)
    );
    let out = s.sh(host, &script)?;
    let mask = out
        .split_whitespace()
        .nth(1)
        .and_then(|m| u64::from_str_radix(m, 16).ok())
        .ok_or_else(|| format!("{host}: cannot read the capabilities of {unit}: {out}"))?;
    if mask & (1 << CAP_SYS_TIME) != 0 {
        return Err(format!(
            "{host}: {unit} has CAP_SYS_TIME in its bounding set: it could step the machine's clock"
        ));
    }
    Ok(())
}

fn chrony_selection(s: &Suite) -> Result<(), String> {
    let t = prepare(s)?;
    let tracking = s.sh(&t.server, "chronyc -n tracking")?;
    if field(&tracking, "Leap status", ':') != Some("Normal") {
        return Err(format!(
            "{}: chronyd does not serve a synchronised time:\n{tracking}",
            t.server
        ));
    }
    no_clock_control(s, &t.server, "chrony")?;
    for h in &t.chrony_clients {
        wait_for(
            &format!("{h} selecting {}", t.server_addr),
            RESELECT_LIMIT,
            Duration::from_millis(500),
            || selected(s, h, &t.server_addr),
        )?;
        no_clock_control(s, h, "chrony")?;
    }
    println!(
        "    {} chrony clients select {} ({}); none may set the clock",
        t.chrony_clients.len(),
        t.server_addr,
        t.chrony_clients.join(", ")
    );
    served(s, &t, &t.chrony_clients)?;

    // a restarted client (the one farthest away: last in inventory order) reselects
    let h = t.chrony_clients.last().ok_or("no chrony client")?;
    s.sh(h, "systemctl restart chrony")?;
    let start = Instant::now();
    wait_for(
        &format!("{h} reselecting {} after a restart", t.server_addr),
        RESELECT_LIMIT,
        Duration::from_millis(200),
        || selected(s, h, &t.server_addr),
    )?;
    println!(
        "    {h}: chronyd restarted, {} selected again after {:.1} s",
        t.server_addr,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Fails unless the server's `chronyc -n clients` lists the address of every host of
/// `clients` with NTP packets received (they reach it without address translation).
fn served(s: &Suite, t: &Time, clients: &[String]) -> Result<(), String> {
    let list = s.sh(&t.server, "chronyc -n clients")?;
    for h in clients {
        let addr = s.host(h)?.address.to_string();
        let asked = list.lines().any(|l| {
            let mut f = l.split_whitespace();
            f.next() == Some(addr.as_str())
                && f.next().and_then(|n| n.parse::<u64>().ok()) > Some(0)
        });
        if !asked {
            return Err(format!(
                "{}: `chronyc clients` shows no NTP packets from {h} ({addr}):\n{list}",
                t.server
            ));
        }
    }
    println!("    {} counts NTP packets from each of them", t.server);
    Ok(())
}

/// `timedatectl show-timesync` on `host`: (ServerAddress, NTPMessage).
fn timesync(s: &Suite, host: &str) -> Result<(String, String), String> {
    let out = s.sh(
        host,
        "timedatectl show-timesync --property=ServerAddress --property=NTPMessage",
    )?;
    Ok((
        field(&out, "ServerAddress", '=')
            .unwrap_or_default()
            .to_string(),
        field(&out, "NTPMessage", '=')
            .unwrap_or_default()
            .to_string(),
    ))
}

/// The `Key=value` of an NTPMessage (`{ Leap=0, Version=4, ..., Stratum=10, ... }`).
fn message_field(message: &str, key: &str) -> Option<String> {
    message
        .trim_matches(|c| c == '{' || c == '}' || c == ' ')
        .split(", ")
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=').map(str::to_string))
}

fn timesyncd_points_at_infra(s: &Suite) -> Result<(), String> {
    let t = prepare(s)?;
    let stratum = server_stratum(s, &t)?.to_string();
    // an answer from our server: its address, and its stratum in the last NTP message
    let answered = |h: &str| -> Result<Option<()>, String> {
        let (server, message) = timesync(s, h)?;
        if server == t.server_addr
            && message_field(&message, "Stratum").as_deref() == Some(stratum.as_str())
        {
            Ok(Some(()))
        } else {
            Err(format!("server '{server}', last message '{message}'"))
        }
    };
    for h in &t.timesyncd_clients {
        wait_for(
            &format!("{h}: timesyncd answered by {}", t.server_addr),
            RESELECT_LIMIT,
            Duration::from_millis(500),
            || answered(h),
        )?;
        no_clock_control(s, h, "systemd-timesyncd")?;
    }
    println!(
        "    {} timesyncd clients use {} and got its stratum-{stratum} answers; none may set the clock",
        t.timesyncd_clients.len(),
        t.server_addr
    );

    served(s, &t, &t.timesyncd_clients)?;

    // a restarted timesyncd (a new process: no answer yet) asks the server again at once
    let h = t.timesyncd_clients.first().ok_or("no timesyncd client")?;
    s.sh(h, "systemctl restart systemd-timesyncd")?;
    let start = Instant::now();
    wait_for(
        &format!("{h}: a new answer from {} after a restart", t.server_addr),
        RESELECT_LIMIT,
        Duration::from_millis(200),
        || answered(h),
    )?;
    println!(
        "    {h}: timesyncd restarted, answered again by {} after {:.1} s",
        t.server_addr,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selected_source_is_recognised() {
        let out = "MS Name/IP address         Stratum Poll Reach LastRx Last sample\n\
                   ===============================================================================\n\
                   ^* 192.168.0.30                 10   6   377    12    +13us[  +20us] +/-   95us\n";
        assert!(selects(out, "192.168.0.30"));
        assert!(!selects(out, "192.168.0.3"));
        assert!(!selects(&out.replace("^*", "^?"), "192.168.0.30"));
    }

    #[test]
    fn ntp_message_fields() {
        let m = "{ Leap=0, Version=4, Mode=4, Stratum=10, Precision=-25, RootDelay=0, \
                 RootDispersion=0, Reference=7F7F0101, OriginateTimestamp=Sat 2026-11-21 10:00:00 UTC, \
                 ReceiveTimestamp=Sat 2026-11-21 10:00:01 UTC, TransmitTimestamp=Sat 2026-11-21 10:00:01 UTC, \
                 Ignored=no, PacketCount=3, Jitter=0 }";
        assert_eq!(message_field(m, "Stratum").as_deref(), Some("10"));
        assert_eq!(
            message_field(m, "ReceiveTimestamp").as_deref(),
            Some("Sat 2026-11-21 10:00:01 UTC")
        );
        assert_eq!(message_field(m, "Mode").as_deref(), Some("4"));
        assert_eq!(message_field(m, "Missing"), None);
        assert_eq!(
            field(
                "Stratum         : 10\nLeap status     : Normal",
                "Leap status",
                ':'
            ),
            Some("Normal")
        );
    }
}
