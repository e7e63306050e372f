//! The fixture against the real named: start, answer, reload, stop, failures, namespaces.

use super::*;
use std::net::Ipv4Addr;

fn loopback(zones: Vec<Zone>) -> Bind9Options {
    let port = match free_loopback_port() {
        Ok(port) => port,
        Err(e) => panic!("{e}"),
    };
    Bind9Options {
        listen: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        port,
        zones,
        netns: None,
        extra_options: String::new(),
    }
}

fn dig_txt(addr: SocketAddr, name: &str) -> String {
    let out = Command::new(DIG)
        .args([
            "+norec",
            "+short",
            "+time=1",
            "+tries=1",
            &format!("@{}", addr.ip()),
            "-p",
            &addr.port().to_string(),
            name,
            "TXT",
        ])
        .output();
    match out {
        Ok(out) => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        Err(e) => panic!("running {DIG}: {e}"),
    }
}

#[test]
fn starts_answers_dig_reloads_and_stops() {
    let zone = Zone::primary("fixture.test", 41, &["@ IN TXT \"ns-a\""]);
    let mut named = match Bind9::start(loopback(vec![zone])) {
        Ok(named) => named,
        Err(e) => panic!("{e}"),
    };
    assert!(named.pid().is_some());
    assert_eq!(named.query_serial("fixture.test"), Some(41));
    assert_eq!(dig_txt(named.addr(), "fixture.test"), "\"ns-a\"");

    if let Err(e) = named.set_serial("fixture.test", 42) {
        panic!("{e}");
    }
    assert_eq!(named.query_serial("fixture.test"), Some(42));

    named.stop();
    assert!(!named.is_running());
    assert_eq!(named.query_serial("fixture.test"), None);
}

#[test]
fn several_instances_share_port_53_in_a_namespace() {
    let a = IpAddr::V4(Ipv4Addr::new(127, 0, 1, 2));
    let b = IpAddr::V4(Ipv4Addr::new(127, 0, 1, 3));
    let name = format!("nlb9-{}", std::process::id());
    let netns = match LoopbackNetns::create(&name, &[a, b]) {
        Ok(netns) => netns,
        Err(e) => panic!("{e}"),
    };
    let options = |addr: IpAddr, serial: u32| Bind9Options {
        listen: vec![addr],
        port: 53,
        zones: vec![Zone::primary("ns.test", serial, &[])],
        netns: Some(netns.name().to_string()),
        extra_options: String::new(),
    };
    let (first, second) = match (Bind9::start(options(a, 1)), Bind9::start(options(b, 2))) {
        (Ok(first), Ok(second)) => (first, second),
        (Err(e), _) | (_, Err(e)) => panic!("{e}"),
    };
    assert_eq!(first.query_serial("ns.test"), Some(1));
    assert_eq!(second.query_serial("ns.test"), Some(2));
}

#[test]
fn a_broken_zone_is_a_clear_error_with_the_log() {
    let zone = Zone::primary("broken.test", 1, &["this is not a record"]);
    match Bind9::start(loopback(vec![zone])) {
        Ok(_) => panic!("named served a broken zone"),
        Err(e) => {
            let text = e.to_string();
            assert!(text.contains("broken.test"), "{text}");
        }
    }
}
