//! The lab topology, read from an inventory directory (`inventory/staging`).
//!
//! The YAML is parsed with `fmc-yaml` and interpreted here (not with `fmc-inventory`) so the
//! lab stays independent of the engine: hosts and groups from `hosts.yml`, variables from
//! `group_vars/` with Ansible's precedence (all < parent groups < child groups < host).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use serde_json::{Map, Value};

/// Members of this group get the Flatcar profile image.
pub const FLATCAR_GROUP: &str = "flatcar";

/// Which base image a host boots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Debian userland (stands in for Rocky/Alma and the KVM host).
    Debian,
    /// Debian userland made to behave like Flatcar (read-only /usr, no Python, no apt).
    Flatcar,
}

/// One lab network: a bridge in the lab namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    pub name: String,
    pub net: Ipv4Net,
    pub gateway: Option<Ipv4Addr>,
    /// Static routes the machines of this network carry.
    pub routes: Vec<Route>,
}

/// A static route; `to == None` is the default route.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub to: Option<Ipv4Net>,
    pub via: Ipv4Addr,
}

/// One interface of a host, attached to the bridge of `network`.
#[derive(Debug, Clone, PartialEq)]
pub struct Nic {
    pub name: String,
    pub network: String,
    pub address: Ipv4Net,
}

/// One inventory host, as the lab builds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    pub name: String,
    pub index: usize,
    pub address: Ipv4Addr,
    pub user: String,
    pub profile: Profile,
    pub nics: Vec<Nic>,
    pub routes: Vec<Route>,
    /// Routes between its networks (the KVM host).
    pub forwarding: bool,
}

/// A port forward of the ISP router.
#[derive(Debug, Clone, PartialEq)]
pub struct PortForward {
    pub proto: String,
    pub port: u16,
    pub to: Ipv4Addr,
    pub to_port: u16,
}

/// The lab-only machines outside the inventory.
#[derive(Debug, Clone, PartialEq)]
pub struct Wan {
    pub net: Ipv4Net,
    pub router: Ipv4Addr,
    pub internet_client: Ipv4Addr,
    pub admin_laptop: Ipv4Addr,
}

/// Everything `lab up` builds.
#[derive(Debug, Clone, PartialEq)]
pub struct Topology {
    pub hosts: Vec<Host>,
    pub networks: Vec<Network>,
    pub controller: Ipv4Addr,
    pub repo_port: u16,
    pub wan: Wan,
    pub port_forwards: Vec<PortForward>,
    pub dns_servers: Vec<Ipv4Addr>,
    pub domain: String,
    /// Hosts that serve NFS with nfs-ganesha in the lab (`lab.ganesha.hosts`), and the
    /// directory they export below (`lab.ganesha.export_root`): it is bound from an ext4
    /// directory of this machine, because ganesha cannot export from an overlay.
    pub ganesha_hosts: Vec<String>,
    pub ganesha_export_root: String,
}

impl Topology {
    /// The host called `name`.
    pub fn host(&self, name: &str) -> Result<&Host, String> {
        self.hosts.iter().find(|h| h.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.hosts.iter().map(|h| h.name.as_str()).collect();
            format!(
                "no host '{name}' in the lab\nhint: hosts are {}",
                names.join(", ")
            )
        })
    }

    /// The network that holds `addr`.
    pub fn network_of(&self, addr: Ipv4Addr) -> Option<&Network> {
        self.networks.iter().find(|n| n.net.contains(&addr))
    }

    /// The network the controller sits on (the LAN).
    pub fn controller_network(&self) -> Result<&Network, String> {
        self.network_of(self.controller).ok_or_else(|| {
            format!(
                "lab.controller {} is in none of the networks",
                self.controller
            )
        })
    }
}

/// Groups and hosts of a `hosts.yml`.
#[derive(Debug, Default, PartialEq)]
pub struct Inventory {
    /// group -> direct child groups
    pub children: BTreeMap<String, BTreeSet<String>>,
    /// group -> direct hosts
    pub group_hosts: BTreeMap<String, BTreeSet<String>>,
    /// host -> its own vars, in file order of hosts
    pub hosts: Vec<(String, Map<String, Value>)>,
}

