//! The Cloudflare API calls fmc-ddns makes, and public address discovery.

use std::net::IpAddr;
use std::time::Duration;

use fmc_core::Secret;
use serde::Deserialize;
use serde_json::{Value, json};
use ureq::Agent;

use crate::config::{Record, RecordType};

/// Longest wait a `Retry-After` may impose before fmc-ddns gives up instead.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(60);

/// A failed call. Messages name the call (method and path, never the token).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("cannot reach {url}: {source}")]
    Transport { url: String, source: ureq::Error },
    #[error("cloudflare api: {call}: HTTP {status}: {detail}{}", status_hint(*.status))]
    Status {
        call: String,
        status: u16,
        detail: String,
    },
    #[error(
        "cloudflare api: {call}: still rate limited (HTTP 429) after {retries} retries\nhint: the next run tries again; runs more than a few times an hour are not needed"
    )]
    RateLimited { call: String, retries: u32 },
    #[error("cloudflare api: {call}: answered success=false: {detail}")]
    Unsuccessful { call: String, detail: String },
    #[error("cloudflare api: {call}: unexpected answer: {detail}")]
    BadAnswer { call: String, detail: String },
    #[error("public address discovery: {url}: {detail}")]
    Discovery { url: String, detail: String },
    #[error("zone {0} not found\nhint: the token needs Zone:Read (and DNS:Edit) on that zone")]
    NoZone(String),
    #[error(
        "{count} {kind} records named {name} exist; fmc-ddns keeps exactly one\nhint: delete the extra ones in the Cloudflare dashboard"
    )]
    Ambiguous {
        name: String,
        kind: RecordType,
        count: usize,
    },
}

fn status_hint(status: u16) -> &'static str {
    match status {
        400 => "\nhint: the api refused the request body; check the record's name, ttl and proxied",
        401 | 403 => {
            "\nhint: check the token file; the token needs Zone:Read and DNS:Edit on the zone"
        }
        500..=599 => "\nhint: a failure on cloudflare's side; the next run tries again",
        _ => "",
    }
}

