//! The seed's two BalanceNG configurations (Step 8) load unchanged, mean what the seed says, and
//! print back as themselves (apart from the second comment line, which names the program).

use std::net::{IpAddr, Ipv4Addr};

use fulcrum_core::model::{
    InterfaceAccess, InterfaceRef, Method, PingCheck, PortCheck, Protocol, VrrpVersion,
};

const NS0A: &str = include_str!("../../../tests/fixtures/ns0a.conf");
const NS0B: &str = include_str!("../../../tests/fixtures/ns0b.conf");

fn v4(text: &str) -> Ipv4Addr {
    text.parse().unwrap()
}

#[test]
fn ns0a_means_what_the_seed_says() {
    let config = fulcrum_config::parse("ns0a.conf", NS0A).unwrap();
    assert_eq!(config.hostname.as_deref(), Some("NS0A"));
    let license = config.license.as_ref().unwrap();
    assert_eq!(license.serial, "NS0ATEST");
    assert_eq!(license.key, "17d17854ad3d234d1e8603629f0ae5ae");
    assert!(config.settings.localdsr);
    assert_eq!(config.settings.session_timeout, 600);
    assert_eq!(config.interfaces.len(), 1);
    assert_eq!(config.interfaces[&1].name, "eth1");
    assert_eq!(config.interfaces[&1].access, InterfaceAccess::Raw);

    let vrrp = config.vrrp.as_ref().unwrap();
    assert_eq!((vrrp.vrid, vrrp.priority, vrrp.network), (7, 200, 1));
    assert_eq!(vrrp.version, VrrpVersion::V2);
    assert_eq!(vrrp.advert_ms, 1000);
    assert!(vrrp.preempt);

    let network = &config.networks[&1];
    assert_eq!(network.name.as_deref(), Some("local network"));
    assert_eq!(network.addr, Some(v4("10.235.210.0")));
    assert_eq!(network.mask, Some(v4("255.255.255.0")));
    assert_eq!(network.real, Some(v4("10.235.210.45")));
    assert_eq!(network.virt, None);
    assert_eq!(network.interface, Some(InterfaceRef::Name("eth1".into())));
    assert!(network.registered && network.enabled);

    let server = &config.servers[&1];
    assert_eq!(server.ipaddr, IpAddr::V4(v4("10.235.210.1")));
    assert_eq!(server.port, 53);
    assert_eq!(server.protocol, Protocol::Any);
    assert_eq!(server.method, Method::Session);
    assert_eq!(server.targets, vec![1, 2]);
    assert_eq!(server.stout, None);
    assert!(server.registered && server.enabled);

    assert_eq!(config.targets.len(), 2);
    for (id, addr) in [(1, "10.235.210.43"), (2, "10.235.210.44")] {
        let target = &config.targets[&id];
        assert_eq!(target.ipaddr, IpAddr::V4(v4(addr)));
        assert_eq!(target.port, Some(53));
        assert_eq!(
            target.ping,
            Some(PingCheck {
                interval: 5,
                timeout: 12
            })
        );
        let agent = PortCheck {
            port: 439,
            interval: 5,
            timeout: 13,
        };
        assert_eq!(target.agent, Some(agent));
        let tcpopen = PortCheck {
            port: 53,
            interval: 5,
            timeout: 12,
        };
        assert_eq!(target.tcpopen, Some(tcpopen));
        assert_eq!(target.dns, None);
        assert!(target.dsr);
        assert_eq!(target.weight, 1);
        assert!(target.registered && target.enabled);
    }
}

#[test]
fn ns0b_differs_only_in_name_licence_and_real_address() {
    let a = fulcrum_config::parse("ns0a.conf", NS0A).unwrap();
    let mut b = fulcrum_config::parse("ns0b.conf", NS0B).unwrap();
    assert_eq!(b.hostname.as_deref(), Some("NS0B"));
    assert_eq!(b.license.as_ref().unwrap().serial, "NS0BTEST");
    assert_eq!(b.networks[&1].real, Some(v4("10.235.210.46")));
    b.hostname = a.hostname.clone();
    b.license = a.license.clone();
    b.networks.get_mut(&1).unwrap().real = a.networks[&1].real;
    assert_eq!(a, b);
}

