//! The `announce` block: lowering it onto the model and its whole-configuration checks.
//!
//! Contract: `announce { interface NAME  server N ... }` sets [`Announce`]; a block given again
//! (a reload or a shell edit) changes the interface when it names one and the server list when
//! it has `server` lines. The checks: every named server exists, the interface name is one the
//! kernel takes (1 to 15 bytes, no `/`, no blank), and no VIP has two owners: VRRP moves every
//! server's VIP, so a configuration with both a `vrrp` and an `announce` block is refused.

use fulcrum_core::model::{Announce, Config, DEFAULT_ANNOUNCE_INTERFACE};

use super::{Lowering, Origins};
use crate::ast::{AnnounceOpt, Opt};
use crate::diag::{Error, Span};

/// The kernel's `IFNAMSIZ` less the terminating NUL.
const INTERFACE_NAME_MAX: usize = 15;

impl Lowering {
    pub(super) fn announce(&mut self, config: &mut Config, opts: &[Opt<AnnounceOpt>], span: Span) {
        self.singleton("announce", span);
        let interfaces: Vec<_> = opts
            .iter()
            .filter(|o| o.keyword == "interface")
            .cloned()
            .collect();
        self.once("announce", &interfaces);
        self.origins.announce = Some(span);
        let mut announce = config.announce.clone().unwrap_or(Announce {
            interface: DEFAULT_ANNOUNCE_INTERFACE.to_string(),
            servers: Vec::new(),
        });
        if opts.iter().any(|o| o.keyword == "server") {
            announce.servers.clear();
        }
        for opt in opts {
            match &opt.value {
                AnnounceOpt::Interface(name) => announce.interface = name.clone(),
                AnnounceOpt::Server(id) => {
                    if let Some(first) = self.origins.announce_servers.get(id) {
                        self.errors.push(
                            Error::new(opt.span, format!("server {id} is announced twice"))
                                .note(format!("first given at {first}")),
                        );
                    } else {
                        self.origins.announce_servers.insert(*id, opt.span);
                        announce.servers.push(*id);
                    }
                }
            }
        }
        config.announce = Some(announce);
    }
}

/// The `announce` block's checks against the whole configuration.
pub fn validate(config: &Config, origins: &Origins, errors: &mut Vec<Error>) {
    let Some(announce) = &config.announce else {
        return;
    };
    let at = origins.announce.unwrap_or(Span::START);
    if config.vrrp.is_some() {
        errors.push(
            Error::new(at, "announce and vrrp both own the VIPs")
                .note("VRRP moves every server's VIP between two nodes; announcing one too would give it two owners")
                .help("remove the vrrp block for active-active nodes, or the announce block for a pair"),
        );
    }
    let name = &announce.interface;
    if name.is_empty() || name.len() > INTERFACE_NAME_MAX || name.contains(['/', ' ', '\t', '\n']) {
        errors.push(
            Error::new(
                at,
                format!("announce interface {name:?} is not a name the kernel takes"),
            )
            .help("use 1 to 15 characters without \"/\" or blanks, such as \"fulcrum-vip\""),
        );
    }
    for id in &announce.servers {
        if !config.servers.contains_key(id) {
            let span = origins.announce_servers.get(id).copied().unwrap_or(at);
            errors.push(
                Error::new(
                    span,
                    format!("announce names server {id}, which is not defined"),
                )
                .help("define it with \"server N { ipaddr ... }\" or drop the line"),
            );
        }
    }
}
