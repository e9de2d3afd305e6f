//! `get_url`: downloads `url` to the file `dest` on the host with `curl` (falling back
//! to `wget`), atomically (temp file next to `dest`, checksum verified before the
//! rename) with mode/owner/group and `backup`.
//!
//! Idempotence, decided from one probe: with `checksum` (`<algo>:<hex>`, or
//! `<algo>:<url>` of a checksum file fetched by the probe) the file is downloaded only
//! when the current digest differs; without it, only when `dest` is missing, or always
//! with `force: yes` — then the download replaces `dest` only if the content differs
//! (`changed` is false otherwise) and `--check` skips the task, since the outcome
//! cannot be predicted. A directory `dest` (name taken from the server) is not
//! supported. Header values (often tokens) go on the tool's stdin, never on its
//! command line; credentials in the URL are hidden in change lines and messages.

use fmc_core::lenient::{self, Mode};
use fmc_core::module::parse_params;
use fmc_core::shell::quote;
use fmc_core::{
    Action, CheckSupport, ExecOutput, ModuleCtx, ModuleError, ModuleFactory, ModuleInfo, Outcome,
    ParamError, Plan, PreparedModule, Probe, Value,
};
use serde::Deserialize;

use super::{attributes, check_writable, finish_write, plan_attrs};
use crate::common::{Attributes, FileKind, ProbeOptions, WriteSpec, parse_files, probe_file};

pub const INFO: ModuleInfo = ModuleInfo {
    name: "get_url",
    aliases: &[],
    params: &[
        "url",
        "dest",
        "checksum",
        "mode",
        "owner",
        "group",
        "force",
        "timeout",
        "headers",
        "validate_certs",
        "backup",
        "http_agent",
        "use_proxy",
        "url_username",
        "username",
        "url_password",
        "password",
        "force_basic_auth",
        "tmp_dest",
    ],
    required: &["url", "dest"],
    free_form: false,
    check: CheckSupport::Full,
    diff: false,
};

pub struct Factory;
pub const FACTORY: Factory = Factory;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(deserialize_with = "lenient::string")]
    url: String,
    #[serde(deserialize_with = "lenient::string")]
    dest: String,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    checksum: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_mode")]
    mode: Option<Mode>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    owner: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    group: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    force: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    timeout: Option<i64>,
    #[serde(default)]
    headers: Option<Value>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    validate_certs: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    backup: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    http_agent: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    use_proxy: Option<bool>,
    #[serde(default, alias = "username")]
    url_username: Option<Value>,
    #[serde(default, alias = "password")]
    url_password: Option<Value>,
    #[serde(default)]
    force_basic_auth: Option<Value>,
    #[serde(default)]
    tmp_dest: Option<Value>,
}

/// Digest algorithms with a coreutils `<algo>sum` tool, and their hex lengths.
const ALGOS: &[(&str, usize)] = &[
    ("md5", 32),
    ("sha1", 40),
    ("sha224", 56),
    ("sha256", 64),
    ("sha384", 96),
    ("sha512", 128),
];

enum Want {
    Hex(String),
    /// A checksum file to download in the probe.
    Url(String),
}

struct Checksum {
    algo: &'static str,
    want: Want,
}

/// How to reach the server (shared by the probe and the download).
struct Request {
    timeout: i64,
    validate_certs: bool,
    use_proxy: bool,
    agent: Option<String>,
    /// `Name: value` lines, fed to the tool on stdin.
    headers: Vec<u8>,
}

struct GetUrl {
    url: String,
    dest: String,
    checksum: Option<Checksum>,
    attrs: Attributes,
    force: bool,
    backup: bool,
    req: Request,
}

fn invalid(param: &str, msg: impl Into<String>) -> ParamError {
    ParamError::Invalid {
        module: INFO.name.into(),
        param: param.into(),
        msg: msg.into(),
    }
}

fn check_url(param: &str, url: &str) -> Result<(), ParamError> {
    let ok = ["http://", "https://", "ftp://"].iter().any(|s| {
        url.len() > s.len()
            && url
                .get(..s.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(s))
    });
    if !ok || url.chars().any(char::is_whitespace) {
        return Err(invalid(
            param,
            format!("{} is not an http, https or ftp URL", redact_url(url)),
        ));
    }
    Ok(())
}

