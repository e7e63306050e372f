//! The setup of both instances from the configuration: when each runs, with what, and which
//! changes keep it running.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::*;

type Setup4 = Setup<Ipv4Addr>;
type Setup6 = Setup<Ipv6Addr>;

const SEED_NS0A: &str = "hostname NS0A\nset localdsr 1\ninterface eth1\n\
    vrrp {\nvrid 7\npriority 200\nnetwork 1\n}\n\
    network 1 {\naddr 10.235.210.0\nmask 255.255.255.0\nreal 10.235.210.45\ninterface eth1\n}\n\
    register network 1\nenable network 1\n\
    server 1 {\nipaddr 10.235.210.1\nport 53\nmethod session\ntargets 1,2\n}\n\
    register server 1\nenable server 1\n\
    target 1 {\nipaddr 10.235.210.43\nport 53\ndsr enable\n}\n\
    target 2 {\nipaddr 10.235.210.44\nport 53\ndsr enable\n}\n\
    register targets 1,2\nenable targets 1,2\n";

fn parse(text: &str) -> Config {
    fulcrum_config::parse("test.conf", text).expect("a valid configuration")
}

#[test]
fn the_seeds_node_runs_vrid_7_on_eth1_in_dsr_mode() {
    let setup = Setup4::from_config(&parse(SEED_NS0A))
        .expect("runnable")
        .expect("a vrrp block");
    assert_eq!(setup.interface, "eth1");
    assert_eq!(setup.mode, Mode::Dsr);
    assert_eq!(setup.machine.vrid, 7);
    assert_eq!(setup.machine.priority, 200);
    assert_eq!(setup.machine.advert_interval_cs, 100);
    assert_eq!(
        setup.machine.primary_address,
        Ipv4Addr::new(10, 235, 210, 45)
    );
    assert_eq!(
        setup.machine.addresses,
        vec![Ipv4Addr::new(10, 235, 210, 1)]
    );
}

#[test]
fn without_dsr_targets_it_is_proxy_mode_and_virt_comes_first() {
    let text = SEED_NS0A.replace("dsr enable\n", "").replace(
        "real 10.235.210.45\n",
        "real 10.235.210.45\nvirt 10.235.210.2\n",
    );
    let setup = Setup4::from_config(&parse(&text)).unwrap().unwrap();
    assert_eq!(setup.mode, Mode::Proxy);
    assert_eq!(
        setup.machine.addresses,
        vec![
            Ipv4Addr::new(10, 235, 210, 2),
            Ipv4Addr::new(10, 235, 210, 1)
        ]
    );
}

/// Both families: a new priority keeps the running group, a new VRID starts another one.
fn a_priority_change_keeps_the_group<A: Instance>(text: &str) {
    let group = |text: &str| {
        Setup::<A>::from_config(&parse(text))
            .expect("runnable")
            .expect("an instance")
    };
    let a = group(text);
    assert!(a.same_group(&group(&text.replace("priority 200", "priority 100"))));
    assert!(!a.same_group(&group(&text.replace("vrid 7", "vrid 8"))));
}

#[test]
fn without_a_block_or_an_address_of_its_family_an_instance_does_not_run() {
    let without = SEED_NS0A.replace("vrrp {\nvrid 7\npriority 200\nnetwork 1\n}\n", "");
    assert_eq!(Setup4::from_config(&parse(&without)), Ok(None));
    let v4_only = DUAL.replace("enable server 2\n", "");
    assert_eq!(Setup6::from_config(&parse(&v4_only)), Ok(None));
}

#[test]
fn a_priority_change_keeps_the_group_of_either_family() {
    a_priority_change_keeps_the_group::<Ipv4Addr>(SEED_NS0A);
    a_priority_change_keeps_the_group::<Ipv6Addr>(DUAL);
}

