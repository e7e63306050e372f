//! `fulcrum demo` end to end, the real thing: the seed's lab, both nodes' Fulcrum (DSR, VRRP,
//! sync), the agents, Bind9 (or the built-in responder) and the clients. From its plain output
//! (stdout is not a terminal here) the tests check that ns0a became MASTER and ns0b BACKUP, that
//! killing the master made ns0b MASTER with every client answered again by the node it had, that
//! the old master rejoined as BACKUP, and that the demo exits 0. Afterwards no namespace of its
//! lab, no host link it made and no process of it (nothing whose command line names its work
//! directory) remains, also when it is stopped with Ctrl-C, or when its inner half is killed
//! and the outer one has to clean up. `--ipv6` (dual-stack): both nodes' IPv6 VRRP instance
//! fails over too, and the IPv6 clients are answered, spread over both IPv6 targets and keep their
//! node. Needs root and iproute2; the Bind9 tests need bind9 and dig.
//! The tests run one at a time (a lock), as each demo keeps this small machine busy.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use testkit::fulcrum;

/// Far beyond a demo's setup (a few seconds), its duration and its teardown.
const LIMIT: Duration = Duration::from_secs(120);

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn host_links() -> BTreeSet<String> {
    let out = Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .expect("ip link");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(':').nth(1).map(|n| n.trim().to_string()))
        .collect()
}

/// A running demo whose stdout lines arrive on a channel (and are kept).
struct Demo {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    links_before: BTreeSet<String>,
}

impl Demo {
    fn start(args: &[&str]) -> Demo {
        testkit::process::require_root();
        let links_before = host_links();
        let mut child = Command::new(fulcrum())
            .arg("demo")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so a "Ctrl-C" can reach it as a terminal's would.
            .process_group(0)
            .spawn()
            .expect("start fulcrum demo");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Demo {
            child,
            lines,
            seen: Vec::new(),
            links_before,
        }
    }

    /// Reads lines until one contains `needle`; panics after `limit`.
    fn wait_for(&mut self, needle: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.seen.iter().any(|l| l.contains(needle)) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!("no {needle:?} in the demo's output:\n{}", self.text()),
            }
        }
    }

    /// Waits for the exit (killing the demo after [`LIMIT`]); returns the status and stderr.
    fn finish(&mut self) -> (ExitStatus, String) {
        let deadline = Instant::now() + LIMIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for the demo") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the demo ran over {LIMIT:?}:\n{}", self.text());
            }
            while let Ok(line) = self.lines.try_recv() {
                self.seen.push(line);
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        // The reader thread ends at EOF; take what is left.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(line);
        }
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        (status, stderr)
    }

    fn text(&self) -> String {
        self.seen.join("\n")
    }

    fn line_with(&self, needle: &str) -> String {
        self.seen
            .iter()
            .find(|l| l.contains(needle))
            .cloned()
            .unwrap_or_else(|| panic!("no line with {needle:?}:\n{}", self.text()))
    }

    /// Nothing of the demo is left: namespaces, host links, processes, files.
    fn assert_clean(&self) {
        let text = self.text();
        let names = self.line_with("lab: namespaces ");
        let prefix = names
            .split("namespaces ")
            .nth(1)
            .and_then(|rest| rest.split('{').next())
            .expect("the lab's namespace prefix");
        assert!(prefix.starts_with("nl-fulcrumdemo-"), "{names}");
        let listed = Command::new("ip")
            .args(["netns", "list"])
            .output()
            .expect("ip netns list");
        let listed = String::from_utf8_lossy(&listed.stdout);
        assert!(
            !listed.contains(prefix),
            "namespaces of the demo remain:\n{listed}"
        );
        let new_links: Vec<String> = host_links()
            .difference(&self.links_before)
            .cloned()
            .collect();
        assert!(new_links.is_empty(), "host links appeared: {new_links:?}");
        let files = self.line_with("files: ");
        let dir = files
            .split("files: ")
            .nth(1)
            .expect("work directory")
            .trim();
        assert!(dir.starts_with("/tmp/fulcrum-demo-"), "{files}");
        assert!(!Path::new(dir).exists(), "{dir} remains");
        // Every process the demo starts names its work directory on its command line.
        let mut left = Vec::new();
        for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(dir) {
                left.push(cmdline);
            }
        }
        assert!(
            left.is_empty(),
            "processes of the demo remain: {left:?}\n{text}"
        );
    }
}

