//! Text filters: regular expressions, encodings, paths, hashes and URLs.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::{LazyLock, Mutex, PoisonError};

use base64::Engine as _;
use fmc_core::{Map, Value as Json};
use minijinja::value::{Kwargs, Rest};
use minijinja::{Environment, Error, State, Value};
use regex::{Regex, RegexBuilder};
use sha1::Digest as _;

use super::{add, fail, param, value};

pub(super) fn register(env: &mut Environment<'static>) {
    add(env, "regex_replace", regex_replace);
    add(env, "regex_search", regex_search);
    add(env, "regex_findall", regex_findall);
    add(env, "regex_escape", regex_escape);
    add(env, "b64encode", b64encode);
    add(env, "b64decode", b64decode);
    add(env, "basename", basename);
    add(env, "dirname", dirname);
    add(env, "expanduser", expanduser);
    add(env, "realpath", realpath);
    add(env, "splitext", splitext);
    add(env, "quote", quote);
    add(env, "hash", hash);
    add(env, "checksum", checksum);
    add(env, "password_hash", password_hash);
    add(env, "to_uuid", to_uuid);
    add(env, "urlsplit", urlsplit);
    add(env, "path_join", path_join);
    add(env, "wordcount", wordcount);
}

type RegexKey = (String, bool, bool);
/// Compiled regexes: compiling on every call made renders 50x slower.
static REGEX_CACHE: LazyLock<Mutex<HashMap<RegexKey, Regex>>> = LazyLock::new(Default::default);
const REGEX_CACHE_MAX: usize = 512;

/// A compiled (cached) regex with Python's `re.I` / `re.M` flags.
pub(crate) fn regex(pattern: &str, ignorecase: bool, multiline: bool) -> Result<Regex, Error> {
    let key = (pattern.to_string(), ignorecase, multiline);
    let mut cache = REGEX_CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(re) = cache.get(&key) {
        return Ok(re.clone());
    }
    let re = RegexBuilder::new(pattern)
        .case_insensitive(ignorecase)
        .multi_line(multiline)
        .build()
        .map_err(|e| fail(format!("invalid regular expression: {e}")))?;
    if cache.len() >= REGEX_CACHE_MAX {
        cache.clear();
    }
    cache.insert(key, re.clone());
    Ok(re)
}

/// Reads the `ignorecase` / `multiline` keyword arguments.
fn flags(kwargs: &Kwargs) -> Result<(bool, bool), Error> {
    let i: Option<bool> = kwargs.get("ignorecase")?;
    let m: Option<bool> = kwargs.get("multiline")?;
    Ok((i.unwrap_or(false), m.unwrap_or(false)))
}

/// Translates a Python replacement string (`\1`, `\g<name>`, `\n`) to the regex crate's syntax.
fn py_replacement(r: &str) -> String {
    let mut out = String::with_capacity(r.len());
    let mut chars = r.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek().copied() {
                Some(d) if d.is_ascii_digit() && d != '0' => {
                    let mut n = String::new();
                    while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                        if n.len() == 2 {
                            break;
                        }
                        n.push(d);
                        chars.next();
                    }
                    out.push_str(&format!("${{{n}}}"));
                }
                Some('g') => {
                    chars.next();
                    if chars.peek() == Some(&'<') {
                        chars.next();
                        let name: String = chars.by_ref().take_while(|c| *c != '>').collect();
                        out.push_str(&format!("${{{name}}}"));
                    } else {
                        out.push_str("\\g");
                    }
                }
                Some('n') => {
                    chars.next();
                    out.push('\n');
                }
                Some('t') => {
                    chars.next();
                    out.push('\t');
                }
                Some('r') => {
                    chars.next();
                    out.push('\r');
                }
                Some('\\') => {
                    chars.next();
                    out.push('\\');
                }
                _ => out.push('\\'),
            },
            other => out.push(other),
        }
    }
    out
}

/// `['/etc', 'ssh', 'sshd_config'] | path_join`: Python's `os.path.join` (an absolute
/// part discards what came before it).
fn path_join(state: &State, v: &Value) -> Result<String, Error> {
    let parts: Vec<Json> = match super::json(state, v)? {
        Json::String(s) => return Ok(s),
        Json::Array(a) => a,
        other => {
            return Err(fail(format!(
                "path_join expects a string or a list, got {}",
                super::py_str(&other)
            )));
        }
    };
    let mut out = String::new();
    for part in parts {
        let Json::String(p) = part else {
            return Err(fail("path_join expects a list of strings"));
        };
        if p.starts_with('/') || out.is_empty() {
            out = p;
        } else {
            if !out.ends_with('/') {
                out.push('/');
            }
            out.push_str(&p);
        }
    }
    Ok(out)
}

