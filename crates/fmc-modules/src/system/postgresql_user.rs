//! `postgresql_user`: a PostgreSQL role, its attributes, connection limit and
//! password (a subset of `community.postgresql.postgresql_user`).
//!
//! Parameters: `name` (`user`), `password`, `state` (present/absent),
//! `role_attr_flags` (`CREATEDB,NOSUPERUSER`, or a list; SUPERUSER, CREATEROLE,
//! CREATEDB, INHERIT, LOGIN, REPLICATION, BYPASSRLS and their NO forms),
//! `conn_limit`, `no_password_changes`, `encrypted` (only true), `login_user`
//! (default `postgres`), `login_unix_socket`, `db` (`login_db`, default
//! `postgres`), `port`. Not supported: `priv`, `expires`, `groups`, TCP logins
//! (`login_host`, `login_password`), `fail_on_user`.
//!
//! A new role gets LOGIN unless `role_attr_flags` says NOLOGIN (Ansible creates
//! users). An existing role changes only the attributes that are given.
//!
//! `password` is either the plaintext (ASCII; checked against the stored
//! SCRAM-SHA-256 verifier on the controller, replaced by a new verifier only when it
//! does not match), a `SCRAM-SHA-256$...` verifier (stored as given), or the empty
//! string (no password: `PASSWORD NULL`). Neither the plaintext nor a verifier ever
//! appears in a change, a diff, the result or a command line.

use fmc_core::lenient;
use fmc_core::module::parse_params;
use fmc_core::{
    Action, CheckSupport, ExecOutput, FileDiff, Map, ModuleCtx, ModuleError, ModuleInfo, Outcome,
    ParamError, Plan, PreparedModule, Probe, Secret, Value,
};
use serde::Deserialize;

use super::group::Presence;
use super::postgres::{
    Login, finish_psql, hashable, is_verifier, new_scram_verifier, probe_stdout, quote_ident,
    quote_literal, scram_matches, valid_name,
};
use super::{Factory, invalid};

pub(crate) const FACTORY: Factory = Factory {
    info: ModuleInfo {
        name: "postgresql_user",
        aliases: &["community.postgresql.postgresql_user"],
        params: &[
            "name",
            "user",
            "password",
            "state",
            "role_attr_flags",
            "conn_limit",
            "no_password_changes",
            "encrypted",
            "login_user",
            "login_unix_socket",
            "db",
            "login_db",
            "port",
        ],
        required: &["name|user"],
        free_form: false,
        check: CheckSupport::Full,
        diff: true,
    },
    prepare,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(alias = "user", deserialize_with = "lenient::string")]
    name: String,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    password: Option<String>,
    #[serde(default)]
    state: Option<Presence>,
    #[serde(default, deserialize_with = "lenient::string_list")]
    role_attr_flags: Vec<String>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    conn_limit: Option<i64>,
    #[serde(default, deserialize_with = "lenient::bool")]
    no_password_changes: bool,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    encrypted: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    login_user: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    login_unix_socket: Option<String>,
    #[serde(default, alias = "login_db", deserialize_with = "lenient::opt_string")]
    db: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    port: Option<i64>,
}

/// Role attributes: keyword and `pg_authid` column.
const ATTRS: [(&str, &str); 7] = [
    ("SUPERUSER", "rolsuper"),
    ("CREATEROLE", "rolcreaterole"),
    ("CREATEDB", "rolcreatedb"),
    ("INHERIT", "rolinherit"),
    ("LOGIN", "rolcanlogin"),
    ("REPLICATION", "rolreplication"),
    ("BYPASSRLS", "rolbypassrls"),
];
/// Indexes into [`ATTRS`] of the attributes a new role gets by default.
const INHERIT: usize = 3;
const LOGIN: usize = 4;

/// The wanted password.
enum Password {
    /// No password (`PASSWORD NULL`).
    Null,
    /// A SCRAM verifier, stored as given.
    Verifier(Secret<String>),
    /// An ASCII plaintext, hashed on the controller.
    Plain(Secret<String>),
}

