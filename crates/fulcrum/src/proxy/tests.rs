//! The proxy driven directly (no daemon), against real Bind9 instances on loopback and, where a
//! backend must misbehave on purpose, a plain UDP socket playing a broken backend. Each test
//! uses its own 127.0.N.0/24 range for the proxy's address and its clients, and free ports for
//! the backends, so tests run in parallel.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use fulcrum_core::model::{Config, Method, Server, Target};
use fulcrum_core::stats::DropReason;
use netlab::bind9::{Bind9, Bind9Options, Zone};

use super::{Proxy, ProxyOptions};

pub(super) const ZONE: &str = "fulcrum.test";

/// A port free on 127.0.0.1 for both UDP and TCP at the time of asking.
pub(super) fn free_port() -> u16 {
    for _ in 0..50 {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a TCP port");
        let port = tcp.local_addr().expect("local address").port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on 127.0.0.1");
}

/// A Bind9 on 127.0.0.1 whose zone's apex TXT record is `name`; `big.` has ~3 kB of TXT.
pub(super) fn bind9(name: &str) -> Bind9 {
    let record = format!("@ IN TXT \"{name}\"");
    let big: Vec<String> = (0..14)
        .map(|i| format!("big IN TXT \"{name}-{i:02}-{}\"", "x".repeat(200)))
        .collect();
    let mut records: Vec<&str> = vec![record.as_str()];
    records.extend(big.iter().map(String::as_str));
    Bind9::start(Bind9Options {
        listen: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        port: free_port(),
        zones: vec![Zone::primary(ZONE, 1, &records)],
        netns: None,
        extra_options: "max-udp-size 4096;".to_string(),
    })
    .unwrap_or_else(|e| panic!("starting Bind9 {name}: {e}"))
}

/// One server on `vip` in front of the given backends (target ids 1, 2, ... in order).
pub(super) fn config(vip: SocketAddr, method: Method, backends: &[SocketAddr]) -> Config {
    let mut config = Config::default();
    let mut server = Server::new(1, vip.ip());
    server.port = vip.port();
    server.method = method;
    server.registered = true;
    server.enabled = true;
    for (i, backend) in backends.iter().enumerate() {
        let id = i as u32 + 1;
        let mut target = Target::new(id, backend.ip());
        target.port = Some(backend.port());
        target.registered = true;
        target.enabled = true;
        config.targets.insert(id, target);
        server.targets.push(id);
    }
    config.servers.insert(1, server);
    config.settings.tcp_idle = 2;
    config.settings.tcp_max_connections = 8;
    config
}

pub(super) fn proxy() -> Proxy {
    Proxy::with_options(ProxyOptions {
        workers: 2,
        udp_timeout: Duration::from_millis(400),
        ..ProxyOptions::default()
    })
}

pub(super) fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = vec![
        (id >> 8) as u8,
        id as u8,
        0x01,
        0x00,
        0,
        1,
        0,
        0,
        0,
        0,
        0,
        0,
    ];
    for label in name.split('.').filter(|l| !l.is_empty()) {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    q
}

pub(super) const TXT: u16 = 16;

/// Which instance answered: the marker found in the answer's bytes.
fn instance_of(answer: &[u8]) -> Option<&'static str> {
    let has = |needle: &[u8]| answer.windows(needle.len()).any(|w| w == needle);
    if has(b"inst-a") {
        Some("inst-a")
    } else if has(b"inst-b") {
        Some("inst-b")
    } else {
        None
    }
}

fn client(source: Ipv4Addr) -> UdpSocket {
    let socket = UdpSocket::bind((source, 0)).expect("bind a client source address");
    socket
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("set timeout");
    socket
}

/// Sends `message` to `to` and returns the answer (waiting up to 3 s).
fn ask(socket: &UdpSocket, to: SocketAddr, message: &[u8]) -> Vec<u8> {
    socket.send_to(message, to).expect("send a query");
    let mut buf = vec![0u8; 65_535];
    let (len, from) = socket
        .recv_from(&mut buf)
        .unwrap_or_else(|e| panic!("no answer from {to}: {e}"));
    assert_eq!(from, to, "the answer must come from the address queried");
    buf.truncate(len);
    buf
}

