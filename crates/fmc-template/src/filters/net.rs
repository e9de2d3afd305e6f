//! IP address filters in the style of `ansible.utils.ipaddr` (a subset, on `ipnet`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use fmc_core::Value as Json;
use ipnet::{IpNet, Ipv4Net};
use minijinja::{Environment, Error, State, Value};

use super::{fail, json, value};

pub(super) fn register(env: &mut Environment<'static>) {
    for prefix in ["", "ansible.utils.", "ansible.netcommon."] {
        env.add_filter(format!("{prefix}ipaddr"), ipaddr);
        env.add_filter(format!("{prefix}ipv4"), ipv4);
        env.add_filter(format!("{prefix}ipv6"), ipv6);
        env.add_filter(format!("{prefix}ipwrap"), ipwrap);
        env.add_filter(format!("{prefix}ipmath"), ipmath);
        env.add_filter(format!("{prefix}nthhost"), nthhost);
        env.add_filter(format!("{prefix}network_in_usable"), network_in_usable);
    }
}

/// A parsed input: the address, its network, and whether a prefix was written.
struct Ip {
    net: IpNet,
    has_prefix: bool,
}

impl Ip {
    fn addr(&self) -> IpAddr {
        self.net.addr()
    }

    fn is_v4(&self) -> bool {
        matches!(self.net, IpNet::V4(_))
    }

    fn size(&self) -> u128 {
        let host_bits = u32::from(self.net.max_prefix_len() - self.net.prefix_len());
        1u128.checked_shl(host_bits).unwrap_or(u128::MAX)
    }

    fn with_prefix(&self, addr: IpAddr) -> String {
        format!("{addr}/{}", self.net.prefix_len())
    }
}

/// Parses `1.2.3.4`, `1.2.3.4/24`, `1.2.3.4/255.255.255.0`, `2001:db8::1/64`.
fn parse(s: &str) -> Option<Ip> {
    let s = s.trim();
    if let Ok(net) = s.parse::<IpNet>() {
        return Some(Ip {
            net,
            has_prefix: true,
        });
    }
    if let Ok(addr) = s.parse::<IpAddr>() {
        return Some(Ip {
            net: IpNet::from(addr),
            has_prefix: false,
        });
    }
    let (addr, mask) = s.split_once('/')?;
    let addr: Ipv4Addr = addr.parse().ok()?;
    let mask: Ipv4Addr = mask.parse().ok()?;
    let net = Ipv4Net::with_netmask(addr, mask).ok()?;
    Some(Ip {
        net: IpNet::V4(net),
        has_prefix: true,
    })
}

fn to_u128(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// `addr + offset` in the same family, if it does not overflow.
fn offset(a: IpAddr, by: i128) -> Option<IpAddr> {
    let n = i128::try_from(to_u128(a)).ok()?.checked_add(by)?;
    let n = u128::try_from(n).ok()?;
    Some(match a {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(u32::try_from(n).ok()?)),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(n)),
    })
}

/// The `n`th address of the network (negative: from the end).
fn nth(ip: &Ip, n: i128) -> Option<IpAddr> {
    let size = i128::try_from(ip.size()).ok()?;
    let idx = if n < 0 { size + n } else { n };
    if idx < 0 || idx >= size {
        return None;
    }
    offset(ip.net.network(), idx)
}

