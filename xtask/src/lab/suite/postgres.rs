//! Lab checks of PostgreSQL (role `postgresql`): the application role logs in with
//! scram-sha-256 from the cluster network, pg_hba refuses the LAN and wrong passwords,
//! the server stores only a SCRAM verifier, and the role is idempotent, repairing a
//! drifted password without the secret ever showing in fmc-run's output.
//!
//! The clients are this machine's `psql` run inside a lab host's network namespace, so
//! the server sees that host's address (master1: 10.17.4.21, the cluster network; the
//! controller: 192.168.0.2, the LAN).

use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use fmc_core::Secret;

use super::{Check, Ns, Suite, shell_quote};

const PLAYBOOK: &str = "playbooks/postgresql.yaml";
/// The PostgreSQL node, and a host of the cluster network (a permitted client).
const SERVER: &str = "postgresql1";
const CLIENT: &str = "master1";
/// The application password's variable in the staging secrets.
const PASSWORD_VAR: &str = "vault_postgresql_app_password";
/// Bound of every connection attempt (seconds).
const CONNECT_SECS: &str = "5";

/// The checks of this file, in order.
pub fn checks() -> Vec<Check> {
    vec![
        Check {
            name: "postgres-scram",
            proves: "the app role logs in with scram-sha-256 from the cluster network; the LAN is refused by pg_hba, a wrong password fails; only a SCRAM verifier is stored",
            run: postgres_scram,
        },
        Check {
            name: "postgres-idempotent",
            proves: "a second run changes nothing; a drifted password is repaired, the secret never in fmc-run's output",
            run: postgres_idempotent,
        },
    ]
}

/// The application database, its owner and the owner's password (the lab value).
struct App {
    server_addr: String,
    db: String,
    user: String,
    password: Secret<String>,
}

static CONVERGED: AtomicBool = AtomicBool::new(false);

/// Converges the playbook (once per suite run), installs psql on this machine, and reads
/// the role's first database and the lab password.
fn prepare(s: &Suite) -> Result<App, String> {
    if !CONVERGED.load(Ordering::SeqCst) {
        let have_psql = std::process::Command::new("psql")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !have_psql {
            crate::ci::ensure_packages(&["postgresql-client"])?;
        }
        converge(s)?;
        CONVERGED.store(true, Ordering::SeqCst);
    }
    let defaults_file = s.repo_root().join("roles/postgresql/defaults/main.yml");
    let defaults = fmc_yaml::load(&defaults_file).map_err(|e| e.to_string())?;
    let first = &defaults["postgresql_databases"][0];
    let field = |k: &str| {
        first[k].as_str().map(str::to_string).ok_or_else(|| {
            format!(
                "{}: postgresql_databases[0].{k} is not a string",
                defaults_file.display()
            )
        })
    };
    Ok(App {
        server_addr: s.host(SERVER)?.address.to_string(),
        db: field("name")?,
        user: field("owner")?,
        password: lab_password(s)?,
    })
}

/// The lab's application password, decrypted from the staging secrets.
fn lab_password(s: &Suite) -> Result<Secret<String>, String> {
    crate::lab::demo::staging_secret(s.repo_root(), PASSWORD_VAR)
}

/// Runs the playbook; returns how many tasks changed on the server. Fails if the run
/// fails or if `secret` shows anywhere in its output (`-v` prints every result).
fn run_playbook(s: &Suite, secret: Option<&Secret<String>>) -> Result<u32, String> {
    let (code, out) = s.fmc_run(&[PLAYBOOK, "-v", "--limit", SERVER])?;
    if let Some(p) = secret
        && out.contains(p.expose().as_str())
    {
        return Err(format!(
            "{PLAYBOOK}: the password appears in fmc-run's output"
        ));
    }
    if code != 0 {
        return Err(format!("{PLAYBOOK} exited {code}:\n{}", tail(&out, 20)));
    }
    recap_changed(&out, SERVER)
        .ok_or_else(|| format!("{PLAYBOOK}: no recap line for {SERVER}:\n{}", tail(&out, 8)))
}

fn converge(s: &Suite) -> Result<(), String> {
    let t = Instant::now();
    let changed = run_playbook(s, None)?;
    println!(
        "    converged {SERVER} ({changed} changed, {:.1}s)",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `changed=N` of `host`'s recap line.
fn recap_changed(out: &str, host: &str) -> Option<u32> {
    out.lines()
        .filter(|l| l.split_whitespace().next() == Some(host))
        .filter_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("changed="))
        })
        .next_back()?
        .parse()
        .ok()
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// `SELECT ...` as `user` with `password` from the namespace `from` over TCP (no
/// password prompt, bounded connect).
fn psql(s: &Suite, from: Ns<'_>, app: &App, password: &str, sql: &str) -> Result<Output, String> {
    s.cmd(from, "psql")
        .args(["-X", "-A", "-t", "-w", "-h", &app.server_addr])
        .args(["-U", &app.user, "-d", &app.db, "-c", sql])
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", CONNECT_SECS)
        .output()
        .map_err(|e| format!("cannot run psql: {e}"))
}

