//! Whole-configuration checks, run on the result of applying a text to its base.
//!
//! After these pass, the model's invariants hold (see `fulcrum_core::model`): every reference
//! resolves, every server has targets, nothing is enabled that is not registered, VRRP's advert
//! interval suits its version, interface names are unique, and a network's own addresses lie
//! inside it. Errors point at the text through [`Origins`]; something the text did not touch
//! cannot be wrong when the base was valid, so the fallback position (1:1) is rarely seen.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use fulcrum_core::model::{Config, InterfaceRef, Target, VrrpVersion};

/// VRRPv2 carries 8 bytes of authentication data (RFC 3768 §5.3.10).
const AUTH_PASS_MAX: usize = 8;

use crate::ast::Kind;
use crate::diag::{Error, Span};
use crate::lower::Origins;

pub fn validate(config: &Config, origins: &Origins) -> Vec<Error> {
    let mut errors = Vec::new();
    servers(config, origins, &mut errors);
    proxy_protocol(config, origins, &mut errors);
    vrrp(config, origins, &mut errors);
    networks(config, origins, &mut errors);
    interface_names(config, origins, &mut errors);
    registrations(config, origins, &mut errors);
    crate::lower::announce::validate(config, origins, &mut errors);
    errors
}

fn servers(config: &Config, origins: &Origins, errors: &mut Vec<Error>) {
    for (id, server) in &config.servers {
        if server.targets.is_empty() {
            errors.push(
                Error::new(
                    origins.of(Kind::Server, *id),
                    format!("server {id} has no targets"),
                )
                .help("add \"targets LIST\" (such as \"targets 1,2\") to the block"),
            );
        }
        for target in &server.targets {
            if config.targets.contains_key(target) {
                continue;
            }
            let span = origins
                .server_targets
                .get(id)
                .and_then(|ranges| ranges.iter().find(|r| (r.lo..=r.hi).contains(target)))
                .map_or_else(|| origins.of(Kind::Server, *id), |r| r.span);
            errors.push(
                Error::new(
                    span,
                    format!("server {id} uses target {target}, which is not defined"),
                )
                .help(format!(
                    "define it with \"target {target} {{ ipaddr ... }}\""
                )),
            );
            // One error per server is enough: a range of undefined ids says the same thing.
            break;
        }
    }
}

/// The PROXY header is something a proxy writes in front of what it relays; a DSR target
/// receives the client's own packets, which already carry the client's address.
fn proxy_protocol(config: &Config, origins: &Origins, errors: &mut Vec<Error>) {
    let both = |(_, t): &(&u32, &Target)| t.dsr && t.proxy_protocol;
    for (id, _) in config.targets.iter().filter(both) {
        let at = |keyword: &str| {
            origins
                .block_opts
                .get(&(Kind::Target, *id, keyword))
                .copied()
        };
        let span = at("proxyprotocol")
            .or(at("dsr"))
            .unwrap_or_else(|| origins.of(Kind::Target, *id));
        let mut error = Error::new(
            span,
            format!("proxyprotocol enable on target {id}, which is a DSR target"),
        )
        .help(
            "a DSR target receives the client's own packets and sees its address without a \
             PROXY header; remove \"proxyprotocol enable\" or \"dsr enable\"",
        );
        if let (Some(_), Some(dsr_at)) = (at("proxyprotocol"), at("dsr")) {
            error = error.note(format!("dsr enable is at {dsr_at}"));
        }
        errors.push(error);
    }
}

fn vrrp(config: &Config, origins: &Origins, errors: &mut Vec<Error>) {
    let Some(vrrp) = &config.vrrp else { return };
    let at = |keyword: &str| {
        origins
            .vrrp_opts
            .get(keyword)
            .copied()
            .or(origins.vrrp)
            .unwrap_or(Span::START)
    };
    if vrrp.network != 0 && !config.networks.contains_key(&vrrp.network) {
        errors.push(
            Error::new(
                at("network"),
                format!("vrrp uses network {}, which is not defined", vrrp.network),
            )
            .help(format!(
                "define it with \"network {} {{ ... }}\"",
                vrrp.network
            )),
        );
    }
    let ms = vrrp.advert_ms;
    let problem = match vrrp.version {
        VrrpVersion::V2 if !ms.is_multiple_of(1000) || !(1000..=255_000).contains(&ms) => {
            Some("VRRP version 2 needs an advert of whole seconds from 1s to 255s")
        }
        VrrpVersion::V3 if !ms.is_multiple_of(10) || !(10..=40_950).contains(&ms) => {
            Some("VRRP version 3 needs an advert in steps of 10ms from 10ms to 40950ms")
        }
        _ => None,
    };
    if let Some(problem) = problem {
        let span = origins
            .vrrp_opts
            .get("advert")
            .or(origins.vrrp_opts.get("version"))
            .copied()
            .or(origins.vrrp)
            .unwrap_or(Span::START);
        errors.push(Error::new(span, format!("{problem}, found {ms}ms")));
    }
    if let Some(pass) = &vrrp.auth_pass {
        if vrrp.version == VrrpVersion::V3 {
            errors.push(
                Error::new(at("authpass"), "VRRP version 3 has no authentication")
                    .help("remove \"authpass\", or use \"version 2\" as the peers do"),
            );
        } else if pass.is_empty() || pass.len() > AUTH_PASS_MAX {
            errors.push(
                Error::new(
                    at("authpass"),
                    format!(
                        "authpass needs 1 to {} bytes, found {}",
                        AUTH_PASS_MAX,
                        pass.len()
                    ),
                )
                .help("keepalived sends only the first 8 bytes of auth_pass; give those"),
            );
        }
    }
    let real = config.networks.get(&vrrp.network).and_then(|n| n.real);
    for peer in &vrrp.peers {
        let span = origins
            .vrrp_peers
            .get(peer)
            .copied()
            .unwrap_or_else(|| at("peer"));
        if Some(*peer) == real {
            errors.push(
                Error::new(span, format!("peer {peer} is this node's own real address"))
                    .help("list the other members of the group, not this node"),
            );
        } else if peer.is_multicast() || peer.is_broadcast() || peer.is_unspecified() {
            errors.push(Error::new(
                span,
                format!("peer {peer} is not a unicast address"),
            ));
        }
    }
}

