//! uri: real requests with the local curl against a tiny HTTP server this test
//! runs on 127.0.0.1 (nothing else is contacted), plus parameter errors.
#![allow(clippy::unwrap_used)]

#[path = "support/fixture.rs"]
mod fixture;
#[path = "support/system.rs"]
mod system_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use fixture::{prepare, prepare_err};
use fmc_core::{Action, ModuleCtx};
use serde_json::json;
use system_support::{NoFiles, run};
use tempfile::TempDir;

/// A request as the server saw it.
#[derive(Clone, Debug, Default)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A loopback HTTP/1.1 server answering a few fixed routes, one connection at a
/// time, until the test process ends. Returns its port and the requests seen.
fn serve() -> (u16, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(vec![]));
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            if let Some(req) = handle(conn) {
                log.lock().unwrap().push(req);
            }
        }
    });
    (port, seen)
}

fn handle(mut conn: TcpStream) -> Option<Seen> {
    let mut reader = BufReader::new(conn.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let mut req = Seen {
        method: parts.next()?.to_string(),
        path: parts.next()?.to_string(),
        ..Default::default()
    };
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        req.headers
            .push((k.trim().to_string(), v.trim().to_string()));
    }
    let len: usize = req
        .header("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    req.body = String::from_utf8_lossy(&body).into_owned();

    let basic = format!("Basic {}", B64.encode("admin:s3cret pw\"x"));
    let (status, ctype, extra, body): (&str, &str, String, String) =
        match (req.method.as_str(), req.path.as_str()) {
            ("GET" | "HEAD", "/json") => (
                "200 OK",
                "application/json; charset=utf-8",
                String::new(),
                r#"{"ok": true, "items": [1, 2]}"#.into(),
            ),
            ("POST", "/echo") => (
                "201 Created",
                "text/plain",
                format!(
                    "X-Request-Content-Type: {}\r\n",
                    req.header("content-type").unwrap_or("none")
                ),
                req.body.clone(),
            ),
            (_, "/redirect") => (
                "302 Found",
                "text/plain",
                "Location: /json\r\n".into(),
                "moved".into(),
            ),
            ("GET", "/auth") if req.header("authorization") == Some(basic.as_str()) => {
                ("200 OK", "text/plain", String::new(), "welcome".into())
            }
            ("GET", "/auth") => (
                "401 Unauthorized",
                "text/plain",
                "WWW-Authenticate: Basic realm=\"x\"\r\n".into(),
                "no".into(),
            ),
            _ => ("404 Not Found", "text/plain", String::new(), "nope".into()),
        };
    let resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
        body.len()
    );
    // a HEAD response announces the body's length but carries none
    let resp = if req.method == "HEAD" {
        resp.strip_suffix(body.as_str())
            .unwrap_or(&resp)
            .to_string()
    } else {
        resp
    };
    conn.write_all(resp.as_bytes()).ok()?;
    Some(req)
}

