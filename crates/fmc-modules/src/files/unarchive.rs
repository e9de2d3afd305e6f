//! `unarchive`: extracts a tar archive (`.tar`, `.tar.gz`/`.tgz`, `.tar.bz2`,
//! `.tar.xz`, `.tar.zst` when the host has the decompressor; GNU tar detects the
//! format) into the existing directory `dest`. `src` is a controller file (sent on
//! stdin), or a file on the host with `remote_src: yes`. Zip archives are detected
//! and refused for now.
//!
//! Idempotence is exact and decided in one probe: `creates` (skip when that path
//! exists), else GNU `tar --compare` of the archive against `dest` (content, size,
//! type, symlink targets, mode, mtime, and uid/gid when running as root and no
//! `owner`/`group` is given; `mode` given: modes are checked per member instead).
//! A controller archive is uploaded to a temp file for the probe (removed on exit),
//! so a no-change run still transfers the archive: use `creates` for big archives.
//! `mode`/`owner`/`group` apply to every extracted member (symlinks: owner only),
//! found with `tar -t` (honouring `--strip-components` in `extra_opts`; other
//! name-rewriting options such as `--transform` are not supported with them, and
//! member names containing a newline are not supported). Extraction uses `-p` so
//! modes match the archive whatever the umask.

use fmc_core::lenient::{self, Mode};
use fmc_core::module::parse_params;
use fmc_core::shell::quote;
use fmc_core::{
    Action, CheckSupport, ExecOutput, ModuleCtx, ModuleError, ModuleFactory, ModuleInfo, Outcome,
    ParamError, Plan, PreparedModule, Probe, Value,
};
use serde::Deserialize;

use super::attributes;
use crate::common::{Attributes, FileKind, RemoteFile};

pub const INFO: ModuleInfo = ModuleInfo {
    name: "unarchive",
    aliases: &[],
    params: &[
        "src",
        "dest",
        "remote_src",
        "copy",
        "creates",
        "extra_opts",
        "exclude",
        "keep_newer",
        "mode",
        "owner",
        "group",
        "list_files",
        "decrypt",
        "validate_certs",
    ],
    required: &["src", "dest"],
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
    src: String,
    #[serde(deserialize_with = "lenient::string")]
    dest: String,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    remote_src: Option<bool>,
    /// Legacy inverse of `remote_src`.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    copy: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    creates: Option<String>,
    #[serde(default, deserialize_with = "lenient::string_list")]
    extra_opts: Vec<String>,
    #[serde(default, deserialize_with = "lenient::string_list")]
    exclude: Vec<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    keep_newer: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_mode")]
    mode: Option<Mode>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    owner: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    group: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    list_files: Option<bool>,
    /// Vault files are decrypted by the controller's file reader; accepted and ignored.
    #[serde(default, rename = "decrypt")]
    _decrypt: Option<Value>,
    /// Only meaningful for URL sources, which are refused; accepted and ignored.
    #[serde(default, rename = "validate_certs")]
    _validate_certs: Option<Value>,
}

struct Unarchive {
    src: String,
    remote: bool,
    dest: String,
    creates: Option<String>,
    /// Options passed to every tar invocation (extra_opts, --exclude=...).
    tar_opts: Vec<String>,
    keep_newer: bool,
    strip: usize,
    attrs: Attributes,
    list_files: bool,
}

fn invalid(param: &str, msg: impl Into<String>) -> ParamError {
    ParamError::Invalid {
        module: INFO.name.into(),
        param: param.into(),
        msg: msg.into(),
    }
}

/// The `--strip-components` count in `opts` (`=N` or a separate `N`).
fn strip_components(opts: &[String]) -> Result<usize, ParamError> {
    let mut n = 0;
    let mut it = opts.iter();
    while let Some(o) = it.next() {
        let val = if let Some(v) = o.strip_prefix("--strip-components=") {
            Some(v.to_string())
        } else if o == "--strip-components" {
            Some(it.next().cloned().unwrap_or_default())
        } else {
            None
        };
        if let Some(v) = val {
            n = v
                .trim()
                .parse()
                .map_err(|_| invalid("extra_opts", format!("invalid --strip-components {v:?}")))?;
        }
    }
    Ok(n)
}

impl ModuleFactory for Factory {
    fn info(&self) -> &ModuleInfo {
        &INFO
    }