impl Inventory {
    /// Reads `dir/hosts.yml`.
    pub fn load(dir: &Path) -> Result<Self, String> {
        let file = dir.join("hosts.yml");
        let doc = fmc_yaml::load(&file).map_err(|e| e.to_string())?;
        let mut inv = Inventory::default();
        let all = doc
            .get("all")
            .ok_or_else(|| format!("{}: no top-level 'all' group", file.display()))?;
        inv.add_group("all", all, &file)?;
        Ok(inv)
    }

    fn add_group(&mut self, name: &str, body: &Value, file: &Path) -> Result<(), String> {
        self.children.entry(name.to_string()).or_default();
        self.group_hosts.entry(name.to_string()).or_default();
        let body = match body {
            Value::Null => return Ok(()),
            Value::Object(m) => m,
            _ => {
                return Err(format!(
                    "{}: group '{name}' must be a mapping",
                    file.display()
                ));
            }
        };
        if let Some(hosts) = body.get("hosts") {
            let hosts = as_map(hosts, file, &format!("{name}.hosts"))?;
            for (host, vars) in hosts {
                let vars = match vars {
                    Value::Null => Map::new(),
                    Value::Object(m) => m.clone(),
                    _ => {
                        return Err(format!(
                            "{}: host '{host}' must map to vars",
                            file.display()
                        ));
                    }
                };
                self.group_hosts
                    .entry(name.to_string())
                    .or_default()
                    .insert(host.clone());
                match self.hosts.iter_mut().find(|(h, _)| h == host) {
                    Some((_, existing)) => existing.extend(vars),
                    None => self.hosts.push((host.clone(), vars)),
                }
            }
        }
        if let Some(children) = body.get("children") {
            let children = as_map(children, file, &format!("{name}.children"))?;
            for (child, child_body) in children {
                self.children
                    .entry(name.to_string())
                    .or_default()
                    .insert(child.clone());
                self.add_group(child, child_body, file)?;
            }
        }
        Ok(())
    }

    /// All groups of `host` (including `all`) with their depth below `all`.
    pub fn groups_of(&self, host: &str) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        self.walk("all", 0, host, &mut out);
        out
    }

    fn walk(
        &self,
        group: &str,
        depth: usize,
        host: &str,
        out: &mut BTreeMap<String, usize>,
    ) -> bool {
        let mut holds = self
            .group_hosts
            .get(group)
            .is_some_and(|h| h.contains(host));
        if let Some(children) = self.children.get(group) {
            for child in children {
                holds |= self.walk(child, depth + 1, host, out);
            }
        }
        if holds {
            let d = out.entry(group.to_string()).or_insert(depth);
            *d = (*d).max(depth);
        }
        holds
    }
}

/// Reads the group vars of `group` with Ansible's rule: the first of `group_vars/<group>/`
/// (every `*.yml`/`*.yaml` in it, sorted), `<group>.yml`, `<group>.yaml` is used and the
/// others are ignored. Symlinks are followed.
pub fn load_group_vars(dir: &Path, group: &str) -> Result<Map<String, Value>, String> {
    let base = dir.join("group_vars");
    let sub = base.join(group);
    let files: Vec<PathBuf> = if sub.is_dir() {
        let mut inner: Vec<PathBuf> = std::fs::read_dir(&sub)
            .map_err(|e| format!("{}: {e}", sub.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml"))
            })
            .collect();
        inner.sort();
        inner
    } else {
        ["yml", "yaml"]
            .iter()
            .map(|ext| base.join(format!("{group}.{ext}")))
            .find(|f| f.is_file())
            .into_iter()
            .collect()
    };
    let mut vars = Map::new();
    for f in files {
        // vault-encrypted files hold secrets only: the lab's topology never needs them
        let text = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        if fmc_yaml::is_vault(&text) {
            continue;
        }
        match fmc_yaml::parse(&text, &f.display().to_string()).map_err(|e| e.to_string())? {
            Value::Null => {}
            Value::Object(m) => vars.extend(m),
            _ => return Err(format!("{}: group vars must be a mapping", f.display())),
        }
    }
    Ok(vars)
}

