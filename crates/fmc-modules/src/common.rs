//! Building blocks shared by the file modules (and usable by any module).
//!
//! * [`probe_file`] / [`parse_files`]: one probe snippet per path that reports kind,
//!   mode, owner, group, size, mtime, checksum and (small) content, and its parser
//!   into [`RemoteFile`]. Several snippets may be concatenated into one probe script.
//! * [`Attributes`] / [`AttrDrift`]: mode/owner/group drift detection, with symbolic
//!   modes resolved on the controller so the plan is exact.
//! * [`WriteSpec::script`]: the atomic write (stdin -> temp file next to dest ->
//!   chmod/chown -> validate -> backup -> `mv -f`), and [`parse_backup`] for its output.
//! * [`file_diff`] / [`render_unified`]: `--diff` support.
//!
//! Probe output format (one `key value` per line; paths are never echoed, so odd
//! file names cannot break parsing; link targets and content are base64):
//!
//! ```text
//! fmc-file file|directory|link|other|absent
//! parent 1|0                 (parent directory exists)
//! umask 0022
//! stat <octal mode> <uid> <gid> <size> <mtime> <owner name> <group name>
//! link <base64 target>       (links only)
//! sha256 <hex> | sha1 <hex> | unreadable
//! content <base64>           (regular files up to the content limit)
//! ```

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use fmc_core::ModuleError;
use fmc_core::lenient::Mode;
use fmc_core::shell::quote;
use fmc_core::{ExecOutput, FileDiff};

/// Files up to this size have their content returned by the default probe.
pub const CONTENT_LIMIT: u64 = 256 * 1024;

/// Which checksum a probe computes for regular files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checksum {
    Sha1,
    Sha256,
}

impl Checksum {
    fn tool(self) -> &'static str {
        match self {
            Checksum::Sha1 => "sha1sum",
            Checksum::Sha256 => "sha256sum",
        }
    }
    fn key(self) -> &'static str {
        match self {
            Checksum::Sha1 => "sha1",
            Checksum::Sha256 => "sha256",
        }
    }
}

/// What [`probe_file`] reports besides kind and metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeOptions {
    /// Follow a symlink at `path` (`stat -L`); a dangling link is still reported as a link.
    pub follow: bool,
    pub checksum: Option<Checksum>,
    /// Return the content of regular files up to this many bytes (`None`: never).
    pub content_limit: Option<u64>,
}

impl Default for ProbeOptions {
    /// No follow, sha256, content up to [`CONTENT_LIMIT`].
    fn default() -> Self {
        ProbeOptions {
            follow: false,
            checksum: Some(Checksum::Sha256),
            content_limit: Some(CONTENT_LIMIT),
        }
    }
}

/// What kind of filesystem object a path is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Absent,
    File,
    Directory,
    Link,
    /// Sockets, fifos, devices.
    Other,
}

impl FileKind {
    /// Human name for messages (`a directory`, ...).
    pub fn describe(self) -> &'static str {
        match self {
            FileKind::Absent => "absent",
            FileKind::File => "a regular file",
            FileKind::Directory => "a directory",
            FileKind::Link => "a symlink",
            FileKind::Other => "a special file",
        }
    }
}

/// A path's state on the host, as reported by [`probe_file`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteFile {
    pub kind: FileKind,
    /// Whether the parent directory exists.
    pub parent_exists: bool,
    /// The probing shell's umask (for the mode of files it would create).
    pub umask: u32,
    /// Permission bits including setuid/setgid/sticky (`0o4755`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Owner name (`UNKNOWN` when the uid has no name).
    pub owner: String,
    pub group: String,
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    pub link_target: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
    /// The file exists but could not be read (no checksum, no content).
    pub unreadable: bool,
    /// Full content, when the file is regular and within the content limit.
    pub content: Option<Vec<u8>>,
}

