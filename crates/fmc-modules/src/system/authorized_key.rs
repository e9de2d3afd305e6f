//! `authorized_key` (also `ansible.posix.authorized_key`): SSH public keys in a
//! user's `authorized_keys` file.
//!
//! One probe: `getent passwd USER`, then the keys file (`path`, else
//! `~USER/.ssh/authorized_keys`, followed if it is a link) with its content. The
//! plan merges keys as Ansible does: a key is identified by its base64 blob; a
//! given key equal in type, options and comment to the existing one is in sync,
//! one that differs replaces it (moved after the other keys); new keys go after
//! the existing ones in the given order; `exclusive` drops every other line;
//! comment and unparsable lines are kept; duplicate lines collapse. Unlike
//! Ansible, a key without a comment is written without a trailing space.
//!
//! Writing (only when the keys change, like Ansible): with `manage_dir` the parent
//! directory is created if missing and set to 0700 owned by the user (and the
//! user's primary group); the file is written atomically, 0600, owned likewise.
//! Not supported: keys from a URL (`key: https://...`), `follow`, `validate_certs`.

use fmc_core::lenient;
use fmc_core::module::parse_params;
use fmc_core::shell::quote;
use fmc_core::{
    Action, CheckSupport, ExecOutput, Map, ModuleCtx, ModuleError, ModuleInfo, ParamError, Plan,
    PreparedModule, Probe, Value,
};
use serde::Deserialize;

use super::group::{Presence, valid_account_name};
use super::{Factory, invalid, section, sections};
use crate::common::{AttrDrift, Checksum, ProbeOptions, WriteSpec, file_diff, parse_files};
use crate::files::{EDIT_LIMIT, edit_content};

pub(crate) const FACTORY: Factory = Factory {
    info: ModuleInfo {
        name: "authorized_key",
        aliases: &["ansible.posix.authorized_key"],
        params: &[
            "user",
            "key",
            "path",
            "manage_dir",
            "state",
            "key_options",
            "exclusive",
            "comment",
        ],
        required: &["user", "key"],
        free_form: false,
        check: CheckSupport::Full,
        diff: true,
    },
    prepare,
};

/// Key types Ansible recognises in a key line.
const KEY_TYPES: &[&str] = &[
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384-cert-v01@openssh.com",
    "ecdsa-sha2-nistp521-cert-v01@openssh.com",
    "sk-ssh-ed25519@openssh.com",
    "sk-ssh-ed25519-cert-v01@openssh.com",
    "ssh-ed25519-cert-v01@openssh.com",
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-dss",
    "ssh-rsa",
    "ssh-xmss@openssh.com",
    "ssh-xmss-cert-v01@openssh.com",
    "rsa-sha2-256",
    "rsa-sha2-512",
    "ssh-rsa-cert-v01@openssh.com",
    "rsa-sha2-256-cert-v01@openssh.com",
    "rsa-sha2-512-cert-v01@openssh.com",
    "ssh-dss-cert-v01@openssh.com",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(deserialize_with = "lenient::string")]
    user: String,
    #[serde(deserialize_with = "lenient::string")]
    key: String,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    path: Option<String>,
    #[serde(default = "super::command::yes", deserialize_with = "lenient::bool")]
    manage_dir: bool,
    #[serde(default)]
    state: Option<Presence>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    key_options: Option<String>,
    #[serde(default, deserialize_with = "lenient::bool")]
    exclusive: bool,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    comment: Option<String>,
}

/// `authorized_keys` options in order (`from="a,b"`, `no-pty`); names may repeat.
type Options = Vec<(String, Option<String>)>;

/// A parsed key line.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Key {
    kind: String,
    blob: String,
    options: Options,
    comment: String,
}

impl Key {
    /// Equal as Ansible compares them: type, blob, comment, and the options as a
    /// multimap (the order of different names does not matter).
    fn same(&self, other: &Key) -> bool {
        let sorted = |o: &Options| {
            let mut v = o.clone();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        self.kind == other.kind
            && self.blob == other.blob
            && self.comment == other.comment
            && sorted(&self.options) == sorted(&other.options)
    }

    fn line(&self) -> String {
        let mut s = String::new();
        if !self.options.is_empty() {
            let opts: Vec<String> = self
                .options
                .iter()
                .map(|(k, v)| match v {
                    Some(v) => format!("{k}={v}"),
                    None => k.clone(),
                })
                .collect();
            s.push_str(&opts.join(","));
            s.push(' ');
        }
        s.push_str(&self.kind);
        s.push(' ');
        s.push_str(&self.blob);
        if !self.comment.is_empty() {
            s.push(' ');
            s.push_str(&self.comment);
        }
        s.push('\n');
        s
    }
}

/// A line of the file: a key, or a line kept verbatim (comments, blank or unparsable).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Line {
    Key(Key),
    Raw(String),
}