/// What psql said (stderr and stdout) and its status.
fn said(out: &Output) -> String {
    let text = format!(
        "{} {}",
        String::from_utf8_lossy(&out.stderr).trim(),
        String::from_utf8_lossy(&out.stdout).trim()
    );
    format!("{} ({})", text.trim(), out.status)
}

/// A login with the right password from `from` succeeds and answers `SELECT 1`.
fn login_works(s: &Suite, from: Ns<'_>, app: &App) -> Result<f64, String> {
    let t = Instant::now();
    let out = psql(s, from, app, app.password.expose(), "SELECT 1")?;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    if !out.status.success() || String::from_utf8_lossy(&out.stdout).trim() != "1" {
        return Err(format!(
            "login as {} from {from:?} failed: {}",
            app.user,
            said(&out)
        ));
    }
    Ok(ms)
}

/// The server's own view: `psql` as postgres on the node (peer over the socket).
fn server_query(s: &Suite, sql: &str) -> Result<String, String> {
    s.sh(
        SERVER,
        &format!(
            "runuser -u postgres -- psql -X -A -t -v ON_ERROR_STOP=1 -d postgres -c {}",
            shell_quote(sql)
        ),
    )
    .map(|o| o.trim().to_string())
}

fn postgres_scram(s: &Suite) -> Result<(), String> {
    let app = prepare(s)?;
    let ms = login_works(s, Ns::Host(CLIENT), &app)?;
    println!(
        "    {CLIENT} -> {}: scram login as {} and SELECT 1 in {ms:.0} ms",
        app.server_addr, app.user
    );

    let lan = s.topo.controller;
    let out = psql(s, Ns::Controller, &app, app.password.expose(), "SELECT 1")?;
    let text = said(&out);
    let expected = format!("pg_hba.conf rejects connection for host \"{lan}\"");
    if out.status.success() || !text.contains(&expected) {
        return Err(format!(
            "a login from the LAN ({lan}) must be refused by pg_hba, got: {text}"
        ));
    }
    println!("    controller ({lan}): refused by pg_hba.conf");

    let wrong = format!("{}-wrong", app.password.expose());
    let out = psql(s, Ns::Host(CLIENT), &app, &wrong, "SELECT 1")?;
    let text = said(&out).replace(&wrong, "********");
    let expected = format!("password authentication failed for user \"{}\"", app.user);
    if out.status.success() || !text.contains(&expected) {
        return Err(format!(
            "a wrong password from {CLIENT} must fail authentication, got: {text}"
        ));
    }
    println!("    {CLIENT} with a wrong password: authentication failed");

    let user = app.user.replace('\'', "''");
    let db = app.db.replace('\'', "''");
    let state = server_query(
        s,
        &format!(
            "SELECT (SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = '{user}') \
             || ' ' || current_setting('password_encryption') \
             || ' ' || (SELECT string_agg(DISTINCT auth_method, ',') FROM pg_hba_file_rules \
                        WHERE '{db}' = ANY(database) AND '{user}' = ANY(user_name) AND type = 'host')"
        ),
    )?;
    if state != "true scram-sha-256 scram-sha-256" {
        return Err(format!(
            "expected a SCRAM verifier for {user}, password_encryption scram-sha-256 and only scram-sha-256 host rules for it; \
             got (verifier is scram, password_encryption, host methods): {state}"
        ));
    }
    println!(
        "    server: SCRAM-SHA-256 verifier stored, password_encryption and pg_hba scram-sha-256"
    );
    Ok(())
}

fn postgres_idempotent(s: &Suite) -> Result<(), String> {
    let app = prepare(s)?;
    let t = Instant::now();
    let changed = run_playbook(s, Some(&app.password))?;
    if changed != 0 {
        return Err(format!(
            "a second run of {PLAYBOOK} changed {changed} task(s) on {SERVER}"
        ));
    }
    println!(
        "    second run: nothing changed ({:.1}s)",
        t.elapsed().as_secs_f64()
    );

    // Drift: another password set by hand (a throwaway value, not the secret).
    let user = app.user.replace('"', "\"\"");
    server_query(
        s,
        &format!("ALTER ROLE \"{user}\" PASSWORD 'drifted-by-the-lab-check'"),
    )?;
    let repaired = (|| {
        if login_works(s, Ns::Host(CLIENT), &app).is_ok() {
            return Err("the old password still works after the drift".to_string());
        }
        let t = Instant::now();
        let changed = run_playbook(s, Some(&app.password))?;
        if changed != 1 {
            return Err(format!(
                "repairing the password changed {changed} task(s), expected 1"
            ));
        }
        login_works(s, Ns::Host(CLIENT), &app)?;
        println!(
            "    drifted password repaired in {:.1}s, the secret absent from the output",
            t.elapsed().as_secs_f64()
        );
        Ok(())
    })();
    if repaired.is_err() {
        // restore the converged state whatever went wrong
        let _ = run_playbook(s, None);
    }
    repaired
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_changed_from_the_recap() {
        let out = "PLAY RECAP ****\npostgresql1                : ok=12   changed=3    unreachable=0    failed=0\nmaster1 : ok=1 changed=0\n";
        assert_eq!(recap_changed(out, "postgresql1"), Some(3));
        assert_eq!(recap_changed(out, "master1"), Some(0));
        assert_eq!(recap_changed(out, "worker1"), None);
    }
}