impl RemoteFile {
    fn absent() -> Self {
        RemoteFile {
            kind: FileKind::Absent,
            parent_exists: false,
            umask: 0o022,
            mode: 0,
            uid: 0,
            gid: 0,
            owner: String::new(),
            group: String::new(),
            size: 0,
            mtime: 0,
            link_target: None,
            sha1: None,
            sha256: None,
            unreadable: false,
            content: None,
        }
    }

    /// Whether the path exists (a dangling link exists).
    pub fn exists(&self) -> bool {
        self.kind != FileKind::Absent
    }

    /// Mode as Ansible prints it: `"0644"`.
    pub fn mode_string(&self) -> String {
        format!("{:04o}", self.mode)
    }
}

/// Shell snippet printing one [`RemoteFile`] record for `path`. Read-only; runs in a
/// subshell so snippets can be concatenated into one probe.
pub fn probe_file(path: &str, opts: ProbeOptions) -> String {
    let parent = std::path::Path::new(path)
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| ".".into());
    probe_file_at(&quote(path), &quote(&parent), opts)
}

/// [`probe_file`] for a path computed on the host: `qpath` and `qparent` are shell
/// words (quoted literals or `"$var"` expansions) naming the path and its parent.
pub fn probe_file_at(qpath: &str, qparent: &str, opts: ProbeOptions) -> String {
    let q = qpath;
    let follow = if opts.follow { "-L" } else { "" };
    // Few processes per probe: every fork on the host costs more than the SSH round
    // trip. A small file's content is sent whole and its checksums are computed on the
    // controller; a large file's checksum is computed on the host.
    let mut s = format!(
        "(p={q}; L={follow}\n\
         if [ -L \"$p\" ] && [ -z \"$L\" ]; then k=link\n\
         elif [ -d \"$p\" ]; then k=directory\n\
         elif [ -f \"$p\" ]; then k=file\n\
         elif [ -e \"$p\" ]; then k=other\n\
         elif [ -L \"$p\" ]; then k=link; L=\n\
         else k=absent; fi\n\
         echo \"fmc-file $k\"\n\
         if [ -d {qparent} ]; then echo 'parent 1'; else echo 'parent 0'; fi\n\
         printf 'umask '; umask\n\
         [ $k = absent ] && exit 0\n\
         s=$(stat $L -c 'stat %a %u %g %s %Y %U %G' -- \"$p\") || s=statfailed\n\
         echo \"$s\"\n\
         if [ $k = link ]; then printf 'link %s\\n' \"$(readlink -- \"$p\" | base64 -w0)\"; fi\n\
         [ $k = file ] || exit 0\n\
         set -- $s\n",
    );
    let checksum = opts.checksum.map(|c| {
        format!(
            "if h=$({tool} < \"$p\" 2>/dev/null); then echo \"{key} ${{h%% *}}\"; else echo unreadable; fi",
            tool = c.tool(),
            key = c.key()
        )
    });
    match (opts.content_limit, checksum) {
        (Some(limit), checksum) => s.push_str(&format!(
            "if [ \"${{5:-0}}\" -le {limit} ]; then\n\
             if c=$(base64 -w0 < \"$p\" 2>/dev/null); then printf 'content %s\\n' \"$c\"; else echo unreadable; fi\n\
             else {}\nfi\n",
            checksum.unwrap_or_else(|| ":".into())
        )),
        (None, Some(checksum)) => {
            s.push_str(&checksum);
            s.push('\n');
        }
        (None, None) => {}
    }
    s.push_str(")\n");
    s
}

