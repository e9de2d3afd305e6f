//! fmc-ddns against the Cloudflare API test double (`cf-standin`) on 127.0.0.1.

#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Instant;

use cf_standin::{Injection, LogEntry, Options, Standin};

const TOKEN: &str = "cfut_lab-Token-4f9c2e7a1b";

struct Env {
    cf: Standin,
    _dir: tempfile::TempDir,
    config: PathBuf,
    token_file: PathBuf,
}

fn setup(records: &str) -> Env {
    setup_with(records, "")
}

fn setup_with(records: &str, extra: &str) -> Env {
    let cf = Standin::start(
        "127.0.0.1:0".parse().unwrap(),
        Options {
            token: TOKEN.into(),
            zones: vec!["example.org".into()],
            public_ip: Some("203.0.113.1".parse().unwrap()),
        },
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "zone: example.org\ntoken_file: {}\napi_url: {}\nipv4_url: {}\nipv6_url: {}\ntimeout_secs: 5\n{extra}records:\n{records}",
            token_file.display(),
            cf.api_url(),
            cf.trace_url(),
            cf.ip6_url()
        ),
    )
    .unwrap();
    Env {
        cf,
        _dir: dir,
        config,
        token_file,
    }
}

const VPN: &str = "  - {name: vpn.example.org, type: A, proxied: false, ttl: 300}\n";
const APEX: &str = "  - {name: example.org, type: A, proxied: true}\n";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn ddns(env: &Env, args: &[&str]) -> Run {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_fmc-ddns"))
        .arg("--config")
        .arg(&env.config)
        .args(args)
        .output()
        .unwrap();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !run.stdout.contains(TOKEN)
            && !run.stderr.contains(TOKEN)
            && !run.stderr.contains("Token-4f9c"),
        "the token was printed:\n{}{}",
        run.stdout,
        run.stderr
    );
    run
}

fn writes(log: &[LogEntry]) -> Vec<&LogEntry> {
    log.iter().filter(|e| e.is_write()).collect()
}

#[test]
fn creates_the_record_then_leaves_it_alone() {
    let env = setup(VPN);
    let r = ddns(&env, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "vpn.example.org A: created (203.0.113.1, ttl 300, dns only)\n"
    );
    let recs = env.cf.records();
    assert_eq!(recs.len(), 1);
    assert_eq!(
        (
            recs[0].name.as_str(),
            recs[0].kind.as_str(),
            recs[0].content.as_str(),
            recs[0].ttl,
            recs[0].proxied
        ),
        ("vpn.example.org", "A", "203.0.113.1", 300, false)
    );
    let log = env.cf.log();
    let w = writes(&log);
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].method, "POST");
    assert_eq!(w[0].status, 200);
    assert_eq!(
        w[0].body,
        Some(
            serde_json::json!({"type": "A", "name": "vpn.example.org", "content": "203.0.113.1", "ttl": 300, "proxied": false})
        )
    );

    let before = env.cf.log().len();
    let r = ddns(&env, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "vpn.example.org A: unchanged (203.0.113.1, ttl 300, dns only)\n"
    );
    let second = env.cf.log()[before..].to_vec();
    assert!(
        writes(&second).is_empty(),
        "a write on an unchanged run: {second:?}"
    );
    assert!(
        second.iter().any(|e| e.path.ends_with("/dns_records")),
        "{second:?}"
    );
}

#[test]
fn updates_the_record_when_the_public_address_changes() {
    let env = setup(VPN);
    assert_eq!(ddns(&env, &[]).code, 0);
    env.cf.set_public_ip("198.51.100.23".parse().unwrap());
    let before = env.cf.log().len();
    let r = ddns(&env, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "vpn.example.org A: updated (content 203.0.113.1 -> 198.51.100.23)\n"
    );
    assert_eq!(env.cf.records()[0].content, "198.51.100.23");
    let log = env.cf.log()[before..].to_vec();
    let w = writes(&log);
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].method, "PATCH");
    assert!(
        w[0].path
            .ends_with(&format!("/dns_records/{}", env.cf.records()[0].id))
    );
}

