//! One peer's half of the sync driver: the [`Sender`] that sends this node's session events to
//! that peer and answers its full-table requests, and the [`Receiver`] that follows that peer's
//! sender boot. A node with several `syncpeer`s runs one link per peer, so each pair keeps its
//! own sequence space, dumps and resync state exactly as a two-node pair does; a node whose
//! peer is derived (the VRRP master, a verified requester) runs one link whose address the
//! coordinator sets.

use std::net::IpAddr;
use std::time::{Instant, SystemTime};

use fulcrum_core::sync::{
    Receiver, ReceiverConfig, Resync, Sender, SenderConfig, SessionLimits, REPLAY_WINDOW,
};

/// One peer's sender and receiver, and what `show sync` says about them.
pub struct Link {
    /// `None`: a derived peer not known yet.
    pub peer: Option<IpAddr>,
    pub sender: Sender,
    pub receiver: Receiver,
    /// When the current full-table request went out (cleared once in sync).
    pub resync_since: Option<Instant>,
    pub last_datagram: Option<SystemTime>,
}

impl Link {
    /// A link with this process's boot id `node`; `seed` seeds the receiver's request ids.
    pub fn new(
        peer: Option<IpAddr>,
        node: u32,
        keyed: bool,
        limits: SessionLimits,
        seed: u64,
        now: Instant,
    ) -> Link {
        Link {
            peer,
            sender: Sender::new(SenderConfig::new(node, keyed), now),
            receiver: Receiver::new(
                ReceiverConfig {
                    node,
                    with_mac: keyed,
                    replay_window: keyed.then_some(REPLAY_WINDOW),
                    limits,
                    seed,
                },
                now,
            ),
            resync_since: None,
            last_datagram: None,
        }
    }

    pub fn in_sync(&self) -> bool {
        self.receiver.resync() == Resync::InSync
    }
}
