//! The real `fulcrum control` client, run against a daemon's socket: the one runner every test
//! uses. Commands go as `-e LINE` arguments, in one session, with stdin closed. Tests read state
//! through [`show`] (`--json`, parsed into the documents of `fulcrum_control::show`), not by
//! scraping the text tables; the text is for the tests that check what an operator reads.

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// What [`show`] parses into (the documents of `fulcrum_control::show`, or `serde_json::Value`).
pub use serde::de::DeserializeOwned;

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

/// Runs `fulcrum control --json --socket SOCKET -e LINE`; the whole output, whatever the exit.
pub fn control_json(socket: &Path, line: &str) -> Output {
    Command::new(crate::fulcrum())
        .arg("control")
        .arg("--json")
        .arg("--socket")
        .arg(socket)
        .arg("-e")
        .arg(line)
        .stdin(Stdio::null())
        .output()
        .expect("run fulcrum control --json")
}

/// One command's JSON document, typed (e.g. `show::<TargetsDoc>(socket, "show targets")`); the
/// client's output as the error when it fails or the answer does not parse (a daemon that does
/// not answer yet).
pub fn show<T: DeserializeOwned>(socket: &Path, line: &str) -> Result<T, String> {
    let output = control_json(socket, line);
    let text = stdout(&output);
    if !output.status.success() {
        return Err(format!(
            "fulcrum control --json -e {line:?} failed: {text}{}",
            stderr(&output)
        ));
    }
    serde_json::from_str(&text).map_err(|e| format!("{line}: {e} in {text:?}"))
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
