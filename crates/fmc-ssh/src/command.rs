//! The remote command line for an [`ExecRequest`], shared by the SSH and local
//! transports so that both behave identically, and the post-processing of what
//! the command produced (become markers, become failures, timeouts).

use std::time::Duration;

use fmc_core::shell::quote;
use fmc_core::{ExecOutput, ExecRequest, TransportError};

/// The `sudo -p` prompt; it lands on stderr and is stripped from it.
const SUDO_PROMPT: &str = "[fmc-become] password:";
/// Printed to stderr by the script once sudo let it run; everything up to and
/// including this line is sudo's chatter (prompt, lecture) and is stripped.
const BECOME_OK: &str = "FMC-BECOME-OK";
/// Written on stdin after the become password. The script skips stdin up to and
/// including this line, so the password never reaches the script's stdin even
/// when sudo did not ask for it (NOPASSWD or cached credentials).
const STDIN_SENTINEL: &str = "FMC-BECOME-STDIN";
/// Grace between the `TERM` and the `KILL` sent by the remote `timeout`.
const KILL_AFTER_SECS: u32 = 5;
/// Exit status of coreutils `timeout` when the command timed out.
const TIMEOUT_RC: i32 = 124;
/// How long after the requested timeout the controller gives up on a command
/// that the remote `timeout` wrapper failed to end.
pub(crate) const TIMEOUT_GRACE: Duration = Duration::from_secs(10);

/// Builds the exact remote command line for a request: env exports, `sudo`
/// wrapping for become (`sudo -n -u USER -- sh -c '...'`, or `sudo -S -p
/// '<marker>'` with the password first on stdin when a become password is given),
/// a coreutils `timeout` wrapper when the request has a timeout (so the whole
/// process tree dies on the host, not only the SSH channel), and `sh -c` quoting
/// with [`fmc_core::shell::quote`]. Returns `(command, stdin bytes)`.
pub fn build_command(req: &ExecRequest) -> (String, Option<Vec<u8>>) {
    let mut script = String::new();
    let mut stdin = req.stdin.clone();
    let mut command = String::new();
    if let Some(spec) = &req.become_spec {
        let user = spec.user.as_deref().unwrap_or("root");
        match &spec.password {
            Some(password) => {
                script.push_str(&format!(
                    "while IFS= read -r fmc_line; do [ \"$fmc_line\" = {STDIN_SENTINEL} ] && break; done\n"
                ));
                let mut bytes = Vec::with_capacity(
                    password.expose().len() + STDIN_SENTINEL.len() + 2 + stdin_len(&stdin),
                );
                bytes.extend_from_slice(password.expose().as_bytes());
                bytes.push(b'\n');
                bytes.extend_from_slice(STDIN_SENTINEL.as_bytes());
                bytes.push(b'\n');
                bytes.extend_from_slice(stdin.as_deref().unwrap_or_default());
                stdin = Some(bytes);
                command.push_str(&format!("sudo -S -p {} ", quote(SUDO_PROMPT)));
            }
            None => command.push_str("sudo -n "),
        }
        command.push_str(&format!("-u {} -- ", quote(user)));
        script.push_str(&format!("printf '%s\\n' {BECOME_OK} >&2\n"));
    }
    if let Some(timeout) = req.timeout {
        command.push_str(&format!(
            "timeout -k {KILL_AFTER_SECS} {} ",
            timeout.as_secs_f64()
        ));
    }
    for (name, value) in &req.env {
        script.push_str(&format!("export {}={}\n", quote(name), quote(value)));
    }
    script.push_str(&req.script);
    command.push_str("sh -c ");
    command.push_str(&quote(&script));
    (command, stdin)
}

fn stdin_len(stdin: &Option<Vec<u8>>) -> usize {
    stdin.as_ref().map_or(0, Vec::len)
}

/// Checks what the transports cannot run before anything is sent.
pub(crate) fn check_request(req: &ExecRequest) -> Result<(), TransportError> {
    match &req.become_spec {
        Some(spec) if !spec.method.is_empty() && spec.method != "sudo" => {
            Err(TransportError::Become(format!(
                "become_method '{}' is not supported\nhint: use become_method: sudo",
                spec.method
            )))
        }
        _ => Ok(()),
    }
}

