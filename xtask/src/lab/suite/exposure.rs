//! Lab checks of what the micro cloud exposes (roles `host_firewall` + `wireguard` on the
//! KVM host): from the internet only the web VIP answers, never the K3s API nor the host's
//! SSH; from the LAN and through the admins' WireGuard tunnel the API answers; adding a
//! peer does not disturb an established tunnel.
//!
//! The API backends are the stand-ins of `tests/lab/standins.yaml` (K3s cannot be fetched
//! here): each answers "<backend> via <address that connected>", so an answer also shows
//! which source address reached the backend. The admin laptop is a bare namespace: the
//! checks run this machine's `wireguard-go`, `wg` and `ip` in it, configured from the client
//! config the wireguard role rendered on the controller, with the laptop's private key below.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::super::topology::{Inventory, load_group_vars};
use super::{Check, Ns, Suite, wait_for};

const PLAYBOOK: &str = "playbooks/kvm_host.yaml";
const STANDINS: &str = "tests/lab/standins.yaml";
const LB_PLAYBOOK: &str = "playbooks/loadbalancers.yaml";
/// The server's WireGuard interface (role default `wireguard_interface`).
const SERVER_IF: &str = "wg0";
/// The laptop's peer in `wireguard_peers` of inventory/staging, and its private key: the
/// test's own lab-only client (public key Ny8HTVV6c6xMl9xaDDla7W69dZtVB9/LDsNq8GCqxkU=),
/// not a secret of the product.
const LAPTOP_PEER: &str = "lab-laptop";
const LAPTOP_PRIVATE_KEY: &str = "eI4aleSZTGjgq+v06ime2mc36X9ziVa62hm0MZpehkU=";
/// The laptop's tunnel interface (also names wireguard-go's socket on this machine).
const LAPTOP_IF: &str = "fmclabwg0";
/// A peer added for a moment by `wg-syncconf`, then removed again.
const PROBE_PEER: &str = "lab-syncconf-probe";
const PROBE_ADDRESS: &str = "10.17.0.250";
/// Bound of every connection attempt.
const CONNECT_SECS: &str = "3";

/// The checks of this file, in order.
pub fn checks() -> Vec<Check> {
    vec![
        Check {
            name: "internet-exposure",
            proves: "from the internet: the API port is closed, the web VIP answers, host SSH is dropped",
            run: internet_exposure,
        },
        Check {
            name: "lan-api",
            proves: "from the LAN the K3s API answers on the VIP and on a server through the host",
            run: lan_api,
        },
        Check {
            name: "vpn-api",
            proves: "the admin laptop's WireGuard tunnel (rendered client config) reaches the K3s API",
            run: vpn_api,
        },
        Check {
            name: "firewall-rescue",
            proves: "a table that would cut the controller off is deleted again and the run fails",
            run: firewall_rescue,
        },
        Check {
            name: "wg-syncconf",
            proves: "adding a WireGuard peer keeps an established tunnel up (no restart, no new handshake)",
            run: wg_syncconf,
        },
    ]
}

/// What the checks need from the inventory and the haproxy role's defaults.
struct Lab {
    kvm_host: String,
    kvm_addr: String,
    router: String,
    api_vip: String,
    api_port: u64,
    /// The router's public port forwarded to the web VIP's port 80.
    web_port: u16,
    /// The first K3s server and its address.
    master: (String, String),
    /// `wireguard_peers` of inventory/staging.
    peers: Value,
}

impl Lab {
    fn load(s: &Suite) -> Result<Self, String> {
        let staging = s.repo_root().join("inventory/staging");
        let inv = Inventory::load(&staging)?;
        let all = load_group_vars(&staging, "all")?;
        let first = |g: &str| -> Result<String, String> {
            let members = inv.group_hosts.get(g).cloned().unwrap_or_default();
            inv.hosts
                .iter()
                .map(|(h, _)| h.clone())
                .find(|h| members.contains(h))
                .ok_or_else(|| format!("inventory/staging: group '{g}' has no host"))
        };
        let var = |k: &str| -> Result<String, String> {
            all.get(k)
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .ok_or_else(|| format!("inventory/staging: no string variable '{k}'"))
        };
        let defaults_file = s.repo_root().join("roles/haproxy/defaults/main.yml");
        let defaults = fmc_yaml::load(&defaults_file).map_err(|e| e.to_string())?;
        let api_port = defaults["haproxy_api_port"].as_u64().ok_or_else(|| {
            format!(
                "{}: haproxy_api_port is not a number",
                defaults_file.display()
            )
        })?;
        let ingress_vip = var("ingress_vip")?;
        let web_port = s
            .topo
            .port_forwards
            .iter()
            .find(|pf| pf.proto == "tcp" && pf.to.to_string() == ingress_vip && pf.to_port == 80)
            .map(|pf| pf.port)
            .ok_or("wan_port_forwards: no tcp forward to the ingress VIP's port 80")?;
        let peers = all.get("wireguard_peers").cloned().ok_or(
            "inventory/staging: no 'wireguard_peers'\nhint: the lab laptop's peer belongs in all/90-lab.yml",
        )?;
        let kvm_host = first("kvm_host")?;
        let master = first("masters")?;
        Ok(Lab {
            kvm_addr: s.host(&kvm_host)?.address.to_string(),
            master: (master.clone(), s.host(&master)?.address.to_string()),
            kvm_host,
            router: s.topo.wan.router.to_string(),
            api_vip: var("api_vip")?,
            api_port,
            web_port,
            peers,
        })
    }

