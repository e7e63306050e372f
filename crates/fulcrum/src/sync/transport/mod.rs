//! How sync datagrams reach the peer: the one thing under the sync driver that differs between
//! a host whose kernel holds the network's `real` address and one whose kernel does not.
//!
//! Contract: a [`Transport`] sends a datagram to the peer's port 10439 from `real`:10439 and
//! receives datagrams sent to `real`:10439 with their source address; the driver's logic is the
//! same over either. [`choose`] picks one per network: [`Kind::KernelUdp`] (a UDP socket bound
//! to `real`) when the kernel holds `real` (proxy mode, or an operator who added it), else
//! [`Kind::DsrFrames`] (whole frames on the DSR interface, [`dsr_frames`]) when the DSR plane
//! runs from that very `real` address, as on the seed's hosts where eth1 has no address. With
//! neither, the kernel socket is tried, and its bind error is the reason `show sync` gives.
//! With an IPv6 `syncpeer` the kernel transport also binds `real6`:10439 (sync over IPv6); the
//! DSR interface carries IPv4 only. [`open`] returns the transport or that reason as one line.

mod dsr_frames;
mod kernel;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use fulcrum_core::model::Config;

use super::setup::Setup;
use crate::dsr::Dsr;
use crate::plane::data_plane::wants_dsr;
use crate::plane::slot::PlaneView;

/// Which transport carries the datagrams (`show sync`'s `transport` line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    KernelUdp,
    DsrFrames,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::KernelUdp => "kernel-udp",
            Kind::DsrFrames => "dsr-frames",
        }
    }
}

/// Sends and receives sync datagrams (see the module doc).
pub trait Transport: Send {
    fn kind(&self) -> Kind;
    /// Sends one datagram to `peer`:10439; the error is one line for the log.
    fn send(&mut self, peer: IpAddr, datagram: &[u8]) -> Result<(), String>;
    /// Waits at most `wait` (not at all for zero) for one datagram; copies it into `buf` and
    /// returns its length and source address.
    fn recv(&mut self, buf: &mut [u8], wait: Duration) -> Option<(usize, IpAddr)>;
    /// What `show sync` adds after the transport's name (interface, counters), maybe empty.
    fn detail(&self) -> String;
}

/// What [`choose`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    Use(Kind),
    /// Not yet: the reason (the DSR plane that should carry sync has not started).
    Wait(String),
}

/// Picks the transport for a network whose `real` address is `real`. `kernel_addrs`: the
/// host's own IPv4 addresses; `dsr_plane`: the running DSR plane's interface and `real`;
/// `wants_dsr`: the configuration asks for the DSR plane.
pub fn choose(
    real: Ipv4Addr,
    kernel_addrs: &[Ipv4Addr],
    dsr_plane: Option<(&str, Ipv4Addr)>,
    wants_dsr: bool,
) -> Choice {
    if kernel_addrs.contains(&real) {
        return Choice::Use(Kind::KernelUdp);
    }
    match dsr_plane {
        Some((_, source)) if source == real => Choice::Use(Kind::DsrFrames),
        None if wants_dsr => Choice::Wait(format!(
            "{real} is not an address of this host and the DSR plane that would carry sync \
             from it has not started yet"
        )),
        _ => Choice::Use(Kind::KernelUdp),
    }
}

/// Opens the transport [`choose`] picks for `setup`, or says why not (one line). `dsr`: the
/// daemon's view of the DSR plane, which carries the datagrams as frames.
pub fn open(
    setup: &Setup,
    config: &Config,
    dsr: &PlaneView<Dsr>,
) -> Result<Box<dyn Transport>, String> {
    let kernel_addrs = fulcrum_sys::packet::local_ipv4_addrs().unwrap_or_default();
    let plane = dsr.current();
    let endpoint = plane.as_ref().and_then(|p| p.sync_endpoint());
    let choice = choose(
        setup.local,
        &kernel_addrs,
        endpoint.as_ref().map(|(name, real)| (name.as_str(), *real)),
        wants_dsr(config),
    );
    match (choice, plane, endpoint) {
        (Choice::Wait(why), _, _) => Err(why),
        (Choice::Use(Kind::DsrFrames), _, _) if setup.local6.is_some() => Err(format!(
            "{} is not an address of this host, and IPv6 syncpeers need the kernel to hold it \
             (the DSR interface carries sync over IPv4 only)",
            setup.local
        )),
        (Choice::Use(Kind::DsrFrames), Some(plane), Some((interface, _))) => Ok(Box::new(
            dsr_frames::DsrFrames::new(plane.sync_attach(), interface),
        )),
        _ => kernel::KernelUdp::bind(setup.local, setup.local6)
            .map(|t| Box::new(t) as Box<dyn Transport>),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 45);
    const ETH0: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 43);

    #[test]
    fn the_kernel_socket_where_the_kernel_holds_real_else_the_dsr_interface() {
        // The seed's host: eth1 has no address, the DSR plane runs from `real`.
        assert_eq!(
            choose(REAL, &[ETH0], Some(("eth1", REAL)), true),
            Choice::Use(Kind::DsrFrames)
        );
        // An operator added `real` to eth1: the kernel socket, as before.
        assert_eq!(
            choose(REAL, &[ETH0, REAL], Some(("eth1", REAL)), true),
            Choice::Use(Kind::KernelUdp)
        );
        // Proxy mode: no DSR plane; the kernel holds `real`.
        assert_eq!(
            choose(REAL, &[REAL], None, false),
            Choice::Use(Kind::KernelUdp)
        );
    }

    #[test]
    fn waits_for_the_dsr_plane_and_otherwise_lets_the_bind_say_what_is_wrong() {
        match choose(REAL, &[ETH0], None, true) {
            Choice::Wait(why) => assert!(why.contains("DSR plane"), "{why}"),
            other => panic!("{other:?}"),
        }
        // No DSR, no kernel address: the socket's bind error is the reason shown.
        assert_eq!(
            choose(REAL, &[ETH0], None, false),
            Choice::Use(Kind::KernelUdp)
        );
        // The DSR plane runs from another network's `real`.
        let other = Ipv4Addr::new(192, 0, 2, 45);
        assert_eq!(
            choose(REAL, &[ETH0], Some(("eth2", other)), true),
            Choice::Use(Kind::KernelUdp)
        );
    }
}