/// `wordcount`: the number of words (runs of letters, digits and `_`), like Jinja's.
fn wordcount(s: Cow<'_, str>) -> Result<usize, Error> {
    Ok(regex(r"\w+", false, false)?.find_iter(&s).count())
}

/// `regex_replace(pattern, replacement='', ignorecase=False, multiline=False, count=0)`.
fn regex_replace(
    s: Cow<'_, str>,
    pattern: Cow<'_, str>,
    replacement: Option<Cow<'_, str>>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let (i, m) = flags(&kwargs)?;
    let count: Option<usize> = kwargs.get("count")?;
    let mandatory: Option<usize> = kwargs.get("mandatory_count")?;
    kwargs.assert_all_used()?;
    let re = regex(&pattern, i, m)?;
    let rep = py_replacement(replacement.as_deref().unwrap_or(""));
    if let Some(n) = mandatory.filter(|n| *n > 0) {
        let found = re.find_iter(&s).count();
        if found != n {
            return Err(fail(format!(
                "regex_replace: expected {n} matches, found {found}"
            )));
        }
    }
    Ok(re
        .replacen(&s, count.unwrap_or(0), rep.as_str())
        .into_owned())
}

/// A group reference argument of `regex_search`: `'\\1'` or `'\\g<name>'`.
enum GroupRef {
    Index(usize),
    Name(String),
}

fn group_ref(arg: &str) -> Result<GroupRef, Error> {
    if let Some(n) = arg.strip_prefix('\\').and_then(|d| d.parse().ok()) {
        return Ok(GroupRef::Index(n));
    }
    if let Some(name) = arg.strip_prefix("\\g<").and_then(|r| r.strip_suffix('>')) {
        return Ok(match name.parse() {
            Ok(n) => GroupRef::Index(n),
            Err(_) => GroupRef::Name(name.to_string()),
        });
    }
    Err(fail(format!(
        "regex_search: unknown group reference '{arg}'"
    )))
}

/// `regex_search(pattern, '\\1', '\\g<name>', ignorecase=False, multiline=False)`: the match,
/// the list of requested groups, or none.
fn regex_search(
    s: Cow<'_, str>,
    pattern: Cow<'_, str>,
    groups: Rest<String>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let (i, m) = flags(&kwargs)?;
    kwargs.assert_all_used()?;
    let refs: Vec<GroupRef> = groups
        .iter()
        .map(|g| group_ref(g))
        .collect::<Result<_, _>>()?;
    let re = regex(&pattern, i, m)?;
    let Some(caps) = re.captures(&s) else {
        return Ok(Value::from(()));
    };
    if refs.is_empty() {
        return Ok(Value::from(caps.get(0).map_or("", |m| m.as_str())));
    }
    let items: Vec<Value> = refs
        .iter()
        .map(|r| {
            let m = match r {
                GroupRef::Index(n) => caps.get(*n),
                GroupRef::Name(name) => caps.name(name),
            };
            m.map_or(Value::from(()), |m| Value::from(m.as_str()))
        })
        .collect();
    Ok(Value::from(items))
}

/// `regex_findall(pattern, ignorecase=False, multiline=False)`: like Python's `re.findall`.
fn regex_findall(s: Cow<'_, str>, pattern: Cow<'_, str>, kwargs: Kwargs) -> Result<Value, Error> {
    let (i, m) = flags(&kwargs)?;
    kwargs.assert_all_used()?;
    let re = regex(&pattern, i, m)?;
    let groups = re.captures_len() - 1;
    let items: Vec<Json> = re
        .captures_iter(&s)
        .map(|c| {
            let text = |n: usize| Json::String(c.get(n).map_or("", |m| m.as_str()).to_string());
            match groups {
                0 => text(0),
                1 => text(1),
                n => Json::Array((1..=n).map(text).collect()),
            }
        })
        .collect();
    Ok(value(&Json::Array(items)))
}

/// `regex_escape(re_type='python')`: escapes like Python's `re.escape` (or POSIX basic).
fn regex_escape(s: Cow<'_, str>, re_type: Option<String>, kwargs: Kwargs) -> Result<String, Error> {
    let re_type = param(re_type, &kwargs, "re_type")?;
    kwargs.assert_all_used()?;
    let special: &str = match re_type.as_deref().unwrap_or("python") {
        "python" => "()[]{}?*+-|^$\\.&~# \t\n\r\x0b\x0c",
        "posix_basic" => ".[]\\*^$",
        other => return Err(fail(format!("regex_escape: unknown re_type '{other}'"))),
    };
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if special.contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    Ok(out)
}