/// The variables of every host, with Ansible's precedence.
pub fn host_vars(
    dir: &Path,
    inv: &Inventory,
) -> Result<BTreeMap<String, Map<String, Value>>, String> {
    let mut cache: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for (host, own) in &inv.hosts {
        let mut groups: Vec<(usize, String)> = inv
            .groups_of(host)
            .into_iter()
            .map(|(g, d)| (d, g))
            .collect();
        groups.sort();
        let mut vars = Map::new();
        for (_, group) in groups {
            if !cache.contains_key(&group) {
                cache.insert(group.clone(), load_group_vars(dir, &group)?);
            }
            if let Some(gv) = cache.get(&group) {
                vars.extend(gv.clone());
            }
        }
        vars.extend(own.clone());
        out.insert(host.clone(), vars);
    }
    Ok(out)
}

fn as_map<'a>(v: &'a Value, file: &Path, what: &str) -> Result<&'a Map<String, Value>, String> {
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(format!("{}: '{what}' must be a mapping", file.display())),
    }
}

fn get<'a>(vars: &'a Map<String, Value>, path: &str) -> Result<&'a Value, String> {
    let mut cur: Option<&Value> = None;
    for (i, key) in path.split('.').enumerate() {
        cur = if i == 0 {
            vars.get(key)
        } else {
            cur.and_then(|c| c.get(key))
        };
    }
    cur.ok_or_else(|| format!("variable '{path}' is not set"))
}

fn get_str(vars: &Map<String, Value>, path: &str) -> Result<String, String> {
    match get(vars, path)? {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(format!("variable '{path}' must be a string, not {other}")),
    }
}

fn get_ip(vars: &Map<String, Value>, path: &str) -> Result<Ipv4Addr, String> {
    let s = get_str(vars, path)?;
    s.parse()
        .map_err(|_| format!("variable '{path}': '{s}' is not an IPv4 address"))
}

fn get_net(vars: &Map<String, Value>, path: &str) -> Result<Ipv4Net, String> {
    let s = get_str(vars, path)?;
    let net: Ipv4Net = s
        .parse()
        .map_err(|_| format!("variable '{path}': '{s}' is not an IPv4 network"))?;
    Ok(net.trunc())
}

fn get_port(vars: &Map<String, Value>, path: &str) -> Result<u16, String> {
    let s = get_str(vars, path)?;
    s.parse()
        .map_err(|_| format!("variable '{path}': '{s}' is not a port number"))
}

fn list<'a>(
    vars: &'a Map<String, Value>,
    path: &str,
) -> Result<Vec<&'a Map<String, Value>>, String> {
    match get(vars, path)? {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_object()
                    .ok_or_else(|| format!("variable '{path}[{i}]' must be a mapping"))
            })
            .collect(),
        _ => Err(format!("variable '{path}' must be a list")),
    }
}

fn parse_networks(all: &Map<String, Value>) -> Result<Vec<Network>, String> {
    let nets = get(all, "networks")?
        .as_object()
        .ok_or("variable 'networks' must be a mapping")?;
    let mut out = Vec::new();
    for (name, body) in nets {
        let body = body
            .as_object()
            .ok_or_else(|| format!("variable 'networks.{name}' must be a mapping"))?;
        // bridge names are `br-<name>` and must fit IFNAMSIZ
        if name.is_empty() || name.len() > 12 || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!(
                "network name '{name}' must be 1-12 letters or digits"
            ));
        }
        let gateway = match body.get("gateway") {
            Some(_) => Some(get_ip(body, "gateway").map_err(|e| format!("networks.{name}: {e}"))?),
            None => None,
        };
        let mut routes = Vec::new();
        if body.contains_key("routes") {
            for r in list(body, "routes").map_err(|e| format!("networks.{name}: {e}"))? {
                routes.push(Route {
                    to: Some(get_net(r, "to").map_err(|e| format!("networks.{name}.routes: {e}"))?),
                    via: get_ip(r, "via").map_err(|e| format!("networks.{name}.routes: {e}"))?,
                });
            }
        }
        out.push(Network {
            name: name.clone(),
            net: get_net(body, "cidr").map_err(|e| format!("networks.{name}: {e}"))?,
            gateway,
            routes,
        });
    }
    Ok(out)
}

fn is_own(addr: Ipv4Addr, nics: &[Nic]) -> bool {
    nics.iter().any(|n| n.address.addr() == addr)
}