/// The canonical printer writes the seed's files back, line for line.
#[test]
fn seed_files_print_back_as_themselves() {
    for (file, text, taken) in [
        ("ns0a.conf", NS0A, "Thu May 1 20:47:29 2008"),
        ("ns0b.conf", NS0B, "Thu May 1 20:49:00 2008"),
    ] {
        let config = fulcrum_config::parse(file, text).unwrap();
        let printed = fulcrum_config::print(&config, taken);
        let expected: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with("// BalanceNG"))
            .collect();
        let got: Vec<&str> = printed
            .lines()
            .filter(|l| !l.starts_with("// Fulcrum"))
            .collect();
        assert_eq!(got, expected, "{file}");
        assert_eq!(fulcrum_config::parse(file, &printed).unwrap(), config);
    }
}

/// Every statement and option of the language, in one file (also the fuzzer's richest seed).
#[test]
fn every_statement_and_option_loads_and_round_trips() {
    let text = include_str!("../../../fuzz/seeds/config_parse/all_options.conf");
    let config = fulcrum_config::parse("all_options.conf", text).unwrap();
    assert_eq!(config.settings.sync_key.as_deref(), Some("k\"x"));
    assert_eq!(config.modules, vec!["a", "b", "c d"]);
    assert_eq!(config.interfaces[&1].name, "eth0");
    assert_eq!(config.interfaces[&3].name, "eth 3");
    let vrrp = config.vrrp.as_ref().unwrap();
    assert_eq!(
        (vrrp.version, vrrp.advert_ms, vrrp.preempt),
        (VrrpVersion::V3, 100, false)
    );
    assert_eq!(config.networks[&1].interface, Some(InterfaceRef::Id(3)));
    assert_eq!(config.networks[&1].virt, Some(v4("10.0.0.2")));
    assert_eq!(
        config.gateway.as_ref().unwrap().ping,
        Some(PingCheck {
            interval: 1,
            timeout: 3
        })
    );
    assert_eq!(config.servers[&2].ipaddr, "::1".parse::<IpAddr>().unwrap());
    let network = &config.networks[&2];
    assert_eq!(
        (network.addr6, network.mask6),
        (Some("fd00:1::".parse().unwrap()), Some(64))
    );
    assert_eq!(
        network.syncpeers,
        vec!["fd00:1::46".parse::<std::net::IpAddr>().unwrap()]
    );
    let server = &config.servers[&1];
    assert_eq!(server.ipaddr, "127.0.0.53".parse::<IpAddr>().unwrap());
    assert_eq!(
        (server.protocol, server.method),
        (Protocol::Udp, Method::Rr)
    );
    assert_eq!(server.targets, vec![1, 2, 3, 5]);
    assert_eq!(server.stout, Some(30));
    let target = &config.targets[&1];
    assert_eq!(target.weight, 0);
    assert_eq!(target.dns.as_ref().unwrap().zone, "example.com");
    assert!(!target.dsr);
    assert_eq!(target.upalert.as_deref(), Some("b"));
    assert!(config.targets[&3].registered && !config.targets[&3].enabled);
    let printed = fulcrum_config::print(&config, "now");
    assert_eq!(
        fulcrum_config::parse("printed.conf", &printed).unwrap(),
        config
    );
}

/// BalanceNG's own examples list modules that share names with statements.
#[test]
fn modules_may_be_named_like_statements() {
    let config =
        fulcrum_config::parse("m.conf", "modules vrrp,arp,ping,hc,master,slave,tcpopen\n").unwrap();
    assert_eq!(
        config.modules,
        ["vrrp", "arp", "ping", "hc", "master", "slave", "tcpopen"]
    );
    let printed = fulcrum_config::print(&config, "now");
    assert!(
        printed.contains("\nmodules vrrp,arp,ping,hc,master,slave,tcpopen\n"),
        "{printed}"
    );
}
