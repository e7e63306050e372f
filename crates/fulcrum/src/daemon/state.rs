//! The daemon's shared state: the running configuration, the data planes ([`Planes`]), and the
//! one function every configuration change goes through.
//!
//! [`Daemon::update`] serializes changes (load, SIGHUP reload, live shell statements): it asks a
//! closure for the new, already validated [`Config`], swaps it in, hands it to the proxy plane,
//! and announces it on a `watch` channel (the DSR plane's driver follows that channel). Later drivers (health checks, VRRP, session sync) subscribe
//! to that channel with [`Daemon::subscribe`] and read the current configuration lock-free with
//! [`Daemon::config`]; none of them changes the configuration behind the dispatcher's back.
//! What the drivers publish (the VRRP status, the sync status) the daemon holds as the
//! receiving ends of their channels ([`Daemon::published`]), made with the daemon.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use fulcrum_config::Diagnostics;
use fulcrum_core::model::Config;
use tokio::sync::watch;

use super::planes::Planes;
use crate::health::Health;
use crate::plane::data_plane::DataPlane;
use crate::proxy::Proxy;

pub struct Daemon {
    config: ArcSwap<Config>,
    /// The file `fulcrum run -c` read; `save` writes it and SIGHUP rereads it.
    config_path: PathBuf,
    planes: Planes,
    /// The health checks' verdicts, for `show targets` (the driver in [`crate::health`] fills it).
    health: Health,
    changes: watch::Sender<Arc<Config>>,
    /// Held across read-modify-swap so two changes cannot both start from the same old config.
    update_lock: Mutex<()>,
    /// The drivers' sending ends, handed out when they start.
    outlets: super::published::Outlets,
    published: super::published::Published,
}

impl Daemon {
    /// Takes a validated configuration and hands it to the data plane. Returns the daemon and the
    /// data plane's warnings (already logged).
    pub fn start(config: Config, config_path: PathBuf, proxy: Arc<Proxy>) -> (Daemon, Vec<String>) {
        let config = Arc::new(config);
        let warnings = apply_to_proxy(&*proxy, &config);
        let (changes, _) = watch::channel(config.clone());
        let (outlets, published) = super::published::channels();
        let daemon = Daemon {
            outlets,
            published,
            config: ArcSwap::new(config),
            config_path,
            planes: Planes::new(proxy),
            health: Health::new(),
            changes,
            update_lock: Mutex::new(()),
        };
        (daemon, warnings)
    }

    /// The running configuration (a cheap snapshot).
    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    pub fn proxy(&self) -> &Proxy {
        self.planes.proxy()
    }

    /// The data planes (see [`Planes`]).
    pub fn planes(&self) -> &Planes {
        &self.planes
    }

    pub fn health(&self) -> &Health {
        &self.health
    }

    /// The sending ends for the drivers (see [`super::drivers::start`]).
    pub fn outlets(&self) -> super::published::Outlets {
        self.outlets.clone()
    }

    /// What the drivers last published (VRRP and sync status).
    pub fn published(&self) -> &super::published::Published {
        &self.published
    }

    /// A receiver that sees every configuration that becomes current (for drivers).
    pub fn subscribe(&self) -> watch::Receiver<Arc<Config>> {
        self.changes.subscribe()
    }

    /// The one way to change the running configuration. `change` builds the new configuration
    /// from the current one (validation included, as `fulcrum_config::apply` does); on error
    /// nothing changes. On success the new configuration is current, the data plane has it, and
    /// its warnings are returned (and logged).
    /// Runs `save` with no change applied meanwhile and no other save under way: two control
    /// sessions saving at once write one after the other, each a whole file.
    pub fn while_unchanged<T>(&self, save: impl FnOnce(&Config) -> T) -> T {
        let _guard = self
            .update_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        save(&self.config.load_full())
    }

    pub fn update(
        &self,
        change: impl FnOnce(&Config) -> Result<Config, Diagnostics>,
    ) -> Result<Vec<String>, Diagnostics> {
        let _guard = self
            .update_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let current = self.config.load_full();
        let next = Arc::new(change(&current)?);
        if *next == *current {
            return Ok(Vec::new());
        }
        self.config.store(next.clone());
        let warnings = apply_to_proxy(&**self.planes.proxy(), &next);
        self.changes.send_replace(next);
        Ok(warnings)
    }
}

fn apply_to_proxy(proxy: &dyn DataPlane, config: &Config) -> Vec<String> {
    let warnings = proxy.apply(config);
    for warning in &warnings {
        tracing::warn!("data plane: {warning}");
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn daemon() -> Daemon {
        Daemon::start(
            Config::default(),
            "test.conf".into(),
            Arc::new(Proxy::new()),
        )
        .0
    }

    #[test]
    fn update_swaps_and_announces() {
        let daemon = daemon();
        let mut changes = daemon.subscribe();
        daemon
            .update(|current| {
                let mut next = current.clone();
                next.hostname = Some("NS0A".into());
                Ok(next)
            })
            .unwrap();
        assert_eq!(daemon.config().hostname.as_deref(), Some("NS0A"));
        assert!(changes.has_changed().unwrap());
        assert_eq!(
            changes.borrow_and_update().hostname.as_deref(),
            Some("NS0A")
        );
    }

    #[test]
    fn concurrent_updates_are_serialized() {
        use fulcrum_core::model::Target;
        let daemon = Arc::new(daemon());
        let workers: Vec<_> = (0..4u32)
            .map(|worker| {
                let daemon = daemon.clone();
                std::thread::spawn(move || {
                    for n in 0..10u32 {
                        let id = worker * 100 + n;
                        daemon
                            .update(|current| {
                                let mut next = current.clone();
                                let address = std::net::Ipv4Addr::LOCALHOST.into();
                                next.targets.insert(id, Target::new(id, address));
                                Ok(next)
                            })
                            .unwrap();
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        // A lost read-modify-write would drop somebody's target.
        assert_eq!(daemon.config().targets.len(), 40);
    }

    #[test]
    fn failed_update_changes_nothing() {
        let daemon = daemon();
        let changes = daemon.subscribe();
        let before = daemon.config();
        let result = daemon.update(|_| Err(Diagnostics(Vec::new())));
        assert!(result.is_err());
        assert!(Arc::ptr_eq(&before, &daemon.config()));
        assert!(!changes.has_changed().unwrap());
    }
}
