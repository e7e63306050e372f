//! BalanceNG V3's way of writing a configuration loads as well as the seed's 2.x files:
//! numbered `interface N { name ... access raw }` objects registered and enabled like the others,
//! networks referring to them by number, `set { ... }` blocks, `modules`, `gateway`, `virt`,
//! `syncpeer` and a server's `protocol`. Each form is checked for what it puts in the model, each
//! mistake for its exact position and message, and each statement Fulcrum accepts without acting
//! on it for a warning that names it (never silence).

use std::net::Ipv4Addr;

use fulcrum_core::model::{Config, InterfaceRef, Protocol};

const NS0A: &str = include_str!("../../../tests/fixtures/ns0a.conf");
const NS0A_V3: &str = include_str!("../../../tests/fixtures/ns0a-v3.conf");
const V3_FORMS: &str = include_str!("../../../fuzz/seeds/config_parse/v3_forms.conf");

fn v4(text: &str) -> Ipv4Addr {
    text.parse().unwrap()
}

fn load(text: &str) -> fulcrum_config::Loaded {
    match fulcrum_config::load("t.conf", text) {
        Ok(loaded) => loaded,
        Err(e) => panic!("{text}\n{e}"),
    }
}

/// "LINE:COL: MESSAGE" for every warning.
fn warnings(text: &str) -> Vec<String> {
    load(text)
        .warnings
        .0
        .iter()
        .map(|d| format!("{}:{}: {}", d.line, d.col, d.message))
        .collect()
}

fn errors(text: &str) -> Vec<String> {
    match fulcrum_config::load("t.conf", text) {
        Ok(_) => vec!["(loaded without error)".to_string()],
        Err(d) => {
            d.0.iter()
                .map(|d| format!("{}:{}: {}", d.line, d.col, d.message))
                .collect()
        }
    }
}

/// The network's interface written as the name it resolves to, so that the seed's `interface
/// eth1` and V3's `interface 1` (whose name is eth1) compare equal.
fn by_name(mut config: Config) -> Config {
    let resolved: Vec<(u32, Option<String>)> = config
        .networks
        .values()
        .map(|n| (n.id, config.network_interface_name(n).map(str::to_string)))
        .collect();
    for (id, name) in resolved {
        if let (Some(network), Some(name)) = (config.networks.get_mut(&id), name) {
            network.interface = Some(InterfaceRef::Name(name));
        }
    }
    config
}

#[test]
fn the_seed_written_in_v3_style_loads_to_the_seeds_model() {
    let seed = fulcrum_config::parse("ns0a.conf", NS0A).unwrap();
    let v3 = load(NS0A_V3).config;
    assert_eq!(v3.networks[&1].interface, Some(InterfaceRef::Id(1)));
    assert_eq!(v3.network_interface_name(&v3.networks[&1]), Some("eth1"));
    assert_eq!(by_name(v3.clone()), seed);
    // Naming the interface inside the network, the old way, next to the V3 object: exactly the
    // seed's model.
    let mixed = NS0A_V3.replace("  interface 1\n}", "  interface eth1\n}");
    assert_eq!(load(&mixed).config, seed);
    // The canonical text of the V3 file reads back to the same model.
    let printed = fulcrum_config::print(&v3, "now");
    assert_eq!(fulcrum_config::parse("printed.conf", &printed).unwrap(), v3);
}

#[test]
fn every_v3_form_loads_and_prints_back() {
    let loaded = load(V3_FORMS);
    let config = &loaded.config;
    assert_eq!(
        config.modules,
        ["vrrp", "arp", "ping", "hc", "master", "slave", "benchmark"]
    );
    assert!(config.settings.localdsr);
    assert_eq!(config.settings.session_timeout, 300);
    let names: Vec<&str> = config
        .interfaces
        .values()
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(names, ["eth0", "eth1", "eth2"]);
    let network = &config.networks[&1];
    assert_eq!(network.interface, Some(InterfaceRef::Id(2)));
    assert_eq!(network.virt, Some(v4("10.235.210.2")));
    assert_eq!(
        network.syncpeers,
        vec![std::net::IpAddr::V4(v4("10.235.210.46"))]
    );
    assert_eq!(
        config.gateway.as_ref().unwrap().ipaddr,
        v4("10.235.210.254")
    );
    assert_eq!(config.servers[&1].protocol, Protocol::Udp);
    assert_eq!(config.servers[&2].protocol, Protocol::Tcp);
    let printed = fulcrum_config::print(config, "now");
    assert_eq!(
        fulcrum_config::parse("printed.conf", &printed).unwrap(),
        *config
    );
}

