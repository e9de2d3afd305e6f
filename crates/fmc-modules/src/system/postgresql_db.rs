//! `postgresql_db`: a PostgreSQL database, its owner and connection limit (a subset of
//! `community.postgresql.postgresql_db`).
//!
//! Parameters: `name` (`db`, `datname`), `state` (present/absent), `owner`,
//! `encoding`, `lc_collate`, `lc_ctype`, `template`, `conn_limit`, `login_user`
//! (default `postgres`), `login_unix_socket`, `maintenance_db` (default
//! `postgres`), `port`. Not supported: states dump/restore/rename, `tablespace`,
//! TCP logins.
//!
//! Encoding and locales are set at creation; an existing database whose encoding or
//! locales differ fails the task (PostgreSQL cannot change them), as in Ansible.
//! Unlike Ansible, a database created with `encoding`/`lc_*` but no `template` is
//! copied from `template0`, the only template PostgreSQL lets change them.

use fmc_core::lenient;
use fmc_core::module::parse_params;
use fmc_core::{
    Action, CheckSupport, ExecOutput, FileDiff, Map, ModuleCtx, ModuleError, ModuleInfo, Outcome,
    ParamError, Plan, PreparedModule, Probe, Value,
};
use serde::Deserialize;

use super::group::Presence;
use super::postgres::{Login, finish_psql, probe_stdout, quote_ident, quote_literal, valid_name};
use super::{Factory, invalid};

pub(crate) const FACTORY: Factory = Factory {
    info: ModuleInfo {
        name: "postgresql_db",
        aliases: &["community.postgresql.postgresql_db"],
        params: &[
            "name",
            "db",
            "datname",
            "state",
            "owner",
            "encoding",
            "lc_collate",
            "lc_ctype",
            "template",
            "conn_limit",
            "login_user",
            "login_unix_socket",
            "maintenance_db",
            "port",
        ],
        required: &["name|db|datname"],
        free_form: false,
        check: CheckSupport::Full,
        diff: true,
    },
    prepare,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(alias = "db", alias = "datname", deserialize_with = "lenient::string")]
    name: String,
    #[serde(default)]
    state: Option<Presence>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    owner: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    encoding: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    lc_collate: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    lc_ctype: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    template: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    conn_limit: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    login_user: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    login_unix_socket: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    maintenance_db: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    port: Option<i64>,
}

struct PgDb {
    name: String,
    state: Presence,
    owner: Option<String>,
    encoding: Option<String>,
    lc_collate: Option<String>,
    lc_ctype: Option<String>,
    template: Option<String>,
    conn_limit: Option<i64>,
    login: Login,
}

fn prepare(info: &ModuleInfo, args: &Map) -> Result<Box<dyn PreparedModule>, ParamError> {
    let p: Params = parse_params(info, args)?;
    let login_user = p.login_user.unwrap_or_else(|| "postgres".into());
    let maintenance_db = p.maintenance_db.unwrap_or_else(|| "postgres".into());
    for (param, v) in [
        ("name", Some(&p.name)),
        ("owner", p.owner.as_ref()),
        ("template", p.template.as_ref()),
        ("login_user", Some(&login_user)),
        ("maintenance_db", Some(&maintenance_db)),
    ] {
        if v.is_some_and(|v| !valid_name(v)) {
            return Err(invalid(
                info,
                param,
                "must be 1 to 63 bytes without NUL characters",
            ));
        }
    }
    for (param, v) in [
        ("encoding", &p.encoding),
        ("lc_collate", &p.lc_collate),
        ("lc_ctype", &p.lc_ctype),
    ] {
        if v.as_deref()
            .is_some_and(|v| v.is_empty() || v.contains('\0'))
        {
            return Err(invalid(info, param, "must not be empty"));
        }
    }
    if p.conn_limit.is_some_and(|c| c < -1) {
        return Err(invalid(info, "conn_limit", "must be -1 (no limit) or more"));
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
    Ok(Box::new(PgDb {
        name: p.name,
        state: p.state.unwrap_or(Presence::Present),
        owner: p.owner,
        encoding: p.encoding,
        lc_collate: p.lc_collate,
        lc_ctype: p.lc_ctype,
        template: p.template,
        conn_limit: p.conn_limit,
        login: Login {
            user: login_user,
            db: maintenance_db,
            socket: p.login_unix_socket,
            port,
        },
    }))
}

/// The database as `pg_database` has it.
#[derive(Deserialize)]
struct Current {
    encoding: String,
    datcollate: String,
    datctype: String,
    owner: String,
    datconnlimit: i64,
}

/// Encoding and locale names compared as PostgreSQL and libc do: case and
/// punctuation in the codeset do not matter (`UTF-8` = `utf8`).
fn same_name(a: &str, b: &str) -> bool {
    let norm = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@'))
            .flat_map(char::to_lowercase)
            .collect()
    };
    norm(a) == norm(b)
}