/// Parses every record printed by concatenated [`probe_file`] snippets, in order.
/// Lines before the first record and unknown keys are ignored.
pub fn parse_files(stdout: &[u8]) -> Result<Vec<RemoteFile>, ModuleError> {
    let text = String::from_utf8_lossy(stdout);
    let mut out: Vec<RemoteFile> = Vec::new();
    for line in text.lines() {
        let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
        if key == "fmc-file" {
            let kind = match rest {
                "file" => FileKind::File,
                "directory" => FileKind::Directory,
                "link" => FileKind::Link,
                "other" => FileKind::Other,
                "absent" => FileKind::Absent,
                other => return Err(ModuleError::Probe(format!("unknown file kind {other:?}"))),
            };
            out.push(RemoteFile {
                kind,
                ..RemoteFile::absent()
            });
            continue;
        }
        let Some(f) = out.last_mut() else { continue };
        let bad = |what: &str| ModuleError::Probe(format!("bad {what} line {line:?}"));
        match key {
            "parent" => f.parent_exists = rest == "1",
            "umask" => f.umask = u32::from_str_radix(rest.trim(), 8).map_err(|_| bad("umask"))?,
            "stat" => {
                let v: Vec<&str> = rest.split(' ').collect();
                if v.len() < 7 {
                    return Err(bad("stat"));
                }
                f.mode = u32::from_str_radix(v[0], 8).map_err(|_| bad("stat"))?;
                f.uid = v[1].parse().map_err(|_| bad("stat"))?;
                f.gid = v[2].parse().map_err(|_| bad("stat"))?;
                f.size = v[3].parse().map_err(|_| bad("stat"))?;
                f.mtime = v[4].parse().map_err(|_| bad("stat"))?;
                f.owner = v[5].to_string();
                f.group = v[6..].join(" ");
            }
            "statfailed" => f.unreadable = true,
            "link" => {
                let raw = B64.decode(rest.trim()).map_err(|_| bad("link"))?;
                // readlink terminates its output with a newline.
                let raw = raw.strip_suffix(b"\n").unwrap_or(&raw);
                f.link_target = Some(String::from_utf8_lossy(raw).into_owned());
            }
            "sha256" => f.sha256 = Some(rest.trim().to_string()),
            "sha1" => f.sha1 = Some(rest.trim().to_string()),
            "unreadable" => f.unreadable = true,
            "content" => f.content = Some(B64.decode(rest.trim()).map_err(|_| bad("content"))?),
            _ => {}
        }
    }
    // Small files come with their content instead of a checksum.
    for f in &mut out {
        if let Some(c) = &f.content {
            f.sha256.get_or_insert_with(|| sha256_hex(c));
            f.sha1.get_or_insert_with(|| sha1_hex(c));
        }
    }
    Ok(out)
}

/// Parses a probe holding exactly one [`probe_file`] record (extra records are ignored).
pub fn parse_file(out: Option<&ExecOutput>) -> Result<RemoteFile, ModuleError> {
    let out = out.ok_or_else(|| ModuleError::Probe("no probe output".into()))?;
    if out.rc != 0 {
        return Err(ModuleError::Probe(format!(
            "probe failed (rc={}): {}",
            out.rc,
            out.stderr_str().trim()
        )));
    }
    parse_files(&out.stdout)?
        .into_iter()
        .next()
        .ok_or_else(|| ModuleError::Probe("missing file record".into()))
}

/// Desired mode/owner/group of a path, as given in module parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attributes {
    pub mode: Option<Mode>,
    pub owner: Option<String>,
    pub group: Option<String>,
}

/// What has to change so a path matches [`Attributes`]. `mode` is always octal: symbolic
/// modes are resolved against the current mode on the controller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttrDrift {
    /// (from, to); `from` is `None` for a path that does not exist yet.
    pub mode: Option<(Option<u32>, u32)>,
    pub owner: Option<(Option<String>, String)>,
    pub group: Option<(Option<String>, String)>,
}

impl Attributes {
    /// The mode a path should end up with, given its current (or initial) mode.
    pub fn target_mode(&self, current: u32, is_dir: bool) -> Result<u32, ModuleError> {
        match &self.mode {
            None => Ok(current),
            Some(Mode::Octal(m)) => Ok(*m),
            Some(Mode::Symbolic(s)) => apply_symbolic(current, s, is_dir),
        }
    }