#[test]
fn get_json_and_status_codes() {
    let (port, seen) = serve();
    let dir = TempDir::new().unwrap();
    let base = format!("http://127.0.0.1:{port}");

    let r = run("uri", json!({"url": format!("{base}/json")}), dir.path());
    assert_eq!(r.outcome.failed, None, "{:?}", r.outcome.result);
    assert!(!r.outcome.changed);
    let res = &r.outcome.result;
    assert_eq!(res["status"], 200);
    assert_eq!(res["json"], json!({"ok": true, "items": [1, 2]}));
    assert_eq!(res["content_type"], "application/json; charset=utf-8");
    assert_eq!(res["msg"], "OK (29 bytes)");
    assert_eq!(res["redirected"], false);
    assert_eq!(res["url"], format!("{base}/json"));
    assert!(res.get("content").is_none());
    let last = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last.method, "GET");
    assert_eq!(last.header("user-agent"), Some("ansible-httpget"));

    // status_code mismatch fails, with the status in the result
    let r = run("uri", json!({"url": format!("{base}/missing")}), dir.path());
    assert_eq!(
        r.outcome.failed.as_deref(),
        Some("Status code was 404 and not [200]: HTTP Error 404: Not Found")
    );
    assert_eq!(r.outcome.result["status"], 404);
    let r = run(
        "uri",
        json!({"url": format!("{base}/missing"), "status_code": "200, 404", "return_content": true}),
        dir.path(),
    );
    assert_eq!(r.outcome.failed, None);
    assert_eq!(r.outcome.result["content"], "nope");

    // redirects: followed for GET by default, not with follow_redirects: none
    let r = run(
        "uri",
        json!({"url": format!("{base}/redirect")}),
        dir.path(),
    );
    assert_eq!(r.outcome.failed, None);
    assert_eq!(r.outcome.result["redirected"], true);
    assert_eq!(r.outcome.result["url"], format!("{base}/json"));
    let r = run(
        "uri",
        json!({"url": format!("{base}/redirect"), "follow_redirects": "none", "status_code": 302}),
        dir.path(),
    );
    assert_eq!(r.outcome.failed, None);
    assert_eq!(r.outcome.result["status"], 302);
    assert_eq!(r.outcome.result["location"], "/json");

    // HEAD: status and headers, no content
    let r = run(
        "uri",
        json!({"url": format!("{base}/json"), "method": "HEAD", "return_content": true}),
        dir.path(),
    );
    assert_eq!(r.outcome.failed, None, "{:?}", r.outcome.result);
    assert_eq!(r.outcome.result["content"], "");
    assert_eq!(r.outcome.result["content_length"], "29");
    assert_eq!(seen.lock().unwrap().last().unwrap().method, "HEAD");
}

#[test]
fn post_bodies() {
    let (port, seen) = serve();
    let dir = TempDir::new().unwrap();
    let url = format!("http://127.0.0.1:{port}/echo");

    let body = json!({"name": "a \"b\"\\c", "n": 1, "nested": {"x": [true]}});
    let r = run(
        "uri",
        json!({"url": url, "method": "post", "body_format": "json", "body": body,
               "status_code": [201], "return_content": "yes",
               "headers": {"X-Token": "abc"}}),
        dir.path(),
    );
    assert_eq!(r.outcome.failed, None, "{:?}", r.outcome.result);
    let res = &r.outcome.result;
    assert_eq!(res["status"], 201);
    let echoed: serde_json::Value = serde_json::from_str(res["content"].as_str().unwrap()).unwrap();
    assert_eq!(echoed, body);
    assert_eq!(res["x_request_content_type"], "application/json");
    let last = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last.method, "POST");
    assert_eq!(last.header("x-token"), Some("abc"));

    // form-urlencoded from a mapping; raw text with newlines kept as is
    let r = run(
        "uri",
        json!({"url": url, "method": "POST", "body_format": "form-urlencoded",
               "body": {"user": "a b", "q": "x&y=z"}, "status_code": 201}),
        dir.path(),
    );
    assert_eq!(r.outcome.failed, None);
    let last = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last.body, "user=a+b&q=x%26y%3Dz");
    assert_eq!(
        last.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let r = run(
        "uri",
        json!({"url": url, "method": "POST", "body": "@/etc/passwd\nline 2\ttab\n",
               "headers": {"Content-Type": "text/x-custom"}, "status_code": 201}),
        dir.path(),
    );
    assert_eq!(r.outcome.failed, None);
    let last = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last.body, "@/etc/passwd\nline 2\ttab\n");
    assert_eq!(last.header("content-type"), Some("text/x-custom"));

    // POST is not redirected by default (safe): the 302 is a status mismatch
    let r = run(
        "uri",
        json!({"url": format!("http://127.0.0.1:{port}/redirect"), "method": "POST", "body": "x"}),
        dir.path(),
    );
    assert_eq!(
        r.outcome.failed.as_deref(),
        Some("Status code was 302 and not [200]: OK (5 bytes)")
    );
}

#[test]
fn credentials_stay_out_of_the_script() {
    let (port, _seen) = serve();
    let dir = TempDir::new().unwrap();
    let url = format!("http://127.0.0.1:{port}/auth");
    let p =
        json!({"url": url, "user": "admin", "password": "s3cret pw\"x", "return_content": true});
    let r = run("uri", p.clone(), dir.path());
    assert_eq!(r.outcome.failed, None, "{:?}", r.outcome.result);
    assert_eq!(r.outcome.result["content"], "welcome");
    match &r.plan.actions[..] {
        [Action::Exec { script, stdin, .. }] => {
            assert!(!script.contains("s3cret"), "{script}");
            assert!(String::from_utf8_lossy(stdin.as_ref().unwrap()).contains("s3cret"));
        }
        other => panic!("{other:?}"),
    }
    let r = run("uri", json!({"url": url}), dir.path());
    assert_eq!(
        r.outcome.failed.as_deref(),
        Some("Status code was 401 and not [200]: HTTP Error 401: Unauthorized")
    );
}