    fn prepare(&self, args: &fmc_core::Map) -> Result<Box<dyn PreparedModule>, ParamError> {
        let p: Params = parse_params(&INFO, args)?;
        let remote = match (p.remote_src, p.copy) {
            (Some(r), _) => r,
            (None, Some(c)) => !c,
            (None, None) => false,
        };
        if p.src.contains("://") {
            return Err(invalid(
                "src",
                "downloading archives is not supported yet\nhint: download it with get_url first, then unarchive with remote_src: yes",
            ));
        }
        if p.src.is_empty() {
            return Err(invalid("src", "must not be empty"));
        }
        if p.dest.is_empty() {
            return Err(invalid("dest", "must not be empty"));
        }
        let strip = strip_components(&p.extra_opts)?;
        let mut tar_opts = p.extra_opts;
        tar_opts.extend(p.exclude.iter().map(|e| format!("--exclude={e}")));
        Ok(Box::new(Unarchive {
            src: p.src,
            remote,
            dest: p.dest,
            creates: p.creates.filter(|c| !c.is_empty()),
            tar_opts,
            keep_newer: p.keep_newer.unwrap_or(false),
            strip,
            attrs: attributes(p.mode, p.owner, p.group),
            list_files: p.list_files.unwrap_or(false),
        }))
    }
}

/// What the probe found.
#[derive(Default)]
struct Found {
    creates: bool,
    dest_missing: bool,
    src_missing: bool,
    zip: bool,
    root: bool,
    compare_rc: Option<i32>,
    compare: String,
    list: Option<String>,
    /// One per member when attributes are managed: `None` for a missing path.
    members: Vec<Option<RemoteFile>>,
}

fn decode(b64: &str) -> Result<String, ModuleError> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(|_| ModuleError::Probe("bad base64 in unarchive probe".into()))
}

fn parse_probe(stdout: &str) -> Result<Found, ModuleError> {
    let mut f = Found::default();
    for line in stdout.lines() {
        let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
        let bad = || ModuleError::Probe(format!("bad unarchive probe line {line:?}"));
        match key {
            "creates" => f.creates = true,
            "dest-missing" => f.dest_missing = true,
            "src-missing" => f.src_missing = true,
            "format" => f.zip = rest == "zip",
            "uid" => f.root = rest.trim() == "0",
            "compare-rc" => f.compare_rc = Some(rest.trim().parse().map_err(|_| bad())?),
            "compare" => f.compare = decode(rest)?,
            "list" => f.list = Some(decode(rest)?),
            "m" if rest == "absent" => f.members.push(None),
            "m" => {
                let v: Vec<&str> = rest.splitn(6, ' ').collect();
                if v.len() != 6 {
                    return Err(bad());
                }
                let raw = u32::from_str_radix(v[0], 16).map_err(|_| bad())?;
                let kind = match raw & 0o170_000 {
                    0o040_000 => FileKind::Directory,
                    0o120_000 => FileKind::Link,
                    0o100_000 => FileKind::File,
                    _ => FileKind::Other,
                };
                f.members.push(Some(RemoteFile {
                    kind,
                    parent_exists: true,
                    umask: 0o022,
                    mode: u32::from_str_radix(v[1], 8).map_err(|_| bad())?,
                    uid: v[2].parse().map_err(|_| bad())?,
                    gid: v[3].parse().map_err(|_| bad())?,
                    owner: v[4].to_string(),
                    group: v[5].to_string(),
                    size: 0,
                    mtime: 0,
                    link_target: None,
                    sha1: None,
                    sha256: None,
                    unreadable: false,
                    content: None,
                }));
            }
            _ => {}
        }
    }
    Ok(f)
}

impl Unarchive {
    fn opts(&self) -> String {
        self.tar_opts
            .iter()
            .map(|o| format!(" {}", quote(o)))
            .collect()
    }

    /// Shell lines setting `$a` to the archive (a temp copy of stdin for controller
    /// archives, removed on exit).
    fn archive_setup(&self) -> String {
        if self.remote {
            format!("a={}\n", quote(&self.src))
        } else {
            "a=$(mktemp \"${TMPDIR:-/tmp}/fmc-unarchive.XXXXXX\")\n\
             trap 'rm -f \"$a\"' EXIT\ntrap 'exit 129' HUP INT TERM\n\
             cat > \"$a\"\n"
                .into()
        }
    }

