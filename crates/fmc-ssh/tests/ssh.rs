//! fmc-ssh against real OpenSSH servers on 127.0.0.1 (see `support`).

#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fmc_core::{BecomeSpec, Connection, ExecOutput, ExecRequest, Secret, TransportError};
use fmc_ssh::{HostKeyPolicy, LocalConnection, SshClient, SshOptions, SshTarget};
use sha2::{Digest, Sha256};
use support::{Fixture, KEY_PASSPHRASE, LOGIN_USER, NOPASS_USER, Sshd};

/// Options that read nothing from the real home: a scratch known_hosts, no
/// ssh_config, no agent.
fn options(known_hosts: &Path, policy: HostKeyPolicy) -> SshOptions {
    SshOptions {
        host_key_policy: policy,
        known_hosts: Some(known_hosts.to_path_buf()),
        ssh_config: None,
        use_agent: false,
        ..Default::default()
    }
}

fn target(sshd: &Sshd, fixture: &Fixture, user: &str) -> SshTarget {
    SshTarget {
        alias: "testhost".into(),
        host: Some("127.0.0.1".into()),
        port: Some(sshd.port),
        user: Some(user.into()),
        identity_files: vec![fixture.key.clone()],
        ..Default::default()
    }
}

/// A scratch dir whose `known_hosts` trusts the given servers.
fn trusting(servers: &[&Sshd]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("known_hosts");
    let lines: Vec<String> = servers.iter().map(|s| s.known_hosts_line()).collect();
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    (dir, file)
}

/// A server and a connection to it as [`LOGIN_USER`].
async fn connected(fixture: &Fixture) -> (Sshd, tempfile::TempDir, Arc<dyn Connection>) {
    let sshd = Sshd::start(fixture);
    let (dir, known) = trusting(&[&sshd]);
    let client = SshClient::new(options(&known, HostKeyPolicy::Strict)).unwrap();
    let conn = client
        .connect(&target(&sshd, fixture, LOGIN_USER))
        .await
        .unwrap();
    (sshd, dir, conn)
}

/// SHA256 fingerprint of a public key line, computed by ssh-keygen.
fn keygen_fingerprint(public_key: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("k.pub");
    std::fs::write(&file, public_key).unwrap();
    let out = Command::new("ssh-keygen")
        .args(["-l", "-E", "sha256", "-f"])
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_whitespace().nth(1).unwrap().to_string()
}

fn become_root() -> Option<BecomeSpec> {
    Some(BecomeSpec {
        method: "sudo".into(),
        ..Default::default()
    })
}

