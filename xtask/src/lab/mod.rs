//! The staging lab (`cargo xtask lab ...`), driven by `inventory/staging`; see `lab/README.md`.

mod container;
mod demo;
mod image;
mod net;
mod repo;
mod state;
mod suite;
mod topology;

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use net::{LAB_NS, Netns};
use state::Lab;
use topology::{Host, Topology};

const USAGE: &str = "usage: cargo xtask lab <command>
  up              build images if needed and start the whole lab (tears leftovers down first)
  down            stop and remove everything the lab started (idempotent)
  status          which hosts run and answer SSH, lab memory
  ssh HOST [CMD]  ssh into a host as its inventory user, from the controller's position
  exec [--from router|internet|laptop] -- CMD
                  run CMD inside the lab (default: the controller's namespace, on the LAN),
                  from the repository root, with target/release on PATH (fmc-run and
                  fmc-vault are built first) and the staging vault password file set
  stop HOST       power a host off (keeps its disk)
  start HOST      boot a stopped host
  reset HOST      power off, wipe the disk back to the image, boot
  test [--list] [CHECK...]
                  run the role checks against a converged lab (all when none named)";

/// Host packages the lab needs on this machine.
const HOST_PACKAGES: &[&str] = &[
    "mmdebstrap",
    "systemd-container",
    "iproute2",
    "nftables",
    "python3",
    "openssh-client",
    "dpkg-dev",
    "util-linux",
    "procps",
];

struct Ctx {
    repo_root: PathBuf,
    lab: Lab,
    inventory: PathBuf,
    etc_netns: PathBuf,
}

impl Ctx {
    fn new() -> Self {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let repo_root = manifest.parent().unwrap_or(manifest).to_path_buf();
        Ctx {
            lab: Lab {
                dir: repo_root.join(".lab"),
            },
            inventory: repo_root.join("inventory").join("staging"),
            etc_netns: Path::new("/etc/netns").join(LAB_NS),
            repo_root,
        }
    }

    fn topology(&self) -> Result<Topology, String> {
        topology::load(&self.inventory)
    }
}

/// `cargo xtask lab ARGS`.
pub fn main(args: &[String]) -> Result<(), String> {
    let ctx = Ctx::new();
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    match a.as_slice() {
        ["up"] => up(&ctx),
        ["down"] => down(&ctx),
        ["status"] => status(&ctx),
        ["ssh", host, rest @ ..] => ssh(&ctx, host, rest),
        ["exec", rest @ ..] => exec(&ctx, rest),
        ["stop", host] => stop(&ctx, host),
        ["start", host] => start(&ctx, host),
        ["reset", host] => reset(&ctx, host),
        ["test", rest @ ..] => suite::main(rest),
        ["__wait-ssh", secs, addrs @ ..] => wait_ssh_inside(secs, addrs),
        ["help" | "-h" | "--help"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(format!("unknown lab command\n{USAGE}")),
    }
}

pub use demo::{demo, module_suite};

/// The role checks of CI (`cargo xtask lab test`).
pub fn role_checks() -> Result<(), String> {
    suite::main(&[])
}

/// Runs a command, returns its stdout; the error names the command and shows its stderr.
pub(crate) fn run(cmd: &mut Command) -> Result<String, String> {
    run_input(cmd, "")
}

/// Like [`run`], writing `input` to the command's stdin.
pub(crate) fn run_input(cmd: &mut Command, input: &str) -> Result<String, String> {
    let shown = describe(cmd);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| format!("{shown}: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{shown}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(format!("{shown} failed ({}): {}", out.status, err.trim()))
    }
}

/// Runs a long command with its output appended to `log`.
pub(crate) fn run_logged(cmd: &mut Command, log: &Path) -> Result<(), String> {
    if let Some(dir) = log.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let f = fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let f2 = f
        .try_clone()
        .map_err(|e| format!("{}: {e}", log.display()))?;
    let shown = describe(cmd);
    let status = cmd
        .stdin(Stdio::null())
        .stdout(f)
        .stderr(f2)
        .status()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "{shown} failed ({status})\nhint: see {}",
            log.display()
        ))
    }
}

use crate::util::describe;

fn require_root() -> Result<(), String> {
    let status =
        fs::read_to_string("/proc/self/status").map_err(|e| format!("/proc/self/status: {e}"))?;
    let uid = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2));
    if uid == Some("0") {
        Ok(())
    } else {
        Err("the lab needs root (namespaces, mounts, containers)".into())
    }
}

