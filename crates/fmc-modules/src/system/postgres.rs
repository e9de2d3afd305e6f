//! Shared by `postgresql_user` and `postgresql_db`: how `psql` runs on the host, SQL
//! quoting, and SCRAM-SHA-256 verifiers.
//!
//! SQL always travels on psql's stdin (`-f -`), never on a command line, so neither
//! names nor password verifiers show in a process list. psql runs as the login user:
//! directly when the task already runs as that user (`become_user: postgres`), through
//! `runuser -u USER --` when it runs as root (`become: true`), so local `peer`
//! authentication works either way.
//!
//! Passwords: PostgreSQL stores `SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`
//! (RFC 5802/7677). The controller checks a wanted password against the stored
//! verifier (PBKDF2-HMAC-SHA256 with the stored salt and iterations) and, only when it
//! differs, computes a new verifier that the server stores as given; the plaintext
//! never leaves the controller.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use fmc_core::shell::quote;
use fmc_core::{ExecOutput, ModuleError};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// PostgreSQL's default `scram_iterations`.
pub(super) const SCRAM_ITERATIONS: u32 = 4096;
/// PostgreSQL's salt length for new verifiers.
const SALT_LEN: usize = 16;

/// Connection settings of a module (`login_user`, the database psql connects to,
/// `login_unix_socket`, `port`).
pub(super) struct Login {
    pub user: String,
    pub db: String,
    /// Directory of the server's Unix socket (psql's default when `None`).
    pub socket: Option<String>,
    pub port: Option<u16>,
}

impl Login {
    /// A script that runs psql as [`Login::user`], reading SQL from stdin and printing
    /// unaligned tuples only; it stops at the first SQL error (rc 3).
    pub fn psql_script(&self) -> String {
        let u = quote(&self.user);
        let port = self.port.map(|p| format!(" -p {p}")).unwrap_or_default();
        let host = self
            .socket
            .as_ref()
            .map(|h| format!(" -h {}", quote(h)))
            .unwrap_or_default();
        format!(
            "PATH=\"$PATH:/usr/sbin:/sbin\"; export PATH\n\
             cd / || exit 1\n\
             set -- psql -X -q -A -t -v ON_ERROR_STOP=1 -U {u} -d {db}{host}{port} -f -\n\
             if [ \"$(id -u)\" = 0 ] && [ {u} != root ]; then set -- runuser -u {u} -- \"$@\"; fi\n\
             exec \"$@\"\n",
            db = quote(&self.db),
        )
    }
}

/// The probe's output: psql's stdout, or the error that stopped it.
pub(super) fn probe_stdout(out: Option<&ExecOutput>) -> Result<String, ModuleError> {
    let out = out.ok_or_else(|| ModuleError::Probe("no probe output".into()))?;
    if out.rc == 0 {
        return Ok(out.stdout_str());
    }
    Err(psql_failed(out))
}

/// A failed psql run as a task error, with a hint for the usual causes.
fn psql_failed(out: &ExecOutput) -> ModuleError {
    let err = out.stderr_str();
    let err = err.trim();
    let hint = if out.rc == 127 || err.contains("No such file") || err.contains("not found") {
        "\nhint: psql is missing on the host (install the PostgreSQL client/server packages first)"
    } else if err.contains("Peer authentication failed") || err.contains("does not exist") {
        "\nhint: run the task with become: true (psql runs as login_user through runuser) or become_user: postgres"
    } else if err.contains("connection to server") || err.contains("could not connect") {
        "\nhint: is the PostgreSQL server running?"
    } else {
        ""
    };
    ModuleError::Failed(format!("psql failed (rc={}): {err}{hint}", out.rc))
}

/// The task's result after the statements ran: psql errors fail the task.
pub(super) fn finish_psql(
    plan: &fmc_core::Plan,
    outputs: &[ExecOutput],
) -> Result<fmc_core::Outcome, ModuleError> {
    if let Some(bad) = outputs.iter().find(|o| o.rc != 0) {
        return Ok(fmc_core::Outcome {
            failed: Some(psql_failed(bad).to_string()),
            result: plan.result.clone(),
            ..Default::default()
        });
    }
    fmc_core::module::default_finish(plan, outputs)
}

