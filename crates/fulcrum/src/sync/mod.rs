//! The session-sync driver: sends this node's session changes to its peer and applies the
//! peer's, over UDP port 10439 (format in `docs/sync.md`, logic in [`fulcrum_core::sync`]).
//!
//! Contract: [`spawn`] starts one thread that follows the configuration. It runs when a network
//! has a `syncpeer` or there is a `vrrp` block ([`setup::Setup`]), binding the network's `real`
//! address. The role comes from the VRRP driver: a master sends its sessions and answers
//! full-table requests, a backup applies what the master sends (to the DSR plane's table for
//! servers with DSR targets, else the proxy's) and asks for the full table when it starts, when
//! it becomes backup, and on a gap or a master restart; with no `vrrp` block the node is a
//! *peer* that does both, so two `syncpeer`s pointing at each other keep each other's sessions.
//! Whether a backup forwards traffic is the data planes' active switch, which VRRP drives; sync
//! never forwards. With `set synckey` every datagram carries an HMAC-SHA256 and every other one
//! is dropped and counted; `show sync` ([`show`]) renders the last published [`show::Status`].
//! Session events reach the driver through [`tap`], which the data planes call.

mod auth;
mod driver;
mod setup;
mod show;
pub mod tap;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use fulcrum_core::model::Config;
use tokio::sync::watch;

use driver::Driver;
use setup::Setup;

/// How often `show sync`'s status is refreshed.
const PUBLISH_EVERY: Duration = Duration::from_millis(100);
/// Between attempts to bind the socket (address not there yet).
const RETRY: Duration = Duration::from_secs(1);

static STATUS: Mutex<Option<show::Status>> = Mutex::new(None);

fn publish(status: Option<show::Status>) {
    *STATUS.lock().unwrap_or_else(PoisonError::into_inner) = status;
}

/// The reply to `show sync`.
pub fn show() -> String {
    let status = STATUS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    match status {
        Some(status) => show::render(&status, SystemTime::now()),
        None => "sync not running (no syncpeer and no vrrp block, or see the log)\n".to_string(),
    }
}

/// The running driver.
pub struct Handle {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Starts the driver thread; it idles while there is nothing to sync.
pub fn spawn(changes: watch::Receiver<Arc<Config>>) -> Handle {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::Builder::new()
        .name("sync".into())
        .spawn(move || follow(changes, &flag))
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

fn follow(mut changes: watch::Receiver<Arc<Config>>, stop: &AtomicBool) {
    let mut config = changes.borrow_and_update().clone();
    let mut driver: Option<Driver> = None;
    let mut problem: Option<String> = None;
    let mut next_try = Instant::now();
    let mut published: Option<Instant> = None;
    while !stop.load(Ordering::Acquire) {
        if changes.has_changed().unwrap_or(false) {
            config = changes.borrow_and_update().clone();
            if let Some(d) = driver.as_mut() {
                d.reconfigure(&config);
            }
        }
        let wanted = match Setup::from_config(&config) {
            Ok(setup) => setup,
            Err(why) => {
                if problem.as_ref() != Some(&why) {
                    tracing::warn!("sync: not running: {why}");
                    problem = Some(why);
                }
                None
            }
        };
        if driver.as_ref().map(|d| d.setup()) != wanted.as_ref() {
            if driver.take().is_some() {
                fulcrum_sync_off();
                tracing::info!("sync: stopped (the configuration changed)");
            }
            if let Some(setup) = wanted.clone() {
                if Instant::now() >= next_try {
                    match Driver::open(setup.clone(), &config) {
                        Ok(d) => {
                            driver = Some(d);
                            published = None;
                            problem = None;
                        }
                        Err(e) => {
                            let why = format!(
                                "cannot bind {}:{}: {e}",
                                setup.local,
                                fulcrum_core::sync::PORT
                            );
                            if problem.as_ref() != Some(&why) {
                                tracing::warn!("sync: {why}; retrying every second");
                                problem = Some(why);
                            }
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
                    publish(Some(d.status()));
                    published = Some(Instant::now());
                }
            }
            None => {
                publish(None);
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    if driver.is_some() {
        fulcrum_sync_off();
    }
    publish(None);
}

fn fulcrum_sync_off() {
    tap::set_enabled(false);
}
