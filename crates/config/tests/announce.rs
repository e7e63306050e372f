//! The `announce` block: parsed, printed back, and refused with a position where it is wrong.

use fulcrum_config::{apply, parse, print};

const BASE: &str = "server 1 {\nipaddr 10.235.210.1\ntargets 1\n}\n\
    server 2 {\nipaddr 10.235.210.2\ntargets 1\n}\n\
    target 1 {\nipaddr 10.235.210.11\n}\nregister servers 1,2\nregister targets 1\n\
    enable servers 1,2\nenable targets 1\n";

#[test]
fn the_block_parses_prints_back_and_defaults_its_interface() {
    let text = format!("{BASE}announce {{\ninterface vip0\nserver 2\nserver 1\n}}\n");
    let config = parse("f.conf", &text).unwrap();
    let announce = config.announce.clone().unwrap();
    assert_eq!(announce.interface, "vip0");
    assert_eq!(announce.servers, vec![2, 1]);
    let printed = print(&config, "now");
    assert!(
        printed.contains("announce {\ninterface vip0\nserver 2\nserver 1\n}\n"),
        "{printed}"
    );
    assert_eq!(parse("f.conf", &printed).unwrap(), config);

    let all = parse("f.conf", &format!("{BASE}announce {{\n}}\n")).unwrap();
    let announce = all.announce.unwrap();
    assert_eq!(announce.interface, "fulcrum-vip");
    assert!(announce.servers.is_empty(), "every active server");

    let changed = apply(&config, "shell", "announce {\ninterface vip1\n}\n").unwrap();
    let announce = changed.announce.unwrap();
    assert_eq!(
        (announce.interface.as_str(), announce.servers),
        ("vip1", vec![2, 1])
    );
}

#[test]
fn errors_name_the_line_and_column() {
    let cases = [
        (
            "announce {\nserver 7\n}\n",
            "f.conf:17:1",
            "server 7, which is not defined",
        ),
        (
            "announce {\nserver 1\nserver 1\n}\n",
            "f.conf:18:1",
            "announced twice",
        ),
        (
            "announce {\ninterface a-name-far-too-long\n}\n",
            "f.conf:16:1",
            "not a name the kernel takes",
        ),
        (
            "network 1 {\naddr 10.235.210.0\nmask 255.255.255.0\nreal 10.235.210.2\n}\n\
             vrrp {\nvrid 1\npriority 200\nnetwork 1\n}\nannounce {\n}\n",
            "f.conf:26:1",
            "announce and vrrp both own the VIPs",
        ),
    ];
    for (tail, at, message) in cases {
        let text = format!("{BASE}{tail}");
        let error = parse("f.conf", &text).unwrap_err().to_string();
        assert!(
            error.contains(at) && error.contains(message),
            "{tail:?}: {error}"
        );
    }
}