/// An entry of the merged file: its identity (the blob, or the raw line), the line
/// and its sort rank.
struct Entry {
    id: String,
    line: Line,
    rank: usize,
}

/// Splits options on commas outside double or single quotes.
fn parse_options(text: &str) -> Options {
    let mut out = Options::new();
    let mut part = String::new();
    let mut quote: Option<char> = None;
    let mut push = |part: &mut String| {
        if !part.is_empty() {
            let p = std::mem::take(part);
            match p.split_once('=') {
                Some((k, v)) => out.push((k.to_string(), Some(v.to_string()))),
                None => out.push((p, None)),
            }
        }
    };
    for c in text.chars() {
        match (quote, c) {
            (None, ',') => push(&mut part),
            (None, '"' | '\'') => {
                quote = Some(c);
                part.push(c);
            }
            (Some(q), c) if c == q => {
                quote = None;
                part.push(c);
            }
            _ => part.push(c),
        }
    }
    push(&mut part);
    out
}

/// Parses one key line like Ansible: whitespace-separated words, the first word
/// that is a known key type, the options before it, the blob after it and the rest
/// as the comment. `None`: not a key line (a comment, blank or unparsable line).
fn parse_key(raw: &str) -> Option<Key> {
    let raw = raw.replace("\\#", "#");
    let words: Vec<&str> = raw
        .split([' ', '\t', '\r', '\n'])
        .filter(|w| !w.is_empty())
        .collect();
    if words.first() == Some(&"#") {
        return None;
    }
    let ti = words.iter().position(|w| KEY_TYPES.contains(w))?;
    let blob = words.get(ti + 1)?;
    Some(Key {
        kind: words[ti].to_string(),
        blob: blob.to_string(),
        options: if ti > 0 {
            parse_options(&words[..ti].join(" "))
        } else {
            Options::new()
        },
        comment: words[ti + 2..].join(" "),
    })
}

/// The current file as entries (a later duplicate replaces an earlier one in place,
/// as in Ansible's dictionary).
fn parse_file(content: &str) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
    for (rank, raw) in content.split_inclusive('\n').enumerate() {
        let (id, line) = match parse_key(raw) {
            Some(k) => (k.blob.clone(), Line::Key(k)),
            None => (raw.to_string(), Line::Raw(raw.to_string())),
        };
        let entry = Entry { id, line, rank };
        match entries.iter_mut().find(|e| e.id == entry.id) {
            Some(e) => *e = entry,
            None => entries.push(entry),
        }
    }
    entries
}

fn serialize(entries: &mut [Entry]) -> String {
    entries.sort_by_key(|e| e.rank);
    let mut out = String::new();
    for e in entries.iter() {
        match &e.line {
            Line::Key(k) => out.push_str(&k.line()),
            Line::Raw(r) => {
                out.push_str(r);
                if !r.ends_with('\n') {
                    out.push('\n');
                }
            }
        }
    }
    out
}

struct AuthorizedKey {
    user: String,
    key: String,
    keys: Vec<Key>,
    path: Option<String>,
    manage_dir: bool,
    state: Presence,
    key_options: Option<String>,
    exclusive: bool,
    comment: Option<String>,
}

