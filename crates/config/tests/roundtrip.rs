//! Printing a model and parsing it back yields the same model, for generated models covering
//! every statement and option (quoted names, IPv6 targets, ranges, VRRP v3 adverts...).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use fulcrum_core::model::{
    Config, DnsCheck, Gateway, Interface, InterfaceAccess, InterfaceRef, License, Method, Network,
    PingCheck, PortCheck, Protocol, Server, Settings, Target, Vrrp, VrrpVersion,
};
use proptest::prelude::*;

/// Free text as names, keys and scripts may hold: spaces, quotes, backslashes, braces, commas,
/// keywords, digits, `//`; no newline (a string ends on its line).
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 _./\"\\\\{},:-]{0,12}",
        Just("server".to_string()),
        Just("//x".to_string()),
        Just("42".to_string()),
    ]
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        any::<u128>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
    ]
}

fn protocol() -> impl Strategy<Value = Protocol> {
    prop_oneof![
        Just(Protocol::Udp),
        Just(Protocol::Tcp),
        Just(Protocol::Any)
    ]
}

/// (interval, timeout) with timeout > interval.
fn timing() -> impl Strategy<Value = (u32, u32)> {
    (1..100_000u32, 1..100_000u32).prop_map(|(i, d)| (i, i + d))
}

fn ping() -> impl Strategy<Value = PingCheck> {
    timing().prop_map(|(interval, timeout)| PingCheck { interval, timeout })
}

fn port_check() -> impl Strategy<Value = PortCheck> {
    (1..=u16::MAX, timing()).prop_map(|(port, (interval, timeout))| PortCheck {
        port,
        interval,
        timeout,
    })
}

fn flags() -> impl Strategy<Value = (bool, bool)> {
    (any::<bool>(), any::<bool>())
        .prop_map(|(registered, enabled)| (registered, registered && enabled))
}

fn target() -> impl Strategy<Value = Target> {
    (
        ip(),
        proptest::option::of(1..=u16::MAX),
        protocol(),
        0..=65_535u32,
        proptest::option::of(ping()),
        proptest::option::of(port_check()),
        proptest::option::of(port_check()),
        proptest::option::of((
            prop_oneof![
                Just(".".to_string()),
                "[a-z0-9_-]{1,8}(\\.[a-z0-9-]{1,8}){0,3}\\.?"
            ],
            timing(),
        )),
        (any::<bool>(), any::<bool>()),
        proptest::option::of(text()),
        proptest::option::of(text()),
        flags(),
    )
        .prop_map(
            |(
                ipaddr,
                port,
                protocol,
                weight,
                ping,
                tcpopen,
                agent,
                dns,
                (dsr, proxy_protocol),
                alert,
                upalert,
                (registered, enabled),
            )| Target {
                id: 0,
                ipaddr,
                port,
                protocol,
                weight,
                ping,
                tcpopen,
                agent,
                dns: dns.map(|(zone, (interval, timeout))| DnsCheck {
                    zone,
                    interval,
                    timeout,
                }),
                dsr,
                // A DSR target with the PROXY header is an error (the client's packets reach
                // it unchanged).
                proxy_protocol: proxy_protocol && !dsr,
                alert,
                upalert,
                registered,
                enabled,
            },
        )
}

/// A server whose `targets` are picks, resolved to real target ids by `repair`.
fn server() -> impl Strategy<Value = Server> {
    (
        ip(),
        1..=u16::MAX,
        protocol(),
        proptest::sample::select(Method::ALL.to_vec()),
        proptest::collection::vec(any::<u32>(), 1..6),
        proptest::option::of(1..=31_536_000u32),
        flags(),
    )
        .prop_map(
            |(ipaddr, port, protocol, method, targets, stout, (registered, enabled))| Server {
                protection: Default::default(),
                id: 0,
                ipaddr,
                port,
                protocol,
                method,
                targets,
                stout,
                registered,
                enabled,
            },
        )
}

