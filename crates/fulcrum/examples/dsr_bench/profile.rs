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

/// Where a worker's time goes, by call-graph share (perf's "children" column): the symbols
/// that split the plane's own work from what its transmit runs on behalf of the downstream
/// links (`net_rx_action`: the bridge and the target's receive path, run in the worker's
/// context when the transmit's softirq is served on return from the system call).
const BREAKDOWN: &[(&str, &str)] = &[
    (
        "net_rx_action",
        "downstream receive run in the worker's context (softirq)",
    ),
    (
        "finish_task_switch.isra.0",
        "context switches (the worker sleeping and waking)",
    ),
    ("__xsk_generic_xmit", "AF_XDP copy-mode transmit"),
    ("packet_sendmsg", "AF_PACKET transmit"),
    ("xsk_poll", "AF_XDP poll"),
    ("packet_poll", "AF_PACKET poll"),
    (
        "fulcrum::dsr::worker::handle",
        "Fulcrum's decision and rewrite (worker::handle)",
    ),
];

impl Recording {
    /// Stops the recording (SIGINT, as perf expects) and returns, for the threads named in
    /// `threads` (comma-separated `perf --comm` list), the call-graph share of the
    /// [`BREAKDOWN`] symbols and the top `lines` symbols by self time.
    pub fn report(mut self, threads: &str, lines: usize) -> String {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let run = |mode: &str| {
            let out = Command::new("perf")
                .args(["report", "--stdio", mode, "--sort", "sym", "-g", "none"])
                .args(["--comm", threads, "-i"])
                .arg(&self.data)
                .stderr(Stdio::null())
                .output();
            out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
        };
        let children = run("--children");
        let mut text =
            String::from("call-graph share (children) of the worker threads' samples:\n");
        for (symbol, what) in BREAKDOWN {
            let share = children.lines().find_map(|l| {
                let cells: Vec<&str> = l.split_whitespace().collect();
                (cells.last() == Some(symbol)).then(|| cells.first().map(|c| c.to_string()))?
            });
            if let Some(share) = share {
                text.push_str(&format!("  {share:>8}  {what} ({symbol})\n"));
            }
        }
        text.push_str("\ntop symbols by self time:\n");
        let own = run("--no-children");
        let top: Vec<&str> = own
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .take(lines)
            .collect();
        text.push_str(&top.join("\n"));
        text
    }
}
