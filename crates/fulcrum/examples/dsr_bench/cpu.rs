//! Where the DSR benchmark's CPU time goes: per thread of the Fulcrum process (the DSR workers
//! by their names: `fulcrum-dsr-N` on AF_PACKET, `fulcrum-xsk-N` on AF_XDP) and the machine's
//! softirq time (/proc/stat), which no process is charged for: the router's forwarding, and
//! the XDP program on ns0a's eth1 when it runs in the veth's NAPI poll.

use std::collections::BTreeMap;

/// USER_HZ: the unit of /proc's tick counts on Linux.
const TICKS_PER_SECOND: f64 = 100.0;

/// utime + stime of a /proc `stat` line, in seconds.
fn stat_seconds(stat: &str) -> f64 {
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // After the command name: state is field 0, utime 11, stime 12.
    (ticks(11) + ticks(12)) / TICKS_PER_SECOND
}

/// utime + stime of a process, in seconds.
pub fn process_seconds(pid: u32) -> f64 {
    stat_seconds(&std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default())
}

/// CPU seconds of the process's threads whose names start with one of `prefixes`, summed per
/// prefix.
pub fn thread_seconds(pid: u32, prefixes: &[&str]) -> BTreeMap<String, f64> {
    let mut out: BTreeMap<String, f64> = prefixes.iter().map(|p| (p.to_string(), 0.0)).collect();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let Some(prefix) = prefixes.iter().find(|p| name.trim().starts_with(**p)) else {
            continue;
        };
        let seconds = stat_seconds(&std::fs::read_to_string(path.join("stat")).unwrap_or_default());
        *out.entry(prefix.to_string()).or_default() += seconds;
    }
    out
}

/// The machine's softirq time over all CPUs, in seconds (`softirq` of /proc/stat's `cpu` line).
pub fn softirq_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    stat.lines()
        .find(|l| l.starts_with("cpu "))
        .and_then(|l| l.split_whitespace().nth(7)?.parse::<f64>().ok())
        .unwrap_or(0.0)
        / TICKS_PER_SECOND
}