fn build_host(
    name: &str,
    index: usize,
    vars: &Map<String, Value>,
    groups: &BTreeMap<String, usize>,
    networks: &[Network],
) -> Result<Host, String> {
    let address = get_ip(vars, "ansible_host")?;
    let user = get_str(vars, "ansible_user")?;
    let network_of = |addr: Ipv4Addr| {
        networks
            .iter()
            .find(|n| n.net.contains(&addr))
            .ok_or_else(|| format!("address {addr} is in none of the networks"))
    };
    let mut nics = Vec::new();
    if vars.contains_key("host_interfaces") {
        for nic in list(vars, "host_interfaces")? {
            let network = get_str(nic, "network").map_err(|e| format!("host_interfaces: {e}"))?;
            let net = networks
                .iter()
                .find(|n| n.name == network)
                .ok_or_else(|| format!("host_interfaces: unknown network '{network}'"))?;
            let addr = get_ip(nic, "address").map_err(|e| format!("host_interfaces: {e}"))?;
            if !net.net.contains(&addr) {
                return Err(format!(
                    "host_interfaces: {addr} is not in network '{network}' ({})",
                    net.net
                ));
            }
            let ifname = get_str(nic, "name").map_err(|e| format!("host_interfaces: {e}"))?;
            if ifname.is_empty() || ifname.len() > 15 || ifname.contains(['/', ' ']) {
                return Err(format!(
                    "host_interfaces: '{ifname}' is not a valid interface name"
                ));
            }
            nics.push(Nic {
                name: ifname,
                network,
                address: Ipv4Net::new(addr, net.net.prefix_len()).map_err(|e| e.to_string())?,
            });
        }
        if !is_own(address, &nics) {
            return Err(format!(
                "ansible_host {address} is not one of host_interfaces"
            ));
        }
        // the interface holding ansible_host first: its network's gateway is the default route
        nics.sort_by_key(|n| n.address.addr() != address);
    } else {
        let net = network_of(address)?;
        nics.push(Nic {
            name: "eth0".into(),
            network: net.name.clone(),
            address: Ipv4Net::new(address, net.net.prefix_len()).map_err(|e| e.to_string())?,
        });
    }
    let mut routes = Vec::new();
    let primary = network_of(address)?;
    if nics.len() == 1 {
        routes.extend(
            primary
                .routes
                .iter()
                .filter(|r| !is_own(r.via, &nics))
                .cloned(),
        );
    }
    if let Some(gw) = primary.gateway.filter(|gw| !is_own(*gw, &nics)) {
        routes.push(Route { to: None, via: gw });
    }
    let profile = if groups.contains_key(FLATCAR_GROUP) {
        Profile::Flatcar
    } else {
        Profile::Debian
    };
    Ok(Host {
        name: name.to_string(),
        index,
        address,
        user,
        profile,
        forwarding: nics.len() > 1,
        nics,
        routes,
    })
}

