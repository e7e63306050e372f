//! Fragmented datagrams to the VIP in the seed lab: the client's stack fragments a UDP
//! datagram larger than the link MTU, the DSR plane's fanout group reassembles it (so that all
//! pieces reach one worker), and the plane must then either forward it to the client's target
//! or count it, never lose it silently nor stall: a reassembled datagram too long for one frame
//! on the link (between the MTU and the 2 KiB ring slot) leaves as fragments again, one too long
//! for a ring slot (above 2 KiB) is counted `drop-truncated`, and ordinary queries keep being
//! answered afterwards. On AF_XDP the XDP program passes fragments to the kernel, so the same
//! `AF_PACKET` fanout group reassembles them there too. And TCP: a DNS message of 1800 bytes
//! written at once crosses the lab's veths as one segment longer than the MTU (the kernel
//! passes it unsegmented, as GRO or LRO would merge it on a physical NIC); TCP forbids
//! fragments, so the plane must cut it into segments again (`resegmented`, and nothing
//! `drop-too-big`), and the target answers. Once per DSR plane (`testkit::per_plane!`; with an XDP program on eth1 the kernel
//! segments before the plane, and the answer is all there is to check). Needs root, iproute2,
//! bind9, dig, tcpdump, nftables and python3.

use std::net::Ipv4Addr;
use std::time::Duration;

use netlab::lab::Lab;
use netlab::seed::{seed_topology, SeedLab, VIP};
use testkit::seed_dsr::{ask, require_tools, seed_config, start_seed_agents, Balancer};