/// The URL with any `user:password@` part replaced by `***@`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..auth_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// Whether `hex` is a hex digest of `algo`'s length.
fn is_digest(algo: &str, hex: &str) -> bool {
    ALGOS.iter().any(|(a, len)| *a == algo && hex.len() == *len)
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

fn parse_checksum(s: &str) -> Result<Checksum, ParamError> {
    let (algo, val) = s.split_once(':').ok_or_else(|| {
        invalid(
            "checksum",
            "must be <algorithm>:<checksum>, e.g. sha256:abc...",
        )
    })?;
    let algo = algo.trim().to_ascii_lowercase();
    let &(name, len) = ALGOS.iter().find(|(a, _)| *a == algo).ok_or_else(|| {
        invalid(
            "checksum",
            format!(
                "algorithm {algo:?} is not supported (md5, sha1, sha224, sha256, sha384, sha512)"
            ),
        )
    })?;
    let val = val.trim();
    if val.contains("://") {
        check_url("checksum", val)?;
        return Ok(Checksum {
            algo: name,
            want: Want::Url(val.to_string()),
        });
    }
    let hex = val.to_ascii_lowercase();
    if !is_digest(name, &hex) {
        return Err(invalid(
            "checksum",
            format!("is not a {name} checksum ({len} hex digits)"),
        ));
    }
    Ok(Checksum {
        algo: name,
        want: Want::Hex(hex),
    })
}

/// `headers` as a dict, or Ansible's legacy `"Name:value,Name2:value2"` string.
fn parse_headers(v: Option<Value>) -> Result<Vec<u8>, ParamError> {
    let pairs: Vec<(String, String)> = match v {
        None | Some(Value::Null) => vec![],
        Some(Value::Object(m)) => m
            .into_iter()
            .map(|(k, v)| {
                lenient::to_string(&v)
                    .map(|v| (k.clone(), v))
                    .ok_or_else(|| invalid("headers", format!("value of {k} must be a string")))
            })
            .collect::<Result<_, _>>()?,
        Some(Value::String(s)) => s
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|p| {
                p.split_once(':')
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .ok_or_else(|| invalid("headers", "must be a dict of header names to values"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(invalid(
                "headers",
                "must be a dict of header names to values",
            ));
        }
    };
    let mut out = Vec::new();
    for (k, v) in pairs {
        let bad_name = k.is_empty() || k.bytes().any(|b| b <= b' ' || b == b':' || b >= 0x7f);
        if bad_name {
            return Err(invalid("headers", format!("invalid header name {k:?}")));
        }
        // The value is not echoed: it may be a token.
        if v.contains(['\n', '\r']) {
            return Err(invalid(
                "headers",
                format!("value of {k} contains a line break"),
            ));
        }
        out.extend_from_slice(format!("{k}: {v}\n").as_bytes());
    }
    Ok(out)
}

impl ModuleFactory for Factory {
    fn info(&self) -> &ModuleInfo {
        &INFO
    }

    fn prepare(&self, args: &fmc_core::Map) -> Result<Box<dyn PreparedModule>, ParamError> {
        let p: Params = parse_params(&INFO, args)?;
        for (name, set) in [
            ("url_username", p.url_username.is_some()),
            ("url_password", p.url_password.is_some()),
            ("force_basic_auth", p.force_basic_auth.is_some()),
            ("tmp_dest", p.tmp_dest.is_some()),
        ] {
            if set {
                return Err(invalid(
                    name,
                    "is not supported yet\nhint: for basic auth pass an Authorization header in headers",
                ));
            }
        }
        check_url("url", &p.url)?;
        if p.dest.is_empty() || p.dest.ends_with('/') {
            return Err(invalid(
                "dest",
                "must be the path of the file (a directory dest is not supported yet)",
            ));
        }
        let timeout = p.timeout.unwrap_or(10);
        if timeout < 1 {
            return Err(invalid("timeout", "must be at least 1 second"));
        }
        let agent = p.http_agent.filter(|a| !a.is_empty());
        if agent.as_deref().is_some_and(|a| a.contains(['\n', '\r'])) {
            return Err(invalid("http_agent", "must not contain line breaks"));
        }
        Ok(Box::new(GetUrl {
            checksum: p
                .checksum
                .filter(|c| !c.trim().is_empty())
                .map(|c| parse_checksum(&c))
                .transpose()?,
            url: p.url,
            dest: p.dest,
            attrs: attributes(p.mode, p.owner, p.group),
            force: p.force.unwrap_or(false),
            backup: p.backup.unwrap_or(false),
            req: Request {
                timeout,
                validate_certs: p.validate_certs.unwrap_or(true),
                use_proxy: p.use_proxy.unwrap_or(true),
                agent,
                headers: parse_headers(p.headers)?,
            },
        }))
    }
}

impl Request {
    /// Shell lines downloading `url` to `out` (a shell word; `-` for stdout) with
    /// curl, else wget. Headers are read from stdin; for wget they go through a temp
    /// config file (wget reads its config twice, so a pipe does not work).
    fn download(&self, url: &str, out: &str) -> String {
        let t = self.timeout;
        let has_headers = !self.headers.is_empty();
        let mut curl = format!("curl -fsSL --connect-timeout {t} --speed-limit 1 --speed-time {t}");
        let mut wget = format!("wget -nv -T {t}");
        if !self.validate_certs {
            curl.push_str(" -k");
            wget.push_str(" --no-check-certificate");
        }
        if !self.use_proxy {
            curl.push_str(" --noproxy '*'");
            wget.push_str(" --no-proxy");
        }
        if let Some(a) = &self.agent {
            curl.push_str(&format!(" -A {}", quote(a)));
            wget.push_str(&format!(" -U {}", quote(a)));
        }
        let mut wget_pre = String::new();
        if has_headers {
            curl.push_str(" -H @-");
            wget_pre = "hc=$(mktemp); trap 'rm -f ${t:+\"$t\"} \"$hc\"' EXIT; sed 's/^/header = /' > \"$hc\"; ".into();
            wget.push_str(" --config=\"$hc\"");
        }
        let u = quote(url);
        format!(
            "if command -v curl >/dev/null 2>&1; then {curl} -o {out} {u}\n\
             elif command -v wget >/dev/null 2>&1; then {wget_pre}{wget} -O {out} {u}\n\
             else echo 'neither curl nor wget is installed on the host' >&2; exit 127; fi\n"
        )
    }
}

const DEST_PROBE: ProbeOptions = ProbeOptions {
    follow: true,
    checksum: None,
    content_limit: None,
};

/// `url_filename` of Ansible: the percent-decoded basename of the URL's path.
fn url_filename(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    let path = path.split(['?', '#']).next().unwrap_or("");
    let base = path.rsplit('/').next().unwrap_or("");
    let bytes = base.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    let name = String::from_utf8_lossy(&out).into_owned();
    if name.is_empty() {
        "index.html".into()
    } else {
        name
    }
}

/// Finds the checksum for `filename` in a checksum file, as Ansible does: a file with
/// a single word is the checksum itself; otherwise lines are `<hex> [ *]<name>`.
fn checksum_from_file(text: &str, filename: &str) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    if let [only] = lines.as_slice()
        && only.split_whitespace().count() == 1
    {
        return Some(only.trim().to_ascii_lowercase());
    }
    lines.iter().find_map(|line| {
        let (sum, name) = line.split_once(' ')?;
        let name = name.strip_prefix([' ', '*']).unwrap_or(name);
        let name = name.trim_start_matches(['.', '/']);
        (name == filename).then(|| sum.to_ascii_lowercase())
    })
}

impl PreparedModule for GetUrl {
    fn check_support(&self) -> Option<CheckSupport> {
        (self.force && self.checksum.is_none()).then_some(CheckSupport::None)
    }

    fn probe(&self, _ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        let mut s = probe_file(&self.dest, DEST_PROBE);
        s.push_str(
            "if command -v curl >/dev/null 2>&1; then echo 'tool curl'\n\
             elif command -v wget >/dev/null 2>&1; then echo 'tool wget'\n\
             else echo 'tool none'; fi\n",
        );
        let mut stdin = None;
        if let Some(c) = &self.checksum {
            let q = quote(&self.dest);
            s.push_str(&format!(
                "if [ -f {q} ]; then h=$({}sum < {q} 2>/dev/null) && echo \"digest ${{h%% *}}\"; fi\n",
                c.algo
            ));
            if let Want::Url(u) = &c.want {
                s.push_str(&format!(
                    "if s=$( {} ); then printf 'sumfile %s\\n' \"$(printf '%s' \"$s\" | base64 -w0)\"\n\
                     else echo sumfile-failed; fi\n",
                    self.req.download(u, "-").trim_end()
                ));
                if !self.req.headers.is_empty() {
                    stdin = Some(self.req.headers.clone());
                }
            }
        }
        Ok(Some(Probe { script: s, stdin }))
    }

    fn plan(&self, _ctx: &ModuleCtx<'_>, probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        let out = probe.ok_or_else(|| ModuleError::Probe("no probe output".into()))?;
        let file = parse_files(&out.stdout)?
            .into_iter()
            .next()
            .ok_or_else(|| ModuleError::Probe("missing file record".into()))?;
        let text = out.stdout_str();
        let field = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
        };
        let dest = &self.dest;
        let url = redact_url(&self.url);
        if file.kind == FileKind::Directory {
            return Ok(Plan::fail(format!(
                "dest {dest} is a directory; naming the file after the download is not supported yet\nhint: give the full path of the file in dest"
            )));
        }
        if let Some(p) = check_writable(dest, &file) {
            return Ok(p);
        }
        let want = match &self.checksum {
            None => None,
            Some(Checksum {
                want: Want::Hex(h), ..
            }) => Some(h.clone()),
            Some(Checksum {
                want: Want::Url(u), ..
            }) => match (field("sumfile "), field("sumfile-failed")) {
                (Some(b64), _) => {
                    let raw = base64::Engine::decode(
                        &base64::engine::general_purpose::STANDARD,
                        b64.as_bytes(),
                    )
                    .map_err(|_| ModuleError::Probe("bad sumfile line".into()))?;
                    let name = url_filename(&self.url);
                    match checksum_from_file(&String::from_utf8_lossy(&raw), &name) {
                        Some(h) if is_digest(self.algo(), &h) => Some(h),
                        Some(_) => {
                            return Ok(Plan::fail(format!(
                                "the checksum for '{name}' in {} is not a {} checksum",
                                redact_url(u),
                                self.algo()
                            )));
                        }
                        None => {
                            return Ok(Plan::fail(format!(
                                "unable to find a checksum for file '{name}' in {}",
                                redact_url(u)
                            )));
                        }
                    }
                }
                (None, Some(_)) => {
                    let stderr = out.stderr_str();
                    let err = stderr
                        .lines()
                        .rev()
                        .find(|l| !l.trim().is_empty())
                        .unwrap_or("");
                    return Ok(Plan::fail(format!(
                        "could not download the checksum file {}: {err}",
                        redact_url(u)
                    )));
                }
                (None, None) => return Err(ModuleError::Probe("missing sumfile line".into())),
            },
        };
        let exists = file.kind == FileKind::File;
        let digest = field("digest ");
        let need = match &want {
            _ if !exists => true,
            Some(w) => digest.as_deref() != Some(w.as_str()),
            None => self.force,
        };
        if !need {
            let drift = self.attrs.drift(&file)?;
            let mut plan = plan_attrs(dest, &drift, &file);
            if plan.changes.is_empty() {
                plan.reason = Some(match &want {
                    Some(_) => format!("{dest} already has the expected checksum"),
                    None => format!("{dest} exists (use force or checksum to compare content)"),
                });
            }
            self.result_fields(&mut plan.result, want.as_deref());
            return Ok(plan);
        }
        if field("tool ").as_deref() == Some("none") {
            return Ok(Plan::fail(
                "neither curl nor wget is installed on the host\nhint: install curl, or download on the controller and use copy",
            ));
        }
        let drift = if exists {
            self.attrs.drift(&file)?
        } else {
            self.attrs.for_new(file.umask, false)?
        };
        let mut plan = Plan::default();
        plan.changes.push(match (&want, exists) {
            (_, false) => format!("download {url} to {dest}"),
            (Some(_), true) => format!("download {url} to {dest} (checksum differs)"),
            (None, true) => {
                format!("download {url} to {dest} (force: replaced if the content differs)")
            }
        });
        plan.changes.extend(drift.changes(dest));
        let mut producer = self.req.download(&self.url, "\"$t\"");
        if let (Some(w), Some(c)) = (&want, &self.checksum) {
            producer.push_str(&format!(
                "h=$({}sum < \"$t\"); h=${{h%% *}}\n\
                 if [ \"$h\" != {w} ]; then printf 'checksum mismatch for %s: expected %s, got %s\\n' {} {w} \"$h\" >&2; exit 1; fi\n",
                c.algo,
                quote(&url),
                w = quote(w),
            ));
        } else if exists {
            producer.push_str(&format!(
                "if [ -f \"$d\" ] && [ \"$(sha256sum < \"$t\")\" = \"$(sha256sum < \"$d\")\" ]; then\n\
                 echo fmc-unchanged\n{}exit 0\nfi\n",
                drift.script("\"$d\"")
            ));
        }
        let spec = WriteSpec {
            dest,
            attrs: Some(&drift),
            validate: None,
            backup: self.backup,
        };
        let script = spec.script_from(&producer);
        plan.actions.push(if self.req.headers.is_empty() {
            Action::exec(script)
        } else {
            Action::exec_with_stdin(script, self.req.headers.clone())
        });
        drift.result_fields(exists.then_some(&file), &mut plan.result);
        self.result_fields(&mut plan.result, want.as_deref());
        Ok(plan)
    }

    fn finish(&self, plan: &Plan, outputs: &[ExecOutput]) -> Result<Outcome, ModuleError> {
        let mut out = finish_write(plan, outputs)?;
        let unchanged = outputs
            .iter()
            .any(|o| o.stdout_str().lines().any(|l| l == "fmc-unchanged"));
        // The first change line is the download; any others are attribute changes.
        if out.failed.is_none() && unchanged && plan.changes.len() == 1 {
            out.changed = false;
        }
        if out.failed.is_none() {
            let msg = if out.changed {
                "OK"
            } else {
                "file already up to date"
            };
            out.result.insert("msg".into(), msg.into());
        }
        Ok(out)
    }
}

impl GetUrl {
    fn algo(&self) -> &'static str {
        self.checksum.as_ref().map_or("sha256", |c| c.algo)
    }

    fn result_fields(&self, r: &mut fmc_core::Map, want: Option<&str>) {
        r.insert("dest".into(), self.dest.as_str().into());
        r.insert("url".into(), redact_url(&self.url).into());
        if let (Some(w), Some(c)) = (want, &self.checksum) {
            r.insert("checksum_dest".into(), format!("{}:{w}", c.algo).into());
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_checksum_files() {
        assert_eq!(
            redact_url("https://u:p@h.example/x?a=b@c"),
            "https://***@h.example/x?a=b@c"
        );
        assert_eq!(redact_url("https://h/x@y"), "https://h/x@y");
        assert_eq!(url_filename("https://h/d/k3s%20bin?x=1"), "k3s bin");
        assert_eq!(url_filename("https://h"), "index.html");
        let text = "AAA  k3s\nBBB *./k3s-arm64\n";
        assert_eq!(
            checksum_from_file(text, "k3s-arm64").as_deref(),
            Some("bbb")
        );
        assert_eq!(checksum_from_file(text, "k3s").as_deref(), Some("aaa"));
        assert_eq!(checksum_from_file("CCC\n", "x").as_deref(), Some("ccc"));
        assert_eq!(checksum_from_file(text, "nope"), None);
    }
}
