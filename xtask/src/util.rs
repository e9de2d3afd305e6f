//! Small helpers shared by the xtask commands.

use std::process::Command;

/// Prints a step header.
pub fn step(what: &str) {
    println!("==> {what}");
}

/// Runs a command, inheriting stdio; an error names the command and its status.
pub fn run(cmd: &mut Command) -> Result<(), String> {
    let status = cmd
        .status()
        .map_err(|e| format!("{}: {e}", describe(cmd)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{} failed ({status})", describe(cmd)))
    }
}

/// The command line for messages (program and its first six arguments).
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args().take(6) {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}
