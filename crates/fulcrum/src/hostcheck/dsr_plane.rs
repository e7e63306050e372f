//! The host check's findings about the DSR plane's interfaces: which plane each gets (AF_PACKET,
//! AF_XDP) and why, whether an active-active node's XDP program loads, and whether a receive
//! offload merges TCP segments before the plane sees them. Pure, like `evaluate`: the facts
//! come from `gather`.

use std::collections::BTreeSet;

use fulcrum_core::model::{Config, InterfaceAccess, Server};

use super::facts::HostFacts;
use super::finding::{error, ok, warning, Finding};

/// The active servers with a registered DSR target.
pub fn dsr_servers(config: &Config) -> impl Iterator<Item = &Server> {
    config.active_servers().filter(|s| {
        (s.targets.iter())
            .filter_map(|id| config.targets.get(id))
            .any(|t| t.registered && t.dsr)
    })
}

/// The interfaces of the registered, enabled networks, when the configuration balances by DSR.
pub fn dsr_interfaces(config: &Config) -> BTreeSet<String> {
    if dsr_servers(config).next().is_none() {
        return BTreeSet::new();
    }
    config
        .networks
        .values()
        .filter(|n| n.registered && n.enabled)
        .filter_map(|n| config.network_interface_name(n))
        .map(str::to_string)
        .collect()
}

fn access_of(config: &Config, name: &str) -> InterfaceAccess {
    config
        .interfaces
        .values()
        .find(|i| i.name == name)
        .map_or(InterfaceAccess::Raw, |i| i.access)
}

/// Whether the node balances DSR servers active-active (an `announce` block): the frames
/// routers send to its own MAC reach the plane only through the XDP program.
pub fn routed_dsr(config: &Config) -> bool {
    config.announce.is_some() && dsr_servers(config).next().is_some()
}

/// The plane each interface of a DSR network gets, and why.
pub fn planes(config: &Config, facts: &HostFacts, out: &mut Vec<Finding>) {
    for name in dsr_interfaces(config) {
        let access = access_of(config, &name);
        out.push(match (access, &facts.af_xdp) {
            (InterfaceAccess::Raw, _) => ok(format!(
                "interface {name}: the DSR plane runs on AF_PACKET (access raw; `access xdp` \
                 would put the VIPs' frames on AF_XDP)"
            )),
            (InterfaceAccess::Xdp, Some(Ok(()))) => ok(format!(
                "interface {name}: the DSR plane runs on AF_XDP for the VIPs' UDP and TCP frames \
                 and AF_PACKET for the rest (access xdp; the XDP program loads here, native mode \
                 where the driver has it, else generic)"
            )),
            (InterfaceAccess::Xdp, Some(Err(reason))) => warning(format!(
                "interface {name}: access xdp, but the DSR plane will run on AF_PACKET alone: \
                 AF_XDP is unavailable here ({reason}); it needs CAP_BPF besides CAP_NET_ADMIN and \
                 CAP_NET_RAW (systemd: AmbientCapabilities=CAP_BPF, and AF_XDP in \
                 RestrictAddressFamilies=)"
            )),
            (InterfaceAccess::Xdp, None) => warning(format!(
                "interface {name}: access xdp, but whether AF_XDP can run here was not checked"
            )),
        });
    }
}

/// An active-active DSR node: whether the XDP program that hands it the routed frames loads.
pub fn routed_frames(config: &Config, facts: &HostFacts, out: &mut Vec<Finding>) {
    if !routed_dsr(config) {
        return;
    }
    out.push(match &facts.xdp_program {
        Some(Ok(())) => ok(
            "active-active DSR: the XDP program loads here, so the frames routers \
             send to this node's MAC for the DSR VIPs reach the plane"
                .into(),
        ),
        Some(Err(reason)) => error(format!(
            "active-active DSR needs the XDP program to take the frames routers send to this \
             node's MAC for the DSR VIPs, and it does not load here ({reason}): the node would \
             withdraw every DSR VIP; it needs CAP_BPF besides CAP_NET_ADMIN (systemd: \
             AmbientCapabilities=CAP_BPF)"
        )),
        None => {
            warning("active-active DSR: whether the XDP program loads here was not checked".into())
        }
    });
}

/// GRO and LRO merge a client's TCP segments into one packet longer than the MTU before a packet
/// socket sees it; the plane cuts one that fits its ring slot into segments again, but a longer
/// one arrives truncated and is lost (`drop-truncated`). An XDP program on the interface turns GRO off (the
/// kernel skips it there) and drivers refuse XDP with LRO on, so the interfaces that get one
/// (`access xdp` where AF_XDP runs, an active-active node's) need nothing.
pub fn receive_offloads(config: &Config, facts: &HostFacts, out: &mut Vec<Finding>) {
    for name in dsr_interfaces(config) {
        let xdp = (access_of(config, &name) == InterfaceAccess::Xdp
            && matches!(facts.af_xdp, Some(Ok(()))))
            || (routed_dsr(config) && matches!(facts.xdp_program, Some(Ok(()))));
        if xdp {
            continue;
        }
        out.push(match facts.receive_offload.get(&name) {
            Some(Ok(offload)) if offload.gro || offload.lro => {
                let which = match (offload.gro, offload.lro) {
                    (true, true) => "generic and large receive offload (GRO, LRO) are",
                    (true, false) => "generic receive offload (GRO) is",
                    _ => "large receive offload (LRO) is",
                };
                warning(format!(
                    "interface {name}: {which} on: the kernel or the NIC merges a client's TCP \
                     segments before the DSR plane sees them; the plane cuts a merged frame up to \
                     its 2 KiB ring slot into segments again, a longer one is lost (counted as \
                     drop-truncated); run `ethtool -K {name} gro off lro off` (and keep it in the \
                     interface's configuration)"
                ))
            }
            Some(Ok(_)) => ok(format!(
                "interface {name}: no receive offload merges TCP segments (GRO and LRO off)"
            )),
            Some(Err(e)) => warning(format!(
                "interface {name}: cannot read its receive offloads ({e}): check that GRO and LRO \
                 are off (`ethtool -k {name}`)"
            )),
            None => continue,
        });
    }
}
