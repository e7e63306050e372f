//! Where the PROXY v2 header goes, seen from the target's side: plain sockets play a target
//! with `proxyprotocol enable` and read exactly what the proxy sends, over UDP (a header before
//! every query) and TCP (one header opening the connection), for IPv4 (127.0.163.0/24 to
//! 127.0.165.0/24, the last behind a wildcard listener) and IPv6 (::1) clients; the answers go back unchanged. Switching the option off live sends bare
//! queries again.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use fulcrum_core::model::Method;
use fulcrum_wire::proxy_v2::{Repr, Transport, FIXED_LEN};

use super::tests::{config, proxy, query, vip, TXT, ZONE};

const TIMEOUT: Option<Duration> = Some(Duration::from_secs(3));

/// The client and VIP of the header at the start of `bytes`, and where the rest begins.
fn header_of(bytes: &[u8]) -> (Transport, SocketAddr, SocketAddr, usize) {
    match Repr::parse(bytes) {
        Ok((
            Repr::Proxy {
                transport,
                source,
                destination,
                tlvs: &[],
            },
            len,
        )) => (transport, source, destination, len),
        other => panic!("no PROXY header at the start of {bytes:?}: {other:?}"),
    }
}

/// A VIP on `::1` with a port free for UDP and TCP.
fn vip6() -> SocketAddr {
    for _ in 0..50 {
        let tcp = TcpListener::bind("[::1]:0").expect("bind a TCP port on ::1");
        let addr = tcp.local_addr().expect("local address");
        if UdpSocket::bind(addr).is_ok() {
            return addr;
        }
    }
    panic!("no free port on ::1");
}

fn loopback(v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    } else {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    }
}

/// One query from `client` through the proxy to `target`: returns the header the target saw
/// (`None`: the query came bare), after answering it and checking the client got the answer.
fn udp_round(client: &UdpSocket, vip: SocketAddr, target: &UdpSocket, id: u16) -> Option<Header> {
    client.send_to(&query(id, ZONE, TXT), vip).expect("send");
    let mut buf = [0u8; 512];
    let (len, proxy) = target.recv_from(&mut buf).expect("a query at the target");
    let received = &buf[..len];
    let (header, message) = if received.starts_with(&fulcrum_wire::proxy_v2::SIGNATURE) {
        let (transport, source, destination, at) = header_of(received);
        (Some((transport, source, destination)), &received[at..])
    } else {
        (None, received)
    };
    let mut answer = message.to_vec();
    answer[2] |= 0x84;
    target.send_to(&answer, proxy).expect("answer");
    let mut back = [0u8; 512];
    let len = client.recv(&mut back).expect("the answer at the client");
    assert_eq!(&back[..2], &id.to_be_bytes(), "client ID restored");
    assert_eq!(
        &back[2..len],
        &answer[2..],
        "the answer is passed on unchanged"
    );
    header
}

type Header = (Transport, SocketAddr, SocketAddr);

/// Queries from `client_ip` to `vip`, the server listening on `listen` (the VIP itself, or a
/// wildcard on its port).
fn udp_case(vip: SocketAddr, client_ip: IpAddr) {
    udp_case_on(vip, vip, client_ip);
}

fn udp_case_on(listen: SocketAddr, vip: SocketAddr, client_ip: IpAddr) {
    let target = UdpSocket::bind((loopback(vip.is_ipv6()), 0)).expect("bind the target");
    target.set_read_timeout(TIMEOUT).expect("timeout");
    let proxy = proxy();
    let mut conf = config(listen, Method::First, &[target.local_addr().expect("addr")]);
    conf.targets
        .entry(1)
        .and_modify(|t| t.proxy_protocol = true);
    assert!(proxy.apply(&conf).is_empty());
    let client = UdpSocket::bind((client_ip, 0)).expect("bind a client");
    client.set_read_timeout(TIMEOUT).expect("timeout");
    let me = client.local_addr().expect("client address");
    for id in [1, 2] {
        let seen = udp_round(&client, vip, &target, id);
        assert_eq!(seen, Some((Transport::Datagram, me, vip)), "query {id}");
    }
    conf.targets
        .entry(1)
        .and_modify(|t| t.proxy_protocol = false);
    assert!(proxy.apply(&conf).is_empty());
    assert_eq!(
        udp_round(&client, vip, &target, 3),
        None,
        "switched off live"
    );
}

