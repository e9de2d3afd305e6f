//! The `firewalld` module against the real firewalld (Debian's package), which the lab's
//! hosts do not otherwise run: installed and started on one host for this check, purged
//! afterwards (also on failure).

use std::time::Duration;

use super::drift::changed_results;
use super::{Check, Suite, wait_for};

/// The playbook of firewalld tasks, and the host it runs on.
const PLAYBOOK: &str = "tests/lab/firewalld.yaml";
const HOST: &str = "postgresql1";
/// Tasks of the playbook (each changes something on a fresh firewalld).
const TASKS: usize = 5;
const PORT_TASK: &str = "a port, permanent and immediate";

/// The checks of this file, in order.
pub fn checks() -> Vec<Check> {
    vec![Check {
        name: "firewalld-module",
        proves: "the firewalld module converges a real firewalld (port, service, rich rule, source, runtime and permanent), changes nothing on a second run, and --check reports exactly a runtime drift",
        run: firewalld_module,
    }]
}

fn firewalld_module(s: &Suite) -> Result<(), String> {
    let result = install(s).and_then(|()| exercise(s));
    // the host goes back to what the roles made of it, also after a failure
    let cleanup = s
        .sh(
            HOST,
            "systemctl disable --now firewalld >/dev/null 2>&1; \
             DEBIAN_FRONTEND=noninteractive apt-get -q -y purge --autoremove firewalld >/dev/null && \
             ! nft list tables | grep -q firewalld",
        )
        .map_err(|e| format!("cleanup: {e}"));
    result?;
    cleanup.map(|_| ())
}

fn install(s: &Suite) -> Result<(), String> {
    s.sh(
        HOST,
        "DEBIAN_FRONTEND=noninteractive apt-get -q -y install firewalld >/dev/null && systemctl enable --now firewalld",
    )?;
    wait_for(
        "firewalld running",
        Duration::from_secs(30),
        Duration::from_millis(250),
        || {
            Ok(s.sh(HOST, "firewall-cmd --state 2>/dev/null || true")?
                .trim()
                .eq("running")
                .then_some(()))
        },
    )
}

/// The runtime and permanent state the playbook makes, as firewall-cmd reports it.
fn state(s: &Suite) -> Result<String, String> {
    s.sh(
        HOST,
        "firewall-cmd --zone=public --list-ports; firewall-cmd --permanent --zone=public --list-ports; \
         firewall-cmd --zone=public --list-services; firewall-cmd --permanent --zone=public --list-services; \
         firewall-cmd --zone=public --list-rich-rules; firewall-cmd --permanent --zone=public --list-rich-rules; \
         firewall-cmd --zone=trusted --list-sources; firewall-cmd --permanent --zone=trusted --list-sources",
    )
}

fn run(s: &Suite, extra: &[&str]) -> Result<Vec<String>, String> {
    let mut args = vec![PLAYBOOK, "--output", "json"];
    args.extend_from_slice(extra);
    let (code, out) = s.fmc_run(&args)?;
    if code != 0 {
        return Err(format!("{PLAYBOOK} {extra:?} exited {code}"));
    }
    Ok(changed_results(&out).into_iter().map(|(_, t)| t).collect())
}

fn exercise(s: &Suite) -> Result<(), String> {
    let first = run(s, &[])?;
    if first.len() != TASKS - 1 {
        // the closed port was never open: 4 of the 5 tasks change a fresh firewalld
        return Err(format!("first run changed {first:?}, expected 4 tasks"));
    }
    let st = state(s)?;
    let lines: Vec<&str> = st.lines().collect();
    let want = [
        (0, "5432/tcp", "runtime port"),
        (1, "5432/tcp", "permanent port"),
        (2, "ntp", "runtime service"),
        (4, "vrrp", "runtime rich rule"),
        (5, "vrrp", "permanent rich rule"),
        (7, "10.17.4.0/24", "permanent trusted source"),
    ];
    for (i, needle, what) in want {
        if !lines.get(i).is_some_and(|l| l.contains(needle)) {
            return Err(format!("{what} missing; firewall-cmd says:\n{st}"));
        }
    }
    // runtime-only and permanent-only items stay where they were put
    if lines.get(3).is_some_and(|l| l.contains("ntp"))
        || lines.get(6).is_some_and(|l| l.contains("10.17.4.0/24"))
        || st.contains("9999")
    {
        return Err(format!("an item landed in the wrong configuration:\n{st}"));
    }
    let second = run(s, &[])?;
    if !second.is_empty() {
        return Err(format!("second run changed {second:?}"));
    }
    // drift the runtime configuration by hand: --check names exactly that task, changes nothing
    s.sh(
        HOST,
        "firewall-cmd --zone=public --remove-port=5432/tcp >/dev/null",
    )?;
    let drifted = state(s)?;
    let check = run(s, &["--check"])?;
    if check != [PORT_TASK] {
        return Err(format!("--check after a runtime drift reported {check:?}"));
    }
    if state(s)? != drifted {
        return Err("--check changed firewalld".into());
    }
    let repair = run(s, &[])?;
    if repair != [PORT_TASK] || state(s)? != st {
        return Err(format!("the repair run changed {repair:?}"));
    }
    println!(
        "    first run changed 4 tasks, second 0; --check reported exactly '{PORT_TASK}' after a runtime drift and left it; firewall-cmd agrees"
    );
    Ok(())
}
