//! An optional profile of the DSR phase (`DSR_BENCH_PROFILE=1`, needs `perf`): `perf record -g`
//! of the Fulcrum process for the phase, then the top of `perf report` for its worker threads,
//! so the figures come with what bounds them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Whether the run asked for a profile.
pub fn wanted() -> bool {
    std::env::var("DSR_BENCH_PROFILE").is_ok_and(|v| v == "1")
}

/// A `perf record` of one process, stopped by [`Recording::report`].
pub struct Recording {
    child: Child,
    data: PathBuf,
}

/// Starts recording `pid` with call graphs into `dir/NAME.perf` (none if perf cannot start).
pub fn start(pid: u32, dir: &Path, name: &str) -> Option<Recording> {
    let data = dir.join(format!("{name}.perf"));
    let child = Command::new("perf")
        .args(["record", "-g", "-F", "999", "-p", &pid.to_string(), "-o"])
        .arg(&data)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    Some(Recording { child, data })
}

impl Recording {
    /// Stops the recording (SIGINT, as perf expects) and returns the report's top `lines` for
    /// the threads whose names are `threads` (comma-separated `perf --comm` list).
    pub fn report(mut self, threads: &str, lines: usize) -> String {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let out = Command::new("perf")
            .args([
                "report",
                "--stdio",
                "--no-children",
                "--sort",
                "sym",
                "-g",
                "none",
            ])
            .args(["--comm", threads, "-i"])
            .arg(&self.data)
            .stderr(Stdio::null())
            .output();
        let text = out
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .take(lines)
            .collect::<Vec<_>>()
            .join("\n")
    }
}
