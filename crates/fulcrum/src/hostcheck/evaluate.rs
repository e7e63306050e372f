//! The host check's judgement: a configuration and the facts of a host in, one finding per
//! thing checked out, each saying what is wrong and what to do. Pure: no I/O, so every rule is
//! tested with tables of made-up hosts (`tests.rs`).
//!
//! The rules: every interface the configuration names exists and is up; with DSR targets and
//! `set localdsr 1` the VIP is on `lo` and ARP for it is silenced as the seed does
//! (`arp_ignore` >= 1, `arp_announce` >= 2, the kernel taking the larger of `all` and each
//! interface); a proxied server's address is local or can be bound with `IP_FREEBIND` (or
//! `ip_nonlocal_bind`); the capabilities the planes need are held; the session-sync port is free
//! (or held by Fulcrum itself) and a local target's agent port is held by an agent; and which
//! DSR plane each DSR interface gets (`access raw`: `AF_PACKET`; `access xdp`: AF_XDP where it
//! can run here, else `AF_PACKET` and why).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use fulcrum_core::model::{Config, InterfaceAccess, Server, Target};

use super::facts::{HostFacts, PortState, CAP_NET_ADMIN, CAP_NET_BIND_SERVICE, CAP_NET_RAW};

use super::dsr_plane::dsr_servers;
use super::finding::{error, ok, warning};
pub use super::finding::{Finding, Level};

/// The session-sync port (`docs/sync.md`).
pub const SYNC_PORT: u16 = fulcrum_wire::sync::PORT;
/// Programs that may hold a local target's agent port.
const AGENTS: &[&str] = &["fulcrum", "bngagent"];

/// UDP ports the gatherer should try: the sync port when sync can run, every agent port.
pub fn udp_ports_to_try(config: &Config) -> BTreeSet<u16> {
    let mut ports: BTreeSet<u16> = active_targets(config)
        .filter_map(|t| t.agent.map(|a| a.port))
        .collect();
    if sync_configured(config) {
        ports.insert(SYNC_PORT);
    }
    ports
}

/// Addresses the gatherer should try to bind with `IP_FREEBIND`: proxied servers'.
pub fn freebind_to_try(config: &Config) -> BTreeSet<IpAddr> {
    proxy_servers(config).map(|s| s.ipaddr).collect()
}

/// Whether the gatherer should find out if AF_XDP can run: an interface asks for it.
pub fn af_xdp_to_try(config: &Config) -> bool {
    config
        .interfaces
        .values()
        .any(|i| i.access == InterfaceAccess::Xdp)
}

pub fn evaluate(config: &Config, facts: &HostFacts) -> Vec<Finding> {
    let mut out = Vec::new();
    interfaces(config, facts, &mut out);
    super::dsr_plane::planes(config, facts, &mut out);
    super::dsr_plane::routed_frames(config, facts, &mut out);
    super::dsr_plane::receive_offloads(config, facts, &mut out);
    local_dsr(config, facts, &mut out);
    proxy_addresses(config, facts, &mut out);
    capabilities(config, facts, &mut out);
    sync_port(config, facts, &mut out);
    agent_ports(config, facts, &mut out);
    out
}

fn sync_configured(config: &Config) -> bool {
    config.vrrp.is_some() || config.networks.values().any(|n| !n.syncpeers.is_empty())
}

fn active_targets(config: &Config) -> impl Iterator<Item = &Target> {
    config
        .targets
        .values()
        .filter(|t| t.registered && t.enabled)
}

fn server_targets<'a>(config: &'a Config, server: &'a Server) -> impl Iterator<Item = &'a Target> {
    server
        .targets
        .iter()
        .filter_map(|id| config.targets.get(id))
        .filter(|t| t.registered)
}

fn proxy_servers(config: &Config) -> impl Iterator<Item = &Server> {
    config
        .active_servers()
        .filter(|s| server_targets(config, s).any(|t| !t.dsr))
}

fn interfaces(config: &Config, facts: &HostFacts, out: &mut Vec<Finding>) {
    let mut names: BTreeSet<&str> = config
        .interfaces
        .values()
        .map(|i| i.name.as_str())
        .collect();
    names.extend(
        config
            .networks
            .values()
            .filter(|n| n.registered && n.enabled)
            .filter_map(|n| config.network_interface_name(n)),
    );
    for name in names {
        out.push(match facts.interfaces.get(name) {
            None => error(format!(
                "interface {name} does not exist: create it or correct its name in the \
                 configuration (`ip link` lists the interfaces)"
            )),
            Some(i) if !i.up => error(format!(
                "interface {name} is down: bring it up with `ip link set {name} up`"
            )),
            Some(i) if !i.running => warning(format!(
                "interface {name} is up but has no link: check its cable or its peer"
            )),
            Some(_) => ok(format!("interface {name} exists and is up")),
        });
    }
}

