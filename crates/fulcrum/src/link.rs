//! The link watcher: which interfaces exist, under which kernel index, and whether each can
//! carry traffic, followed through rtnetlink ([`fulcrum_sys::netlink::link`]) as the kernel
//! announces changes.
//!
//! Contract: [`spawn`] starts one thread and returns a `watch` receiver of [`Links`]: `None`
//! until the first dump arrived (or when netlink cannot be opened: the consumers then behave as
//! without a watcher and use whatever index an interface has when they open it), then the
//! whole table after every change. Consumers (the DSR plane, VRRP) restart their sockets when
//! their interface's index changes and stop using it while it is down. Lost notifications
//! (`ENOBUFS`) are repaired with a fresh dump. [`Handle::stop`] ends the thread.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fulcrum_sys::netlink::link::{dump, LinkEvent, LinkMonitor, Received};
use tokio::sync::watch;

/// One interface as the consumers need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkState {
    pub index: u32,
    /// Administratively up and with a carrier.
    pub up: bool,
}

/// Every interface by name; `None` while unknown.
pub type Links = Option<Arc<HashMap<String, LinkState>>>;

/// What the watcher knows of one interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// No watcher (yet): use the interface as it is.
    Unwatched,
    /// The interface does not exist.
    Missing,
    Present(LinkState),
}

impl Seen {
    /// Whether a socket should run on it now, and on which index (`None`: whatever it has).
    pub fn usable(self) -> Option<Option<u32>> {
        match self {
            Seen::Unwatched => Some(None),
            Seen::Present(LinkState { index, up: true }) => Some(Some(index)),
            Seen::Missing | Seen::Present(_) => None,
        }
    }
}

/// What `links` says of `interface`.
pub fn lookup(links: &Links, interface: &str) -> Seen {
    match links {
        None => Seen::Unwatched,
        Some(table) => table
            .get(interface)
            .copied()
            .map_or(Seen::Missing, Seen::Present),
    }
}

/// The running watcher.
pub struct Handle {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Handle {
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// How long one receive waits before the stop flag is looked at again.
const TICK: Duration = Duration::from_millis(200);

/// Starts the watcher thread.
pub fn spawn() -> (Handle, watch::Receiver<Links>) {
    let (sender, receiver) = watch::channel(None);
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::Builder::new()
        .name("fulcrum-links".into())
        .spawn(move || watch_links(&sender, &flag))
        .map_err(|e| tracing::error!("links: cannot start the watcher thread: {e}"))
        .ok();
    (Handle { stop, thread }, receiver)
}

/// By index, so a renamed interface replaces its old name.
type Table = HashMap<u32, (String, bool)>;

fn watch_links(sender: &watch::Sender<Links>, stop: &AtomicBool) {
    // Subscribed before the dump, so no change between the two is lost (events queued before
    // the dump are replayed after it and end at the state the last one announced).
    let mut monitor = match LinkMonitor::open() {
        Ok(monitor) => monitor,
        Err(e) => {
            tracing::error!("links: not watching interfaces (link changes need a restart): {e}");
            return;
        }
    };
    let mut table = Table::new();
    let mut need_dump = true;
    let mut dump_failing = false;
    while !stop.load(Ordering::Acquire) {
        if need_dump {
            match dump() {
                Ok(links) => {
                    table = links
                        .into_iter()
                        .map(|l| (l.index, (l.name, l.up)))
                        .collect();
                    need_dump = false;
                    dump_failing = false;
                    publish(sender, &table);
                }
                Err(e) => {
                    if !dump_failing {
                        tracing::warn!("links: cannot list the interfaces, retrying: {e}");
                        dump_failing = true;
                    }
                    std::thread::sleep(TICK);
                    continue;
                }
            }
        }
        match monitor.recv(TICK) {
            Ok(Received::Events(events)) => {
                if !events.is_empty() {
                    for event in events {
                        apply(&mut table, event);
                    }
                    publish(sender, &table);
                }
            }
            Ok(Received::Overrun) => {
                tracing::warn!("links: notifications lost; listing the interfaces again");
                need_dump = true;
            }
            Err(e) => {
                tracing::warn!("links: receive: {e}");
                std::thread::sleep(TICK);
            }
        }
    }
}

fn apply(table: &mut Table, event: LinkEvent) {
    match event {
        LinkEvent::New(link) => {
            table.insert(link.index, (link.name, link.up));
        }
        LinkEvent::Deleted { index } => {
            table.remove(&index);
        }
    }
}

/// Publishes the table by name, logging each interface whose state changed.
fn publish(sender: &watch::Sender<Links>, table: &Table) {
    let by_name: HashMap<String, LinkState> = table
        .iter()
        .map(|(&index, (name, up))| (name.clone(), LinkState { index, up: *up }))
        .collect();
    sender.send_if_modified(|current| {
        let old = current.as_deref();
        if old == Some(&by_name) {
            return false;
        }
        if let Some(old) = old {
            log_changes(old, &by_name);
        }
        *current = Some(Arc::new(by_name.clone()));
        true
    });
}

fn log_changes(old: &HashMap<String, LinkState>, new: &HashMap<String, LinkState>) {
    for (name, state) in new {
        match old.get(name) {
            Some(before) if before == state => {}
            Some(before) if before.index != state.index => tracing::info!(
                "links: {name} re-created (index {} -> {}), {}",
                before.index,
                state.index,
                if state.up { "up" } else { "down" }
            ),
            _ => tracing::info!(
                "links: {name} (index {}) {}",
                state.index,
                if state.up { "up" } else { "down" }
            ),
        }
    }
    for name in old.keys().filter(|name| !new.contains_key(*name)) {
        tracing::info!("links: {name} deleted");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fulcrum_sys::netlink::link::Link;

    #[test]
    fn events_rename_replace_and_delete_by_index() {
        let mut table = Table::new();
        let new = |index, name: &str, up| {
            LinkEvent::New(Link {
                index,
                name: name.into(),
                up,
            })
        };
        apply(&mut table, new(3, "eth1", true));
        apply(&mut table, new(3, "eth9", false));
        assert_eq!(table.get(&3), Some(&("eth9".to_string(), false)));
        apply(&mut table, LinkEvent::Deleted { index: 3 });
        apply(&mut table, new(4, "eth1", true));
        let (sender, receiver) = watch::channel(None);
        publish(&sender, &table);
        let links = receiver.borrow().clone();
        let eth1 = lookup(&links, "eth1");
        assert_eq!(eth1, Seen::Present(LinkState { index: 4, up: true }));
        assert_eq!(eth1.usable(), Some(Some(4)));
        assert_eq!(lookup(&links, "eth9"), Seen::Missing);
        assert_eq!(lookup(&links, "eth9").usable(), None);
        assert_eq!(lookup(&None, "eth1").usable(), Some(None));
    }
}