/// Each new form on its own: the text, then a check of what it put in the model.
#[test]
fn each_v3_form_means_what_it_says() {
    type Check = fn(&Config) -> bool;
    let base = "interface 1 { name eth0 access raw }\ninterface 2 { name eth1 }\n\
                interface 3 { name eth2 }\n";
    let cases: Vec<(&str, String, Check)> =
        vec![
        ("interface object", "interface 4 {\n  name eth9\n  access raw\n}\n".into(), |c| {
            c.interfaces[&4].name == "eth9"
        }),
        ("register interface", format!("{base}register interface 1\n"), |c| {
            c.interfaces.len() == 3
        }),
        ("register interfaces list", format!("{base}register interfaces 1,2,3\n"), |c| {
            c.interfaces.len() == 3
        }),
        ("enable interfaces range", format!("{base}enable interfaces 1-3\n"), |c| {
            c.interfaces.len() == 3
        }),
        ("enable interface plural list", format!("{base}enable interface 1,3\n"), |c| {
            c.interfaces.len() == 3
        }),
        (
            "network refers to an interface object",
            format!("{base}network 1 {{ interface 3 }}\n"),
            |c| c.network_interface_name(&c.networks[&1]) == Some("eth2"),
        ),
        (
            "network names an interface object",
            format!("{base}network 1 {{ interface eth1 }}\n"),
            |c| c.network_interface_name(&c.networks[&1]) == Some("eth1"),
        ),
        (
            "old top-level interface with a network naming it",
            "interface eth1\nnetwork 1 { interface eth1 }\n".into(),
            |c| c.interfaces[&1].name == "eth1",
        ),
        ("set block", "set {\n  localdsr 1\n  failopen 1\n}\n".into(), |c| {
            c.settings.localdsr && c.settings.failopen
        }),
        ("set block on one line", "set { sessiontimeout 30 }\n".into(), |c| {
            c.settings.session_timeout == 30
        }),
        ("modules", "modules vrrp,arp,ping\n".into(), |c| c.modules == ["vrrp", "arp", "ping"]),
        ("module", "modules vrrp\nmodule benchmark\n".into(), |c| {
            c.modules == ["vrrp", "benchmark"]
        }),
        ("gateway", "gateway {\n  ipaddr 10.0.0.254\n  ping 5,12\n}\n".into(), |c| {
            c.gateway.as_ref().is_some_and(|g| g.ping.is_some())
        }),
        ("virt", "network 1 { addr 10.0.0.0 mask 255.255.255.0 virt 10.0.0.9 }\n".into(), |c| {
            c.networks[&1].virt == Some("10.0.0.9".parse().unwrap())
        }),
        ("syncpeer", "network 1 { syncpeer 10.0.0.2 }\n".into(), |c| {
            c.networks[&1].syncpeers == vec!["10.0.0.2".parse::<std::net::IpAddr>().unwrap()]
        }),
        ("syncpeer list", "network 1 { syncpeer 10.0.0.2,fd00::3 }\n".into(), |c| {
            c.networks[&1].syncpeers
                == vec![
                    "10.0.0.2".parse::<std::net::IpAddr>().unwrap(),
                    "fd00::3".parse().unwrap(),
                ]
        }),
        (
            "server protocol udp",
            "target 1 { ipaddr 10.0.0.1 }\nserver 1 { ipaddr 10.0.0.9 protocol udp targets 1 }\n"
                .into(),
            |c| c.servers[&1].protocol == Protocol::Udp,
        ),
        (
            "server protocol tcp",
            "target 1 { ipaddr 10.0.0.1 }\nserver 1 { ipaddr 10.0.0.9 protocol tcp targets 1 }\n"
                .into(),
            |c| c.servers[&1].protocol == Protocol::Tcp,
        ),
    ];
    for (what, text, check) in cases {
        let config = load(&text).config;
        assert!(check(&config), "{what}: {config:#?}");
        let printed = fulcrum_config::print(&config, "now");
        assert_eq!(
            fulcrum_config::parse("printed.conf", &printed).unwrap(),
            config,
            "{what}: printed\n{printed}"
        );
    }
}

