//! Announcing the VIPs to a local routing daemon (active-active nodes behind ECMP routers).
//!
//! Contract: [`spawn`] starts a task that follows the configuration ([`Daemon::subscribe`]) and,
//! every [`POLL`], the health checks' verdicts and whether the DSR plane forwards; it asks the
//! pure [`fulcrum_core::announce::decide`] which VIPs the node can serve (none while a node with
//! `syncpeer`s has not joined: the sync driver's [`Joined`](fulcrum_core::sync::Joined); announcing one only
//! after it stayed servable for [`SETTLE`], so that every data plane has taken the health
//! verdict before routers send traffic, and once its targets' checks have first results,
//! [`Settle`]) and makes the kernel
//! agree: while the configuration has an `announce` block it owns a non-persistent TUN interface
//! of the block's name ([`fulcrum_sys::tun::Tun`]) and holds each announced VIP on it as a /32
//! (/128) address, deleting the address of a VIP it withdraws. The local BIRD's `direct`
//! protocol, restricted to that interface, exports exactly those addresses to the routers
//! (`packaging/bird/node.conf`). The interface lives as long as the task: aborting the task
//! (clean shutdown, or an `announce` block removed) closes it, and when the process dies —
//! `SIGKILL` or a crash included — the kernel deletes the interface, so every route is withdrawn
//! without Fulcrum's help. The netlink calls are local and bounded (one second at worst), so they
//! run on the task itself. [`show`] is `show announce`, from the same decision, and
//! [`document()`] its JSON form.
//!
//! [`Daemon::subscribe`]: crate::daemon::state::Daemon::subscribe

mod document;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use fulcrum_core::announce::{decide, hold_for_sync, Decision, Settle, Withheld};
use fulcrum_core::model::Config;
use fulcrum_sys::tun::Tun;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::dsr::Dsr;
use crate::health::Health;
use crate::plane::slot::PlaneView;

/// How often health verdicts and the DSR plane are looked at: a target going down withdraws
/// its server's VIP within this after the health checks decide.
const POLL: Duration = Duration::from_millis(100);

/// How long a VIP must stay servable before it is announced; withdrawal is immediate. The
/// proxy takes a verdict within a worker tick; the rest damps a target that flaps.
const SETTLE: Duration = Duration::from_secs(1);

/// What the driver reads besides the configuration, handed over by the daemon.
#[derive(Clone)]
pub struct AnnounceInputs {
    pub health: Health,
    /// The DSR plane: a server with DSR targets is served only while it forwards.
    pub dsr: PlaneView<Dsr>,
    /// The sync driver's status: a node with `syncpeer`s and no `vrrp` block announces only
    /// once it has joined (the peers' session table arrived, or none answered).
    pub sync: crate::sync::Subscriber,
}

impl AnnounceInputs {
    /// The decisions for `config` now.
    pub fn decide(&self, config: &Config) -> Vec<Decision> {
        // The DSR plane forwards, and takes the frames routers send to this node's own MAC.
        let dsr = match self.dsr.current() {
            Some(dsr) if dsr.interface().is_some() => {
                if dsr.takes_routed_frames() {
                    Ok(())
                } else {
                    Err(Withheld::NoRoutedFrames)
                }
            }
            _ => Err(Withheld::PlaneStopped),
        };
        let mut decisions = decide(
            config,
            |target| self.health.is_operational(target),
            |server| {
                if serves_by_dsr(config, server) {
                    dsr
                } else {
                    Ok(())
                }
            },
        );
        hold_for_sync(self.joined(config).is_ok(), &mut decisions);
        decisions
    }

    /// Whether a check of one of `server`'s enabled targets still waits for its first result.
    pub fn first_checks_pending(&self, config: &Config, server: u32) -> bool {
        let Some(server) = config.servers.get(&server) else {
            return false;
        };
        (server.targets.iter())
            .filter_map(|t| config.targets.get(t))
            .filter(|t| t.registered && t.enabled)
            .any(|t| {
                (self.health.checks(t.id).iter())
                    .any(|check| check.state == fulcrum_core::health::CheckState::Pending)
            })
    }

    /// `Ok`: nothing to wait for, or joined (how); `Err`: why the node waits (`show announce`).
    pub fn joined(&self, config: &Config) -> Result<String, String> {
        if !waits_for_sync(config) {
            return Ok("no syncpeer to wait for".to_string());
        }
        match &*self.sync.borrow() {
            crate::sync::Published::Running(status) if status.joined.ready() => {
                Ok(crate::sync::joined_text(status.joined))
            }
            crate::sync::Published::Running(status) => Err(crate::sync::joined_text(status.joined)),
            crate::sync::Published::Off(why) => Err(format!("sync not running: {why}")),
        }
    }
}

/// Whether a node with `config` waits for a sync peer's session table before it announces:
/// it has `syncpeer`s and no `vrrp` block (where VRRP decides who serves).
pub fn waits_for_sync(config: &Config) -> bool {
    config.vrrp.is_none()
        && config
            .networks
            .values()
            .any(|n| n.registered && n.enabled && !n.syncpeers.is_empty())
}

/// Whether `server` is balanced by the DSR plane (one of its targets has `dsr enable`); the
/// proxy, which serves the others, runs from the daemon's start to its stop.
fn serves_by_dsr(config: &Config, server: u32) -> bool {
    config.servers.get(&server).is_some_and(|s| {
        s.targets
            .iter()
            .filter_map(|t| config.targets.get(t))
            .any(|t| t.dsr)
    })
}