    /// Pipeline printing the on-disk paths (relative to dest) of the members.
    fn members_cmd(&self) -> String {
        let strip = if self.strip > 0 {
            format!(" | cut -s -d/ -f{}-", self.strip + 1)
        } else {
            String::new()
        };
        format!(
            "tar -t --quoting-style=literal -f \"$a\"{}{strip}",
            self.opts()
        )
    }

    fn attrs_managed(&self) -> bool {
        self.attrs != Attributes::default()
    }

    /// Applies mode/owner/group to every member (`chmod` with umask 0, as planned).
    fn attrs_script(&self) -> String {
        let who = match (&self.attrs.owner, &self.attrs.group) {
            (Some(o), Some(g)) => Some(format!("{o}:{g}")),
            (Some(o), None) => Some(o.clone()),
            (None, Some(g)) => Some(format!(":{g}")),
            (None, None) => None,
        };
        let mut body = String::new();
        if let Some(w) = who {
            body.push_str(&format!("chown -h -- {} \"$p\"; ", quote(&w)));
        }
        if let Some(m) = &self.attrs.mode {
            body.push_str(&format!(
                "[ -L \"$p\" ] || chmod -- {} \"$p\"; ",
                quote(&m.chmod_arg())
            ));
        }
        format!(
            "umask 0\n{} | while IFS= read -r m; do [ -n \"$m\" ] || continue; p=\"$d/$m\"; \
             if [ -e \"$p\" ] || [ -L \"$p\" ]; then {body}fi; done\n",
            self.members_cmd()
        )
    }

    /// How many members' attributes differ from the wanted ones.
    fn attr_drift(&self, members: &[Option<RemoteFile>]) -> Result<usize, ModuleError> {
        let mut n = 0;
        for m in members {
            let Some(m) = m else {
                n += 1;
                continue;
            };
            let attrs = if m.kind == FileKind::Link {
                Attributes {
                    mode: None,
                    ..self.attrs.clone()
                }
            } else {
                self.attrs.clone()
            };
            if !attrs.drift(m)?.is_empty() {
                n += 1;
            }
        }
        Ok(n)
    }

    /// `tar --compare` output lines that mean "extract again".
    fn differences<'a>(&self, out: &'a str, root: bool) -> Vec<&'a str> {
        let owners_matter = root && self.attrs.owner.is_none() && self.attrs.group.is_none();
        out.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            // The root entry removed by --strip-components.
            .filter(|l| !l.starts_with("tar: : "))
            .filter(|l| !l.contains("Removing leading"))
            .filter(|l| {
                owners_matter || !(l.ends_with(": Uid differs") || l.ends_with(": Gid differs"))
            })
            .filter(|l| self.attrs.mode.is_none() || !l.ends_with(": Mode differs"))
            .collect()
    }
}

impl PreparedModule for Unarchive {
    fn probe(&self, ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        let stdin = if self.remote {
            None
        } else {
            let path = ctx
                .files
                .find(&self.src, false)
                .map_err(ModuleError::Failed)?;
            Some(ctx.files.read(&path).map_err(ModuleError::Failed)?)
        };
        let mut s = format!("d={}\n{}", quote(&self.dest), self.archive_setup());
        if let Some(c) = &self.creates {
            let q = quote(c);
            s.push_str(&format!(
                "if [ -e {q} ] || [ -L {q} ]; then echo creates; exit 0; fi\n"
            ));
        }
        s.push_str(
            "[ -d \"$d\" ] || { echo dest-missing; exit 0; }\n\
             [ -f \"$a\" ] || { echo src-missing; exit 0; }\n\
             echo \"uid $(id -u)\"\n\
             case $(head -c 4 \"$a\" | od -An -tx1 | tr -d ' \\n') in 504b0304|504b0506) echo 'format zip'; exit 0;; esac\n",
        );
        s.push_str(&format!(
            "out=$(tar -d -f \"$a\" -C \"$d\"{} 2>&1); echo \"compare-rc $?\"\n\
             printf 'compare %s\\n' \"$(printf '%s' \"$out\" | base64 -w0)\"\n",
            self.opts()
        ));
        if self.list_files {
            s.push_str(&format!(
                "printf 'list %s\\n' \"$(tar -t -f \"$a\"{} 2>/dev/null | base64 -w0)\"\n",
                self.opts()
            ));
        }
        if self.attrs_managed() {
            s.push_str(&format!(
                "{} | while IFS= read -r m; do [ -n \"$m\" ] || continue; p=\"$d/$m\"; \
                 if [ -e \"$p\" ] || [ -L \"$p\" ]; then stat -c 'm %f %a %u %g %U %G' -- \"$p\"; else echo 'm absent'; fi; done\n",
                self.members_cmd()
            ));
        }
        Ok(Some(Probe { script: s, stdin }))
    }