fn ok(out: Result<ExecOutput, TransportError>) -> ExecOutput {
    out.unwrap_or_else(|e| panic!("exec failed: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn exec_reports_rc_stdout_stderr_and_env() {
    let Some(fixture) = support::fixture() else {
        return;
    };
    let (sshd, _dir, conn) = connected(fixture).await;
    assert_eq!(
        conn.describe(),
        format!("ssh {LOGIN_USER}@127.0.0.1:{}", sshd.port)
    );
    let out = ok(conn
        .exec(ExecRequest::new("echo out; echo err >&2; exit 3"))
        .await);
    assert_eq!(
        (out.rc, out.stdout_str(), out.stderr_str()),
        (3, "out\n".into(), "err\n".into())
    );
    let mut req = ExecRequest::new("printf '%s|%s' \"$A\" \"$(id -un)\"");
    req.env = vec![("A".into(), "x y'z $HOME".into())];
    let out = ok(conn.exec(req).await);
    assert_eq!(out.stdout_str(), format!("x y'z $HOME|{LOGIN_USER}"));
}

#[tokio::test(flavor = "multi_thread")]
async fn stdin_of_5_mib_arrives_intact() {
    let Some(fixture) = support::fixture() else {
        return;
    };
    let (_sshd, _dir, conn) = connected(fixture).await;
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let data: Vec<u8> = (0..5 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let expected = format!("{:x}", Sha256::digest(&data));
    let mut req = ExecRequest::new("sha256sum");
    req.stdin = Some(data);
    let out = ok(conn.exec(req).await);
    assert_eq!(out.rc, 0);
    assert_eq!(out.stdout_str(), format!("{expected}  -\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_concurrent_execs_on_one_connection_all_succeed() {
    let Some(fixture) = support::fixture() else {
        return;
    };
    let (_sshd, _dir, conn) = connected(fixture).await;
    let runs = (0..50).map(|i| {
        let conn = conn.clone();
        async move { (i, conn.exec(ExecRequest::new(format!("echo {i}"))).await) }
    });
    for (i, result) in futures::future::join_all(runs).await {
        let out = result.unwrap_or_else(|e| panic!("exec {i}: {e}"));
        assert_eq!((out.rc, out.stdout_str()), (0, format!("{i}\n")));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn become_runs_as_root_and_keeps_stdin_clean() {
    let Some(fixture) = support::fixture() else {
        return;
    };
    let (_sshd, _dir, conn) = connected(fixture).await;
    let mut req = ExecRequest::new("id -u; echo warn >&2");
    req.become_spec = become_root();
    let out = ok(conn.exec(req).await);
    assert_eq!(
        (out.rc, out.stdout_str(), out.stderr_str()),
        (0, "0\n".into(), "warn\n".into())
    );

    let mut req = ExecRequest::new("id -un");
    req.become_spec = Some(BecomeSpec {
        user: Some(NOPASS_USER.into()),
        method: "sudo".into(),
        ..Default::default()
    });
    assert_eq!(
        ok(conn.exec(req).await).stdout_str(),
        format!("{NOPASS_USER}\n")
    );

    // NOPASSWD: sudo does not read the password; it must not reach the script.
    let mut req = ExecRequest::new("cat");
    req.stdin = Some(b"payload\nline 2".to_vec());
    req.become_spec = Some(BecomeSpec {
        password: Some(Secret::new("unused-password".into())),
        method: "sudo".into(),
        ..Default::default()
    });
    let out = ok(conn.exec(req).await);
    assert_eq!((out.rc, out.stdout_str()), (0, "payload\nline 2".into()));
    assert_eq!(out.stderr_str(), "");
}

#[tokio::test(flavor = "multi_thread")]
async fn become_without_sudo_rights_is_a_become_error() {
    let Some(fixture) = support::fixture() else {
        return;
    };
    let sshd = Sshd::start(fixture);
    let (_dir, known) = trusting(&[&sshd]);
    let client = SshClient::new(options(&known, HostKeyPolicy::Strict)).unwrap();
    let conn = client
        .connect(&target(&sshd, fixture, NOPASS_USER))
        .await
        .unwrap();
    let mut req = ExecRequest::new("id -u");
    req.become_spec = become_root();
    match conn.exec(req).await {
        Err(TransportError::Become(msg)) => {
            assert!(msg.contains("a password is required"), "{msg}");
            assert!(msg.contains("hint: pass --ask-become-pass"), "{msg}");
        }
        other => panic!("expected a become error, got {other:?}"),
    }
    let mut req = ExecRequest::new("id -u");
    req.become_spec = Some(BecomeSpec {
        password: Some(Secret::new("wrong-secret-pw".into())),
        method: "sudo".into(),
        ..Default::default()
    });
    match conn.exec(req).await {
        Err(TransportError::Become(msg)) => {
            assert!(msg.contains("incorrect become password"), "{msg}");
            assert!(!msg.contains("wrong-secret-pw"), "{msg}");
        }
        other => panic!("expected a become error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn strict_rejects_unknown_host_and_accept_new_learns_it() {
    let Some(fixture) = support::fixture() else {
        return;
    };
    let sshd = Sshd::start(fixture);
    let dir = tempfile::tempdir().unwrap();
    let known = dir.path().join("ssh/known_hosts");
    let fp = keygen_fingerprint(&sshd.host_key);

    let strict = SshClient::new(options(&known, HostKeyPolicy::Strict)).unwrap();
    match strict.connect(&target(&sshd, fixture, LOGIN_USER)).await {
        Err(TransportError::HostKey(msg)) => {
            assert!(msg.contains("is not known"), "{msg}");
            assert!(msg.contains(&fp), "{msg}");
        }
        other => panic!("expected a host key error, got {:?}", other.err()),
    }

    let accept = SshClient::new(options(&known, HostKeyPolicy::AcceptNew)).unwrap();
    let conn = accept
        .connect(&target(&sshd, fixture, LOGIN_USER))
        .await
        .unwrap();
    assert_eq!(ok(conn.exec(ExecRequest::new("true")).await).rc, 0);
    let text = std::fs::read_to_string(&known).unwrap();
    assert_eq!(text, format!("{}\n", sshd.known_hosts_line()));
    assert_eq!(keygen_fingerprint(&sshd.host_key), fp);

    let conn = strict
        .connect(&target(&sshd, fixture, LOGIN_USER))
        .await
        .unwrap();
    assert_eq!(ok(conn.exec(ExecRequest::new("true")).await).rc, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn changed_host_key_names_file_line_and_both_fingerprints() {
    let Some(fixture) = support::fixture() else {
        return;
    };
    let sshd = Sshd::start(fixture);
    let dir = tempfile::tempdir().unwrap();
    let known = dir.path().join("known_hosts");
    let other_key = std::fs::read_to_string(format!("{}.pub", fixture.key.display())).unwrap();
    std::fs::write(
        &known,
        format!(
            "# managed by hand\n[127.0.0.1]:{} {}",
            sshd.port,
            other_key.trim()
        ),
    )
    .unwrap();
    for policy in [HostKeyPolicy::Strict, HostKeyPolicy::AcceptNew] {
        let client = SshClient::new(options(&known, policy)).unwrap();
        match client.connect(&target(&sshd, fixture, LOGIN_USER)).await {
            Err(TransportError::HostKey(msg)) => {
                assert!(msg.contains("host key mismatch"), "{msg}");
                assert!(msg.contains(&format!("{}:2", known.display())), "{msg}");
                assert!(msg.contains(&keygen_fingerprint(&other_key)), "{msg}");
                assert!(msg.contains(&keygen_fingerprint(&sshd.host_key)), "{msg}");
                assert!(
                    msg.contains("hint: ") && msg.contains("ssh-keygen"),
                    "{msg}"
                );
            }
            other => panic!("expected a host key error, got {:?}", other.err()),
        }
    }
    // Off connects anyway.
    let client = SshClient::new(options(&known, HostKeyPolicy::Off)).unwrap();
    assert!(
        client
            .connect(&target(&sshd, fixture, LOGIN_USER))
            .await
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hashed_entry_matches_and_revoked_key_is_refused() {
    let Some(fixture) = support::fixture() else {
        return;
    };
    let sshd = Sshd::start(fixture);
    let (_dir, known) = trusting(&[&sshd]);
    let out = Command::new("ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(&known)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(std::fs::read_to_string(&known).unwrap().starts_with("|1|"));
    let client = SshClient::new(options(&known, HostKeyPolicy::Strict)).unwrap();
    let conn = client
        .connect(&target(&sshd, fixture, LOGIN_USER))
        .await
        .unwrap();
    assert_eq!(ok(conn.exec(ExecRequest::new("true")).await).rc, 0);

    let mut text = std::fs::read_to_string(&known).unwrap();
    text.push_str(&format!("@revoked * {}\n", sshd.host_key));
    std::fs::write(&known, text).unwrap();
    match client.connect(&target(&sshd, fixture, LOGIN_USER)).await {
        Err(TransportError::HostKey(msg)) => assert!(msg.contains("@revoked"), "{msg}"),
        other => panic!("expected a host key error, got {:?}", other.err()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn encrypted_key_needs_its_passphrase() {
    let Some(fixture) = support::fixture() else {
        return;
    };
    let sshd = Sshd::start(fixture);
    let (_dir, known) = trusting(&[&sshd]);
    let client = SshClient::new(options(&known, HostKeyPolicy::Strict)).unwrap();
    let mut t = target(&sshd, fixture, LOGIN_USER);
    t.identity_files = vec![fixture.encrypted_key.clone()];
    match client.connect(&t).await {
        Err(TransportError::Unreachable(msg)) => {
            assert!(
                msg.contains(&format!("authentication failed for user '{LOGIN_USER}'")),
                "{msg}"
            );
            assert!(msg.contains("encrypted, no passphrase given"), "{msg}");
        }
        other => panic!("expected unreachable, got {:?}", other.err()),
    }
    t.key_passphrase = Some(Secret::new(KEY_PASSPHRASE.into()));
    let conn = client.connect(&t).await.unwrap();
    assert_eq!(ok(conn.exec(ExecRequest::new("true")).await).rc, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_errors_say_why() {
    let Some(fixture) = support::fixture() else {
        return;
    };
    let sshd = Sshd::start(fixture);
    let (_dir, known) = trusting(&[&sshd]);
    let client = SshClient::new(options(&known, HostKeyPolicy::Strict)).unwrap();
    let mut t = target(&sshd, fixture, LOGIN_USER);
    t.identity_files = vec![PathBuf::from("/nonexistent/id_fmc")];
    match client.connect(&t).await {
        Err(TransportError::Unreachable(msg)) => {
            assert!(msg.contains("/nonexistent/id_fmc (not found)"), "{msg}")
        }
        other => panic!("expected unreachable, got {:?}", other.err()),
    }
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    t.port = Some(closed);
    match client.connect(&t).await {
        Err(TransportError::Unreachable(msg)) => {
            assert_eq!(
                msg,
                format!("ssh {LOGIN_USER}@127.0.0.1:{closed}: connection refused")
            )
        }
        other => panic!("expected unreachable, got {:?}", other.err()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ssh_config_supplies_hostname_user_port_and_key() {
    let Some(fixture) = support::fixture() else {
        return;
    };
    let sshd = Sshd::start(fixture);
    let (dir, known) = trusting(&[&sshd]);
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        format!(
            "Host other\n    User nobody\nHost web-*  !web-9\n    HostName 127.0.0.1\n    Port {}\n    User {LOGIN_USER}\n    IdentityFile {}\n",
            sshd.port,
            fixture.key.display()
        ),
    )
    .unwrap();
    let mut opts = options(&known, HostKeyPolicy::Strict);
    opts.ssh_config = Some(config);
    let client = SshClient::new(opts).unwrap();
    let conn = client
        .connect(&SshTarget {
            alias: "web-1".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        conn.describe(),
        format!("ssh {LOGIN_USER}@127.0.0.1:{}", sshd.port)
    );
    let out = ok(conn.exec(ExecRequest::new("id -un")).await);
    assert_eq!(out.stdout_str(), format!("{LOGIN_USER}\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn proxy_jump_goes_through_the_bastion() {
    let Some(fixture) = support::fixture() else {
        return;
    };
    let bastion = Sshd::start(fixture);
    let inner = Sshd::start(fixture);
    let closed_bastion = Sshd::start_with(fixture, "AllowTcpForwarding no");
    let (_dir, known) = trusting(&[&bastion, &inner, &closed_bastion]);
    let client = SshClient::new(options(&known, HostKeyPolicy::Strict)).unwrap();
    let mut t = target(&inner, fixture, LOGIN_USER);
    t.proxy_jump = Some(format!("{LOGIN_USER}@127.0.0.1:{}", bastion.port));
    let first = client.connect(&t).await.unwrap();
    let second = client.connect(&t).await.unwrap();
    for conn in [&first, &second] {
        let out = ok(conn.exec(ExecRequest::new("echo via")).await);
        assert_eq!(out.stdout_str(), "via\n");
    }
    // Both targets share one bastion connection.
    assert_eq!(bastion.session_pids().len(), 1);
    assert_eq!(inner.session_pids().len(), 2);

    // With forwarding disabled on the bastion the target is unreachable, so the
    // route really goes through it.
    t.proxy_jump = Some(format!("{LOGIN_USER}@127.0.0.1:{}", closed_bastion.port));
    match client.connect(&t).await {
        Err(TransportError::Unreachable(msg)) => {
            assert!(
                msg.contains(&format!(
                    "jump host {LOGIN_USER}@127.0.0.1:{} cannot reach 127.0.0.1:{}",
                    closed_bastion.port, inner.port
                )),
                "{msg}"
            )
        }
        other => panic!("expected unreachable, got {:?}", other.err()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn timeout_kills_the_remote_command() {
    let Some(fixture) = support::fixture() else {
        return;
    };
    let (_sshd, _dir, conn) = connected(fixture).await;
    let mut req = ExecRequest::new("sleep 37; echo never");
    req.timeout = Some(Duration::from_secs(1));
    let started = Instant::now();
    match conn.exec(req).await {
        Err(TransportError::Timeout(t)) => assert_eq!(t, Duration::from_secs(1)),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(8));
    let left = Command::new("pgrep")
        .args(["-u", LOGIN_USER, "-f", "sleep 37"])
        .output()
        .unwrap();
    assert!(
        !left.status.success(),
        "sleep survived: {}",
        String::from_utf8_lossy(&left.stdout)
    );
    // The connection is still usable.
    assert_eq!(ok(conn.exec(ExecRequest::new("true")).await).rc, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn dropped_connection_is_broken_until_reconnect() {
    let Some(fixture) = support::fixture() else {
        return;
    };
    // Killing sessions makes sshd complain on stderr; keep the test output clean.
    let sshd = Sshd::start_with(fixture, "LogLevel QUIET");
    let (_dir, known) = trusting(&[&sshd]);
    let client = SshClient::new(options(&known, HostKeyPolicy::Strict)).unwrap();
    let conn = client
        .connect(&target(&sshd, fixture, LOGIN_USER))
        .await
        .unwrap();
    assert_eq!(ok(conn.exec(ExecRequest::new("true")).await).rc, 0);
    for pid in sshd.session_pids() {
        let status = Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    match conn.exec(ExecRequest::new("true")).await {
        Err(e @ TransportError::Broken(_)) => assert!(e.is_unreachable()),
        other => panic!("expected broken, got {other:?}"),
    }
    conn.reconnect().await.unwrap();
    assert_eq!(
        ok(conn.exec(ExecRequest::new("echo back")).await).stdout_str(),
        "back\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn local_connection_behaves_like_ssh() {
    let Some(fixture) = support::fixture() else {
        return;
    };
    let (_sshd, _dir, ssh) = connected(fixture).await;
    let local = LocalConnection::new();
    assert_eq!(local.describe(), "local");
    let mut requests = vec![
        ExecRequest::new("echo a; echo b >&2; exit 4"),
        ExecRequest::new("kill -9 $$"),
    ];
    let mut env = ExecRequest::new("printf %s \"$X\"");
    env.env = vec![("X".into(), "it's $x".into())];
    requests.push(env);
    let mut stdin = ExecRequest::new("tr a-z A-Z");
    stdin.stdin = Some(b"hello\n".to_vec());
    requests.push(stdin);
    let mut root = ExecRequest::new("id -u");
    root.become_spec = become_root();
    requests.push(root);
    for req in requests {
        let script = req.script.clone();
        let via_ssh = ok(ssh.exec(req.clone()).await);
        let via_local = ok(local.exec(req).await);
        assert_eq!(via_ssh.rc, via_local.rc, "{script}");
        assert_eq!(via_ssh.stdout, via_local.stdout, "{script}");
        assert_eq!(via_ssh.stderr_str(), via_local.stderr_str(), "{script}");
    }
    let mut slow = ExecRequest::new("sleep 5");
    slow.timeout = Some(Duration::from_millis(300));
    assert!(matches!(
        local.exec(slow).await,
        Err(TransportError::Timeout(_))
    ));
}

/// Prints sequential exec latency with and without `TCP_QUICKACK` re-arming,
/// direct and through a jump host. Measures; asserts nothing about speed.
#[tokio::test(flavor = "multi_thread")]
async fn measure_sequential_exec_latency() {
    let Some(fixture) = support::fixture() else {
        return;
    };
    let bastion = Sshd::start(fixture);
    let sshd = Sshd::start(fixture);
    let (_dir, known) = trusting(&[&sshd, &bastion]);
    for quickack in [true, false] {
        for jump in [false, true] {
            let client = SshClient::new(options(&known, HostKeyPolicy::Strict)).unwrap();
            client.set_tcp_quickack(quickack);
            let mut t = target(&sshd, fixture, LOGIN_USER);
            if jump {
                t.proxy_jump = Some(format!("{LOGIN_USER}@127.0.0.1:{}", bastion.port));
            }
            let conn = client.connect(&t).await.unwrap();
            let started = Instant::now();
            for _ in 0..100 {
                assert_eq!(ok(conn.exec(ExecRequest::new("true")).await).rc, 0);
            }
            let total = started.elapsed();
            println!(
                "latency: 100 sequential `true` execs, quickack={quickack}, jump={jump}: {:.0} ms total, {:.2} ms/exec",
                total.as_secs_f64() * 1e3,
                total.as_secs_f64() * 10.0
            );
        }
    }
}

/// The agent path, with a real ssh-agent. SSH_AUTH_SOCK can't be set safely in
/// a multi-threaded test, so the test re-runs itself in a child process with it.
#[tokio::test(flavor = "multi_thread")]
async fn agent_key_authenticates() {
    if let (Ok(port), Ok(known)) = (
        std::env::var("FMC_AGENT_TEST_PORT"),
        std::env::var("FMC_AGENT_TEST_KNOWN_HOSTS"),
    ) {
        let mut opts = options(Path::new(&known), HostKeyPolicy::Strict);
        opts.use_agent = true;
        let client = SshClient::new(opts).unwrap();
        let conn = client
            .connect(&SshTarget {
                alias: "agent".into(),
                host: Some("127.0.0.1".into()),
                port: Some(port.parse().unwrap()),
                user: Some(LOGIN_USER.into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            ok(conn.exec(ExecRequest::new("echo agent")).await).stdout_str(),
            "agent\n"
        );
        return;
    }
    let Some(fixture) = support::fixture() else {
        return;
    };
    let sshd = Sshd::start(fixture);
    let (dir, known) = trusting(&[&sshd]);
    let socket = dir.path().join("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&socket)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !socket.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let added = Command::new("ssh-add")
        .arg("-q")
        .arg(&fixture.key)
        .env("SSH_AUTH_SOCK", &socket)
        .status()
        .unwrap();
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["agent_key_authenticates", "--exact", "--nocapture"])
        .env("SSH_AUTH_SOCK", &socket)
        .env("FMC_AGENT_TEST_PORT", sshd.port.to_string())
        .env("FMC_AGENT_TEST_KNOWN_HOSTS", &known)
        .env("HOME", dir.path())
        .output()
        .unwrap();
    let _ = agent.kill();
    let _ = agent.wait();
    assert!(added.success());
    assert!(
        child.status.success() && String::from_utf8_lossy(&child.stdout).contains("1 passed"),
        "{}{}",
        String::from_utf8_lossy(&child.stdout),
        String::from_utf8_lossy(&child.stderr)
    );
}