struct PgUser {
    name: String,
    state: Presence,
    /// Wanted value per [`ATTRS`] index, `None` = leave alone.
    attrs: [Option<bool>; 7],
    conn_limit: Option<i64>,
    password: Option<Password>,
    no_password_changes: bool,
    login: Login,
}

/// Parses `role_attr_flags` into wanted values per [`ATTRS`] index.
fn parse_flags(flags: &[String]) -> Result<[Option<bool>; 7], String> {
    let mut out = [None; 7];
    for f in flags {
        let f = f.trim().to_ascii_uppercase();
        if f.is_empty() {
            continue;
        }
        let (word, on) = match f.strip_prefix("NO") {
            Some(rest) if ATTRS.iter().any(|(k, _)| *k == rest) => (rest.to_string(), false),
            _ => (f.clone(), true),
        };
        let i = ATTRS.iter().position(|(k, _)| *k == word).ok_or_else(|| {
            let all: Vec<&str> = ATTRS.iter().map(|(k, _)| *k).collect();
            format!(
                "unknown role attribute '{f}' (expected {} or their NO forms)",
                all.join(", ")
            )
        })?;
        if out[i] == Some(!on) {
            return Err(format!("role attribute {word} is given both on and off"));
        }
        out[i] = Some(on);
    }
    Ok(out)
}

fn prepare(info: &ModuleInfo, args: &Map) -> Result<Box<dyn PreparedModule>, ParamError> {
    let p: Params = parse_params(info, args)?;
    if !valid_name(&p.name) {
        return Err(invalid(
            info,
            "name",
            "must be 1 to 63 bytes without NUL characters",
        ));
    }
    let attrs = parse_flags(&p.role_attr_flags).map_err(|m| invalid(info, "role_attr_flags", m))?;
    if p.conn_limit.is_some_and(|c| c < -1) {
        return Err(invalid(info, "conn_limit", "must be -1 (no limit) or more"));
    }
    if p.encrypted == Some(false) {
        return Err(invalid(
            info,
            "encrypted",
            "unencrypted passwords are not supported (PostgreSQL 10 removed them)",
        ));
    }
    // never echo the value in these messages
    let password = match p.password {
        None => None,
        Some(pw) if pw.is_empty() => Some(Password::Null),
        Some(pw) if pw.starts_with("SCRAM-SHA-256$") => {
            if !is_verifier(&pw) {
                return Err(invalid(
                    info,
                    "password",
                    "looks like a SCRAM-SHA-256 verifier but is malformed",
                ));
            }
            Some(Password::Verifier(Secret::new(pw)))
        }
        Some(pw) if pw.len() == 35 && pw.starts_with("md5") => {
            return Err(invalid(
                info,
                "password",
                "md5 password hashes are not supported\nhint: give the plaintext (from a vault variable) or a SCRAM-SHA-256 verifier",
            ));
        }
        Some(pw) if !hashable(&pw) || pw.contains('\0') => {
            return Err(invalid(
                info,
                "password",
                "a plaintext password must be ASCII without NUL (PostgreSQL normalises other text with SASLprep)\nhint: give a SCRAM-SHA-256 verifier instead",
            ));
        }
        Some(pw) => Some(Password::Plain(Secret::new(pw))),
    };
    let login_user = p.login_user.unwrap_or_else(|| "postgres".into());
    let db = p.db.unwrap_or_else(|| "postgres".into());
    for (param, v) in [("login_user", &login_user), ("db", &db)] {
        if !valid_name(v) {
            return Err(invalid(
                info,
                param,
                "must be 1 to 63 bytes without NUL characters",
            ));
        }
    }
    let port = match p.port {
        None => None,
        Some(n) => Some(
            u16::try_from(n)
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| invalid(info, "port", format!("{n} is not a TCP port")))?,
        ),
    };
    Ok(Box::new(PgUser {
        name: p.name,
        state: p.state.unwrap_or(Presence::Present),
        attrs,
        conn_limit: p.conn_limit,
        password,
        no_password_changes: p.no_password_changes,
        login: Login {
            user: login_user,
            db,
            socket: p.login_unix_socket,
            port,
        },
    }))
}