fn b64encode(s: Cow<'_, str>) -> String {
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

fn b64decode(s: Cow<'_, str>) -> Result<String, Error> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim().as_bytes())
        .map_err(|e| fail(format!("b64decode: {e}")))?;
    String::from_utf8(bytes).map_err(|_| fail("b64decode: the decoded data is not UTF-8 text"))
}

/// Python's `os.path.basename`.
fn basename(s: Cow<'_, str>) -> String {
    s[s.rfind('/').map_or(0, |i| i + 1)..].to_string()
}

/// Python's `os.path.dirname`.
fn dirname(s: Cow<'_, str>) -> String {
    let head = &s[..s.rfind('/').map_or(0, |i| i + 1)];
    if !head.is_empty() && head.chars().any(|c| c != '/') {
        head.trim_end_matches('/').to_string()
    } else {
        head.to_string()
    }
}

/// `~` and `~/x` become the controller user's home directory.
fn expanduser(s: Cow<'_, str>) -> String {
    match std::env::var("HOME") {
        Ok(home) if s == "~" => home,
        Ok(home) if s.starts_with("~/") => format!("{}{}", home.trim_end_matches('/'), &s[1..]),
        _ => s.into_owned(),
    }
}

/// The canonical absolute path on the controller (lexically normalized if it does not exist).
fn realpath(s: Cow<'_, str>) -> Result<String, Error> {
    let p = Path::new(s.as_ref());
    if let Ok(c) = p.canonicalize() {
        return Ok(c.display().to_string());
    }
    let base = if p.is_absolute() {
        PathBuf::new()
    } else {
        std::env::current_dir().map_err(|e| fail(format!("realpath: {e}")))?
    };
    let mut out = base;
    for comp in p.components() {
        match comp {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    Ok(out.display().to_string())
}

/// Python's `os.path.splitext`: `[root, ext]`.
fn splitext(s: Cow<'_, str>) -> Value {
    let base_start = s.rfind('/').map_or(0, |i| i + 1);
    let base = &s[base_start..];
    let leading_dots = base.len() - base.trim_start_matches('.').len();
    let split = base[leading_dots..]
        .rfind('.')
        .map(|i| base_start + leading_dots + i);
    let (root, ext) = match split {
        Some(i) => (&s[..i], &s[i..]),
        None => (s.as_ref(), ""),
    };
    Value::from(vec![Value::from(root), Value::from(ext)])
}

/// Quotes for a POSIX shell, like Python's `shlex.quote`.
fn quote(s: Cow<'_, str>) -> String {
    fmc_core::shell::quote(&s)
}

fn hex_digest(kind: &str, data: &[u8]) -> Result<String, Error> {
    fn hex<D: sha1::Digest>(data: &[u8]) -> String {
        D::digest(data).iter().map(|b| format!("{b:02x}")).collect()
    }
    Ok(match kind {
        "md5" => hex::<md5::Md5>(data),
        "sha1" => hex::<sha1::Sha1>(data),
        "sha224" => hex::<sha2::Sha224>(data),
        "sha256" => hex::<sha2::Sha256>(data),
        "sha384" => hex::<sha2::Sha384>(data),
        "sha512" => hex::<sha2::Sha512>(data),
        other => return Err(fail(format!("hash: unsupported hash type '{other}'"))),
    })
}

/// `hash('sha1')`: the hex digest of the string.
fn hash(s: Cow<'_, str>, kind: Option<String>, kwargs: Kwargs) -> Result<String, Error> {
    let kind = param(kind, &kwargs, "hashtype")?;
    kwargs.assert_all_used()?;
    hex_digest(kind.as_deref().unwrap_or("sha1"), s.as_bytes())
}

/// The SHA-1 hex digest (Ansible's `checksum`).
fn checksum(s: Cow<'_, str>) -> Result<String, Error> {
    hex_digest("sha1", s.as_bytes())
}

const SALT_CHARS: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `password_hash('sha512', salt, rounds=5000)`: a crypt(3) SHA-512/SHA-256 hash.
///
/// Without a salt a random one is used, so the result changes on every run: roles
/// must pass a fixed salt to stay idempotent.
fn password_hash(
    s: Cow<'_, str>,
    kind: Option<String>,
    salt: Option<String>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let rounds: Option<usize> = kwargs.get("rounds")?;
    let salt = param(salt, &kwargs, "salt")?;
    kwargs.assert_all_used()?;
    let salt = match salt {
        Some(salt) => {
            if salt.is_empty() || !salt.bytes().all(|b| SALT_CHARS.contains(&b)) {
                return Err(fail("password_hash: the salt may only contain ./0-9A-Za-z"));
            }
            salt.chars().take(16).collect::<String>()
        }
        None => {
            use rand::Rng as _;
            let mut rng = rand::thread_rng();
            (0..16)
                .map(|_| char::from(SALT_CHARS[rng.gen_range(0..SALT_CHARS.len())]))
                .collect()
        }
    };
    let rounds_used = rounds.unwrap_or(sha_crypt::ROUNDS_DEFAULT);
    let bad_rounds = |_| fail("password_hash: rounds must be between 1000 and 999999999");
    let (id, hash) = match kind.as_deref().unwrap_or("sha512") {
        "sha512" | "sha512_crypt" => {
            let params = sha_crypt::Sha512Params::new(rounds_used).map_err(bad_rounds)?;
            (
                "6",
                sha_crypt::sha512_crypt_b64(s.as_bytes(), salt.as_bytes(), &params),
            )
        }
        "sha256" | "sha256_crypt" => {
            let params = sha_crypt::Sha256Params::new(rounds_used).map_err(bad_rounds)?;
            (
                "5",
                sha_crypt::sha256_crypt_b64(s.as_bytes(), salt.as_bytes(), &params),
            )
        }
        other => {
            return Err(fail(format!(
                "password_hash: unsupported hash type '{other}'"
            )));
        }
    };
    let hash = hash.map_err(|_| fail("password_hash: hashing failed"))?;
    Ok(match rounds {
        Some(r) if r != sha_crypt::ROUNDS_DEFAULT => format!("${id}$rounds={r}${salt}${hash}"),
        _ => format!("${id}${salt}${hash}"),
    })
}

/// Ansible's default `to_uuid` namespace.
const UUID_NAMESPACE: &str = "361E6D51-FAEC-444A-9079-341386DA8E2E";

fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// `to_uuid(namespace)`: a name-based (version 5) UUID.
fn to_uuid(s: Cow<'_, str>, namespace: Option<String>, kwargs: Kwargs) -> Result<String, Error> {
    let namespace = param(namespace, &kwargs, "namespace")?;
    kwargs.assert_all_used()?;
    let ns = namespace.as_deref().unwrap_or(UUID_NAMESPACE);
    let ns = parse_uuid(ns).ok_or_else(|| fail("to_uuid: the namespace is not a UUID"))?;
    let mut h = sha1::Sha1::new();
    h.update(ns);
    h.update(s.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

/// `urlsplit(query='')`: Python's `urllib.parse.urlsplit` as a dict, or one field of it.
fn urlsplit(s: Cow<'_, str>, query: Option<String>) -> Result<Value, Error> {
    let mut rest: &str = &s;
    let mut scheme = "";
    if let Some(i) = rest.find(':') {
        let cand = &rest[..i];
        if cand.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && cand
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            scheme = cand;
            rest = &rest[i + 1..];
        }
    }
    let mut netloc = "";
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        netloc = &after[..end];
        rest = &after[end..];
    }
    let (rest, fragment) = rest.split_once('#').unwrap_or((rest, ""));
    let (path, query_str) = rest.split_once('?').unwrap_or((rest, ""));
    let (userinfo, hostport) = match netloc.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, netloc),
    };
    let (username, password) = match userinfo {
        Some(u) => match u.split_once(':') {
            Some((n, p)) => (Json::from(n), Json::from(p)),
            None => (Json::from(u), Json::Null),
        },
        None => (Json::Null, Json::Null),
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':').unwrap_or("")),
            None => (v6, ""),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, p),
            None => (hostport, ""),
        }
    };
    let port = if port.is_empty() {
        Json::Null
    } else {
        Json::from(
            port.parse::<u16>()
                .map_err(|_| fail("urlsplit: invalid port"))?,
        )
    };
    let hostname = if host.is_empty() {
        Json::Null
    } else {
        Json::from(host.to_lowercase())
    };
    let mut m = Map::new();
    m.insert("fragment".into(), fragment.into());
    m.insert("hostname".into(), hostname);
    m.insert("netloc".into(), netloc.into());
    m.insert("password".into(), password);
    m.insert("path".into(), path.into());
    m.insert("port".into(), port);
    m.insert("query".into(), query_str.into());
    m.insert("scheme".into(), scheme.into());
    m.insert("username".into(), username);
    match query.as_deref() {
        None | Some("") => Ok(value(&Json::Object(m))),
        Some(field) => m
            .get(field)
            .map(value)
            .ok_or_else(|| fail(format!("urlsplit: unknown field '{field}'"))),
    }
}