    fn plan(&self, ctx: &ModuleCtx<'_>, probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        let out = probe.ok_or_else(|| ModuleError::Probe("no probe output".into()))?;
        if out.rc != 0 {
            return Ok(Plan::fail(format!(
                "inspecting {} failed (rc={}): {}",
                self.src,
                out.rc,
                out.stderr_str().trim()
            )));
        }
        let f = parse_probe(&out.stdout_str())?;
        let (src, dest) = (&self.src, &self.dest);
        let mut plan = Plan::default();
        plan.result.insert("dest".into(), dest.as_str().into());
        plan.result.insert("src".into(), src.as_str().into());
        if f.creates {
            plan.reason = Some(format!(
                "skipped, since {} exists",
                self.creates.as_deref().unwrap_or_default()
            ));
            return Ok(plan);
        }
        if f.dest_missing {
            return Ok(Plan::fail(format!(
                "dest {dest} is not an existing directory\nhint: create it first with the file module (state: directory)"
            )));
        }
        if f.src_missing {
            return Ok(Plan::fail(format!(
                "src {src} is not a regular file on the host"
            )));
        }
        if f.zip {
            return Ok(Plan::fail(format!(
                "{src} is a zip archive; zip is not supported yet\nhint: use a tar archive, or run unzip with the command module and creates:"
            )));
        }
        plan.result.insert("handler".into(), "TarArchive".into());
        let rc = f
            .compare_rc
            .ok_or_else(|| ModuleError::Probe("missing compare-rc line".into()))?;
        if rc > 1 {
            return Ok(Plan::fail(format!(
                "cannot read archive {src} (rc={rc}): {}",
                f.compare.trim()
            )));
        }
        let diffs = self.differences(&f.compare, f.root);
        let drifted = if self.attrs_managed() {
            self.attr_drift(&f.members)?
        } else {
            0
        };
        if let Some(list) = &f.list {
            let files: Vec<Value> = list.lines().map(Value::from).collect();
            plan.result.insert("files".into(), Value::Array(files));
        }
        if diffs.is_empty() && drifted == 0 {
            plan.reason = Some(format!("{dest} already holds the content of {src}"));
            return Ok(plan);
        }
        let mut script = format!("set -e\nd={}\n{}", quote(dest), self.archive_setup());
        if !diffs.is_empty() {
            plan.changes.push(format!(
                "extract {src} into {dest} ({} difference{}, first: {})",
                diffs.len(),
                if diffs.len() == 1 { "" } else { "s" },
                diffs[0]
            ));
            let keep = if self.keep_newer {
                " --keep-newer-files"
            } else {
                ""
            };
            script.push_str(&format!(
                "tar -x -p{keep} -f \"$a\" -C \"$d\"{}\n",
                self.opts()
            ));
        } else {
            plan.changes.push(format!(
                "set mode/owner/group on {drifted} extracted path{} under {dest}",
                if drifted == 1 { "" } else { "s" }
            ));
        }
        if self.attrs_managed() {
            script.push_str(&self.attrs_script());
        }
        let stdin = if self.remote {
            None
        } else {
            let path = ctx.files.find(src, false).map_err(ModuleError::Failed)?;
            Some(ctx.files.read(&path).map_err(ModuleError::Failed)?)
        };
        plan.actions.push(match stdin {
            Some(data) => Action::exec_with_stdin(script, data),
            None => Action::exec(script),
        });
        Ok(plan)
    }

    fn finish(&self, plan: &Plan, outputs: &[ExecOutput]) -> Result<Outcome, ModuleError> {
        fmc_core::module::default_finish(plan, outputs)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn strip_components_forms() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(strip_components(&v(&["--strip-components=2"])).unwrap(), 2);
        assert_eq!(
            strip_components(&v(&["-v", "--strip-components", "1"])).unwrap(),
            1
        );
        assert_eq!(strip_components(&v(&[])).unwrap(), 0);
        assert!(strip_components(&v(&["--strip-components=x"])).is_err());
    }
}
