//! `fmc-ddns`: keeps Cloudflare A/AAAA records on this machine's public address.
//!
//! One run: discover the public address(es) ([`api::discover`]), look the zone up, and
//! for each configured record list it, create it if absent, update it if its content,
//! ttl or proxied differ, and leave it alone otherwise. Only a `429` is retried (after
//! its `Retry-After`, a bounded number of times); any other failure ends the run with
//! a non-zero exit and the next timer run starts over.

pub mod api;
pub mod config;

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use fmc_core::Secret;

pub use api::ApiError;
pub use config::{Config, ConfigError, Record, RecordType, read_token};

/// What a run did (or, dry, would do) to one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Already right: no write request was made.
    Unchanged,
    /// Absent, created.
    Created,
    /// Present and different: the differences, `field old -> new`.
    Updated(Vec<String>),
}

/// The result of one record: the line fmc-ddns prints for it.
#[derive(Debug)]
pub struct RecordResult {
    pub record: Record,
    pub ip: IpAddr,
    pub dry_run: bool,
    pub outcome: Result<Outcome, ApiError>,
}

fn shape(ip: &str, ttl: u32, proxied: bool) -> String {
    let ttl = if ttl == 1 {
        "ttl auto".to_string()
    } else {
        format!("ttl {ttl}")
    };
    let mode = if proxied { "proxied" } else { "dns only" };
    format!("{ip}, {ttl}, {mode}")
}

impl fmt::Display for RecordResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.record;
        write!(f, "{} {}: ", r.name, r.kind)?;
        let want = shape(&self.ip.to_string(), r.ttl, r.proxied);
        match (&self.outcome, self.dry_run) {
            (Ok(Outcome::Unchanged), _) => write!(f, "unchanged ({want})"),
            (Ok(Outcome::Created), false) => write!(f, "created ({want})"),
            (Ok(Outcome::Created), true) => write!(f, "would create ({want})"),
            (Ok(Outcome::Updated(d)), false) => write!(f, "updated ({})", d.join(", ")),
            (Ok(Outcome::Updated(d)), true) => write!(f, "would update ({})", d.join(", ")),
            (Err(e), _) => write!(f, "error: {e}"),
        }
    }
}

/// The differences between a record as it is and as configured.
fn differences(have: &api::DnsRecord, want: &Record, ip: IpAddr) -> Vec<String> {
    let mut d = Vec::new();
    if have.content.parse::<IpAddr>().ok() != Some(ip) {
        d.push(format!("content {} -> {ip}", have.content));
    }
    if have.ttl != want.ttl {
        d.push(format!("ttl {} -> {}", have.ttl, want.ttl));
    }
    if have.proxied != want.proxied {
        d.push(format!("proxied {} -> {}", have.proxied, want.proxied));
    }
    d
}

fn sync_one(
    cf: &api::Cloudflare,
    zone_id: &str,
    r: &Record,
    ip: IpAddr,
    dry_run: bool,
) -> Result<Outcome, ApiError> {
    match cf.find(zone_id, r)? {
        None => {
            if !dry_run {
                cf.create(zone_id, r, ip)?;
            }
            Ok(Outcome::Created)
        }
        Some(have) => {
            let d = differences(&have, r, ip);
            if d.is_empty() {
                return Ok(Outcome::Unchanged);
            }
            if !dry_run {
                cf.update(zone_id, &have.id, r, ip)?;
            }
            Ok(Outcome::Updated(d))
        }
    }
}

/// One run. Discovery or zone lookup failing fails the whole run (`Err`); otherwise
/// every record is tried and gets its own result. `dry_run` reads but never writes.
pub fn run(
    cfg: &Config,
    token: Secret<String>,
    dry_run: bool,
) -> Result<Vec<RecordResult>, ApiError> {
    let agent = api::agent(Duration::from_secs(cfg.timeout_secs));
    let v4 = if cfg.records.iter().any(|r| r.kind == RecordType::A) {
        Some(api::discover(&agent, &cfg.ipv4_url, RecordType::A)?)
    } else {
        None
    };
    let v6 = match &cfg.ipv6_url {
        Some(url) if cfg.records.iter().any(|r| r.kind == RecordType::AAAA) => {
            Some(api::discover(&agent, url, RecordType::AAAA)?)
        }
        _ => None,
    };
    let cf = api::Cloudflare::new(agent, &cfg.api_url, token, cfg.max_retries);
    let zone_id = cf.zone_id(&cfg.zone)?;
    let mut results = Vec::new();
    for r in &cfg.records {
        let ip = match r.kind {
            RecordType::A => v4,
            RecordType::AAAA => v6,
        };
        // config validation guarantees a discovery URL for each family in use
        let Some(ip) = ip else { continue };
        results.push(RecordResult {
            record: r.clone(),
            ip,
            dry_run,
            outcome: sync_one(&cf, &zone_id, r, ip, dry_run),
        });
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ttl: u32, proxied: bool) -> Record {
        Record {
            name: "vpn.example.org".into(),
            kind: RecordType::A,
            proxied,
            ttl,
        }
    }

    fn have(content: &str, ttl: u32, proxied: bool) -> api::DnsRecord {
        api::DnsRecord {
            id: "1".into(),
            content: content.into(),
            ttl,
            proxied,
        }
    }

    #[test]
    fn differences_name_each_drifted_field() {
        let ip: IpAddr = "203.0.113.1".parse().unwrap();
        assert!(differences(&have("203.0.113.1", 300, false), &rec(300, false), ip).is_empty());
        assert_eq!(
            differences(&have("198.51.100.7", 120, true), &rec(300, false), ip),
            [
                "content 198.51.100.7 -> 203.0.113.1",
                "ttl 120 -> 300",
                "proxied true -> false"
            ]
        );
    }

    #[test]
    fn ipv6_content_is_compared_as_an_address() {
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        let mut r = rec(300, false);
        r.kind = RecordType::AAAA;
        assert!(differences(&have("2001:0db8:0:0::1", 300, false), &r, ip).is_empty());
    }
}