/// More than ~19 nspawn containers need more inotify instances than the default 128.
fn raise_inotify_limits() -> Result<(), String> {
    for (key, min) in [
        ("max_user_instances", 8192u64),
        ("max_user_watches", 1_048_576),
    ] {
        let p = format!("/proc/sys/fs/inotify/{key}");
        let cur: u64 = fs::read_to_string(&p)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        if cur < min {
            fs::write(&p, min.to_string()).map_err(|e| format!("{p}: {e}"))?;
        }
    }
    Ok(())
}

fn ensure_key(lab: &Lab) -> Result<String, String> {
    let key = lab.key();
    if !key.exists() {
        if let Some(dir) = key.parent() {
            fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "fmc-lab", "-f"])
            .arg(&key))?;
    }
    let pub_key = key.with_extension("pub");
    fs::read_to_string(&pub_key).map_err(|e| format!("{}: {e}", pub_key.display()))
}

fn secs(t: Instant) -> String {
    format!("{:.1}s", t.elapsed().as_secs_f64())
}

fn up(ctx: &Ctx) -> Result<(), String> {
    require_root()?;
    let t0 = Instant::now();
    let topo = ctx.topology()?;
    crate::ci::ensure_packages(HOST_PACKAGES)?;
    raise_inotify_limits()?;
    // a crashed or half-finished run: start from nothing (also fresh disks for every host)
    let left = state::leftovers(&ctx.lab, &ctx.etc_netns, &[]);
    if !left.is_empty() || !state::cgroup_names().is_empty() {
        eprintln!(
            "lab: tearing down what a previous run left ({}) ...",
            left.join(", ")
        );
        state::teardown(&ctx.lab, &ctx.etc_netns)?;
    }
    let key = ensure_key(&ctx.lab)?;
    let images = image::ensure(&ctx.lab.dir, &topo)?;
    if let Some(debian) = images
        .iter()
        .find(|i| i.profile == topology::Profile::Debian)
    {
        repo::ensure(
            &ctx.lab,
            &ctx.repo_root.join("lab").join("repo-packages.txt"),
            debian,
        )?;
    }
    // the Cloudflare API's double runs on the lab's internet client (the DDNS role talks to it)
    crate::util::run(
        Command::new("cargo")
            .args(["build", "--release", "--quiet", "-p", "cf-standin"])
            .current_dir(&ctx.repo_root),
    )?;
    let t_start = Instant::now();
    let result = start_lab(ctx, &topo, &images, &key).and_then(|()| demo::start_cf_standin(ctx));
    if let Err(e) = result {
        eprintln!("lab: up failed, tearing down");
        if let Err(e2) = state::teardown(&ctx.lab, &ctx.etc_netns) {
            eprintln!("lab: teardown: {e2}");
        }
        return Err(e);
    }
    eprintln!(
        "lab: up: {} hosts answer SSH; start {} (total {}); controller {} in namespace {LAB_NS}",
        topo.hosts.len(),
        secs(t_start),
        secs(t0),
        topo.controller
    );
    Ok(())
}

fn start_lab(ctx: &Ctx, topo: &Topology, images: &[image::Image], key: &str) -> Result<(), String> {
    let t = Instant::now();
    net::up_lab(topo)?;
    net::write_controller_etc(topo, &ctx.etc_netns)?;
    repo::serve(&ctx.lab, topo)?;
    for h in &topo.hosts {
        net::up_host(h)?;
        container::prepare(&ctx.lab, topo, h, container::image_for(images, h)?, key)?;
    }
    fs::write(
        ctx.lab.known_hosts(),
        container::known_hosts(&ctx.lab, topo)?,
    )
    .map_err(|e| format!("{}: {e}", ctx.lab.known_hosts().display()))?;
    eprintln!(
        "lab: networks and {} root filesystems ready in {}",
        topo.hosts.len(),
        secs(t)
    );
    let t = Instant::now();
    for h in &topo.hosts {
        container::start(&ctx.lab, topo, h, container::image_for(images, h)?)?;
    }
    wait_ssh(
        topo,
        &topo.hosts.iter().collect::<Vec<_>>(),
        Duration::from_secs(60),
    )?;
    eprintln!(
        "lab: {} containers booted, sshd answering in {}",
        topo.hosts.len(),
        secs(t)
    );
    let t = Instant::now();
    let failed: Vec<String> = check_logins(ctx, &topo.hosts.iter().collect::<Vec<_>>())
        .into_iter()
        .filter_map(|(h, r)| r.err().map(|e| format!("{h}: {e}")))
        .collect();
    if !failed.is_empty() {
        return Err(format!("ssh login failed:\n{}", failed.join("\n")));
    }
    eprintln!(
        "lab: ssh login as the inventory user works on every host ({})",
        secs(t)
    );
    Ok(())
}

