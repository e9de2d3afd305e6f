//! Lab checks of the whole site: hand-made drift is reported exactly by `--check` and
//! nothing is touched; `--tags <role>` re-runs only that role.

use std::collections::BTreeSet;

use super::{Check, Suite};

const SITE: &str = "playbooks/site.yaml";

/// The checks of this file, in order.
pub fn checks() -> Vec<Check> {
    vec![
        Check {
            name: "check-mode-drift",
            proves: "--check after drift on three hosts reports exactly those tasks, changes nothing",
            run: check_mode_drift,
        },
        Check {
            name: "admin-user",
            proves: "the common role's admin user logs in with its key and has sudo, on Debian and Flatcar-profile hosts",
            run: admin_user,
        },
        Check {
            name: "tags-one-role",
            proves: "--tags keepalived runs only the keepalived role's tasks, and changes nothing",
            run: tags_one_role,
        },
    ]
}

/// One hand-made change: a host, a shell script making it, the task that must report it
/// and a probe whose output must not change under `--check`.
struct Drift {
    host: &'static str,
    make: &'static str,
    task: &'static str,
    probe: &'static str,
}

const DRIFTS: &[Drift] = &[
    Drift {
        host: "master1",
        // inside the block the role manages (lines outside it are not its business)
        make: "sed -i 's/^10\\.17\\.4\\.26 worker3/10.17.4.99 worker3/' /etc/hosts && grep -q '^10.17.4.99 worker3' /etc/hosts",
        task: "common : every machine of the inventory in /etc/hosts",
        probe: "sha256sum /etc/hosts",
    },
    Drift {
        host: "loadbalancer2",
        make: "ln -sfn /usr/share/zoneinfo/Etc/UTC /etc/localtime",
        task: "common : timezone",
        probe: "readlink /etc/localtime",
    },
    Drift {
        host: "postgresql1",
        make: "echo '# drift' >> /etc/hostname",
        task: "common : persistent hostname",
        probe: "sha256sum /etc/hostname",
    },
];

/// (host, task) of every `changed` result of a JSON event stream.
pub(super) fn changed_results(stdout: &str) -> BTreeSet<(String, String)> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "host_result" && e["status"] == "changed")
        .filter_map(|e| {
            Some((
                e["host"].as_str()?.to_string(),
                e["task"].as_str()?.to_string(),
            ))
        })
        .collect()
}

fn check_mode_drift(s: &Suite) -> Result<(), String> {
    let result = drift_and_check(s);
    // converge the drifted hosts back, also after a failure
    let limit: Vec<&str> = DRIFTS.iter().map(|d| d.host).collect();
    let (code, out) = s.fmc_run(&[SITE, "--limit", &limit.join(","), "--output", "json"])?;
    let restored = changed_results(&out);
    result?;
    if code != 0 {
        return Err(format!("converging the drifted hosts back exited {code}"));
    }
    let expected: BTreeSet<(String, String)> = DRIFTS
        .iter()
        .map(|d| (d.host.to_string(), d.task.to_string()))
        .collect();
    if !expected.is_subset(&restored) {
        return Err(format!(
            "the real run did not repair every drift: changed {restored:?}"
        ));
    }
    Ok(())
}

fn drift_and_check(s: &Suite) -> Result<(), String> {
    let mut before = Vec::new();
    for d in DRIFTS {
        s.sh(d.host, d.make)?;
        before.push(s.sh(d.host, d.probe)?);
    }
    let (code, out) = s.fmc_run(&[SITE, "--check", "--output", "json"])?;
    if code != 0 {
        return Err(format!("--check run exited {code}"));
    }
    let reported = changed_results(&out);
    let expected: BTreeSet<(String, String)> = DRIFTS
        .iter()
        .map(|d| (d.host.to_string(), d.task.to_string()))
        .collect();
    if reported != expected {
        let extra: Vec<_> = reported.difference(&expected).collect();
        let missing: Vec<_> = expected.difference(&reported).collect();
        return Err(format!(
            "--check reported {} changes; not expected: {extra:?}; missing: {missing:?}",
            reported.len()
        ));
    }
    for (d, b) in DRIFTS.iter().zip(&before) {
        let after = s.sh(d.host, d.probe)?;
        if &after != b {
            return Err(format!("--check changed {} on {}", d.probe, d.host));
        }
    }
    println!(
        "    --check reported exactly the {} drifted tasks and left them as they were",
        expected.len()
    );
    Ok(())
}

fn tags_one_role(s: &Suite) -> Result<(), String> {
    let (code, out) = s.fmc_run(&[SITE, "--tags", "keepalived", "--output", "json"])?;
    if code != 0 {
        return Err(format!("--tags keepalived exited {code}"));
    }
    let mut tasks = BTreeSet::new();
    for e in out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "host_result")
    {
        let task = e["task"].as_str().unwrap_or_default().to_string();
        if task != "Gathering Facts" && !task.starts_with("keepalived : ") {
            return Err(format!("--tags keepalived ran '{task}'"));
        }
        tasks.insert(task);
    }
    if !tasks.iter().any(|t| t.starts_with("keepalived : ")) {
        return Err("--tags keepalived ran no keepalived task".into());
    }
    let changed = changed_results(&out);
    if !changed.is_empty() {
        return Err(format!(
            "--tags keepalived changed {changed:?} on a converged lab"
        ));
    }
    println!(
        "    {} keepalived tasks ran, nothing else, nothing changed",
        tasks.len() - usize::from(tasks.contains("Gathering Facts"))
    );
    Ok(())
}

/// The admin user of the staging inventory (`common_admin_users`).
const ADMIN: &str = "ops";

fn admin_user(s: &Suite) -> Result<(), String> {
    for host in ["loadbalancer1", "master1"] {
        let out = s.sh_as(host, ADMIN, "id -un && sudo -n true && echo sudo-ok")?;
        if out.lines().collect::<Vec<_>>() != [ADMIN, "sudo-ok"] {
            return Err(format!("{ADMIN}@{host}: unexpected answer {out:?}"));
        }
        let mode = s.sh(
            host,
            &format!("stat -c '%a %U' /home/{ADMIN}/.ssh/authorized_keys"),
        )?;
        if mode.trim() != format!("600 {ADMIN}") {
            return Err(format!("{host}: authorized_keys is {}", mode.trim()));
        }
    }
    println!(
        "    {ADMIN} logs in with its key and runs sudo on loadbalancer1 (Debian) and master1 (Flatcar profile)"
    );
    Ok(())
}
