//! What bounds the TCP proxy's client connections, and what it counts about them.
//!
//! Contract: [`TcpLimits::from_settings`] turns the `set tcp*` values into the limits the
//! accept loop and the relays use: the total cap is the smaller of `set tcpmaxconn` and the
//! descriptor budget ([`crate::limits::tcp_budget`], two descriptors per connection), so at a
//! full cap the health probes, VRRP, sync and the control socket still have descriptors.
//! [`ClientTable::admit`] holds one count per client address and refuses one over the
//! per-client cap; the [`Admission`] it returns gives the place back when dropped, however the
//! connection ends. [`TcpCounters`] are the proxy-wide counts `show tcp` prints.

use std::collections::HashMap;
use std::fmt::Write;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use fulcrum_core::model::Settings;

/// The limits in force (from the current configuration and the descriptor budget).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpLimits {
    /// Open client connections at most: the smaller of the two below.
    pub max_connections: usize,
    /// `set tcpmaxconn`.
    pub configured_max: u64,
    /// What the descriptor limit allows.
    pub descriptor_budget: u64,
    /// `set tcpclientconn`.
    pub per_client: usize,
    /// `set tcpidle`: no query from the client for this long closes the connection.
    pub idle: Duration,
    /// `set tcpwrite`: a write blocked this long (a peer that does not read) closes it.
    pub write: Duration,
    /// `set tcplifetime`: no connection lasts longer.
    pub lifetime: Duration,
}

impl TcpLimits {
    pub fn from_settings(settings: &Settings, descriptor_budget: u64) -> TcpLimits {
        let max = settings.tcp_max_connections.min(descriptor_budget).max(1);
        TcpLimits {
            max_connections: usize::try_from(max).unwrap_or(usize::MAX),
            configured_max: settings.tcp_max_connections,
            descriptor_budget,
            per_client: usize::try_from(settings.tcp_client_connections).unwrap_or(usize::MAX),
            idle: Duration::from_secs(settings.tcp_idle.into()),
            write: Duration::from_secs(settings.tcp_write_timeout.into()),
            lifetime: Duration::from_secs(settings.tcp_lifetime.into()),
        }
    }
}

/// Proxy-wide TCP counters.
#[derive(Debug, Default)]
pub struct TcpCounters {
    pub accepted: AtomicU64,
    pub refused_cap: AtomicU64,
    pub refused_client_cap: AtomicU64,
    pub closed_idle: AtomicU64,
    pub closed_write_timeout: AtomicU64,
    pub closed_lifetime: AtomicU64,
}

pub fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Open connections per client address.
#[derive(Debug, Default)]
pub struct ClientTable {
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One admitted connection: its client's count goes down when this is dropped.
pub struct Admission {
    table: Arc<ClientTable>,
    client: IpAddr,
    total: Arc<AtomicUsize>,
}

impl ClientTable {
    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one more connection of `client`, unless it holds `per_client` already.
    pub fn admit(
        self: &Arc<Self>,
        client: IpAddr,
        per_client: usize,
        total: &Arc<AtomicUsize>,
    ) -> Option<Admission> {
        let mut open = self.lock();
        let count = open.entry(client).or_insert(0);
        if *count >= per_client {
            return None;
        }
        *count += 1;
        total.fetch_add(1, Ordering::Relaxed);
        Some(Admission {
            table: self.clone(),
            client,
            total: total.clone(),
        })
    }

    /// Open connections of `client`.
    #[cfg(test)]
    pub fn open_of(&self, client: IpAddr) -> usize {
        self.lock().get(&client).copied().unwrap_or(0)
    }

    /// Clients with at least one open connection.
    pub fn clients(&self) -> usize {
        self.lock().len()
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.total.fetch_sub(1, Ordering::Relaxed);
        let mut open = self.table.lock();
        if let Some(count) = open.get_mut(&self.client) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.client);
            }
        }
    }
}

