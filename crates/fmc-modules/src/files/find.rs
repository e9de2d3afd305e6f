//! `find`: lists files under `paths` matching name patterns (glob, or regex with
//! `use_regex`), `excludes`, `file_type`, `age`, `size`, `contains`, `hidden`,
//! `recurse`/`depth`; registers `files` (stat-like dicts sorted by path), `matched`,
//! `examined`, `skipped_paths`. Never changes anything.
//!
//! The probe only lists (GNU `find` + `stat`, NUL-terminated records so any file name
//! is safe, plus the host's clock for `age`); all filtering happens in `plan`, with
//! Ansible's semantics: names are matched on the basename (`fnmatch`, or Python
//! `re.match`), `size` applies to regular files, `contains` is matched at the start of
//! each line (`re.match` per line, or a search of the whole file with
//! `read_whole_file`) of regular files, whose content (up to [`CONTAINS_LIMIT`] each)
//! the probe returns only when `contains` is set. Types come from `lstat`; `follow`
//! only makes the walk descend through symlinked directories.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use fmc_core::lenient;
use fmc_core::module::parse_params;
use fmc_core::shell::quote;
use fmc_core::{
    CheckSupport, ExecOutput, Map, ModuleCtx, ModuleError, ModuleFactory, ModuleInfo, ParamError,
    Plan, PreparedModule, Probe, Value,
};
use regex::bytes::Regex;
use serde::Deserialize;

/// Largest file whose content is read to evaluate `contains`.
pub const CONTAINS_LIMIT: u64 = 4 * 1024 * 1024;

pub const INFO: ModuleInfo = ModuleInfo {
    name: "find",
    aliases: &[],
    params: &[
        "paths",
        "path",
        "name",
        "patterns",
        "pattern",
        "excludes",
        "exclude",
        "contains",
        "read_whole_file",
        "file_type",
        "recurse",
        "depth",
        "age",
        "age_stamp",
        "size",
        "hidden",
        "follow",
        "use_regex",
        "get_checksum",
    ],
    required: &["paths|path|name"],
    free_form: false,
    check: CheckSupport::Full,
    diff: false,
};

pub struct Factory;
pub const FACTORY: Factory = Factory;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(
        alias = "path",
        alias = "name",
        deserialize_with = "lenient::string_list"
    )]
    paths: Vec<String>,
    #[serde(default, alias = "pattern", deserialize_with = "lenient::string_list")]
    patterns: Vec<String>,
    #[serde(default, alias = "exclude", deserialize_with = "lenient::string_list")]
    excludes: Vec<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    contains: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    read_whole_file: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    file_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    recurse: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    depth: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    age: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    age_stamp: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    size: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    hidden: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    follow: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    use_regex: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    get_checksum: Option<bool>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FileType {
    File,
    Directory,
    Link,
    Any,
}

#[derive(Clone, Copy)]
enum Stamp {
    Mtime,
    Atime,
    Ctime,
}

struct Find {
    paths: Vec<String>,
    patterns: Vec<Regex>,
    excludes: Vec<Regex>,
    contains: Option<Regex>,
    whole_file: bool,
    file_type: FileType,
    /// `-maxdepth` for find (`None`: unlimited).
    max_depth: Option<i64>,
    /// Seconds; negative: at most this old.
    age: Option<i64>,
    stamp: Stamp,
    /// Bytes; negative: at most this big.
    size: Option<i64>,
    hidden: bool,
    follow: bool,
    checksum: bool,
}

fn invalid(param: &str, msg: impl Into<String>) -> ParamError {
    ParamError::Invalid {
        module: INFO.name.into(),
        param: param.into(),
        msg: msg.into(),
    }
}

/// Translates a Python `fnmatch` pattern (`*`, `?`, `[seq]`, `[!seq]`) into an
/// anchored regex matching the whole name.
fn fnmatch_regex(pat: &str) -> String {
    let chars: Vec<char> = pat.chars().collect();
    let mut out = String::from("^(?s:");
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            '[' => {
                // Find the closing bracket (a `]` right after `[` or `[!` is literal).
                let mut j = i;
                if j < chars.len() && chars[j] == '!' {
                    j += 1;
                }
                if j < chars.len() && chars[j] == ']' {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    j += 1;
                }
                if j >= chars.len() {
                    out.push_str("\\[");
                    continue;
                }
                let mut set: String = chars[i..j].iter().collect();
                i = j + 1;
                let negate = set.starts_with('!');
                if negate {
                    set.remove(0);
                }
                let body = set.replace('\\', "\\\\").replace('[', "\\[");
                out.push('[');
                if negate {
                    out.push('^');
                }
                out.push_str(&body);
                out.push(']');
            }
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    out.push_str(")$");
    out
}

