//! What both data planes (the socket proxy and DSR) share: the sharded session table
//! ([`sessions`]) and the per-writer traffic counters ([`counters`]), and what the daemon sees
//! of any data plane: the [`data_plane::DataPlane`] trait (with VRRP's switch and the health
//! checks' seeding) and the [`slot`] through which a plane that starts late is found.
//!
//! Contract: one implementation for both planes, each plane owning its own instances; a session
//! table is created for a named [`Plane`](crate::sync::tap::Plane) and registers itself with the
//! daemon's sync tap ([`SyncTap`](crate::sync::tap::SyncTap), handed to the plane when it is
//! built) under that name, so that received sessions go into the table of the plane serving their
//! server. Nothing here knows a plane's packets, sockets or snapshots: those stay in `proxy` and
//! `dsr`, which import this module and never each other for it.

pub mod counters;
pub mod data_plane;
pub mod sessions;
pub mod slot;
