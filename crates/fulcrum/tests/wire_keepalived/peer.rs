//! What the two keepalived wire tests (`wire_keepalived_vrrp`, `wire_keepalived_vrrp_v6`)
//! share: keepalived alone in a lab namespace until it is master, and a raw-frame peer on the
//! other end of the veth (python3 with AF_PACKET, as the wire crate has no sockets) that
//! captures what keepalived sends, then sends it our advert frame, after which keepalived must
//! log our higher priority and step down to BACKUP. Each test builds its own frames and reads
//! the captured ones with its family's decoders.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use fulcrum_wire::ethernet::{self, EtherType, EthernetAddress};
use fulcrum_wire::Result as WireResult;
use netlab::Ns;

use testkit::process::{require_on_path, wait_for_log};
use testkit::vrrp::Keepalived;

/// Needs root, iproute2, keepalived and python3; a missing tool fails the test with its name.
pub fn require_tools() {
    for tool in ["ip", "keepalived", "python3"] {
        require_on_path(tool);
    }
}

/// An Ethernet frame around an IP packet of `ip_len` bytes that `emit_ip` writes.
pub fn ethernet_frame(
    src_addr: EthernetAddress,
    dst_addr: EthernetAddress,
    ethertype: EtherType,
    ip_len: usize,
    emit_ip: impl FnOnce(&mut [u8]) -> WireResult<()>,
) -> WireResult<Vec<u8>> {
    let eth = ethernet::Repr {
        src_addr,
        dst_addr,
        ethertype,
    };
    let mut frame = vec![0u8; ethernet::HEADER_LEN + ip_len];
    eth.emit(&mut ethernet::Frame::new_unchecked(&mut frame[..]))?;
    emit_ip(&mut frame[ethernet::HEADER_LEN..])?;
    Ok(frame)
}

/// Python that listens on eth0 for `listen` seconds printing in hex each frame of `ethertype`
/// whose byte at `offset` (the IP protocol or next header) is one of `protocols`, then sends
/// `frame` `count` times, `gap` seconds apart.
const PEER_SCRIPT: &str = r#"
import socket, sys, time
listen, frame, count, gap = float(sys.argv[1]), bytes.fromhex(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
ethertype, offset = int(sys.argv[5]), int(sys.argv[6])
protocols = {int(p) for p in sys.argv[7].split(",")}
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ethertype))
s.bind(("eth0", 0))
s.settimeout(0.05)
end = time.time() + listen
while time.time() < end:
    try:
        data = s.recv(2048)
    except socket.timeout:
        continue
    if len(data) > offset and data[offset] in protocols:
        print(data.hex(), flush=True)
for _ in range(count):
    s.send(frame)
    time.sleep(gap)
"#;

/// What the peer listens for: frames of `ethertype` with one of `protocols` at byte `offset`.
pub struct Capture {
    pub ethertype: u16,
    pub offset: usize,
    pub protocols: &'static [u8],
}

/// How the peer sends our advert after listening.
pub struct Send {
    pub listen_s: f64,
    pub frame: Vec<u8>,
    pub count: u32,
    pub gap_s: f64,
}

/// Runs keepalived with `config` in `keepalived_ns` until it is master, then the peer in
/// `peer_ns`; checks that keepalived stepped down for our advert (so it verified our lengths
/// and checksums), stops it, and returns the frames the peer captured.
pub fn keepalived_steps_down(
    scratch: &Path,
    keepalived_ns: &Ns,
    config: &str,
    peer_ns: &Ns,
    capture: &Capture,
    send: &Send,
) -> Vec<Vec<u8>> {
    let Keepalived { proc, log, .. } = Keepalived::spawn(keepalived_ns, scratch, "ka", config);
    wait_for_log(&log, "Entering MASTER STATE", Duration::from_secs(15));

    let hex: String = send.frame.iter().map(|b| format!("{b:02x}")).collect();
    let protocols: Vec<String> = capture.protocols.iter().map(u8::to_string).collect();
    let output = peer_ns
        .exec(&[
            "python3",
            "-c",
            PEER_SCRIPT,
            &send.listen_s.to_string(),
            &hex,
            &send.count.to_string(),
            &send.gap_s.to_string(),
            &capture.ethertype.to_string(),
            &capture.offset.to_string(),
            &protocols.join(","),
        ])
        .expect("run python3 in the peer namespace");
    assert!(
        output.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = wait_for_log(&log, "with higher priority 200", Duration::from_secs(5));
    let master_at = text.find("Entering MASTER STATE").unwrap_or(0);
    assert!(
        text[master_at..].contains("Entering BACKUP STATE"),
        "keepalived heard our advert but did not step down:\n{text}"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &proc.pid().to_string()])
        .output();
    let _ = proc.wait_timeout(Duration::from_secs(5));
    decode_hex_lines(&String::from_utf8_lossy(&output.stdout))
}

fn decode_hex_lines(text: &str) -> Vec<Vec<u8>> {
    text.lines()
        .filter_map(|line| {
            (0..line.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(line.get(i..i + 2)?, 16).ok())
                .collect()
        })
        .collect()
}
