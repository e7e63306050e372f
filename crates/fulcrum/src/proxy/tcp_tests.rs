//! The TCP proxy's bounds, driven directly against a real Bind9 on loopback: the per-client
//! cap, the write timeout for a client that stops reading, and the lifetime of a connection
//! kept busy (one query at a time, never idle). Each test has its own 127.0.N.0/24.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::time::{Duration, Instant};

use fulcrum_core::model::Method;
use socket2::{Domain, Socket, Type};

use super::tests::{bind9, config, proxy, query, vip, wait_until, TXT, ZONE};

/// A TCP connection to `to` from `source`.
fn connect_from(source: Ipv4Addr, to: SocketAddr) -> TcpStream {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket
        .bind(&SocketAddr::V4(SocketAddrV4::new(source, 0)).into())
        .expect("bind the source");
    socket.connect(&to.into()).expect("connect");
    socket.into()
}

fn framed(message: &[u8]) -> Vec<u8> {
    let mut out = (message.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(message);
    out
}

/// Whether the proxy closed `stream` (end of stream or reset) within `limit`, reading and
/// discarding whatever comes first.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut buf = [0u8; 16 * 1024];
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return true,
        }
    }
    false
}

fn shown(proxy: &super::Proxy, line: &str) -> bool {
    proxy.show_tcp().lines().any(|l| l == line)
}

#[test]
fn a_client_gets_no_more_than_its_cap_and_others_still_get_in() {
    let a = bind9("inst-a");
    let vip = vip(41);
    let proxy = proxy();
    let mut conf = config(vip, Method::Rr, &[a.addr()]);
    conf.settings.tcp_client_connections = 3;
    assert!(proxy.apply(&conf).is_empty());
    let greedy = Ipv4Addr::new(127, 0, 41, 20);
    let held: Vec<TcpStream> = (0..3).map(|_| connect_from(greedy, vip)).collect();
    wait_until("3 open connections", || proxy.tcp_connections() == 3);
    let mut fourth = connect_from(greedy, vip);
    assert!(
        closed_within(&mut fourth, Duration::from_secs(3)),
        "the fourth connection of one client was kept"
    );
    assert!(
        shown(&proxy, "refused-client-cap 1"),
        "{}",
        proxy.show_tcp()
    );
    let mut other = connect_from(Ipv4Addr::new(127, 0, 41, 21), vip);
    other
        .write_all(&framed(&query(7, ZONE, TXT)))
        .expect("send a query");
    other
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let mut prefix = [0u8; 2];
    other
        .read_exact(&mut prefix)
        .expect("another client is answered");
    assert!(
        shown(&proxy, "open 4 from 2 client(s)"),
        "{}",
        proxy.show_tcp()
    );
    drop(held);
    drop(other);
    wait_until("connections closed", || proxy.tcp_connections() == 0);
}

#[test]
fn a_client_that_stops_reading_is_closed_after_the_write_timeout() {
    let a = bind9("inst-a");
    let vip = vip(42);
    let proxy = proxy();
    let mut conf = config(vip, Method::Rr, &[a.addr()]);
    conf.settings.tcp_write_timeout = 1;
    conf.settings.tcp_idle = 30;
    assert!(proxy.apply(&conf).is_empty());
    let mut lazy = connect_from(Ipv4Addr::new(127, 0, 42, 20), vip);
    lazy.set_write_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    // About 9 MB of ~3 kB answers, far more than the socket buffers hold; never read.
    let big = framed(&query(9, &format!("big.{ZONE}"), TXT));
    for _ in 0..3000 {
        if lazy.write_all(&big).is_err() {
            break;
        }
    }
    // On a loaded machine the accept can come after the writes gave up: wait for it, or the
    // count of open connections below is 0 before the connection was ever taken.
    wait_until("the connection accepted", || shown(&proxy, "accepted 1"));
    let deadline = Instant::now() + Duration::from_secs(15);
    while proxy.tcp_connections() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(proxy.tcp_connections(), 0, "{}", proxy.show_tcp());
    assert!(
        shown(&proxy, "closed-write-timeout 1"),
        "{}",
        proxy.show_tcp()
    );
}

#[test]
fn a_busy_connection_ends_at_its_lifetime() {
    let a = bind9("inst-a");
    let vip = vip(43);
    let proxy = proxy();
    let mut conf = config(vip, Method::Rr, &[a.addr()]);
    conf.settings.tcp_lifetime = 2;
    assert!(proxy.apply(&conf).is_empty());
    let mut busy = connect_from(Ipv4Addr::new(127, 0, 43, 20), vip);
    busy.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let started = Instant::now();
    let mut answered = 0;
    // A query every 300 ms (idle timeout 2 s): only the lifetime can end it; at most 10 s.
    while started.elapsed() < Duration::from_secs(10) {
        if busy.write_all(&framed(&query(3, ZONE, TXT))).is_err() {
            break;
        }
        let mut prefix = [0u8; 2];
        if busy.read_exact(&mut prefix).is_err() {
            break;
        }
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
        if busy.read_exact(&mut body).is_err() {
            break;
        }
        answered += 1;
        std::thread::sleep(Duration::from_millis(300));
    }
    let lasted = started.elapsed();
    assert!(answered >= 3, "only {answered} answers before the end");
    assert!(
        lasted < Duration::from_secs(10),
        "the connection outlived its 2 s lifetime: {lasted:?}"
    );
    wait_until("the lifetime counted", || {
        shown(&proxy, "closed-lifetime 1")
    });
}
