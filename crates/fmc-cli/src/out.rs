//! Terminal output that never panics: every stdout and stderr line of fmc-run and
//! fmc-vault goes through here. When a stream's reader goes away (`fmc-run ... | head -1`),
//! the write fails with EPIPE and that stream is closed for the rest of the process:
//! later lines are dropped quietly and the work itself goes on (a converge is not cut
//! short halfway through a task because nobody reads its log).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
static STDERR_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `text` and a newline to stdout.
pub fn line(text: &str) {
    bytes(format!("{text}\n").as_bytes());
}

/// Writes raw bytes to stdout (e.g. a decrypted file for `fmc-vault view`).
pub fn bytes(data: &[u8]) {
    write_to(&mut std::io::stdout().lock(), &STDOUT_CLOSED, data);
}

/// Writes `text` and a newline to stderr.
pub fn err_line(text: &str) {
    write_to(
        &mut std::io::stderr().lock(),
        &STDERR_CLOSED,
        format!("{text}\n").as_bytes(),
    );
}

/// Writes and flushes; a failed write closes the stream for good. EPIPE is the
/// reader's choice and stays silent; anything else (a full disk) is said once on
/// stderr, since the data just written is incomplete.
fn write_to(w: &mut dyn Write, closed: &AtomicBool, data: &[u8]) {
    if closed.load(Ordering::Relaxed) {
        return;
    }
    if let Err(e) = w.write_all(data).and_then(|()| w.flush()) {
        closed.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe && !std::ptr::eq(closed, &STDERR_CLOSED) {
            err_line(&format!("error: writing output: {e}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Failing(std::io::ErrorKind, usize);
    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            self.1 += 1;
            Err(self.0.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_broken_pipe_closes_the_stream_without_panicking() {
        let closed = AtomicBool::new(false);
        let mut w = Failing(std::io::ErrorKind::BrokenPipe, 0);
        write_to(&mut w, &closed, b"one\n");
        write_to(&mut w, &closed, b"two\n");
        assert!(closed.load(Ordering::Relaxed));
        assert_eq!(w.1, 1, "wrote again after the pipe closed");
    }

    #[test]
    fn a_working_writer_gets_every_byte() {
        let closed = AtomicBool::new(false);
        let mut v: Vec<u8> = vec![];
        write_to(&mut v, &closed, b"a\n");
        write_to(&mut v, &closed, b"b\n");
        assert_eq!(v, b"a\nb\n");
        assert!(!closed.load(Ordering::Relaxed));
    }
}