/// Numbers in the summary: (answered, sent, clients, changed node).
fn summary(demo: &Demo) -> (u64, u64, u64, u64) {
    let line = demo.line_with("summary: ");
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    match numbers.as_slice() {
        [answered, sent, clients, changed] => (*answered, *sent, *clients, *changed),
        _ => panic!("unexpected summary: {line}"),
    }
}

/// The whole run with the default failover (kill at 6 s, restart 5 s later).
fn full_run(extra: &[&str]) -> Demo {
    let mut args = vec!["--duration", "20"];
    args.extend_from_slice(extra);
    let mut demo = Demo::start(&args);
    let (status, stderr) = demo.finish();
    let text = demo.text();
    assert!(status.success(), "exit {status}; stderr:\n{stderr}\n{text}");

    // The node started first is MASTER, the other BACKUP.
    demo.line_with("ns0a: fulcrum run -c ns0a.conf (pid");
    assert!(
        demo.line_with("ns0a: fulcrum run").contains("MASTER after"),
        "{text}"
    );
    assert!(
        demo.line_with("ns0b: fulcrum run").contains("BACKUP after"),
        "{text}"
    );
    let position = |needle: &str| {
        demo.seen
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?}:\n{text}"))
    };
    // The failover: the backup takes over, the old master rejoins as BACKUP.
    let killed = position(">> SIGKILL ns0a's fulcrum");
    assert!(
        position("] ns0a MASTER (holds the VIP) |") < killed,
        "{text}"
    );
    assert!(position("] ns0b BACKUP |") < killed, "{text}");
    let took_over = position(">> ns0b: BACKUP -> MASTER");
    let rejoined = position(">> ns0a rejoined as BACKUP");
    assert!(killed < took_over && took_over < rejoined, "{text}");
    let after: Vec<&String> = demo.seen[rejoined..].iter().collect();
    assert!(
        after
            .iter()
            .any(|l| l.contains("] ns0b MASTER (holds the VIP) |"))
            && after.iter().any(|l| l.contains("] ns0a BACKUP |")),
        "after the rejoin, ns0b must be MASTER and ns0a BACKUP:\n{text}"
    );

    // After the rejoin the new master's updates keep reaching the backup (its applied count
    // grows past the full table), no event is lost, and both hold the same sessions per target.
    let applied = |line: &String| -> u64 {
        line.rsplit("applied ")
            .next()
            .and_then(|n| n.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let backup_lines: Vec<&&String> = after
        .iter()
        .filter(|l| l.contains("] ns0a BACKUP |"))
        .collect();
    let (first, last) = (backup_lines[0], backup_lines[backup_lines.len() - 1]);
    assert!(
        applied(last) > applied(first),
        "the backup applied nothing after the full table:\n{text}"
    );
    assert!(!text.contains("events lost"), "sync lost events:\n{text}");
    let sessions = |line: &str| {
        line.split(" | ")
            .find(|cell| cell.starts_with("sessions "))
            .map(str::to_string)
    };
    let master_last = after
        .iter()
        .rev()
        .find(|l| l.contains("] ns0b MASTER (holds the VIP) |"))
        .map(|l| sessions(l));
    assert_eq!(master_last, Some(sessions(last)), "{text}");

    // Clients kept their node and were answered after the takeover, every one of them.
    let (answered, sent, clients, changed) = summary(&demo);
    let families = if extra.contains(&"--ipv6") { 2 } else { 1 };
    assert_eq!(clients, 12 * families, "{text}");
    assert!(answered > 0 && answered <= sent, "{text}");
    assert_eq!(changed, 0, "a client changed node:\n{text}");
    let failover = demo.line_with("failover: ");
    assert!(
        failover.contains(&format!("{clients} of {clients} clients answered after it")),
        "{failover}"
    );
    assert!(
        !text.contains(" moved ns0"),
        "a client moved between nodes:\n{text}"
    );
    demo.assert_clean();
    demo
}

#[test]
fn the_demo_with_bind9_fails_over_and_leaves_nothing_behind() {
    let _one = one_at_a_time();
    for tool in ["/usr/sbin/named", "/usr/bin/dig"] {
        assert!(
            Path::new(tool).exists(),
            "{tool} is missing: install bind9 and dnsutils"
        );
    }
    let demo = full_run(&[]);
    let text = demo.text();
    assert!(demo.line_with("targets: ").contains("Bind9"), "{text}");
    // ns0b's secondary followed ns0a's new serial through NOTIFY and zone transfer.
    demo.line_with(">> ns0a's zone has serial 2026112502 now");
    assert!(
        text.contains("serial ns0a 2026112502 ns0b 2026112502"),
        "{text}"
    );
}

#[test]
fn the_dual_stack_demo_answers_ipv6_clients_and_fails_over_both_families() {
    let _one = one_at_a_time();
    for tool in ["/usr/sbin/named", "/usr/bin/dig"] {
        assert!(
            Path::new(tool).exists(),
            "{tool} is missing: install bind9 and dnsutils"
        );
    }
    let demo = full_run(&["--ipv6"]);
    let text = demo.text();
    assert!(demo.line_with("targets: ").contains("Bind9"), "{text}");
    demo.line_with("12 IPv6 clients (fd00:10:99::1:1 and up) ask whoami.balanceng.net TXT");
    let position = |needle: &str| {
        demo.seen
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?}:\n{text}"))
    };
    // Both instances: ns0a master of both before the kill, ns0b of both after it.
    let killed = position(">> SIGKILL ns0a's fulcrum");
    let master_of_both = "MASTER (holds the VIP) | ipv6 MASTER (holds the VIP6) |";
    assert!(
        position(&format!("] ns0a {master_of_both}")) < killed,
        "{text}"
    );
    assert!(position("] ns0b BACKUP | ipv6 BACKUP |") < killed, "{text}");
    assert!(
        killed < position(">> ns0b: ipv6 BACKUP -> MASTER"),
        "{text}"
    );
    let rejoined = position(">> ns0a rejoined as BACKUP");
    let last_master = demo.seen[rejoined..]
        .iter()
        .rev()
        .find(|l| l.contains(&format!("] ns0b {master_of_both}")))
        .unwrap_or_else(|| panic!("ns0b is not master of both after the rejoin:\n{text}"));
    assert!(
        demo.seen[rejoined..]
            .iter()
            .any(|l| l.contains("] ns0a BACKUP | ipv6 BACKUP |")),
        "{text}"
    );
    // The IPv6 clients are spread over both IPv6 targets (3 and 4).
    assert!(
        last_master.contains(" t3:") && last_master.contains(" t4:"),
        "{last_master}"
    );
    // Every IPv6 client was answered, also after the takeover, by the node it had.
    let line = demo.line_with("ipv6 clients: ");
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .skip(1)
        .collect();
    match numbers.as_slice() {
        [answered, sent, 12, 0, 12, 12] => assert!(*answered > 0 && answered <= sent, "{line}"),
        _ => panic!("unexpected IPv6 summary: {line}"),
    }
}