fn ask_instance(source: Ipv4Addr, vip: SocketAddr, id: u16) -> &'static str {
    let answer = ask(&client(source), vip, &query(id, ZONE, TXT));
    assert_eq!(&answer[..2], &id.to_be_bytes(), "client ID restored");
    instance_of(&answer).unwrap_or_else(|| panic!("answer names no instance: {answer:?}"))
}

fn tcp_ask_all(vip: SocketAddr, messages: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut stream = TcpStream::connect(vip).expect("connect over TCP");
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("set timeout");
    // Pipelined: every query goes out before any answer is read.
    let mut out = Vec::new();
    for m in messages {
        out.extend_from_slice(&(m.len() as u16).to_be_bytes());
        out.extend_from_slice(m);
    }
    stream.write_all(&out).expect("send queries");
    let mut answers = Vec::new();
    for _ in messages {
        let mut prefix = [0u8; 2];
        stream.read_exact(&mut prefix).expect("answer length");
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
        stream.read_exact(&mut body).expect("answer body");
        answers.push(body);
    }
    answers
}

pub(super) fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub(super) fn vip(net: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, net, 10)), free_port())
}

#[test]
fn round_robin_over_udp_and_tcp_reaches_both_bind9() {
    let (a, b) = (bind9("inst-a"), bind9("inst-b"));
    let vip = vip(31);
    let proxy = proxy();
    assert!(proxy
        .apply(&config(vip, Method::Rr, &[a.addr(), b.addr()]))
        .is_empty());
    let mut seen = Vec::new();
    for i in 0..8u16 {
        seen.push(ask_instance(Ipv4Addr::new(127, 0, 31, 100), vip, 1000 + i));
    }
    assert!(
        seen.contains(&"inst-a") && seen.contains(&"inst-b"),
        "{seen:?}"
    );

    let queries: Vec<Vec<u8>> = (0..4).map(|i| query(2000 + i, ZONE, TXT)).collect();
    let answers = tcp_ask_all(vip, &queries);
    for (i, answer) in answers.iter().enumerate() {
        assert_eq!(&answer[..2], &(2000 + i as u16).to_be_bytes());
        assert!(instance_of(answer).is_some());
    }

    let server = proxy.server_counters(1);
    assert_eq!(server.queries, 12, "{server:?}");
    assert_eq!(server.responses, 12, "{server:?}");
    assert_eq!(server.total_drops(), 0, "{server:?}");
    let (t1, t2) = (proxy.target_counters(1), proxy.target_counters(2));
    assert_eq!(t1.queries + t2.queries, 12);
    assert!(t1.bytes_in > 0 && t2.bytes_out > 0);
    proxy.shutdown();
}

#[test]
fn large_and_truncated_answers_pass_through() {
    let a = bind9("inst-a");
    let vip = vip(33);
    let proxy = proxy();
    assert!(proxy
        .apply(&config(vip, Method::First, &[a.addr()]))
        .is_empty());
    let name = format!("big.{ZONE}");
    // Without EDNS Bind9 truncates (TC) at 512 bytes: passed through unchanged.
    let answer = ask(
        &client(Ipv4Addr::new(127, 0, 33, 100)),
        vip,
        &query(7, &name, TXT),
    );
    assert_ne!(answer[2] & 0x02, 0, "TC set");
    // With EDNS and a large buffer the ~3 kB answer arrives whole over UDP.
    let mut edns = query(8, &name, TXT);
    edns[11] = 1; // ARCOUNT 1
    edns.extend_from_slice(&[0, 0, 41, 0xff, 0xff, 0, 0, 0, 0, 0, 0]);
    let answer = ask(&client(Ipv4Addr::new(127, 0, 33, 100)), vip, &edns);
    assert_eq!(answer[2] & 0x02, 0, "not truncated");
    assert!(answer.len() > 2800, "{} bytes", answer.len());
    // And over TCP.
    let answers = tcp_ask_all(vip, &[query(9, &name, TXT)]);
    assert!(answers[0].len() > 2800);
}