    /// Drift of an existing path (`have`). For a path that does not exist yet, use
    /// [`Attributes::for_new`].
    pub fn drift(&self, have: &RemoteFile) -> Result<AttrDrift, ModuleError> {
        let is_dir = have.kind == FileKind::Directory;
        let mut d = AttrDrift::default();
        if self.mode.is_some() {
            let want = self.target_mode(have.mode, is_dir)?;
            if want != have.mode {
                d.mode = Some((Some(have.mode), want));
            }
        }
        if let Some(o) = &self.owner
            && !same_principal(o, &have.owner, have.uid)
        {
            d.owner = Some((Some(have.owner.clone()), o.clone()));
        }
        if let Some(g) = &self.group
            && !same_principal(g, &have.group, have.gid)
        {
            d.group = Some((Some(have.group.clone()), g.clone()));
        }
        Ok(d)
    }

    /// Attributes to set on a path being created. Files start at `0666 & ~umask`,
    /// directories at `0777 & ~umask`; the mode is always set explicitly so the
    /// result does not depend on how the creating tool applies the umask.
    pub fn for_new(&self, umask: u32, is_dir: bool) -> Result<AttrDrift, ModuleError> {
        let base = if is_dir { 0o777 } else { 0o666 } & !umask;
        Ok(AttrDrift {
            mode: Some((None, self.target_mode(base, is_dir)?)),
            owner: self.owner.clone().map(|o| (None, o)),
            group: self.group.clone().map(|g| (None, g)),
        })
    }
}

impl AttrDrift {
    pub fn is_empty(&self) -> bool {
        self.mode.is_none() && self.owner.is_none() && self.group.is_none()
    }

    /// Human change lines (only for existing paths: `mode 0600 -> 0644 on /x`).
    pub fn changes(&self, path: &str) -> Vec<String> {
        let mut v = Vec::new();
        if let Some((Some(from), to)) = &self.mode {
            v.push(format!("mode {from:04o} -> {to:04o} on {path}"));
        }
        if let Some((Some(from), to)) = &self.owner {
            v.push(format!("owner {from} -> {to} on {path}"));
        }
        if let Some((Some(from), to)) = &self.group {
            v.push(format!("group {from} -> {to} on {path}"));
        }
        v
    }

    /// Shell commands applying the drift to `qpath` (already quoted or a `"$var"`).
    /// chown runs first because it may clear setuid bits that chmod then sets.
    pub fn script(&self, qpath: &str) -> String {
        let mut s = String::new();
        let who = match (&self.owner, &self.group) {
            (Some((_, o)), Some((_, g))) => Some(format!("{o}:{g}")),
            (Some((_, o)), None) => Some(o.clone()),
            (None, Some((_, g))) => Some(format!(":{g}")),
            (None, None) => None,
        };
        if let Some(w) = who {
            s.push_str(&format!("chown -h -- {} {qpath}\n", quote(&w)));
        }
        if let Some((_, m)) = self.mode {
            s.push_str(&format!("chmod -- {m:04o} {qpath}\n"));
        }
        s
    }

    /// Result fields after the change: the wanted values, else `have`'s.
    pub fn result_fields(&self, have: Option<&RemoteFile>, result: &mut fmc_core::Map) {
        let mode = self.mode.map(|m| m.1).or(have.map(|h| h.mode));
        if let Some(m) = mode {
            result.insert("mode".into(), format!("{m:04o}").into());
        }
        let owner = self
            .owner
            .as_ref()
            .map(|o| o.1.clone())
            .or(have.map(|h| h.owner.clone()));
        if let Some(o) = owner {
            result.insert("owner".into(), o.into());
        }
        let group = self
            .group
            .as_ref()
            .map(|g| g.1.clone())
            .or(have.map(|h| h.group.clone()));
        if let Some(g) = group {
            result.insert("group".into(), g.into());
        }
    }
}

/// `want` is a name or a numeric id; compares with the name or the id accordingly.
fn same_principal(want: &str, have_name: &str, have_id: u32) -> bool {
    if !want.is_empty() && want.bytes().all(|b| b.is_ascii_digit()) {
        want.parse::<u32>().ok() == Some(have_id)
    } else {
        want == have_name
    }
}