fn render(owner: &str, encoding: &str, collate: &str, ctype: &str, limit: i64) -> String {
    format!(
        "OWNER {owner}\nENCODING {encoding}\nLC_COLLATE {collate}\nLC_CTYPE {ctype}\nCONNECTION LIMIT {limit}\n"
    )
}

impl PgDb {
    fn probe_sql(&self) -> String {
        format!(
            "SELECT row_to_json(r) FROM (SELECT pg_encoding_to_char(encoding) AS encoding, datcollate, datctype, pg_get_userbyid(datdba) AS owner, datconnlimit FROM pg_database WHERE datname = {}) r;\n",
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
            .map_err(|e| ModuleError::Probe(format!("pg_database row for {}: {e}", self.name)))
    }

    fn create(&self) -> String {
        let mut s = format!("CREATE DATABASE {}", quote_ident(&self.name));
        if let Some(o) = &self.owner {
            s.push_str(&format!(" OWNER {}", quote_ident(o)));
        }
        let locale_given =
            self.encoding.is_some() || self.lc_collate.is_some() || self.lc_ctype.is_some();
        match (&self.template, locale_given) {
            (Some(t), _) => s.push_str(&format!(" TEMPLATE {}", quote_ident(t))),
            (None, true) => s.push_str(" TEMPLATE template0"),
            (None, false) => {}
        }
        for (kw, v) in [
            ("ENCODING", &self.encoding),
            ("LC_COLLATE", &self.lc_collate),
            ("LC_CTYPE", &self.lc_ctype),
        ] {
            if let Some(v) = v {
                s.push_str(&format!(" {kw} {}", quote_literal(v)));
            }
        }
        if let Some(l) = self.conn_limit {
            s.push_str(&format!(" CONNECTION LIMIT {l}"));
        }
        s.push(';');
        s
    }
}

impl PreparedModule for PgDb {
    fn probe(&self, _ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        Ok(Some(Probe {
            script: self.login.psql_script(),
            stdin: Some(self.probe_sql().into_bytes()),
        }))
    }