fn inside(addr: Ipv4Addr, network: Ipv4Addr, mask: Ipv4Addr) -> bool {
    u32::from(addr) & u32::from(mask) == u32::from(network) & u32::from(mask)
}

fn networks(config: &Config, origins: &Origins, errors: &mut Vec<Error>) {
    for (id, network) in &config.networks {
        let at = |keyword: &str| {
            origins
                .network_opts
                .get(&(*id, keyword))
                .copied()
                .unwrap_or_else(|| origins.of(Kind::Network, *id))
        };
        match &network.interface {
            Some(InterfaceRef::Id(n)) if !config.interfaces.contains_key(n) => {
                errors.push(
                    Error::new(
                        at("interface"),
                        format!("network {id} uses interface {n}, which is not defined"),
                    )
                    .help(format!("define it with \"interface {n} {{ name NAME }}\"")),
                );
            }
            Some(InterfaceRef::Name(name))
                if !config.interfaces.is_empty()
                    && !config.interfaces.values().any(|i| &i.name == name) =>
            {
                let declared: Vec<&str> = config
                    .interfaces
                    .values()
                    .map(|i| i.name.as_str())
                    .collect();
                errors.push(
                    Error::new(
                        at("interface"),
                        format!("network {id} uses interface \"{name}\", which is not declared"),
                    )
                    .note(format!("declared interfaces: {}", declared.join(", "))),
                );
            }
            _ => {}
        }
        let (Some(addr), Some(mask)) = (network.addr, network.mask) else {
            continue;
        };
        let prefix = u32::from(mask).leading_ones();
        for (keyword, value) in [("real", network.real), ("virt", network.virt)] {
            if let Some(value) = value.filter(|v| !inside(*v, addr, mask)) {
                errors.push(Error::new(
                    at(keyword),
                    format!("{keyword} {value} is outside network {id} ({addr}/{prefix})"),
                ));
            }
        }
    }
}

fn interface_names(config: &Config, origins: &Origins, errors: &mut Vec<Error>) {
    let mut first: HashMap<&str, u32> = HashMap::new();
    for (id, interface) in &config.interfaces {
        match first.get(interface.name.as_str()) {
            Some(other) => errors.push(
                Error::new(
                    origins.of(Kind::Interface, *id),
                    format!(
                        "interface {id} has the name \"{}\" of interface {other}",
                        interface.name
                    ),
                )
                .note(format!(
                    "interface {other} is defined at {}",
                    origins.of(Kind::Interface, *other)
                )),
            ),
            None => {
                first.insert(interface.name.as_str(), *id);
            }
        }
    }
}

fn registrations(config: &Config, origins: &Origins, errors: &mut Vec<Error>) {
    let flags = config
        .networks
        .iter()
        .map(|(id, n)| (Kind::Network, *id, n.registered, n.enabled))
        .chain(
            config
                .servers
                .iter()
                .map(|(id, s)| (Kind::Server, *id, s.registered, s.enabled)),
        )
        .chain(
            config
                .targets
                .iter()
                .map(|(id, t)| (Kind::Target, *id, t.registered, t.enabled)),
        );
    for (kind, id, registered, enabled) in flags {
        if enabled && !registered {
            let span = origins
                .enabled_at
                .get(&(kind, id))
                .copied()
                .unwrap_or_else(|| origins.of(kind, id));
            let noun = kind.noun();
            errors.push(
                Error::new(span, format!("{noun} {id} is enabled but not registered"))
                    .help(format!("add \"register {noun} {id}\"")),
            );
        }
    }
}
