//! The canonical text of a model, in the seed's style and order: hostname, license, set,
//! modules, interface, vrrp, networks and their register/enable lines, gateway, servers (and
//! theirs), targets (and theirs). Options at their defaults are left out, id lists are compressed
//! to ranges, and words that the lexer would split or misread are quoted, so that
//! `parse(print(c)) == c` for every configuration `parse` produces.

use std::fmt::Write;

use fulcrum_core::protect::Policy;

use fulcrum_core::model::{
    Config, InterfaceAccess, InterfaceRef, Protocol, Settings, VrrpVersion, DEFAULT_ADVERT_MS,
};

/// `"..."` with `\` and `"` escaped.
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A bare word when the parser would read it back as the same value, else a string.
fn text(value: &str) -> String {
    if crate::parser::STATEMENTS.contains(&value) {
        quoted(value)
    } else {
        module(value)
    }
}

/// A bare word when the lexer would read it back as the same single word (statement keywords
/// included, as `modules` takes them), else a string.
fn module(value: &str) -> String {
    let bare = !value.is_empty()
        && !value.starts_with("//")
        && value
            .chars()
            .all(|c| !(c.is_whitespace() || matches!(c, '{' | '}' | '"' | ',')));
    if bare {
        value.to_string()
    } else {
        quoted(value)
    }
}

/// Like [`text`], but a name made of digits is quoted so it is not read as a number.
fn name(value: &str) -> String {
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        quoted(value)
    } else {
        text(value)
    }
}

/// `1,2,5-9`: ascending runs of three or more become ranges; the order of `ids` is kept.
pub fn id_list(ids: &[u32]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ids.len() {
        let mut j = i;
        while j + 1 < ids.len() && ids[j].checked_add(1) == Some(ids[j + 1]) {
            j += 1;
        }
        if j - i >= 2 {
            parts.push(format!("{}-{}", ids[i], ids[j]));
        } else {
            parts.extend(ids[i..=j].iter().map(u32::to_string));
        }
        i = j + 1;
    }
    parts.join(",")
}

/// `register targets 1,2` and `enable targets 1,2` lines for one kind.
fn states<'a>(out: &mut String, noun: &str, flags: impl Iterator<Item = (u32, bool, bool)> + 'a) {
    let (mut registered, mut enabled) = (Vec::new(), Vec::new());
    for (id, is_registered, is_enabled) in flags {
        if is_registered {
            registered.push(id);
        }
        if is_enabled {
            enabled.push(id);
        }
    }
    for (verb, ids) in [("register", registered), ("enable", enabled)] {
        match ids.len() {
            0 => {}
            1 => {
                let _ = writeln!(out, "{verb} {noun} {}", ids[0]);
            }
            _ => {
                let _ = writeln!(out, "{verb} {noun}s {}", id_list(&ids));
            }
        }
    }
}

fn settings(out: &mut String, settings: &Settings) {
    let defaults = Settings::default();
    if settings.localdsr != defaults.localdsr {
        let _ = writeln!(out, "set localdsr {}", u8::from(settings.localdsr));
    }
    if settings.session_timeout != defaults.session_timeout {
        let _ = writeln!(out, "set sessiontimeout {}", settings.session_timeout);
    }
    if settings.max_sessions != defaults.max_sessions {
        let _ = writeln!(out, "set maxsessions {}", settings.max_sessions);
    }
    if let Some(key) = &settings.sync_key {
        let _ = writeln!(out, "set synckey {}", quoted(key));
    }
    if let Some(key) = &settings.agent_key {
        let _ = writeln!(out, "set agentkey {}", quoted(key));
    }
    if settings.failopen != defaults.failopen {
        let _ = writeln!(out, "set failopen {}", u8::from(settings.failopen));
    }
    let numbers = [
        (
            "tcpmaxconn",
            settings.tcp_max_connections,
            defaults.tcp_max_connections,
        ),
        (
            "tcpclientconn",
            settings.tcp_client_connections,
            defaults.tcp_client_connections,
        ),
        (
            "tcpidle",
            settings.tcp_idle.into(),
            defaults.tcp_idle.into(),
        ),
        (
            "tcpwrite",
            settings.tcp_write_timeout.into(),
            defaults.tcp_write_timeout.into(),
        ),
        (
            "tcplifetime",
            settings.tcp_lifetime.into(),
            defaults.tcp_lifetime.into(),
        ),
        (
            "upstreamsockets",
            settings.upstream_sockets.into(),
            defaults.upstream_sockets.into(),
        ),
        (
            "ratetable",
            settings.rate_table.into(),
            defaults.rate_table.into(),
        ),
    ];
    for (name, value, default) in numbers {
        if value != default {
            let _ = writeln!(out, "set {name} {value}");
        }
    }
    if let Some(addr) = settings.metrics {
        let _ = writeln!(out, "set metrics {addr}");
    }
}