/// Turns the raw output of a [`build_command`] command into the task's output:
/// maps the remote `timeout` exit to [`TransportError::Timeout`], strips sudo's
/// prompt and chatter from stderr, and reports sudo failures as
/// [`TransportError::Become`].
pub(crate) fn finish(
    req: &ExecRequest,
    mut out: ExecOutput,
    elapsed: Duration,
) -> Result<ExecOutput, TransportError> {
    if let Some(timeout) = req.timeout
        && out.rc == TIMEOUT_RC
        && elapsed >= timeout
    {
        return Err(TransportError::Timeout(timeout));
    }
    let Some(spec) = &req.become_spec else {
        return Ok(out);
    };
    let marker = format!("{BECOME_OK}\n");
    if let Some(at) = find(&out.stderr, marker.as_bytes()) {
        out.stderr.drain(..at + marker.len());
        return Ok(out);
    }
    let user = spec.user.as_deref().unwrap_or("root");
    let stderr = String::from_utf8_lossy(&out.stderr).replace(SUDO_PROMPT, "");
    let (said, hint) =
        if stderr.contains("Sorry, try again") || stderr.contains("incorrect password") {
            (
                "incorrect become password".to_string(),
                "\nhint: check the become password (--ask-become-pass)",
            )
        } else {
            // sudo's last line is its verdict; earlier lines are warnings.
            let last = stderr.lines().rev().map(str::trim).find(|l| !l.is_empty());
            let said = last.map_or_else(
                || format!("sudo exited with status {}", out.rc),
                str::to_string,
            );
            let hint = if said.contains("password is required") {
                "\nhint: pass --ask-become-pass, or allow the login user NOPASSWD in sudoers"
            } else {
                ""
            };
            (said, hint)
        };
    Err(TransportError::Become(format!(
        "become (sudo to {user}) failed: {said}{hint}"
    )))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fmc_core::{BecomeSpec, Secret};

    fn output(rc: i32, stderr: &str) -> ExecOutput {
        ExecOutput {
            rc,
            stdout: b"out".to_vec(),
            stderr: stderr.as_bytes().to_vec(),
        }
    }

    #[test]
    fn plain_request_is_sh_c_of_the_script() {
        let (cmd, stdin) = build_command(&ExecRequest::new("echo 'hi'"));
        assert_eq!(cmd, "sh -c 'echo '\"'\"'hi'\"'\"''");
        assert!(stdin.is_none());
    }

    #[test]
    fn env_and_timeout_are_in_the_command() {
        let mut req = ExecRequest::new("env");
        req.env = vec![("A".into(), "x y".into()), ("B".into(), "$z".into())];
        req.timeout = Some(Duration::from_millis(1500));
        let (cmd, _) = build_command(&req);
        assert_eq!(
            cmd,
            format!(
                "timeout -k 5 1.5 sh -c {}",
                quote("export A='x y'\nexport B='$z'\nenv")
            )
        );
    }

    #[test]
    fn become_without_password_uses_sudo_n() {
        let mut req = ExecRequest::new("id -u");
        req.become_spec = Some(BecomeSpec {
            user: Some("postgres".into()),
            ..Default::default()
        });
        let (cmd, stdin) = build_command(&req);
        assert!(cmd.starts_with("sudo -n -u postgres -- sh -c "), "{cmd}");
        assert!(cmd.contains(BECOME_OK));
        assert!(stdin.is_none());
    }

    #[test]
    fn become_password_goes_first_on_stdin() {
        let mut req = ExecRequest::new("cat");
        req.stdin = Some(b"payload".to_vec());
        req.become_spec = Some(BecomeSpec {
            password: Some(Secret::new("s3cret".into())),
            ..Default::default()
        });
        let (cmd, stdin) = build_command(&req);
        assert!(
            cmd.starts_with("sudo -S -p '[fmc-become] password:' -u root -- sh -c "),
            "{cmd}"
        );
        assert!(!cmd.contains("s3cret"));
        assert_eq!(
            stdin.as_deref(),
            Some(&b"s3cret\nFMC-BECOME-STDIN\npayload"[..])
        );
    }

    #[test]
    fn finish_strips_sudo_chatter() {
        let mut req = ExecRequest::new("x");
        req.become_spec = Some(BecomeSpec::default());
        let out = finish(
            &req,
            output(3, "[fmc-become] password:FMC-BECOME-OK\nreal error\n"),
            Duration::ZERO,
        );
        assert_eq!(out.ok(), Some(output(3, "real error\n")));
    }

    #[test]
    fn finish_reports_sudo_refusal_as_become_error() {
        let mut req = ExecRequest::new("x");
        req.become_spec = Some(BecomeSpec::default());
        let err = finish(
            &req,
            output(1, "sudo: a password is required\n"),
            Duration::ZERO,
        );
        match err {
            Err(TransportError::Become(msg)) => {
                assert!(
                    msg.starts_with(
                        "become (sudo to root) failed: sudo: a password is required\nhint: "
                    ),
                    "{msg}"
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn finish_reports_a_wrong_become_password() {
        let mut req = ExecRequest::new("x");
        req.become_spec = Some(BecomeSpec::default());
        let stderr = "[fmc-become] password:Sorry, try again.\n[fmc-become] password:\nsudo: no password was provided\n";
        match finish(&req, output(1, stderr), Duration::ZERO) {
            Err(TransportError::Become(msg)) => assert_eq!(
                msg,
                "become (sudo to root) failed: incorrect become password\nhint: check the become password (--ask-become-pass)"
            ),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn finish_maps_timeout_exit_only_after_the_deadline() {
        let mut req = ExecRequest::new("x");
        req.timeout = Some(Duration::from_secs(1));
        assert!(matches!(
            finish(&req, output(124, ""), Duration::from_secs(2)),
            Err(TransportError::Timeout(_))
        ));
        assert_eq!(
            finish(&req, output(124, ""), Duration::from_millis(10)).ok(),
            Some(output(124, ""))
        );
    }

    #[test]
    fn unsupported_become_method_is_rejected() {
        let mut req = ExecRequest::new("x");
        req.become_spec = Some(BecomeSpec {
            method: "su".into(),
            ..Default::default()
        });
        assert!(matches!(
            check_request(&req),
            Err(TransportError::Become(_))
        ));
    }
}