    fn api_url(&self) -> String {
        format!("http://{}:{}/", self.api_vip, self.api_port)
    }

    fn master_url(&self) -> String {
        format!("http://{}:{}/", self.master.1, self.api_port)
    }
}

static CONVERGED: AtomicBool = AtomicBool::new(false);

/// Converges the KVM host's playbook once per suite run (and, if the API VIP does not answer
/// yet, the stand-in backends and the load balancers first); reads the inventory.
fn prepare(s: &Suite) -> Result<Lab, String> {
    let lab = Lab::load(s)?;
    if !CONVERGED.load(Ordering::SeqCst) {
        let mut playbooks = Vec::new();
        if get(s, Ns::Controller, &lab.api_url()).is_err() {
            playbooks.extend([STANDINS, LB_PLAYBOOK]);
        }
        playbooks.push(PLAYBOOK);
        for playbook in playbooks {
            converge(s, &[playbook])?;
        }
        CONVERGED.store(true, Ordering::SeqCst);
    }
    Ok(lab)
}

/// Runs fmc-run with `args`; an error names the playbook run and ends with its output.
fn converge(s: &Suite, args: &[&str]) -> Result<(), String> {
    let (code, out) = s.fmc_run(args)?;
    if code == 0 {
        return Ok(());
    }
    let lines: Vec<&str> = out.lines().collect();
    let tail = lines[lines.len().saturating_sub(15)..].join("\n");
    Err(format!("fmc-run {} exited {code}:\n{tail}", args.join(" ")))
}

/// The outcome of one TCP connection attempt.
#[derive(Debug, PartialEq, Eq)]
enum Tcp {
    Open,
    Refused,
    /// No answer within [`CONNECT_SECS`] (dropped).
    TimedOut,
}

/// One TCP connection attempt from `from` to `host:port` (bash's /dev/tcp, bounded by
/// `timeout`), and how long it took.
fn tcp(s: &Suite, from: Ns<'_>, host: &str, port: u64) -> Result<(Tcp, f64), String> {
    let t = Instant::now();
    let out = s
        .cmd(from, "timeout")
        .args([CONNECT_SECS, "bash", "-c", "exec 3<>\"/dev/tcp/$0/$1\""])
        .args([host, &port.to_string()])
        .output()
        .map_err(|e| format!("cannot run timeout/bash: {e}"))?;
    let secs = t.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let r = match out.status.code() {
        Some(0) => Tcp::Open,
        Some(124) => Tcp::TimedOut,
        _ if stderr.contains("refused") => Tcp::Refused,
        _ => {
            return Err(format!(
                "connect {host}:{port} from {from:?}: {}",
                stderr.trim()
            ));
        }
    };
    Ok((r, secs))
}

/// One HTTP GET from `from`; the body, trimmed.
fn get(s: &Suite, from: Ns<'_>, url: &str) -> Result<String, String> {
    s.http_get(from, url, CONNECT_SECS)
}

/// Fails unless `answer` (a stand-in's "<backend> via <source>") names a backend in
/// `backends` and, if given, the source `via`.
fn expect_answer(
    what: &str,
    answer: &str,
    backends: &str,
    via: Option<&str>,
) -> Result<(), String> {
    let mut words = answer.split_whitespace();
    let (backend, kw, source) = (words.next(), words.next(), words.next());
    let ok = backend.is_some_and(|b| b.starts_with(backends))
        && kw == Some("via")
        && via.is_none_or(|v| source == Some(v));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what}: expected '{backends}... via {}', got '{answer}'",
            via.unwrap_or("<address>")
        ))
    }
}