/// The role as `pg_authid` has it.
#[derive(Deserialize)]
struct Current {
    rolsuper: bool,
    rolcreaterole: bool,
    rolcreatedb: bool,
    rolinherit: bool,
    rolcanlogin: bool,
    rolreplication: bool,
    rolbypassrls: bool,
    rolconnlimit: i64,
    /// Only read when a password is wanted.
    rolpassword: Option<String>,
}

impl Current {
    fn attrs(&self) -> [bool; 7] {
        [
            self.rolsuper,
            self.rolcreaterole,
            self.rolcreatedb,
            self.rolinherit,
            self.rolcanlogin,
            self.rolreplication,
            self.rolbypassrls,
        ]
    }
}

/// How a stored password is described (never its value).
fn describe_password(stored: Option<&str>) -> &'static str {
    match stored {
        None => "none",
        Some(s) if s.starts_with("SCRAM-SHA-256$") => "scram-sha-256",
        Some(s) if s.starts_with("md5") => "md5",
        Some(_) => "other",
    }
}

/// The text `--diff` shows for a role (attributes, connection limit, password kind).
fn render(attrs: [bool; 7], conn_limit: i64, password: Option<&str>) -> String {
    let mut s = String::new();
    for (i, (k, _)) in ATTRS.iter().enumerate() {
        let k = if attrs[i] {
            k.to_string()
        } else {
            format!("NO{k}")
        };
        s.push_str(&format!("{k}\n"));
    }
    s.push_str(&format!("CONNECTION LIMIT {conn_limit}\n"));
    if let Some(p) = password {
        s.push_str(&format!("PASSWORD {p}\n"));
    }
    s
}

impl PgUser {
    fn probe_sql(&self) -> String {
        let cols: Vec<&str> = ATTRS.iter().map(|(_, c)| *c).collect();
        let pw = if self.password.is_some() {
            "rolpassword"
        } else {
            "NULL AS rolpassword"
        };
        format!(
            "SELECT row_to_json(r) FROM (SELECT {}, rolconnlimit, {pw} FROM pg_authid WHERE rolname = {}) r;\n",
            cols.join(", "),
            quote_literal(&self.name)
        )
    }

    fn parse(&self, out: Option<&ExecOutput>) -> Result<Option<Current>, ModuleError> {
        let text = probe_stdout(out)?;
        let Some(line) = text.lines().map(str::trim).find(|l| !l.is_empty()) else {
            return Ok(None);
        };
        serde_json::from_str(line)
            .map(Some)
            // the line may hold the verifier: do not echo it
            .map_err(|e| ModuleError::Probe(format!("pg_authid row for {}: {e}", self.name)))
    }

    /// The `PASSWORD ...` clause to apply (real, shown) and whether it changes anything.
    fn password_clause(
        &self,
        stored: Option<&str>,
        creating: bool,
    ) -> Result<Option<(String, String)>, ModuleError> {
        let Some(want) = &self.password else {
            return Ok(None);
        };
        if self.no_password_changes && !creating {
            return Ok(None);
        }
        let shown = "PASSWORD '********'".to_string();
        let clause = match want {
            Password::Null if stored.is_none() => None,
            Password::Null => Some(("PASSWORD NULL".to_string(), "PASSWORD NULL".to_string())),
            Password::Verifier(v) if stored == Some(v.expose().as_str()) => None,
            Password::Verifier(v) => {
                Some((format!("PASSWORD {}", quote_literal(v.expose())), shown))
            }
            Password::Plain(p) => match stored {
                Some(s) if scram_matches(p.expose(), s)? => None,
                _ => Some((
                    format!(
                        "PASSWORD {}",
                        quote_literal(&new_scram_verifier(p.expose())?)
                    ),
                    shown,
                )),
            },
        };
        Ok(clause)
    }
}