fn advert(ms: u32) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// Writes `config` as canonical text; `taken` (a date) goes into the first line.
pub fn print(config: &Config, taken: &str) -> String {
    let mut out = String::new();
    let taken = taken.replace(['\n', '\r'], " ");
    let _ = writeln!(out, "// configuration taken {taken}");
    let _ = writeln!(out, "// Fulcrum {}", env!("CARGO_PKG_VERSION"));
    if let Some(hostname) = &config.hostname {
        let _ = writeln!(out, "hostname {}", text(hostname));
    }
    if let Some(license) = &config.license {
        let _ = writeln!(
            out,
            "license {} {}",
            text(&license.serial),
            text(&license.key)
        );
    }
    settings(&mut out, &config.settings);
    rate_table_memory(&mut out, config);
    if !config.modules.is_empty() {
        let modules: Vec<String> = config.modules.iter().map(|m| module(m)).collect();
        let _ = writeln!(out, "modules {}", modules.join(","));
    }
    // Interfaces numbered 1..=k print in the short form, which takes exactly those numbers.
    let mut next_short = 1;
    for (id, interface) in &config.interfaces {
        if *id == next_short && interface.access == InterfaceAccess::Raw {
            next_short += 1;
            let _ = writeln!(out, "interface {}", name(&interface.name));
        } else {
            let _ = writeln!(
                out,
                "interface {id} {{\nname {}\naccess {}\n}}",
                name(&interface.name),
                match interface.access {
                    InterfaceAccess::Raw => "raw",
                    InterfaceAccess::Xdp => "xdp",
                }
            );
        }
    }
    if let Some(vrrp) = &config.vrrp {
        let _ = writeln!(
            out,
            "vrrp {{\nvrid {}\npriority {}\nnetwork {}",
            vrrp.vrid, vrrp.priority, vrrp.network
        );
        if vrrp.version == VrrpVersion::V3 {
            let _ = writeln!(out, "version 3");
        }
        if vrrp.advert_ms != DEFAULT_ADVERT_MS {
            let _ = writeln!(out, "advert {}", advert(vrrp.advert_ms));
        }
        if !vrrp.preempt {
            let _ = writeln!(out, "preempt off");
        }
        if let Some(notify) = &vrrp.notify {
            let _ = writeln!(out, "notify {}", quoted(notify));
        }
        for peer in &vrrp.peers {
            let _ = writeln!(out, "peer {peer}");
        }
        if let Some(pass) = &vrrp.auth_pass {
            let _ = writeln!(out, "authpass {}", quoted(pass));
        }
        let _ = writeln!(out, "}}");
    }
    if let Some(announce) = &config.announce {
        let _ = writeln!(out, "announce {{\ninterface {}", name(&announce.interface));
        for server in &announce.servers {
            let _ = writeln!(out, "server {server}");
        }
        let _ = writeln!(out, "}}");
    }
    for (id, network) in &config.networks {
        let _ = writeln!(out, "network {id} {{");
        if let Some(n) = &network.name {
            let _ = writeln!(out, "name {}", quoted(n));
        }
        for (keyword, addr) in [
            ("addr", network.addr),
            ("mask", network.mask),
            ("real", network.real),
            ("virt", network.virt),
        ] {
            if let Some(addr) = addr {
                let _ = writeln!(out, "{keyword} {addr}");
            }
        }
        if let Some(addr) = network.addr6 {
            let _ = writeln!(out, "addr6 {addr}");
        }
        if let Some(len) = network.mask6 {
            let _ = writeln!(out, "mask6 {len}");
        }
        for (keyword, addr) in [("real6", network.real6), ("virt6", network.virt6)] {
            if let Some(addr) = addr {
                let _ = writeln!(out, "{keyword} {addr}");
            }
        }
        match &network.interface {
            Some(InterfaceRef::Id(n)) => {
                let _ = writeln!(out, "interface {n}");
            }
            Some(InterfaceRef::Name(n)) => {
                let _ = writeln!(out, "interface {}", name(n));
            }
            None => {}
        }
        if !network.syncpeers.is_empty() {
            let peers: Vec<String> = network.syncpeers.iter().map(|p| p.to_string()).collect();
            let _ = writeln!(out, "syncpeer {}", peers.join(","));
        }
        let _ = writeln!(out, "}}");
    }
    states(
        &mut out,
        "network",
        config
            .networks
            .values()
            .map(|n| (n.id, n.registered, n.enabled)),
    );
    if let Some(gateway) = &config.gateway {
        let _ = writeln!(out, "gateway {{\nipaddr {}", gateway.ipaddr);
        if let Some(ping) = gateway.ping {
            let _ = writeln!(out, "ping {},{}", ping.interval, ping.timeout);
        }
        let _ = writeln!(out, "}}");
    }
    for (id, server) in &config.servers {
        let _ = writeln!(
            out,
            "server {id} {{\nipaddr {}\nport {}",
            server.ipaddr, server.port
        );
        if server.protocol != Protocol::Any {
            let _ = writeln!(out, "protocol {}", protocol(server.protocol));
        }
        let _ = writeln!(out, "method {}", server.method.keyword());
        if !server.targets.is_empty() {
            let _ = writeln!(out, "targets {}", id_list(&server.targets));
        }
        if let Some(stout) = server.stout {
            let _ = writeln!(out, "stout {stout}");
        }
        protection(&mut out, &server.protection);
        let _ = writeln!(out, "}}");
    }
    states(
        &mut out,
        "server",
        config
            .servers
            .values()
            .map(|s| (s.id, s.registered, s.enabled)),
    );
    for (id, target) in &config.targets {
        let _ = writeln!(out, "target {id} {{\nipaddr {}", target.ipaddr);
        if let Some(port) = target.port {
            let _ = writeln!(out, "port {port}");
        }
        if target.protocol != Protocol::Any {
            let _ = writeln!(out, "protocol {}", protocol(target.protocol));
        }
        if target.weight != 1 {
            let _ = writeln!(out, "weight {}", target.weight);
        }
        if let Some(ping) = target.ping {
            let _ = writeln!(out, "ping {},{}", ping.interval, ping.timeout);
        }
        for (keyword, check) in [("agent", target.agent), ("tcpopen", target.tcpopen)] {
            if let Some(c) = check {
                let _ = writeln!(out, "{keyword} {},{},{}", c.port, c.interval, c.timeout);
            }
        }
        if let Some(dns) = &target.dns {
            let _ = writeln!(out, "dns {},{},{}", dns.zone, dns.interval, dns.timeout);
        }
        if target.dsr {
            let _ = writeln!(out, "dsr enable");
        }
        if target.proxy_protocol {
            let _ = writeln!(out, "proxyprotocol enable");
        }
        if let Some(alert) = &target.alert {
            let _ = writeln!(out, "alert {}", quoted(alert));
        }
        if let Some(alert) = &target.upalert {
            let _ = writeln!(out, "upalert {}", quoted(alert));
        }
        let _ = writeln!(out, "}}");
    }
    states(
        &mut out,
        "target",
        config
            .targets
            .values()
            .map(|t| (t.id, t.registered, t.enabled)),
    );
    out.push_str("// end of configuration\n");
    out
}

