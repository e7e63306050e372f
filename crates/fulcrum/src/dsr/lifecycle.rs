//! Where the DSR plane's sockets live: on the configured interface while the link watcher
//! ([`crate::link`]) says it is up, bound to the index it has now. [`Inner::follow_interface`]
//! stops the threads when the interface goes down or away (sessions, resolved MACs and counters
//! stay in [`super::Shared`]) and starts them on a new set of sockets when it is up again, also
//! under a new index after it was deleted and created again (sockets bound to the old index
//! would hear nothing); the announcements of the VIPs (gratuitous ARP, unsolicited neighbour
//! advertisements) are due again on every start. Without a watcher the plane runs on whatever
//! index the interface has when it starts, as before.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{Control, Inner, StartMode};
use crate::link;

impl Inner {
    /// Stops or starts the threads so they run on `interface` exactly while it is usable;
    /// a failure to start is added to `problems`.
    pub(super) fn follow_interface(
        self: &Arc<Self>,
        control: &mut Control,
        interface: Option<String>,
        problems: &mut Vec<String>,
    ) {
        // Where the sockets should be: on the interface while it is up, on the index it has.
        let waiting = interface
            .clone()
            .filter(|name| link::lookup(&control.links, name).usable().is_none());
        if waiting != control.waiting_for {
            if let Some(name) = &waiting {
                tracing::warn!("dsr: {name} is down or missing: not forwarding until it is up");
            }
            control.waiting_for = waiting;
        }
        let wanted = interface.and_then(|name| {
            let index = link::lookup(&control.links, &name).usable()?;
            Some((name, index))
        });
        // `access xdp` and an `announce` block change how the plane starts: a change of
        // either starts it again.
        let mode = |name: &str| {
            control
                .plane
                .config
                .as_ref()
                .map_or(StartMode::default(), |config| StartMode {
                    xdp: super::xsk::wanted(config, name),
                    routed: config.announce.is_some(),
                })
        };
        let same = match (&control.running, &wanted) {
            (None, None) => true,
            (Some(running), Some((name, index))) => {
                running.interface == *name
                    && index.is_none_or(|i| i == running.ifindex)
                    && running.mode == mode(name)
            }
            _ => false,
        };
        if !same {
            if let Some(old) = control.running.take() {
                old.stop.store(true, Ordering::Relaxed);
                for handle in old.threads {
                    let _ = handle.join();
                }
                self.shared.path.set_sender(None);
                self.shared.sync.set_sender(None);
                tracing::info!("dsr: stopped on {} (index {})", old.interface, old.ifindex);
            }
            if let Some((interface, _)) = wanted {
                match self.start(&interface, mode(&interface)) {
                    Ok(running) => {
                        tracing::info!(
                            "dsr: forwarding on {interface} (index {}) with {} AF_PACKET worker(s){}",
                            running.ifindex,
                            self.options.workers,
                            match running.xsk_sockets {
                                0 => String::new(),
                                n => format!(" and {n} AF_XDP worker(s)"),
                            }
                        );
                        control.running = Some(running);
                        self.shared.announce.store(true, Ordering::Release);
                        self.shared.nd6.announce.store(true, Ordering::Release);
                    }
                    Err(e) => problems.push(format!("cannot run DSR on {interface}: {e}")),
                }
            }
        }
    }
}