/// `"2d"`, `"-1w"`, `"30"` -> seconds (Ansible's units s, m, h, d, w).
fn parse_age(s: &str) -> Option<i64> {
    parse_scaled(
        s,
        &[
            ('s', 1),
            ('m', 60),
            ('h', 3600),
            ('d', 86_400),
            ('w', 604_800),
        ],
    )
}

/// `"10k"`, `"-1m"`, `"512"` -> bytes (units b, k, m, g, t; powers of 1024).
fn parse_size(s: &str) -> Option<i64> {
    parse_scaled(
        s,
        &[
            ('b', 1),
            ('k', 1 << 10),
            ('m', 1 << 20),
            ('g', 1 << 30),
            ('t', 1 << 40),
        ],
    )
}

fn parse_scaled(s: &str, units: &[(char, i64)]) -> Option<i64> {
    let s = s.trim().to_ascii_lowercase();
    let (num, mult) = match s.chars().last() {
        Some(c) if c.is_ascii_alphabetic() => {
            let m = units.iter().find(|(u, _)| *u == c)?.1;
            (&s[..s.len() - 1], m)
        }
        _ => (s.as_str(), 1),
    };
    num.parse::<i64>().ok()?.checked_mul(mult)
}

impl ModuleFactory for Factory {
    fn info(&self) -> &ModuleInfo {
        &INFO
    }

    fn prepare(&self, args: &fmc_core::Map) -> Result<Box<dyn PreparedModule>, ParamError> {
        let p: Params = parse_params(&INFO, args)?;
        if p.paths.is_empty() {
            return Err(invalid("paths", "must name at least one directory"));
        }
        let use_regex = p.use_regex.unwrap_or(false);
        let compile = |param: &str, pats: &[String]| -> Result<Vec<Regex>, ParamError> {
            pats.iter()
                .map(|pat| {
                    let re = if use_regex {
                        format!("^(?:{pat})")
                    } else {
                        fnmatch_regex(pat)
                    };
                    Regex::new(&re)
                        .map_err(|e| invalid(param, format!("invalid pattern {pat:?}: {e}")))
                })
                .collect()
        };
        let file_type = match p.file_type.as_deref() {
            None | Some("file") => FileType::File,
            Some("directory") => FileType::Directory,
            Some("link") => FileType::Link,
            Some("any") => FileType::Any,
            Some(o) => {
                return Err(invalid(
                    "file_type",
                    format!("{o:?} is not one of file, directory, link, any"),
                ));
            }
        };
        let stamp = match p.age_stamp.as_deref() {
            None | Some("mtime") => Stamp::Mtime,
            Some("atime") => Stamp::Atime,
            Some("ctime") => Stamp::Ctime,
            Some(o) => {
                return Err(invalid(
                    "age_stamp",
                    format!("{o:?} is not one of mtime, atime, ctime"),
                ));
            }
        };
        let age = match p.age.as_deref() {
            None => None,
            Some(a) => Some(parse_age(a).ok_or_else(|| {
                invalid("age", format!("{a:?} is not an age such as 30, 2d, -1w"))
            })?),
        };
        let size = match p.size.as_deref() {
            None => None,
            Some(s) => Some(parse_size(s).ok_or_else(|| {
                invalid("size", format!("{s:?} is not a size such as 512, 10k, -1m"))
            })?),
        };
        let contains =
            match p.contains.as_deref() {
                None => None,
                Some(c) => {
                    let whole = p.read_whole_file.unwrap_or(false);
                    let re = if whole {
                        c.to_string()
                    } else {
                        format!("^(?:{c})")
                    };
                    Some(Regex::new(&re).map_err(|e| {
                        invalid("contains", format!("invalid regular expression: {e}"))
                    })?)
                }
            };
        let recurse = p.recurse.unwrap_or(false);
        let max_depth = match (recurse, p.depth) {
            (false, _) => Some(1),
            (true, Some(d)) if d < 1 => return Err(invalid("depth", "must be at least 1")),
            (true, d) => d,
        };
        Ok(Box::new(Find {
            paths: p.paths,
            patterns: compile("patterns", &p.patterns)?,
            excludes: compile("excludes", &p.excludes)?,
            contains,
            whole_file: p.read_whole_file.unwrap_or(false),
            file_type,
            max_depth,
            age,
            stamp,
            size,
            hidden: p.hidden.unwrap_or(false),
            follow: p.follow.unwrap_or(false),
            checksum: p.get_checksum.unwrap_or(false),
        }))
    }
}