/// A SQL identifier: always double-quoted, embedded quotes doubled.
pub(super) fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// A SQL string literal: single quotes doubled; with backslashes, the `E''` form with
/// backslashes doubled too (correct whatever `standard_conforming_strings` says).
pub(super) fn quote_literal(s: &str) -> String {
    let body = s.replace('\'', "''");
    if s.contains('\\') {
        format!("E'{}'", body.replace('\\', "\\\\"))
    } else {
        format!("'{body}'")
    }
}

/// Object names PostgreSQL accepts: non-empty, at most 63 bytes, no NUL.
pub(super) fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 63 && !s.contains('\0')
}

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], msg: &[u8]) -> Result<[u8; 32], ModuleError> {
    let mut m = HmacSha256::new_from_slice(key)
        .map_err(|_| ModuleError::Failed("hmac: bad key length".into()))?;
    m.update(msg);
    Ok(m.finalize().into_bytes().into())
}

/// StoredKey and ServerKey of `password` for `salt` and `iterations` (RFC 5802).
fn scram_keys(
    password: &[u8],
    salt: &[u8],
    iterations: u32,
) -> Result<([u8; 32], [u8; 32]), ModuleError> {
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2::<HmacSha256>(password, salt, iterations, &mut salted)
        .map_err(|_| ModuleError::Failed("pbkdf2: bad key length".into()))?;
    let client_key = hmac(&salted, b"Client Key")?;
    let stored: [u8; 32] = Sha256::digest(client_key).into();
    let server = hmac(&salted, b"Server Key")?;
    Ok((stored, server))
}

/// Whether `password` may be hashed on the controller: PostgreSQL applies SASLprep to
/// passwords, which leaves pure ASCII unchanged (non-ASCII would need Unicode
/// normalisation tables; such passwords must be given as a verifier).
pub(super) fn hashable(password: &str) -> bool {
    password.is_ascii()
}

/// A SCRAM-SHA-256 verifier as PostgreSQL stores it, for an ASCII `password`.
pub(super) fn scram_verifier(
    password: &str,
    salt: &[u8],
    iterations: u32,
) -> Result<String, ModuleError> {
    let (stored, server) = scram_keys(password.as_bytes(), salt, iterations)?;
    Ok(format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        B64.encode(salt),
        B64.encode(stored),
        B64.encode(server)
    ))
}

/// A verifier with a fresh random salt and PostgreSQL's default iterations.
pub(super) fn new_scram_verifier(password: &str) -> Result<String, ModuleError> {
    let mut salt = [0u8; SALT_LEN];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut salt);
    scram_verifier(password, &salt, SCRAM_ITERATIONS)
}

/// The parts of a stored verifier, or `None` when it is not SCRAM-SHA-256 (md5, NULL).
struct Verifier {
    iterations: u32,
    salt: Vec<u8>,
    stored: Vec<u8>,
    server: Vec<u8>,
}

fn parse_verifier(v: &str) -> Option<Verifier> {
    let rest = v.strip_prefix("SCRAM-SHA-256$")?;
    let (params, keys) = rest.split_once('$')?;
    let (iter, salt) = params.split_once(':')?;
    let (stored, server) = keys.split_once(':')?;
    let iterations: u32 = iter.parse().ok()?;
    // an absurd count would hang the controller; PostgreSQL caps it far lower in practice
    if iterations == 0 || iterations > 10_000_000 {
        return None;
    }
    Some(Verifier {
        iterations,
        salt: B64.decode(salt).ok()?,
        stored: B64.decode(stored).ok()?,
        server: B64.decode(server).ok()?,
    })
}

/// Whether `v` is a well-formed SCRAM-SHA-256 verifier.
pub(super) fn is_verifier(v: &str) -> bool {
    parse_verifier(v).is_some()
}

