//! Interoperation of the VRRP packet format with keepalived (Debian's `keepalived`), for v2 and
//! v3, on a veth link between two lab namespaces:
//! - keepalived (priority 100) becomes master alone; the adverts it sends, captured on the
//!   link, parse with `fulcrum_wire::vrrp` and carry its VRID, priority, interval and VIP;
//! - adverts built with `fulcrum_wire` (priority 200, from another address) make it log the
//!   higher priority and enter BACKUP, so it verified our lengths and checksums.
//!
//! Needs root, iproute2, keepalived and python3 (which sends and receives raw frames with
//! AF_PACKET, as the wire crate has no sockets). A missing tool fails the test with its name.
//!
//! It tests `fulcrum-wire` but lives with the daemon's integration tests (root, real peers), so
//! `cargo test -p fulcrum-wire` runs as any user.

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::time::Duration;

use fulcrum_wire::ethernet::{self, EtherType, EthernetAddress};
use fulcrum_wire::vrrp::{self, Auth, Version};
use fulcrum_wire::{ipv4, Result as WireResult};
use netlab::Lab;

use testkit::process::{require_on_path, wait_for_log};

const KEEPALIVED_ADDR: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 43);
const FULCRUM_ADDR: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 44);
const VIP: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 1);

/// An advert frame from Fulcrum's address and the virtual MAC, built only with this crate.
fn fulcrum_advert(version: Version, priority: u8, interval_cs: u16) -> WireResult<Vec<u8>> {
    let advert = vrrp::Repr {
        version,
        vrid: 7,
        priority,
        advert_interval_cs: interval_cs,
        auth: Auth::None,
        addresses: vec![VIP],
    };
    let ip = ipv4::Repr {
        src_addr: FULCRUM_ADDR,
        dst_addr: vrrp::MULTICAST_ADDR,
        protocol: ipv4::protocol::VRRP,
        payload_len: advert.buffer_len(),
        ttl: vrrp::TTL,
        tos: 0xc0,
        ident: 1,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
    };
    let eth = ethernet::Repr {
        src_addr: EthernetAddress::vrrp_virtual(7),
        dst_addr: EthernetAddress::ipv4_multicast(vrrp::MULTICAST_ADDR),
        ethertype: EtherType::Ipv4,
    };
    let mut frame = vec![0u8; ethernet::HEADER_LEN + ip.buffer_len()];
    eth.emit(&mut ethernet::Frame::new_unchecked(&mut frame[..]))?;
    let packet = &mut frame[ethernet::HEADER_LEN..];
    advert.emit(
        &mut packet[ipv4::HEADER_LEN..],
        FULCRUM_ADDR,
        vrrp::MULTICAST_ADDR,
    )?;
    ip.emit(&mut ipv4::Packet::new_unchecked(packet))?;
    Ok(frame)
}

/// Python that listens on eth0 for `listen` seconds printing each VRRP frame in hex, then sends
/// `frame` `count` times, `gap` seconds apart.
const PEER_SCRIPT: &str = r#"
import socket, sys, time
listen, frame, count, gap = float(sys.argv[1]), bytes.fromhex(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
s.bind(("eth0", 0))
s.settimeout(0.05)
end = time.time() + listen
while time.time() < end:
    try:
        data = s.recv(2048)
    except socket.timeout:
        continue
    if len(data) > 23 and data[23] == 112:
        print(data.hex(), flush=True)
for _ in range(count):
    s.send(frame)
    time.sleep(gap)
"#;

fn interop(version: Version, interval_cs: u16) {
    for tool in ["ip", "keepalived", "python3"] {
        require_on_path(tool);
    }
    let number = version.number();
    let scratch = tempfile::tempdir().expect("scratch directory");
    let lab = Lab::new(&format!("vrrpka{number}"));
    let keepalived_ns = lab.netns("ka").expect("namespace");
    let peer_ns = lab.netns("peer").expect("namespace");
    lab.veth(&keepalived_ns, "eth0", &peer_ns, "eth0")
        .expect("veth");
    keepalived_ns
        .addr("eth0", "10.235.210.43/24")
        .expect("address");

    let advert_int = format!("{}", f64::from(interval_cs) / 100.0);
    let config = format!(
        "global_defs {{\n  router_id fulcrumtest\n}}\n\
         vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 7\n  \
         priority 100\n  advert_int {advert_int}\n  version {number}\n  \
         virtual_ipaddress {{\n    10.235.210.1/32\n  }}\n}}\n"
    );
    let conf = scratch.path().join("keepalived.conf");
    std::fs::write(&conf, config).expect("write keepalived.conf");
    let log = scratch.path().join("keepalived.log");
    let log_file = std::fs::File::create(&log).expect("log file");
    let mut command = keepalived_ns.command("keepalived");
    command
        .args(["-n", "-l", "-D", "--vrrp", "-f"])
        .arg(&conf)
        .arg("-p")
        .arg(scratch.path().join("keepalived.pid"))
        .arg("-r")
        .arg(scratch.path().join("vrrp.pid"))
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log file"))
        .stderr(log_file);
    let keepalived = keepalived_ns.spawn(command).expect("start keepalived");
    wait_for_log(&log, "Entering MASTER STATE", Duration::from_secs(15));

    let frame = fulcrum_advert(version, 200, interval_cs).expect("build advert");
    let hex: String = frame.iter().map(|b| format!("{b:02x}")).collect();
    let interval_s = f64::from(interval_cs) / 100.0;
    let output = peer_ns
        .exec(&[
            "python3",
            "-c",
            PEER_SCRIPT,
            &format!("{}", 2.5 * interval_s.max(0.5)),
            &hex,
            "5",
            &format!("{interval_s}"),
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
        .args(["-TERM", &keepalived.pid().to_string()])
        .output();
    let _ = keepalived.wait_timeout(Duration::from_secs(5));

    // What keepalived sent, read with our decoder.
    let frames: Vec<Vec<u8>> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            (0..line.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(line.get(i..i + 2)?, 16).ok())
                .collect()
        })
        .collect();
    assert!(!frames.is_empty(), "no advert from keepalived was captured");
    for bytes in frames {
        let eth = ethernet::Frame::new_checked(&bytes[..]).expect("ethernet");
        let ip = ipv4::Packet::new_checked(eth.payload()).expect("ipv4");
        let ip_repr = ipv4::Repr::parse(&ip).expect("ipv4 header");
        assert_eq!((ip_repr.src_addr, ip_repr.ttl), (KEEPALIVED_ADDR, 255));
        let packet = vrrp::Packet::new_checked(ip.payload()).expect("vrrp view");
        let repr = vrrp::Repr::parse(&packet, ip_repr.src_addr, ip_repr.dst_addr)
            .expect("keepalived's advert parses and its checksum verifies");
        assert_eq!(repr.version, version);
        assert_eq!((repr.vrid, repr.priority), (7, 100));
        assert_eq!(repr.advert_interval_cs, interval_cs);
        assert_eq!(repr.addresses, vec![VIP]);
    }
}

#[test]
fn keepalived_v2_and_fulcrum_adverts_interoperate() {
    interop(Version::V2, 100);
}

#[test]
fn keepalived_v3_and_fulcrum_adverts_interoperate() {
    interop(Version::V3, 10);
}
