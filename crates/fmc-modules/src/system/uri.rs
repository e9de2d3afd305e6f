//! `uri`: an HTTP(S) request made *from the target* with `curl`.
//!
//! The request is one action (no probe unless `creates`/`removes`): curl reads its
//! whole configuration (URL, method, headers, credentials, body) as a curl config
//! file on stdin, so neither the password nor the body appears in the script or in
//! the target's process list. The script prints curl's exit code and, base64
//! encoded, its `-w` metadata, the response headers, stderr and the body; `finish`
//! turns them into Ansible's result (`status`, `url`, `msg`, `redirected`,
//! `elapsed`, lower-cased `content_type`-style header fields, `content` with
//! `return_content`, `json` for JSON responses) and fails on a status not in
//! `status_code` ("Status code was 404 and not [200]: ...").
//!
//! Like Ansible, `uri` never reports a change and is skipped under `--check`.
//! Differences: credentials are always sent up front (as with
//! `force_basic_auth: true`); `follow_redirects: all` follows redirects of any
//! method with curl's rules; `dest`, `src` and `form-multipart` are not
//! supported (use `get_url` to download files). Needs `curl` and `base64` on the
//! target.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use fmc_core::lenient;
use fmc_core::module::parse_params;
use fmc_core::shell::quote;
use fmc_core::{
    Action, CheckSupport, ExecOutput, Map, ModuleCtx, ModuleError, ModuleInfo, Outcome, ParamError,
    Plan, PreparedModule, Probe, Secret, Value,
};
use serde::Deserialize;

use super::{Factory, invalid, key_values, section, sections};

pub(crate) const FACTORY: Factory = Factory {
    info: ModuleInfo {
        name: "uri",
        aliases: &[],
        params: &[
            "url",
            "method",
            "body",
            "body_format",
            "headers",
            "status_code",
            "return_content",
            "timeout",
            "validate_certs",
            "url_username",
            "user",
            "url_password",
            "password",
            "force_basic_auth",
            "follow_redirects",
            "creates",
            "removes",
            "use_proxy",
            "http_agent",
            "ca_path",
            "client_cert",
            "client_key",
            "unix_socket",
            "dest",
            "src",
        ],
        required: &["url"],
        free_form: false,
        check: CheckSupport::None,
        diff: false,
    },
    prepare,
};

#[derive(Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum BodyFormat {
    Raw,
    Json,
    FormUrlencoded,
    FormMultipart,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(deserialize_with = "lenient::string")]
    url: String,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    method: Option<String>,
    #[serde(default)]
    body: Option<Value>,
    #[serde(default)]
    body_format: Option<BodyFormat>,
    #[serde(default)]
    headers: Option<Map>,
    #[serde(default, deserialize_with = "lenient::string_list")]
    status_code: Vec<String>,
    #[serde(default, deserialize_with = "lenient::bool")]
    return_content: bool,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    timeout: Option<i64>,
    #[serde(default = "super::command::yes", deserialize_with = "lenient::bool")]
    validate_certs: bool,
    #[serde(default, alias = "user", deserialize_with = "lenient::opt_string")]
    url_username: Option<String>,
    #[serde(default, alias = "password", deserialize_with = "secret_string")]
    url_password: Option<String>,
    #[serde(default, deserialize_with = "lenient::bool")]
    force_basic_auth: bool,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    follow_redirects: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    creates: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    removes: Option<String>,
    #[serde(default = "super::command::yes", deserialize_with = "lenient::bool")]
    use_proxy: bool,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    http_agent: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    ca_path: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    client_cert: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    client_key: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    unix_socket: Option<String>,
    #[serde(default)]
    dest: Option<Value>,
    #[serde(default)]
    src: Option<Value>,
}

/// Like `lenient::opt_string`, but a bad value is never echoed in the error.
fn secret_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        v => lenient::to_string(&v)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom("url_password must be a string")),
    }
}