#[test]
fn the_demo_with_the_builtin_responder_fails_over_and_leaves_nothing_behind() {
    let _one = one_at_a_time();
    let demo = full_run(&["--builtin"]);
    assert!(demo.line_with("targets: ").contains("built-in responder"));
}

#[test]
fn ctrl_c_stops_the_demo_and_leaves_nothing_behind() {
    let _one = one_at_a_time();
    let mut demo = Demo::start(&["--builtin", "--clients", "4"]);
    demo.wait_for("[  2s] clients answered", Duration::from_secs(60));
    // A terminal's Ctrl-C: SIGINT to the whole process group.
    let group = Pid::from_raw(-(demo.child.id() as i32));
    kill(group, Signal::SIGINT).expect("SIGINT to the demo's process group");
    let (status, stderr) = demo.finish();
    assert!(status.success(), "exit {status}: {stderr}\n{}", demo.text());
    demo.line_with("lab removed");
    demo.assert_clean();
}

#[test]
fn when_the_inner_demo_dies_the_outer_one_removes_its_lab() {
    let _one = one_at_a_time();
    let mut demo = Demo::start(&["--builtin", "--clients", "2"]);
    demo.wait_for("[  1s] clients answered", Duration::from_secs(60));
    // The inner demo's PID is part of its lab's names: nl-fulcrumdemo-PID-...
    let names = demo.line_with("lab: namespaces nl-fulcrumdemo-");
    let inner: i32 = names
        .split("nl-fulcrumdemo-")
        .nth(1)
        .and_then(|rest| rest.split('-').next())
        .and_then(|pid| pid.parse().ok())
        .expect("the inner demo's PID");
    kill(Pid::from_raw(inner), Signal::SIGKILL).expect("SIGKILL to the inner demo");
    let (status, stderr) = demo.finish();
    assert!(!status.success(), "{}", demo.text());
    assert!(
        stderr.contains("removed what it left") && stderr.contains("namespace nl-fulcrumdemo-"),
        "{stderr}"
    );
    demo.assert_clean();
}