impl PreparedModule for PgUser {
    fn probe(&self, _ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        Ok(Some(Probe {
            script: self.login.psql_script(),
            stdin: Some(self.probe_sql().into_bytes()),
        }))
    }

    fn plan(&self, _ctx: &ModuleCtx<'_>, probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        let cur = self.parse(probe)?;
        let ident = quote_ident(&self.name);
        let mut plan = Plan::default();
        plan.result.insert("user".into(), self.name.clone().into());
        // (statement, statement as shown in the result)
        let mut sql: Vec<(String, String)> = vec![];
        let header = format!("role {}", self.name);
        match (&cur, self.state) {
            (None, Presence::Absent) => {
                plan.reason = Some(format!("role {} does not exist", self.name));
            }
            (Some(c), Presence::Absent) => {
                plan.changes.push(format!("drop role {}", self.name));
                let s = format!("DROP ROLE {ident};");
                sql.push((s.clone(), s));
                plan.diff = Some(FileDiff {
                    before_header: header.clone(),
                    after_header: header,
                    before: render(c.attrs(), c.rolconnlimit, None),
                    after: String::new(),
                });
            }
            (None, Presence::Present) => {
                let mut attrs = [false; 7];
                attrs[INHERIT] = true;
                attrs[LOGIN] = true;
                for (i, w) in self.attrs.iter().enumerate() {
                    if let Some(w) = w {
                        attrs[i] = *w;
                    }
                }
                let mut opts: Vec<String> = ATTRS
                    .iter()
                    .enumerate()
                    .map(|(i, (k, _))| {
                        if attrs[i] {
                            k.to_string()
                        } else {
                            format!("NO{k}")
                        }
                    })
                    .collect();
                let limit = self.conn_limit.unwrap_or(-1);
                opts.push(format!("CONNECTION LIMIT {limit}"));
                let base = format!("CREATE ROLE {ident} WITH {}", opts.join(" "));
                plan.changes.push(format!("create role {}", self.name));
                let (real, shown) = match self.password_clause(None, true)? {
                    Some((r, s)) => {
                        plan.changes
                            .push(format!("set the password of role {}", self.name));
                        (format!("{base} {r};"), format!("{base} {s};"))
                    }
                    None => (format!("{base};"), format!("{base};")),
                };
                sql.push((real, shown));
                let pw = self.password.as_ref().map(|p| match p {
                    Password::Null => "none",
                    _ => "scram-sha-256",
                });
                plan.diff = Some(FileDiff {
                    before_header: header.clone(),
                    after_header: header,
                    before: String::new(),
                    after: render(attrs, limit, pw),
                });
            }
            (Some(c), Presence::Present) => {
                let have = c.attrs();
                let mut after = have;
                let mut opts: Vec<String> = vec![];
                for (i, w) in self.attrs.iter().enumerate() {
                    if let Some(w) = *w
                        && w != have[i]
                    {
                        let k = ATTRS[i].0;
                        let word = if w { k.to_string() } else { format!("NO{k}") };
                        plan.changes
                            .push(format!("set {word} on role {}", self.name));
                        opts.push(word);
                        after[i] = w;
                    }
                }
                let mut limit = c.rolconnlimit;
                if let Some(l) = self.conn_limit.filter(|l| *l != c.rolconnlimit) {
                    plan.changes.push(format!(
                        "set the connection limit of role {} to {l} (currently {})",
                        self.name, c.rolconnlimit
                    ));
                    opts.push(format!("CONNECTION LIMIT {l}"));
                    limit = l;
                }
                let stored = c.rolpassword.as_deref();
                let before_pw = self.password.as_ref().map(|_| describe_password(stored));
                let mut after_pw = before_pw;
                let mut shown_opts = opts.clone();
                if let Some((real, shown)) = self.password_clause(stored, false)? {
                    let (what, kind) = if real == "PASSWORD NULL" {
                        ("remove", "none")
                    } else {
                        ("set", "scram-sha-256 (new)")
                    };
                    plan.changes
                        .push(format!("{what} the password of role {}", self.name));
                    opts.push(real);
                    shown_opts.push(shown);
                    after_pw = Some(kind);
                }
                if opts.is_empty() {
                    plan.reason = Some(format!("role {} already as requested", self.name));
                } else {
                    sql.push((
                        format!("ALTER ROLE {ident} WITH {};", opts.join(" ")),
                        format!("ALTER ROLE {ident} WITH {};", shown_opts.join(" ")),
                    ));
                    plan.diff = Some(FileDiff {
                        before_header: header.clone(),
                        after_header: header,
                        before: render(have, c.rolconnlimit, before_pw),
                        after: render(after, limit, after_pw),
                    });
                }
            }
        }
        plan.result.insert(
            "queries".into(),
            Value::Array(sql.iter().map(|(_, s)| Value::String(s.clone())).collect()),
        );
        if !sql.is_empty() {
            let stdin: String = sql.iter().map(|(s, _)| format!("{s}\n")).collect();
            plan.actions.push(Action::exec_with_stdin(
                self.login.psql_script(),
                stdin.into_bytes(),
            ));
        }
        Ok(plan)
    }

