//! What the drivers publish for the rest of the daemon: a `watch` channel per driver, made by
//! [`channels`] when the daemon is built. The driver holds the sending end ([`Outlets`], handed
//! over in [`super::drivers::start`]), the daemon the receiving ends ([`Published`]) that
//! `show vrrp`, the service status and other drivers (sync follows the VRRP role and master)
//! read. Its own file so that the daemon's state and its drivers both depend on it and not on
//! each other.

use tokio::sync::watch;

/// The sending ends of what the drivers publish (each driver gets its own).
#[derive(Clone)]
pub struct Outlets {
    pub vrrp: crate::vrrp::Publisher,
    /// The IPv6 instance of the same `vrrp` block.
    pub vrrp6: crate::vrrp::Publisher,
    pub sync: crate::sync::Publisher,
}

/// The receiving ends, for the control socket, the service status and other drivers.
#[derive(Clone)]
pub struct Published {
    /// The VRRP driver's typed status (`None`: no group runs).
    pub vrrp: crate::vrrp::Subscriber,
    /// The IPv6 instance's typed status (`None`: no IPv6 virtual address, or not running).
    /// Only `show vrrp` and the metrics read it: sync and the service status follow IPv4.
    pub vrrp6: crate::vrrp::Subscriber,
    /// The sync driver's status, or why it does not run.
    pub sync: crate::sync::Subscriber,
}

/// The channels between the drivers and the rest of the daemon, made once per daemon.
pub fn channels() -> (Outlets, Published) {
    let (vrrp, vrrp_status) = watch::channel(None);
    let (vrrp6, vrrp6_status) = watch::channel(None);
    let (sync, sync_status) = watch::channel(crate::sync::Published::not_started());
    (
        Outlets { vrrp, vrrp6, sync },
        Published {
            vrrp: vrrp_status,
            vrrp6: vrrp6_status,
            sync: sync_status,
        },
    )
}