/// A network; `interface` holds a pick resolved by `repair`.
fn network() -> impl Strategy<Value = Network> {
    (
        proptest::option::of(text()),
        proptest::option::of((
            any::<u32>(),
            0..=32u32,
            any::<u32>(),
            proptest::option::of(any::<u32>()),
        )),
        proptest::option::of((any::<bool>(), any::<u32>(), text())),
        proptest::option::of(ip()),
        flags(),
        proptest::option::of((
            any::<u128>(),
            0..=128u32,
            proptest::option::of(any::<u128>()),
            proptest::option::of(any::<u128>()),
        )),
    )
        .prop_map(
            |(name, addressing, interface, syncpeer, (registered, enabled), addressing6)| {
                let mut network = Network::new(0);
                network.name = name;
                if let Some((addr, prefix, real, virt)) = addressing {
                    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
                    network.addr = Some(Ipv4Addr::from(addr & mask));
                    network.mask = Some(Ipv4Addr::from(mask));
                    network.real = Some(Ipv4Addr::from((addr & mask) | (real & !mask)));
                    network.virt = virt.map(|v| Ipv4Addr::from((addr & mask) | (v & !mask)));
                }
                network.interface = interface.map(|(by_id, pick, name)| {
                    if by_id {
                        InterfaceRef::Id(pick)
                    } else {
                        InterfaceRef::Name(format!("{pick}\u{0}{name}"))
                    }
                });
                network.syncpeers = syncpeer.into_iter().collect();
                if let Some((addr, prefix, real, virt)) = addressing6 {
                    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
                    let inside = |v: u128| Ipv6Addr::from((addr & mask) | (v & !mask));
                    network.addr6 = Some(Ipv6Addr::from(addr & mask));
                    network.mask6 = Some(u8::try_from(prefix).unwrap());
                    network.real6 = real.map(inside);
                    network.virt6 = virt.map(inside);
                }
                network.registered = registered;
                network.enabled = enabled;
                network
            },
        )
}

fn vrrp() -> impl Strategy<Value = Vrrp> {
    (
        1..=255u8,
        1..=255u8,
        any::<u32>(),
        any::<bool>(),
        1..=255u32,
        1..=4095u32,
        any::<bool>(),
        proptest::option::of(text()),
        proptest::collection::btree_set(0x0a00_0001..0x0aff_fffeu32, 0..3),
        proptest::option::of("[a-zA-Z0-9 _./\"\\\\{}-]{1,8}"),
    )
        .prop_map(
            |(vrid, priority, network, v3, seconds, centis, preempt, notify, peers, pass)| Vrrp {
                vrid,
                priority,
                network,
                version: if v3 { VrrpVersion::V3 } else { VrrpVersion::V2 },
                advert_ms: if v3 { centis * 10 } else { seconds * 1000 },
                preempt,
                notify,
                peers: peers.into_iter().map(Ipv4Addr::from).collect(),
                auth_pass: pass.filter(|_| !v3),
            },
        )
}

fn settings() -> impl Strategy<Value = Settings> {
    (
        any::<bool>(),
        1..=31_536_000u32,
        1..=1_000_000_000u64,
        // Keys are never empty (the parser refuses an empty one).
        proptest::option::of(text().prop_filter("a key", |k| !k.is_empty())),
        proptest::option::of(text().prop_filter("a key", |k| !k.is_empty())),
        any::<bool>(),
        (
            1..=1_000_000u64,
            1..=1_000_000u64,
            1..=31_536_000u32,
            1..=31_536_000u32,
            1..=31_536_000u32,
            1..=64u32,
        ),
        proptest::option::of((
            any::<[u8; 4]>(),
            1..=65_535u16,
            any::<[u16; 8]>(),
            any::<bool>(),
        )),
    )
        .prop_map(
            |(
                localdsr,
                session_timeout,
                max_sessions,
                sync_key,
                agent_key,
                failopen,
                tcp,
                metrics,
            )| {
                Settings {
                    localdsr,
                    session_timeout,
                    max_sessions,
                    sync_key,
                    agent_key,
                    failopen,
                    tcp_max_connections: tcp.0,
                    tcp_client_connections: tcp.1,
                    tcp_idle: tcp.2,
                    tcp_write_timeout: tcp.3,
                    tcp_lifetime: tcp.4,
                    metrics: metrics.map(|(v4, port, v6, is_v6)| {
                        let ip: std::net::IpAddr = if is_v6 {
                            std::net::Ipv6Addr::from(v6).into()
                        } else {
                            Ipv4Addr::from(v4).into()
                        };
                        std::net::SocketAddr::new(ip, port)
                    }),
                    upstream_sockets: tcp.5,
                    rate_table: fulcrum_core::protect::policy::DEFAULT_RATE_TABLE,
                }
            },
        )
}

fn ids<T: std::fmt::Debug>(
    item: impl Strategy<Value = T>,
    max: usize,
) -> impl Strategy<Value = BTreeMap<u32, T>> {
    proptest::collection::btree_map(prop_oneof![1..12u32, 1..=65_535u32], item, 0..max)
}

fn pick<T: Copy>(items: &[T], n: u32) -> Option<T> {
    if items.is_empty() {
        None
    } else {
        Some(items[n as usize % items.len()])
    }
}

/// Turns raw picks into references that resolve, as a valid configuration needs.
/// `addr` in the family of `like`, keeping as many of its bits as fit.
fn same_family(addr: IpAddr, like: IpAddr) -> IpAddr {
    match (addr, like) {
        (IpAddr::V4(a), IpAddr::V6(_)) => IpAddr::V6(a.to_ipv6_mapped()),
        (IpAddr::V6(a), IpAddr::V4(_)) => IpAddr::V4(Ipv4Addr::from(u128::from(a) as u32)),
        _ => addr,
    }
}

