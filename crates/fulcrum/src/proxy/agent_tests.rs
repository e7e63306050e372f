//! `method agent` in the proxy plane: the agents' values decide where new clients go, and the
//! snapshot is rebuilt only when a new value changes that (not per probe).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::Ordering;
use std::time::Duration;

use fulcrum_core::model::{Config, Method, PortCheck, Server, Target};

use super::{Proxy, ProxyOptions, Transport};
use fulcrum_core::balance::Pick;

fn config() -> Config {
    let mut config = Config::default();
    let mut server = Server::new(1, IpAddr::V4(Ipv4Addr::new(127, 0, 64, 10)));
    server.port = 0;
    server.method = Method::Agent;
    server.registered = true;
    server.enabled = true;
    for id in [1u32, 2, 3] {
        let mut target = Target::new(id, IpAddr::V4(Ipv4Addr::LOCALHOST));
        target.port = Some(5400 + id as u16);
        target.registered = true;
        target.enabled = true;
        // Target 3 has no agent check: whatever value arrives for it is not used.
        if id != 3 {
            target.agent = Some(PortCheck {
                port: 439,
                interval: 1,
                timeout: 2,
            });
        }
        config.targets.insert(id, target);
        server.targets.push(id);
    }
    config.servers.insert(1, server);
    config
}

/// The targets 20 new clients are given now.
fn chosen(proxy: &Proxy) -> Vec<u32> {
    let snapshot = proxy.shared.snapshot();
    let server = &snapshot.servers[0];
    let mut pick = Pick::new(3);
    (1..=20u8)
        .filter_map(|host| {
            let client = IpAddr::V4(Ipv4Addr::new(127, 0, 65, host));
            server.choose(
                client,
                Transport::Udp,
                snapshot.sessions.now(),
                &snapshot.sessions,
                &mut pick,
            )
        })
        .map(|i| server.targets[i].id)
        .collect()
}

#[test]
fn new_clients_follow_the_lowest_value_and_only_a_change_of_winner_rebuilds() {
    let proxy = Proxy::with_options(ProxyOptions {
        workers: 1,
        udp_timeout: Duration::from_millis(200),
        ..ProxyOptions::default()
    });
    assert!(proxy.apply(&config()).is_empty());
    let rebuilds = || proxy.shared.epoch.load(Ordering::Acquire);
    let spread = chosen(&proxy);
    assert!(
        spread.contains(&1) && spread.contains(&2),
        "no values yet: hash"
    );

    let start = rebuilds();
    proxy.set_agent_value(1, Some(5));
    assert_eq!(rebuilds(), start + 1, "the first value decides");
    assert!(chosen(&proxy).iter().all(|&t| t == 1));
    proxy.set_agent_value(2, Some(50));
    proxy.set_agent_value(2, Some(50));
    proxy.set_agent_value(1, Some(6));
    proxy.set_agent_value(3, Some(1));
    assert_eq!(rebuilds(), start + 1, "target 1 stays lowest: no rebuild");
    assert!(chosen(&proxy).iter().all(|&t| t == 1));

    proxy.set_agent_value(2, Some(3));
    assert_eq!(rebuilds(), start + 2, "a new winner");
    assert!(chosen(&proxy).iter().all(|&t| t == 2));
    // 0 means down: no value to rank it by; target 1 (6) is the lowest left.
    proxy.set_agent_value(2, Some(0));
    assert_eq!(rebuilds(), start + 3);
    assert!(chosen(&proxy).iter().all(|&t| t == 1));
    // A rebuild for another reason uses the values kept meanwhile.
    proxy.set_agent_value(2, Some(7));
    assert_eq!(rebuilds(), start + 3, "7 > 6: no rebuild");
    proxy.set_operational(1, false);
    assert!(
        chosen(&proxy).iter().all(|&t| t == 2),
        "target 1 down, 2 (7) next"
    );
    proxy.shutdown();
}