fn internet_exposure(s: &Suite) -> Result<(), String> {
    let lab = prepare(s)?;
    let (api, t) = tcp(s, Ns::Internet, &lab.router, lab.api_port)?;
    if api == Tcp::Open {
        return Err(format!(
            "{}:{} (the API port) is open from the internet",
            lab.router, lab.api_port
        ));
    }
    println!(
        "    internet -> {}:{}: {api:?} after {t:.2}s",
        lab.router, lab.api_port
    );

    let url = format!("http://{}:{}/", lab.router, lab.web_port);
    let t = Instant::now();
    let web = get(s, Ns::Internet, &url)?;
    expect_answer("web VIP from the internet", &web, "worker", None)?;
    println!(
        "    internet -> {url}: '{web}' after {:.2}s",
        t.elapsed().as_secs_f64()
    );

    // the lab's router routes its LAN for WAN clients (a real ISP would not): the host's
    // own input policy must still drop SSH from a source outside the LAN and the VPN
    let (ssh, t) = tcp(s, Ns::Internet, &lab.kvm_addr, 22)?;
    if ssh != Tcp::TimedOut {
        return Err(format!(
            "SSH of {} from the internet: {ssh:?}, expected dropped (no answer)",
            lab.kvm_host
        ));
    }
    println!(
        "    internet -> {}:22: dropped ({t:.1}s without answer)",
        lab.kvm_addr
    );
    let (lan, t) = tcp(s, Ns::Controller, &lab.kvm_addr, 22)?;
    if lan != Tcp::Open {
        return Err(format!("SSH of {} from the LAN: {lan:?}", lab.kvm_host));
    }
    println!("    LAN -> {}:22: open after {t:.2}s", lab.kvm_addr);
    Ok(())
}

fn lan_api(s: &Suite) -> Result<(), String> {
    let lab = prepare(s)?;
    let t = Instant::now();
    let vip = get(s, Ns::Controller, &lab.api_url())?;
    expect_answer("API VIP from the LAN", &vip, "master", None)?;
    println!(
        "    LAN -> {}: '{vip}' after {:.2}s",
        lab.api_url(),
        t.elapsed().as_secs_f64()
    );
    // straight to a K3s server: forwarded by the KVM host, the LAN source kept
    let direct = get(s, Ns::Controller, &lab.master_url())?;
    let controller = s.topo.controller.to_string();
    expect_answer(
        "API of a server from the LAN",
        &direct,
        &lab.master.0,
        Some(&controller),
    )?;
    println!("    LAN -> {}: '{direct}'", lab.master_url());
    Ok(())
}

/// The rendered client config of a peer, made usable for this machine's `wg`: the
/// placeholder private key replaced by the laptop's, wg-quick's own keys taken out.
#[derive(Debug, PartialEq)]
struct ClientConf {
    /// `Address` of [Interface], e.g. `10.17.0.2/32`.
    address: String,
    /// The server's public key.
    server_key: String,
    allowed_ips: Vec<String>,
    /// The config for `wg setconf`.
    wg: String,
}

/// Keys of [Interface] only wg-quick understands.
const WG_QUICK_KEYS: &[&str] = &[
    "address",
    "dns",
    "mtu",
    "table",
    "preup",
    "postup",
    "predown",
    "postdown",
    "saveconfig",
];

fn parse_client(text: &str, private_key: &str) -> Result<ClientConf, String> {
    let (mut section, mut wg) = (String::new(), String::new());
    let (mut address, mut server_key, mut allowed) = (None, None, Vec::new());
    let mut placeholder = false;
    for line in text.lines() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if l.starts_with('[') {
            section = l.to_ascii_lowercase();
            wg.push_str(l);
            wg.push('\n');
            continue;
        }
        let Some((k, v)) = l.split_once('=') else {
            continue;
        };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
        match (section.as_str(), k.as_str()) {
            ("[interface]", "privatekey") => {
                placeholder = v.starts_with('<');
                wg.push_str(&format!("PrivateKey = {private_key}\n"));
            }
            ("[interface]", "address") => address = Some(v.to_string()),
            ("[interface]", k) if WG_QUICK_KEYS.contains(&k) => {}
            (sect, k) => {
                if sect == "[peer]" && k == "publickey" {
                    server_key = Some(v.to_string());
                }
                if sect == "[peer]" && k == "allowedips" {
                    allowed.extend(v.split(',').map(|a| a.trim().to_string()));
                }
                wg.push_str(l);
                wg.push('\n');
            }
        }
    }
    if !placeholder {
        return Err(
            "the client config's PrivateKey is not the placeholder: a private key left the client"
                .into(),
        );
    }
    Ok(ClientConf {
        address: address.ok_or("the client config has no Address")?,
        server_key: server_key.ok_or("the client config has no [Peer] PublicKey")?,
        allowed_ips: allowed,
        wg,
    })
}

