//! The XDP program and an AF_XDP socket on a real veth pair in a lab (root): frames the plane's
//! hot path is made of (unfragmented IPv4 UDP/TCP to a VIP, sent to the virtual MAC) arrive in
//! the socket's UMEM, everything else passes to the kernel (an `AF_PACKET` socket on the same
//! interface sees it, the AF_XDP socket does not), and a frame written into the UMEM leaves
//! through the interface to the peer. Also: the program is attached in native mode on veth,
//! and a second attach to the same interface is refused.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use fulcrum_sys::packet::{interface_index, FrameSender, PacketOptions, PacketSocket};
use fulcrum_xdp::program::{AttachMode, SteerProgram};
use fulcrum_xdp::xsk::{XskOptions, XskSocket};
use netlab::lab::Lab;

const VIP: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 1);
const VMAC: [u8; 6] = [0x00, 0x00, 0x5e, 0x00, 0x01, 0x07];
const OTHER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x99];
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];

/// An Ethernet frame with an IPv4 datagram of `protocol` (a UDP-sized header and payload),
/// tagged in its last byte so the receiver can tell the frames apart.
fn frame(dst_mac: [u8; 6], dst: Ipv4Addr, protocol: u8, fragment: bool, tag: u8) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&dst_mac);
    out.extend_from_slice(&PEER_MAC);
    out.extend_from_slice(&[0x08, 0x00]);
    let total: u16 = 20 + 8 + 16;
    let flags: u16 = if fragment { 0x2000 } else { 0 };
    out.extend_from_slice(&[0x45, 0]);
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&[0, 1]);
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&[64, protocol, 0, 0]);
    out.extend_from_slice(&[10, 99, 1, 1]);
    out.extend_from_slice(&dst.octets());
    out.extend_from_slice(&[0x30, 0x39, 0, 53, 0, 24, 0, 0]);
    out.extend_from_slice(&[0x5a; 15]);
    out.push(tag);
    out
}

#[test]
fn the_vips_hot_path_reaches_the_socket_and_everything_else_the_kernel() {
    testkit::process::require_root();
    let lab = Lab::new("xdp_steer");
    let node = lab.netns("node").expect("namespace node");
    let peer = lab.netns("peer").expect("namespace peer");
    lab.veth(&node, "eth1", &peer, "eth0").expect("veth pair");
    let peer_name = peer.name().to_string();
    let peer_name_back = peer_name.clone();

    let (mode, steered, passed, second_attach, came_back) =
        testkit::netns::run_in(&node, move || {
            let ifindex = interface_index("eth1").expect("eth1");
            let mut program = SteerProgram::attach(ifindex).expect("attach the XDP program");
            let mut socket =
                XskSocket::open(ifindex, 0, XskOptions::default()).expect("AF_XDP socket");
            program.register(0, &socket).expect("register the socket");
            program.set_vips(&BTreeSet::from([VIP])).expect("VIP map");
            program
                .set_virtual_macs([Some(VMAC), None])
                .expect("MAC map");
            let second_attach = SteerProgram::attach(ifindex).err();
            let mut kernel_side =
                PacketSocket::open("eth1", PacketOptions::default()).expect("AF_PACKET");

            let frames = vec![
                frame(VMAC, VIP, 17, false, 1),      // steered: UDP
                frame(VMAC, VIP, 6, false, 2),       // steered: TCP
                frame(OTHER_MAC, VIP, 17, false, 3), // another MAC
                frame(VMAC, Ipv4Addr::new(10, 235, 210, 9), 17, false, 4), // not a VIP
                frame(VMAC, VIP, 1, false, 5),       // ICMP
                frame(VMAC, VIP, 17, true, 6),       // a fragment
            ];
            testkit::netns::spawn_in(&peer_name, move || {
                let sender = FrameSender::open("eth0").map_err(|e| e.to_string())?;
                for f in &frames {
                    sender.send(f).map_err(|e| e.to_string())?;
                }
                Ok(())
            })
            .join()
            .expect("the sender thread")
            .expect("send the frames");

            let tags = |data: &[u8]| data.last().copied().unwrap_or(0);
            let mut steered = Vec::new();
            let mut passed = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline && (steered.len() < 2 || passed.len() < 4) {
                if socket.wait(50).unwrap_or(false) {
                    socket
                        .process(64, |data, _| steered.push(tags(data)))
                        .expect("drain the socket");
                }
                if kernel_side.wait(10).unwrap_or(false) {
                    kernel_side
                        .process(64, |f, _| {
                            if f.data.len() == 58 {
                                passed.push(tags(f.data))
                            }
                        })
                        .expect("drain the AF_PACKET socket");
                }
            }

            // And back: a frame written into the UMEM reaches the peer.
            let listener = testkit::netns::spawn_in(&peer_name_back, move || {
                let mut socket = PacketSocket::open("eth0", PacketOptions::default())
                    .map_err(|e| e.to_string())?;
                let deadline = Instant::now() + Duration::from_secs(3);
                let mut seen = false;
                while !seen && Instant::now() < deadline {
                    if socket.wait(50).map_err(|e| e.to_string())? {
                        socket
                            .process(64, |f, _| {
                                seen |= f.data.len() == 58 && f.data.last() == Some(&7)
                            })
                            .map_err(|e| e.to_string())?;
                    }
                }
                Ok(seen)
            });
            std::thread::sleep(Duration::from_millis(300));
            let back = frame(PEER_MAC, Ipv4Addr::new(10, 99, 1, 1), 17, false, 7);
            let queued = socket
                .send(back.len(), |out| out.copy_from_slice(&back))
                .expect("send through the UMEM");
            assert!(queued, "a free transmit chunk");
            let came_back = listener
                .join()
                .expect("the listener thread")
                .expect("listen on eth0");
            (program.mode(), steered, passed, second_attach, came_back)
        });
    assert!(
        came_back,
        "the frame sent through the UMEM reached the peer"
    );
    assert_eq!(mode, AttachMode::Native, "veth has native XDP");
    assert_eq!(
        steered,
        [1, 2],
        "only the hot path reaches the AF_XDP socket"
    );
    let passed: BTreeSet<u8> = passed.into_iter().collect();
    assert_eq!(
        passed,
        BTreeSet::from([3, 4, 5, 6]),
        "the rest reaches the kernel"
    );
    assert!(
        second_attach.is_some(),
        "a second program on the interface is refused"
    );
}
