//! `connection: local` and `delegate_to: localhost`: the same command line as over
//! SSH, run by `sh -c` on the controller.

use std::process::Stdio;
use std::time::Instant;

use fmc_core::{Connection, ExecOutput, ExecRequest, TransportError};
use futures::future::BoxFuture;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::command::{TIMEOUT_GRACE, build_command, check_request, finish};

/// Runs execs on the controller itself with `sh -c` (tokio::process), using the
/// command line [`build_command`] builds, so local and SSH execs behave alike.
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalConnection;

impl LocalConnection {
    /// A local connection; it holds no state.
    pub fn new() -> Self {
        LocalConnection
    }

    async fn run(&self, req: ExecRequest) -> Result<ExecOutput, TransportError> {
        check_request(&req)?;
        let (command, stdin) = build_command(&req);
        let started = Instant::now();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&command)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| TransportError::Broken(format!("local: cannot start sh: {e}")))?;
        let feed = child.stdin.take().zip(stdin);
        let writer = async move {
            if let Some((mut pipe, bytes)) = feed {
                // A script that exits without reading its stdin closes the pipe
                // early; that is its business, not a transport failure.
                let _ = pipe.write_all(&bytes).await;
                let _ = pipe.shutdown().await;
            }
        };
        let run = async {
            let (_, output) = tokio::join!(writer, child.wait_with_output());
            output
        };
        let output = match req.timeout {
            Some(timeout) => tokio::time::timeout(timeout + TIMEOUT_GRACE, run)
                .await
                .map_err(|_| TransportError::Timeout(timeout))?,
            None => run.await,
        }
        .map_err(|e| TransportError::Broken(format!("local: {e}")))?;
        let rc = output.status.code().unwrap_or(-1);
        let mut stderr = output.stderr;
        if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&output.status) {
            stderr.extend_from_slice(
                format!("killed by signal {}\n", signal_name(signal)).as_bytes(),
            );
        }
        finish(
            &req,
            ExecOutput {
                rc,
                stdout: output.stdout,
                stderr,
            },
            started.elapsed(),
        )
    }
}

/// The names SSH uses in `exit-signal` (RFC 4254), so local and SSH report alike.
fn signal_name(number: i32) -> String {
    let name = match number {
        1 => "HUP",
        2 => "INT",
        3 => "QUIT",
        4 => "ILL",
        6 => "ABRT",
        8 => "FPE",
        9 => "KILL",
        10 => "USR1",
        11 => "SEGV",
        13 => "PIPE",
        14 => "ALRM",
        15 => "TERM",
        _ => return number.to_string(),
    };
    name.to_string()
}

impl Connection for LocalConnection {
    fn exec(&self, req: ExecRequest) -> BoxFuture<'_, Result<ExecOutput, TransportError>> {
        Box::pin(self.run(req))
    }

    fn reconnect(&self) -> BoxFuture<'_, Result<(), TransportError>> {
        Box::pin(async { Ok(()) })
    }

    fn describe(&self) -> String {
        "local".to_string()
    }
}
