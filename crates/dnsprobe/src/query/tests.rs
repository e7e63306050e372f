//! The probe against real Bind9 instances on loopback, and against plain sockets playing a
//! target that never answers or one that reads what a PROXY-protocol probe sends.

use super::*;
use netlab::bind9::{free_loopback_port, Bind9, Bind9Options, Zone};
use std::net::{IpAddr, Ipv4Addr};

fn port() -> u16 {
    match free_loopback_port() {
        Ok(port) => port,
        Err(e) => panic!("{e}"),
    }
}

fn start(zones: Vec<Zone>) -> Bind9 {
    let options = Bind9Options {
        listen: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        port: port(),
        zones,
        netns: None,
        extra_options: String::new(),
    };
    match Bind9::start(options) {
        Ok(named) => named,
        Err(e) => panic!("{e}"),
    }
}

fn fast() -> QueryOptions {
    QueryOptions {
        retry: 1,
        retransmit: 1,
        ..QueryOptions::default()
    }
}

#[tokio::test]
async fn check_zone_against_a_real_bind9() {
    let mut named = start(vec![Zone::primary("check.test", 2024, &[])]);
    let server = named.addr();
    for tcp in [false, true] {
        let opts = QueryOptions { tcp, ..fast() };
        let soa = check_zone(server, "check.test", &opts).await;
        assert_eq!(soa.map(|s| s.serial), Ok(2024), "tcp {tcp}");
        let refused = check_zone(server, "other.test", &opts).await;
        assert_eq!(
            refused,
            Err(CheckFailure::NoAnswer {
                errorstring: "REFUSED".into()
            })
        );
        // A name inside the zone: NOERROR and no answer (the script's "Empty answer").
        let no_data = check_zone(server, "ns1.check.test", &opts).await;
        let no_data_error = "NOERROR".to_string();
        assert_eq!(
            no_data,
            Err(CheckFailure::NoAnswer {
                errorstring: no_data_error
            })
        );
        let missing = check_zone(server, "nothing.check.test", &opts).await;
        let missing_error = "NXDOMAIN".to_string();
        assert_eq!(
            missing,
            Err(CheckFailure::NoAnswer {
                errorstring: missing_error
            })
        );
    }
    named.stop();
    let started = Instant::now();
    let down = check_zone(server, "check.test", &fast()).await;
    assert!(
        matches!(down, Err(CheckFailure::NoAnswer { .. })),
        "{down:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_non_soa_answer_is_a_bad_answer() {
    let named = start(vec![Zone::primary(
        "cname.test",
        1,
        &["alias IN CNAME target.elsewhere.test."],
    )]);
    let failure = check_zone(named.addr(), "alias.cname.test", &fast()).await;
    assert_eq!(
        failure,
        Err(CheckFailure::BadAnswer {
            authoritative: true,
            answer_count: 1,
            first_type: Some("CNAME".into()),
            first_serial: None,
        })
    );
}

#[tokio::test]
async fn probes_leave_from_the_given_source() {
    // named answers only 127.0.0.2: the check passes from there and is refused otherwise.
    let options = Bind9Options {
        listen: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        port: port(),
        zones: vec![Zone::primary("source.test", 9, &[])],
        netns: None,
        extra_options: "allow-query { 127.0.0.2; };".into(),
    };
    let named = match Bind9::start(options) {
        Ok(named) => named,
        Err(e) => panic!("{e}"),
    };
    let from = Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
    for tcp in [false, true] {
        let opts = QueryOptions {
            tcp,
            ..QueryOptions::health_check(Duration::from_secs(1), from)
        };
        let soa = check_zone(named.addr(), "source.test", &opts).await;
        assert_eq!(soa.map(|s| s.serial), Ok(9), "tcp {tcp}");
        let anywhere = QueryOptions {
            source: None,
            ..opts
        };
        let refused = check_zone(named.addr(), "source.test", &anywhere).await;
        assert!(refused.is_err(), "tcp {tcp}: {refused:?}");
    }
}

#[tokio::test]
async fn a_proxy_protocol_probe_opens_with_a_local_header() {
    // Plain sockets play the target: what arrives must be the LOCAL header, then the query.
    let udp = match std::net::UdpSocket::bind("127.0.0.1:0") {
        Ok(socket) => socket,
        Err(e) => panic!("{e}"),
    };
    let tcp = match std::net::TcpListener::bind(("127.0.0.1", 0)) {
        Ok(listener) => listener,
        Err(e) => panic!("{e}"),
    };
    let (udp_addr, tcp_addr) = match (udp.local_addr(), tcp.local_addr()) {
        (Ok(u), Ok(t)) => (u, t),
        other => panic!("{other:?}"),
    };
    let opts = QueryOptions {
        proxy_local: true,
        ..QueryOptions::health_check(Duration::from_millis(300), None)
    };
    let over_udp = tokio::spawn({
        let opts = opts.clone();
        async move { check_zone(udp_addr, "proxied.test", &opts).await }
    });
    let over_tcp = tokio::spawn(async move {
        let opts = QueryOptions { tcp: true, ..opts };
        check_zone(tcp_addr, "proxied.test", &opts).await
    });
    let received = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut datagram = [0u8; 512];
        let len = udp.recv(&mut datagram).map_err(|e| e.to_string())?;
        let (mut stream, _) = tcp.accept().map_err(|e| e.to_string())?;
        let mut opening = [0u8; proxy_v2::FIXED_LEN + 2];
        stream.read_exact(&mut opening).map_err(|e| e.to_string())?;
        Ok::<_, String>((datagram[..len].to_vec(), opening))
    })
    .await;
    let (datagram, opening) = match received {
        Ok(Ok(both)) => both,
        other => panic!("{other:?}"),
    };
    for (what, bytes) in [("udp", &datagram[..]), ("tcp", &opening[..])] {
        match proxy_v2::Repr::parse(bytes) {
            Ok((proxy_v2::Repr::Local { tlvs: &[] }, 16)) => {}
            other => panic!("{what}: {other:?}"),
        }
    }
    let query = Message::from_vec(&datagram[16..]).map(|m| m.queries().len());
    assert_eq!(query.ok(), Some(1), "the query follows the header");
    let framed = usize::from(u16::from_be_bytes([opening[16], opening[17]]));
    assert_eq!(
        framed,
        datagram.len() - 16,
        "then the framed query over TCP"
    );
    for probe in [over_udp, over_tcp] {
        assert!(matches!(probe.await, Ok(Err(_))), "nobody answered");
    }
}

#[tokio::test]
async fn a_health_check_gives_up_after_its_sub_second_timeout() {
    // A socket that never answers: the check must fail after 200 ms, not a whole second.
    let silent = match std::net::UdpSocket::bind("127.0.0.1:0").and_then(|s| {
        let addr = s.local_addr()?;
        Ok((s, addr))
    }) {
        Ok(bound) => bound,
        Err(e) => panic!("{e}"),
    };
    let started = Instant::now();
    let opts = QueryOptions::health_check(Duration::from_millis(200), None);
    let failure = check_zone(silent.1, "silent.test", &opts).await;
    let waited = started.elapsed();
    assert_eq!(
        failure,
        Err(CheckFailure::NoAnswer {
            errorstring: "query timed out".into()
        })
    );
    assert!(
        waited >= Duration::from_millis(200) && waited < Duration::from_millis(900),
        "{waited:?}"
    );
}
