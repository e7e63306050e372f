//! Golden scenarios: each a table of timed inputs, the outputs expected right after each, and
//! the next timeout the machine asks for. Times are microseconds from a common start. The
//! election tables (`scenarios/election.rs`) run twice: over IPv4, the local node 10.235.210.43
//! and peers named by their last octet, and over IPv6, the link-local fe80::2b (43) and peers
//! fe80::<last octet> (the machine compares addresses as numbers, so the orders agree).

use super::*;

mod v4 {
    use super::*;

    type Addr = Ipv4Addr;
    const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 43);

    fn peer(last_octet: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 235, 210, last_octet)
    }

    include!("scenarios/election.rs");

#[test]
fn transitions_log_in_one_line() {
    let t = Transition {
        from: M,
        to: B,
        reason: HigherAddress { master: peer(44) },
    };
    assert_eq!(
        t.to_string(),
        "vrrp MASTER -> BACKUP: advert from 10.235.210.44 with equal priority and higher address"
    );
}

#[test]
fn config_from_the_seed_model() {
    // The seed: `vrrp { vrid 7 priority 200 network 1 }`, network 1 real 10.235.210.43,
    // virt 10.235.210.1; defaults: version 2, 1 s adverts.
    let model = model::Vrrp {
        vrid: 7,
        priority: 200,
        network: 1,
        version: model::VrrpVersion::V2,
        advert_ms: model::DEFAULT_ADVERT_MS,
        preempt: true,
        notify: None,
        peers: Vec::new(),
        auth_pass: None,
    };
    let config = Config::from_model(&model, LOCAL, vec![peer(1)]);
    assert_eq!(config.version, Version::V2);
    assert_eq!(config.advert_interval_cs, 100);
    assert_eq!(config.vrid, 7);
    let machine = Machine::new(config);
    assert_eq!(
        machine.master_down_interval(),
        Duration::from_micros(3_218_750)
    );
    let v3 = model::Vrrp {
        version: model::VrrpVersion::V3,
        advert_ms: 20,
        ..model
    };
    let config = Config::from_model(&v3, LOCAL, vec![peer(1)]);
    assert_eq!(
        (config.version, config.advert_interval_cs),
        (Version::V3, 2)
    );
}

#[test]
fn a_new_address_list_keeps_state_and_timers_and_asks_for_nothing() {
    let t0 = Instant::now();
    for (start_as, state) in [(200, State::Backup), (255, State::Master)] {
        let mut m = Machine::new(config(Version::V2, start_as, 100, true));
        m.handle_input(t0, Input::Startup);
        while m.poll_output().is_some() {}
        let timer = m.poll_timeout();
        m.set_addresses(vec![peer(1), peer(2)]);
        assert_eq!(m.state(), state);
        assert_eq!(m.poll_timeout(), timer);
        assert_eq!(m.poll_output(), None);
        assert_eq!(m.config().addresses, vec![peer(1), peer(2)]);
    }
}

#[test]
fn the_model_carries_peers_and_the_password_into_the_group_config() {
    let model = model::Vrrp {
        vrid: 7,
        priority: 200,
        network: 1,
        version: model::VrrpVersion::V2,
        advert_ms: model::DEFAULT_ADVERT_MS,
        preempt: true,
        notify: None,
        peers: vec![peer(4)],
        auth_pass: Some("secret".into()),
    };
    let config = Config::from_model(&model, LOCAL, vec![peer(1)]);
    assert_eq!(config.peers, vec![peer(4)]);
    assert_eq!(config.auth, Auth::simple_text("secret"));
    // v3 has no authentication field: the validator refuses authpass there, and the group
    // never sends one.
    let v3 = model::Vrrp {
        version: model::VrrpVersion::V3,
        advert_ms: 100,
        ..model
    };
    assert_eq!(Config::from_model(&v3, LOCAL, vec![peer(1)]).auth, Auth::None);
}
}

mod v6 {
    use super::*;

    type Addr = Ipv6Addr;
    const LOCAL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 43);

    fn peer(last_octet: u8) -> Ipv6Addr {
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, u16::from(last_octet))
    }

    include!("scenarios/election.rs");

    #[test]
    fn transitions_log_in_one_line() {
        let t = Transition { from: M, to: B, reason: HigherAddress { master: peer(44) } };
        assert_eq!(t.to_string(), "vrrp MASTER -> BACKUP: advert from fe80::2c with equal priority and higher address");
    }

    #[test]
    fn the_ipv6_instance_of_a_v2_block_is_v3_and_multicast() {
        // keepalived refuses v2 over IPv6: the IPv6 instance of a dual-stack block runs v3 with
        // the block's interval, and never the IPv4 unicast peers or password.
        let model = model::Vrrp {
            vrid: 7,
            priority: 200,
            network: 1,
            version: model::VrrpVersion::V2,
            advert_ms: model::DEFAULT_ADVERT_MS,
            preempt: true,
            notify: None,
            peers: vec![Ipv4Addr::new(10, 235, 210, 44)],
            auth_pass: Some("secret".into()),
        };
        let vip = Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 0x100);
        let config = Config::from_model_v6(&model, LOCAL, vec![vip]);
        assert_eq!((config.version, config.advert_interval_cs, config.vrid, config.priority), (Version::V3, 100, 7, 200));
        assert_eq!(config.auth, Auth::None);
        assert!(config.peers.is_empty());
        assert_eq!(config.addresses, vec![vip]);
        let machine = Machine::new(config);
        // RFC 5798 §6.1: 3 x 1 s + (256 - 200) x 1 s / 256.
        assert_eq!(machine.master_down_interval(), Duration::from_micros(3_218_750));
    }
}
