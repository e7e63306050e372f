//! The daemon's data planes: the proxy, which runs from start to stop, and the slot of the DSR
//! plane, which its driver fills when the configuration first asks for DSR and clears when it
//! stops it.
//!
//! Contract: [`Planes`] is owned by the [`super::Daemon`] and is the only way to reach a plane.
//! Drivers get what they need from it at spawn time ([`super::drivers`]): the DSR driver the
//! slot's writing side, the others a read-only view narrowed to the role they use (every plane
//! as a [`DataPlane`] for the health checks' verdicts, the DSR plane as VRRP's [`VipSwitch`],
//! the DSR plane itself for the `dsr-path` probe and session sync). The control dispatcher reads
//! sessions and counters through it: from the first running plane that has them, the DSR plane
//! before the proxy.

use std::sync::Arc;

use fulcrum_core::stats::Counters;

use crate::dsr::Dsr;
use crate::plane::data_plane::{DataPlane, VipSwitch};
use crate::plane::sessions::NewestSessions;
use crate::plane::slot::{PlaneSlot, PlaneView};
use crate::proxy::Proxy;

pub struct Planes {
    proxy: Arc<Proxy>,
    dsr: PlaneSlot<Dsr>,
}

impl Planes {
    /// The proxy plane, and an empty DSR slot.
    pub fn new(proxy: Arc<Proxy>) -> Planes {
        Planes {
            proxy,
            dsr: PlaneSlot::new(),
        }
    }

    pub fn proxy(&self) -> &Arc<Proxy> {
        &self.proxy
    }

    /// The DSR slot's writing side, for the DSR driver only.
    pub fn dsr_slot(&self) -> PlaneSlot<Dsr> {
        self.dsr.clone()
    }

    /// The DSR plane, while it runs.
    pub fn dsr(&self) -> PlaneView<Dsr> {
        self.dsr.view(|dsr| dsr)
    }

    /// The plane that answers for the VIPs itself (DSR), for VRRP.
    pub fn vip_switch(&self) -> PlaneView<dyn VipSwitch> {
        self.dsr.view(|dsr| dsr as Arc<dyn VipSwitch>)
    }

    /// Every plane, in the order verdicts reach them and reads ask them: the DSR plane swaps its
    /// table at once, while the proxy waits for its workers to take a new snapshot.
    pub fn data_planes(&self) -> Vec<PlaneView<dyn DataPlane>> {
        vec![
            self.dsr.view(|dsr| dsr as Arc<dyn DataPlane>),
            PlaneView::always(self.proxy.clone() as Arc<dyn DataPlane>),
        ]
    }

    fn running(&self) -> Vec<Arc<dyn DataPlane>> {
        self.data_planes()
            .iter()
            .filter_map(PlaneView::current)
            .collect()
    }

    /// `show sessions`: the first plane's that holds any, else the proxy's (its empty table).
    pub fn show_sessions(&self, limit: Option<usize>) -> String {
        self.newest_sessions(limit).render()
    }

    /// The sessions `show sessions` lists, in either format.
    pub fn newest_sessions(&self, limit: Option<usize>) -> NewestSessions {
        let running = self.running();
        match running.iter().find(|plane| plane.session_count() > 0) {
            Some(plane) => plane.newest_sessions(limit),
            None => self.proxy.newest_sessions(limit),
        }
    }

    /// Sessions of every plane (the service status line).
    pub fn session_count(&self) -> u64 {
        self.running()
            .iter()
            .map(|plane| plane.session_count())
            .sum()
    }

    /// A server's counters from the plane that balances it.
    pub fn server_counters(&self, server: u32) -> Counters {
        self.running()
            .iter()
            .find_map(|plane| plane.server_counters(server))
            .unwrap_or_default()
    }

    /// A target's counters from the plane that forwards to it.
    pub fn target_counters(&self, target: u32) -> Counters {
        self.running()
            .iter()
            .find_map(|plane| plane.target_counters(target))
            .unwrap_or_default()
    }

    /// Stops every plane still running (the DSR driver has stopped its own by then).
    pub fn shutdown(&self) {
        for plane in self.running() {
            plane.shutdown();
        }
    }

    /// The DSR plane runs and forwards on its interface (readiness).
    pub fn dsr_forwarding(&self) -> bool {
        self.dsr
            .current()
            .is_some_and(|dsr| dsr.interface().is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsr::DsrOptions;

    #[test]
    fn each_daemon_sees_only_the_dsr_plane_its_own_driver_filled_in() {
        let (one, two) = (
            Planes::new(Arc::new(Proxy::new())),
            Planes::new(Arc::new(Proxy::new())),
        );
        let verdicts = one.data_planes();
        let running = |views: &[PlaneView<dyn DataPlane>]| {
            views.iter().filter_map(PlaneView::current).count()
        };
        assert_eq!(running(&verdicts), 1, "the proxy only");
        let switch = one.vip_switch();
        assert!(switch.current().is_none());

        let dsr = Arc::new(Dsr::new(
            DsrOptions { workers: 1 },
            &crate::plane::tap::SyncTap::new(),
        ));
        one.dsr_slot().fill(dsr.clone());
        assert_eq!(
            running(&verdicts),
            2,
            "a view taken before the plane started sees it"
        );
        assert_eq!(running(&two.data_planes()), 1, "another daemon does not");
        assert!(two.dsr().current().is_none());
        if let Some(plane) = switch.current() {
            plane.set_active(false);
        }
        assert!(
            !dsr.is_active(),
            "VRRP's switch reaches the plane in the slot"
        );

        one.dsr_slot().clear();
        assert_eq!(running(&verdicts), 1);
        assert!(one.dsr().current().is_none() && !one.dsr_forwarding());
        one.shutdown();
        two.shutdown();
    }
}
