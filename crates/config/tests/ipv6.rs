//! IPv6 in the configuration: BalanceNG's network attributes `addr6`, `mask6` (a prefix length,
//! or a contiguous IPv6 mask read as one), `real6`, `virt6`, an IPv6 `syncpeer`, IPv6 servers and
//! targets; what each puts in the model, that the canonical text prints it back, and that
//! everything the daemon does not serve over IPv6 yet loads with a warning naming the statement
//! (exact line and column), never silently.

use std::net::{IpAddr, Ipv6Addr};

fn v6(text: &str) -> Ipv6Addr {
    text.parse().unwrap()
}

/// "LINE:COL: MESSAGE" for every warning.
fn warnings(text: &str) -> Vec<String> {
    fulcrum_config::load("t.conf", text)
        .unwrap()
        .warnings
        .0
        .iter()
        .map(|d| format!("{}:{}: {}", d.line, d.col, d.message))
        .collect()
}

const DUAL_STACK: &str = "interface eth1\n\
    vrrp {\nvrid 7\npriority 200\nnetwork 1\n}\n\
    network 1 {\naddr 10.235.210.0\nmask 255.255.255.0\nreal 10.235.210.45\n\
    addr6 fd00:10:235:210::\nmask6 64\nreal6 fd00:10:235:210::45\nvirt6 fd00:10:235:210::1\n\
    interface eth1\nsyncpeer fd00:10:235:210::46\n}\n\
    register network 1\nenable network 1\n\
    server 1 {\nipaddr 10.235.210.1\nport 53\ntargets 1\n}\n\
    server 2 {\nipaddr fd00:10:235:210::1\nport 53\ntargets 2\n}\n\
    target 1 {\nipaddr 10.235.210.43\nport 53\n}\n\
    target 2 {\nipaddr fd00:10:235:210::43\nport 53\ndsr enable\n}\n\
    register servers 1,2\nenable servers 1,2\nregister targets 1,2\nenable targets 1,2\n";

#[test]
fn network_attributes_load_and_print_back() {
    let config = fulcrum_config::parse("t.conf", DUAL_STACK).unwrap();
    let network = &config.networks[&1];
    assert_eq!(network.addr6, Some(v6("fd00:10:235:210::")));
    assert_eq!(network.mask6, Some(64));
    assert_eq!(network.real6, Some(v6("fd00:10:235:210::45")));
    assert_eq!(network.virt6, Some(v6("fd00:10:235:210::1")));
    assert_eq!(
        network.syncpeers,
        vec![IpAddr::V6(v6("fd00:10:235:210::46"))]
    );
    assert_eq!(
        config.servers[&2].ipaddr,
        IpAddr::V6(v6("fd00:10:235:210::1"))
    );
    let printed = fulcrum_config::print(&config, "now");
    assert!(
        printed.contains("addr6 fd00:10:235:210::\nmask6 64\n"),
        "{printed}"
    );
    assert_eq!(fulcrum_config::parse("p.conf", &printed).unwrap(), config);
    // The mask form means the same prefix length and prints as the length.
    let masked = DUAL_STACK.replace("mask6 64", "mask6 ffff:ffff:ffff:ffff::");
    assert_eq!(fulcrum_config::parse("t.conf", &masked).unwrap(), config);
}

#[test]
fn what_is_not_served_over_ipv6_is_named_in_a_warning() {
    let why_network = "is accepted and ignored: Fulcrum does not run VRRP, neighbour discovery or DSR over IPv6 yet";
    assert_eq!(
        warnings(DUAL_STACK),
        vec![
            // addr6, mask6 and real6 serve session sync to the IPv6 syncpeer.
            format!("14:1: virt6 fd00:10:235:210::1 {why_network}"),
            "26:1: the IPv6 address fd00:10:235:210::1 of server 2 under vrrp is accepted and \
             ignored: VRRP floats IPv6 addresses in proxy mode only yet (this configuration has \
             DSR targets), so this address does not move between nodes"
                .to_string(),
            "37:1: dsr enable on target 2 (fd00:10:235:210::43) of IPv6 server 2 is accepted and \
             ignored: the DSR plane forwards IPv4 only yet, so the server is not balanced"
                .to_string(),
        ]
    );
    // In proxy mode VRRP floats the IPv6 server and `virt6`: no warning about them.
    let proxy = DUAL_STACK.replace("dsr enable\n", "");
    let proxy_warnings = warnings(&proxy);
    assert_eq!(proxy_warnings, Vec::<String>::new());
    // An IPv6 syncpeer needs `real6` to send from.
    let no_real6 = DUAL_STACK.replace("real6 fd00:10:235:210::45\n", "");
    assert!(
        warnings(&no_real6).iter().any(|w| w.contains(
            "syncpeer fd00:10:235:210::46 is accepted and ignored: session sync to an IPv6 peer \
             sends from the network's `real6`, which is not set"
        )),
        "{:?}",
        warnings(&no_real6)
    );
    assert!(
        proxy_warnings
            .iter()
            .all(|w| !w.contains("virt6") && !w.contains("under vrrp")),
        "{proxy_warnings:?}"
    );
    // An IPv6 server without vrrp and proxied targets is served: no warning.
    let proxied = "server 1 { ipaddr ::1 port 53 targets 1 }\ntarget 1 { ipaddr ::1 port 5353 }\n";
    assert_eq!(warnings(proxied), Vec::<String>::new());
}

#[test]
fn a_shell_change_warns_about_what_it_touches_only() {
    let base = fulcrum_config::parse("t.conf", DUAL_STACK).unwrap();
    let loaded = fulcrum_config::apply_loaded(&base, "shell", "target 2 { weight 5 }").unwrap();
    assert!(loaded.warnings.0.is_empty(), "{}", loaded.warnings);
    let loaded = fulcrum_config::apply_loaded(&base, "shell", "target 2 { dsr enable }").unwrap();
    assert_eq!(loaded.warnings.0.len(), 1);
    assert_eq!(
        (loaded.warnings.0[0].line, loaded.warnings.0[0].col),
        (1, 12)
    );
    // Changing a target's family under its server is refused, naming the target's statement.
    let error =
        fulcrum_config::apply(&base, "shell", "target 2 { ipaddr 10.235.210.44 }").unwrap_err();
    assert_eq!((error.0[0].line, error.0[0].col), (1, 12));
    assert!(
        error.0[0].message.contains("server 2 has IPv6 address"),
        "{error}"
    );
}