/// `errors[].message (code N)` of an API answer, or the start of a non-JSON body.
fn error_detail(status_text: &str, body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let msgs: Vec<String> = parsed
        .as_ref()
        .and_then(|v| v.get("errors"))
        .and_then(Value::as_array)
        .map(|errs| {
            errs.iter()
                .map(|e| {
                    let msg = e.get("message").and_then(Value::as_str).unwrap_or("?");
                    match e.get("code").and_then(Value::as_u64) {
                        Some(c) => format!("{msg} (code {c})"),
                        None => msg.to_string(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    if !msgs.is_empty() {
        return msgs.join("; ");
    }
    let snippet: String = body.trim().chars().take(200).collect();
    if snippet.is_empty() {
        status_text.to_string()
    } else {
        format!("{status_text}: {snippet}")
    }
}

/// A DNS record as the API returns it (the fields fmc-ddns reads).
#[derive(Debug, Clone, Deserialize)]
pub struct DnsRecord {
    pub id: String,
    pub content: String,
    pub ttl: u32,
    #[serde(default)]
    pub proxied: bool,
}

/// An HTTP agent with the timeout on every request, and answers of every status
/// readable (the API explains its errors in the body).
pub fn agent(timeout: Duration) -> Agent {
    Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .user_agent(concat!("fmc-ddns/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// The address `url` reports for this machine: the value of an `ip=` line
/// (Cloudflare's `/cdn-cgi/trace`) or, failing that, the whole body (plain-text
/// services); it must be of `family`.
pub fn discover(agent: &Agent, url: &str, family: RecordType) -> Result<IpAddr, ApiError> {
    let fail = |detail: String| ApiError::Discovery {
        url: url.to_string(),
        detail,
    };
    let mut resp = agent
        .get(url)
        .call()
        .map_err(|source| ApiError::Transport {
            url: url.to_string(),
            source,
        })?;
    let status = resp.status();
    let body = resp
        .body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_string()
        .map_err(|e| fail(format!("cannot read the answer: {e}")))?;
    if !status.is_success() {
        return Err(fail(format!("HTTP {status}")));
    }
    let text = body
        .lines()
        .find_map(|l| l.strip_prefix("ip="))
        .unwrap_or(&body)
        .trim();
    let ip: IpAddr = text.parse().map_err(|_| {
        let shown: String = text.chars().take(60).collect();
        fail(format!("'{shown}' is not an IP address"))
    })?;
    match (family, ip) {
        (RecordType::A, IpAddr::V4(_)) | (RecordType::AAAA, IpAddr::V6(_)) => Ok(ip),
        _ => Err(fail(format!(
            "reported {ip}, not an {} address",
            if family == RecordType::A {
                "IPv4"
            } else {
                "IPv6"
            }
        ))),
    }
}

/// The Cloudflare API at a base URL, with a token.
pub struct Cloudflare {
    agent: Agent,
    base: String,
    token: Secret<String>,
    max_retries: u32,
}

#[derive(Clone, Copy)]
enum Method {
    Get,
    Post,
    Patch,
}

impl Cloudflare {
    /// A client of the API at `base` (e.g. `https://api.cloudflare.com/client/v4`).
    pub fn new(agent: Agent, base: &str, token: Secret<String>, max_retries: u32) -> Cloudflare {
        Cloudflare {
            agent,
            base: base.trim_end_matches('/').to_string(),
            token,
            max_retries,
        }
    }

    /// One API call; retries a `429` after its `Retry-After` (bounded) up to
    /// `max_retries` times. Other failures are returned at once: a `5xx` may have been
    /// applied (a retried create could duplicate a record), and the timer runs again.
    fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let url = format!("{}{path}", self.base);
        let verb = match method {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
        };
        let shown_query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let call = if shown_query.is_empty() {
            format!("{verb} {path}")
        } else {
            format!("{verb} {path}?{}", shown_query.join("&"))
        };
        let auth = format!("Bearer {}", self.token.expose());
        let body_text = body.map(Value::to_string).unwrap_or_default();
        let mut attempt = 0;
        loop {
            let sent = match method {
                Method::Get => {
                    let mut r = self.agent.get(&url).header("Authorization", &auth);
                    for (k, v) in query {
                        r = r.query(*k, *v);
                    }
                    r.call()
                }
                Method::Post | Method::Patch => {
                    let r = if matches!(method, Method::Post) {
                        self.agent.post(&url)
                    } else {
                        self.agent.patch(&url)
                    };
                    r.header("Authorization", &auth)
                        .content_type("application/json")
                        .send(body_text.as_bytes())
                }
            };
            let mut resp = sent.map_err(|source| ApiError::Transport {
                url: self.base.clone(),
                source,
            })?;
            let status = resp.status();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let text = resp
                .body_mut()
                .with_config()
                .limit(4 * 1024 * 1024)
                .read_to_string()
                .map_err(|e| ApiError::BadAnswer {
                    call: call.clone(),
                    detail: format!("cannot read the body: {e}"),
                })?;
            if status.as_u16() == 429 {
                if attempt >= self.max_retries {
                    return Err(ApiError::RateLimited {
                        call,
                        retries: attempt,
                    });
                }
                let wait = retry_after
                    .map(Duration::from_secs)
                    .unwrap_or(Duration::from_secs(1 << attempt))
                    .min(MAX_RETRY_WAIT);
                eprintln!(
                    "fmc-ddns: {call}: rate limited (HTTP 429), retrying in {}s",
                    wait.as_secs()
                );
                std::thread::sleep(wait);
                attempt += 1;
                continue;
            }
            if !status.is_success() {
                return Err(ApiError::Status {
                    call,
                    status: status.as_u16(),
                    detail: error_detail(status.canonical_reason().unwrap_or(""), &text),
                });
            }
            let v: Value = serde_json::from_str(&text).map_err(|e| ApiError::BadAnswer {
                call: call.clone(),
                detail: format!("not JSON: {e}"),
            })?;
            if v.get("success").and_then(Value::as_bool) != Some(true) {
                return Err(ApiError::Unsuccessful {
                    detail: error_detail("no errors given", &text),
                    call,
                });
            }
            return Ok(v.get("result").cloned().unwrap_or(Value::Null));
        }
    }

    fn result<T: serde::de::DeserializeOwned>(call: &str, v: Value) -> Result<T, ApiError> {
        serde_json::from_value(v).map_err(|e| ApiError::BadAnswer {
            call: call.to_string(),
            detail: e.to_string(),
        })
    }

    /// The id of the active zone `name`.
    pub fn zone_id(&self, name: &str) -> Result<String, ApiError> {
        #[derive(Deserialize)]
        struct Zone {
            id: String,
        }
        let v = self.call(
            Method::Get,
            "/zones",
            &[("name", name), ("status", "active")],
            None,
        )?;
        let zones: Vec<Zone> = Self::result("GET /zones", v)?;
        zones
            .into_iter()
            .next()
            .map(|z| z.id)
            .ok_or_else(|| ApiError::NoZone(name.to_string()))
    }

    /// The record of `r`'s type and name, if there is one; more than one is an error.
    pub fn find(&self, zone_id: &str, r: &Record) -> Result<Option<DnsRecord>, ApiError> {
        let kind = r.kind.to_string();
        let path = format!("/zones/{zone_id}/dns_records");
        let v = self.call(
            Method::Get,
            &path,
            &[("type", &kind), ("name", &r.name)],
            None,
        )?;
        let mut found: Vec<DnsRecord> = Self::result(&format!("GET {path}"), v)?;
        match found.len() {
            0 | 1 => Ok(found.pop()),
            count => Err(ApiError::Ambiguous {
                name: r.name.clone(),
                kind: r.kind,
                count,
            }),
        }
    }

    /// Creates `r` with address `ip`.
    pub fn create(&self, zone_id: &str, r: &Record, ip: IpAddr) -> Result<DnsRecord, ApiError> {
        let path = format!("/zones/{zone_id}/dns_records");
        let body = json!({
            "type": r.kind.to_string(),
            "name": r.name,
            "content": ip.to_string(),
            "ttl": r.ttl,
            "proxied": r.proxied,
        });
        let v = self.call(Method::Post, &path, &[], Some(&body))?;
        Self::result(&format!("POST {path}"), v)
    }

    /// Sets the content, ttl and proxied of the existing record `id` to `r`'s.
    pub fn update(
        &self,
        zone_id: &str,
        id: &str,
        r: &Record,
        ip: IpAddr,
    ) -> Result<DnsRecord, ApiError> {
        let path = format!("/zones/{zone_id}/dns_records/{id}");
        let body = json!({"content": ip.to_string(), "ttl": r.ttl, "proxied": r.proxied});
        let v = self.call(Method::Patch, &path, &[], Some(&body))?;
        Self::result(&format!("PATCH {path}"), v)
    }
}
