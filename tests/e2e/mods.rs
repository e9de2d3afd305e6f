//! hostname, authorized_key, wait_for_connection (and cron files) against real sshd
//! hosts. Everything they manage stays in each host's own tree (`path:` under
//! `{{ root }}`); `hostname` runs only under `--check` without `become` (it would
//! rename this machine otherwise).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use super::sshd::{self, Fleet};
use super::{fmc, read, write_playbook};

const K2: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQK2 bob@desk";

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).expect("stat").permissions().mode() & 0o7777
}

#[test]
fn authorized_key_converges_checks_and_diffs() {
    if !sshd::can_run() {
        return;
    }
    let fleet = Fleet::start(2);
    let inv = fleet.inventory("");
    let inv = inv.to_str().expect("utf8");
    let k1 = read(&fleet.key.with_extension("pub")).trim().to_string();
    let pb = write_playbook(
        &fleet,
        "keys.yml",
        &format!(
            "- hosts: web\n  gather_facts: false\n  tasks:\n    - name: keys\n      ansible.posix.authorized_key:\n        user: {}\n        path: \"{{{{ root }}}}/ssh/authorized_keys\"\n        exclusive: true\n        key: |\n          {k1}\n          {K2}\n",
            sshd::USER
        ),
    );
    let first = fmc(&fleet, &["-i", inv, &pb, "--output", "json"]);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    assert_eq!(first.total("changed"), 2, "{}", first.stdout);
    for h in &fleet.hosts {
        let f = h.root.join("ssh/authorized_keys");
        assert_eq!(read(&f), format!("{k1}\n{K2}\n"));
        assert_eq!(mode(&f), 0o600);
        assert_eq!(mode(&h.root.join("ssh")), 0o700);
    }

    // nothing to do: one exec (the probe) per host
    let before = fleet.hosts[0].execs();
    let second = fmc(&fleet, &["-i", inv, &pb, "--output", "json"]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(second.total("changed"), 0, "{}", second.stdout);
    assert_eq!(fleet.hosts[0].execs() - before, 1, "execs on h1");

    // drift on h2: --check reports exactly that, --diff shows it, nothing applied
    let drifted = fleet.hosts[1].root.join("ssh/authorized_keys");
    let bad = format!("{k1}\nssh-ed25519 AAAAintruder eve\n{K2}\n");
    std::fs::write(&drifted, &bad).expect("drift");
    let check = fmc(
        &fleet,
        &["-i", inv, &pb, "--check", "--diff", "--output", "json"],
    );
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert_eq!(check.recap()["h1"]["changed"], 0, "{}", check.stdout);
    assert_eq!(check.recap()["h2"]["changed"], 1, "{}", check.stdout);
    let r = check.results_for("keys");
    let h2 = r.iter().find(|e| e["host"] == "h2").expect("h2 result");
    assert_eq!(h2["diff"]["before"], bad.as_str(), "{h2}");
    assert_eq!(h2["diff"]["after"], format!("{k1}\n{K2}\n").as_str());
    assert_eq!(read(&drifted), bad, "--check modified the host");
    let fix = fmc(&fleet, &["-i", inv, &pb, "--output", "json"]);
    assert_eq!(fix.recap()["h2"]["changed"], 1, "{}", fix.stdout);
    assert_eq!(read(&drifted), format!("{k1}\n{K2}\n"));
}

#[test]
fn hostname_under_check_reports_without_touching_the_machine() {
    if !sshd::can_run() {
        return;
    }
    let fleet = Fleet::start(1);
    let inv = fleet.inventory("");
    let inv = inv.to_str().expect("utf8");
    let kernel = read(std::path::Path::new("/proc/sys/kernel/hostname"))
        .trim()
        .to_string();
    let etc_before = std::fs::read_to_string("/etc/hostname").ok();
    let pb = write_playbook(
        &fleet,
        "hostname.yml",
        "- hosts: web\n  gather_facts: false\n  tasks:\n    - name: rename\n      hostname: {name: fmc-e2e-not-applied}\n",
    );
    let r = fmc(
        &fleet,
        &["-i", inv, &pb, "--check", "--diff", "--output", "json"],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let res = r.results_for("rename");
    assert_eq!(res[0]["status"], "changed", "{}", r.stdout);
    let changes: Vec<String> = res[0]["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| c.as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        changes.contains(&format!(
            "set the running host name to fmc-e2e-not-applied (currently {kernel})"
        )),
        "{changes:?}"
    );
    assert_eq!(
        res[0]["diff"]["after"], "hostname = fmc-e2e-not-applied\n",
        "{}",
        r.stdout
    );
    assert_eq!(
        read(std::path::Path::new("/proc/sys/kernel/hostname")).trim(),
        kernel
    );
    assert_eq!(std::fs::read_to_string("/etc/hostname").ok(), etc_before);
}