    fn plan(&self, _ctx: &ModuleCtx<'_>, probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        let cur = self.parse(probe)?;
        let ident = quote_ident(&self.name);
        let header = format!("database {}", self.name);
        let mut plan = Plan::default();
        plan.result.insert("db".into(), self.name.clone().into());
        let mut sql: Vec<String> = vec![];
        match (&cur, self.state) {
            (None, Presence::Absent) => {
                plan.reason = Some(format!("database {} does not exist", self.name));
            }
            (Some(c), Presence::Absent) => {
                plan.changes.push(format!("drop database {}", self.name));
                sql.push(format!("DROP DATABASE {ident};"));
                plan.diff = Some(FileDiff {
                    before_header: header.clone(),
                    after_header: header,
                    before: render(
                        &c.owner,
                        &c.encoding,
                        &c.datcollate,
                        &c.datctype,
                        c.datconnlimit,
                    ),
                    after: String::new(),
                });
            }
            (None, Presence::Present) => {
                plan.changes.push(format!("create database {}", self.name));
                sql.push(self.create());
                let or = |v: &Option<String>, d: &str| v.clone().unwrap_or_else(|| d.into());
                plan.diff = Some(FileDiff {
                    before_header: header.clone(),
                    after_header: header,
                    before: String::new(),
                    after: render(
                        &or(&self.owner, &self.login.user),
                        &or(&self.encoding, "(template's)"),
                        &or(&self.lc_collate, "(template's)"),
                        &or(&self.lc_ctype, "(template's)"),
                        self.conn_limit.unwrap_or(-1),
                    ),
                });
            }
            (Some(c), Presence::Present) => {
                for (what, want, have) in [
                    ("encoding", &self.encoding, &c.encoding),
                    ("lc_collate", &self.lc_collate, &c.datcollate),
                    ("lc_ctype", &self.lc_ctype, &c.datctype),
                ] {
                    if let Some(w) = want.as_ref().filter(|w| !same_name(w, have)) {
                        return Ok(Plan::fail(format!(
                            "database {} exists with {what} {have}, not {w}: PostgreSQL cannot change it\nhint: dump, drop and re-create the database, or set {what}: {have}",
                            self.name
                        )));
                    }
                }
                let mut owner = c.owner.clone();
                if let Some(o) = self.owner.as_ref().filter(|o| **o != c.owner) {
                    plan.changes.push(format!(
                        "set the owner of database {} to {o} (currently {})",
                        self.name, c.owner
                    ));
                    sql.push(format!(
                        "ALTER DATABASE {ident} OWNER TO {};",
                        quote_ident(o)
                    ));
                    owner = o.clone();
                }
                let mut limit = c.datconnlimit;
                if let Some(l) = self.conn_limit.filter(|l| *l != c.datconnlimit) {
                    plan.changes.push(format!(
                        "set the connection limit of database {} to {l} (currently {})",
                        self.name, c.datconnlimit
                    ));
                    sql.push(format!("ALTER DATABASE {ident} CONNECTION LIMIT {l};"));
                    limit = l;
                }
                if sql.is_empty() {
                    plan.reason = Some(format!("database {} already as requested", self.name));
                } else {
                    let r = |o: &str, l: i64| render(o, &c.encoding, &c.datcollate, &c.datctype, l);
                    plan.diff = Some(FileDiff {
                        before_header: header.clone(),
                        after_header: header,
                        before: r(&c.owner, c.datconnlimit),
                        after: r(&owner, limit),
                    });
                }
            }
        }
        plan.result.insert(
            "executed_commands".into(),
            Value::Array(sql.iter().cloned().map(Value::String).collect()),
        );
        if !sql.is_empty() {
            let stdin: String = sql.iter().map(|s| format!("{s}\n")).collect();
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

    fn plan_with(args: Value, row: Option<Value>) -> Plan {
        let m = FACTORY.prepare(args.as_object().unwrap()).unwrap();
        let vars = Map::new();
        let ctx = ModuleCtx {
            host: "h",
            facts: None,
            files: &NoFiles,
            vars: &vars,
        };
        let probe = m.probe(&ctx).unwrap().unwrap();
        let sql = String::from_utf8(probe.stdin.unwrap()).unwrap();
        assert!(sql.contains("WHERE datname = "), "{sql}");
        let out = ExecOutput {
            rc: 0,
            stdout: row
                .map(|r| format!("{r}\n"))
                .unwrap_or_default()
                .into_bytes(),
            stderr: vec![],
        };
        m.plan(&ctx, Some(&out)).unwrap()
    }

    fn row() -> Value {
        json!({"encoding": "UTF8", "datcollate": "C.UTF-8", "datctype": "C.UTF-8", "owner": "app", "datconnlimit": -1})
    }

    fn stdin(plan: &Plan) -> String {
        match &plan.actions[..] {
            [Action::Exec { stdin: Some(s), .. }] => String::from_utf8(s.clone()).unwrap(),
            other => panic!("unexpected actions {other:?}"),
        }
    }

    #[test]
    fn existing_database_as_wanted_is_in_sync() {
        let p = plan_with(
            json!({"name": "app", "owner": "app", "encoding": "utf-8", "lc_collate": "C.utf8"}),
            Some(row()),
        );
        assert!(!p.changed() && p.actions.is_empty(), "{:?}", p.changes);
    }

    #[test]
    fn creates_with_owner_from_template0_when_encoding_is_given() {
        let p = plan_with(
            json!({"db": "my'db", "owner": "o\"x", "encoding": "UTF8", "conn_limit": 3}),
            None,
        );
        assert_eq!(
            stdin(&p),
            "CREATE DATABASE \"my'db\" OWNER \"o\"\"x\" TEMPLATE template0 ENCODING 'UTF8' CONNECTION LIMIT 3;\n"
        );
        let p = plan_with(json!({"name": "app"}), None);
        assert_eq!(stdin(&p), "CREATE DATABASE \"app\";\n");
        assert_eq!(
            p.result["executed_commands"],
            json!(["CREATE DATABASE \"app\";"])
        );
    }

    #[test]
    fn changes_owner_and_limit() {
        let p = plan_with(
            json!({"name": "app", "owner": "bob", "conn_limit": 5}),
            Some(row()),
        );
        assert_eq!(
            stdin(&p),
            "ALTER DATABASE \"app\" OWNER TO \"bob\";\nALTER DATABASE \"app\" CONNECTION LIMIT 5;\n"
        );
        let d = p.diff.unwrap();
        assert!(d.before.contains("OWNER app\n") && d.after.contains("OWNER bob\n"));
    }

    #[test]
    fn different_encoding_of_an_existing_database_fails() {
        let p = plan_with(json!({"name": "app", "encoding": "LATIN1"}), Some(row()));
        let msg = p.failed.unwrap();
        assert!(
            msg.contains("exists with encoding UTF8, not LATIN1"),
            "{msg}"
        );
        assert!(p.actions.is_empty());
    }

    #[test]
    fn absent_drops_only_an_existing_database() {
        let p = plan_with(json!({"name": "app", "state": "absent"}), Some(row()));
        assert_eq!(stdin(&p), "DROP DATABASE \"app\";\n");
        let p = plan_with(json!({"name": "app", "state": "absent"}), None);
        assert!(!p.changed() && p.actions.is_empty());
    }

    #[test]
    fn rejects_bad_names() {
        let e = FACTORY
            .prepare(json!({"name": "x", "owner": ""}).as_object().unwrap())
            .err()
            .unwrap();
        assert!(e.to_string().contains("'owner'"), "{e}");
    }
}