/// One listed entry (from `lstat`).
struct Entry {
    raw_mode: u32,
    size: u64,
    mtime: i64,
    atime: i64,
    ctime: i64,
    uid: u32,
    gid: u32,
    nlink: u64,
    inode: u64,
    dev: u64,
    owner: String,
    group: String,
    path: String,
    checksum: Option<String>,
    content: Option<Vec<u8>>,
}

const S_IFMT: u32 = 0o170_000;

impl Entry {
    fn fmt(&self) -> u32 {
        self.raw_mode & S_IFMT
    }
    fn is(&self, t: u32) -> bool {
        self.fmt() == t
    }
    fn is_reg(&self) -> bool {
        self.is(0o100_000)
    }
    fn is_dir(&self) -> bool {
        self.is(0o040_000)
    }
    fn is_lnk(&self) -> bool {
        self.is(0o120_000)
    }

    fn to_value(&self) -> Value {
        let m = self.raw_mode & 0o7777;
        let mut o = Map::new();
        let mut put = |k: &str, v: Value| {
            o.insert(k.into(), v);
        };
        put("path", self.path.as_str().into());
        put("mode", format!("{m:04o}").into());
        put("isdir", self.is_dir().into());
        put("isreg", self.is_reg().into());
        put("islnk", self.is_lnk().into());
        put("ischr", self.is(0o020_000).into());
        put("isblk", self.is(0o060_000).into());
        put("isfifo", self.is(0o010_000).into());
        put("issock", self.is(0o140_000).into());
        put("uid", self.uid.into());
        put("gid", self.gid.into());
        put("pw_name", self.owner.as_str().into());
        put("gr_name", self.group.as_str().into());
        put("size", self.size.into());
        put("inode", self.inode.into());
        put("dev", self.dev.into());
        put("nlink", self.nlink.into());
        put("atime", self.atime.into());
        put("mtime", self.mtime.into());
        put("ctime", self.ctime.into());
        for (name, bit) in [
            ("rusr", 0o400),
            ("wusr", 0o200),
            ("xusr", 0o100),
            ("rgrp", 0o040),
            ("wgrp", 0o020),
            ("xgrp", 0o010),
            ("roth", 0o004),
            ("woth", 0o002),
            ("xoth", 0o001),
            ("isuid", 0o4000),
            ("isgid", 0o2000),
        ] {
            put(name, (m & bit != 0).into());
        }
        if let Some(c) = &self.checksum {
            put("checksum", c.as_str().into());
        }
        Value::Object(o)
    }
}

/// Everything the probe reported.
struct Listing {
    now: i64,
    /// Per root path: is it a directory.
    roots: Vec<bool>,
    entries: Vec<Entry>,
}