fn prepare(info: &ModuleInfo, args: &Map) -> Result<Box<dyn PreparedModule>, ParamError> {
    let p: Params = parse_params(info, args)?;
    if !valid_account_name(&p.user) {
        return Err(invalid(
            info,
            "user",
            format!("invalid user name {:?}", p.user),
        ));
    }
    if p.key.starts_with("http") {
        return Err(invalid(
            info,
            "key",
            "fetching keys from a URL is not supported\nhint: give the key text (e.g. \"{{ lookup('file', 'keys/alice.pub') }}\")",
        ));
    }
    if let Some(path) = &p.path
        && !path.starts_with('/')
    {
        return Err(invalid(
            info,
            "path",
            format!("must be an absolute path, got {path:?}"),
        ));
    }
    for (name, v) in [("key_options", &p.key_options), ("comment", &p.comment)] {
        if v.as_deref().is_some_and(|s| s.contains(['\n', '\r'])) {
            return Err(invalid(info, name, "must be a single line"));
        }
    }
    let mut keys = Vec::new();
    for line in p
        .key
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let mut k = parse_key(line)
            .ok_or_else(|| invalid(info, "key", format!("invalid key specified: {line}")))?;
        if let Some(o) = &p.key_options {
            k.options = parse_options(o);
        }
        if let Some(c) = &p.comment {
            c.clone_into(&mut k.comment);
        }
        keys.push(k);
    }
    Ok(Box::new(AuthorizedKey {
        user: p.user,
        key: p.key,
        keys,
        path: p.path,
        manage_dir: p.manage_dir,
        state: p.state.unwrap_or(Presence::Present),
        key_options: p.key_options,
        exclusive: p.exclusive,
        comment: p.comment,
    }))
}

impl AuthorizedKey {
    /// Merges the wanted keys into the current entries; `None` when nothing changes.
    fn merge(&self, mut entries: Vec<Entry>) -> Option<Vec<Entry>> {
        let mut write = false;
        let max_rank = entries.len();
        for (i, key) in self.keys.iter().enumerate() {
            let at = entries.iter().position(|e| e.id == key.blob);
            match self.state {
                Presence::Present => {
                    let matched = at.is_some_and(|at| match &entries[at].line {
                        Line::Key(k) => k.same(key),
                        Line::Raw(_) => false,
                    });
                    if matched {
                        continue;
                    }
                    if let Some(at) = at {
                        entries.remove(at);
                    }
                    entries.push(Entry {
                        id: key.blob.clone(),
                        line: Line::Key(key.clone()),
                        rank: max_rank + i,
                    });
                    write = true;
                }
                Presence::Absent => {
                    if let Some(at) = at {
                        entries.remove(at);
                        write = true;
                    }
                }
            }
        }
        if self.state == Presence::Present && self.exclusive {
            let before = entries.len();
            entries.retain(|e| self.keys.iter().any(|k| k.blob == e.id));
            write |= entries.len() != before;
        }
        write.then_some(entries)
    }

    fn result(&self, keyfile: &str) -> Map {
        let mut r = Map::new();
        let opt = |v: &Option<String>| v.clone().map_or(Value::Null, Value::String);
        r.insert("user".into(), self.user.clone().into());
        r.insert("key".into(), self.key.clone().into());
        r.insert("keyfile".into(), keyfile.into());
        r.insert("path".into(), opt(&self.path));
        r.insert("manage_dir".into(), self.manage_dir.into());
        r.insert(
            "state".into(),
            match self.state {
                Presence::Present => "present",
                Presence::Absent => "absent",
            }
            .into(),
        );
        r.insert("key_options".into(), opt(&self.key_options));
        r.insert("exclusive".into(), self.exclusive.into());
        r.insert("comment".into(), opt(&self.comment));
        r
    }
}

/// `~/.ssh/authorized_keys` of a home directory.
fn default_keyfile(home: &str) -> String {
    format!("{}/.ssh/authorized_keys", home.trim_end_matches('/'))
}

impl PreparedModule for AuthorizedKey {
    fn probe(&self, _ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        let path = match &self.path {
            Some(p) => format!("f={}\n", quote(p)),
            None => {
                "IFS=: read -r _ _ _ _ _ h _ <<EOF\n$e\nEOF\nf=\"${h%/}/.ssh/authorized_keys\"\n"
                    .to_string()
            }
        };
        let opts = ProbeOptions {
            follow: true,
            checksum: Some(Checksum::Sha256),
            content_limit: Some(EDIT_LIMIT),
        };
        Ok(Some(Probe::new(format!(
            "e=$(getent passwd -- {u}) || e=\n{}\nprintf '%s\\n' \"$e\"\n[ -n \"$e\" ] || exit 0\n{path}\
             {}\n{}",
            section("passwd"),
            section("file"),
            crate::common::probe_file_at("\"$f\"", "\"${f%/*}\"", opts),
            u = quote(&self.user),
        ))))
    }

