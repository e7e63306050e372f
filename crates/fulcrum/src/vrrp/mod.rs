//! The VRRP driver: runs the pure [`fulcrum_core::vrrp::Machine`] of the configuration's
//! `vrrp { ... }` block against real time and a real link, as two instances of the same VRID:
//! one over IPv4 and, when the block's network has a `virt6` or an active server has an IPv6
//! address, one over IPv6 (RFC 5798, always version 3, from the interface's link-local
//! address), each in its own thread. One generic driver serves both; [`instance`] says what
//! differs between the families.
//!
//! Contract: [`spawn`] starts both threads; each follows the configuration and idles while it
//! has nothing to run. With a runnable setup ([`setup::Setup`]) an instance opens a raw IP
//! socket for protocol 112 on the network's interface ([`socket`], [`socket6`]) and runs the
//! group ([`runner`]): it feeds the machine every received packet that passes
//! [`fulcrum_core::vrrp::Group::check`] (the rest are counted by drop reason), calls its timeout
//! on time, and carries out its outputs in order: adverts with TTL (hop limit) 255 to 224.0.0.18
//! from the network's `real` address (in DSR mode as whole Ethernet frames from the virtual
//! router MAC, RFC 3768 7.3, so the switch learns with every advert where the VIP's MAC lives)
//! or to ff02::12 from the link-local address, taking and releasing the VIPs ([`vip`]: the DSR
//! plane's active switch of the family, or a kernel address in proxy mode), one log line per
//! transition with its reason (IPv6 ones end in ` (IPv6)`), and `notify` ([`notify`], never
//! waited for). A configuration change that keeps the group (only the priority or the virtual
//! address list differs) goes to the running machine, group and VIP holder; any other change
//! stops the group cleanly and starts the new one. With unicast peers (IPv4) adverts go to each
//! peer instead of 224.0.0.18 and only theirs are taken; paced notices about new, refused or
//! mismatching senders are logged as warnings. The driver follows the link watcher
//! ([`crate::link`], see [`fault`]): while the interface is down or missing the machine is in
//! FAULT (no adverts, no VIP) and the socket is closed; when it is back, possibly re-created
//! under a new index, the socket is opened again and the machine rejoins as on startup.
//! [`Handle::stop`] (the daemon's SIGTERM path) sends the Shutdown event, so a master sends its
//! priority-0 advert and releases the VIP before the threads end. After every step an instance
//! publishes a typed [`Status`] (state, master, whether it holds the VIPs, and the counters
//! `show vrrp` prints) on the watch channel it is given ([`Publisher`]); `None` while it does
//! not run. The sync driver, `show vrrp` ([`show`]) and the service status subscribe to those
//! channels; nothing parses the text.

mod fault;
mod instance;
mod notify;
mod runner;
mod setup;
mod show;
mod show_json;
mod socket;
mod socket6;
mod vip;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fulcrum_core::model::Config;
use tokio::sync::watch;

use crate::link::Links;
use crate::plane::data_plane::VipSwitch;
use crate::plane::slot::PlaneView;

pub use show::{show, Status};
pub use show_json::document;

use instance::Instance;
use runner::Runner;
use setup::Setup;
use socket::VrrpSocket;

/// The longest the driver sleeps before looking at the stop flag and the configuration.
const POLL_CAP: Duration = Duration::from_millis(20);
/// Between attempts to open the socket (interface missing, no privilege).
const RETRY: Duration = Duration::from_secs(1);

/// Where the driver publishes its [`Status`] (`None`: no group runs).
pub type Publisher = watch::Sender<Option<Status>>;
/// What other drivers, the control socket and the service status follow.
pub type Subscriber = watch::Receiver<Option<Status>>;

/// The running driver.
pub struct Handle {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The IPv6 instance of the same block.
    thread6: Option<std::thread::JoinHandle<()>>,
}

/// Starts the driver thread; it idles while the configuration has no `vrrp` block, and
/// publishes its status on `publisher` (the IPv6 instance's on `publisher6`). `vip_switch`: the plane that answers for the VIPs in
/// DSR mode (see [`vip`]).
pub fn spawn(
    changes: watch::Receiver<Arc<Config>>,
    links: watch::Receiver<Links>,
    vip_switch: PlaneView<dyn VipSwitch>,
    publisher: Publisher,
    publisher6: Publisher,
) -> Handle {
    let stop = Arc::new(AtomicBool::new(false));
    let thread6 = spawn_instance::<Ipv6Addr>(
        changes.clone(),
        links.clone(),
        vip_switch.clone(),
        publisher6,
        stop.clone(),
    );
    let thread = spawn_instance::<Ipv4Addr>(changes, links, vip_switch, publisher, stop.clone());
    Handle {
        stop,
        thread,
        thread6,
    }
}

/// Starts one family's thread; it ends when `stop` is set.
fn spawn_instance<A: Instance>(
    changes: watch::Receiver<Arc<Config>>,
    links: watch::Receiver<Links>,
    vip_switch: PlaneView<dyn VipSwitch>,
    publisher: Publisher,
    stop: Arc<AtomicBool>,
) -> Option<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(A::NAME.into())
        .spawn(move || follow::<A>(changes, links, &vip_switch, &publisher, &stop))
        .map_err(|e| tracing::error!("{}: cannot start the driver thread: {e}", A::NAME))
        .ok()
}

impl Handle {
    /// Shuts the group down (priority-0 advert and VIP release if master) and waits for it.
    pub async fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        for thread in [self.thread.take(), self.thread6.take()]
            .into_iter()
            .flatten()
        {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

/// What ended one run of a group.
enum End {
    Stop,
    Reconfigure,
}

fn follow<A: Instance>(
    mut changes: watch::Receiver<Arc<Config>>,
    mut links: watch::Receiver<Links>,
    vip_switch: &PlaneView<dyn VipSwitch>,
    publisher: &Publisher,
    stop: &AtomicBool,
) {
    let mut last_problem: Option<String> = None;
    let mut report = |problem: String| {
        if last_problem.as_ref() != Some(&problem) {
            tracing::error!("{}: {problem}", A::NAME);
            last_problem = Some(problem);
        }
    };
    while !stop.load(Ordering::Acquire) {
        let config = changes.borrow_and_update().clone();
        let setup = match Setup::<A>::from_config(&config) {
            Ok(Some(setup)) => setup,
            Ok(None) => {
                publisher.send_replace(None);
                idle(&mut changes, stop);
                continue;
            }
            Err(problem) => {
                report(format!("not running: {problem}"));
                publisher.send_replace(None);
                idle(&mut changes, stop);
                continue;
            }
        };
        let socket = match A::Socket::open(&setup.interface) {
            Ok(socket) => socket,
            Err(e) => {
                report(format!(
                    "cannot open the socket, retrying every second: {e}"
                ));
                let until = Instant::now() + RETRY;
                while Instant::now() < until && !stop.load(Ordering::Acquire) {
                    std::thread::sleep(POLL_CAP);
                }
                continue;
            }
        };
        let runner = Runner::new(setup, socket, vip_switch.clone(), publisher.clone());
        match runner.run(&mut changes, &mut links, stop) {
            End::Stop => break,
            End::Reconfigure => continue,
        }
    }
}

/// Sleeps until the configuration changes or the driver is stopped.
fn idle(changes: &mut watch::Receiver<Arc<Config>>, stop: &AtomicBool) {
    while !stop.load(Ordering::Acquire) {
        if changes.has_changed().unwrap_or(false) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
