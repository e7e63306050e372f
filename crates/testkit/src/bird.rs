//! BIRD 2 in a lab namespace, as the active-active tests run it: the repository's shipped
//! configuration (`packaging/bird/`) copied verbatim beside the local definitions it includes,
//! BIRD in the foreground with its control socket and log in one directory, held by its real
//! PID; and `birdc` against it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use netlab::{Ns, Proc};

pub const BIRD: &str = "/usr/sbin/bird";

/// How to start BIRD beside the shipped file.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Keep the shipped `bfd on;` lines (false: take every one out, as the files' comments
    /// allow, to measure without BFD).
    pub bfd: bool,
    /// Run BIRD at real-time priority (`chrt --fifo 10`) where this process may: BFD at
    /// 100 ms x 3 on a saturated machine needs BIRD to get a CPU within 300 ms.
    pub real_time: bool,
}

/// A shipped BIRD configuration file.
pub fn shipped(name: &str) -> PathBuf {
    crate::repo_root().join("packaging/bird").join(name)
}

/// Whether this process may start programs at real-time priority (`chrt --fifo`).
fn real_time_allowed() -> bool {
    Command::new("chrt")
        .args(["--fifo", "10", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// BIRD in `ns`: the shipped `conf` copied into `dir` beside `local` (written as `local_name`,
/// the file it includes), with its control socket `bird.ctl` and log `bird.log` in `dir`.
pub fn start(
    ns: &Ns,
    dir: &Path,
    (conf, local_name, local): (&str, &str, &str),
    options: Options,
) -> Proc {
    std::fs::create_dir_all(dir).expect("bird directory");
    let text = std::fs::read_to_string(shipped(conf)).expect("read the shipped BIRD configuration");
    let text = if options.bfd {
        text
    } else {
        text.lines()
            .filter(|l| l.trim() != "bfd on;")
            .collect::<Vec<_>>()
            .join("\n")
    };
    std::fs::write(dir.join(conf), text).expect("copy the shipped BIRD configuration");
    std::fs::write(dir.join(local_name), local).expect("write the local BIRD definitions");
    // `chrt` execs BIRD, so the PID held is BIRD's. Where real-time scheduling is not allowed
    // (a container without CAP_SYS_NICE) BIRD runs at normal priority, and the run says so.
    let mut command = if options.real_time && real_time_allowed() {
        let mut command = ns.command("chrt");
        command.args(["--fifo", "10", BIRD]);
        command
    } else {
        if options.real_time {
            eprintln!("chrt --fifo refused here: BIRD runs at normal priority (BFD may flap)");
        }
        ns.command(BIRD)
    };
    command
        .current_dir(dir)
        .arg("-f")
        .arg("-c")
        .arg(dir.join(conf))
        .arg("-s")
        .arg(dir.join("bird.ctl"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("bird.log")).expect("bird log"));
    ns.spawn(command).expect("start bird")
}

/// `birdc` against the BIRD whose control socket is in `dir` (its output, or the error).
pub fn birdc(ns: &Ns, dir: &Path, args: &[&str]) -> String {
    let socket = dir.join("bird.ctl");
    let mut argv = vec!["birdc", "-s", socket.to_str().unwrap_or_default()];
    argv.extend_from_slice(args);
    match ns.exec(&argv) {
        Ok(output) => String::from_utf8_lossy(&output.stdout).into_owned(),
        Err(e) => format!("birdc: {e}"),
    }
}