/// Forwards connections from `listener` to `to` (both on loopback).
fn forward(listener: TcpListener, to: u16) {
    for conn in listener.incoming() {
        let Ok(client) = conn else { return };
        let Ok(server) = TcpStream::connect(("127.0.0.1", to)) else {
            return;
        };
        for (mut a, mut b) in [
            (
                client.try_clone().expect("clone"),
                server.try_clone().expect("clone"),
            ),
            (server, client),
        ] {
            std::thread::spawn(move || {
                let mut buf = [0u8; 16384];
                while let Ok(n) = a.read(&mut buf) {
                    if n == 0 || b.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = b.shutdown(Shutdown::Write);
            });
        }
    }
}

#[test]
fn wait_for_connection_waits_for_a_host_that_comes_up_late() {
    if !sshd::can_run() {
        return;
    }
    let fleet = Fleet::start(1);
    // h1 is reached through a port nobody listens on for the first 3 seconds.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let inv = fleet.inventory("");
    let text = read(&inv).replace(
        &format!("ansible_port: {}", fleet.hosts[0].port),
        &format!("ansible_port: {port}"),
    );
    std::fs::write(&inv, text).expect("inventory");
    let kh =
        read(&fleet.known_hosts) + &format!("[127.0.0.1]:{port} {}\n", fleet.hosts[0].host_key);
    std::fs::write(&fleet.known_hosts, kh).expect("known_hosts");
    let inv = inv.to_str().expect("utf8");
    let pb = write_playbook(
        &fleet,
        "wait.yml",
        "- hosts: web\n  gather_facts: false\n  tasks:\n    - name: wait\n      ansible.builtin.wait_for_connection: {timeout: 60, sleep: 1, connect_timeout: 5}\n      register: w\n    - name: after\n      copy: {dest: \"{{ root }}/waited\", content: \"{{ w.elapsed }}\"}\n",
    );

    // in check mode the task is skipped, as in Ansible (nothing listens yet)
    let check = fmc(&fleet, &["-i", inv, &pb, "--check", "--output", "json"]);
    assert_eq!(
        check.results_for("wait")[0]["status"],
        "skipped",
        "{}",
        check.stdout
    );

    let sshd_port = fleet.hosts[0].port;
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(3));
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
            forward(l, sshd_port);
        }
    });
    let r = fmc(&fleet, &["-i", inv, &pb, "--output", "json"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let res = r.results_for("wait");
    assert_eq!(res[0]["status"], "ok", "{}", r.stdout);
    let elapsed: u64 = read(&fleet.hosts[0].root.join("waited"))
        .parse()
        .expect("elapsed");
    assert!((2..60).contains(&elapsed), "elapsed {elapsed}");
}

#[test]
fn wait_for_connection_times_out_as_a_failure() {
    if !sshd::can_run() {
        return;
    }
    let mut fleet = Fleet::start(2);
    let inv = fleet.inventory("");
    let inv = inv.to_str().expect("utf8");
    fleet.hosts[1].stop();
    let pb = write_playbook(
        &fleet,
        "wait.yml",
        "- hosts: web\n  gather_facts: false\n  tasks:\n    - name: wait\n      wait_for_connection: {timeout: 2, connect_timeout: 1}\n",
    );
    let r = fmc(&fleet, &["-i", inv, &pb, "--output", "json"]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    let recap = r.recap();
    assert_eq!(recap["h1"]["ok"], 1, "{recap}");
    assert_eq!(recap["h1"]["changed"], 0, "{recap}");
    assert_eq!(recap["h2"]["failed"], 1, "{recap}");
    assert_eq!(recap["h2"]["unreachable"], 0, "{recap}");
    let res = r.results_for("wait");
    let h2 = res.iter().find(|e| e["host"] == "h2").expect("h2");
    let msg = h2["msg"].as_str().unwrap_or_default();
    assert!(
        msg.starts_with("timed out waiting for ping module test"),
        "{msg}"
    );
}

#[test]
fn cron_file_converges_and_second_run_changes_nothing() {
    if !sshd::can_run() {
        return;
    }
    let fleet = Fleet::start(1);
    let inv = fleet.inventory("");
    let inv = inv.to_str().expect("utf8");
    let pb = write_playbook(
        &fleet,
        "cron.yml",
        &format!(
            "- hosts: web\n  gather_facts: false\n  tasks:\n    - name: job\n      ansible.builtin.cron:\n        name: prune images\n        job: /opt/bin/k3s crictl rmi --prune\n        minute: \"15\"\n        hour: \"3\"\n        user: {}\n        cron_file: \"{{{{ root }}}}/cron.d/k3s-prune\"\n",
            sshd::USER
        ),
    );
    std::fs::create_dir_all(fleet.hosts[0].root.join("cron.d")).expect("mkdir");
    std::process::Command::new("chown")
        .arg(sshd::USER)
        .arg(fleet.hosts[0].root.join("cron.d"))
        .status()
        .expect("chown");
    let first = fmc(&fleet, &["-i", inv, &pb, "--output", "json"]);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    assert_eq!(first.total("changed"), 1, "{}", first.stdout);
    let f = fleet.hosts[0].root.join("cron.d/k3s-prune");
    assert_eq!(
        read(&f),
        format!(
            "#Ansible: prune images\n15 3 * * * {} /opt/bin/k3s crictl rmi --prune\n",
            sshd::USER
        )
    );
    assert_eq!(mode(&f), 0o644);
    let second = fmc(&fleet, &["-i", inv, &pb, "--check", "--output", "json"]);
    assert_eq!(second.total("changed"), 0, "{}", second.stdout);
    let third = fmc(&fleet, &["-i", inv, &pb, "--output", "json"]);
    assert_eq!(third.total("changed"), 0, "{}", third.stdout);
}
