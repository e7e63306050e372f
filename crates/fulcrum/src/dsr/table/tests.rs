//! The table against the seed's NS0A configuration (also used by the forwarding tests).

use super::*;

pub(crate) fn seed_config(localdsr: bool) -> Config {
    let text = include_str!("../../../../../tests/fixtures/ns0a.conf");
    let text = if localdsr {
        text.to_string()
    } else {
        text.replace("set localdsr 1\n", "")
    };
    match fulcrum_config::parse("ns0a.conf", &text) {
        Ok(config) => config,
        Err(d) => panic!("fixture does not parse: {d:?}"),
    }
}

fn build_with(
    config: &Config,
    macs: &HashMap<Ipv4Addr, EthernetAddress>,
) -> (DsrTable, Vec<String>) {
    let local = [
        Ipv4Addr::new(10, 235, 210, 43),
        Ipv4Addr::new(10, 235, 210, 1),
    ];
    let mut servers = HashMap::new();
    let mut targets = HashMap::new();
    build(
        config,
        &Facts {
            local_addrs: &local,
            local_addrs6: &[],
            macs,
            macs6: &HashMap::new(),
            operational: &HashMap::new(),
            agent_values: &HashMap::new(),
        },
        CounterMaps {
            servers: &mut servers,
            targets: &mut targets,
            writers: 1,
        },
    )
}

#[test]
fn the_seed_config_balances_the_vip_on_eth1_with_vrid_7() {
    let config = seed_config(true);
    assert!(crate::plane::data_plane::wants_dsr(&config));
    let peer = EthernetAddress([2, 0, 0, 0, 0, 0x44]);
    let macs = HashMap::from([(Ipv4Addr::new(10, 235, 210, 44), peer)]);
    let (table, problems) = build_with(&config, &macs);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(table.interface.as_deref(), Some("eth1"));
    assert_eq!(table.source, Some(Ipv4Addr::new(10, 235, 210, 45)));
    assert_eq!(
        table.virtual_mac,
        Some(EthernetAddress([0, 0, 0x5e, 0, 1, 7]))
    );
    assert_eq!(table.vips(), vec![Ipv4Addr::new(10, 235, 210, 1)]);
    assert_eq!(table.targets[0].next_hop, NextHop::Local);
    assert_eq!(table.targets[1].next_hop, NextHop::Mac(peer));
    assert_eq!(table.to_resolve(), vec![Ipv4Addr::new(10, 235, 210, 44)]);
    assert!(table.is_vip_service(Ipv4Addr::new(10, 235, 210, 1), 17, 53));
    assert!(table.is_vip_service(Ipv4Addr::new(10, 235, 210, 1), 6, 53));
    assert!(!table.is_vip_service(Ipv4Addr::new(10, 235, 210, 1), 17, 54));
    assert!(!table.is_vip_addr(Ipv4Addr::new(10, 235, 210, 43)));
}

#[test]
fn an_unresolved_target_takes_no_clients() {
    let config = seed_config(true);
    let (table, _) = build_with(&config, &HashMap::new());
    let server = &table.servers[0];
    assert!(server.choosers[0].is_operational(1));
    assert!(!server.choosers[0].is_operational(2));
    assert_eq!(table.targets[1].sticky, [false, false]);
}

#[test]
fn a_local_target_without_localdsr_is_a_clear_error() {
    let config = seed_config(false);
    let (table, problems) = build_with(&config, &HashMap::new());
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("set localdsr 1"), "{problems:?}");
    assert!(table.targets.iter().all(|t| t.id != 1));
}

#[test]
fn without_vrrp_the_virtual_mac_uses_vrid_1() {
    let mut config = seed_config(true);
    config.vrrp = None;
    let (table, _) = build_with(&config, &HashMap::new());
    assert_eq!(
        table.virtual_mac,
        Some(EthernetAddress([0, 0, 0x5e, 0, 1, 1]))
    );
}