    fn plan(&self, _ctx: &ModuleCtx<'_>, probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        let out =
            probe.ok_or_else(|| ModuleError::Probe("authorized_key: no probe output".into()))?;
        if out.rc != 0 {
            return Err(super::probe_failed(out));
        }
        let sec = sections(out);
        let passwd = sec.get("passwd").ok_or_else(|| super::probe_failed(out))?;
        let Some(fields) = passwd
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.len() >= 7 && f[0] == self.user)
        else {
            return Ok(Plan::fail(format!(
                "failed to lookup user {}: no such user",
                self.user
            )));
        };
        let (uid, gid, home) = (fields[2], fields[3], fields[5]);
        let keyfile = self.path.clone().unwrap_or_else(|| default_keyfile(home));
        let file = parse_files(sec.get("file").map(String::as_bytes).unwrap_or_default())?
            .into_iter()
            .next()
            .ok_or_else(|| ModuleError::Probe("missing file record".into()))?;
        let absent_ok = self.state == Presence::Absent;
        let content = match edit_content(&keyfile, &file, true, absent_ok) {
            Ok(c) => c,
            Err(plan) => {
                let mut plan = *plan;
                plan.result = self.result(&keyfile);
                return Ok(plan);
            }
        };
        let text = String::from_utf8_lossy(&content).into_owned();
        let mut plan = Plan {
            result: self.result(&keyfile),
            ..Default::default()
        };
        let Some(mut entries) = self.merge(parse_file(&text)) else {
            plan.reason = Some(format!("{keyfile} already has the keys as requested"));
            return Ok(plan);
        };
        let new = serialize(&mut entries);
        plan.changes.push(match self.state {
            Presence::Present if content.is_empty() => format!("create {keyfile}"),
            Presence::Present => format!("update keys in {keyfile}"),
            Presence::Absent => format!("remove keys from {keyfile}"),
        });
        plan.diff = Some(file_diff(
            &keyfile,
            Some(&content),
            true,
            new.as_bytes(),
            None,
        ));
        let dir = keyfile
            .rsplit_once('/')
            .map(|(d, _)| if d.is_empty() { "/" } else { d })
            .unwrap_or("/");
        let owner = format!("{uid}:{gid}");
        let mut script = if self.manage_dir {
            format!(
                "sd={}\nif [ ! -d \"$sd\" ]; then mkdir -m 0700 -- \"$sd\"; fi\n\
                 chown -- {} \"$sd\"\nchmod 0700 -- \"$sd\"\n",
                quote(dir),
                quote(&owner)
            )
        } else {
            format!("mkdir -p -- {}\n", quote(dir))
        };
        let attrs = AttrDrift {
            mode: Some((None, 0o600)),
            owner: Some((None, uid.to_string())),
            group: Some((None, gid.to_string())),
        };
        script.push_str(
            &WriteSpec {
                dest: &keyfile,
                attrs: Some(&attrs),
                ..Default::default()
            }
            .script(),
        );
        plan.actions
            .push(Action::exec_with_stdin(script, new.into_bytes()));
        Ok(plan)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_key_lines_like_ansible() {
        let k =
            parse_key("no-pty,from=\"10.0.0.1,10.0.0.2\" ssh-ed25519 AAAA me@host x\n").unwrap();
        assert_eq!(k.kind, "ssh-ed25519");
        assert_eq!(k.blob, "AAAA");
        assert_eq!(k.comment, "me@host x");
        assert_eq!(
            k.options,
            vec![
                ("no-pty".to_string(), None),
                (
                    "from".to_string(),
                    Some("\"10.0.0.1,10.0.0.2\"".to_string())
                )
            ]
        );
        assert_eq!(
            k.line(),
            "no-pty,from=\"10.0.0.1,10.0.0.2\" ssh-ed25519 AAAA me@host x\n"
        );
        assert!(parse_key("# ssh-ed25519 AAAA\n").is_none());
        assert!(parse_key("\n").is_none());
        assert!(parse_key("ssh-ed25519\n").is_none());
        assert!(parse_key("garbage line\n").is_none());
        // options in another order are the same options
        let a = parse_key("a,b=1 ssh-rsa K c").unwrap();
        let b = parse_key("b=1,a ssh-rsa K c").unwrap();
        assert!(a.same(&b));
        assert!(!a.same(&parse_key("b=2,a ssh-rsa K c").unwrap()));
    }
}