#[test]
fn dry_run_reports_without_writing() {
    let env = setup(VPN);
    let r = ddns(&env, &["--dry-run"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "vpn.example.org A: would create (203.0.113.1, ttl 300, dns only)\n"
    );
    assert!(writes(&env.cf.log()).is_empty());
    assert!(env.cf.records().is_empty());
}

#[test]
fn ttl_and_proxied_drift_is_corrected_and_proxied_records_stay_unchanged() {
    let env = setup(&format!("{VPN}{APEX}"));
    env.cf
        .add_record("A", "vpn.example.org", "203.0.113.1", 120, false)
        .unwrap();
    env.cf
        .add_record("A", "example.org", "203.0.113.1", 300, false)
        .unwrap();
    let r = ddns(&env, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "vpn.example.org A: updated (ttl 120 -> 300)\nexample.org A: updated (ttl 300 -> 1, proxied false -> true)\n"
    );
    let apex = env
        .cf
        .records()
        .into_iter()
        .find(|r| r.name == "example.org")
        .unwrap();
    assert_eq!((apex.ttl, apex.proxied), (1, true));
    let before = env.cf.log().len();
    let r = ddns(&env, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "vpn.example.org A: unchanged (203.0.113.1, ttl 300, dns only)\nexample.org A: unchanged (203.0.113.1, ttl auto, proxied)\n"
    );
    assert!(writes(&env.cf.log()[before..]).is_empty());
}

#[test]
fn aaaa_records_use_the_ipv6_discovery_url() {
    let env = setup("  - {name: vpn.example.org, type: AAAA}\n");
    let r = ddns(&env, &[]);
    assert_eq!(r.code, 1, "no IPv6 address yet: {}", r.stdout);
    assert!(r.stderr.contains("/ip6: HTTP 404"), "{}", r.stderr);
    env.cf
        .set_public_ip("2001:db8::7".parse::<IpAddr>().unwrap());
    let r = ddns(&env, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "vpn.example.org AAAA: created (2001:db8::7, ttl 300, dns only)\n"
    );
}

#[test]
fn a_wrong_token_is_a_clear_401_and_nothing_changes() {
    let env = setup(VPN);
    std::fs::write(&env.token_file, "not-the-token\n").unwrap();
    let r = ddns(&env, &[]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stderr.contains("cloudflare api: GET /zones?name=example.org&status=active: HTTP 401: Authentication error (code 10000)")
            && r.stderr.contains("hint: check the token file"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("not-the-token"), "{}", r.stderr);
    assert!(env.cf.records().is_empty());
}

#[test]
fn a_server_error_fails_the_run_clearly_and_the_next_run_recovers() {
    let env = setup(VPN);
    env.cf.inject(Injection {
        status: 500,
        count: 1,
        retry_after: None,
        writes_only: false,
    });
    let r = ddns(&env, &[]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stderr
            .contains("HTTP 500: Internal error (injected by the test double) (code 10000)")
            && r.stderr.contains("the next run tries again"),
        "{}",
        r.stderr
    );
    assert!(env.cf.records().is_empty());
    let r = ddns(&env, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("created"), "{}", r.stdout);
}

#[test]
fn a_failed_write_fails_that_record_and_the_run_but_not_the_others() {
    let env = setup(&format!("{VPN}{APEX}"));
    env.cf.inject(Injection {
        status: 503,
        count: 1,
        retry_after: None,
        writes_only: true,
    });
    let r = ddns(&env, &[]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stderr
            .contains("fmc-ddns: vpn.example.org A: error: cloudflare api: POST /zones/")
            && r.stderr.contains("HTTP 503")
            && r.stderr
                .contains("error: 1 of 2 records could not be brought in sync"),
        "{}",
        r.stderr
    );
    assert_eq!(
        r.stdout,
        "example.org A: created (203.0.113.1, ttl auto, proxied)\n"
    );
}

#[test]
fn rate_limits_are_waited_out_then_the_run_succeeds() {
    let env = setup(VPN);
    env.cf.inject(Injection {
        status: 429,
        count: 2,
        retry_after: Some(1),
        writes_only: false,
    });
    let t = Instant::now();
    let r = ddns(&env, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(t.elapsed().as_secs_f64() >= 2.0, "Retry-After not honoured");
    assert!(r.stdout.contains("created"), "{}", r.stdout);
    assert_eq!(
        r.stderr
            .matches("rate limited (HTTP 429), retrying in 1s")
            .count(),
        2,
        "{}",
        r.stderr
    );
    assert_eq!(env.cf.log().iter().filter(|e| e.status == 429).count(), 2);
}

#[test]
fn rate_limits_past_the_retry_bound_fail_the_run() {
    let env = setup_with(VPN, "max_retries: 1\n");
    env.cf.inject(Injection {
        status: 429,
        count: 5,
        retry_after: Some(0),
        writes_only: false,
    });
    let r = ddns(&env, &[]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stderr
            .contains("still rate limited (HTTP 429) after 1 retries"),
        "{}",
        r.stderr
    );
    assert_eq!(env.cf.log().len(), 1 + 2, "discovery, then two tries");
}

#[test]
fn a_token_file_readable_by_others_is_refused_before_any_request() {
    let env = setup(VPN);
    std::fs::set_permissions(&env.token_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let r = ddns(&env, &[]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stderr.contains("has mode 0644") && r.stderr.contains("hint: chmod 600"),
        "{}",
        r.stderr
    );
    assert!(
        env.cf.log().is_empty(),
        "requests were made: {:?}",
        env.cf.log()
    );
    let r = ddns(&env, &["--check-config"]);
    assert_eq!(r.code, 2);
}

#[test]
fn check_config_validates_without_sending_anything() {
    let env = setup(VPN);
    let r = ddns(&env, &["--check-config"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("ok (1 records in zone example.org)"),
        "{}",
        r.stdout
    );
    assert!(env.cf.log().is_empty());
}

#[test]
fn an_unknown_zone_names_the_permission_it_needs() {
    let env = setup(VPN);
    let text = std::fs::read_to_string(&env.config)
        .unwrap()
        .replace("zone: example.org", "zone: example.net")
        .replace("vpn.example.org", "vpn.example.net");
    std::fs::write(&env.config, text).unwrap();
    let r = ddns(&env, &[]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("zone example.net not found") && r.stderr.contains("Zone:Read"),
        "{}",
        r.stderr
    );
}