    fn finish(&self, plan: &Plan, outputs: &[ExecOutput]) -> Result<Outcome, ModuleError> {
        finish_psql(plan, outputs)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::system::postgres::scram_verifier;
    use fmc_core::{ControllerFiles, ModuleFactory};
    use serde_json::json;
    use std::path::{Path, PathBuf};

    struct NoFiles;
    impl ControllerFiles for NoFiles {
        fn find(&self, _: &str, _: bool) -> Result<PathBuf, String> {
            Err("none".into())
        }
        fn read(&self, _: &Path) -> Result<Vec<u8>, String> {
            Err("none".into())
        }
        fn render(&self, _: &Path) -> Result<String, String> {
            Err("none".into())
        }
    }

    const PENCIL: &str = "SCRAM-SHA-256$4096:tsKyYo5wM/DNQyAkQIFWiw==$2cVQxNSdpFsD1BK8i+Gh6bZ3DtU7gKf+ZcTscqU9iNU=:kYE7ptQdCdode5Zm/Uqz8XJRYypRsAw5ueV56X9LH6o=";

    fn prepared(args: Value) -> Box<dyn PreparedModule> {
        FACTORY.prepare(args.as_object().unwrap()).unwrap()
    }

    fn plan_with(args: Value, row: Option<Value>) -> Plan {
        let m = prepared(args);
        let vars = Map::new();
        let ctx = ModuleCtx {
            host: "h",
            facts: None,
            files: &NoFiles,
            vars: &vars,
        };
        let stdout = row.map(|r| format!("{r}\n")).unwrap_or_default();
        let out = ExecOutput {
            rc: 0,
            stdout: stdout.into_bytes(),
            stderr: vec![],
        };
        m.plan(&ctx, Some(&out)).unwrap()
    }

    fn row(password: Option<&str>) -> Value {
        json!({"rolsuper": false, "rolcreaterole": false, "rolcreatedb": true, "rolinherit": true,
               "rolcanlogin": true, "rolreplication": false, "rolbypassrls": false,
               "rolconnlimit": -1, "rolpassword": password})
    }

    fn stdin(plan: &Plan) -> String {
        match &plan.actions[..] {
            [Action::Exec { stdin: Some(s), .. }] => String::from_utf8(s.clone()).unwrap(),
            other => panic!("unexpected actions {other:?}"),
        }
    }

    fn everything_shown(plan: &Plan) -> String {
        format!(
            "{:?} {:?} {:?} {:?}",
            plan.changes, plan.reason, plan.diff, plan.result
        )
    }

    #[test]
    fn matching_password_changes_nothing_and_sends_nothing() {
        let p = plan_with(
            json!({"name": "app", "password": "pencil", "role_attr_flags": "CREATEDB,LOGIN"}),
            Some(row(Some(PENCIL))),
        );
        assert!(!p.changed(), "{:?}", p.changes);
        assert!(p.actions.is_empty());
        assert_eq!(p.result["queries"], json!([]));
    }

    #[test]
    fn wrong_password_sends_a_fresh_verifier_on_stdin_only() {
        let p = plan_with(
            json!({"name": "app", "password": "hunter22"}),
            Some(row(Some(PENCIL))),
        );
        assert_eq!(p.changes, vec!["set the password of role app"]);
        let sql = stdin(&p);
        let v = sql
            .strip_prefix("ALTER ROLE \"app\" WITH PASSWORD '")
            .and_then(|s| s.strip_suffix("';\n"))
            .unwrap();
        assert!(scram_matches("hunter22", v).unwrap(), "{sql}");
        let shown = everything_shown(&p);
        assert!(
            !shown.contains("hunter22") && !shown.contains("SCRAM-SHA-256$"),
            "{shown}"
        );
        match &p.actions[0] {
            Action::Exec { script, .. } => {
                assert!(!script.contains("hunter22") && !script.contains("SCRAM"))
            }
            a => panic!("{a:?}"),
        }
        assert_eq!(
            p.result["queries"],
            json!(["ALTER ROLE \"app\" WITH PASSWORD '********';"])
        );
        let d = p.diff.unwrap();
        assert_eq!(d.before.lines().last(), Some("PASSWORD scram-sha-256"));
        assert_eq!(d.after.lines().last(), Some("PASSWORD scram-sha-256 (new)"));
    }

    #[test]
    fn md5_or_missing_stored_password_is_replaced() {
        for stored in [None, Some("md5a3556571e93b0d20722ba62be61e8c2d")] {
            let p = plan_with(
                json!({"name": "app", "password": "pencil"}),
                Some(row(stored)),
            );
            assert_eq!(p.changes, vec!["set the password of role app"]);
        }
    }

    #[test]
    fn no_password_changes_keeps_an_existing_password() {
        let p = plan_with(
            json!({"name": "app", "password": "other", "no_password_changes": true}),
            Some(row(Some(PENCIL))),
        );
        assert!(!p.changed());
    }

    #[test]
    fn given_verifier_is_compared_and_stored_as_is() {
        let p = plan_with(
            json!({"name": "app", "password": PENCIL}),
            Some(row(Some(PENCIL))),
        );
        assert!(!p.changed());
        let salt = [7u8; 16];
        let other = scram_verifier("x", &salt, 4096).unwrap();
        let p = plan_with(
            json!({"name": "app", "password": other}),
            Some(row(Some(PENCIL))),
        );
        assert_eq!(
            stdin(&p),
            format!("ALTER ROLE \"app\" WITH PASSWORD '{other}';\n")
        );
    }

    #[test]
    fn creates_a_login_role_with_flags_and_password() {
        let p = plan_with(
            json!({"user": "we\"ird", "password": "pencil", "role_attr_flags": ["createdb", "NOINHERIT"], "conn_limit": 5}),
            None,
        );
        assert_eq!(
            p.changes,
            vec!["create role we\"ird", "set the password of role we\"ird"]
        );
        let sql = stdin(&p);
        assert!(
            sql.starts_with("CREATE ROLE \"we\"\"ird\" WITH NOSUPERUSER NOCREATEROLE CREATEDB NOINHERIT LOGIN NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 5 PASSWORD 'SCRAM-SHA-256$4096:"),
            "{sql}"
        );
        assert!(
            p.diff
                .unwrap()
                .after
                .contains("CREATEDB\nNOINHERIT\nLOGIN\n")
        );
    }

    #[test]
    fn alters_only_given_attributes() {
        let p = plan_with(
            json!({"name": "app", "role_attr_flags": "NOCREATEDB,LOGIN,NOSUPERUSER", "conn_limit": 10}),
            Some(row(None)),
        );
        assert_eq!(
            stdin(&p),
            "ALTER ROLE \"app\" WITH NOCREATEDB CONNECTION LIMIT 10;\n"
        );
        assert_eq!(p.changes.len(), 2);
    }

    #[test]
    fn empty_password_removes_it() {
        let p = plan_with(
            json!({"name": "app", "password": ""}),
            Some(row(Some(PENCIL))),
        );
        assert_eq!(stdin(&p), "ALTER ROLE \"app\" WITH PASSWORD NULL;\n");
        let p = plan_with(json!({"name": "app", "password": ""}), Some(row(None)));
        assert!(!p.changed());
    }

    #[test]
    fn absent_drops_only_an_existing_role() {
        let p = plan_with(json!({"name": "app", "state": "absent"}), Some(row(None)));
        assert_eq!(stdin(&p), "DROP ROLE \"app\";\n");
        let p = plan_with(json!({"name": "app", "state": "absent"}), None);
        assert!(!p.changed() && p.actions.is_empty());
    }

    #[test]
    fn probe_reads_the_verifier_only_when_a_password_is_wanted() {
        let vars = Map::new();
        let ctx = ModuleCtx {
            host: "h",
            facts: None,
            files: &NoFiles,
            vars: &vars,
        };
        let sql = |args: Value| {
            let p = prepared(args).probe(&ctx).unwrap().unwrap();
            String::from_utf8(p.stdin.unwrap()).unwrap()
        };
        let with = sql(json!({"name": "it's", "password": "x"}));
        assert!(
            with.contains(", rolpassword FROM pg_authid WHERE rolname = 'it''s'"),
            "{with}"
        );
        assert!(sql(json!({"name": "a"})).contains("NULL AS rolpassword"));
    }

    #[test]
    fn psql_errors_fail_with_a_hint() {
        let m = prepared(json!({"name": "app"}));
        let vars = Map::new();
        let ctx = ModuleCtx {
            host: "h",
            facts: None,
            files: &NoFiles,
            vars: &vars,
        };
        let out = ExecOutput {
            rc: 2,
            stdout: vec![],
            stderr: b"psql: error: connection to server on socket \"/var/run/postgresql/.s.PGSQL.5432\" failed: No such file or directory".to_vec(),
        };
        let e = m.plan(&ctx, Some(&out)).err().unwrap().to_string();
        assert!(
            e.starts_with("psql failed (rc=2): psql: error: connection"),
            "{e}"
        );
    }

    #[test]
    fn bad_parameters_are_rejected_without_echoing_secrets() {
        let bad = |args: Value| {
            FACTORY
                .prepare(args.as_object().unwrap())
                .err()
                .unwrap()
                .to_string()
        };
        let e = bad(json!({"name": "app", "password": "pässwörd"}));
        assert!(
            e.contains("must be ASCII") && !e.contains("pässwörd"),
            "{e}"
        );
        let e = bad(json!({"name": "app", "password": "md5a3556571e93b0d20722ba62be61e8c2d"}));
        assert!(e.contains("md5") && !e.contains("a3556571"), "{e}");
        let e = bad(json!({"name": "app", "password": "SCRAM-SHA-256$nope"}));
        assert!(e.contains("malformed") && !e.contains("nope"), "{e}");
        assert!(bad(json!({"name": "app", "role_attr_flags": "CREATEDB,FLY"})).contains("'FLY'"));
        assert!(bad(json!({"name": "app", "role_attr_flags": "LOGIN,NOLOGIN"})).contains("both"));
        assert!(bad(json!({"name": "app", "encrypted": false})).contains("unencrypted"));
        assert!(bad(json!({"name": "app", "port": 70000})).contains("not a TCP port"));
        assert!(bad(json!({"name": ""})).contains("1 to 63 bytes"));
    }
}
