//! How the router reaches the VIPs in a DSR phase: on the segment (the seed's pair: the router
//! resolves each VIP itself and Fulcrum's plane answers with the VRRP virtual MAC) or routed
//! (an active-active node: a static route to the VIPs via ns0a's `real` addresses, so the
//! frames arrive at eth1's own MAC, and ns0a's configuration gets an `announce` block so its
//! XDP program hands them to the plane).

use netlab::seed::{SeedLab, VIP};
use netlab::seed6::VIP6;

use crate::Result;

/// ns0a's `real` addresses in the flood configuration (answered by its plane with eth1's MAC).
const NS0A_REAL: &str = "10.235.210.45";
const NS0A_REAL6: &str = "fd00:10:235:210::45";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    OnLink,
    Routed,
}

impl Path {
    pub fn name(self) -> &'static str {
        match self {
            Path::OnLink => "on the segment (virtual MAC)",
            Path::Routed => "routed to ns0a (its own MAC)",
        }
    }

    /// `config` for this path: with an `announce` block when routed.
    pub fn config(self, config: &str) -> String {
        match self {
            Path::OnLink => config.to_string(),
            Path::Routed => format!("{config}announce {{\ninterface fulcrum-vip\n}}\n"),
        }
    }

    /// Points the router's routes to the VIPs the way this path wants.
    pub fn apply(self, seed: &SeedLab) -> Result<()> {
        for (flag, vip, via) in [
            ("-4", format!("{VIP}/32"), NS0A_REAL),
            ("-6", format!("{VIP6}/128"), NS0A_REAL6),
        ] {
            match self {
                // The connected route of the segment covers the VIP again.
                Path::OnLink => {
                    let _ = seed.router.run(&["ip", flag, "route", "del", &vip]);
                }
                Path::Routed => {
                    seed.router
                        .run(&[
                            "ip", flag, "route", "replace", &vip, "via", via, "dev", "eth0",
                        ])
                        .map_err(|e| format!("route {vip} via {via}: {e}"))?;
                }
            }
        }
        Ok(())
    }
}

pub fn paths(arg: Option<&String>) -> Result<Vec<Path>> {
    match arg.map(String::as_str) {
        None | Some("onlink") => Ok(vec![Path::OnLink]),
        Some("routed") => Ok(vec![Path::Routed]),
        Some("both") => Ok(vec![Path::OnLink, Path::Routed]),
        Some(other) => Err(format!("path {other:?}: onlink, routed or both")),
    }
}