fn parse_listing(stdout: &[u8], nroots: usize) -> Result<Listing, ModuleError> {
    let mut l = Listing {
        now: 0,
        roots: vec![false; nroots],
        entries: Vec::new(),
    };
    let mut extra: Vec<(bool, String, String)> = Vec::new();
    let bad = |rec: &[u8]| {
        ModuleError::Probe(format!(
            "bad find record {:?}",
            String::from_utf8_lossy(&rec[..rec.len().min(80)])
        ))
    };
    for rec in stdout.split(|b| *b == 0) {
        let rec_s = String::from_utf8_lossy(rec);
        let rec_s = rec_s.trim_start_matches('\n');
        let Some((tag, rest)) = rec_s.split_once('\t') else {
            if rec_s.trim().is_empty() {
                continue;
            }
            return Err(bad(rec));
        };
        match tag {
            "now" => l.now = rest.trim().parse().map_err(|_| bad(rec))?,
            "root" => {
                let (i, d) = rest.split_once('\t').ok_or_else(|| bad(rec))?;
                let i: usize = i.parse().map_err(|_| bad(rec))?;
                if let Some(slot) = l.roots.get_mut(i) {
                    *slot = d == "1";
                }
            }
            "e" => {
                let v: Vec<&str> = rest.splitn(13, '\t').collect();
                if v.len() != 13 {
                    return Err(bad(rec));
                }
                let n = |s: &str| s.parse::<u64>().map_err(|_| bad(rec));
                let t = |s: &str| s.parse::<i64>().map_err(|_| bad(rec));
                l.entries.push(Entry {
                    raw_mode: u32::from_str_radix(v[0], 16).map_err(|_| bad(rec))?,
                    size: n(v[1])?,
                    mtime: t(v[2])?,
                    atime: t(v[3])?,
                    ctime: t(v[4])?,
                    uid: n(v[5])? as u32,
                    gid: n(v[6])? as u32,
                    nlink: n(v[7])?,
                    inode: n(v[8])?,
                    dev: n(v[9])?,
                    owner: v[10].to_string(),
                    group: v[11].to_string(),
                    path: v[12].to_string(),
                    checksum: None,
                    content: None,
                });
            }
            "c" | "x" => {
                let (val, path) = rest.split_once('\t').ok_or_else(|| bad(rec))?;
                extra.push((tag == "x", val.to_string(), path.to_string()));
            }
            _ => return Err(bad(rec)),
        }
    }
    if !extra.is_empty() {
        let index: std::collections::HashMap<String, usize> = l
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.path.clone(), i))
            .collect();
        for (is_content, val, path) in extra {
            let Some(&i) = index.get(&path) else { continue };
            if is_content {
                let data = B64
                    .decode(val.trim())
                    .map_err(|_| ModuleError::Probe(format!("bad content of {path}")))?;
                l.entries[i].content = Some(data);
            } else {
                l.entries[i].checksum = Some(val);
            }
        }
    }
    Ok(l)
}

impl Find {
    fn find_cmd(&self, path: &str, tail: &str) -> String {
        let depth = self
            .max_depth
            .map(|d| format!(" -maxdepth {d}"))
            .unwrap_or_default();
        let links = if self.follow { "-L" } else { "-H" };
        format!("find {links} {} -mindepth 1{depth} {tail}\n", quote(path))
    }

    fn name_matches(&self, base: &str) -> bool {
        let b = base.as_bytes();
        (self.patterns.is_empty() || self.patterns.iter().any(|r| r.is_match(b)))
            && !self.excludes.iter().any(|r| r.is_match(b))
    }