/// Reads the topology of the lab from an inventory directory.
pub fn load(dir: &Path) -> Result<Topology, String> {
    let inv = Inventory::load(dir)?;
    let vars = host_vars(dir, &inv)?;
    let all = load_group_vars(dir, "all")?;
    let networks = parse_networks(&all).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut hosts = Vec::new();
    for (index, (name, _)) in inv.hosts.iter().enumerate() {
        if index > 250 {
            return Err("the lab holds at most 250 hosts".into());
        }
        if name.is_empty()
            || name.len() > 63
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(format!("host name '{name}' is not a valid hostname"));
        }
        let host_vars = vars.get(name).cloned().unwrap_or_default();
        let groups = inv.groups_of(name);
        hosts.push(
            build_host(name, index, &host_vars, &groups, &networks)
                .map_err(|e| format!("{}: host '{name}': {e}", dir.display()))?,
        );
    }
    let ctx = |e: String| format!("{}: {e}", dir.display());
    let wan = Wan {
        net: get_net(&all, "lab.wan.cidr").map_err(ctx)?,
        router: get_ip(&all, "lab.wan.router").map_err(ctx)?,
        internet_client: get_ip(&all, "lab.wan.internet_client").map_err(ctx)?,
        admin_laptop: get_ip(&all, "lab.wan.admin_laptop").map_err(ctx)?,
    };
    let mut port_forwards = Vec::new();
    if all.contains_key("wan_port_forwards") {
        for pf in list(&all, "wan_port_forwards").map_err(ctx)? {
            let proto = get_str(pf, "proto").map_err(ctx)?;
            if proto != "tcp" && proto != "udp" {
                return Err(ctx(format!(
                    "wan_port_forwards: proto '{proto}' must be tcp or udp"
                )));
            }
            port_forwards.push(PortForward {
                proto,
                port: get_port(pf, "port").map_err(ctx)?,
                to: get_ip(pf, "to").map_err(ctx)?,
                to_port: get_port(pf, "to_port").map_err(ctx)?,
            });
        }
    }
    let dns_servers = match all.get("dns_servers") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| ctx(format!("dns_servers: '{v}' is not an IPv4 address")))
            })
            .collect::<Result<Vec<Ipv4Addr>, String>>()?,
        _ => Vec::new(),
    };
    let (ganesha_hosts, ganesha_export_root) = match all.get("lab").and_then(|l| l.get("ganesha")) {
        Some(_) => {
            let hosts = match get(&all, "lab.ganesha.hosts").map_err(ctx)? {
                Value::Array(items) => items
                    .iter()
                    .map(|v| {
                        v.as_str().map(str::to_string).ok_or_else(|| {
                            ctx(format!("lab.ganesha.hosts: '{v}' is not a host name"))
                        })
                    })
                    .collect::<Result<Vec<String>, String>>()?,
                other => {
                    return Err(ctx(format!(
                        "lab.ganesha.hosts must be a list, not {other}"
                    )));
                }
            };
            let root = get_str(&all, "lab.ganesha.export_root").map_err(ctx)?;
            if !root.starts_with('/') || root.contains([',', ':']) {
                return Err(ctx(format!(
                    "lab.ganesha.export_root '{root}' must be an absolute path without ',' or ':'"
                )));
            }
            (hosts, root)
        }
        None => (Vec::new(), String::new()),
    };
    let topo = Topology {
        ganesha_hosts,
        ganesha_export_root,
        hosts,
        controller: get_ip(&all, "lab.controller").map_err(ctx)?,
        repo_port: get_port(&all, "lab.repo_port").map_err(ctx)?,
        wan,
        port_forwards,
        dns_servers,
        domain: get_str(&all, "domain").map_err(ctx)?,
        networks,
    };
    validate(&topo).map_err(ctx)?;
    Ok(topo)
}

