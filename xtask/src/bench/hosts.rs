//! The throwaway SSH fleet: one plain `sshd -D` per host on 127.0.0.1 with its own port,
//! host key, config and directory tree, all logging in as the dedicated user `fmcbench`.

use std::fs;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Tool, run_checked};

/// The login every tool uses on every bench host.
pub const USER: &str = "fmcbench";

const SSHD: &str = "/usr/sbin/sshd";

/// One bench host as the inventories describe it.
#[derive(Clone, Debug)]
pub struct Host {
    /// Inventory name, `h001` ...
    pub name: String,
    /// TCP port of its sshd on 127.0.0.1.
    pub port: u16,
    /// Its directory tree (`bench_root`), writable by [`USER`].
    pub root: PathBuf,
}

/// Running sshd processes; dropping the fleet stops them (by the PIDs spawned here).
pub struct Fleet {
    /// The hosts, in inventory order.
    pub hosts: Vec<Host>,
    children: Vec<Child>,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for child in &mut self.children {
            // sshd -D exits on SIGKILL like on SIGTERM; its per-connection children end
            // when their clients disconnect.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Creates the login user if needed (idempotent) and authorizes `pubkey` for this run.
/// The user has `/bin/sh`, an empty `.profile` and no `.bashrc`: nothing runs at login.
pub fn ensure_user(pubkey: &str) -> Result<(), String> {
    let exists = Command::new("id")
        .arg(USER)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run id: {e}"))?
        .success();
    if !exists {
        run_checked(Command::new("useradd").args([
            "--create-home",
            "--shell",
            "/bin/sh",
            "--comment",
            "fmc bench login",
            USER,
        ]))?;
    }
    // '*' (not '!'): with UsePAM no, sshd refuses accounts whose password is locked with '!'.
    run_checked(Command::new("usermod").args(["--shell", "/bin/sh", "--password", "*", USER]))?;
    let home = PathBuf::from(format!("/home/{USER}"));
    let passwd = fs::read_to_string("/etc/passwd").map_err(|e| format!("/etc/passwd: {e}"))?;
    let home = passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&USER) && f.len() > 5).then(|| PathBuf::from(f[5]))
        })
        .unwrap_or(home);
    let ssh_dir = home.join(".ssh");
    fs::create_dir_all(&ssh_dir).map_err(|e| format!("{}: {e}", ssh_dir.display()))?;
    for f in [".bashrc", ".bash_logout", ".bash_profile"] {
        let _ = fs::remove_file(home.join(f));
    }
    write(&home.join(".profile"), "")?;
    write(&home.join(".hushlogin"), "")?;
    write(&ssh_dir.join("authorized_keys"), pubkey)?;
    set_mode(&ssh_dir, 0o700)?;
    set_mode(&ssh_dir.join("authorized_keys"), 0o600)?;
    chown_user(&home)?;
    Ok(())
}

/// Ports tried for each host (a port taken by someone else is skipped).
const PORT_ATTEMPTS: usize = 5;

/// Hands out free ports on 127.0.0.1 from `port_base + 1` upwards, skipping any port
/// that cannot be bound right now.
struct Ports(u32);

impl Ports {
    fn next(&mut self) -> Result<u16, String> {
        while self.0 < 65535 {
            self.0 += 1;
            let Ok(port) = u16::try_from(self.0) else {
                break;
            };
            if TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).is_ok() {
                return Ok(port);
            }
        }
        Err(
            "no free port left on 127.0.0.1 above --port-base\nhint: pass a lower --port-base"
                .into(),
        )
    }
}