struct Uri {
    url: String,
    /// The curl configuration fed on stdin (holds the credentials: never shown).
    config: Secret<String>,
    status_code: Vec<i64>,
    return_content: bool,
    /// HEAD responses have no body (curl writes the headers in its place).
    head: bool,
    timeout: u64,
    creates: Option<String>,
    removes: Option<String>,
}

/// A curl config-file string: double-quoted with `\\ \" \n \r \t` escapes.
fn cfg_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `application/x-www-form-urlencoded` encoding of one key or value (Python's
/// `quote_plus`).
fn form_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The request body and the content type it implies.
fn encode_body(
    info: &ModuleInfo,
    body: &Value,
    format: BodyFormat,
) -> Result<(String, Option<&'static str>), ParamError> {
    let scalar = |v: &Value| {
        lenient::to_string(v).ok_or_else(|| {
            invalid(
                info,
                "body",
                format!("form values must be scalars, got {v}"),
            )
        })
    };
    match (format, body) {
        (BodyFormat::Json, Value::String(s)) => Ok((s.clone(), Some("application/json"))),
        (BodyFormat::Json, v) => Ok((v.to_string(), Some("application/json"))),
        (BodyFormat::FormUrlencoded, Value::String(s)) => {
            Ok((s.clone(), Some("application/x-www-form-urlencoded")))
        }
        (BodyFormat::FormUrlencoded, Value::Object(m)) => {
            let pairs: Result<Vec<String>, ParamError> = m
                .iter()
                .map(|(k, v)| Ok(format!("{}={}", form_encode(k), form_encode(&scalar(v)?))))
                .collect();
            Ok((pairs?.join("&"), Some("application/x-www-form-urlencoded")))
        }
        (BodyFormat::FormUrlencoded, Value::Array(a)) => {
            let pairs: Result<Vec<String>, ParamError> = a
                .iter()
                .map(|p| match p.as_array().map(Vec::as_slice) {
                    Some([k, v]) => Ok(format!(
                        "{}={}",
                        form_encode(&scalar(k)?),
                        form_encode(&scalar(v)?)
                    )),
                    _ => Err(invalid(
                        info,
                        "body",
                        "a form list must hold [key, value] pairs",
                    )),
                })
                .collect();
            Ok((pairs?.join("&"), Some("application/x-www-form-urlencoded")))
        }
        (BodyFormat::FormUrlencoded, v) => Err(invalid(
            info,
            "body",
            format!("form-urlencoded needs a mapping, a list of pairs or a string, got {v}"),
        )),
        (BodyFormat::Raw, v) => lenient::to_string(v)
            .map(|s| (s, None))
            .ok_or_else(|| invalid(info, "body", "must be a string when body_format is raw")),
        (BodyFormat::FormMultipart, _) => Err(invalid(
            info,
            "body_format",
            "form-multipart is not supported",
        )),
    }
}

fn prepare(info: &ModuleInfo, args: &Map) -> Result<Box<dyn PreparedModule>, ParamError> {
    let p: Params = parse_params(info, args)?;
    if p.dest.is_some() {
        return Err(invalid(
            info,
            "dest",
            "saving the response to a file is not supported; use get_url to download files",
        ));
    }
    if p.src.is_some() {
        return Err(invalid(
            info,
            "src",
            "not supported; pass the request body with 'body'",
        ));
    }
    let single = |name: &str, v: &str| -> Result<(), ParamError> {
        if v.contains(['\n', '\r', '\0']) {
            Err(invalid(info, name, "must be a single line"))
        } else {
            Ok(())
        }
    };
    let url = p.url.trim().to_string();
    if url.is_empty() {
        return Err(invalid(info, "url", "must not be empty"));
    }
    single("url", &url)?;
    let method = p
        .method
        .unwrap_or_else(|| "GET".into())
        .to_ascii_uppercase();
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase() || b == b'-') {
        return Err(invalid(
            info,
            "method",
            format!("invalid HTTP method {method:?}"),
        ));
    }
    let timeout = p.timeout.unwrap_or(30);
    if timeout <= 0 {
        return Err(invalid(
            info,
            "timeout",
            "must be a positive number of seconds",
        ));
    }
    let status_code = if p.status_code.is_empty() {
        vec![200]
    } else {
        p.status_code
            .iter()
            .map(|s| {
                s.trim().parse::<i64>().map_err(|_| {
                    invalid(info, "status_code", format!("expected integers, got {s:?}"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    let follow = match p.follow_redirects.as_deref().unwrap_or("safe") {
        "all" | "urllib2" | "yes" => true,
        "safe" => method == "GET" || method == "HEAD",
        "none" | "no" => false,
        other => {
            return Err(invalid(
                info,
                "follow_redirects",
                format!("expected all, safe, none or urllib2, got '{other}'"),
            ));
        }
    };

    let mut cfg = format!("url = {}\n", cfg_quote(&url));
    let body = match &p.body {
        None | Some(Value::Null) => None,
        Some(b) => Some(encode_body(
            info,
            b,
            p.body_format.unwrap_or(BodyFormat::Raw),
        )?),
    };
    match method.as_str() {
        "HEAD" => cfg.push_str("head\n"),
        "GET" if body.is_none() => {}
        m => cfg.push_str(&format!("request = {}\n", cfg_quote(m))),
    }
    let mut has_content_type = false;
    for (k, v) in p.headers.iter().flatten() {
        let v = lenient::to_string(v)
            .ok_or_else(|| invalid(info, "headers", format!("value of {k} must be a scalar")))?;
        if k.is_empty() || k.contains([':', ' ', '\n', '\r', '\0']) {
            return Err(invalid(
                info,
                "headers",
                format!("invalid header name {k:?}"),
            ));
        }
        single("headers", &v)?;
        has_content_type |= k.eq_ignore_ascii_case("content-type");
        cfg.push_str(&format!("header = {}\n", cfg_quote(&format!("{k}: {v}"))));
    }
    if let Some((data, ctype)) = &body {
        if data.contains('\0') {
            return Err(invalid(info, "body", "must not contain NUL bytes"));
        }
        if let Some(ct) = ctype
            && !has_content_type
        {
            cfg.push_str(&format!(
                "header = {}\n",
                cfg_quote(&format!("Content-Type: {ct}"))
            ));
        }
        cfg.push_str(&format!("data-raw = {}\n", cfg_quote(data)));
    }
    match (&p.url_username, &p.url_password) {
        (Some(u), pw) => {
            single("url_username", u)?;
            let pw = pw.as_deref().unwrap_or_default();
            if pw.contains(['\n', '\r', '\0']) {
                return Err(invalid(info, "url_password", "must be a single line"));
            }
            cfg.push_str(&format!("user = {}\n", cfg_quote(&format!("{u}:{pw}"))));
        }
        (None, Some(_)) => {
            return Err(invalid(info, "url_password", "needs url_username"));
        }
        (None, None) => {}
    }
    // `force_basic_auth` is accepted: curl sends credentials up front anyway.
    let _ = p.force_basic_auth;
    cfg.push_str(&format!("max-time = {timeout}\n"));
    if !p.validate_certs {
        cfg.push_str("insecure\n");
    }
    if follow {
        cfg.push_str("location\n");
    }
    if !p.use_proxy {
        cfg.push_str("noproxy = \"*\"\n");
    }
    let agent = p.http_agent.unwrap_or_else(|| "ansible-httpget".into());
    single("http_agent", &agent)?;
    cfg.push_str(&format!("user-agent = {}\n", cfg_quote(&agent)));
    for (name, opt, v) in [
        ("ca_path", "cacert", &p.ca_path),
        ("client_cert", "cert", &p.client_cert),
        ("client_key", "key", &p.client_key),
        ("unix_socket", "unix-socket", &p.unix_socket),
    ] {
        if let Some(v) = v {
            single(name, v)?;
            cfg.push_str(&format!("{opt} = {}\n", cfg_quote(v)));
        }
    }
    Ok(Box::new(Uri {
        url,
        config: Secret::new(cfg),
        status_code,
        return_content: p.return_content,
        head: method == "HEAD",
        timeout: timeout as u64,
        creates: p.creates,
        removes: p.removes,
    }))
}

/// `-w` format: status, redirects, seconds, then the final URL and content type.
const WRITE_OUT: &str =
    "%{http_code} %{num_redirects} %{time_total}\\n%{url_effective}\\n%{content_type}\\n";

fn request_script() -> String {
    format!(
        "command -v curl >/dev/null 2>&1 || {{ echo 'curl is not installed on the target (uri needs curl)' >&2; exit 127; }}\n\
         t=$(mktemp -d) || exit 1\n\
         trap 'rm -rf \"$t\"' EXIT\n\
         curl -K - -sS -o \"$t/b\" -D \"$t/h\" -w '{WRITE_OUT}' >\"$t/m\" 2>\"$t/e\"\n\
         echo \"rc $?\"\n\
         for k in m h e b; do printf '%s ' \"$k\"; if [ -f \"$t/$k\" ]; then base64 -w0 < \"$t/$k\"; fi; echo; done\n"
    )
}

/// What the request script printed.
struct Response {
    curl_rc: i32,
    meta: String,
    headers: String,
    stderr: String,
    body: Vec<u8>,
}

fn parse_response(out: &ExecOutput) -> Result<Response, ModuleError> {
    let text = out.stdout_str();
    let mut r = Response {
        curl_rc: -1,
        meta: String::new(),
        headers: String::new(),
        stderr: String::new(),
        body: vec![],
    };
    let mut seen_rc = false;
    for line in text.lines() {
        let (k, v) = line.split_once(' ').unwrap_or((line, ""));
        let bad = || ModuleError::Probe(format!("uri: bad {k} line"));
        let decode = |v: &str| B64.decode(v.trim()).map_err(|_| bad());
        match k {
            "rc" => {
                r.curl_rc = v.trim().parse().map_err(|_| bad())?;
                seen_rc = true;
            }
            "m" => r.meta = String::from_utf8_lossy(&decode(v)?).into_owned(),
            "h" => r.headers = String::from_utf8_lossy(&decode(v)?).into_owned(),
            "e" => r.stderr = String::from_utf8_lossy(&decode(v)?).into_owned(),
            "b" => r.body = decode(v)?,
            _ => {}
        }
    }
    if !seen_rc {
        return Err(ModuleError::Probe("uri: missing curl exit code".into()));
    }
    Ok(r)
}

/// The reason phrase and header fields of the last response in curl's `-D` dump
/// (earlier blocks are redirects or `100 Continue`).
fn last_headers(dump: &str) -> (String, Vec<(String, String)>) {
    let mut reason = String::new();
    let mut fields = vec![];
    for line in dump.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with("HTTP/") {
            reason = line
                .splitn(3, ' ')
                .nth(2)
                .unwrap_or_default()
                .trim()
                .to_string();
            fields.clear();
        } else if let Some((k, v)) = line.split_once(':') {
            fields.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    (reason, fields)
}

impl PreparedModule for Uri {
    fn probe(&self, _ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        if self.creates.is_none() && self.removes.is_none() {
            return Ok(None);
        }
        let mut s = section("paths");
        s.push('\n');
        if let Some(c) = &self.creates {
            s.push_str(&format!(
                "if [ -e {} ]; then echo creates=1; else echo creates=0; fi\n",
                quote(c)
            ));
        }
        if let Some(r) = &self.removes {
            s.push_str(&format!(
                "if [ -e {} ]; then echo removes=1; else echo removes=0; fi\n",
                quote(r)
            ));
        }
        Ok(Some(Probe::new(s)))
    }

    fn plan(&self, _ctx: &ModuleCtx<'_>, probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        if let Some(out) = probe {
            if out.rc != 0 {
                return Err(super::probe_failed(out));
            }
            let kv = key_values(
                sections(out)
                    .get("paths")
                    .map(String::as_str)
                    .unwrap_or_default(),
            );
            let skip = match (&self.creates, &self.removes) {
                (Some(c), _) if kv.get("creates").map(|v| v.trim()) == Some("1") => {
                    Some(format!("skipped, since {c} exists"))
                }
                (_, Some(r)) if kv.get("removes").map(|v| v.trim()) == Some("0") => {
                    Some(format!("skipped, since {r} does not exist"))
                }
                _ => None,
            };
            if let Some(msg) = skip {
                let mut plan = Plan::in_sync(msg.clone());
                plan.result.insert("msg".into(), msg.into());
                plan.result.insert("url".into(), self.url.clone().into());
                return Ok(plan);
            }
        }
        Ok(Plan {
            reason: Some("uri never reports a change".into()),
            actions: vec![Action::Exec {
                script: request_script(),
                stdin: Some(self.config.expose().clone().into_bytes()),
                allow_failure: true,
                timeout: Some(Duration::from_secs(self.timeout + 15)),
            }],
            ..Default::default()
        })
    }

    fn finish(&self, plan: &Plan, outputs: &[ExecOutput]) -> Result<Outcome, ModuleError> {
        let mut result = plan.result.clone();
        let Some(out) = outputs.first() else {
            return Ok(Outcome {
                result,
                ..Default::default()
            });
        };
        if out.rc != 0 {
            return Ok(Outcome {
                failed: Some(format!(
                    "uri request failed (rc={}): {}",
                    out.rc,
                    out.stderr_str().trim()
                )),
                result,
                ..Default::default()
            });
        }
        let resp = parse_response(out)?;
        let mut meta = resp.meta.lines();
        let mut first = meta.next().unwrap_or_default().split_whitespace();
        let code: i64 = first.next().and_then(|c| c.parse().ok()).unwrap_or(0);
        let redirects: i64 = first.next().and_then(|c| c.parse().ok()).unwrap_or(0);
        let elapsed: f64 = first.next().and_then(|c| c.parse().ok()).unwrap_or(0.0);
        let final_url = meta.next().unwrap_or_default().trim().to_string();
        let content_type = meta.next().unwrap_or_default().trim().to_string();
        let want = format!(
            "[{}]",
            self.status_code
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        if resp.curl_rc != 0 || code == 0 {
            result.insert("status".into(), (-1).into());
            result.insert("url".into(), self.url.clone().into());
            let msg = format!(
                "Status code was -1 and not {want}: Request failed: {}",
                resp.stderr.trim()
            );
            result.insert("msg".into(), msg.clone().into());
            result.insert("elapsed".into(), (elapsed as i64).into());
            return Ok(Outcome {
                failed: (!self.status_code.contains(&-1)).then_some(msg),
                result,
                ..Default::default()
            });
        }
        let (reason, fields) = last_headers(&resp.headers);
        let mut length = None;
        for (k, v) in fields {
            if k.eq_ignore_ascii_case("content-length") {
                length = Some(v.clone());
            }
            result.insert(k.to_ascii_lowercase().replace('-', "_"), v.into());
        }
        result.insert("status".into(), code.into());
        result.insert(
            "url".into(),
            if final_url.is_empty() {
                self.url.clone()
            } else {
                final_url
            }
            .into(),
        );
        result.insert("redirected".into(), (redirects > 0).into());
        result.insert("elapsed".into(), (elapsed as i64).into());
        let content = if self.head {
            String::new()
        } else {
            String::from_utf8_lossy(&resp.body).into_owned()
        };
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if (mime.contains("json") || mime.contains("javascript"))
            && let Ok(js) = serde_json::from_str::<Value>(&content)
        {
            result.insert("json".into(), js);
        }
        if self.return_content {
            result.insert("content".into(), content.into());
        }
        let base = if code >= 400 {
            format!("HTTP Error {code}: {reason}")
        } else {
            format!("OK ({} bytes)", length.as_deref().unwrap_or("unknown"))
        };
        let failed = if self.status_code.contains(&code) {
            result.insert("msg".into(), base.into());
            None
        } else {
            let msg = format!("Status code was {code} and not {want}: {base}");
            result.insert("msg".into(), msg.clone().into());
            Some(msg)
        };
        Ok(Outcome {
            changed: false,
            failed,
            result,
            ..Default::default()
        })
    }
}