fn repair(mut config: Config) -> Config {
    let target_ids: Vec<u32> = config.targets.keys().copied().collect();
    for (id, target) in config.targets.iter_mut() {
        target.id = *id;
    }
    if target_ids.is_empty() {
        config.servers.clear();
    }
    for (id, server) in config.servers.iter_mut() {
        server.id = *id;
        let mut chosen = Vec::new();
        for n in &server.targets {
            if let Some(t) = pick(&target_ids, *n).filter(|t| !chosen.contains(t)) {
                chosen.push(t);
            }
        }
        // A server and its targets share a family: the server takes its first target's.
        if let Some(first) = chosen.first().map(|t| config.targets[t].ipaddr) {
            server.ipaddr = same_family(server.ipaddr, first);
        }
        let targets = &config.targets;
        chosen.retain(|t| targets[t].ipaddr.is_ipv4() == server.ipaddr.is_ipv4());
        server.targets = chosen;
    }
    // Unique interface names: the id is part of the name.
    for (id, interface) in config.interfaces.iter_mut() {
        interface.id = *id;
        interface.name = format!("{}{id}", interface.name);
    }
    let interface_ids: Vec<u32> = config.interfaces.keys().copied().collect();
    for (id, network) in config.networks.iter_mut() {
        network.id = *id;
        network.interface = match network.interface.take() {
            Some(InterfaceRef::Id(n)) => pick(&interface_ids, n).map(InterfaceRef::Id),
            Some(InterfaceRef::Name(raw)) => {
                let (n, free) = raw.split_once('\u{0}').unwrap_or(("0", ""));
                match pick(&interface_ids, n.parse().unwrap_or(0)) {
                    Some(i) => Some(InterfaceRef::Name(config.interfaces[&i].name.clone())),
                    None => Some(InterfaceRef::Name(free.to_string())),
                }
            }
            None => None,
        };
    }
    let network_ids: Vec<u32> = config.networks.keys().copied().collect();
    config.vrrp = config
        .vrrp
        .take()
        .and_then(|v| pick(&network_ids, v.network).map(|network| Vrrp { network, ..v }));
    config
}

fn config() -> impl Strategy<Value = Config> {
    (
        proptest::option::of(text()),
        proptest::option::of((text(), text())),
        settings(),
        proptest::collection::vec(text(), 0..4),
        ids("[a-z0-9 ]{0,4}", 5),
        proptest::option::of(vrrp()),
        ids(network(), 4),
        proptest::option::of((any::<u32>(), proptest::option::of(ping()))),
        ids(server(), 4),
        ids(target(), 6),
    )
        .prop_map(
            |(
                hostname,
                license,
                settings,
                modules,
                interfaces,
                vrrp,
                networks,
                gateway,
                servers,
                targets,
            )| {
                repair(Config {
                    hostname,
                    license: license.map(|(serial, key)| License { serial, key }),
                    settings,
                    modules,
                    interfaces: interfaces
                        .into_iter()
                        .map(|(id, name)| {
                            (
                                id,
                                Interface {
                                    id,
                                    name,
                                    access: InterfaceAccess::Raw,
                                },
                            )
                        })
                        .collect(),
                    vrrp,
                    announce: None,
                    networks,
                    gateway: gateway.map(|(a, ping)| Gateway {
                        ipaddr: Ipv4Addr::from(a),
                        ping,
                    }),
                    servers,
                    targets,
                })
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn printed_models_parse_back_equal(config in config()) {
        let printed = fulcrum_config::print(&config, "Wed Nov 25 18:00:00 2026");
        match fulcrum_config::parse("printed.conf", &printed) {
            Ok(parsed) => {
                prop_assert_eq!(&parsed, &config, "printed:\n{}", printed);
                prop_assert_eq!(fulcrum_config::print(&parsed, "Wed Nov 25 18:00:00 2026"), printed);
            }
            Err(errors) => prop_assert!(false, "{}\nprinted:\n{}", errors, printed),
        }
    }
}

#[test]
fn metrics_listener_setting() {
    let parsed = |text: &str| fulcrum_config::parse("t.conf", text).map(|c| c.settings.metrics);
    assert_eq!(
        parsed("set metrics 127.0.0.1:9153\n").unwrap(),
        Some("127.0.0.1:9153".parse().unwrap())
    );
    assert_eq!(
        parsed("set metrics [::1]:9153\n").unwrap(),
        Some("[::1]:9153".parse().unwrap())
    );
    assert_eq!(
        parsed("set metrics 127.0.0.1:9153\nset metrics off\n").unwrap(),
        None
    );
    let config = fulcrum_config::parse("t.conf", "set metrics 0.0.0.0:9153\n").unwrap();
    assert!(fulcrum_config::print(&config, "now").contains("set metrics 0.0.0.0:9153\n"));
}
