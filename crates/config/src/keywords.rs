//! The words of the language: statements, the options of each block, the settings (Fulcrum's
//! and the BalanceNG ones it accepts and ignores) and the nouns `register`/`enable`/... take.
//! Messages list them in this order (`expected a vrrp option (vrid, priority, ...)`).

pub const STATEMENTS: &[&str] = &[
    "hostname",
    "license",
    "set",
    "modules",
    "module",
    "interface",
    "vrrp",
    "announce",
    "network",
    "gateway",
    "server",
    "target",
    "register",
    "unregister",
    "enable",
    "disable",
];

pub const SETTINGS: &[&str] = &[
    "localdsr",
    "sessiontimeout",
    "maxsessions",
    "synckey",
    "agentkey",
    "failopen",
    "tcpmaxconn",
    "tcpclientconn",
    "tcpidle",
    "tcpwrite",
    "tcplifetime",
    "metrics",
    "upstreamsockets",
    "ratetable",
];
/// BalanceNG settings that Fulcrum accepts and ignores (the benchmark module's parameters).
pub const IGNORED_SETTINGS: &[&str] = &["bmduration", "bmpsize", "bmwsize"];
/// Every name a `set` takes: Fulcrum's settings, then the ignored ones.
pub const ALL_SETTINGS: &[&str] = &[
    "localdsr",
    "sessiontimeout",
    "maxsessions",
    "synckey",
    "agentkey",
    "failopen",
    "tcpmaxconn",
    "tcpclientconn",
    "tcpidle",
    "tcpwrite",
    "tcplifetime",
    "metrics",
    "upstreamsockets",
    "ratetable",
    "bmduration",
    "bmpsize",
    "bmwsize",
];
pub const INTERFACE_OPTIONS: &[&str] = &["name", "access"];
pub const VRRP_OPTIONS: &[&str] = &[
    "vrid", "priority", "network", "version", "advert", "preempt", "notify", "peer", "authpass",
];
pub const ANNOUNCE_OPTIONS: &[&str] = &["interface", "server"];
pub const NETWORK_OPTIONS: &[&str] = &[
    "name",
    "addr",
    "mask",
    "real",
    "virt",
    "addr6",
    "mask6",
    "real6",
    "virt6",
    "interface",
    "syncpeer",
];
pub const GATEWAY_OPTIONS: &[&str] = &["ipaddr", "ping"];
pub const SERVER_OPTIONS: &[&str] = &[
    "ipaddr",
    "port",
    "protocol",
    "method",
    "targets",
    "stout",
    "allow",
    "deny",
    "ratelimit",
    "anylimit",
    "bytelimit",
    "rateprefix",
    "rateaction",
];
pub const TARGET_OPTIONS: &[&str] = &[
    "ipaddr",
    "port",
    "protocol",
    "weight",
    "ping",
    "tcpopen",
    "agent",
    "dns",
    "dsr",
    "proxyprotocol",
    "alert",
    "upalert",
];
pub const NOUNS: &[&str] = &[
    "network",
    "networks",
    "server",
    "servers",
    "target",
    "targets",
    "interface",
    "interfaces",
];

/// The list in messages: `(a, b, c)`.
pub fn listed(words: &[&str]) -> String {
    format!("({})", words.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_is_fulcrums_or_ignored() {
        let joined: Vec<&str> = SETTINGS.iter().chain(IGNORED_SETTINGS).copied().collect();
        assert_eq!(joined, ALL_SETTINGS);
    }
}
