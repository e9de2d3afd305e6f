//! The Cloudflare API test double, spoken to over raw HTTP/1.1 on 127.0.0.1.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;

use cf_standin::{Options, Standin};
use serde_json::{Value, json};

const TOKEN: &str = "standin-token-123";

fn start() -> Standin {
    Standin::start(
        "127.0.0.1:0".parse().unwrap(),
        Options {
            token: TOKEN.into(),
            zones: vec!["example.org".into()],
            public_ip: None,
        },
    )
    .unwrap()
}

/// (status, headers+body text)
fn request(
    s: &Standin,
    method: &str,
    target: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    let mut c = TcpStream::connect(s.addr()).unwrap();
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or("");
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    c.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    (status, out)
}

fn json_of(resp: &str) -> Value {
    serde_json::from_str(resp.split_once("\r\n\r\n").unwrap().1).unwrap()
}

fn zone_id(s: &Standin) -> String {
    let (st, r) = request(
        s,
        "GET",
        "/client/v4/zones?name=example.org&status=active",
        Some(TOKEN),
        None,
    );
    assert_eq!(st, 200, "{r}");
    json_of(&r)["result"][0]["id"].as_str().unwrap().to_string()
}

#[test]
fn api_calls_need_the_token() {
    let s = start();
    for token in [None, Some("wrong")] {
        let (st, r) = request(&s, "GET", "/client/v4/zones?name=example.org", token, None);
        assert_eq!(st, 401, "{r}");
        assert_eq!(json_of(&r)["success"], false);
        assert_eq!(json_of(&r)["errors"][0]["message"], "Authentication error");
    }
    assert_eq!(zone_id(&s).len(), 32);
    let (_, r) = request(
        &s,
        "GET",
        "/client/v4/zones?name=example.net",
        Some(TOKEN),
        None,
    );
    assert_eq!(
        json_of(&r)["result"],
        json!([]),
        "a zone the token cannot see"
    );
}

#[test]
fn create_validates_the_body() {
    let s = start();
    let path = format!("/client/v4/zones/{}/dns_records", zone_id(&s));
    let bad = [
        ("{not json", "Invalid JSON body"),
        (r#"["A"]"#, "JSON object"),
        (
            r#"{"type":"A","name":"a.example.org"}"#,
            "Missing required field 'content'",
        ),
        (
            r#"{"type":"A","name":"a.example.org","content":"2001:db8::1"}"#,
            "Content for A record is invalid",
        ),
        (
            r#"{"type":"A","name":"a.example.com","content":"192.0.2.1"}"#,
            "not in zone",
        ),
        (
            r#"{"type":"A","name":"a.example.org","content":"192.0.2.1","ttl":5}"#,
            "ttl must be",
        ),
        (
            r#"{"type":"A","name":"a.example.org","content":"192.0.2.1","proxied":"yes"}"#,
            "Invalid 'proxied'",
        ),
        (
            r#"{"type":"A","name":"a.example.org","content":"192.0.2.1","tll":60}"#,
            "Unknown field 'tll'",
        ),
        (
            r#"{"type":"MX","name":"a.example.org","content":"192.0.2.1"}"#,
            "not supported",
        ),
    ];
    for (body, want) in bad {
        let (st, r) = request(&s, "POST", &path, Some(TOKEN), Some(body));
        assert_eq!(st, 400, "{body}: {r}");
        assert!(
            json_of(&r)["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(want),
            "{body}: {r}"
        );
    }
    assert!(s.records().is_empty());
    let ok =
        r#"{"type":"A","name":"A.example.org","content":"192.0.2.1","ttl":300,"proxied":true}"#;
    let (st, r) = request(&s, "POST", &path, Some(TOKEN), Some(ok));
    assert_eq!(st, 200, "{r}");
    let rec = &json_of(&r)["result"];
    assert_eq!(
        (rec["name"].as_str(), rec["ttl"].as_u64()),
        (Some("a.example.org"), Some(1)),
        "proxied: ttl auto"
    );
    let (st, r) = request(&s, "POST", &path, Some(TOKEN), Some(ok));
    assert_eq!(st, 400, "identical record: {r}");
    let id = rec["id"].as_str().unwrap();
    let (st, r) = request(
        &s,
        "PATCH",
        &format!("{path}/{id}"),
        Some(TOKEN),
        Some(r#"{"content":"192.0.2.9","proxied":false,"ttl":60}"#),
    );
    assert_eq!(st, 200, "{r}");
    assert_eq!(s.records()[0].content, "192.0.2.9");
    assert_eq!((s.records()[0].ttl, s.records()[0].proxied), (60, false));
    let (st, _) = request(
        &s,
        "PATCH",
        &format!("{path}/nope"),
        Some(TOKEN),
        Some(r#"{"ttl":60}"#),
    );
    assert_eq!(st, 404);
}

#[test]
fn the_control_api_sets_the_address_injects_failures_and_shows_the_log() {
    let s = start();
    let (_, r) = request(&s, "GET", "/cdn-cgi/trace", None, None);
    assert!(
        r.contains("\nip=127.0.0.1\n"),
        "the caller's address by default: {r}"
    );
    let (st, _) = request(
        &s,
        "POST",
        "/__standin/public-ip",
        None,
        Some(r#"{"ip":"203.0.113.1"}"#),
    );
    assert_eq!(st, 200);
    let (_, r) = request(&s, "GET", "/cdn-cgi/trace", None, None);
    assert!(r.contains("\nip=203.0.113.1\n"), "{r}");
    let (st, _) = request(
        &s,
        "POST",
        "/__standin/inject",
        None,
        Some(r#"{"status":429,"count":1,"retry_after":7}"#),
    );
    assert_eq!(st, 200);
    let (st, r) = request(&s, "GET", "/client/v4/zones", Some(TOKEN), None);
    assert_eq!(st, 429);
    assert!(r.contains("Retry-After: 7\r\n"), "{r}");
    assert_eq!(
        request(&s, "GET", "/client/v4/zones", Some(TOKEN), None).0,
        200,
        "one failure only"
    );
    let (_, r) = request(&s, "GET", "/__standin/log", None, None);
    let log = json_of(&r);
    let statuses: Vec<u64> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_u64().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [200, 200, 429, 200],
        "control calls are not logged"
    );
    assert!(!r.contains(TOKEN), "the log never holds the token");
    // reset: no log, the caller's address again
    assert_eq!(
        request(&s, "POST", "/__standin/reset", None, Some("{}")).0,
        200
    );
    let (_, r) = request(&s, "GET", "/__standin/log", None, None);
    assert_eq!(json_of(&r), serde_json::json!([]));
    let (_, r) = request(&s, "GET", "/cdn-cgi/trace", None, None);
    assert!(r.contains("\nip=127.0.0.1\n"), "{r}");
}