/// The laptop's client config as the wireguard role rendered it on the controller; checks
/// its mode (0600) and that it names the server's live public key.
fn laptop_conf(s: &Suite, lab: &Lab) -> Result<ClientConf, String> {
    use std::os::unix::fs::PermissionsExt;
    let path = client_conf_path(s, LAPTOP_PEER);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mode = std::fs::metadata(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .permissions()
        .mode()
        & 0o777;
    if mode != 0o600 {
        return Err(format!("{}: mode {mode:o}, expected 600", path.display()));
    }
    let conf =
        parse_client(&text, LAPTOP_PRIVATE_KEY).map_err(|e| format!("{}: {e}", path.display()))?;
    let live = s.sh(&lab.kvm_host, &format!("wg show {SERVER_IF} public-key"))?;
    if live.trim() != conf.server_key {
        return Err(format!(
            "{}: server key {} is not the live key {} of {}",
            path.display(),
            conf.server_key,
            live.trim(),
            lab.kvm_host
        ));
    }
    Ok(conf)
}

fn client_conf_path(s: &Suite, peer: &str) -> PathBuf {
    s.repo_root()
        .join("inventory/wireguard-clients/staging")
        .join(format!("{peer}.conf"))
}

/// The laptop's tunnel: wireguard-go (our child, in the laptop namespace) configured from
/// the rendered client config. Dropping it takes the tunnel down.
struct Tunnel {
    child: Child,
    conf_file: PathBuf,
}

impl Tunnel {
    fn up(s: &Suite, conf: &ClientConf) -> Result<Self, String> {
        crate::ci::ensure_packages(&["wireguard-tools", "wireguard-go"])?;
        let conf_file =
            std::env::temp_dir().join(format!("{LAPTOP_IF}-{}.conf", std::process::id()));
        crate::lab::demo::write_private(&conf_file, &conf.wg)?;
        let child = s
            .cmd(Ns::Laptop, "wireguard-go")
            .args(["-f", LAPTOP_IF])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start wireguard-go: {e}"))?;
        let tunnel = Tunnel { child, conf_file };
        let sock = Path::new("/var/run/wireguard").join(format!("{LAPTOP_IF}.sock"));
        wait_for(
            "wireguard-go's socket",
            Duration::from_secs(5),
            Duration::from_millis(50),
            || Ok(sock.exists().then_some(())),
        )?;
        run(s
            .cmd(Ns::Laptop, "wg")
            .args(["setconf", LAPTOP_IF])
            .arg(&tunnel.conf_file))?;
        run(s
            .cmd(Ns::Laptop, "ip")
            .args(["address", "add", &conf.address, "dev", LAPTOP_IF]))?;
        run(s
            .cmd(Ns::Laptop, "ip")
            .args(["link", "set", LAPTOP_IF, "up"]))?;
        for net in &conf.allowed_ips {
            run(s
                .cmd(Ns::Laptop, "ip")
                .args(["route", "replace", net, "dev", LAPTOP_IF]))?;
        }
        Ok(tunnel)
    }

    /// The laptop's latest handshake with the server (unix seconds; 0 = none yet).
    fn handshake(&self, s: &Suite) -> Result<u64, String> {
        let out = run(s
            .cmd(Ns::Laptop, "wg")
            .args(["show", LAPTOP_IF, "latest-handshakes"]))?;
        out.split_whitespace()
            .nth(1)
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| format!("wg show {LAPTOP_IF} latest-handshakes: '{}'", out.trim()))
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        // SIGTERM to our own child (wireguard-go: it removes its interface and socket)
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        while matches!(self.child.try_wait(), Ok(None)) && start.elapsed() < Duration::from_secs(3)
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ =
            std::fs::remove_file(Path::new("/var/run/wireguard").join(format!("{LAPTOP_IF}.sock")));
        let _ = std::fs::remove_file(&self.conf_file);
    }
}