/// Starts the driver; it idles while the configuration has no `announce` block.
pub fn spawn(changes: watch::Receiver<Arc<Config>>, inputs: AnnounceInputs) -> JoinHandle<()> {
    tokio::spawn(run(changes, inputs))
}

/// The interface and the addresses the driver holds on it.
struct Held {
    tun: Tun,
    /// Address -> the server it announces.
    addresses: BTreeMap<IpAddr, (u8, u32)>,
}

async fn run(mut changes: watch::Receiver<Arc<Config>>, inputs: AnnounceInputs) {
    let mut held: Option<Held> = None;
    let mut settle = Settle::new(SETTLE);
    let mut last_error = String::new();
    loop {
        let config = changes.borrow_and_update().clone();
        match &config.announce {
            None => {
                if held.take().is_some() {
                    tracing::info!("announce: block removed; every VIP withdrawn");
                }
            }
            Some(announce) => {
                if held
                    .as_ref()
                    .is_some_and(|h| h.tun.name() != announce.interface)
                {
                    held = None;
                }
                if held.is_none() {
                    match Tun::create(&announce.interface) {
                        Ok(tun) => {
                            tracing::info!("announce: interface {} created", tun.name());
                            last_error.clear();
                            held = Some(Held {
                                tun,
                                addresses: BTreeMap::new(),
                            });
                        }
                        Err(e) => {
                            let error =
                                format!("cannot create interface {}: {e}", announce.interface);
                            if error != last_error {
                                tracing::error!("announce: {error}; nothing is announced");
                                last_error = error;
                            }
                        }
                    }
                }
                if let Some(held) = &mut held {
                    let mut decisions = inputs.decide(&config);
                    settle.apply(std::time::Instant::now(), &mut decisions, |server| {
                        inputs.first_checks_pending(&config, server)
                    });
                    reconcile(held, &decisions);
                }
            }
        }
        // Without an announce block there is nothing to poll: only a new configuration matters.
        let polling = config.announce.is_some();
        tokio::select! {
            _ = tokio::time::sleep(POLL), if polling => {}
            changed = changes.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

/// Adds the addresses of the VIPs to announce and deletes those of the others.
fn reconcile(held: &mut Held, decisions: &[Decision]) {
    let wanted: BTreeMap<IpAddr, (u8, u32)> = decisions
        .iter()
        .filter_map(|d| d.address().map(|(vip, prefix)| (vip, (prefix, d.server))))
        .collect();
    let name = held.tun.name().to_string();
    held.addresses.retain(|vip, (prefix, server)| {
        if wanted.contains_key(vip) {
            return true;
        }
        let why = decisions
            .iter()
            .find(|d| d.server == *server)
            .and_then(|d| d.verdict.err())
            .map_or_else(|| "no longer announced".to_string(), |w| w.to_string());
        match fulcrum_sys::netlink::addr_del(&name, *vip, *prefix) {
            Ok(_) => {
                tracing::info!("announce: server {server} {vip} withdrawn ({why})");
                false
            }
            Err(e) => {
                tracing::warn!("announce: cannot delete {vip} from {name}: {e}");
                true
            }
        }
    });
    for (vip, (prefix, server)) in wanted {
        if held.addresses.contains_key(&vip) {
            continue;
        }
        match fulcrum_sys::netlink::addr_add(&name, vip, prefix) {
            Ok(_) => {
                tracing::info!("announce: server {server} {vip} announced on {name}");
                held.addresses.insert(vip, (prefix, server));
            }
            Err(e) => tracing::warn!("announce: cannot add {vip} to {name}: {e}"),
        }
    }
}

/// `show announce`: the interface, then each server's verdict and reason, checked against the
/// addresses the interface holds now.
pub fn show(config: &Config, inputs: &AnnounceInputs) -> String {
    let Some(announce) = &config.announce else {
        return fulcrum_core::announce::show(config, &[], |_| false);
    };
    let held = addresses_on(&announce.interface);
    let mut text =
        fulcrum_core::announce::show(config, &inputs.decide(config), |vip| held.contains(&vip));
    match inputs.joined(config) {
        Ok(how) => text.push_str(&format!("sync joined: {how}\n")),
        Err(why) => text.push_str(&format!("sync not joined, every VIP withheld: {why}\n")),
    }
    if held.is_empty()
        && !std::path::Path::new("/sys/class/net")
            .join(&announce.interface)
            .exists()
    {
        text.push_str(&format!(
            "interface {} is missing: nothing is announced (see the log)\n",
            announce.interface
        ));
    }
    text
}

/// `show announce` in the JSON format, from the same decision and addresses as [`show`].
pub fn document(config: &Config, inputs: &AnnounceInputs) -> fulcrum_control::show::AnnounceDoc {
    let Some(announce) = &config.announce else {
        return document::document(config, &[], |_| false, false);
    };
    let held = addresses_on(&announce.interface);
    let present = std::path::Path::new("/sys/class/net")
        .join(&announce.interface)
        .exists();
    document::document(
        config,
        &inputs.decide(config),
        |vip| held.contains(&vip),
        present,
    )
}

/// The addresses on `interface` now (none when it is missing or cannot be read).
fn addresses_on(interface: &str) -> Vec<IpAddr> {
    let Ok(all) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    all.filter(|a| a.interface_name == interface)
        .filter_map(|a| {
            let address = a.address?;
            if let Some(v4) = address.as_sockaddr_in() {
                Some(IpAddr::V4(v4.ip()))
            } else {
                address.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
            }
        })
        .collect()
}