#[test]
fn sessions_keep_each_client_on_its_target() {
    let (a, b) = (bind9("inst-a"), bind9("inst-b"));
    let vip = vip(32);
    let proxy = proxy();
    assert!(proxy
        .apply(&config(vip, Method::Session, &[a.addr(), b.addr()]))
        .is_empty());
    let clients: Vec<Ipv4Addr> = (1..=120u8).map(|i| Ipv4Addr::new(127, 0, 32, i)).collect();
    let mut first = Vec::new();
    for (i, c) in clients.iter().enumerate() {
        first.push(ask_instance(*c, vip, i as u16));
    }
    for round in 1..3u16 {
        for (i, c) in clients.iter().enumerate() {
            assert_eq!(
                ask_instance(*c, vip, round * 1000 + i as u16),
                first[i],
                "client {c} moved"
            );
        }
    }
    let on_a = first.iter().filter(|&&t| t == "inst-a").count();
    assert!(
        on_a > 20 && on_a < 100,
        "hash placement is lopsided: {on_a} of 120 on a"
    );

    // `show sessions` lists every client once, with the target it is stuck to.
    let text = proxy.show_sessions(None);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("120 sessions"), "{text}");
    let rows: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| l.trim_start().starts_with(char::is_numeric) && l.contains("127.0.32."))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 120, "{text}");
    for row in &rows {
        let addr: Ipv4Addr = row[1].parse().expect("address column");
        let index = usize::from(addr.octets()[3]) - 1;
        let want = if first[index] == "inst-a" { "1" } else { "2" };
        assert_eq!(row[2], "any", "{row:?}");
        assert_eq!(row[3], "1", "server column: {row:?}");
        assert_eq!(row[4], want, "target column: {row:?}");
        let hash: u32 = row[0].parse().expect("hash column");
        assert_eq!(hash, u32::from(addr) & 0xff_ffff);
    }
    let limited = proxy.show_sessions(Some(5));
    assert!(
        limited.contains("remaining sessions not shown"),
        "{limited}"
    );
    assert_eq!(proxy.target_counters(1).sessions as usize, on_a);
    assert_eq!(proxy.server_counters(1).sessions, 120);

    // Target 2 disabled: no new client goes there; clients already there may stay.
    let mut disabled = config(vip, Method::Session, &[a.addr(), b.addr()]);
    if let Some(t) = disabled.targets.get_mut(&2) {
        t.enabled = false;
    }
    assert!(proxy.apply(&disabled).is_empty());
    for i in 1..=60u8 {
        let newcomer = Ipv4Addr::new(127, 0, 132, i);
        assert_eq!(ask_instance(newcomer, vip, u16::from(i)), "inst-a");
    }
    let stayed = clients
        .iter()
        .enumerate()
        .filter(|(i, _)| first[*i] == "inst-b")
        .all(|(i, c)| ask_instance(*c, vip, 5000 + i as u16) == "inst-b");
    assert!(stayed, "a disabled target drains: its present clients stay");

    // Target 2 down (health): its clients move to target 1 at once.
    proxy.set_operational(2, false);
    for (i, c) in clients.iter().enumerate() {
        assert_eq!(ask_instance(*c, vip, 6000 + i as u16), "inst-a");
    }
    assert_eq!(proxy.target_counters(2).sessions, 0);
}

