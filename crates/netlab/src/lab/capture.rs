//! Packet captures inside a lab namespace with tcpdump: [`Ns::capture`] returns once tcpdump
//! is listening (so nothing sent afterwards is missed), and [`Capture::stop`] ends it with
//! SIGTERM (tcpdump then flushes) and returns one text line per packet (`tcpdump -n -l`).
//! A capture still running when the lab drops is killed with the lab's other processes.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{LabError, Ns, Proc};

/// How long to wait for tcpdump to start listening.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long `stop` lets packets already seen reach tcpdump before signalling it.
const SETTLE: Duration = Duration::from_millis(200);

/// A running tcpdump; see the module documentation.
#[derive(Debug)]
pub struct Capture {
    proc: Proc,
    dir: tempfile::TempDir,
    what: String,
}

impl Ns {
    /// Starts `tcpdump -i IFNAME -n -l FILTER...` in this namespace and waits until it listens.
    /// `filter` is a pcap filter split into words (`&["udp", "port", "53"]`), may be empty.
    pub fn capture(&self, ifname: &str, filter: &[&str]) -> Result<Capture, LabError> {
        let what = format!(
            "tcpdump -i {ifname} {} in {}",
            filter.join(" "),
            self.name()
        );
        let io_error = |source| LabError::Spawn {
            command: what.clone(),
            source,
        };
        let dir = tempfile::Builder::new()
            .prefix("netlab-capture-")
            .tempdir()
            .map_err(io_error)?;
        let stdout = std::fs::File::create(dir.path().join("packets")).map_err(io_error)?;
        let stderr = std::fs::File::create(dir.path().join("log")).map_err(io_error)?;
        let mut command = self.command("tcpdump");
        // Immediate mode and -l: each packet is handed over and written at once; otherwise
        // packets wait in the kernel's ring block and a stop loses them.
        command
            .args(["-i", ifname, "-n", "-l", "--immediate-mode", "-vv"])
            .args(filter)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        let proc = self.spawn(command)?;
        let capture = Capture { proc, dir, what };
        capture.wait_listening()?;
        Ok(capture)
    }
}

impl Capture {
    fn wait_listening(&self) -> Result<(), LabError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let log = read(&self.dir.path().join("log"));
            if log.contains("listening on") {
                return Ok(());
            }
            if let Some(status) = self.proc.try_wait() {
                return Err(LabError::Failed {
                    command: self.what.clone(),
                    status,
                    stderr: format!("{log} (is tcpdump installed?)"),
                });
            }
            if Instant::now() >= deadline {
                self.proc.kill();
                return Err(LabError::NotReady {
                    what: self.what.clone(),
                    log,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What tcpdump said on stderr (its start line, and its counts once stopped).
    pub fn log(&self) -> String {
        read(&self.dir.path().join("log"))
    }

    /// Packet lines captured so far (the capture goes on).
    pub fn lines(&self) -> Vec<String> {
        packet_lines(&read(&self.dir.path().join("packets")))
    }

    /// Stops tcpdump (SIGTERM, then SIGKILL after two seconds) and returns every packet line.
    pub fn stop(self) -> Vec<String> {
        self.stop_with_log().0
    }

    /// [`Capture::stop`], also returning tcpdump's stderr (with its packet counts).
    pub fn stop_with_log(self) -> (Vec<String>, String) {
        let pid = self.proc.pid().to_string();
        if self.proc.try_wait().is_none() {
            // A packet that crossed the interface a moment ago may still be on its way to
            // tcpdump, which does not drain its socket once signalled.
            std::thread::sleep(SETTLE);
            let _ = Command::new("kill").args(["-TERM", &pid]).output();
            if self.proc.wait_timeout(Duration::from_secs(2)).is_none() {
                self.proc.kill();
            }
        }
        (self.lines(), self.log())
    }
}

/// With `-vv`, tcpdump continues a packet's description on indented lines; join them so each
/// packet is one line.
fn packet_lines(text: &str) -> Vec<String> {
    let mut packets: Vec<String> = Vec::new();
    for line in text.lines() {
        match packets.last_mut() {
            Some(last) if line.starts_with([' ', '\t']) => {
                last.push(' ');
                last.push_str(line.trim());
            }
            _ if line.trim().is_empty() => {}
            _ => packets.push(line.to_string()),
        }
    }
    packets
}

fn read(path: &Path) -> String {
    std::fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::packet_lines;

    #[test]
    fn continuation_lines_join_their_packet() {
        let text = "12:00 IP (tos 0x0) 10.0.0.1 > 10.0.0.2: ICMP echo request\n    \
                    more detail\n12:01 IP 10.0.0.2 > 10.0.0.1: ICMP echo reply\n\n";
        assert_eq!(
            packet_lines(text),
            [
                "12:00 IP (tos 0x0) 10.0.0.1 > 10.0.0.2: ICMP echo request more detail",
                "12:01 IP 10.0.0.2 > 10.0.0.1: ICMP echo reply",
            ]
        );
    }
}