/// Whether the stored verifier accepts `password` (false for md5 or unparsable ones).
pub(super) fn scram_matches(password: &str, stored: &str) -> Result<bool, ModuleError> {
    let Some(v) = parse_verifier(stored) else {
        return Ok(false);
    };
    let (stored_key, server_key) = scram_keys(password.as_bytes(), &v.salt, v.iterations)?;
    Ok(stored_key[..] == v.stored[..] && server_key[..] == v.server[..])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Stored by PostgreSQL 15 for `CREATE ROLE t1 PASSWORD 'pencil'`.
    const PG_PENCIL: &str = "SCRAM-SHA-256$4096:tsKyYo5wM/DNQyAkQIFWiw==$2cVQxNSdpFsD1BK8i+Gh6bZ3DtU7gKf+ZcTscqU9iNU=:kYE7ptQdCdode5Zm/Uqz8XJRYypRsAw5ueV56X9LH6o=";

    #[test]
    fn verifies_a_verifier_made_by_postgresql() {
        assert!(scram_matches("pencil", PG_PENCIL).unwrap());
        assert!(!scram_matches("pencil2", PG_PENCIL).unwrap());
        assert!(!scram_matches("pencil", "md5a3556571e93b0d20722ba62be61e8c2d").unwrap());
        assert!(!scram_matches("pencil", "").unwrap());
    }

    #[test]
    fn builds_the_verifier_postgresql_builds() {
        let salt = B64.decode("tsKyYo5wM/DNQyAkQIFWiw==").unwrap();
        assert_eq!(scram_verifier("pencil", &salt, 4096).unwrap(), PG_PENCIL);
    }

    #[test]
    fn rfc7677_server_signature() {
        // RFC 7677 section 3: user "user", password "pencil"
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let (_, server_key) = scram_keys(b"pencil", &salt, 4096).unwrap();
        let auth = "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let sig = hmac(&server_key, auth.as_bytes()).unwrap();
        assert_eq!(
            B64.encode(sig),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
    }

    #[test]
    fn new_verifiers_are_salted_and_verify() {
        let a = new_scram_verifier("s3cret").unwrap();
        let b = new_scram_verifier("s3cret").unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("SCRAM-SHA-256$4096:"));
        assert!(is_verifier(&a));
        assert!(scram_matches("s3cret", &a).unwrap());
        assert!(!scram_matches("s3creT", &b).unwrap());
    }

    #[test]
    fn rejects_malformed_verifiers() {
        for v in [
            "SCRAM-SHA-256$",
            "SCRAM-SHA-256$0:abc=$a:b",
            "SCRAM-SHA-256$4096:!!$a:b",
            "SCRAM-SHA-256$99999999999:AA==$AA==:AA==",
        ] {
            assert!(!is_verifier(v), "{v}");
        }
    }

    #[test]
    fn quotes_identifiers_and_literals() {
        assert_eq!(quote_ident("app"), "\"app\"");
        assert_eq!(quote_ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(quote_ident("Mixed Case"), "\"Mixed Case\"");
        assert_eq!(quote_literal("app"), "'app'");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal("a\\'b"), "E'a\\\\''b'");
        assert!(valid_name("app"));
        assert!(!valid_name(""));
        assert!(!valid_name(&"x".repeat(64)));
        assert!(!valid_name("a\0b"));
    }

    #[test]
    fn psql_runs_as_the_login_user_from_stdin() {
        let s = Login {
            user: "postgres".into(),
            db: "my db".into(),
            socket: Some("/tmp/pg sock".into()),
            port: Some(5433),
        }
        .psql_script();
        assert!(
            s.contains(
                "set -- psql -X -q -A -t -v ON_ERROR_STOP=1 -U postgres -d 'my db' -h '/tmp/pg sock' -p 5433 -f -"
            ),
            "{s}"
        );
        assert!(s.contains("runuser -u postgres --"), "{s}");
    }
}