fn down(ctx: &Ctx) -> Result<(), String> {
    require_root()?;
    let t = Instant::now();
    let done = state::teardown(&ctx.lab, &ctx.etc_netns)?;
    if done.strays > 0 {
        eprintln!(
            "lab: ended {} process(es) left inside the lab's namespaces (lab exec, checks)",
            done.strays
        );
    }
    eprintln!(
        "lab: down in {}; checked: no lab namespace, mount, cgroup, process or host disk left",
        secs(t)
    );
    Ok(())
}

/// Waits for the SSH banner of `hosts`, probing from inside the lab namespace (a child
/// process of this program, so nothing is ever sent from the machine's own namespace).
fn wait_ssh(topo: &Topology, hosts: &[&Host], timeout: Duration) -> Result<(), String> {
    // this very program through /proc: still runnable when a rebuild replaced the file
    let exe = format!("/proc/{}/exe", std::process::id());
    let mut cmd = net::exec_in(&Netns::lab(), &exe);
    cmd.args(["lab", "__wait-ssh", &timeout.as_secs().to_string()]);
    cmd.args(hosts.iter().map(|h| h.address.to_string()));
    let out = run(&mut cmd)?;
    let late: Vec<&str> = out.lines().filter(|l| l.starts_with("timeout")).collect();
    if late.is_empty() {
        Ok(())
    } else {
        let names: Vec<String> = late
            .iter()
            .filter_map(|l| l.split_whitespace().nth(1))
            .map(|a| {
                topo.hosts
                    .iter()
                    .find(|h| h.address.to_string() == a)
                    .map_or(a.to_string(), |h| h.name.clone())
            })
            .collect();
        Err(format!(
            "no SSH answer within {}s from: {}\nhint: see .lab/logs/HOST.log",
            timeout.as_secs(),
            names.join(", ")
        ))
    }
}

/// The `__wait-ssh` helper: runs inside the lab namespace (and refuses to run elsewhere).
fn wait_ssh_inside(secs: &str, addrs: &[&str]) -> Result<(), String> {
    if !net::in_lab_ns() {
        return Err(format!(
            "__wait-ssh runs only inside the {LAB_NS} namespace"
        ));
    }
    let timeout = Duration::from_secs(secs.parse().map_err(|_| format!("bad timeout '{secs}'"))?);
    let addrs: Vec<SocketAddr> = addrs
        .iter()
        .map(|a| {
            format!("{a}:22")
                .parse()
                .map_err(|_| format!("bad address '{a}'"))
        })
        .collect::<Result<_, String>>()?;
    let t = Instant::now();
    let lines: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = addrs
            .iter()
            .map(|addr| {
                s.spawn(move || {
                    while t.elapsed() < timeout {
                        if ssh_banner(addr) {
                            return format!("ok {} {:.2}", addr.ip(), t.elapsed().as_secs_f64());
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    format!("timeout {}", addr.ip())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| "timeout ?".into()))
            .collect()
    });
    for l in lines {
        println!("{l}");
    }
    Ok(())
}

fn ssh_banner(addr: &SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 8];
    s.read_exact(&mut buf).is_ok() && buf.starts_with(b"SSH-")
}

/// `ssh` to a host from the controller's position, with the lab key and known_hosts only.
fn ssh_command(ctx: &Ctx, host: &Host, remote: &[&str]) -> Command {
    ssh_command_as(ctx, &host.user, host, remote)
}

/// Like [`ssh_command`], logging in as `user`.
fn ssh_command_as(ctx: &Ctx, user: &str, host: &Host, remote: &[&str]) -> Command {
    let mut c = net::exec_in(&Netns::lab(), "ssh");
    c.args(["-F", "/dev/null", "-i"])
        .arg(ctx.lab.key())
        .args([
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
        ])
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            ctx.lab.known_hosts().display()
        ))
        .args([
            "-o",
            "ConnectTimeout=5",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "BatchMode=yes",
        ])
        .arg(format!("{user}@{}", host.address))
        .args(remote);
    // the hosts have no locales: do not forward the caller's
    for (k, _) in std::env::vars() {
        if k == "LANG" || k.starts_with("LC_") {
            c.env_remove(k);
        }
    }
    c
}