fn validate(topo: &Topology) -> Result<(), String> {
    let mut seen: BTreeMap<Ipv4Addr, String> = BTreeMap::new();
    let lan = topo.controller_network()?;
    let router_lan = lan.gateway.ok_or_else(|| {
        format!(
            "network '{}' (the controller's) needs a gateway: the ISP router",
            lan.name
        )
    })?;
    let mut claim = |addr: Ipv4Addr, who: String| match seen.insert(addr, who.clone()) {
        Some(other) => Err(format!("address {addr} is used by both {other} and {who}")),
        None => Ok(()),
    };
    for h in &topo.hosts {
        for nic in &h.nics {
            claim(nic.address.addr(), h.name.clone())?;
        }
    }
    claim(topo.controller, "the lab controller".into())?;
    claim(router_lan, "the lab router".into())?;
    for (addr, who) in [
        (topo.wan.router, "the lab router"),
        (topo.wan.internet_client, "the internet client"),
        (topo.wan.admin_laptop, "the admin laptop"),
    ] {
        if !topo.wan.net.contains(&addr) {
            return Err(format!(
                "lab.wan: {who} address {addr} is not in {}",
                topo.wan.net
            ));
        }
        claim(addr, who.into())?;
    }
    for n in &topo.networks {
        if n.net.contains(&topo.wan.net.network()) || topo.wan.net.contains(&n.net.network()) {
            return Err(format!(
                "lab.wan.cidr {} overlaps network '{}'",
                topo.wan.net, n.name
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_inventory(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("inventory")
            .join(name)
    }

    #[test]
    fn staging_topology_matches_the_seeds() {
        let t = load(&repo_inventory("staging")).unwrap();
        assert_eq!(t.hosts.len(), 12);
        let kvm = t.host("virtualizacion-server").unwrap();
        assert!(kvm.forwarding);
        assert_eq!(kvm.profile, Profile::Debian);
        // seed 004: the host's LAN address sits on br0, the LAN bridge the load balancers share
        assert_eq!(kvm.nics[0].name, "br0");
        assert_eq!(kvm.nics[0].address.to_string(), "192.168.0.40/24");
        assert_eq!(
            kvm.routes,
            vec![Route {
                to: None,
                via: "192.168.0.1".parse().unwrap()
            }]
        );
        let m1 = t.host("master1").unwrap();
        assert_eq!(m1.profile, Profile::Flatcar);
        assert_eq!(m1.user, "core");
        assert_eq!(
            m1.routes,
            vec![Route {
                to: None,
                via: "10.17.4.1".parse().unwrap()
            }]
        );
        let lb = t.host("loadbalancer1").unwrap();
        assert_eq!(lb.user, "admin");
        assert_eq!(lb.profile, Profile::Debian);
        // LAN machines reach the VM networks through the KVM host, the rest through the router
        assert_eq!(lb.routes.len(), 3);
        assert_eq!(lb.routes[0].via.to_string(), "192.168.0.40");
        assert_eq!(
            lb.routes[2],
            Route {
                to: None,
                via: "192.168.0.1".parse().unwrap()
            }
        );
        assert_eq!(t.host("postgresql1").unwrap().nics[0].network, "infra");
        assert_eq!(t.controller.to_string(), "192.168.0.2");
        assert_eq!(t.controller_network().unwrap().name, "lan");
        assert_eq!(t.port_forwards.len(), 3);
        // every address of seed 004
        for (host, addr) in [
            ("virtualizacion-server", "192.168.0.40"),
            ("loadbalancer1", "192.168.0.11"),
            ("loadbalancer2", "192.168.0.12"),
            ("infra-cluster", "192.168.0.30"),
            ("postgresql1", "10.17.3.14"),
            ("master1", "10.17.4.21"),
            ("master2", "10.17.4.22"),
            ("master3", "10.17.4.23"),
            ("worker1", "10.17.4.24"),
            ("worker2", "10.17.4.25"),
            ("worker3", "10.17.4.26"),
            ("storage1", "10.17.4.27"),
        ] {
            assert_eq!(t.host(host).unwrap().address.to_string(), addr, "{host}");
        }
    }

    /// The production inventory resolves the shared configuration (a `group_vars/all.yml`
    /// beside `group_vars/all/` would be ignored, by Ansible and fmc-run alike).
    #[test]
    fn production_resolves_the_shared_variables_and_the_seeds_vips() {
        let dir = repo_inventory("production");
        let inv = Inventory::load(&dir).unwrap();
        let vars = host_vars(&dir, &inv).unwrap();
        for (host, v) in &vars {
            for k in [
                "ansible_user",
                "networks",
                "api_vip",
                "ingress_vip",
                "domain",
            ] {
                assert!(v.contains_key(k), "production {host}: '{k}' undefined");
            }
            assert_eq!(v["api_vip"], "192.168.0.10", "{host}");
            assert_eq!(v["ingress_vip"], "192.168.0.14", "{host}");
        }
        assert_eq!(vars.len(), 12);
        assert!(
            !dir.join("group_vars/all.yml").exists(),
            "group_vars/all.yml would be ignored: group_vars/all/ exists"
        );
    }

    #[test]
    fn a_group_vars_directory_wins_over_the_file_as_in_ansible() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "group_vars/all.yml", "a: file\nb: file\n");
        write(d.path(), "group_vars/all/x.yml", "a: dir\n");
        let v = load_group_vars(d.path(), "all").unwrap();
        assert_eq!(v["a"], "dir");
        assert!(!v.contains_key("b"));
        write(d.path(), "group_vars/web.yml", "c: 1\n");
        assert_eq!(load_group_vars(d.path(), "web").unwrap()["c"], 1);
    }

    #[test]
    fn staging_and_production_have_the_same_hosts_groups_and_vars() {
        let (s_dir, p_dir) = (repo_inventory("staging"), repo_inventory("production"));
        let (s, p) = (
            Inventory::load(&s_dir).unwrap(),
            Inventory::load(&p_dir).unwrap(),
        );
        assert_eq!(s, p);
        let (sv, pv) = (
            host_vars(&s_dir, &s).unwrap(),
            host_vars(&p_dir, &p).unwrap(),
        );
        // only these variables may differ, and only in the lab's all/90-lab.yml
        let lab_only = [
            "fmc_lab_netns",
            "lab",
            "ansible_ssh_private_key_file",
            "ansible_ssh_common_args",
            // the Cloudflare API's test double on the lab's internet client
            "cloudflare_ddns_api_url",
            "cloudflare_ddns_ipv4_url",
            // no CAP_SYS_TIME and no internet: chrony/timesyncd measure only, local stratum
            "chrony_no_clock_control",
            "chrony_upstream_pools",
            // no NFS in this kernel: nfs-ganesha serves, mounts are written but not started
            "nfs_server_implementation",
            "nfs_client_start_mounts",
            "nfs_server_ganesha_grace_period",
            "nfs_server_ganesha_lease_lifetime",
            // the VPN's lab client: the laptop namespace, through the lab router
            "wireguard_endpoint",
            "wireguard_peers",
            // the lab key stands for the admin's key
            "admin_public_key_file",
        ];
        let lab_file = load_group_vars(&s_dir, "all").unwrap();
        for (host, s_vars) in &sv {
            let p_vars = &pv[host];
            for (k, v) in s_vars {
                if p_vars.get(k) != Some(v) {
                    assert!(
                        lab_only.contains(&k.as_str()),
                        "{host}: staging differs on '{k}'"
                    );
                    assert!(lab_file.contains_key(k));
                }
            }
            for k in p_vars.keys() {
                assert!(s_vars.contains_key(k), "{host}: staging lacks '{k}'");
            }
        }
    }

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn fixture(hosts: &str) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "hosts.yml", hosts);
        write(
            d.path(),
            "group_vars/all/00-shared.yml",
            "ansible_user: admin\ndomain: example.test\nnetworks:\n  lan: {cidr: 192.168.0.0/24, gateway: 192.168.0.1}\n",
        );
        write(
            d.path(),
            "group_vars/all/90-lab.yml",
            "lab:\n  controller: 192.168.0.2\n  repo_port: 8080\n  wan: {cidr: 203.0.113.0/24, router: 203.0.113.1, internet_client: 203.0.113.10, admin_laptop: 203.0.113.20}\n",
        );
        write(
            d.path(),
            "group_vars/child.yml",
            "ansible_user: fromchild\n",
        );
        write(
            d.path(),
            "group_vars/parent.yml",
            "ansible_user: fromparent\n",
        );
        d
    }

    #[test]
    fn child_group_vars_beat_parent_group_vars_and_host_vars_beat_both() {
        let d = fixture(
            "all:\n  children:\n    parent:\n      children:\n        child:\n          hosts:\n            a: {ansible_host: 192.168.0.5}\n            b: {ansible_host: 192.168.0.6, ansible_user: own}\n",
        );
        let t = load(d.path()).unwrap();
        assert_eq!(t.host("a").unwrap().user, "fromchild");
        assert_eq!(t.host("b").unwrap().user, "own");
    }

    #[test]
    fn errors_name_the_host_and_the_problem() {
        let d = fixture("all:\n  hosts:\n    a: {ansible_host: 10.9.9.9}\n");
        let e = load(d.path()).unwrap_err();
        assert!(
            e.contains("host 'a'") && e.contains("10.9.9.9 is in none of the networks"),
            "{e}"
        );
        let d = fixture("all:\n  hosts:\n    a: {ansible_host: 192.168.0.2}\n");
        let e = load(d.path()).unwrap_err();
        assert!(e.contains("used by both a and the lab controller"), "{e}");
        let d = fixture("all:\n  hosts:\n    a: {ansible_host: not-an-ip}\n");
        assert!(
            load(d.path())
                .unwrap_err()
                .contains("'not-an-ip' is not an IPv4 address")
        );
        assert!(
            load(&d.path().join("missing"))
                .unwrap_err()
                .contains("hosts.yml")
        );
    }
}
