//! The XDP program on the DSR interface (`fulcrum_xdp::program`), kept in line with the
//! forwarding table: the VIPs of both families, the virtual MACs, and — on an active-active
//! node, whose table is `routed` — the interface's own MAC.
//!
//! Contract: [`Steering::follow`] after every table rebuild makes the program's maps say what
//! the table says. Two users attach it: the AF_XDP path ([`super::xsk`]), which registers its
//! sockets so the hot path reaches them, and an active-active node on `AF_PACKET` alone
//! ([`Steering::for_routed_frames`]), where the program has no socket and only hands the
//! frames routers send to the node's own MAC for a VIP to the plane, by rewriting their
//! destination to the virtual MAC: the `AF_PACKET` workers then see them as any VIP frame and
//! the kernel drops its copy instead of answering from the VIP it holds for BIRD. Without the
//! program an active-active DSR node cannot serve (the announce driver withdraws its VIPs and
//! says why); a VRRP pair never needs it there.

use std::collections::BTreeSet;

use fulcrum_wire::ethernet::EthernetAddress;
use fulcrum_xdp::program::{AttachMode, SteerProgram};
use fulcrum_xdp::xsk::XskSocket;

use super::table::DsrTable;

/// The attached program and what it needs from the plane.
pub(super) struct Steering {
    program: SteerProgram,
    /// The interface's MAC, which routers send the VIPs' frames to on an active-active node.
    own_mac: EthernetAddress,
}

impl Steering {
    /// Attaches the program to the interface `ifindex`, whose MAC is `own_mac`.
    pub(super) fn attach(ifindex: u32, own_mac: EthernetAddress) -> Result<Steering, String> {
        if !fulcrum_xdp::program::compiled() {
            return Err(
                "this build has no XDP program (clang was missing when it was built)".into(),
            );
        }
        Ok(Steering {
            program: SteerProgram::attach(ifindex)?,
            own_mac,
        })
    }

    /// The program without sockets, for an active-active node on `AF_PACKET`, following
    /// `table` from the start.
    pub(super) fn for_routed_frames(
        ifindex: u32,
        own_mac: EthernetAddress,
        table: &DsrTable,
    ) -> Result<Steering, String> {
        let mut steering = Steering::attach(ifindex, own_mac)?;
        steering.follow(table)?;
        Ok(steering)
    }

    pub(super) fn mode(&self) -> AttachMode {
        self.program.mode()
    }

    /// Steers the hot path of receive queue `queue` to `socket`.
    pub(super) fn register(&mut self, queue: u32, socket: &XskSocket) -> Result<(), String> {
        self.program.register(queue, socket)
    }

    /// Makes the maps follow `table`: its VIPs and virtual MACs, and the own MAC exactly while
    /// the table is routed.
    pub(super) fn follow(&mut self, table: &DsrTable) -> Result<(), String> {
        let vips: BTreeSet<_> = table.vips().into_iter().collect();
        self.program.set_vips(&vips)?;
        let vips6: BTreeSet<_> = table.vips6().into_iter().collect();
        self.program.set_vips6(&vips6)?;
        self.program
            .set_virtual_macs([table.virtual_mac, table.virtual_mac6].map(|m| m.map(|m| m.0)))?;
        self.program
            .set_own_mac(table.routed.then_some(self.own_mac.0))
    }
}