fn is_private(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(a) => a.is_private() || a.is_loopback() || a.is_link_local() || is_shared_v4(a),
        IpAddr::V6(a) => {
            (a.segments()[0] & 0xfe00) == 0xfc00
                || a.is_loopback()
                || (a.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

/// 100.64.0.0/10 (carrier-grade NAT).
fn is_shared_v4(a: Ipv4Addr) -> bool {
    a.octets()[0] == 100 && (a.octets()[1] & 0xc0) == 64
}

fn revdns(a: IpAddr) -> String {
    match a {
        IpAddr::V4(a) => {
            let o = a.octets();
            format!("{}.{}.{}.{}.in-addr.arpa.", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(a) => {
            let hex = format!("{:032x}", u128::from(a));
            let nibbles: Vec<String> = hex.chars().rev().map(|c| c.to_string()).collect();
            format!("{}.ip6.arpa.", nibbles.join("."))
        }
    }
}

fn wrap(a: IpAddr) -> String {
    match a {
        IpAddr::V6(a) => format!("[{a}]"),
        IpAddr::V4(a) => a.to_string(),
    }
}

/// Answers one query for one parsed value; `Json::Bool(false)` means "no".
fn query(original: &str, ip: &Ip, q: &str) -> Result<Json, Error> {
    let no = Json::Bool(false);
    let net = &ip.net;
    let host_addr = ip.size() == 1 || ip.addr() != net.network();
    if let Ok(n) = q.trim().parse::<i128>() {
        return Ok(nth(ip, n).map_or(no, |a| Json::from(ip.with_prefix(a))));
    }
    Ok(match q {
        "" => Json::from(original.trim()),
        "address" | "ip" => Json::from(ip.addr().to_string()),
        "bool" => Json::Bool(true),
        "broadcast" if ip.is_v4() && net.prefix_len() < 31 => {
            Json::from(net.broadcast().to_string())
        }
        "broadcast" => no,
        "cidr" | "subnet" | "network/prefix" => {
            Json::from(format!("{}/{}", net.network(), net.prefix_len()))
        }
        "host" if ip.size() == 1 => Json::from(ip.with_prefix(ip.addr())),
        "host" | "host/prefix" | "address/prefix" if host_addr && ip.size() > 1 => {
            let usable = !ip.is_v4() || net.prefix_len() >= 31 || ip.addr() != net.broadcast();
            if q == "address/prefix" && !usable {
                no
            } else {
                Json::from(ip.with_prefix(ip.addr()))
            }
        }
        "host" | "host/prefix" | "address/prefix" => no,
        "hostmask" => Json::from(net.hostmask().to_string()),
        "ipv4" if ip.is_v4() => Json::from(original.trim()),
        "ipv6" if !ip.is_v4() => Json::from(original.trim()),
        "ipv4" | "ipv6" => no,
        "netmask" => Json::from(net.netmask().to_string()),
        "network" | "net" => Json::from(net.network().to_string()),
        "prefix" => Json::from(net.prefix_len()),
        "private" if is_private(ip.addr()) => Json::from(original.trim()),
        "public" if !is_private(ip.addr()) => Json::from(original.trim()),
        "private" | "public" => no,
        "revdns" => Json::from(revdns(ip.addr())),
        "size" => Json::from(u64::try_from(ip.size()).unwrap_or(u64::MAX)),
        "version" => Json::from(if ip.is_v4() { 4 } else { 6 }),
        "wrap" | "ipwrap" => Json::from(if ip.has_prefix {
            format!("{}/{}", wrap(ip.addr()), net.prefix_len())
        } else {
            wrap(ip.addr())
        }),
        other => return Err(fail(format!("ipaddr: unknown query '{other}'"))),
    })
}

/// Applies `f` to a string value, or to every item of a list (dropping `false` results).
fn each(state: &State, v: &Value, f: impl Fn(&str) -> Result<Json, Error>) -> Result<Value, Error> {
    let one = |j: &Json| -> Result<Json, Error> {
        match j {
            Json::String(s) => f(s),
            Json::Number(n) => f(&n.to_string()),
            _ => Ok(Json::Bool(false)),
        }
    };
    Ok(match json(state, v)? {
        Json::Array(items) => {
            let mut out = Vec::new();
            for item in &items {
                let r = one(item)?;
                if r != Json::Bool(false) && !r.is_null() {
                    out.push(r);
                }
            }
            value(&Json::Array(out))
        }
        j => value(&one(&j)?),
    })
}

fn query_arg(q: Option<Value>) -> String {
    q.map(|q| q.as_str().map_or_else(|| q.to_string(), str::to_string))
        .unwrap_or_default()
}

/// `ipaddr(query='')`: validates or converts addresses (`address`, `network`, `netmask`,
/// `prefix`, `host`, `cidr`, `broadcast`, `size`, `public`, `private`, `revdns`, `wrap`, N...).
fn ipaddr(state: &State, v: &Value, q: Option<Value>) -> Result<Value, Error> {
    let q = query_arg(q);
    each(state, v, |s| match parse(s) {
        Some(ip) => query(s, &ip, &q),
        None => Ok(Json::Bool(false)),
    })
}

fn family(state: &State, v: &Value, q: Option<Value>, want_v4: bool) -> Result<Value, Error> {
    let q = query_arg(q);
    each(state, v, |s| match parse(s) {
        Some(ip) if ip.is_v4() == want_v4 => query(s, &ip, &q),
        _ => Ok(Json::Bool(false)),
    })
}

/// `ipv4(query='')`: like `ipaddr` for IPv4 values only.
fn ipv4(state: &State, v: &Value, q: Option<Value>) -> Result<Value, Error> {
    family(state, v, q, true)
}

/// `ipv6(query='')`: like `ipaddr` for IPv6 values only.
fn ipv6(state: &State, v: &Value, q: Option<Value>) -> Result<Value, Error> {
    family(state, v, q, false)
}

/// Wraps IPv6 addresses in brackets; other strings pass unchanged.
fn ipwrap(state: &State, v: &Value) -> Result<Value, Error> {
    each(state, v, |s| match parse(s) {
        Some(ip) => query(s, &ip, "wrap"),
        None => Ok(Json::from(s)),
    })
}

/// `'192.168.1.5' | ipmath(3)` -> `'192.168.1.8'`.
fn ipmath(state: &State, v: &Value, n: i64) -> Result<Value, Error> {
    each(state, v, |s| {
        let ip = parse(s).ok_or_else(|| fail("ipmath: not an IP address"))?;
        offset(ip.addr(), i128::from(n))
            .map(|a| Json::from(a.to_string()))
            .ok_or_else(|| fail("ipmath: the result is out of the address range"))
    })
}

/// `'10.0.0.0/24' | nthhost(5)` -> `'10.0.0.5'` (negative counts from the end).
fn nthhost(state: &State, v: &Value, n: i64) -> Result<Value, Error> {
    each(state, v, |s| {
        Ok(match parse(s).and_then(|ip| nth(&ip, i128::from(n))) {
            Some(a) => Json::from(a.to_string()),
            None => Json::Bool(false),
        })
    })
}

/// `'10.0.0.0/24' | network_in_usable('10.0.0.7')`: the address is a usable host of the network.
fn network_in_usable(state: &State, v: &Value, test: &Value) -> Result<bool, Error> {
    let net = match json(state, v)? {
        Json::String(s) => parse(&s),
        _ => None,
    }
    .ok_or_else(|| fail("network_in_usable: not a network"))?;
    let addr = match json(state, test)? {
        Json::String(s) => parse(&s),
        _ => None,
    }
    .ok_or_else(|| fail("network_in_usable: not an IP address"))?;
    let (n, a) = (&net.net, addr.addr());
    if !n.contains(&a) {
        return Ok(false);
    }
    let edge = net.is_v4() && n.prefix_len() < 31 && (a == n.network() || a == n.broadcast());
    Ok(!edge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_netmask_notation() {
        let ip = parse("192.168.1.7/255.255.255.0").map(|i| i.net.prefix_len());
        assert_eq!(ip, Some(24));
        assert!(parse("not an ip").is_none());
        assert!(parse("300.1.1.1").is_none());
    }

    #[test]
    fn network_sizes_do_not_overflow() {
        let ip = parse("2001:db8::/32").map(|i| i.size());
        assert_eq!(ip, Some(1u128 << 96));
        let all = parse("::/0").map(|i| i.size());
        assert_eq!(all, Some(u128::MAX));
    }
}
