//! The proxy's upstream socket pools seen from the target's side: a plain UDP socket plays the
//! target so that the source port of every query can be read and answers can be sent to the
//! port of our choosing. Uses 127.0.47.0/24 and 127.0.48.0/24.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use fulcrum_core::model::Method;
use fulcrum_core::stats::DropReason;

use super::tests::{config, proxy, query, vip, wait_until, TXT, ZONE};

struct Target {
    socket: UdpSocket,
    addr: SocketAddr,
}

impl Target {
    fn new() -> Target {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the target");
        socket
            .set_read_timeout(Some(Duration::from_secs(3)))
            .expect("timeout");
        let addr = socket.local_addr().expect("address");
        Target { socket, addr }
    }

    /// The next query the proxy sends, and the proxy's address it came from.
    fn receive(&self) -> (Vec<u8>, SocketAddr) {
        let mut buf = [0u8; 512];
        let (len, from) = self
            .socket
            .recv_from(&mut buf)
            .expect("a query from the proxy");
        (buf[..len].to_vec(), from)
    }

    /// Answers `upstream_query` (QR and AA set) to `to`.
    fn answer(&self, upstream_query: &[u8], to: SocketAddr) {
        let mut answer = upstream_query.to_vec();
        answer[2] |= 0x84;
        self.socket.send_to(&answer, to).expect("answer");
    }
}

fn client(source: Ipv4Addr) -> UdpSocket {
    let socket = UdpSocket::bind((source, 0)).expect("bind a client");
    socket
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    socket
}

fn reply(client: &UdpSocket) -> Option<Vec<u8>> {
    let mut buf = [0u8; 512];
    client.recv(&mut buf).ok().map(|len| buf[..len].to_vec())
}

/// Sends `count` queries from one client, each answered by `target`; the source ports seen.
fn ports_of(count: u16, client: &UdpSocket, vip: SocketAddr, target: &Target) -> HashSet<u16> {
    let mut ports = HashSet::new();
    for id in 0..count {
        client.send_to(&query(id, ZONE, TXT), vip).expect("send");
        let (upstream, from) = target.receive();
        ports.insert(from.port());
        target.answer(&upstream, from);
        let answer = reply(client).expect("the answer comes back");
        assert_eq!(&answer[..2], &id.to_be_bytes(), "client ID restored");
    }
    ports
}

#[test]
fn queries_leave_from_several_random_ports_rotated_on_reload() {
    let target = Target::new();
    let vip = vip(47);
    let proxy = proxy();
    let mut conf = config(vip, Method::First, &[target.addr]);
    conf.settings.upstream_sockets = 4;
    assert!(proxy.apply(&conf).is_empty());
    // One client reaches one worker (SO_REUSEPORT hashes its address): that worker's pool.
    let sock = client(Ipv4Addr::new(127, 0, 47, 100));
    let first = ports_of(200, &sock, vip, &target);
    assert_eq!(
        first.len(),
        4,
        "every socket of the pool is drawn: {first:?}"
    );

    // A query in flight across a reload is still answered on its old socket.
    sock.send_to(&query(999, ZONE, TXT), vip).expect("send");
    let (in_flight, old_port) = target.receive();
    assert!(proxy.apply(&conf).is_empty());
    target.answer(&in_flight, old_port);
    let answer = reply(&sock).expect("the answer to the query sent before the reload");
    assert_eq!(&answer[..2], &999u16.to_be_bytes());

    let second = ports_of(200, &sock, vip, &target);
    assert_eq!(second.len(), 4, "{second:?}");
    assert!(
        second.is_disjoint(&first),
        "fresh ports after a reload: {first:?} then {second:?}"
    );

    conf.settings.upstream_sockets = 1;
    assert!(proxy.apply(&conf).is_empty());
    let single = ports_of(50, &sock, vip, &target);
    assert_eq!(single.len(), 1, "{single:?}");
}

#[test]
fn an_answer_on_another_socket_of_the_pool_is_refused() {
    let target = Target::new();
    let vip = vip(48);
    let proxy = proxy();
    let mut conf = config(vip, Method::First, &[target.addr]);
    conf.settings.upstream_sockets = 2;
    assert!(proxy.apply(&conf).is_empty());
    let sock = client(Ipv4Addr::new(127, 0, 48, 100));
    let ports = ports_of(60, &sock, vip, &target);
    assert_eq!(ports.len(), 2, "{ports:?}");

    sock.send_to(&query(0x0a0a, ZONE, TXT), vip).expect("send");
    let (upstream, from) = target.receive();
    let other = ports
        .iter()
        .copied()
        .find(|&p| p != from.port())
        .expect("the other socket");
    // Right ID and question, wrong port: what a forger who guessed the ID but not the port sends.
    target.answer(&upstream, SocketAddr::new(from.ip(), other));
    wait_until("the misdirected answer counted", || {
        proxy.target_counters(1).drops[DropReason::UnknownId.index()] == 1
    });
    target.answer(&upstream, from);
    let answer = reply(&sock).expect("the answer on the right socket");
    assert_eq!(&answer[..2], &[0x0a, 0x0a]);
    assert_eq!(
        proxy.target_counters(1).drops[DropReason::UnknownId.index()],
        1
    );
}
