//! The lab's networks: namespaces, bridges, veths, addresses and routes.
//!
//! Safety invariant: every `ip` command goes through [`ip`], which always targets a lab
//! namespace (`-n fmclab...`); nothing is created in, assigned to or routed from the
//! machine's root namespace. The lab namespace `fmclab` holds the bridges and has no link
//! to any real interface; every other lab namespace is linked only to those bridges.

use std::fs;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

use super::topology::{Host, Topology};
use super::{run, run_input};

/// The namespace that holds the whole lab (the bridges and the controller).
pub const LAB_NS: &str = "fmclab";

/// A network namespace that belongs to the lab. Built only from [`LAB_NS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Netns(String);

impl Netns {
    /// The lab namespace itself.
    pub fn lab() -> Self {
        Netns(LAB_NS.to_string())
    }
    /// The namespace of an inventory host's container.
    pub fn host(name: &str) -> Self {
        Netns(format!("{LAB_NS}-{name}"))
    }
    /// A lab-only namespace: `router`, `internet`, `laptop`.
    pub fn extra(role: &str) -> Self {
        Netns(format!("{LAB_NS}-x-{role}"))
    }
    /// Its name.
    pub fn name(&self) -> &str {
        &self.0
    }
    /// The path `systemd-nspawn --network-namespace-path=` takes.
    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.0)
    }
}

/// Whether `name` is a namespace the lab creates.
pub fn is_lab_ns(name: &str) -> bool {
    name == LAB_NS || name.starts_with(&format!("{LAB_NS}-"))
}

/// Runs `ip -n NS ARGS...`.
pub fn ip(ns: &Netns, args: &[&str]) -> Result<(), String> {
    run(Command::new("ip").arg("-n").arg(ns.name()).args(args)).map(|_| ())
}

/// A command that runs inside `ns` (`ip netns exec NS PROGRAM`).
pub fn exec_in(ns: &Netns, program: &str) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns.name(), program]);
    c
}

fn sysctl(ns: &Netns, key: &str, value: &str) -> Result<(), String> {
    run(exec_in(ns, "sysctl").args(["-q", "-w", &format!("{key}={value}")])).map(|_| ())
}

fn mac(a: u8, b: u8) -> String {
    format!("02:f0:00:00:{a:02x}:{b:02x}")
}

fn bridge(network: &str) -> String {
    format!("br-{network}")
}

fn add_ns(ns: &Netns) -> Result<(), String> {
    run(Command::new("ip").args(["netns", "add", ns.name()]))?;
    ip(ns, &["link", "set", "lo", "up"])
}

/// A veth pair: `outer` on a bridge of the lab namespace, `inner` in `ns` with an address.
fn plug(
    ns: &Netns,
    outer: &str,
    inner: &str,
    inner_mac: &str,
    br: &str,
    addr: &str,
) -> Result<(), String> {
    let lab = Netns::lab();
    ip(
        &lab,
        &[
            "link",
            "add",
            outer,
            "type",
            "veth",
            "peer",
            "name",
            inner,
            "netns",
            ns.name(),
            "address",
            inner_mac,
        ],
    )?;
    ip(&lab, &["link", "set", outer, "master", br, "up"])?;
    ip(ns, &["addr", "add", addr, "dev", inner])?;
    ip(ns, &["link", "set", inner, "up"])
}

fn route(ns: &Netns, to: &str, via: Ipv4Addr) -> Result<(), String> {
    ip(ns, &["route", "add", to, "via", &via.to_string()])
}

/// Creates the lab namespace, its bridges, the controller's address and the lab-only
/// namespaces (ISP router, internet client, admin laptop).
pub fn up_lab(topo: &Topology) -> Result<(), String> {
    let lab = Netns::lab();
    add_ns(&lab)?;
    // the controller's namespace forwards nothing: it is an admin machine on the LAN
    sysctl(&lab, "net.ipv4.ip_forward", "0")?;
    let wan_name = "wan";
    let mut names: Vec<&str> = topo.networks.iter().map(|n| n.name.as_str()).collect();
    names.push(wan_name);
    for (i, name) in names.iter().enumerate() {
        let br = bridge(name);
        ip(
            &lab,
            &[
                "link",
                "add",
                &br,
                "address",
                &mac(0xff, i as u8),
                "type",
                "bridge",
            ],
        )?;
        ip(&lab, &["link", "set", &br, "up"])?;
    }
    let lan = topo.controller_network()?;
    ip(
        &lab,
        &[
            "addr",
            "add",
            &format!("{}/{}", topo.controller, lan.net.prefix_len()),
            "dev",
            &bridge(&lan.name),
        ],
    )?;
    for r in &lan.routes {
        if let Some(to) = r.to {
            route(&lab, &to.to_string(), r.via)?;
        }
    }

    // the ISP router: LAN gateway on one side, the lab-only "internet" on the other
    let router = Netns::extra("router");
    add_ns(&router)?;
    let router_lan = lan
        .gateway
        .ok_or("the controller's network has no gateway")?;
    plug(
        &router,
        "xr-lan",
        "lan0",
        &mac(0xfe, 1),
        &bridge(&lan.name),
        &format!("{router_lan}/{}", lan.net.prefix_len()),
    )?;
    let wan_prefix = topo.wan.net.prefix_len();
    plug(
        &router,
        "xr-wan",
        "wan0",
        &mac(0xfe, 2),
        &bridge(wan_name),
        &format!("{}/{wan_prefix}", topo.wan.router),
    )?;
    sysctl(&router, "net.ipv4.ip_forward", "1")?;
    let rules = router_rules(topo);
    run_input(exec_in(&router, "nft").args(["-f", "-"]), &rules)?;

    for (role, addr, n) in [
        ("internet", topo.wan.internet_client, 1u8),
        ("laptop", topo.wan.admin_laptop, 2),
    ] {
        let ns = Netns::extra(role);
        add_ns(&ns)?;
        plug(
            &ns,
            &format!("xw-{role}"),
            "eth0",
            &mac(0xfd, n),
            &bridge(wan_name),
            &format!("{addr}/{wan_prefix}"),
        )?;
        ip(
            &ns,
            &[
                "route",
                "add",
                "default",
                "via",
                &topo.wan.router.to_string(),
            ],
        )?;
    }
    Ok(())
}

