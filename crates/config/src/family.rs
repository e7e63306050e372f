//! Address families. Errors: a server and its targets share one family (a DSR or proxied
//! query cannot change family on the way), and a network's `real6` and `virt6` lie inside its
//! `addr6`/`mask6`. Warnings, one per statement, for the IPv6 the configuration accepts and the
//! daemon does not act on: `addr6`, `mask6` and `real6` when no IPv6 server has DSR targets
//! (only the DSR plane uses them), `virt6` without a `vrrp` block, an IPv6 `syncpeer`. Warnings
//! are given only for statements of the text being applied (a shell command does not repeat the
//! file's), so each points at what the operator wrote.

use std::net::{IpAddr, Ipv6Addr};

use fulcrum_core::model::Config;

use crate::ast::Kind;
use crate::diag::{Error, Span};
use crate::lower::Origins;

fn family(addr: IpAddr) -> &'static str {
    if addr.is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    }
}

fn ipaddr_at(origins: &Origins, kind: Kind, id: u32) -> Option<Span> {
    origins.block_opts.get(&(kind, id, "ipaddr")).copied()
}

fn inside6(addr: Ipv6Addr, network: Ipv6Addr, len: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    u128::from(addr) & mask == u128::from(network) & mask
}

pub fn errors(config: &Config, origins: &Origins) -> Vec<Error> {
    let mut errors = Vec::new();
    for (id, server) in &config.servers {
        let mixed = server
            .targets
            .iter()
            .filter_map(|t| config.targets.get(t).map(|target| (*t, target)))
            .find(|(_, target)| target.ipaddr.is_ipv4() != server.ipaddr.is_ipv4());
        let Some((target_id, target)) = mixed else {
            continue;
        };
        let server_at = ipaddr_at(origins, Kind::Server, *id);
        let target_at = ipaddr_at(origins, Kind::Target, target_id);
        let span = server_at
            .or(target_at)
            .unwrap_or_else(|| origins.of(Kind::Server, *id));
        let mut error = Error::new(
            span,
            format!(
                "server {id} has {} address {} but its target {target_id} has {} address {}",
                family(server.ipaddr),
                server.ipaddr,
                family(target.ipaddr),
                target.ipaddr
            ),
        )
        .help("a server and its targets share one address family");
        let other = match (server_at, target_at) {
            (Some(_), Some(at)) => Some(format!("target {target_id}'s ipaddr is at {at}")),
            (None, Some(_)) => Some(format!(
                "server {id} is defined at {}",
                origins.of(Kind::Server, *id)
            )),
            _ => None,
        };
        if let Some(note) = other {
            error = error.note(note);
        }
        errors.push(error);
    }
    for (id, network) in &config.networks {
        let (Some(addr6), Some(len)) = (network.addr6, network.mask6) else {
            continue;
        };
        for (keyword, value) in [("real6", network.real6), ("virt6", network.virt6)] {
            if let Some(value) = value.filter(|v| !inside6(*v, addr6, len)) {
                let span = origins
                    .network_opts
                    .get(&(*id, keyword))
                    .copied()
                    .unwrap_or_else(|| origins.of(Kind::Network, *id));
                errors.push(Error::new(
                    span,
                    format!("{keyword} {value} is outside network {id} ({addr6}/{len})"),
                ));
            }
        }
    }
    errors
}

fn not_served(span: Span, what: String, why: &str) -> Error {
    Error::new(span, format!("{what} is accepted and ignored: {why}"))
}

pub fn warnings(config: &Config, origins: &Origins) -> Vec<Error> {
    let mut warnings = Vec::new();
    let ipv6_dsr = ipv6_dsr(config);
    for (id, network) in &config.networks {
        let values = [
            ("addr6", network.addr6.map(|a| a.to_string())),
            ("mask6", network.mask6.map(|l| l.to_string())),
            ("real6", network.real6.map(|a| a.to_string())),
            ("virt6", network.virt6.map(|a| a.to_string())),
        ];
        for (keyword, value) in values {
            let (Some(value), Some(span)) = (value, origins.network_opts.get(&(*id, keyword)))
            else {
                continue;
            };
            let why = if keyword == "virt6" {
                if config.vrrp.is_some() {
                    continue;
                }
                "a virtual address floats under a `vrrp` block only, and there is none"
            } else {
                // Session sync sends from `real6` to an IPv6 `syncpeer`.
                let ipv6_sync = network.syncpeers.iter().any(|p| p.is_ipv6());
                if ipv6_dsr || ipv6_sync {
                    continue;
                }
                "only the DSR plane (neighbour solicitations leave from `real6`) and session sync \
                 to an IPv6 `syncpeer` use it, and this network has neither an IPv6 server with \
                 DSR targets nor an IPv6 syncpeer"
            };
            warnings.push(not_served(*span, format!("{keyword} {value}"), why));
        }
        let ipv6_peer = network.syncpeers.iter().find(|p| p.is_ipv6());
        if let (Some(peer), Some(span), None) = (
            ipv6_peer,
            origins.network_opts.get(&(*id, "syncpeer")),
            network.real6,
        ) {
            warnings.push(not_served(
                *span,
                format!("syncpeer {peer}"),
                "session sync to an IPv6 peer sends from the network's `real6`, which is not set",
            ));
        }
    }
    warnings
}

/// Whether the DSR plane balances an IPv6 server: an active one with a DSR target.
fn ipv6_dsr(config: &Config) -> bool {
    config.active_servers().any(|server| {
        server.ipaddr.is_ipv6()
            && server
                .targets
                .iter()
                .filter_map(|id| config.targets.get(id))
                .any(|target| target.dsr)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        let net: Ipv6Addr = "fd00:1::".parse().unwrap();
        assert!(inside6("fd00:1::44".parse().unwrap(), net, 64));
        assert!(!inside6("fd00:2::44".parse().unwrap(), net, 64));
        assert!(inside6("2001:db8::1".parse().unwrap(), net, 0));
        assert!(inside6(net, net, 128));
        assert!(!inside6("fd00:1::1".parse().unwrap(), net, 128));
    }
}