/// Starts `count` sshd instances on free ports above `port_base` (busy ports are
/// skipped, and a host whose sshd loses its port in a race gets another), each with
/// its own host key and config under `workdir/sshd/hNNN`, and waits until every one
/// answers with its banner.
pub fn start(
    workdir: &Path,
    count: usize,
    port_base: u16,
    tools: &[Tool],
) -> Result<Fleet, String> {
    fs::create_dir_all("/run/sshd").map_err(|e| format!("/run/sshd: {e}"))?;
    let mut fleet = Fleet {
        hosts: Vec::with_capacity(count),
        children: Vec::with_capacity(count),
    };
    let mut ports = Ports(u32::from(port_base));
    for i in 1..=count {
        let name = format!("h{i:03}");
        let host = Host {
            root: workdir.join("hosts").join(&name),
            name,
            port: ports.next()?,
        };
        for tool in tools {
            let d = host.root.join(tool.key());
            fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
        chown_user(&host.root)?;
        let child = spawn_sshd(workdir, &host)?;
        fleet.children.push(child);
        fleet.hosts.push(host);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for i in 0..count {
        let mut attempt = 1;
        loop {
            match wait_banner(&fleet.hosts[i], &mut fleet.children[i], deadline) {
                Ok(()) => break,
                Err(Exited(status)) if attempt < PORT_ATTEMPTS => {
                    // Most likely someone took the port after the bind test: move on.
                    eprintln!(
                        "bench: sshd for {} on port {} exited ({status}); trying another port",
                        fleet.hosts[i].name, fleet.hosts[i].port
                    );
                    attempt += 1;
                    fleet.hosts[i].port = ports.next()?;
                    fleet.children[i] = spawn_sshd(workdir, &fleet.hosts[i])?;
                }
                Err(Exited(status)) => {
                    let log = workdir
                        .join("sshd")
                        .join(&fleet.hosts[i].name)
                        .join("sshd.log");
                    let first = fs::read_to_string(&log).unwrap_or_default();
                    return Err(format!(
                        "sshd for {} exited ({status}) on {PORT_ATTEMPTS} ports: {}",
                        fleet.hosts[i].name,
                        first.lines().next().unwrap_or("no output")
                    ));
                }
                Err(TimedOut) => {
                    return Err(format!(
                        "sshd for {} did not answer on 127.0.0.1:{} within 30 s",
                        fleet.hosts[i].name, fleet.hosts[i].port
                    ));
                }
            }
        }
    }
    Ok(fleet)
}

fn spawn_sshd(workdir: &Path, host: &Host) -> Result<Child, String> {
    let dir = workdir.join("sshd").join(&host.name);
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let key = dir.join("ssh_host_ed25519_key");
    if !key.exists() {
        run_checked(
            Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C"])
                .arg(&host.name)
                .arg("-f")
                .arg(&key),
        )?;
    }
    let config = format!(
        "# generated by cargo xtask bench\n\
         ListenAddress 127.0.0.1:{port}\n\
         HostKey {key}\n\
         PidFile none\n\
         AllowUsers {USER}\n\
         AuthenticationMethods publickey\n\
         PubkeyAuthentication yes\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         UsePAM no\n\
         PrintMotd no\n\
         PrintLastLog no\n\
         UseDNS no\n\
         MaxStartups 500:30:1000\n\
         MaxSessions 50\n\
         LogLevel ERROR\n\
         Subsystem sftp internal-sftp\n",
        port = host.port,
        key = key.display(),
    );
    let cfg = dir.join("sshd_config");
    write(&cfg, &config)?;
    let log = fs::File::create(dir.join("sshd.log")).map_err(|e| format!("sshd.log: {e}"))?;
    Command::new(SSHD)
        .arg("-D")
        .arg("-e")
        .arg("-f")
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        // Own process group: a Ctrl-C on the terminal reaches the bench, which then
        // stops these hosts itself (Fleet::drop).
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start {SSHD}: {e}\nhint: apt-get install -y openssh-server"))
}

/// Why an sshd did not come up.
enum NotUp {
    Exited(std::process::ExitStatus),
    TimedOut,
}
use NotUp::{Exited, TimedOut};

fn wait_banner(host: &Host, child: &mut Child, deadline: Instant) -> Result<(), NotUp> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, host.port));
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Exited(status));
        }
        if let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 8];
            if s.read_exact(&mut buf).is_ok() && buf.starts_with(b"SSH-") {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err(TimedOut);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Removes `hosts/hNNN/<tool>/<sub>` so the next run starts from nothing.
pub fn reset(hosts: &[Host], tool: Tool, sub: &str) -> Result<(), String> {
    for h in hosts {
        let d = h.root.join(tool.key()).join(sub);
        if d.exists() {
            fs::remove_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn chown_user(path: &Path) -> Result<(), String> {
    run_checked(
        Command::new("chown")
            .arg("-R")
            .arg(format!("{USER}:{USER}"))
            .arg(path),
    )
}
