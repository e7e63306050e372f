//! The session-sync driver: sends this node's session changes to its peer and applies the
//! peer's, over UDP port 10439 (format in `docs/sync.md`, logic in [`fulcrum_core::sync`]).
//!
//! Contract: [`spawn`] starts one thread that follows the configuration. It runs when a network
//! has a `syncpeer` or there is a `vrrp` block ([`setup::Setup`]), sending from and receiving
//! at the network's `real` address through the [`transport`] chosen for it: a kernel UDP socket
//! where the kernel holds `real`, else frames on the DSR interface. The role comes from the VRRP driver: a master sends its sessions and answers
//! full-table requests, a backup applies what the master sends (to the DSR plane's table for
//! servers with DSR targets, else the proxy's) and asks for the full table when it starts, when
//! it becomes backup, and on a gap or a master restart; with no `vrrp` block the node is a
//! *peer* that does both, so two `syncpeer`s pointing at each other keep each other's sessions.
//! Whether a backup forwards traffic is the data planes' active switch, which VRRP drives; sync
//! never forwards. With `set synckey` every datagram carries an HMAC-SHA256 and every other one
//! is dropped and counted; `show sync` ([`show`], and [`document`] for its JSON form) renders
//! the last [`Published`] status (the
//! driver publishes it on the watch channel it is given, [`Publisher`]), or, while no driver
//! runs, the reason (nothing to sync, a configuration that cannot run, a
//! transport that cannot open yet, with the error).
//! Session events reach the driver through the daemon's [`tap::SyncTap`], which the data planes'
//! session tables report to and the driver drains, reads and writes.

mod auth;
mod driver;
mod link;
mod setup;
mod show;
mod show_json;

mod transport;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use fulcrum_core::model::Config;
use tokio::sync::watch;

use crate::dsr::Dsr;
use crate::plane::slot::PlaneView;
use crate::plane::tap;

use driver::Driver;
use setup::Setup;
pub use show::joined_text;

/// How often `show sync`'s status is refreshed.
const PUBLISH_EVERY: Duration = Duration::from_millis(100);
/// Between attempts to open the transport (address or DSR plane not there yet).
const RETRY: Duration = Duration::from_secs(1);
/// Why sync is off when the configuration asks for none.
const NOTHING_TO_SYNC: &str = "no `vrrp` block and no network with a `syncpeer`: nothing to sync";

/// What `show sync` renders: a running driver's status, or why none runs.
#[derive(Debug, Clone)]
pub enum Published {
    Off(String),
    Running(Box<show::Status>),
}

impl Published {
    /// Before the driver runs.
    pub fn not_started() -> Published {
        Published::Off("the sync driver has not started".to_string())
    }
}

/// Where the driver publishes its status (refreshed every [`PUBLISH_EVERY`]).
pub type Publisher = watch::Sender<Published>;
/// What `show sync` reads.
pub type Subscriber = watch::Receiver<Published>;

pub use show_json::document;

/// The reply to `show sync`.
pub fn show(status: &Published) -> String {
    match status {
        Published::Running(status) => show::render(status, SystemTime::now()),
        Published::Off(why) => show::render_off(why),
    }
}

/// The running driver.
pub struct Handle {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Starts the driver thread; it idles while there is nothing to sync. Follows the VRRP
/// driver's role and master through `vrrp`, publishes its status on `publisher`; `dsr`: the DSR
/// plane that carries sync where the kernel does not hold `real` ([`transport`]).
pub fn spawn(
    changes: watch::Receiver<Arc<Config>>,
    vrrp: crate::vrrp::Subscriber,
    publisher: Publisher,
    tap: Arc<tap::SyncTap>,
    dsr: PlaneView<Dsr>,
) -> Handle {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::Builder::new()
        .name("sync".into())
        .spawn(move || follow(changes, vrrp, &publisher, &tap, &dsr, &flag))
        .map_err(|e| tracing::error!("sync: cannot start the driver thread: {e}"))
        .ok();
    Handle { stop, thread }
}

impl Handle {
    pub async fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

fn follow(
    mut changes: watch::Receiver<Arc<Config>>,
    vrrp: crate::vrrp::Subscriber,
    publisher: &Publisher,
    tap: &Arc<tap::SyncTap>,
    dsr: &PlaneView<Dsr>,
    stop: &AtomicBool,
) {
    let publish = |status: Published| {
        publisher.send_replace(status);
    };
    let mut config = changes.borrow_and_update().clone();
    // Active-active nodes keep their health moves to themselves (`tap`'s module doc).
    tap.set_local_moves(config.announce.is_some());
    let mut driver: Option<Driver> = None;
    // Why no driver runs, as `show sync` says it; logged when it changes.
    let mut problem = String::new();
    let mut next_try = Instant::now();
    let mut published: Option<Instant> = None;
    while !stop.load(Ordering::Acquire) {
        if changes.has_changed().unwrap_or(false) {
            config = changes.borrow_and_update().clone();
            tap.set_local_moves(config.announce.is_some());
            if let Some(d) = driver.as_mut() {
                d.reconfigure(&config);
            }
        }
        let wanted = match Setup::from_config(&config) {
            Ok(setup) => setup,
            Err(why) => {
                if problem != why {
                    tracing::warn!("sync: not running: {why}");
                }
                problem = why;
                None
            }
        };
        if wanted.is_none() && problem.is_empty() {
            problem = NOTHING_TO_SYNC.to_string();
        }
        if driver.as_ref().map(|d| d.setup()) != wanted.as_ref() {
            if driver.take().is_some() {
                tap.set_enabled(false);
                tracing::info!("sync: stopped (the configuration changed)");
                problem = "stopped: the configuration changed".to_string();
            }
            if let Some(setup) = wanted.clone() {
                if Instant::now() >= next_try {
                    match transport::open(&setup, &config, dsr) {
                        Ok(transport) => {
                            driver = Some(Driver::open(
                                setup,
                                &config,
                                transport,
                                vrrp.clone(),
                                tap.clone(),
                            ));
                            published = None;
                            problem.clear();
                        }
                        Err(why) => {
                            let why = format!("{why} (retrying every second)");
                            if problem != why {
                                tracing::warn!("sync: {why}");
                            }
                            problem = why;
                            next_try = Instant::now() + RETRY;
                        }
                    }
                }
            }
        }
        match driver.as_mut() {
            Some(d) => {
                d.turn();
                if published.is_none_or(|at| at.elapsed() >= PUBLISH_EVERY) {
                    publish(Published::Running(Box::new(d.status())));
                    published = Some(Instant::now());
                }
            }
            None => {
                if wanted.is_none() && problem.starts_with("stopped") {
                    problem = NOTHING_TO_SYNC.to_string();
                }
                publish(Published::Off(problem.clone()));
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    if driver.is_some() {
        tap.set_enabled(false);
    }
    publish(Published::Off("the daemon is stopping".to_string()));
}