fn local_dsr(config: &Config, facts: &HostFacts, out: &mut Vec<Finding>) {
    if !config.settings.localdsr {
        return;
    }
    let vips: BTreeSet<IpAddr> = dsr_servers(config).map(|s| s.ipaddr).collect();
    if vips.is_empty() {
        return;
    }
    for vip in vips {
        let on_lo = facts
            .interfaces
            .get("lo")
            .is_some_and(|lo| lo.addresses.contains(&vip));
        if on_lo {
            out.push(ok(format!("VIP {vip} is on lo")));
            continue;
        }
        let elsewhere: Vec<&str> = facts.interfaces_with(vip);
        let instead = if elsewhere.is_empty() {
            String::new()
        } else {
            format!(" (it is on {} instead)", elsewhere.join(", "))
        };
        let prefix = if vip.is_ipv4() { 32 } else { 128 };
        out.push(error(format!(
            "VIP {vip} is not on lo{instead}: add it with `ip addr add {vip}/{prefix} dev lo` \
             (the seed's lo:0), or the local target drops the queries it is handed"
        )));
    }
    arp_sysctl("arp_ignore", 1, &facts.arp_ignore, facts, out);
    arp_sysctl("arp_announce", 2, &facts.arp_announce, facts, out);
}

/// The kernel applies the larger of `all` and the interface's own value.
fn arp_sysctl(
    name: &str,
    wanted: u32,
    values: &BTreeMap<String, u32>,
    facts: &HostFacts,
    out: &mut Vec<Finding>,
) {
    let key = format!("net.ipv4.conf.all.{name}");
    let Some(&all) = values.get("all") else {
        out.push(warning(format!(
            "cannot read {key}: check it is {wanted}, as the seed sets it"
        )));
        return;
    };
    let answering: Vec<&str> = facts
        .interfaces
        .keys()
        .filter(|i| i.as_str() != "lo")
        .filter(|i| all.max(values.get(*i).copied().unwrap_or(0)) < wanted)
        .map(String::as_str)
        .collect();
    if answering.is_empty() {
        out.push(ok(format!("{key} is {all}, as the seed sets it")));
        return;
    }
    let what = if name == "arp_ignore" {
        "answers ARP for the VIP on lo"
    } else {
        "announces the VIP on lo in its ARP requests"
    };
    out.push(error(format!(
        "{key} is {all}: the kernel {what} on {}; set it with `sysctl -w {key}={wanted}` and \
         in /etc/sysctl.conf, as the seed does",
        answering.join(", ")
    )));
}

fn proxy_addresses(config: &Config, facts: &HostFacts, out: &mut Vec<Finding>) {
    for server in proxy_servers(config) {
        let id = server.id;
        let addr = server.ipaddr;
        let holders = facts.interfaces_with(addr);
        if !holders.is_empty() {
            out.push(ok(format!(
                "server {id}'s address {addr} is on {}",
                holders.join(", ")
            )));
            continue;
        }
        match facts.freebind.get(&addr) {
            Some(Ok(())) => out.push(ok(format!(
                "server {id}'s address {addr} is not on this host; IP_FREEBIND lets Fulcrum \
                 bind it, and queries arrive once the address is routed here (VRRP's takeover)"
            ))),
            _ if facts.nonlocal_bind == Some(1) => out.push(ok(format!(
                "server {id}'s address {addr} is not on this host; net.ipv4.ip_nonlocal_bind=1 \
                 lets Fulcrum bind it"
            ))),
            Some(Err(why)) => out.push(error(format!(
                "server {id}'s address {addr} is not on this host and binding it with \
                 IP_FREEBIND failed ({why}): add the address, or set \
                 net.ipv4.ip_nonlocal_bind=1"
            ))),
            None => out.push(warning(format!(
                "server {id}'s address {addr} is not on this host and IP_FREEBIND was not \
                 tried: add the address"
            ))),
        }
    }
}