#[test]
fn malformed_queries_are_counted_and_dropped() {
    let a = bind9("inst-a");
    let vip = vip(34);
    let proxy = proxy();
    assert!(proxy
        .apply(&config(vip, Method::Hash, &[a.addr()]))
        .is_empty());
    let sock = client(Ipv4Addr::new(127, 0, 34, 100));
    let good = query(1, ZONE, TXT);
    let mut response = good.clone();
    response[2] |= 0x80;
    let mut two_questions = good.clone();
    two_questions[5] = 2;
    let mut cut = good.clone();
    cut.truncate(good.len() - 3);
    let bad: [(&[u8], DropReason); 5] = [
        (&[], DropReason::Runt),
        (&good[..11], DropReason::Runt),
        (&response, DropReason::NotQuery),
        (&two_questions, DropReason::BadCounts),
        (&cut, DropReason::Malformed),
    ];
    for (bytes, _) in &bad {
        sock.send_to(bytes, vip).expect("send");
    }
    // The proxy still serves, and answers nothing to the bad ones.
    assert_eq!(instance_of(&ask(&sock, vip, &good)), Some("inst-a"));
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let mut buf = [0u8; 512];
    assert!(
        sock.recv_from(&mut buf).is_err(),
        "no answer to a bad query"
    );
    wait_until("drop counters", || {
        let c = proxy.server_counters(1);
        c.drops[DropReason::Runt.index()] == 2
            && c.drops[DropReason::NotQuery.index()] == 1
            && c.drops[DropReason::BadCounts.index()] == 1
            && c.drops[DropReason::Malformed.index()] == 1
    });
    assert_eq!(proxy.server_counters(1).responses, 1);
}

/// A backend that answers wrongly on purpose: first with an unknown ID, then a different
/// question, then correctly; and stays silent for the query named `silent.`.
#[test]
fn stray_answers_are_refused_and_silence_times_out() {
    let backend = UdpSocket::bind("127.0.0.1:0").expect("bind the backend");
    backend
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let backend_addr = backend.local_addr().expect("address");
    let vip = vip(35);
    let proxy = proxy();
    assert!(proxy
        .apply(&config(vip, Method::First, &[backend_addr]))
        .is_empty());
    let sock = client(Ipv4Addr::new(127, 0, 35, 100));
    sock.send_to(&query(0x4242, ZONE, TXT), vip).expect("send");
    let mut buf = [0u8; 512];
    let (len, proxy_side) = backend
        .recv_from(&mut buf)
        .expect("query reaches the backend");
    let upstream = buf[..len].to_vec();
    assert_eq!(
        &upstream[2..],
        &query(0x4242, ZONE, TXT)[2..],
        "only the ID is rewritten"
    );
    let mut answer = upstream.clone();
    answer[2] |= 0x84;
    let mut unknown = answer.clone();
    unknown[0] ^= 0xff;
    unknown[1] ^= 0x55;
    let mut other_question = answer.clone();
    let qtype_at = other_question.len() - 3;
    other_question[qtype_at] = 1; // type A instead of TXT
                                  // The real answer is as large as UDP allows (padding after the message is still carried).
    answer.resize(65_507, 0);
    for stray in [&unknown, &other_question, &answer] {
        backend.send_to(stray, proxy_side).expect("backend send");
    }
    let got = ask_reply(&sock);
    assert_eq!(&got[..2], &[0x42, 0x42], "client ID restored");
    assert_eq!(got.len(), 65_507, "the largest UDP answer passes through");
    assert_eq!(&got[2..], &answer[2..]);
    wait_until("unknown-id drops", || {
        proxy.target_counters(1).drops[DropReason::UnknownId.index()] == 2
    });

    // A query the backend never answers is forgotten after the timeout and counted.
    sock.send_to(&query(7, &format!("silent.{ZONE}"), TXT), vip)
        .expect("send");
    backend
        .recv_from(&mut buf)
        .expect("the silent query arrives");
    wait_until("a timeout", || {
        proxy.server_counters(1).timeouts == 1 && proxy.target_counters(1).timeouts == 1
    });
}

fn ask_reply(sock: &UdpSocket) -> Vec<u8> {
    let mut buf = vec![0u8; 65_535];
    let (len, _) = sock.recv_from(&mut buf).expect("an answer");
    buf.truncate(len);
    buf
}