#[test]
fn a_second_server_with_its_own_address_keeps_the_group() {
    let two = SEED_NS0A.replace(
        "register server 1\nenable server 1\n",
        "register server 1\nenable server 1\n\
         server 2 {\nipaddr 10.235.210.2\nport 53\nmethod session\ntargets 1,2\n}\n\
         register server 2\nenable server 2\n",
    );
    let one = Setup4::from_config(&parse(SEED_NS0A)).unwrap().unwrap();
    let both = Setup4::from_config(&parse(&two)).unwrap().unwrap();
    assert_eq!(
        both.machine.addresses,
        vec![
            Ipv4Addr::new(10, 235, 210, 1),
            Ipv4Addr::new(10, 235, 210, 2)
        ]
    );
    assert!(one.same_group(&both));
    assert!(both.same_group(&one));
    // Peers and authentication are part of the group: a change restarts it.
    let peered = Setup4::from_config(&parse(&SEED_NS0A.replace(
        "network 1\n}\n",
        "network 1\npeer 10.235.210.46\nauthpass secret\n}\n",
    )))
    .unwrap()
    .unwrap();
    assert_eq!(peered.machine.peers, vec![Ipv4Addr::new(10, 235, 210, 46)]);
    assert_eq!(peered.machine.auth, vrrp::Auth::simple_text("secret"));
    assert!(!one.same_group(&peered));
}

/// The seed's node in proxy mode with a second server on an IPv6 address.
const DUAL: &str = "hostname NS0A\ninterface eth1\n\
    vrrp {\nvrid 7\npriority 200\nnetwork 1\n}\n\
    network 1 {\naddr 10.235.210.0\nmask 255.255.255.0\nreal 10.235.210.45\ninterface eth1\n}\n\
    register network 1\nenable network 1\n\
    server 1 {\nipaddr 10.235.210.1\nport 53\nprotocol udp\ntargets 1\n}\n\
    register server 1\nenable server 1\n\
    target 1 {\nipaddr 10.235.210.43\nport 53\n}\n\
    register target 1\nenable target 1\n\
    server 2 {\nipaddr fd00:1::100\nport 53\nprotocol udp\ntargets 2\n}\n\
    register server 2\nenable server 2\n\
    target 2 {\nipaddr fd00:1::43\nport 53\n}\n\
    register target 2\nenable target 2\n";

#[test]
fn an_ipv6_server_under_the_block_gets_an_ipv6_instance_with_the_same_vrid() {
    let setup = Setup6::from_config(&parse(DUAL))
        .expect("runnable")
        .expect("an IPv6 instance");
    assert_eq!(
        setup.machine.addresses,
        vec!["fd00:1::100".parse::<Ipv6Addr>().unwrap()]
    );
    assert_eq!(setup.interface, "eth1");
    let link_local: Ipv6Addr = "fe80::1".parse().unwrap();
    let config = setup.machine_on(Some(link_local));
    assert_eq!((config.vrid, config.priority), (7, 200));
    assert_eq!(config.version, vrrp::Version::V3);
    assert_eq!(config.primary_address, link_local);
}

#[test]
fn an_ipv6_only_block_runs_the_ipv6_instance_alone() {
    let v6_only = DUAL.replace("enable server 1\n", "");
    assert!(Setup6::from_config(&parse(&v6_only)).unwrap().is_some());
    assert_eq!(Setup4::from_config(&parse(&v6_only)), Ok(None));
}

#[test]
fn with_dsr_targets_the_ipv6_instance_drives_the_dsr_plane() {
    let dsr = DUAL
        .replace(
            "network 1 {\n",
            "network 1 {\naddr6 fd00:1::\nmask6 64\nreal6 fd00:1::45\n",
        )
        .replace("target 2 {\n", "target 2 {\ndsr enable\n");
    let setup = Setup6::from_config(&parse(&dsr))
        .expect("runnable in DSR mode")
        .expect("an IPv6 instance");
    assert_eq!(setup.mode, Mode::Dsr);
    assert_eq!(
        Setup6::from_config(&parse(DUAL)).unwrap().unwrap().mode,
        Mode::Proxy
    );
}
