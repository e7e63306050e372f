//! `interface N { name NAME access xdp }`: the DSR plane's AF_XDP mode in the model, printed
//! back in the block form (the short form means `access raw`), and a mode that does not exist
//! reported at its position.

use fulcrum_core::model::InterfaceAccess;

const NS0A: &str = include_str!("../../../tests/fixtures/ns0a.conf");

fn xdp_seed() -> String {
    // The top-level declaration only: the network block names eth1 too.
    NS0A.replacen(
        "interface eth1\n",
        "interface 1 {\nname eth1\naccess xdp\n}\n",
        1,
    )
}

#[test]
fn access_xdp_loads_prints_back_and_the_short_form_stays_raw() {
    let config = fulcrum_config::parse("t.conf", &xdp_seed()).expect("the xdp variant loads");
    assert_eq!(config.interfaces[&1].name, "eth1");
    assert_eq!(config.interfaces[&1].access, InterfaceAccess::Xdp);
    let printed = fulcrum_config::print(&config, "now");
    assert!(printed.contains("access xdp"), "{printed}");
    assert_eq!(
        fulcrum_config::parse("printed.conf", &printed).expect("printed form loads"),
        config
    );

    let seed = fulcrum_config::parse("t.conf", NS0A).expect("the seed loads");
    assert_eq!(seed.interfaces[&1].access, InterfaceAccess::Raw);
    let printed = fulcrum_config::print(&seed, "now");
    assert!(printed.contains("interface eth1\n"), "{printed}");

    // A later block for the same interface, with its name, changes its mode.
    let changed = format!("{NS0A}interface 1 {{\nname eth1\naccess xdp\n}}\n");
    let config = fulcrum_config::parse("t.conf", &changed).expect("loads");
    assert_eq!(config.interfaces[&1].access, InterfaceAccess::Xdp);
}

#[test]
fn an_unknown_access_mode_is_reported_where_it_is() {
    let text = "interface 1 {\nname eth1\naccess dpdk\n}\n";
    let error = fulcrum_config::parse("t.conf", text).expect_err("dpdk is no access mode");
    let shown = error.to_string();
    assert!(shown.contains("t.conf:3:8"), "{shown}");
    assert!(shown.contains("an access mode"), "{shown}");
}