#[test]
fn connection_failures_and_creates() {
    let dir = TempDir::new().unwrap();
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let r = run(
        "uri",
        json!({"url": format!("http://127.0.0.1:{closed}/"), "timeout": 5}),
        dir.path(),
    );
    let msg = r.outcome.failed.unwrap();
    assert!(
        msg.starts_with("Status code was -1 and not [200]: Request failed: curl: (7)"),
        "{msg}"
    );
    assert_eq!(r.outcome.result["status"], -1);

    // creates: the request is skipped when the file exists
    let marker = dir.path().join("done flag");
    std::fs::write(&marker, "").unwrap();
    let r = run(
        "uri",
        json!({"url": format!("http://127.0.0.1:{closed}/"), "creates": marker.to_str().unwrap()}),
        dir.path(),
    );
    assert_eq!(r.outcome.failed, None);
    assert!(r.plan.actions.is_empty());
    assert_eq!(
        r.outcome.result["msg"],
        format!("skipped, since {} exists", marker.display())
    );
    // removes: runs only when the file exists
    let m = prepare(
        "uri",
        json!({"url": "http://127.0.0.1:1/", "removes": marker.to_str().unwrap()}),
    );
    let vars = fmc_core::Map::new();
    let ctx = ModuleCtx {
        host: "h",
        facts: None,
        files: &NoFiles,
        vars: &vars,
    };
    assert!(m.probe(&ctx).unwrap().is_some());
    let plan = fixture::plan_with(m.as_ref(), "::fmc::paths\nremoves=1\n", None).unwrap();
    assert_eq!(plan.actions.len(), 1);
    let plan = fixture::plan_with(m.as_ref(), "::fmc::paths\nremoves=0\n", None).unwrap();
    assert!(plan.actions.is_empty());
    // no creates/removes: no probe at all (one round trip: the request)
    let m = prepare("uri", json!({"url": "http://127.0.0.1:1/"}));
    assert!(m.probe(&ctx).unwrap().is_none());
}

#[test]
fn parameter_errors() {
    for (p, want) in [
        (json!({}), "missing required parameter 'url'"),
        (
            json!({"url": "http://x/", "dest": "/tmp/x"}),
            "use get_url to download files",
        ),
        (
            json!({"url": "http://x/", "method": "GE T"}),
            "invalid HTTP method",
        ),
        (
            json!({"url": "http://x/", "status_code": "ok"}),
            "expected integers",
        ),
        (
            json!({"url": "http://x/", "body": {"a": 1}}),
            "must be a string when body_format is raw",
        ),
        (
            json!({"url": "http://x/", "body": "a", "body_format": "form-multipart"}),
            "form-multipart is not supported",
        ),
        (
            json!({"url": "http://x/", "body": [1], "body_format": "form-urlencoded"}),
            "[key, value] pairs",
        ),
        (
            json!({"url": "http://x/", "headers": {"X-A": "1\r\nX-B: 2"}}),
            "single line",
        ),
        (
            json!({"url": "http://x/", "headers": {"Bad Name": "1"}}),
            "invalid header name",
        ),
        (
            json!({"url": "http://x/", "password": "pw"}),
            "needs url_username",
        ),
        (
            json!({"url": "http://x/", "follow_redirects": "sometimes"}),
            "expected all, safe, none or urllib2",
        ),
        (json!({"url": "http://x/", "timeout": 0}), "positive"),
        (
            json!({"url": "http://x/", "cookies": 1}),
            "unsupported parameter",
        ),
        (
            json!({"url": "http://x/", "user": "u", "password": ["pw\"secret"]}),
            "url_password must be a string",
        ),
    ] {
        let e = prepare_err("uri", p.clone());
        assert!(e.contains(want), "{p}: {e}");
        assert!(!e.contains("pw\""), "{e}");
    }
}