fn check_logins(ctx: &Ctx, hosts: &[&Host]) -> Vec<(String, Result<String, String>)> {
    std::thread::scope(|s| {
        let handles: Vec<_> = hosts
            .iter()
            .map(|h| {
                s.spawn(move || {
                    let r = run(&mut ssh_command(ctx, h, &["sudo", "-n", "true"]))
                        .map(|o| o.trim().to_string());
                    (h.name.clone(), r)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| ("?".into(), Err("check thread panicked".into())))
            })
            .collect()
    })
}

fn status(ctx: &Ctx) -> Result<(), String> {
    require_root()?;
    let topo = ctx.topology()?;
    let namespaces = net::lab_namespaces();
    if namespaces.is_empty() && ctx.lab.all_tracked().is_empty() {
        println!("lab is down");
        return Ok(());
    }
    let running: Vec<&Host> = topo
        .hosts
        .iter()
        .filter(|h| ctx.lab.tracked(&h.name).is_some_and(|t| state::alive(&t)))
        .collect();
    let logins: Vec<(String, Result<String, String>)> = if namespaces.iter().any(|n| n == LAB_NS) {
        check_logins(ctx, &running)
    } else {
        Vec::new()
    };
    let mut ok = 0;
    println!(
        "{:<24} {:<16} {:<8} {:<8} ssh",
        "host", "address", "profile", "state"
    );
    for h in &topo.hosts {
        let state = if running.iter().any(|r| r.name == h.name) {
            "running"
        } else {
            "stopped"
        };
        let ssh = match logins.iter().find(|(n, _)| *n == h.name) {
            Some((_, Ok(_))) => {
                ok += 1;
                "ok".to_string()
            }
            Some((_, Err(e))) => format!("failed: {}", e.lines().last().unwrap_or("")),
            None => "-".to_string(),
        };
        let profile = match h.profile {
            topology::Profile::Debian => "debian",
            topology::Profile::Flatcar => "flatcar",
        };
        println!(
            "{:<24} {:<16} {:<8} {:<8} {ssh}",
            h.name, h.address, profile, state
        );
    }
    let repo = ctx
        .lab
        .tracked(repo::SERVER)
        .is_some_and(|t| state::alive(&t));
    let (pss, rss) = state::lab_memory_kib(&ctx.lab);
    println!(
        "{ok}/{} hosts answer SSH; repository server {}; namespaces {}; lab memory {:.0} MiB PSS ({:.0} MiB summed RSS)",
        topo.hosts.len(),
        if repo { "running" } else { "stopped" },
        namespaces.len(),
        pss as f64 / 1024.0,
        rss as f64 / 1024.0
    );
    Ok(())
}

fn ssh(ctx: &Ctx, name: &str, rest: &[&str]) -> Result<(), String> {
    require_root()?;
    let topo = ctx.topology()?;
    let host = topo.host(name)?;
    let remote = match rest {
        ["--", r @ ..] => r,
        r => r,
    };
    let err = ssh_command(ctx, host, remote).exec();
    Err(format!("cannot run ssh: {err}"))
}

fn exec(ctx: &Ctx, rest: &[&str]) -> Result<(), String> {
    require_root()?;
    let (ns, cmd) = match rest {
        ["--from", who, "--", cmd @ ..] => (
            Netns::extra(match *who {
                "router" | "internet" | "laptop" => who,
                other => {
                    return Err(format!(
                        "unknown lab namespace '{other}'\nhint: router, internet or laptop"
                    ));
                }
            }),
            cmd,
        ),
        ["--", cmd @ ..] => (Netns::lab(), cmd),
        _ => {
            return Err(format!(
                "usage: cargo xtask lab exec [--from router|internet|laptop] -- CMD...\n{USAGE}"
            ));
        }
    };
    let Some((program, args)) = cmd.split_first() else {
        return Err("lab exec: no command given".into());
    };
    if !Path::new(&ns.path()).exists() {
        return Err(format!(
            "{}: no such lab namespace\nhint: run `cargo xtask lab up`",
            ns.name()
        ));
    }
    // `lab exec -- fmc-run -i inventory/staging ...` works from a fresh clone: the binaries
    // are built (a no-op when current), found on PATH, and the staging inventory's relative
    // paths (.lab/keys, .lab/known_hosts) resolve from the repository root
    let release = ctx.repo_root.join("target").join("release");
    if matches!(*program, "fmc-run" | "fmc-vault") {
        // fmc-ddns too: the DDNS role copies it from target/release to the KVM host
        eprintln!("lab: building fmc-run and fmc-ddns (release) ...");
        crate::util::run(
            Command::new("cargo")
                .args([
                    "build",
                    "--release",
                    "--quiet",
                    "-p",
                    "fmc-cli",
                    "-p",
                    "fmc-ddns",
                ])
                .current_dir(&ctx.repo_root),
        )?;
    }
    let path = match std::env::var_os("PATH") {
        Some(p) => {
            let mut dirs = vec![release.clone()];
            dirs.extend(std::env::split_paths(&p));
            std::env::join_paths(dirs).map_err(|e| format!("PATH: {e}"))?
        }
        None => release.clone().into_os_string(),
    };
    let mut c = net::exec_in(&ns, program);
    c.args(args)
        .current_dir(&ctx.repo_root)
        .env("PATH", path)
        .env("FMC_LAB_NETNS", LAB_NS);
    if std::env::var_os("ANSIBLE_VAULT_PASSWORD_FILE").is_none() {
        c.env(
            "ANSIBLE_VAULT_PASSWORD_FILE",
            ctx.repo_root.join(demo::VAULT_PASSWORD_FILE),
        );
    }
    let err = c.exec();
    Err(format!("cannot run {program}: {err}"))
}

fn find_image(ctx: &Ctx, topo: &Topology, host: &Host) -> Result<image::Image, String> {
    // only look the image up, never build it here: `up` does that
    let images_dir = ctx.lab.dir.join("images");
    let mut users: Vec<String> = topo
        .hosts
        .iter()
        .filter(|h| h.profile == host.profile)
        .map(|h| h.user.clone())
        .collect();
    users.sort();
    users.dedup();
    let kind = match host.profile {
        topology::Profile::Debian => "debian",
        topology::Profile::Flatcar => "flatcar",
    };
    let dir = container::recorded_image(&ctx.lab, host).unwrap_or_else(|| {
        images_dir.join(format!(
            "{kind}-{}",
            image::recipe_hash(host.profile, &users)
        ))
    });
    if !dir.is_dir() {
        return Err(format!(
            "{}: image missing\nhint: run `cargo xtask lab up`",
            dir.display()
        ));
    }
    Ok(image::Image {
        profile: host.profile,
        dir,
        users,
    })
}

fn stop(ctx: &Ctx, name: &str) -> Result<(), String> {
    require_root()?;
    let topo = ctx.topology()?;
    let t = Instant::now();
    container::stop(&ctx.lab, topo.host(name)?)?;
    eprintln!("lab: {name} stopped in {}", secs(t));
    Ok(())
}

fn start(ctx: &Ctx, name: &str) -> Result<(), String> {
    require_root()?;
    let topo = ctx.topology()?;
    let host = topo.host(name)?;
    let t = Instant::now();
    container::start(&ctx.lab, &topo, host, &find_image(ctx, &topo, host)?)?;
    wait_ssh(&topo, &[host], Duration::from_secs(60))?;
    eprintln!("lab: {name} answers SSH after {}", secs(t));
    Ok(())
}

fn reset(ctx: &Ctx, name: &str) -> Result<(), String> {
    require_root()?;
    let topo = ctx.topology()?;
    let host = topo.host(name)?;
    let img = find_image(ctx, &topo, host)?;
    let key = ensure_key(&ctx.lab)?;
    let t = Instant::now();
    container::stop(&ctx.lab, host)?;
    container::wipe(&ctx.lab, host)?;
    container::prepare(&ctx.lab, &topo, host, &img, &key)?;
    fs::write(
        ctx.lab.known_hosts(),
        container::known_hosts(&ctx.lab, &topo)?,
    )
    .map_err(|e| format!("{}: {e}", ctx.lab.known_hosts().display()))?;
    container::start(&ctx.lab, &topo, host, &img)?;
    wait_ssh(&topo, &[host], Duration::from_secs(60))?;
    eprintln!(
        "lab: {name} reset to its image and answers SSH after {}",
        secs(t)
    );
    Ok(())
}