/// Applies a symbolic mode (`u=rw,g+r,o-rwx,a+X`) to `current` like `chmod` does
/// with an empty umask (Ansible's behaviour). Copying from another class (`g=u`) is
/// not supported.
pub fn apply_symbolic(current: u32, spec: &str, is_dir: bool) -> Result<u32, ModuleError> {
    let bad = || ModuleError::Failed(format!("unsupported symbolic mode {spec:?}"));
    let mut mode = current & 0o7777;
    for clause in spec.split(',') {
        let who_len = clause.find(['+', '-', '=']).ok_or_else(bad)?;
        let (who, mut rest) = clause.split_at(who_len);
        let mut mask = 0u32; // which rwx triplets (as 0o777 sub-masks) and special bits
        for c in who.chars() {
            mask |= match c {
                'u' => 0o4700,
                'g' => 0o2070,
                'o' => 0o1007,
                'a' => 0o7777,
                _ => return Err(bad()),
            };
        }
        if who.is_empty() {
            mask = 0o7777;
        }
        while let Some(op) = rest.chars().next() {
            if !matches!(op, '+' | '-' | '=') {
                return Err(bad());
            }
            rest = &rest[1..];
            let end = rest.find(['+', '-', '=']).unwrap_or(rest.len());
            let perms = &rest[..end];
            rest = &rest[end..];
            let mut bits = 0u32;
            for c in perms.chars() {
                bits |= match c {
                    'r' => 0o444,
                    'w' => 0o222,
                    'x' => 0o111,
                    'X' if is_dir || mode & 0o111 != 0 => 0o111,
                    'X' => 0,
                    's' => 0o6000,
                    't' => 0o1000,
                    _ => return Err(bad()),
                };
            }
            bits &= mask;
            match op {
                '+' => mode |= bits,
                '-' => mode &= !bits,
                _ => mode = (mode & !mask) | bits,
            }
        }
    }
    Ok(mode)
}

/// The atomic write of stdin to `dest`: a temp file `<dest>.fmc-tmp.XXXXXX` next to
/// it (created 0600), the attributes of the existing file (or `0666 & ~umask` for a
/// new one), then `attrs`, then `validate` (`%s` = the temp file; on failure the
/// live file is untouched), then the optional backup, then `mv -f`. The temp file is
/// removed on any failure.
#[derive(Clone, Debug, Default)]
pub struct WriteSpec<'a> {
    pub dest: &'a str,
    /// Attributes to set on the temp file (usually from [`Attributes::drift`] or
    /// [`Attributes::for_new`]; only the target values are used).
    pub attrs: Option<&'a AttrDrift>,
    /// A command containing `%s` (checked by [`check_validate`]).
    pub validate: Option<&'a str>,
    pub backup: bool,
}

impl WriteSpec<'_> {
    /// The script; the action's stdin is the new content.
    pub fn script(&self) -> String {
        self.script_from("cat > \"$t\"\n")
    }

    /// Like [`WriteSpec::script`], but the temp file `"$t"` is filled by `producer`
    /// (shell lines, run under `set -e` with umask 077, e.g. a download) instead of
    /// stdin. `"$d"` is the destination. The producer may `exit 0` early to keep
    /// the live file (the temp file is removed by the trap).
    pub fn script_from(&self, producer: &str) -> String {
        let mut s = format!(
            "set -e\nd={}\num=$(umask)\numask 077\n\
             t=$(mktemp \"$d.fmc-tmp.XXXXXX\")\n\
             trap 'rm -f \"$t\"' EXIT\ntrap 'exit 129' HUP INT TERM\n\
             {producer}\
             if [ -e \"$d\" ]; then chmod --reference=\"$d\" \"$t\"; chown --reference=\"$d\" \"$t\" 2>/dev/null || true\n\
             else chmod \"$(printf '%o' $(( 0666 & ~0$um )))\" \"$t\"; fi\n\
             umask \"$um\"\n",
            quote(self.dest)
        );
        if let Some(a) = self.attrs {
            s.push_str(&a.script("\"$t\""));
        }
        if let Some(v) = self.validate {
            let cmd = v.replace("%s", "\"$t\"");
            s.push_str(&format!(
                "set +e\nout=$( {{ {cmd}\n}} 2>&1 )\nrc=$?\nset -e\n\
                 if [ $rc -ne 0 ]; then printf 'validation failed (rc=%s): %s\\n' \"$rc\" \"$out\" >&2; exit 1; fi\n"
            ));
        }
        if self.backup {
            s.push_str(BACKUP_SNIPPET);
        }
        s.push_str("mv -f -- \"$t\" \"$d\"\n");
        s
    }
}

