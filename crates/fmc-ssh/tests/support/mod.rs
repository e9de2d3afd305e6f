//! Test harness: real OpenSSH servers on 127.0.0.1, one per test host.
//!
//! Self-contained (std + tempfile only) so it can move to a shared dev crate.
//! Each [`Sshd`] gets its own temp dir, ed25519 host key, sshd_config and free
//! port, runs `/usr/sbin/sshd -D -e -f <cfg>` as a child and is killed by PID on
//! drop. Logins use the dedicated user [`LOGIN_USER`] (shell `/bin/sh`, so no
//! heavy `~/.bashrc` runs per exec) with passwordless sudo; [`NOPASS_USER`] has no
//! sudoers entry. Creating users and sudoers files needs root: [`fixture`] prints
//! `skipped: needs root` and returns `None` otherwise.
#![allow(dead_code)]

use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The user tests log in as; `NOPASSWD: ALL` in sudoers.
pub const LOGIN_USER: &str = "fmctest";
/// A user without any sudoers entry.
pub const NOPASS_USER: &str = "fmcnopass";
/// Passphrase of [`Fixture::encrypted_key`].
pub const KEY_PASSPHRASE: &str = "correct horse battery";

const SSHD: &str = "/usr/sbin/sshd";
const SUDOERS_FILE: &str = "/etc/sudoers.d/fmctest";

/// Client keys shared by every test of the run.
pub struct Fixture {
    dir: tempfile::TempDir,
    /// Unencrypted ed25519 private key, authorized on every server.
    pub key: PathBuf,
    /// Passphrase-protected ed25519 private key, authorized on every server.
    pub encrypted_key: PathBuf,
}

impl Fixture {
    /// A scratch directory that lives as long as the test run.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Whether this process runs as root (uid of `/proc/self`).
pub fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The shared fixture; `None` (after printing `skipped: needs root`) when the
/// users and sudoers entry can't be created.
pub fn fixture() -> Option<&'static Fixture> {
    static FIXTURE: OnceLock<Option<Fixture>> = OnceLock::new();
    let fixture = FIXTURE.get_or_init(|| {
        if !is_root() || !Path::new(SSHD).exists() {
            return None;
        }
        ensure_user(LOGIN_USER);
        ensure_user(NOPASS_USER);
        ensure_sudoers();
        std::fs::create_dir_all("/run/sshd").expect("create /run/sshd");
        let dir = tempfile::tempdir().expect("tempdir");
        let key = dir.path().join("id_ed25519");
        keygen(&key, "");
        let encrypted_key = dir.path().join("id_encrypted");
        keygen(&encrypted_key, KEY_PASSPHRASE);
        Some(Fixture {
            dir,
            key,
            encrypted_key,
        })
    });
    if fixture.is_none() {
        println!("skipped: needs root (and {SSHD})");
    }
    fixture.as_ref()
}

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn keygen(path: &Path, passphrase: &str) {
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-C", "", "-N", passphrase, "-f"])
        .arg(path));
}

/// Creates the user if missing: home dir, `/bin/sh`, and a non-locked password
/// field (`*`) because sshd without PAM refuses locked (`!`) accounts.
fn ensure_user(name: &str) {
    let exists = Command::new("id")
        .args(["-u", name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !exists {
        run(Command::new("useradd").args(["-m", "-s", "/bin/sh", "-p", "*", name]));
    }
}

fn ensure_sudoers() {
    let wanted = format!("{LOGIN_USER} ALL=(ALL) NOPASSWD: ALL\n");
    if std::fs::read_to_string(SUDOERS_FILE).is_ok_and(|t| t == wanted) {
        return;
    }
    let tmp = format!("{SUDOERS_FILE}.tmp{}", std::process::id());
    std::fs::write(&tmp, &wanted).expect("write sudoers");
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o440)).expect("chmod");
    run(Command::new("visudo").args(["-cf", &tmp]));
    std::fs::rename(&tmp, SUDOERS_FILE).expect("install sudoers");
}

/// One OpenSSH server on 127.0.0.1.
pub struct Sshd {
    dir: tempfile::TempDir,
    child: Child,
    /// The port it listens on.
    pub port: u16,
    /// Its host public key, `ssh-ed25519 AAAA...`.
    pub host_key: String,
}

impl Sshd {
    /// A server accepting the fixture's keys for every user.
    pub fn start(fixture: &Fixture) -> Sshd {
        Sshd::start_with(fixture, "")
    }

    /// Like [`Sshd::start`], with extra sshd_config lines (they override the defaults).
    pub fn start_with(fixture: &Fixture, extra_config: &str) -> Sshd {
        let dir = tempfile::tempdir().expect("tempdir");
        // sshd reads authorized_keys as the login user.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let host_key = dir.path().join("host_ed25519");
        keygen(&host_key, "");
        let mut authorized = String::new();
        for key in [&fixture.key, &fixture.encrypted_key] {
            let public =
                std::fs::read_to_string(format!("{}.pub", key.display())).expect("public key");
            authorized.push_str(&public);
        }
        let authorized_keys = dir.path().join("authorized_keys");
        std::fs::write(&authorized_keys, authorized).expect("authorized_keys");
        std::fs::set_permissions(&authorized_keys, std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
        let host_public =
            std::fs::read_to_string(format!("{}.pub", host_key.display())).expect("host key");
        let host_key_line = host_public.trim().to_string();
        for _ in 0..5 {
            let port = free_port();
            let config = dir.path().join("sshd_config");
            std::fs::write(
                &config,
                // sshd keeps the first value of a keyword: extras go first.
                format!(
                    "{extra_config}\nPort {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\n\
                     AuthorizedKeysFile {}\nStrictModes no\nUsePAM no\n\
                     PermitRootLogin prohibit-password\nPasswordAuthentication no\n\
                     KbdInteractiveAuthentication no\nMaxSessions 10\nLogLevel ERROR\n",
                    host_key.display(),
                    dir.path().join("sshd.pid").display(),
                    authorized_keys.display(),
                ),
            )
            .expect("sshd_config");
            let mut child = Command::new(SSHD)
                .arg("-D")
                .arg("-e")
                .arg("-f")
                .arg(&config)
                .stdin(Stdio::null())
                .spawn()
                .expect("start sshd");
            if wait_for_pid_file(&mut child, &dir.path().join("sshd.pid")) {
                return Sshd {
                    dir,
                    child,
                    port,
                    host_key: host_key_line,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("sshd did not start");
    }

    /// `[127.0.0.1]:PORT ssh-ed25519 AAAA...`, a known_hosts line for this server.
    pub fn known_hosts_line(&self) -> String {
        format!("[127.0.0.1]:{} {}", self.port, self.host_key)
    }

    /// The listener's PID (per-connection sshd processes are its children).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// PIDs of the per-connection sshd processes (children of the listener).
    pub fn session_pids(&self) -> Vec<u32> {
        let path = format!("/proc/{0}/task/{0}/children", self.child.id());
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// sshd writes its PidFile once it listens; probing the port instead would make
/// it log an aborted key exchange.
fn wait_for_pid_file(child: &mut Child, pid_file: &Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return false;
        }
        if std::fs::read_to_string(pid_file).is_ok_and(|pid| pid.trim() == child.id().to_string()) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}