/// Sends one UDP datagram of `len` bytes (a DNS query header and question, then padding) from
/// `source` to the VIP's port 53.
fn send_datagram(seed: &SeedLab, source: Ipv4Addr, len: usize) {
    let script = format!(
        "import socket\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         s.bind(('{source}', 0))\n\
         q = bytes([0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]) + b'\\x09balanceng\\x03net\\x00\\x00\\x10\\x00\\x01'\n\
         s.sendto(q + bytes({len} - len(q)), ('{VIP}', 53))\n"
    );
    let output = seed
        .client
        .exec(&["python3", "-c", &script])
        .expect("run python3 in the client namespace");
    assert!(
        output.status.success(),
        "sending failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The seed lab with both Bind9s, the seed's agents and the balancer on ns0a in `plane`'s
/// access mode, ready.
struct Run {
    seed: SeedLab,
    balancer: Balancer,
    _agents: Vec<netlab::lab::Proc>,
    _bind9: netlab::seed::SeedBind9,
    _scripts: tempfile::TempDir,
    _lab: Lab,
}

impl Run {
    fn start(tag: &str, plane: testkit::plane::Plane) -> Run {
        require_tools();
        let lab = Lab::new(tag);
        let seed = seed_topology(&lab).expect("build the seed topology");
        let bind9 = seed.start_bind9().expect("start Bind9 on both nodes");
        let scripts = tempfile::tempdir().expect("temporary directory");
        let agents = start_seed_agents(&seed, scripts.path());
        let balancer = Balancer::start(&seed.ns0a, &plane.config(&seed_config()));
        plane.assert_running(&balancer.log);
        balancer.wait_ready(&seed);
        Run {
            seed,
            balancer,
            _agents: agents,
            _bind9: bind9,
            _scripts: scripts,
            _lab: lab,
        }
    }

    /// Stops the balancer (it logs the plane's counters as it goes); its whole log.
    fn stop(&self) -> String {
        let pid = nix::unistd::Pid::from_raw(self.balancer.proc.pid() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("signal fulcrum");
        self.balancer
            .proc
            .wait_timeout(Duration::from_secs(10))
            .unwrap_or_else(|| panic!("fulcrum did not stop:\n{}", self.balancer.logs()));
        self.balancer.logs()
    }
}

/// The plane counter `name` in a stopped daemon's log (0 when absent).
fn counter(log: &str, name: &str) -> u64 {
    log.lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix(name)
                .and_then(|n| n.trim().parse::<u64>().ok())
        })
        .unwrap_or(0)
}

testkit::per_plane! {
fn fragmented_datagrams_to_the_vip_are_forwarded_or_counted(plane) {
    let run = Run::start("dsr_frag", plane);
    let (seed, balancer) = (&run.seed, &run.balancer);
    let logs = || balancer.logs();

    // A client whose session is on ns0b: what the plane sends it crosses the link to ns0b.
    let source = seed
        .client_sources()
        .into_iter()
        .find(|&c| ask(seed, c, false).as_deref() == Some("ns0b"))
        .unwrap_or_else(|| panic!("no client lands on ns0b:\n{}", logs()));

    let source_text = source.to_string();
    let capture = seed
        .ns0b
        .capture(
            "eth0",
            &[
                "ip",
                "and",
                "src",
                "host",
                &source_text,
                "and",
                "(ip[6:2]",
                "&",
                "0x3fff",
                "!=",
                "0)",
            ],
        )
        .expect("capture fragments on ns0b's eth0");
    // tcpdump needs a moment before it captures.
    std::thread::sleep(Duration::from_secs(2));
    // Between the MTU and a ring slot: reassembled, it must leave as fragments again.
    send_datagram(seed, source, 1800);
    // Above a ring slot: counted.
    send_datagram(seed, source, 3000);
    // The plane keeps forwarding: the client and others are still answered.
    for client in seed.client_sources().into_iter().take(8) {
        assert!(
            ask(seed, client, false).is_some(),
            "{client} unanswered after the fragmented datagrams:\n{}",
            logs()
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    let lines = capture.stop();
    let log = run.stop();
    // 1800 bytes of UDP payload over a 1500-byte MTU: two fragments (tcpdump -vv writes two
    // lines for the first, one for the second).
    let pieces = lines
        .iter()
        .filter(|l| l.contains(&format!("{source}")))
        .count();
    assert!(
        pieces >= 2,
        "the 1800-byte datagram did not reach ns0b as fragments:\n{lines:#?}\n{}",
        log
    );

    let truncated = counter(&log, "drop-truncated");
    assert!(
        truncated >= 1,
        "the 3000-byte datagram was not counted drop-truncated:\n{log}"
    );
}
}

/// Asks the zone's TXT over TCP from `source` in one write of a message padded (EDNS padding)
/// to about `len` bytes; "RCODE ANSWERS NODE" (the node whose zone answered), or the error.
fn ask_large_tcp(seed: &SeedLab, source: Ipv4Addr, len: usize) -> Result<String, String> {
    let script = format!(
        "import socket, struct\n\
         q = bytes([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1]) + b'\\x09balanceng\\x03net\\x00\\x00\\x10\\x00\\x01'\n\
         n = {len} - len(q) - 15\n\
         opt = b'\\x00' + struct.pack('>HHIH', 41, 4096, 0, 4 + n) + struct.pack('>HH', 12, n) + bytes(n)\n\
         m = q + opt\n\
         s = socket.create_connection(('{VIP}', 53), timeout=5, source_address=('{source}', 0))\n\
         s.sendall(struct.pack('>H', len(m)) + m)\n\
         d = b''\n\
         while len(d) < 2 or len(d) < 2 + struct.unpack('>H', d[:2])[0]:\n\
         \x20   c = s.recv(4096)\n\
         \x20   if not c: break\n\
         \x20   d += c\n\
         a = d[2:]\n\
         who = [n for n in ('ns0a', 'ns0b') if n.encode() in a]\n\
         print(a[3] & 15, struct.unpack('>H', a[6:8])[0], who[0] if who else '?')\n"
    );
    let output = seed
        .client
        .exec(&["python3", "-c", &script])
        .map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

testkit::per_plane! {
fn a_tcp_message_longer_than_a_frame_is_cut_into_segments_again(plane) {
    let run = Run::start("dsr_reseg", plane);
    let (seed, balancer) = (&run.seed, &run.balancer);
    let logs = || balancer.logs();
    let source = seed
        .client_sources()
        .into_iter()
        .find(|&c| ask(seed, c, true).as_deref() == Some("ns0b"))
        .unwrap_or_else(|| panic!("no TCP client lands on ns0b:\n{}", logs()));
    let answer = ask_large_tcp(seed, source, 1800)
        .unwrap_or_else(|e| panic!("no answer to the 1800-byte TCP message: {e}\n{}", logs()));
    // rcode 0, one answer, the TXT naming the node.
    assert!(
        answer.starts_with("0 1") && answer.ends_with("ns0b"),
        "{answer}\n{}",
        logs()
    );
    let log = run.stop();
    // Without the cut, the client's TCP would get its answer anyway, one retransmission
    // timeout later, after the plane dropped the long segment: the counters tell.
    assert_eq!(counter(&log, "drop-too-big"), 0, "a segment was lost:\n{log}");
    if plane == testkit::plane::Plane::AfPacket {
        assert!(counter(&log, "resegmented") >= 1, "the message was not cut again:\n{log}");
    }
}
}