/// Backs up `"$d"` (if it is a regular file) to `"$d.<YYYY-MM-DD@HH:MM:SS>~"` and
/// prints `fmc-backup <path>` (see [`parse_backup`]).
pub const BACKUP_SNIPPET: &str = "if [ -f \"$d\" ]; then b=\"$d.$(date +%Y-%m-%d@%H:%M:%S)~\"; cp -p -- \"$d\" \"$b\"; printf 'fmc-backup %s\\n' \"$b\"; fi\n";

/// The backup path printed by [`BACKUP_SNIPPET`], if any.
pub fn parse_backup(stdout: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stdout);
    let at = text.rfind("fmc-backup ")?;
    let rest = &text[at + "fmc-backup ".len()..];
    Some(rest.strip_suffix('\n').unwrap_or(rest).to_string())
}

/// Checks a `validate` parameter: it must contain `%s`.
pub fn check_validate(module: &str, validate: Option<&str>) -> Result<(), fmc_core::ParamError> {
    match validate {
        Some(v) if !v.contains("%s") => Err(fmc_core::ParamError::Invalid {
            module: module.into(),
            param: "validate".into(),
            msg: "must contain %s (the file to check)".into(),
        }),
        _ => Ok(()),
    }
}

/// Text for one side of a diff: `None` for absent, a note for binary or unknown content.
fn diff_side(content: Option<&[u8]>, known: bool) -> String {
    match content {
        _ if !known => "(content not available: file too large or unreadable)\n".into(),
        None => String::new(),
        Some(b) if b.contains(&0) => format!("(binary content, {} bytes)\n", b.len()),
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) => s.to_string(),
            Err(_) => format!("(binary content, {} bytes)\n", b.len()),
        },
    }
}

/// A [`FileDiff`] between the current file and the new content. `before` is `None`
/// for a file that does not exist; `before_known` is false when the current content
/// was not fetched (too large, unreadable).
pub fn file_diff(
    path: &str,
    before: Option<&[u8]>,
    before_known: bool,
    after: &[u8],
    after_header: Option<&str>,
) -> FileDiff {
    FileDiff {
        before_header: path.to_string(),
        after_header: after_header.unwrap_or(path).to_string(),
        before: diff_side(before, before_known),
        after: diff_side(Some(after), true),
    }
}

/// A unified diff of `d` (headers `before: X` / `after: Y`), for reporters.
pub fn render_unified(d: &FileDiff) -> String {
    similar::TextDiff::from_lines(&d.before, &d.after)
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("before: {}", d.before_header),
            &format!("after: {}", d.after_header),
        )
        .to_string()
}

/// Converts a Python `re` replacement template (`\1`, `\g<1>`, `\g<name>`, `\n`) into
/// the `regex` crate's syntax (`${1}`, `${name}`, literal `$` doubled).
pub fn python_replacement(template: &str) -> String {
    let mut out = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek().copied() {
                Some(d) if d.is_ascii_digit() => {
                    let mut num = String::new();
                    while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                        num.push(d);
                        chars.next();
                        if num.len() == 2 {
                            break;
                        }
                    }
                    out.push_str(&format!("${{{num}}}"));
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
                Some('\\') => {
                    chars.next();
                    out.push('\\');
                }
                _ => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    out
}

/// Lowercase hex sha256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex_string(&sha2::Sha256::digest(data))
}

