//! The real `fulcrum control` client, run against a daemon's socket: the one runner every test
//! uses. Commands go as `-e LINE` arguments, in one session, with stdin closed.

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs `fulcrum control --socket SOCKET -e LINE...`; the whole output, whatever the exit.
pub fn control(socket: &Path, lines: &[&str]) -> Output {
    let mut command = Command::new(crate::fulcrum());
    command.arg("control").arg("--socket").arg(socket);
    for line in lines {
        command.arg("-e").arg(line);
    }
    command
        .stdin(Stdio::null())
        .output()
        .expect("run fulcrum control")
}

/// One command's stdout, whatever the exit (empty when the daemon cannot be reached): for
/// polling a daemon that may not answer yet.
pub fn control_text(socket: &Path, line: &str) -> String {
    stdout(&control(socket, &[line]))
}

/// Runs `lines` and returns stdout; panics with stderr and `context()` (the daemon's log) when
/// the client fails.
pub fn control_ok(socket: &Path, lines: &[&str], context: impl FnOnce() -> String) -> String {
    let output = control(socket, lines);
    assert!(
        output.status.success(),
        "fulcrum control {lines:?} failed: {}\n{}",
        stderr(&output),
        context()
    );
    stdout(&output)
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
