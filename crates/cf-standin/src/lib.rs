//! `cf-standin`: a **test double** of the Cloudflare API, not Cloudflare. The real API
//! cannot be reached from this machine or the lab, so `fmc-ddns` is tested against
//! this plain HTTP/1.1 server instead. It implements only what `fmc-ddns` uses, with
//! the checks the real API makes on those calls:
//!
//! * `GET /client/v4/zones?name=Z` — the zones the token may see;
//! * `GET /client/v4/zones/{zone}/dns_records?type=T&name=N` — list;
//! * `POST /client/v4/zones/{zone}/dns_records` — create (`type`, `name`, `content`,
//!   `ttl`, `proxied`; unknown fields, a content of the wrong family, a name outside
//!   the zone or an invalid ttl are `400`; an identical record is `400`);
//! * `PATCH /client/v4/zones/{zone}/dns_records/{id}` — partial update;
//! * every API call needs `Authorization: Bearer <token>` (`401` otherwise); proxied
//!   records always get `ttl: 1` (automatic), as on Cloudflare;
//! * `GET /cdn-cgi/trace` — the IPv4 discovery page of 1.1.1.1: an `ip=` line with the
//!   caller's address, or the one set through the control API; `GET /ip6` — a
//!   plain-text IPv6 address (like `ifconfig.co/ip`), `404` until one is set.
//!
//! Control API for tests (no token): `POST /__standin/public-ip` `{"ip": "..."}`,
//! `POST /__standin/inject` `{"status": 500|429|..., "count": N, "retry_after": S,
//! "writes_only": false}` (the next N API calls, or writes, fail with that status,
//! before authentication),
//! `GET /__standin/log` (every API and discovery request: method, path, query, status,
//! JSON body; never headers), `GET /__standin/records`, `POST /__standin/reset` (no
//! records, no log, no injection, the caller's address again: a long-running double
//! starts each test from scratch).
//! The same operations are methods of [`Standin`] for in-process tests.

mod http;

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use http::{Request, Response};

/// The API's base path; `fmc-ddns` is pointed at `http://ADDR/client/v4`.
pub const API_PREFIX: &str = "/client/v4";
const CONTROL_PREFIX: &str = "/__standin/";

/// How the double starts.
pub struct Options {
    /// The only token accepted (`Authorization: Bearer <token>`).
    pub token: String,
    /// Zones the token may see (lower-case names).
    pub zones: Vec<String>,
    /// The public address `/cdn-cgi/trace` (IPv4) or `/ip6` (IPv6) reports; without
    /// one, `/cdn-cgi/trace` reports the caller's address.
    pub public_ip: Option<IpAddr>,
}

/// A DNS record as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsRecord {
    pub id: String,
    pub zone_id: String,
    pub zone_name: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub content: String,
    pub ttl: u32,
    pub proxied: bool,
}

/// Failures the next API calls get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Injection {
    /// HTTP status (e.g. 500, 503, 429).
    pub status: u16,
    /// How many API calls fail.
    pub count: u32,
    /// `Retry-After` seconds sent with the failures.
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// Only calls that change something fail (reads pass).
    #[serde(default)]
    pub writes_only: bool,
}

/// One request the double answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
    /// The request body when it was JSON.
    pub body: Option<Value>,
}

impl LogEntry {
    /// Whether this request asked the API to change something.
    pub fn is_write(&self) -> bool {
        self.path.starts_with(API_PREFIX) && !matches!(self.method.as_str(), "GET" | "HEAD")
    }
}

struct Zone {
    id: String,
    name: String,
}

struct State {
    token: String,
    zones: Vec<Zone>,
    public_v4: Option<IpAddr>,
    public_v6: Option<IpAddr>,
    records: BTreeMap<String, DnsRecord>,
    next_id: u64,
    injection: Option<Injection>,
    log: Vec<LogEntry>,
}

/// A running double; its listener thread lives as long as the process.
pub struct Standin {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    thread: JoinHandle<()>,
}

fn ids(n: u64) -> String {
    format!("{n:032x}")
}

