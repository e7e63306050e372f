//! Checks the scheduler adds to a target beyond the ones its configuration spells out, on each
//! [`Input::Reconfigure`](super::Input::Reconfigure).
//!
//! The DSR-path check: a DSR target must not only answer at its own address, it must
//! hold the VIP, or the frames the DSR plane sends to its MAC are dropped by its stack. Every
//! `dsr enable` target of an active server (IPv4 or IPv6: a target shares its server's family)
//! that has at least one configured check gets a `dsr-path` check probing the first such
//! server's VIP and port (53 for a server on port 0,
//! which balances every port), on the target's own tempo: the shortest INTERVAL and the
//! shortest TIMEOUT of its configured checks. A target without checks gets none: whoever
//! configured no check asked for none.

use std::collections::BTreeMap;

use super::check::{CheckSpec, Probe};
use crate::model::Config;

/// The DSR-path checks of `config`, by target id.
pub fn dsr_path_checks(config: &Config) -> BTreeMap<u32, Vec<CheckSpec>> {
    let mut extra: BTreeMap<u32, Vec<CheckSpec>> = BTreeMap::new();
    for server in config.active_servers() {
        let port = if server.port == 0 { 53 } else { server.port };
        for target in server
            .targets
            .iter()
            .filter_map(|id| config.targets.get(id))
        {
            if !target.dsr || extra.contains_key(&target.id) {
                continue;
            }
            let configured = CheckSpec::of_target(target);
            let (Some(interval), Some(timeout)) = (
                configured.iter().map(|c| c.interval).min(),
                configured.iter().map(|c| c.timeout).min(),
            ) else {
                continue;
            };
            let spec = CheckSpec {
                probe: Probe::DsrPath {
                    vip: server.ipaddr,
                    port,
                },
                interval,
                timeout,
            };
            extra.insert(target.id, vec![spec]);
        }
    }
    extra
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::Duration;

    use super::*;
    use crate::model::{PingCheck, PortCheck, Server, Target};

    const VIP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 235, 210, 1));

    fn config() -> Config {
        let mut config = Config::default();
        let mut server = Server::new(1, VIP);
        server.port = 53;
        server.targets = vec![1, 2, 3, 4];
        server.registered = true;
        server.enabled = true;
        config.servers.insert(1, server);
        for id in 1..=4u32 {
            let mut target =
                Target::new(id, IpAddr::V4(Ipv4Addr::new(10, 235, 210, 42 + id as u8)));
            target.dsr = id != 3;
            target.registered = true;
            target.enabled = true;
            if id != 4 {
                target.ping = Some(PingCheck {
                    interval: 5,
                    timeout: 12,
                });
                target.agent = Some(PortCheck {
                    port: 439,
                    interval: 3,
                    timeout: 13,
                });
            }
            config.targets.insert(id, target);
        }
        config
    }

    #[test]
    fn dsr_targets_with_checks_get_one_on_their_shortest_tempo() {
        let extra = dsr_path_checks(&config());
        // 3 is proxied, 4 has no checks.
        assert_eq!(extra.keys().copied().collect::<Vec<u32>>(), [1, 2]);
        let spec = &extra[&1][0];
        assert_eq!(spec.probe, Probe::DsrPath { vip: VIP, port: 53 });
        assert_eq!(spec.interval, Duration::from_secs(3));
        assert_eq!(spec.timeout, Duration::from_secs(12));
        assert_eq!(spec.describe(), "dsr-path 10.235.210.1:53,3,12");
    }

    #[test]
    fn the_first_active_server_gives_the_vip() {
        let mut config = config();
        let mut other = config.servers[&1].clone();
        other.id = 2;
        other.ipaddr = IpAddr::V4(Ipv4Addr::new(10, 235, 210, 2));
        other.port = 0;
        other.targets = vec![2];
        config.servers.insert(2, other);
        // Server 1 comes first; once it is disabled, server 2 (every port: probed on 53).
        assert_eq!(
            dsr_path_checks(&config)[&2][0].probe,
            Probe::DsrPath { vip: VIP, port: 53 }
        );
        if let Some(server) = config.servers.get_mut(&1) {
            server.enabled = false;
        }
        let extra = dsr_path_checks(&config);
        assert_eq!(extra.keys().copied().collect::<Vec<u32>>(), [2]);
        assert_eq!(
            extra[&2][0].probe,
            Probe::DsrPath {
                vip: IpAddr::V4(Ipv4Addr::new(10, 235, 210, 2)),
                port: 53
            }
        );
    }

    #[test]
    fn an_ipv6_dsr_target_gets_one_probing_the_ipv6_vip() {
        let vip6: IpAddr = "fd00:10:235:210::1".parse().unwrap();
        let mut config = config();
        let mut server = config.servers[&1].clone();
        server.id = 2;
        server.ipaddr = vip6;
        server.targets = vec![5];
        config.servers.insert(2, server);
        let mut target = config.targets[&1].clone();
        target.id = 5;
        target.ipaddr = "fd00:10:235:210::44".parse().unwrap();
        config.targets.insert(5, target);
        let extra = dsr_path_checks(&config);
        assert_eq!(
            extra[&5][0].probe,
            Probe::DsrPath {
                vip: vip6,
                port: 53
            }
        );
        assert_eq!(
            extra[&5][0].describe(),
            "dsr-path [fd00:10:235:210::1]:53,3,12"
        );
    }
}
