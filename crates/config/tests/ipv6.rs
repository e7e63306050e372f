//! IPv6 in the configuration: BalanceNG's network attributes `addr6`, `mask6` (a prefix length,
//! or a contiguous IPv6 mask read as one), `real6`, `virt6`, an IPv6 `syncpeer`, IPv6 servers and
//! targets; what each puts in the model, that the canonical text prints it back, and that
//! everything the daemon does not act on over IPv6 loads with a warning naming the statement
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
    // Every IPv6 attribute is served: DSR balances server 2 (from `real6`), VRRP floats
    // `virt6` and the IPv6 server in both modes, sync runs from `real6` to the IPv6 syncpeer.
    assert_eq!(warnings(DUAL_STACK), Vec::<String>::new());
    // In proxy mode VRRP floats the IPv6 server and `virt6`, sync uses `real6`: no warning.
    let proxy = DUAL_STACK.replace("dsr enable\n", "");
    assert_eq!(warnings(&proxy), Vec::<String>::new());
    // Without IPv6 DSR nor an IPv6 syncpeer the network's other IPv6 attributes serve nothing:
    // each is named.
    let proxy_v4_sync = proxy.replace("syncpeer fd00:10:235:210::46", "syncpeer 10.235.210.46");
    let proxy_warnings = warnings(&proxy_v4_sync);
    let why = "is accepted and ignored: only the DSR plane (neighbour solicitations leave from \
               `real6`) and session sync to an IPv6 `syncpeer` use it, and this network has \
               neither an IPv6 server with DSR targets nor an IPv6 syncpeer";
    assert_eq!(
        proxy_warnings,
        [
            format!("11:1: addr6 fd00:10:235:210:: {why}"),
            format!("12:1: mask6 64 {why}"),
            format!("13:1: real6 fd00:10:235:210::45 {why}"),
        ]
    );
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
    // Without a vrrp block `virt6` does not float: a shell change naming it says so.
    let without_vrrp = DUAL_STACK.replace("vrrp {\nvrid 7\npriority 200\nnetwork 1\n}\n", "");
    let base_without = fulcrum_config::parse("t.conf", &without_vrrp).unwrap();
    let loaded = fulcrum_config::apply_loaded(
        &base_without,
        "shell",
        "network 1 { virt6 fd00:10:235:210::2 }",
    )
    .unwrap();
    assert_eq!(loaded.warnings.0.len(), 1, "{}", loaded.warnings);
    assert_eq!(
        (loaded.warnings.0[0].line, loaded.warnings.0[0].col),
        (1, 13)
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
