//! What the frame parse takes from IPv4 and IPv6 frames, and what it leaves to the classifier.

use super::*;

fn ipv4_frame(proto: u8, fragment: u16, l4: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&ETHERTYPE_IPV4);
    let total = (20 + l4.len()) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&fragment.to_be_bytes());
    f.extend_from_slice(&[64, proto, 0, 0, 192, 0, 2, 7, 10, 0, 0, 9]);
    f.extend_from_slice(l4);
    f
}

fn udp(payload: &[u8]) -> Vec<u8> {
    let mut u = vec![0x30, 0x39, 0, 53];
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

fn tcp(flags: u8) -> Vec<u8> {
    let mut t = vec![
        0x30, 0x39, 0, 53, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff,
    ];
    t.extend_from_slice(&[0, 0, 0, 0]);
    t
}

#[test]
fn udp_and_tcp_over_ipv4() {
    let frame = ipv4_frame(protocol::UDP, 0, &udp(b"dns"));
    let q = parse(&frame).unwrap();
    assert_eq!(q.client, "192.0.2.7".parse::<IpAddr>().unwrap());
    assert_eq!(q.vip, "10.0.0.9".parse::<IpAddr>().unwrap());
    assert_eq!((q.proto, q.port, q.opens), (protocol::UDP, Some(53), true));
    assert_eq!(q.message, Some(&b"dns"[..]));

    let syn = ipv4_frame(protocol::TCP, 0, &tcp(TCP_SYN));
    assert!(parse(&syn).unwrap().opens);
    let ack = ipv4_frame(protocol::TCP, 0, &tcp(TCP_ACK));
    assert!(!parse(&ack).unwrap().opens);
    let syn_ack = ipv4_frame(protocol::TCP, 0, &tcp(TCP_SYN | TCP_ACK));
    assert!(!parse(&syn_ack).unwrap().opens);
    assert_eq!(parse(&syn).unwrap().message, None);
}

#[test]
fn fragments_cut_frames_and_other_protocols_pass() {
    // A later fragment (offset 185 x 8 bytes) carries no ports and opens nothing (the access
    // list only); a first one (MF set) is a whole query as far as the guards care.
    let later_frame = ipv4_frame(protocol::UDP, 185, &udp(b"x"));
    let later = parse(&later_frame).unwrap();
    assert_eq!(
        (later.port, later.opens, later.message),
        (None, false, None)
    );
    assert_eq!(
        parse(&ipv4_frame(protocol::UDP, 0x2000, &udp(b"x")))
            .unwrap()
            .port,
        Some(53)
    );
    assert!(
        parse(&ipv4_frame(1, 185, &[0; 8])).is_none(),
        "an ICMP fragment"
    );
    let frame = ipv4_frame(protocol::UDP, 0, &udp(b"x"));
    for cut in [0, 13, 30, 35, 37] {
        assert!(parse(&frame[..cut]).is_none(), "cut at {cut}");
    }
    assert!(parse(&ipv4_frame(1, 0, &[8, 0, 0, 0])).is_none(), "ICMP");
    let mut bad_ihl = frame.clone();
    bad_ihl[14] = 0x44;
    assert!(parse(&bad_ihl).is_none());
}

#[test]
fn udp_over_ipv6() {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&ETHERTYPE_IPV6);
    let payload = udp(b"q");
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    f.extend_from_slice(&[protocol::UDP, 64]);
    f.extend_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
    f.extend_from_slice(&"fd00::9".parse::<Ipv6Addr>().unwrap().octets());
    f.extend_from_slice(&payload);
    let q = parse(&f).unwrap();
    assert_eq!(q.client, "2001:db8::7".parse::<IpAddr>().unwrap());
    assert_eq!(q.vip, "fd00::9".parse::<IpAddr>().unwrap());
    assert_eq!(q.message, Some(&b"q"[..]));
}
