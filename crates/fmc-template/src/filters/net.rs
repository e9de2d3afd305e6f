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
        env.add_filter(format!("{prefix}network_in_network"), network_in_network);
        env.add_filter(format!("{prefix}ipsubnet"), ipsubnet);
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

/// The first and last usable addresses of a network (a /31 or /127 uses both).
fn first_last(ip: &Ip) -> Option<(IpAddr, IpAddr)> {
    let net = &ip.net;
    match ip.size() {
        0 | 1 => None,
        2 => Some((net.network(), net.broadcast())),
        _ => Some((offset(net.network(), 1)?, offset(net.broadcast(), -1)?)),
    }
}

/// The queries about usable addresses; they need a value written with a prefix.
fn usable_query(ip: &Ip, q: &str) -> Result<Json, Error> {
    if !ip.has_prefix {
        return Err(fail(format!("ipaddr('{q}'): not a network address")));
    }
    let Some((first, last)) = first_last(ip) else {
        return Ok(Json::Null);
    };
    let within = |a: Option<IpAddr>| {
        a.filter(|a| (to_u128(first)..=to_u128(last)).contains(&to_u128(*a)))
            .map_or(Json::Null, |a| Json::from(a.to_string()))
    };
    Ok(match q {
        "first_usable" => Json::from(first.to_string()),
        "last_usable" => Json::from(last.to_string()),
        "next_usable" => within(offset(ip.addr(), 1)),
        "previous_usable" => within(offset(ip.addr(), -1)),
        _ => Json::from(format!("{first}-{last}")),
    })
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
        "first_usable" | "last_usable" | "next_usable" | "previous_usable" | "range_usable" => {
            usable_query(ip, q)?
        }
        "network_id" => Json::from(net.network().to_string()),
        "network_netmask" => Json::from(format!("{} {}", net.network(), net.netmask())),
        "network_wildcard" => Json::from(format!("{} {}", net.network(), net.hostmask())),
        "" => Json::from(original.trim()),
        "address" | "ip" => Json::from(ip.addr().to_string()),
        "bool" => Json::Bool(true),
        "broadcast" if ip.size() > 2 => Json::from(net.broadcast().to_string()),
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
        // A network or address: the value if it lies inside it, else none.
        other => match parse(other) {
            Some(outer) if outer.net.contains(net) => Json::from(original.trim()),
            Some(_) => Json::Null,
            None => return Err(fail(format!("ipaddr: unknown query '{other}'"))),
        },
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

/// Parses a filter argument that must be an address or network.
fn parse_arg(state: &State, v: &Value, filter: &str, what: &str) -> Result<Ip, Error> {
    match json(state, v)? {
        Json::String(s) => parse(&s),
        _ => None,
    }
    .ok_or_else(|| fail(format!("{filter}: {what} is not an IP address or network")))
}

/// The first and last address of a network, as ansible.utils compares them (the
/// "broadcast" end falls back to the written address for networks of one or two).
fn span(ip: &Ip) -> (u128, u128) {
    let last = if ip.size() > 2 {
        ip.net.broadcast()
    } else {
        ip.addr()
    };
    (to_u128(ip.net.network()), to_u128(last))
}

/// Whether `test`'s whole range lies in `[first, last]`.
fn range_in(test: &Ip, first: u128, last: u128) -> bool {
    let (a, b) = span(test);
    first <= a && b <= last
}

/// `'10.0.0.0/24' | network_in_usable('10.0.0.7')`: the address (or network) lies in the
/// usable range of the network.
fn network_in_usable(state: &State, v: &Value, test: &Value) -> Result<bool, Error> {
    let net = parse_arg(state, v, "network_in_usable", "the value")?;
    let test = parse_arg(state, test, "network_in_usable", "the argument")?;
    let (first, last) = first_last(&net).unwrap_or((net.addr(), net.addr()));
    Ok(net.is_v4() == test.is_v4() && range_in(&test, to_u128(first), to_u128(last)))
}

/// `'10.0.0.0/8' | network_in_network('10.1.0.0/16')`: the address or network lies
/// inside the network, network and broadcast addresses included.
fn network_in_network(state: &State, v: &Value, test: &Value) -> Result<bool, Error> {
    let net = parse_arg(state, v, "network_in_network", "the value")?;
    let test = parse_arg(state, test, "network_in_network", "the argument")?;
    let (first, last) = span(&net);
    Ok(net.is_v4() == test.is_v4() && range_in(&test, first, last))
}

/// `ipsubnet(query='', index=None)` like ansible.utils: with no query the value's CIDR;
/// with a prefix length the number of such subnets (as text), or with `index` the
/// index-th one (negative from the end; `false` when out of range); for a single address
/// the enclosing network of that size; with a network as query the 1-based position of
/// the value's subnet inside it.
fn ipsubnet(
    state: &State,
    v: &Value,
    q: Option<Value>,
    index: Option<i64>,
) -> Result<Value, Error> {
    let q = query_arg(q);
    let Json::String(s) = json(state, v)? else {
        return Ok(Value::from(false));
    };
    let Some(ip) = parse(&s) else {
        return Ok(Value::from(false));
    };
    let is_address = ip.size() == 1;
    let net = ip.net.trunc();
    let total = net.max_prefix_len();
    let bits = u32::from(total);
    if q.is_empty() {
        return Ok(Value::from(net.to_string()));
    }
    let json_str = |n: IpNet| Value::from(n.to_string());
    if q.bytes().all(|b| b.is_ascii_digit()) {
        let Some(size) = q.parse::<u8>().ok().filter(|n| *n <= total) else {
            return Ok(Value::from(false));
        };
        if is_address {
            // The networks of prefix `size`, `size + 1`, ... that hold the address.
            let supernets = i64::from(total) - i64::from(size);
            let i = index.unwrap_or(0);
            if let Some(n) = index
                && (n > i64::from(total) + 1 - n || n < i64::from(size) - i64::from(total))
            {
                return Ok(Value::from(false));
            }
            let i = if i < 0 { i + supernets } else { i };
            if i < 0 || i >= supernets {
                return Err(fail("ipsubnet: subnet index out of range"));
            }
            let prefix = u8::try_from(i64::from(size) + i).unwrap_or(total);
            return IpNet::new(net.addr(), prefix)
                .map(|n| json_str(n.trunc()))
                .map_err(|e| fail(format!("ipsubnet: {e}")));
        }
        if size < net.prefix_len() {
            if index.is_some() {
                return Ok(Value::from(false));
            }
            return Err(fail(format!(
                "ipsubnet: requested subnet size of {size} is invalid"
            )));
        }
        let count = 1u128.checked_shl(u32::from(size - net.prefix_len()));
        let Some(i) = index else {
            // Only `::/0` split into /128s overflows: 2**128.
            return Ok(Value::from(count.map_or_else(
                || "340282366920938463463374607431768211456".to_string(),
                |c| c.to_string(),
            )));
        };
        let count = count.map_or(i128::MAX, |c| i128::try_from(c).unwrap_or(i128::MAX));
        let i = i128::from(i);
        let i = if i < 0 { i + count } else { i };
        if i < 0 || i >= count {
            return Ok(Value::from(false));
        }
        let step = 1u128.checked_shl(bits - u32::from(size)).unwrap_or(0);
        let start = u128::try_from(i)
            .ok()
            .and_then(|i| i.checked_mul(step))
            .and_then(|o| i128::try_from(o).ok())
            .and_then(|o| offset(net.network(), o));
        return match start.map(|a| IpNet::new(a, size)) {
            Some(Ok(n)) => Ok(json_str(n)),
            _ => Ok(Value::from(false)),
        };
    }
    let outer = parse(&q).ok_or_else(|| {
        fail(format!(
            "ipsubnet: you must pass a valid subnet or IP address; {q} is invalid"
        ))
    })?;
    if outer.is_v4() != ip.is_v4() || !outer.net.trunc().contains(&net) {
        return Err(fail(format!(
            "ipsubnet: {net} is not in the subnet {}",
            outer.net.trunc()
        )));
    }
    // Position of the value's subnet among the subnets of its size in `outer`.
    let host_bits = bits - u32::from(net.prefix_len());
    let within = to_u128(net.network()) - to_u128(outer.net.network());
    let pos = within.checked_shr(host_bits).unwrap_or(0) + 1;
    Ok(Value::from(pos.to_string()))
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