/// The ISP router's nftables ruleset: port forwards from its public address, masquerade out.
pub fn router_rules(topo: &Topology) -> String {
    let mut s = String::from(
        "table ip fmclab_router {\n  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n",
    );
    for pf in &topo.port_forwards {
        s.push_str(&format!(
            "    iifname \"wan0\" ip daddr {} {} dport {} dnat to {}:{}\n",
            topo.wan.router, pf.proto, pf.port, pf.to, pf.to_port
        ));
    }
    s.push_str("  }\n  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n");
    s.push_str("    oifname \"wan0\" masquerade\n  }\n}\n");
    s
}

/// Creates the namespace of one host, linked to the lab's bridges, with its addresses and
/// routes (what cloud-init or Ignition configure on the real machines).
pub fn up_host(host: &Host) -> Result<(), String> {
    let ns = Netns::host(&host.name);
    add_ns(&ns)?;
    for (j, nic) in host.nics.iter().enumerate() {
        let outer = format!("h{}n{j}", host.index);
        plug(
            &ns,
            &outer,
            &nic.name,
            &mac(host.index as u8, j as u8),
            &bridge(&nic.network),
            &nic.address.to_string(),
        )?;
    }
    for r in &host.routes {
        let to =
            r.to.map_or_else(|| "default".to_string(), |n| n.to_string());
        route(&ns, &to, r.via)?;
    }
    if host.forwarding {
        // the KVM host routes between its networks (libvirt turns this on for its networks)
        sysctl(&ns, "net.ipv4.ip_forward", "1")?;
    }
    Ok(())
}

/// The lab namespaces that exist now.
pub fn lab_namespaces() -> Vec<String> {
    let mut out: Vec<String> = match fs::read_dir("/run/netns") {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| is_lab_ns(n))
            .collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out
}

/// Deletes every lab namespace (their veths and bridges go with them). Idempotent.
pub fn down() -> Result<(), String> {
    let mut errors = Vec::new();
    // host namespaces first, the lab namespace (bridges) last
    let mut names = lab_namespaces();
    names.sort_by_key(|n| n == LAB_NS);
    for name in names {
        if let Err(e) = run(Command::new("ip").args(["netns", "del", &name])) {
            errors.push(e);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

/// Names and addresses the controller sees inside the lab (`ip netns exec` mounts
/// `/etc/netns/fmclab/hosts` and `resolv.conf` over `/etc`).
pub fn write_controller_etc(topo: &Topology, etc_netns: &Path) -> Result<(), String> {
    fs::create_dir_all(etc_netns).map_err(|e| format!("{}: {e}", etc_netns.display()))?;
    let mut hosts = String::from("127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n");
    for h in &topo.hosts {
        hosts.push_str(&format!(
            "{} {} {}.{}\n",
            h.address, h.name, h.name, topo.domain
        ));
    }
    let mut resolv = String::new();
    for d in &topo.dns_servers {
        resolv.push_str(&format!("nameserver {d}\n"));
    }
    resolv.push_str(&format!("search {}\n", topo.domain));
    for (name, text) in [("hosts", hosts), ("resolv.conf", resolv)] {
        let p = etc_netns.join(name);
        fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    Ok(())
}

/// Whether the calling process is inside the lab namespace (compares namespace inodes).
pub fn in_lab_ns() -> bool {
    use std::os::unix::fs::MetadataExt;
    match (
        fs::metadata("/proc/self/ns/net"),
        fs::metadata(Netns::lab().path()),
    ) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_namespaces_are_recognised_by_name() {
        assert!(is_lab_ns("fmclab"));
        assert!(is_lab_ns(Netns::host("master1").name()));
        assert!(is_lab_ns(Netns::extra("router").name()));
        assert!(!is_lab_ns("fmclabx"));
        assert!(!is_lab_ns("other"));
    }

    #[test]
    fn router_forwards_the_seed_ports_from_its_public_address_only() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../inventory/staging");
        let topo = super::super::topology::load(&dir).unwrap();
        let rules = router_rules(&topo);
        assert!(
            rules.contains(
                "iifname \"wan0\" ip daddr 203.0.113.1 tcp dport 8080 dnat to 192.168.0.14:80"
            ),
            "{rules}"
        );
        assert!(rules.contains("udp dport 51820 dnat to 192.168.0.40:51820"));
        assert_eq!(rules.matches("dnat").count(), 3);
    }
}