/// `show tcp` as the typed document the JSON format answers; [`render`] prints the same.
pub fn document(
    limits: &TcpLimits,
    open: usize,
    clients: usize,
    counters: &TcpCounters,
    descriptors: crate::limits::Descriptors,
) -> fulcrum_control::show::TcpDoc {
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
    fulcrum_control::show::TcpDoc {
        open: open as u64,
        clients: clients as u64,
        cap: limits.max_connections as u64,
        tcpmaxconn: limits.configured_max,
        descriptor_budget: limits.descriptor_budget,
        per_client_cap: limits.per_client as u64,
        idle_timeout_s: limits.idle.as_secs(),
        write_timeout_s: limits.write.as_secs(),
        lifetime_s: limits.lifetime.as_secs(),
        descriptors_soft: descriptors.soft,
        descriptors_hard: descriptors.hard,
        descriptors_reserved: crate::limits::reserve(descriptors.soft),
        accepted: load(&counters.accepted),
        refused_cap: load(&counters.refused_cap),
        refused_client_cap: load(&counters.refused_client_cap),
        closed_idle: load(&counters.closed_idle),
        closed_write_timeout: load(&counters.closed_write_timeout),
        closed_lifetime: load(&counters.closed_lifetime),
    }
}

/// `show tcp` as text, from its document.
pub fn render(d: &fulcrum_control::show::TcpDoc) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "open {} from {} client(s)", d.open, d.clients);
    let _ = writeln!(
        out,
        "cap {} (tcpmaxconn {}, descriptors allow {})",
        d.cap, d.tcpmaxconn, d.descriptor_budget
    );
    let _ = writeln!(out, "per-client-cap {}", d.per_client_cap);
    let _ = writeln!(
        out,
        "timeouts idle {} s, write {} s, lifetime {} s",
        d.idle_timeout_s, d.write_timeout_s, d.lifetime_s
    );
    let _ = writeln!(
        out,
        "descriptors soft {} hard {} reserved {}",
        d.descriptors_soft, d.descriptors_hard, d.descriptors_reserved
    );
    let _ = writeln!(out, "accepted {}", d.accepted);
    let _ = writeln!(out, "refused-cap {}", d.refused_cap);
    let _ = writeln!(out, "refused-client-cap {}", d.refused_client_cap);
    let _ = writeln!(out, "closed-idle {}", d.closed_idle);
    let _ = writeln!(out, "closed-write-timeout {}", d.closed_write_timeout);
    let _ = writeln!(out, "closed-lifetime {}", d.closed_lifetime);
    out
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_is_the_smaller_of_the_setting_and_the_budget() {
        let mut settings = Settings::default();
        assert_eq!(
            TcpLimits::from_settings(&settings, 384).max_connections,
            384
        );
        assert_eq!(
            TcpLimits::from_settings(&settings, 10_000).max_connections,
            1000
        );
        settings.tcp_idle = 3;
        settings.tcp_client_connections = 2;
        let limits = TcpLimits::from_settings(&settings, 10_000);
        assert_eq!(limits.idle, Duration::from_secs(3));
        assert_eq!(limits.per_client, 2);
    }

    #[test]
    fn a_client_gets_its_cap_and_its_places_back_when_connections_end() {
        let table = Arc::new(ClientTable::default());
        let total = Arc::new(AtomicUsize::new(0));
        let a: IpAddr = "10.99.1.1".parse().unwrap();
        let b: IpAddr = "10.99.1.2".parse().unwrap();
        let first = table.admit(a, 2, &total).expect("first");
        let second = table.admit(a, 2, &total).expect("second");
        assert!(table.admit(a, 2, &total).is_none(), "third over the cap");
        let other = table.admit(b, 2, &total).expect("another client");
        assert_eq!(total.load(Ordering::Relaxed), 3);
        drop(first);
        assert_eq!(table.open_of(a), 1);
        let again = table.admit(a, 2, &total).expect("a place came free");
        drop((second, again, other));
        assert_eq!(total.load(Ordering::Relaxed), 0);
        assert_eq!(table.clients(), 0);
    }
}