    /// `Ok(true)` when `e` passes all filters; `Err` when `contains` cannot be decided.
    fn selects(&self, e: &Entry, now: i64) -> Result<bool, String> {
        let base = e.path.rsplit('/').next().unwrap_or(&e.path);
        if base.starts_with('.') && !self.hidden {
            return Ok(false);
        }
        let type_ok = match self.file_type {
            FileType::File => e.is_reg(),
            FileType::Directory => e.is_dir(),
            FileType::Link => e.is_lnk(),
            FileType::Any => true,
        };
        if !type_ok || !self.name_matches(base) {
            return Ok(false);
        }
        if let Some(age) = self.age {
            let stamp = match self.stamp {
                Stamp::Mtime => e.mtime,
                Stamp::Atime => e.atime,
                Stamp::Ctime => e.ctime,
            };
            let elapsed = now - stamp;
            if (age >= 0 && elapsed < age) || (age < 0 && elapsed > -age) {
                return Ok(false);
            }
        }
        if let (Some(size), FileType::File) = (self.size, self.file_type) {
            let s = e.size as i64;
            if (size >= 0 && s < size) || (size < 0 && s > -size) {
                return Ok(false);
            }
        }
        if let Some(re) = &self.contains {
            if !e.is_reg() {
                return Ok(false);
            }
            if e.size > CONTAINS_LIMIT {
                return Err(format!(
                    "cannot search {} for contains: larger than {} MiB",
                    e.path,
                    CONTAINS_LIMIT / 1024 / 1024
                ));
            }
            // Unreadable files never match, as in Ansible.
            let Some(c) = &e.content else {
                return Ok(false);
            };
            let hit = if self.whole_file {
                re.is_match(c)
            } else {
                c.split_inclusive(|b| *b == b'\n').any(|l| re.is_match(l))
            };
            if !hit {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

impl PreparedModule for Find {
    fn probe(&self, _ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        let mut s = String::from("printf 'now\\t%s\\0' \"$(date +%s)\"\n");
        for (i, path) in self.paths.iter().enumerate() {
            let trimmed = path.trim_end_matches('/');
            let path = if trimmed.is_empty() { "/" } else { trimmed };
            s.push_str(&format!(
                "if [ -d {q} ]; then printf 'root\\t{i}\\t1\\0'\n",
                q = quote(path)
            ));
            s.push_str(&self.find_cmd(
                path,
                "-exec stat --printf 'e\\t%f\\t%s\\t%Y\\t%X\\t%Z\\t%u\\t%g\\t%h\\t%i\\t%d\\t%U\\t%G\\t%n\\0' -- {} +",
            ));
            if self.checksum {
                let inner = "for f; do [ -L \"$f\" ] && continue; h=$(sha1sum < \"$f\" 2>/dev/null) && printf 'c\\t%s\\t%s\\0' \"${h%% *}\" \"$f\"; done";
                s.push_str(&self.find_cmd(
                    path,
                    &format!("-type f -exec sh -c {} sh {{}} +", quote(inner)),
                ));
            }
            if self.contains.is_some() {
                let inner = format!(
                    "for f; do [ -L \"$f\" ] && continue; [ \"$(stat -c %s -- \"$f\")\" -le {CONTAINS_LIMIT} ] || continue; c=$(base64 -w0 < \"$f\" 2>/dev/null) && printf 'x\\t%s\\t%s\\0' \"$c\" \"$f\"; done"
                );
                s.push_str(&self.find_cmd(
                    path,
                    &format!("-type f -exec sh -c {} sh {{}} +", quote(&inner)),
                ));
            }
            s.push_str(&format!("else printf 'root\\t{i}\\t0\\0'; fi\n"));
        }
        s.push_str("exit 0\n");
        Ok(Some(Probe::new(s)))
    }

    fn plan(&self, _ctx: &ModuleCtx<'_>, probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        let out = probe.ok_or_else(|| ModuleError::Probe("no probe output".into()))?;
        let listing = parse_listing(&out.stdout, self.paths.len())?;
        let mut skipped = Map::new();
        for (path, is_dir) in self.paths.iter().zip(&listing.roots) {
            if !is_dir {
                skipped.insert(
                    path.clone(),
                    format!("{path} was skipped as it does not seem to be a valid directory or it cannot be accessed").into(),
                );
            }
        }
        let mut files = Vec::new();
        for e in &listing.entries {
            match self.selects(e, listing.now) {
                Ok(true) => files.push(e),
                Ok(false) => {}
                Err(msg) => return Ok(Plan::fail(msg)),
            }
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let mut plan = Plan::in_sync("find never changes anything");
        let r = &mut plan.result;
        r.insert("matched".into(), files.len().into());
        r.insert("examined".into(), listing.entries.len().into());
        r.insert(
            "files".into(),
            Value::Array(files.iter().map(|e| e.to_value()).collect()),
        );
        let msg = if skipped.is_empty() {
            "All paths examined"
        } else {
            "Not all paths examined, check skipped_paths for details"
        };
        r.insert("msg".into(), msg.into());
        r.insert("skipped_paths".into(), Value::Object(skipped));
        Ok(plan)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fnmatch_like_python() {
        let m = |p: &str, s: &str| {
            Regex::new(&fnmatch_regex(p))
                .unwrap()
                .is_match(s.as_bytes())
        };
        assert!(m("*.conf", "a.conf"));
        assert!(!m("*.conf", "a.conf.bak"));
        assert!(m("?.log", "a.log"));
        assert!(m("[ab]*", "b1"));
        assert!(!m("[!ab]*", "b1"));
        assert!(m("a+b(1).txt", "a+b(1).txt"));
        assert!(m("[]x]", "]"));
        assert!(m("[", "["));
    }

    #[test]
    fn units() {
        assert_eq!(parse_age("2d"), Some(172_800));
        assert_eq!(parse_age("-1W"), Some(-604_800));
        assert_eq!(parse_age("30"), Some(30));
        assert_eq!(parse_age("3y"), None);
        assert_eq!(parse_size("10k"), Some(10_240));
        assert_eq!(parse_size("-1m"), Some(-1_048_576));
    }
}