#[test]
fn v3_mistakes_report_exact_positions() {
    let base = "interface 1 { name eth0 }\n";
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "register an undefined interface",
            format!("{base}register interface 2\n"),
            vec!["2:20: cannot register interface 2: it is not defined"],
        ),
        (
            "a range past the defined interfaces",
            format!("{base}enable interfaces 1-3\n"),
            vec!["2:19: cannot enable interface 2: it is not defined"],
        ),
        (
            "access mode other than raw",
            "interface 1 {\n  name eth0\n  access pcap\n}\n".into(),
            vec!["3:10: found \"pcap\", expected an access mode"],
        ),
        (
            "interface object without a name",
            "interface 1 {\n  access raw\n}\n".into(),
            vec!["1:1: interface 1 has no name"],
        ),
        (
            "network refers to an undefined interface object",
            format!("{base}network 1 {{\n  interface 2\n}}\n"),
            vec!["3:3: network 1 uses interface 2, which is not defined"],
        ),
        (
            "two interface objects with one name",
            format!("{base}interface 2 {{ name eth0 }}\n"),
            vec!["2:1: interface 2 has the name \"eth0\" of interface 1"],
        ),
        (
            "misspelt option in a set block",
            "set {\n  localdsr 1\n  lcoaldsr 1\n}\n".into(),
            vec!["3:3: found \"lcoaldsr\", expected a set option (localdsr, sessiontimeout, maxsessions, synckey, agentkey, failopen, tcpmaxconn, tcpclientconn, tcpidle, tcpwrite, tcplifetime, metrics, upstreamsockets, ratetable, bmduration, bmpsize, bmwsize)"],
        ),
        (
            "server protocol misspelt",
            "target 1 { ipaddr 10.0.0.1 }\nserver 1 {\n  ipaddr 10.0.0.9\n  protocol ucp\n  targets 1\n}\n"
                .into(),
            vec!["4:12: found \"ucp\", expected a protocol (udp, tcp, any)"],
        ),
        (
            "gateway without an address",
            "gateway {\n  ping 5,12\n}\n".into(),
            vec!["1:1: gateway has no ipaddr"],
        ),
        (
            "virt outside its network",
            "network 1 {\n  addr 10.0.0.0\n  mask 255.255.255.0\n  virt 10.0.1.9\n}\n".into(),
            vec!["4:3: virt 10.0.1.9 is outside network 1 (10.0.0.0/24)"],
        ),
        (
            "syncpeer not an address",
            "network 1 {\n  syncpeer peer\n}\n".into(),
            vec!["2:12: found \"peer\", expected an IPv4 or IPv6 address"],
        ),
        (
            "module without a name",
            "module\n".into(),
            vec!["2:1: found end of file, expected a module name"],
        ),
    ];
    let mut failures = Vec::new();
    for (what, text, expected) in &cases {
        let got = errors(text);
        if got != *expected {
            failures.push(format!(
                "{what}:\n  expected {expected:#?}\n  got      {got:#?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn what_fulcrum_ignores_is_named_in_a_warning() {
    let cases: Vec<(&str, &str, Vec<&str>)> = vec![
        (
            "license",
            "hostname A\nlicense S K\n",
            vec!["2:1: license is accepted and ignored: Fulcrum needs no licence; the serial is kept for `show license`"],
        ),
        (
            "modules",
            "modules vrrp,arp\n",
            vec!["1:1: modules is accepted and ignored: every part of Fulcrum is built in"],
        ),
        (
            "module",
            "  module benchmark\n",
            vec!["1:3: module benchmark is accepted and ignored: every part of Fulcrum is built in"],
        ),
        (
            "gateway",
            "\ngateway { ipaddr 10.0.0.254 }\n",
            vec!["2:1: gateway is accepted and ignored: Fulcrum neither pings nor routes through a gateway; the kernel's routes are used"],
        ),
        (
            "benchmark setting in a set block",
            "set {\n  localdsr 1\n  bmpsize 1514\n}\n",
            vec!["3:3: set bmpsize is accepted and ignored: Fulcrum has no benchmark module"],
        ),
        (
            "benchmark setting on its own",
            "set bmduration 300\n",
            vec!["1:5: set bmduration is accepted and ignored: Fulcrum has no benchmark module"],
        ),
        (
            "disable interface",
            "interface 1 { name eth0 }\ndisable interface 1\n",
            vec!["2:1: disable interface is accepted and ignored: Fulcrum uses every interface a network names; remove it from the network instead"],
        ),
        (
            "unregister interfaces",
            "interface 1 { name eth0 }\nunregister interfaces 1\n",
            vec!["2:1: unregister interface is accepted and ignored: Fulcrum uses every interface a network names; remove it from the network instead"],
        ),
        ("register and enable interface: Fulcrum does it anyway", "interface 1 { name eth0 }\nregister interface 1\nenable interface 1\n", vec![]),
    ];
    for (what, text, expected) in cases {
        assert_eq!(warnings(text), expected, "{what}");
    }
    // The seed's own files: only the licence line.
    let seed = fulcrum_config::load("ns0a.conf", NS0A).unwrap();
    assert_eq!(seed.warnings.0.len(), 1);
    assert_eq!((seed.warnings.0[0].line, seed.warnings.0[0].col), (4, 1));
    let shown = seed.warnings.to_string();
    assert!(
        shown.starts_with("ns0a.conf:4:1: warning: license is accepted and ignored"),
        "{shown}"
    );
    assert!(
        shown.contains("\nlicense NS0ATEST 17d17854ad3d234d1e8603629f0ae5ae\n^\n"),
        "{shown}"
    );
    // Every ignored statement of the V3 sample, in order.
    let all = warnings(V3_FORMS);
    let lines: Vec<&str> = all.iter().map(|w| w.split(": ").next().unwrap()).collect();
    assert_eq!(
        lines,
        ["3:1", "4:1", "5:1", "9:3", "20:1", "36:1"],
        "{all:#?}"
    );
}