impl Standin {
    /// Listens on `listen` (port 0: an ephemeral port) and serves in a thread.
    pub fn start(listen: SocketAddr, opts: Options) -> io::Result<Standin> {
        let listener = TcpListener::bind(listen)?;
        let addr = listener.local_addr()?;
        let zones = opts
            .zones
            .iter()
            .enumerate()
            .map(|(i, z)| Zone {
                id: format!("{:032x}", 0xc0de_0000 + i as u64),
                name: z.trim_end_matches('.').to_ascii_lowercase(),
            })
            .collect();
        let mut state = State {
            token: opts.token,
            zones,
            public_v4: None,
            public_v6: None,
            records: BTreeMap::new(),
            next_id: 1,
            injection: None,
            log: Vec::new(),
        };
        if let Some(ip) = opts.public_ip {
            state.set_public_ip(ip);
        }
        let state = Arc::new(Mutex::new(state));
        let shared = Arc::clone(&state);
        let thread = thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(stream) = conn else { continue };
                let shared = Arc::clone(&shared);
                thread::spawn(move || serve(&stream, &shared));
            }
        });
        Ok(Standin {
            addr,
            state,
            thread,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR/client/v4`.
    pub fn api_url(&self) -> String {
        format!("http://{}{API_PREFIX}", self.addr)
    }

    /// `http://ADDR/cdn-cgi/trace`.
    pub fn trace_url(&self) -> String {
        format!("http://{}/cdn-cgi/trace", self.addr)
    }

    /// `http://ADDR/ip6`.
    pub fn ip6_url(&self) -> String {
        format!("http://{}/ip6", self.addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the public address of `ip`'s family.
    pub fn set_public_ip(&self, ip: IpAddr) {
        self.lock().set_public_ip(ip);
    }

    /// Makes the next API calls fail.
    pub fn inject(&self, i: Injection) {
        self.lock().injection = Some(i);
    }

    /// Every request answered so far.
    pub fn log(&self) -> Vec<LogEntry> {
        self.lock().log.clone()
    }

    /// The records of every zone.
    pub fn records(&self) -> Vec<DnsRecord> {
        self.lock().records.values().cloned().collect()
    }

    /// Adds a record directly, as if made by hand in the dashboard (validated like a
    /// `POST`); returns its id, or the API's error message.
    pub fn add_record(
        &self,
        kind: &str,
        name: &str,
        content: &str,
        ttl: u32,
        proxied: bool,
    ) -> Result<String, String> {
        let mut s = self.lock();
        let zone = s
            .zones
            .iter()
            .find(|z| in_zone(name, &z.name))
            .map(|z| z.id.clone())
            .ok_or_else(|| format!("{name} is in no zone of the double"))?;
        let body =
            json!({"type": kind, "name": name, "content": content, "ttl": ttl, "proxied": proxied});
        s.create(&zone, &body).map(|r| r.id).map_err(|e| e.1)
    }

    /// Serves until the listener fails (the `cf-standin` binary's main loop).
    pub fn wait(self) {
        let _ = self.thread.join();
    }
}

fn serve(stream: &TcpStream, state: &Mutex<State>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    let peer = stream.peer_addr().ok().map(|a| a.ip());
    let resp = match http::read_request(stream) {
        Ok(req) => {
            let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
            let resp = s.handle(&req, peer);
            if !req.path.starts_with(CONTROL_PREFIX) {
                s.log.push(LogEntry {
                    method: req.method.clone(),
                    path: req.path.clone(),
                    query: req.raw_query.clone(),
                    status: resp.status,
                    body: serde_json::from_slice(&req.body).ok(),
                });
            }
            resp
        }
        Err(e) => Response::text(400, format!("bad request: {e}\n")),
    };
    let _ = http::write_response(stream, &resp);
}

/// A failed API call: status and message (Cloudflare's `errors[0]`).
type ApiErr = (u16, String, u32);

fn envelope(result: Value) -> Value {
    json!({"success": true, "errors": [], "messages": [], "result": result})
}

fn api_error(status: u16, code: u32, message: &str) -> Response {
    Response::json(
        status,
        &json!({"success": false, "errors": [{"code": code, "message": message}], "messages": [], "result": null}),
    )
}

fn in_zone(name: &str, zone: &str) -> bool {
    name == zone || name.strip_suffix(zone).is_some_and(|p| p.ends_with('.'))
}

impl State {
    fn set_public_ip(&mut self, ip: IpAddr) {
        match ip {
            IpAddr::V4(_) => self.public_v4 = Some(ip),
            IpAddr::V6(_) => self.public_v6 = Some(ip),
        }
    }

    fn handle(&mut self, req: &Request, peer: Option<IpAddr>) -> Response {
        if let Some(op) = req.path.strip_prefix(CONTROL_PREFIX) {
            return self.control(op, req);
        }
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/cdn-cgi/trace") => {
                let ip = self.public_v4.or(peer);
                let ip = ip.map(|i| i.to_string()).unwrap_or_default();
                Response::text(
                    200,
                    format!(
                        "fl=0f0\nh=cf-standin\nip={ip}\nts=0\nvisit_scheme=http\nuag=test-double\ncolo=LAB\nhttp=http/1.1\nloc=ZZ\ntls=off\nsni=off\nwarp=off\ngateway=off\n"
                    ),
                )
            }
            ("GET", "/ip6") => match self.public_v6 {
                Some(ip) => Response::text(200, format!("{ip}\n")),
                None => Response::text(404, "no IPv6 address set in the test double\n".into()),
            },
            _ => match req.path.strip_prefix(API_PREFIX) {
                Some(rest) => self.api(req, rest),
                None => Response::text(404, "not found\n".into()),
            },
        }
    }

    fn control(&mut self, op: &str, req: &Request) -> Response {
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        match (req.method.as_str(), op) {
            ("POST", "public-ip") => match body["ip"].as_str().map(str::parse::<IpAddr>) {
                Some(Ok(ip)) => {
                    self.set_public_ip(ip);
                    Response::json(200, &json!({"ok": true}))
                }
                _ => Response::json(400, &json!({"error": "expected {\"ip\": \"<address>\"}"})),
            },
            ("POST", "inject") => match serde_json::from_value::<Injection>(body) {
                Ok(i) => {
                    self.injection = Some(i);
                    Response::json(200, &json!({"ok": true}))
                }
                Err(e) => Response::json(400, &json!({"error": e.to_string()})),
            },
            ("POST", "reset") => {
                self.records.clear();
                self.log.clear();
                self.injection = None;
                self.public_v4 = None;
                self.public_v6 = None;
                Response::json(200, &json!({"ok": true}))
            }
            ("GET", "log") => Response::json(200, &json!(self.log)),
            ("GET", "records") => {
                Response::json(200, &json!(self.records.values().collect::<Vec<_>>()))
            }
            _ => Response::json(404, &json!({"error": "unknown control operation"})),
        }
    }

    fn api(&mut self, req: &Request, rest: &str) -> Response {
        let write = !matches!(req.method.as_str(), "GET" | "HEAD");
        if let Some(i) = &mut self.injection
            && i.count > 0
            && (write || !i.writes_only)
        {
            i.count -= 1;
            let (status, retry_after) = (i.status, i.retry_after);
            if i.count == 0 {
                self.injection = None;
            }
            let mut r = if status == 429 {
                api_error(
                    429,
                    10000,
                    "Rate limited. Please wait and consider throttling your request speed",
                )
            } else {
                api_error(
                    status,
                    10000,
                    "Internal error (injected by the test double)",
                )
            };
            r.retry_after = retry_after;
            return r;
        }
        let authorized = req
            .header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .is_some_and(|t| t == self.token);
        if !authorized {
            return api_error(401, 10000, "Authentication error");
        }
        let segs: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
        let result = match (req.method.as_str(), segs.as_slice()) {
            ("GET", ["zones"]) => Ok(self.list_zones(req)),
            (m, ["zones", zone, "dns_records", more @ ..]) => {
                if !self.zones.iter().any(|z| z.id == *zone) {
                    Err((404, "Invalid zone identifier".to_string(), 7003))
                } else {
                    let body = || {
                        serde_json::from_slice::<Value>(&req.body)
                            .map_err(|e| (400, format!("Invalid JSON body: {e}"), 9207))
                    };
                    match (m, more) {
                        ("GET", []) => Ok(self.list_records(zone, req)),
                        ("POST", []) => {
                            body().and_then(|b| self.create(zone, &b)).map(|r| json!(r))
                        }
                        ("PATCH", [id]) => body()
                            .and_then(|b| self.patch(zone, id, &b))
                            .map(|r| json!(r)),
                        ("GET" | "POST", _) | ("PATCH", []) => {
                            Err((405, "Method not allowed".to_string(), 10405))
                        }
                        _ => Err((404, format!("No route for {m} in the test double"), 7000)),
                    }
                }
            }
            (m, _) => Err((
                404,
                format!("No route for {m} {rest} in the test double"),
                7000,
            )),
        };
        match result {
            Ok(v) => Response::json(200, &envelope(v)),
            Err((status, msg, code)) => api_error(status, code, &msg),
        }
    }

    fn list_zones(&self, req: &Request) -> Value {
        let name = req.param("name").map(|n| n.to_ascii_lowercase());
        let zones: Vec<Value> = self
            .zones
            .iter()
            .filter(|z| name.as_ref().is_none_or(|n| *n == z.name))
            .map(|z| json!({"id": z.id, "name": z.name, "status": "active"}))
            .collect();
        Value::Array(zones)
    }

    fn list_records(&self, zone: &str, req: &Request) -> Value {
        let kind = req.param("type");
        let name = req.param("name").map(|n| n.to_ascii_lowercase());
        let found: Vec<&DnsRecord> = self
            .records
            .values()
            .filter(|r| r.zone_id == zone)
            .filter(|r| kind.is_none_or(|k| k == r.kind))
            .filter(|r| name.as_ref().is_none_or(|n| *n == r.name))
            .collect();
        json!(found)
    }

    fn zone_name(&self, zone: &str) -> String {
        self.zones
            .iter()
            .find(|z| z.id == zone)
            .map(|z| z.name.clone())
            .unwrap_or_default()
    }

    fn create(&mut self, zone: &str, body: &Value) -> Result<DnsRecord, ApiErr> {
        let obj = body.as_object().ok_or((
            400,
            "Request body must be a JSON object".to_string(),
            9207,
        ))?;
        for k in obj.keys() {
            if !matches!(k.as_str(), "type" | "name" | "content" | "ttl" | "proxied") {
                return Err((400, format!("Unknown field '{k}' (test double)"), 9207));
            }
        }
        for k in ["type", "name", "content"] {
            if !obj.contains_key(k) {
                return Err((400, format!("Missing required field '{k}'"), 9207));
            }
        }
        let mut r = DnsRecord {
            id: String::new(),
            zone_id: zone.to_string(),
            zone_name: self.zone_name(zone),
            name: String::new(),
            kind: String::new(),
            content: String::new(),
            ttl: 1,
            proxied: false,
        };
        apply_fields(&mut r, body)?;
        if self.records.values().any(|o| {
            o.zone_id == zone && o.kind == r.kind && o.name == r.name && o.content == r.content
        }) {
            return Err((
                400,
                "An identical record already exists.".to_string(),
                81058,
            ));
        }
        r.id = ids(self.next_id);
        self.next_id += 1;
        self.records.insert(r.id.clone(), r.clone());
        Ok(r)
    }

    fn patch(&mut self, zone: &str, id: &str, body: &Value) -> Result<DnsRecord, ApiErr> {
        let obj = body.as_object().ok_or((
            400,
            "Request body must be a JSON object".to_string(),
            9207,
        ))?;
        if obj.is_empty() {
            return Err((400, "Nothing to update".to_string(), 9207));
        }
        for k in obj.keys() {
            if !matches!(k.as_str(), "type" | "name" | "content" | "ttl" | "proxied") {
                return Err((400, format!("Unknown field '{k}' (test double)"), 9207));
            }
        }
        let Some(old) = self.records.get(id).filter(|r| r.zone_id == zone) else {
            return Err((404, "Record does not exist.".to_string(), 81044));
        };
        let mut r = old.clone();
        apply_fields(&mut r, body)?;
        self.records.insert(r.id.clone(), r.clone());
        Ok(r)
    }
}

/// Validates the fields present in `body` and sets them on `r`, then checks the whole.
fn apply_fields(r: &mut DnsRecord, body: &Value) -> Result<(), ApiErr> {
    let field = |k: &str, what: &str| (400, format!("Invalid '{k}': expected {what}"), 9000);
    if let Some(v) = body.get("type") {
        let t = v.as_str().ok_or_else(|| field("type", "a string"))?;
        if !matches!(t, "A" | "AAAA") {
            return Err((
                400,
                format!("Record type '{t}' is not supported by the test double"),
                9000,
            ));
        }
        r.kind = t.to_string();
    }
    if let Some(v) = body.get("name") {
        let n = v.as_str().ok_or_else(|| field("name", "a string"))?;
        let n = n.trim_end_matches('.').to_ascii_lowercase();
        if n.is_empty() || !in_zone(&n, &r.zone_name) {
            return Err((
                400,
                format!("Record name '{n}' is not in zone '{}'", r.zone_name),
                9007,
            ));
        }
        r.name = n;
    }
    if let Some(v) = body.get("content") {
        r.content = v
            .as_str()
            .ok_or_else(|| field("content", "a string"))?
            .to_string();
    }
    if let Some(v) = body.get("ttl") {
        let t = v.as_u64().ok_or_else(|| field("ttl", "an integer"))?;
        if !(t == 1 || (30..=86400).contains(&t)) {
            return Err((
                400,
                "ttl must be between 30 and 86400 seconds, or 1 for Automatic".to_string(),
                9021,
            ));
        }
        r.ttl = t as u32;
    }
    if let Some(v) = body.get("proxied") {
        r.proxied = v
            .as_bool()
            .ok_or_else(|| field("proxied", "true or false"))?;
    }
    let ip: IpAddr = r.content.parse().map_err(|_| {
        (
            400,
            format!("Content '{}' is not a valid IP address", r.content),
            9005,
        )
    })?;
    let family_ok = matches!(
        (r.kind.as_str(), ip),
        ("A", IpAddr::V4(_)) | ("AAAA", IpAddr::V6(_))
    );
    if !family_ok {
        return Err((
            400,
            format!("Content for {} record is invalid: {}", r.kind, r.content),
            9005,
        ));
    }
    r.content = ip.to_string();
    // Cloudflare: a proxied record's TTL is always automatic
    if r.proxied {
        r.ttl = 1;
    }
    Ok(())
}