/// Lowercase hex sha1 of `data` (Ansible's `checksum`).
pub fn sha1_hex(data: &[u8]) -> String {
    use sha1::Digest;
    hex_string(&sha1::Sha1::digest(data))
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn symbolic_modes() {
        let cases = [
            (0o644, "u=rw,g=r,o=", false, 0o640),
            (0o600, "g+r,o+r", false, 0o644),
            (0o755, "go-w", false, 0o755),
            (0o777, "o-rwx", false, 0o770),
            (0o644, "a+X", false, 0o644),
            (0o744, "a+X", false, 0o755),
            (0o600, "a+X", true, 0o711),
            (0o755, "u+s", false, 0o4755),
            (0o755, "+t", true, 0o1755),
            (0o4755, "u=rwx", false, 0o0755),
            (0o000, "u=rw-w+x", false, 0o500),
        ];
        for (cur, spec, dir, want) in cases {
            assert_eq!(
                apply_symbolic(cur, spec, dir).unwrap(),
                want,
                "{cur:o} {spec}"
            );
        }
        assert!(apply_symbolic(0o644, "g=u", false).is_err());
        assert!(apply_symbolic(0o644, "rw", false).is_err());
    }

    #[test]
    fn parses_records() {
        let out = b"junk\nfmc-file file\nparent 1\numask 0022\nstat 640 0 42 5 1700000000 root my group\nsha256 abc\ncontent aGVsbG8=\nfmc-file absent\nparent 0\numask 0077\n";
        let v = parse_files(out).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].kind, FileKind::File);
        assert_eq!(v[0].mode, 0o640);
        assert_eq!(v[0].gid, 42);
        assert_eq!(v[0].group, "my group");
        assert_eq!(v[0].content.as_deref(), Some(&b"hello"[..]));
        assert_eq!(v[0].mode_string(), "0640");
        assert_eq!(v[1].kind, FileKind::Absent);
        assert!(!v[1].parent_exists);
        assert_eq!(v[1].umask, 0o077);
        assert!(parse_files(b"fmc-file weird\n").is_err());
        assert!(parse_files(b"fmc-file file\nstat x\n").is_err());
    }

    #[test]
    fn drift_by_name_and_id() {
        let have = parse_files(b"fmc-file file\nstat 644 1000 1000 1 1 app app\n").unwrap();
        let want = Attributes {
            mode: Some(Mode::Octal(0o644)),
            owner: Some("1000".into()),
            group: Some("app".into()),
        };
        assert!(want.drift(&have[0]).unwrap().is_empty());
        let want = Attributes {
            mode: Some(Mode::Symbolic("go-r".into())),
            owner: Some("root".into()),
            group: None,
        };
        let d = want.drift(&have[0]).unwrap();
        assert_eq!(
            d.changes("/x"),
            vec!["mode 0644 -> 0600 on /x", "owner app -> root on /x"]
        );
        assert_eq!(
            d.script("\"$t\""),
            "chown -h -- root \"$t\"\nchmod -- 0600 \"$t\"\n"
        );
    }

    #[test]
    fn binary_diff_is_a_note() {
        let d = file_diff("/x", Some(b"a\0b"), true, b"text\n", Some("src/x"));
        assert_eq!(d.before, "(binary content, 3 bytes)\n");
        assert_eq!(d.after_header, "src/x");
        let d = file_diff("/x", Some(b"a\n"), true, b"b\n", None);
        let u = render_unified(&d);
        assert!(u.contains("--- before: /x"), "{u}");
        assert!(u.contains("-a\n+b\n"), "{u}");
    }

    #[test]
    fn python_replacements() {
        assert_eq!(python_replacement(r"a\1b\g<2>\g<x>$"), "a${1}b${2}${x}$$");
        assert_eq!(python_replacement(r"x\ny\\z"), "x\ny\\z");
    }

    #[test]
    fn backup_path_parsed() {
        assert_eq!(
            parse_backup(b"fmc-backup /etc/a b.2024-01-01@00:00:00~\n").as_deref(),
            Some("/etc/a b.2024-01-01@00:00:00~")
        );
        assert_eq!(parse_backup(b""), None);
    }
}
