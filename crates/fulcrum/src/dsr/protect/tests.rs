//! What the frame parse takes from IPv4 and IPv6 frames, and what it leaves to the classifier;
//! and, for any bytes at all, that it never panics and takes every field it returns from the
//! bytes where the protocol puts it.

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

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Any 12 address bytes, then an IPv4, IPv6 or any other EtherType, then any bytes with,
    /// mostly, UDP or TCP as the IP protocol and an IPv4 fragment offset of 0: most cases reach
    /// the transport parse (uniformly random frames almost never would).
    fn frames() -> impl Strategy<Value = Vec<u8>> {
        let ethertype = prop_oneof![Just(ETHERTYPE_IPV4), Just(ETHERTYPE_IPV6), any::<[u8; 2]>(),];
        let proto = prop_oneof![Just(protocol::UDP), Just(protocol::TCP), any::<u8>()];
        let frame = (
            proptest::collection::vec(any::<u8>(), 12),
            ethertype,
            proptest::collection::vec(any::<u8>(), 0..120),
            proto,
            any::<bool>(),
        )
            .prop_map(|(macs, ethertype, mut ip, proto, first_fragment)| {
                let (proto_at, fragment_at) = if ethertype == ETHERTYPE_IPV6 {
                    (6, None)
                } else {
                    (9, Some(6))
                };
                if let Some(byte) = ip.get_mut(proto_at) {
                    *byte = proto;
                }
                if let Some(at) = fragment_at.filter(|_| first_fragment) {
                    if ip.len() > at + 1 {
                        ip[at] &= 0xe0;
                        ip[at + 1] = 0;
                    }
                }
                [&macs[..], &ethertype, &ip].concat()
            });
        prop_oneof![frame, proptest::collection::vec(any::<u8>(), 0..80)]
    }

    fn be16(frame: &[u8], at: usize) -> u16 {
        u16::from_be_bytes([frame[at], frame[at + 1]])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// Never a panic; and a frame taken as a query is UDP or TCP over IPv4 or IPv6 whose
        /// client and VIP are its source and destination address, whose port is its
        /// destination port (none for a later IPv4 fragment), whose message is the rest of
        /// the frame after the UDP header, and which opens a connection exactly when it is
        /// UDP or a TCP SYN without ACK.
        #[test]
        fn parse_takes_every_field_from_the_frame(frame in frames()) {
            let Some(query) = parse(&frame) else {
                return Ok(());
            };
            prop_assert!(matches!(query.proto, protocol::UDP | protocol::TCP));
            let l4 = match &frame[12..14] {
                t if t == ETHERTYPE_IPV4 => {
                    let header_len = usize::from(frame[14] & 0x0f) * 4;
                    prop_assert!(header_len >= 20);
                    prop_assert_eq!(query.proto, frame[23]);
                    let src: [u8; 4] = frame[26..30].try_into().unwrap();
                    let dst: [u8; 4] = frame[30..34].try_into().unwrap();
                    prop_assert_eq!(query.client, IpAddr::from(src));
                    prop_assert_eq!(query.vip, IpAddr::from(dst));
                    if be16(&frame, 20) & 0x1fff != 0 {
                        prop_assert_eq!((query.port, query.message, query.opens), (None, None, false));
                        return Ok(());
                    }
                    14 + header_len
                }
                t if t == ETHERTYPE_IPV6 => {
                    prop_assert_eq!(query.proto, frame[20]);
                    let src: [u8; 16] = frame[22..38].try_into().unwrap();
                    let dst: [u8; 16] = frame[38..54].try_into().unwrap();
                    prop_assert_eq!(query.client, IpAddr::from(src));
                    prop_assert_eq!(query.vip, IpAddr::from(dst));
                    54
                }
                other => {
                    return Err(TestCaseError::fail(format!("EtherType {other:02x?} taken")));
                }
            };
            prop_assert_eq!(query.port, Some(be16(&frame, l4 + 2)));
            if query.proto == protocol::UDP {
                prop_assert!(query.opens);
                prop_assert_eq!(query.message, frame.get(l4 + 8..));
            } else {
                prop_assert_eq!(query.message, None);
                prop_assert_eq!(query.opens, frame[l4 + 13] & (TCP_SYN | TCP_ACK) == TCP_SYN);
            }
        }
    }
}