/// Runs `c`; its stdout, or an error with its stderr.
fn run(c: &mut Command) -> Result<String, String> {
    let out = c.output().map_err(|e| format!("cannot run {c:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{c:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Brings the laptop's tunnel up and waits for the first answer of the API VIP through it.
fn tunnel_to_api(s: &Suite, lab: &Lab) -> Result<Tunnel, String> {
    let conf = laptop_conf(s, lab)?;
    let t = Instant::now();
    let tunnel = Tunnel::up(s, &conf)?;
    let answer = wait_for(
        "the API VIP through the tunnel",
        Duration::from_secs(10),
        Duration::from_millis(200),
        || get(s, Ns::Laptop, &lab.api_url()).map(Some),
    )?;
    expect_answer("API VIP through the VPN", &answer, "master", None)?;
    println!(
        "    laptop (VPN {}) -> {}: '{answer}', {:.2}s after the tunnel started",
        conf.address,
        lab.api_url(),
        t.elapsed().as_secs_f64()
    );
    Ok(tunnel)
}

fn vpn_api(s: &Suite) -> Result<(), String> {
    let lab = prepare(s)?;
    let tunnel = tunnel_to_api(s, &lab)?;
    // straight to a K3s server: the VPN address arrives unmasqueraded in the VM networks
    let conf = laptop_conf(s, &lab)?;
    let vpn_addr = conf.address.split('/').next().unwrap_or_default();
    let direct = get(s, Ns::Laptop, &lab.master_url())?;
    expect_answer(
        "API of a server through the VPN",
        &direct,
        &lab.master.0,
        Some(vpn_addr),
    )?;
    println!("    laptop -> {}: '{direct}'", lab.master_url());
    let transfer = run(s
        .cmd(Ns::Laptop, "wg")
        .args(["show", LAPTOP_IF, "transfer"]))?;
    println!(
        "    tunnel transfer (rx tx bytes): {}",
        transfer
            .split_whitespace()
            .skip(1)
            .collect::<Vec<_>>()
            .join(" ")
    );
    drop(tunnel);
    Ok(())
}

fn wg_syncconf(s: &Suite) -> Result<(), String> {
    let lab = prepare(s)?;
    let tunnel = tunnel_to_api(s, &lab)?;
    let unit = format!("wg-quick@{SERVER_IF}");
    let started = |s: &Suite| {
        s.sh(
            &lab.kvm_host,
            &format!("systemctl show -p ActiveEnterTimestampMonotonic --value {unit}"),
        )
        .map(|o| o.trim().to_string())
    };
    let (before_start, before_hs) = (started(s)?, tunnel.handshake(s)?);
    let probe_key = probe_public_key()?;
    let result = add_probe_peer(s, &lab, &probe_key).and_then(|secs| {
        let peers = s.sh(&lab.kvm_host, &format!("wg show {SERVER_IF} peers"))?;
        if !peers.contains(&probe_key) {
            return Err(format!("the added peer is not on {SERVER_IF}: {}", peers.trim()));
        }
        let answer = get(s, Ns::Laptop, &lab.api_url())?;
        let (after_start, after_hs) = (started(s)?, tunnel.handshake(s)?);
        if after_start != before_start {
            return Err(format!("{unit} was restarted to add a peer"));
        }
        if after_hs != before_hs {
            return Err(format!("the laptop made a new handshake ({before_hs} -> {after_hs}): the tunnel was reset"));
        }
        println!(
            "    peer added in a {secs:.1}s run; tunnel kept (handshake {before_hs} unchanged, {unit} not restarted), API: '{answer}'"
        );
        Ok(())
    });
    // restore: the inventory's peers only, and no client config of the probe peer
    let restored = converge(s, &["--limit", &lab.kvm_host, PLAYBOOK]).and_then(|()| {
        let peers = s.sh(&lab.kvm_host, &format!("wg show {SERVER_IF} peers"))?;
        if peers.contains(&probe_key) {
            return Err(format!(
                "the probe peer is still on {SERVER_IF} after converging without it"
            ));
        }
        Ok(())
    });
    let _ = std::fs::remove_file(client_conf_path(s, PROBE_PEER));
    drop(tunnel);
    result.and(restored)
}

fn firewall_rescue(s: &Suite) -> Result<(), String> {
    let lab = prepare(s)?;
    // a LAN that is not the controller's: the new table would drop its new SSH connections
    let t = Instant::now();
    let (code, out) = s.fmc_run(&[
        "--limit",
        &lab.kvm_host,
        "-e",
        "host_firewall_lan_cidr=10.99.0.0/24",
        "-e",
        "host_firewall_confirm_timeout=2",
        PLAYBOOK,
    ])?;
    let secs = t.elapsed().as_secs_f64();
    let verdict = (|| {
        if code != 2 || !out.contains("could not open a new SSH connection") {
            return Err(format!(
                "a table cutting the controller off: expected a failed run naming it, got exit {code}"
            ));
        }
        let (ssh, _) = tcp(s, Ns::Controller, &lab.kvm_addr, 22)?;
        if ssh != Tcp::Open {
            return Err(format!(
                "after the rescue, SSH of {} from the LAN: {ssh:?}",
                lab.kvm_host
            ));
        }
        let live = s.sh_output(&lab.kvm_host, "nft list table inet fmc")?;
        if live.status.success() {
            return Err("the cutting table is still loaded".into());
        }
        println!(
            "    bad table loaded, detected and deleted again in a {secs:.1}s run; SSH from the LAN open"
        );
        Ok(())
    })();
    // restore: the inventory's table, loaded again
    let restored = converge(s, &["--limit", &lab.kvm_host, PLAYBOOK])
        .and_then(|()| s.sh(&lab.kvm_host, "nft list table inet fmc").map(|_| ()));
    verdict.and(restored)
}

/// A fresh public key for the probe peer (its private half is thrown away).
fn probe_public_key() -> Result<String, String> {
    let private = run(Command::new("wg").arg("genkey"))?;
    let mut c = Command::new("wg")
        .arg("pubkey")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run wg pubkey: {e}"))?;
    if let Some(mut stdin) = c.stdin.take() {
        use std::io::Write;
        stdin
            .write_all(private.as_bytes())
            .map_err(|e| format!("wg pubkey: {e}"))?;
    }
    let out = c
        .wait_with_output()
        .map_err(|e| format!("wg pubkey: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Converges the KVM host with the inventory's peers plus the probe peer; the run's seconds.
fn add_probe_peer(s: &Suite, lab: &Lab, key: &str) -> Result<f64, String> {
    let mut peers = lab
        .peers
        .as_array()
        .cloned()
        .ok_or("wireguard_peers is not a list")?;
    peers
        .push(serde_json::json!({"name": PROBE_PEER, "public_key": key, "address": PROBE_ADDRESS}));
    let extra = serde_json::json!({ "wireguard_peers": peers }).to_string();
    let t = Instant::now();
    converge(s, &["--limit", &lab.kvm_host, "-e", &extra, PLAYBOOK])?;
    Ok(t.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RENDERED: &str = "# comment\n[Interface]\nPrivateKey = <private key of lab-laptop>\n\
        Address = 10.17.0.2/32\nDNS = 192.168.0.30\n\n[Peer]\n# virtualizacion-server\n\
        PublicKey = SERVERKEY=\nEndpoint = 203.0.113.1:51820\n\
        AllowedIPs = 10.17.0.0/24, 192.168.0.0/24\nPersistentKeepalive = 25\n";

    #[test]
    fn client_config_becomes_a_wg_config_with_the_laptop_key() {
        let c = parse_client(RENDERED, "LAPTOPKEY=").unwrap();
        assert_eq!(c.address, "10.17.0.2/32");
        assert_eq!(c.server_key, "SERVERKEY=");
        assert_eq!(c.allowed_ips, ["10.17.0.0/24", "192.168.0.0/24"]);
        assert_eq!(
            c.wg,
            "[Interface]\nPrivateKey = LAPTOPKEY=\n[Peer]\nPublicKey = SERVERKEY=\n\
             Endpoint = 203.0.113.1:51820\nAllowedIPs = 10.17.0.0/24, 192.168.0.0/24\n\
             PersistentKeepalive = 25\n"
        );
    }

    #[test]
    fn a_rendered_private_key_is_refused() {
        let leaked = RENDERED.replace("<private key of lab-laptop>", "REALKEY=");
        assert!(
            parse_client(&leaked, "X")
                .unwrap_err()
                .contains("placeholder")
        );
    }

    #[test]
    fn stand_in_answers_are_matched_on_backend_and_source() {
        assert!(expect_answer("t", "master1 via 10.17.0.2", "master1", Some("10.17.0.2")).is_ok());
        assert!(
            expect_answer(
                "t",
                "master1 via 192.168.0.40",
                "master1",
                Some("10.17.0.2")
            )
            .is_err()
        );
        assert!(expect_answer("t", "worker2 via 192.168.0.11", "master", None).is_err());
        assert!(expect_answer("t", "", "master", None).is_err());
    }
}