#[test]
fn every_udp_query_starts_with_the_clients_header_ipv4() {
    udp_case(vip(163), IpAddr::V4(Ipv4Addr::new(127, 0, 163, 100)));
}

#[test]
fn on_a_wildcard_listener_the_header_names_the_address_queried() {
    let vip = vip(165);
    let wildcard = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), vip.port());
    udp_case_on(wildcard, vip, IpAddr::V4(Ipv4Addr::new(127, 0, 165, 100)));
}

#[test]
fn every_udp_query_starts_with_the_clients_header_ipv6() {
    udp_case(vip6(), IpAddr::V6(Ipv6Addr::LOCALHOST));
}

fn tcp_case(vip: SocketAddr, client_ip: IpAddr) {
    let target = TcpListener::bind((loopback(vip.is_ipv6()), 0)).expect("bind the target");
    let proxy = proxy();
    let mut conf = config(vip, Method::First, &[target.local_addr().expect("addr")]);
    conf.targets
        .entry(1)
        .and_modify(|t| t.proxy_protocol = true);
    assert!(proxy.apply(&conf).is_empty());

    let client = socket2_connect(client_ip, vip);
    let me = client.local_addr().expect("client address");
    let mut client = client;
    client.set_read_timeout(TIMEOUT).expect("timeout");
    // Two pipelined queries: one header opens the connection, then the frames as sent.
    let mut out = Vec::new();
    for id in [7u16, 8] {
        let q = query(id, ZONE, TXT);
        out.extend_from_slice(&(q.len() as u16).to_be_bytes());
        out.extend_from_slice(&q);
    }
    client.write_all(&out).expect("send queries");

    let (mut upstream, _) = target.accept().expect("the proxy connects");
    upstream.set_read_timeout(TIMEOUT).expect("timeout");
    let mut fixed = [0u8; FIXED_LEN];
    upstream
        .read_exact(&mut fixed)
        .expect("the header's fixed part");
    let rest = usize::from(u16::from_be_bytes([fixed[14], fixed[15]]));
    let mut header = fixed.to_vec();
    header.resize(FIXED_LEN + rest, 0);
    upstream
        .read_exact(&mut header[FIXED_LEN..])
        .expect("the header's addresses");
    let (transport, source, destination, _) = header_of(&header);
    assert_eq!(
        (transport, source, destination),
        (Transport::Stream, me, vip)
    );

    let mut frames = vec![0u8; out.len()];
    upstream.read_exact(&mut frames).expect("the queries");
    assert_eq!(frames, out, "the queries follow the header unchanged");
    let mut answers = frames.clone();
    let second = 2 + usize::from(u16::from_be_bytes([out[0], out[1]]));
    for at in [2, second + 2] {
        answers[at + 2] |= 0x84;
    }
    upstream.write_all(&answers).expect("answer");
    let mut back = vec![0u8; answers.len()];
    client
        .read_exact(&mut back)
        .expect("the answers at the client");
    assert_eq!(back, answers, "answers come back unchanged");
}

/// A TCP connection from `source` (any port) to `to`.
fn socket2_connect(source: IpAddr, to: SocketAddr) -> TcpStream {
    let domain = socket2::Domain::for_address(to);
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, None).expect("socket");
    socket
        .bind(&SocketAddr::new(source, 0).into())
        .expect("bind the client");
    socket
        .connect_timeout(&to.into(), Duration::from_secs(3))
        .expect("connect to the VIP");
    socket.into()
}

#[test]
fn a_tcp_connection_starts_with_the_clients_header_ipv4() {
    tcp_case(vip(164), IpAddr::V4(Ipv4Addr::new(127, 0, 164, 100)));
}

#[test]
fn a_tcp_connection_starts_with_the_clients_header_ipv6() {
    tcp_case(vip6(), IpAddr::V6(Ipv6Addr::LOCALHOST));
}