fn capabilities(config: &Config, facts: &HostFacts, out: &mut Vec<Finding>) {
    let mut needs: BTreeMap<(u32, &str), Vec<String>> = BTreeMap::new();
    let mut need = |cap: u32, name: &'static str, why: String| {
        needs.entry((cap, name)).or_default().push(why);
    };
    for server in dsr_servers(config) {
        need(
            CAP_NET_RAW,
            "CAP_NET_RAW",
            format!("server {}'s DSR plane", server.id),
        );
    }
    if config.vrrp.is_some() {
        need(CAP_NET_RAW, "CAP_NET_RAW", "VRRP adverts".into());
        need(CAP_NET_ADMIN, "CAP_NET_ADMIN", "VRRP's VIP changes".into());
    }
    if active_targets(config).any(|t| t.ping.is_some()) {
        need(CAP_NET_RAW, "CAP_NET_RAW", "ping checks".into());
    }
    let unprivileged = facts.unprivileged_port_start.unwrap_or(1024);
    for server in proxy_servers(config) {
        if u32::from(server.port) < unprivileged {
            need(
                CAP_NET_BIND_SERVICE,
                "CAP_NET_BIND_SERVICE",
                format!("server {}'s port {}", server.id, server.port),
            );
        }
    }
    let who = match facts.euid {
        Some(0) => "root".to_string(),
        Some(uid) => format!("uid {uid}"),
        None => "this user".to_string(),
    };
    for ((cap, name), mut whys) in needs {
        whys.dedup();
        let whys = whys.join(", ");
        if facts.effective_caps.is_none() {
            out.push(warning(format!(
                "cannot read this process's capabilities (CapEff in /proc/self/status): \
                 {name} is needed for {whys}"
            )));
        } else if facts.has_cap(cap) {
            out.push(ok(format!("{name} is held by {who} (for {whys})")));
        } else {
            out.push(error(format!(
                "{name} is missing for {who} (needed for {whys}): run as root with the full \
                 capability set, or grant it (systemd: AmbientCapabilities={name})"
            )));
        }
    }
}

fn holders_text(holders: &[super::facts::Holder]) -> String {
    let named: Vec<String> = holders
        .iter()
        .map(|h| format!("PID {} ({})", h.pid, h.program))
        .collect();
    named.join(", ")
}

fn sync_port(config: &Config, facts: &HostFacts, out: &mut Vec<Finding>) {
    if !sync_configured(config) {
        return;
    }
    let port = SYNC_PORT;
    let what = format!("udp port {port} (session sync)");
    out.push(match facts.udp_ports.get(&port) {
        Some(PortState::Free) => ok(format!("{what} is free")),
        Some(PortState::Held(holders))
            if !holders.is_empty() && holders.iter().all(|h| h.program == "fulcrum") =>
        {
            ok(format!(
                "{what} is held by {}: Fulcrum already runs here",
                holders_text(holders)
            ))
        }
        Some(PortState::Held(holders)) if holders.is_empty() => error(format!(
            "{what} is in use by another process: find it with `ss -ulpn sport = :{port}` and \
             stop it, or session sync cannot bind"
        )),
        Some(PortState::Held(holders)) => error(format!(
            "{what} is held by {}: stop it, or session sync cannot bind",
            holders_text(holders)
        )),
        Some(PortState::Unknown(why)) => warning(format!("{what} could not be tried: {why}")),
        None => warning(format!("{what} was not tried")),
    });
}

fn agent_ports(config: &Config, facts: &HostFacts, out: &mut Vec<Finding>) {
    let mut local: BTreeMap<u16, Vec<u32>> = BTreeMap::new();
    for target in active_targets(config) {
        let Some(agent) = target.agent else { continue };
        if !facts.interfaces_with(target.ipaddr).is_empty() {
            local.entry(agent.port).or_default().push(target.id);
        }
    }
    for (port, targets) in local {
        let ids: Vec<String> = targets.iter().map(u32::to_string).collect();
        let noun = if ids.len() == 1 { "target" } else { "targets" };
        let what = format!("udp port {port} ({noun} {}'s agent check)", ids.join(", "));
        out.push(match facts.udp_ports.get(&port) {
            Some(PortState::Held(holders))
                if !holders.is_empty()
                    && holders.iter().all(|h| AGENTS.contains(&h.program.as_str())) =>
            {
                ok(format!("{what} is answered by {}", holders_text(holders)))
            }
            Some(PortState::Free) => warning(format!(
                "nothing listens on {what}: start the agent (`fulcrum agent -c SCRIPT {port}`), \
                 or the check takes the target down"
            )),
            Some(PortState::Held(holders)) if holders.is_empty() => warning(format!(
                "{what} is in use, by a process this check cannot see: make sure it is the \
                 agent (`ss -ulpn sport = :{port}`)"
            )),
            Some(PortState::Held(holders)) => error(format!(
                "{what} is held by {}, not an agent: stop it and start `fulcrum agent -c \
                 SCRIPT {port}`",
                holders_text(holders)
            )),
            Some(PortState::Unknown(why)) => warning(format!("{what} could not be tried: {why}")),
            None => warning(format!("{what} was not tried")),
        });
    }
}