fn protocol(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Udp => "udp",
        Protocol::Tcp => "tcp",
        Protocol::Any => "any",
    }
}

/// A server's `allow`/`deny` rules in order, then its limits (those not at their defaults).
fn protection(out: &mut String, policy: &Policy) {
    for rule in &policy.acl {
        let verb = match rule.action {
            fulcrum_core::protect::Action::Allow => "allow",
            fulcrum_core::protect::Action::Deny => "deny",
        };
        let _ = writeln!(out, "{verb} {}", rule.prefix);
    }
    for (name, rate) in [
        ("ratelimit", policy.ratelimit),
        ("anylimit", policy.anylimit),
        ("bytelimit", policy.bytelimit),
    ] {
        if let Some(rate) = rate {
            let _ = writeln!(out, "{name} {},{}", rate.qps, rate.burst);
        }
    }
    let defaults = Policy::default();
    if (policy.v4_prefix, policy.v6_prefix) != (defaults.v4_prefix, defaults.v6_prefix) {
        let _ = writeln!(out, "rateprefix {},{}", policy.v4_prefix, policy.v6_prefix);
    }
    if policy.over_limit != defaults.over_limit {
        let _ = writeln!(out, "rateaction {}", policy.over_limit.keyword());
    }
}

/// What the rate-limit tables cost, as a comment (`show config` states it; it reads back as
/// nothing): only when a server has a limit.
fn rate_table_memory(out: &mut String, config: &Config) {
    let tables: usize = config
        .servers
        .values()
        .map(|s| {
            usize::from(s.protection.ratelimit.is_some())
                + usize::from(s.protection.anylimit.is_some())
                + usize::from(s.protection.bytelimit.is_some())
        })
        .sum();
    if tables > 0 {
        let buckets = config.settings.rate_table as usize;
        let bytes = fulcrum_core::protect::RateTable::memory_for(buckets);
        let _ = writeln!(
            out,
            "// rate limits: {tables} table(s) of {buckets} buckets, {bytes} bytes each"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_lists_compress_runs_of_three_or_more() {
        assert_eq!(id_list(&[1, 2]), "1,2");
        assert_eq!(id_list(&[1, 2, 3]), "1-3");
        assert_eq!(id_list(&[1, 3, 4, 5, 7]), "1,3-5,7");
        assert_eq!(id_list(&[3, 2, 1]), "3,2,1");
        assert_eq!(
            id_list(&[u32::MAX - 1, u32::MAX]),
            format!("{},{}", u32::MAX - 1, u32::MAX)
        );
    }

    #[test]
    fn words_are_quoted_only_when_needed() {
        assert_eq!(text("eth1"), "eth1");
        assert_eq!(text("a b"), "\"a b\"");
        assert_eq!(text(""), "\"\"");
        assert_eq!(text("//x"), "\"//x\"");
        assert_eq!(text("a\"b\\"), "\"a\\\"b\\\\\"");
        assert_eq!(name("12"), "\"12\"");
        assert_eq!(text("server"), "\"server\"");
    }
}
