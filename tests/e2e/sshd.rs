//! Test hosts: real OpenSSH servers on loopback, one per host, each with its own
//! host key and its own directory tree, logged into as a dedicated user whose
//! shell profile does nothing (`fmctest`, /bin/sh, passwordless sudo).
//!
//! Needs root (to start sshd and create the user) and /usr/sbin/sshd
//! (Debian's openssh-server; `cargo xtask ci` installs it).

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const USER: &str = "fmctest";

/// Whether this process can run real sshd hosts; prints why not.
pub fn can_run() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if !root {
        eprintln!("skipped: needs root to start sshd test hosts");
        return false;
    }
    if !Path::new("/usr/sbin/sshd").exists() {
        panic!("/usr/sbin/sshd is missing: run `cargo xtask ci` (installs openssh-server)");
    }
    true
}

fn sh(cmd: &str) -> std::process::Output {
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .unwrap_or_else(|e| panic!("sh -c {cmd}: {e}"))
}

/// Creates the login user once (safe against concurrent test processes).
pub fn ensure_user() {
    let script = format!(
        "id {u} >/dev/null 2>&1 || useradd -m -s /bin/sh {u} 2>/dev/null || id {u} >/dev/null; \
         printf '%s ALL=(ALL) NOPASSWD: ALL\\n' {u} > /etc/sudoers.d/{u}.tmp.$$ && chmod 0440 /etc/sudoers.d/{u}.tmp.$$ && \
         visudo -cqf /etc/sudoers.d/{u}.tmp.$$ && mv -f /etc/sudoers.d/{u}.tmp.$$ /etc/sudoers.d/{u}; \
         mkdir -p /run/sshd",
        u = USER
    );
    let out = sh(&script);
    assert!(
        out.status.success(),
        "creating {USER}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub struct Sshd {
    pub name: String,
    pub port: u16,
    /// The host's own directory tree (owned by the login user).
    pub root: PathBuf,
    /// `ssh-ed25519 AAAA...` (no comment).
    pub host_key: String,
    dir: PathBuf,
    child: Option<Child>,
}

impl Sshd {
    fn start(dir: &Path, name: &str, authorized: &Path) -> Sshd {
        let hdir = dir.join(format!("sshd-{name}"));
        std::fs::create_dir_all(&hdir).expect("mkdir");
        let key = hdir.join("host_ed25519");
        let out = sh(&format!(
            "ssh-keygen -q -t ed25519 -N '' -f {} -C ''",
            key.display()
        ));
        assert!(out.status.success(), "ssh-keygen");
        let host_key = std::fs::read_to_string(key.with_extension("pub"))
            .expect("host pub")
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        let root = dir.join("hosts").join(name);
        std::fs::create_dir_all(&root).expect("mkdir root");
        sh(&format!("chown -R {USER} {}", root.display()));
        let mut s = Sshd {
            name: name.to_string(),
            port: 0,
            root,
            host_key,
            dir: hdir,
            child: None,
        };
        s.spawn(authorized, None);
        s
    }

    fn spawn(&mut self, authorized: &Path, port: Option<u16>) {
        for _attempt in 0..5 {
            let port = port.unwrap_or_else(free_port);
            let cfg = self.dir.join("sshd_config");
            std::fs::write(
                &cfg,
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {key}\nPidFile {pid}\n\
                     AuthorizedKeysFile {auth}\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
                     KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nLogLevel VERBOSE\n\
                     MaxStartups 100:30:200\n",
                    key = self.dir.join("host_ed25519").display(),
                    pid = self.dir.join("sshd.pid").display(),
                    auth = authorized.display(),
                ),
            )
            .expect("write sshd_config");
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.log())
                .expect("sshd.log");
            let child = Command::new("/usr/sbin/sshd")
                .args(["-D", "-e", "-f"])
                .arg(&cfg)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("spawn sshd");
            self.child = Some(child);
            self.port = port;
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return;
                }
                if let Some(c) = &mut self.child
                    && let Ok(Some(_)) = c.try_wait()
                {
                    break; // port taken: retry with another
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            self.stop();
        }
        panic!("sshd for {} did not start", self.name);
    }

    fn log(&self) -> PathBuf {
        self.dir.join("sshd.log")
    }

    /// How many commands (exec channels) this server has started so far, from its
    /// log (`LogLevel VERBOSE`: one "Starting session: command" line per exec).
    pub fn execs(&self) -> usize {
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("Starting session: command"))
            .count()
    }

    /// Stops the server (its host becomes unreachable).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A set of sshd hosts plus a client key and a matching known_hosts file.
pub struct Fleet {
    pub dir: tempfile::TempDir,
    pub hosts: Vec<Sshd>,
    pub key: PathBuf,
    pub known_hosts: PathBuf,
}

impl Fleet {
    pub fn start(n: usize) -> Fleet {
        ensure_user();
        let dir = tempfile::Builder::new()
            .prefix("fmc-e2e-")
            .tempdir()
            .expect("tempdir");
        // The login user must traverse into its host trees.
        sh(&format!("chmod 0755 {}", dir.path().display()));
        let key = dir.path().join("id_ed25519");
        let out = sh(&format!(
            "ssh-keygen -q -t ed25519 -N '' -f {} -C fmc-e2e",
            key.display()
        ));
        assert!(out.status.success(), "client ssh-keygen");
        let authorized = dir.path().join("authorized_keys");
        std::fs::copy(key.with_extension("pub"), &authorized).expect("authorized_keys");
        let hosts: Vec<Sshd> = (1..=n)
            .map(|i| Sshd::start(dir.path(), &format!("h{i}"), &authorized))
            .collect();
        let known_hosts = dir.path().join("known_hosts");
        let mut kh = String::new();
        for h in &hosts {
            kh.push_str(&format!("[127.0.0.1]:{} {}\n", h.port, h.host_key));
        }
        std::fs::write(&known_hosts, kh).expect("known_hosts");
        Fleet {
            dir,
            hosts,
            key,
            known_hosts,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a YAML inventory with every host in group `web` (plus `extra` YAML
    /// lines appended under `all.vars`).
    pub fn inventory(&self, extra_vars: &str) -> PathBuf {
        let mut s = String::from("all:\n  vars:\n");
        s.push_str(&format!(
            "    ansible_user: {USER}\n    ansible_ssh_private_key_file: {}\n",
            self.key.display()
        ));
        for l in extra_vars.lines() {
            s.push_str(&format!("    {l}\n"));
        }
        s.push_str("  children:\n    web:\n      hosts:\n");
        for h in &self.hosts {
            s.push_str(&format!(
                "        {}:\n          ansible_host: 127.0.0.1\n          ansible_port: {}\n          root: {}\n",
                h.name,
                h.port,
                h.root.display()
            ));
        }
        let p = self.path().join("inventory.yml");
        std::fs::write(&p, s).expect("inventory");
        p
    }
}
