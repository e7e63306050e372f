//! What both data planes (the socket proxy and DSR) share: the sharded session table
//! ([`sessions`], the store the core's stick-or-pick rule reads and writes), the per-writer
//! traffic counters ([`counters`]), the control path's state ([`control`]), the servers'
//! access lists and client rate limits ([`protect`]) and the rules for
//! turning a configured target into a chooser candidate ([`targets`]); and what the daemon sees
//! of any data plane: the [`data_plane::DataPlane`] trait (with VRRP's switch and the health
//! checks' seeding) and the [`slot`] through which a plane that starts late is found.
//!
//! Contract: one implementation for both planes, each plane owning its own instances; a session
//! table is created for a named [`Plane`](crate::plane::tap::Plane) and registers itself with the
//! daemon's sync tap ([`SyncTap`](crate::plane::tap::SyncTap), handed to the plane when it is
//! built) under that name, so that received sessions go into the table of the plane serving their
//! server. The pick state and the stick-or-pick rule are pure and live in
//! `fulcrum_core::balance` ([`Pick`], [`stick_or_pick`]). Nothing here knows a plane's packets,
//! sockets or snapshots: those stay in `proxy` and `dsr`, which import this module and never
//! each other for it.
//!
//! [`Pick`]: fulcrum_core::balance::Pick
//! [`stick_or_pick`]: fulcrum_core::balance::stick_or_pick

pub mod control;
pub mod counters;
pub mod data_plane;
pub mod protect;
pub mod sessions;
pub mod slot;
pub mod tap;
pub mod targets;

pub use targets::Transport;