#[test]
fn a_broken_tcp_frame_closes_only_its_connection() {
    let a = bind9("inst-a");
    let vip = vip(36);
    let proxy = proxy();
    assert!(proxy
        .apply(&config(vip, Method::Rr, &[a.addr()]))
        .is_empty());
    let healthy = TcpStream::connect(vip).expect("connect");
    let mut broken = TcpStream::connect(vip).expect("connect");
    broken
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    broken
        .write_all(&[0, 3, 1, 2, 3])
        .expect("send a 3-byte frame");
    let mut buf = [0u8; 16];
    assert_eq!(
        broken.read(&mut buf).ok(),
        Some(0),
        "the broken connection is closed"
    );
    drop(healthy);
    let answers = tcp_ask_all(vip, &[query(5, ZONE, TXT), query(6, ZONE, TXT)]);
    assert_eq!(answers.len(), 2);
    wait_until("a bad-frame drop", || {
        proxy.server_counters(1).drops[DropReason::BadFrame.index()] == 1
    });
}

#[test]
fn a_client_that_half_closes_still_gets_its_answers() {
    let a = bind9("inst-a");
    let vip = vip(39);
    let proxy = proxy();
    assert!(proxy
        .apply(&config(vip, Method::Rr, &[a.addr()]))
        .is_empty());
    let mut stream = TcpStream::connect(vip).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    for id in [21u16, 22] {
        let q = query(id, ZONE, TXT);
        stream
            .write_all(&(q.len() as u16).to_be_bytes())
            .and_then(|_| stream.write_all(&q))
            .expect("send");
    }
    stream
        .shutdown(std::net::Shutdown::Write)
        .expect("half-close");
    let mut all = Vec::new();
    stream.read_to_end(&mut all).expect("answers, then the end");
    let mut ids = Vec::new();
    let mut at = 0;
    while at + 2 <= all.len() {
        let len = usize::from(u16::from_be_bytes([all[at], all[at + 1]]));
        ids.push(u16::from_be_bytes([all[at + 2], all[at + 3]]));
        at += 2 + len;
    }
    ids.sort();
    assert_eq!(ids, vec![21, 22]);
}

#[test]
fn tcp_connections_beyond_the_cap_are_refused() {
    let a = bind9("inst-a");
    let vip = vip(37);
    let proxy = proxy();
    assert!(proxy
        .apply(&config(vip, Method::Rr, &[a.addr()]))
        .is_empty());
    let held: Vec<TcpStream> = (0..8)
        .map(|_| TcpStream::connect(vip).expect("connect"))
        .collect();
    wait_until("8 open connections", || proxy.tcp_connections() == 8);
    let mut refused = TcpStream::connect(vip).expect("the kernel still accepts");
    refused
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let mut buf = [0u8; 4];
    assert_eq!(refused.read(&mut buf).ok(), Some(0), "closed at once");
    wait_until("a conn-limit drop", || {
        proxy.server_counters(1).drops[DropReason::ConnLimit.index()] == 1
    });
    drop(held);
    wait_until("connections closed", || proxy.tcp_connections() == 0);
    assert_eq!(tcp_ask_all(vip, &[query(1, ZONE, TXT)]).len(), 1);
}

#[test]
fn idle_tcp_connections_are_closed() {
    let a = bind9("inst-a");
    let vip = vip(38);
    let proxy = proxy();
    assert!(proxy
        .apply(&config(vip, Method::Rr, &[a.addr()]))
        .is_empty());
    let mut idle = TcpStream::connect(vip).expect("connect");
    idle.set_read_timeout(Some(Duration::from_secs(6)))
        .expect("timeout");
    let started = Instant::now();
    let mut buf = [0u8; 4];
    assert_eq!(idle.read(&mut buf).ok(), Some(0));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1500),
        "closed too early: {waited:?}"
    );
}

#[test]
fn a_server_that_cannot_be_bound_is_reported() {
    let taken = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let vip = taken.local_addr().expect("address");
    let proxy = proxy();
    let problems = proxy.apply(&config(vip, Method::Rr, &["127.0.0.1:9".parse().unwrap()]));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("server 1"), "{problems:?}");
}
