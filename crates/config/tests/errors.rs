//! Broken configurations, each with every error it must produce: exact line, column and
//! message. The valid part around each mistake is kept small but realistic, so that the position
//! arithmetic (1-based lines and columns) is exercised on real layouts.

/// A valid tail that defines target 1 and server 1; cases prepend or edit around it.
const OK_TARGET: &str = "target 1 {\nipaddr 10.0.0.1\n}\n";

fn errors_of(text: &str) -> Vec<String> {
    match fulcrum_config::parse("t.conf", text) {
        Ok(_) => vec!["(parsed without error)".to_string()],
        Err(d) => {
            d.0.iter()
                .map(|d| format!("{}:{}: {}", d.line, d.col, d.message))
                .collect()
        }
    }
}

/// (what, text, expected errors as "LINE:COL: MESSAGE")
fn cases() -> Vec<(&'static str, String, Vec<&'static str>)> {
    vec![
        (
            "misspelt vrrp option",
            "vrrp {\nvrid 7\n    prority 200\nnetwork 1\n}\nnetwork 1 {\n}\n".into(),
            vec!["3:5: found \"prority\", expected a vrrp option (vrid, priority, network, version, advert, preempt, notify, peer, authpass)"],
        ),
        (
            "misspelt statement",
            format!("servr 1 {{\nipaddr 10.0.0.9\ntargets 1\n}}\n{OK_TARGET}"),
            vec!["1:1: found \"servr\", expected a statement (hostname, license, set, modules, module, interface, vrrp, announce, network, gateway, server, target, register, unregister, enable, disable)"],
        ),
        (
            "vrid zero",
            "network 1 {\n}\nvrrp { vrid 0 priority 1 network 1 }\n".into(),
            vec!["3:13: found \"0\", expected a vrid from 1 to 255"],
        ),
        (
            "priority too high",
            "network 1 {\n}\nvrrp { vrid 1 priority 256 network 1 }\n".into(),
            vec!["3:24: found \"256\", expected a priority from 1 to 255"],
        ),
        (
            "server port zero",
            format!("server 1 {{\nipaddr 10.0.0.9\nport 0\ntargets 1\n}}\n{OK_TARGET}"),
            vec!["3:6: found \"0\", expected a port from 1 to 65535"],
        ),
        (
            "target port too high",
            "target 1 {\nipaddr 10.0.0.1\nport 70000\n}\n".into(),
            vec!["3:6: found \"70000\", expected a port from 1 to 65535"],
        ),
        (
            "bad IPv4 address",
            "network 1 {\naddr 10.0.0.256\n}\n".into(),
            vec!["2:6: found \"10.0.0.256\", expected an IPv4 address"],
        ),
        (
            "non-contiguous mask",
            "network 1 {\naddr 10.0.0.0\nmask 255.0.255.0\n}\n".into(),
            vec!["3:6: found \"255.0.255.0\", expected a contiguous netmask (such as 255.255.255.0)"],
        ),
        (
            "server address is not an address",
            format!("server 1 {{\nipaddr www\ntargets 1\n}}\n{OK_TARGET}"),
            vec!["2:8: found \"www\", expected an IPv4 or IPv6 address"],
        ),
        (
            "IPv6 server with an IPv4 target",
            format!("server 1 {{\nipaddr fd00::9\ntargets 1\n}}\n{OK_TARGET}"),
            vec!["2:1: server 1 has IPv6 address fd00::9 but its target 1 has IPv4 address 10.0.0.1"],
        ),
        (
            "IPv4 server with an IPv6 target among IPv4 ones",
            "server 1 {\nipaddr 10.0.0.9\ntargets 1,2\n}\ntarget 1 {\nipaddr 10.0.0.1\n}\n\
             target 2 {\n  ipaddr fd00::2\n}\n"
                .into(),
            vec!["2:1: server 1 has IPv4 address 10.0.0.9 but its target 2 has IPv6 address fd00::2"],
        ),
        (
            "bad IPv6 address",
            "network 1 {\naddr6 fd00::1::2\n}\n".into(),
            vec!["2:7: found \"fd00::1::2\", expected an IPv6 address"],
        ),
        (
            "IPv4 address for real6",
            "network 1 {\n  real6 10.0.0.1\n}\n".into(),
            vec!["2:9: found \"10.0.0.1\", expected an IPv6 address"],
        ),
        (
            "prefix length beyond 128",
            "network 1 {\naddr6 fd00:1::\nmask6 129\n}\n".into(),
            vec!["3:7: found \"129\", expected an IPv6 prefix length from 0 to 128 (such as 64)"],
        ),
        (
            "non-contiguous IPv6 mask",
            "network 1 {\naddr6 fd00:1::\nmask6 ffff::ffff\n}\n".into(),
            vec!["3:7: found \"ffff::ffff\", expected an IPv6 prefix length from 0 to 128 (such as 64)"],
        ),
        (
            "real6 and virt6 outside the prefix",
            "network 1 {\naddr6 fd00:1::\nmask6 64\nreal6 fd00:2::44\nvirt6 fd00:1::1\n}\n\
             network 2 {\naddr6 fd00:3::\nmask6 ffff:ffff:ffff:ffff::\nvirt6 fd00:4::1\n}\n"
                .into(),
            vec![
                "4:1: real6 fd00:2::44 is outside network 1 (fd00:1::/64)",
                "10:1: virt6 fd00:4::1 is outside network 2 (fd00:3::/64)",
            ],
        ),
        (
            "ping timeout equal to interval",
            "target 1 {\nipaddr 10.0.0.1\nping 5,5\n}\n".into(),
            vec!["3:8: found \"5\", expected a ping timeout greater than its interval (5)"],
        ),
        (
            "ping interval zero",
            "target 1 {\nipaddr 10.0.0.1\nping 0,5\n}\n".into(),
            vec!["3:6: found \"0\", expected a ping interval in seconds from 1 to 31536000"],
        ),
        (
            "agent check without its timeout",
            "target 1 {\nipaddr 10.0.0.1\nagent 439,5\n}\n".into(),
            vec!["4:1: found \"}\", expected \",\" and an agent timeout"],
        ),
        (
            "huge weight",
            "target 1 {\nipaddr 10.0.0.1\nweight 99999999999999999999999999\n}\n".into(),
            vec!["3:8: found \"99999999999999999999999999\", expected a weight from 0 to 65535"],
        ),
        (
            "target defined twice",
            format!("{OK_TARGET}target 1 {{\nipaddr 10.0.0.2\n}}\n"),
            vec!["4:1: target 1 is defined twice"],
        ),
        (
            "server uses an undefined target",
            format!("server 1 {{\nipaddr 10.0.0.9\ntargets 1,3\n}}\n{OK_TARGET}"),
            vec!["3:11: server 1 uses target 3, which is not defined"],
        ),
        (
            "server without targets",
            "server 4 {\nipaddr 10.0.0.9\n}\n".into(),
            vec!["1:1: server 4 has no targets"],
        ),
        (
            "enabled but not registered",
            format!("{OK_TARGET}enable target 1\n"),
            vec!["4:15: target 1 is enabled but not registered"],
        ),
        (
            "registering an undefined target",
            format!("{OK_TARGET}register targets 1-2\n"),
            vec!["4:18: cannot register target 2: it is not defined"],
        ),
        (
            "vrrp on an undefined network",
            "vrrp {\nvrid 7\npriority 200\nnetwork 2\n}\n".into(),
            vec!["4:1: vrrp uses network 2, which is not defined"],
        ),
        (
            "network on an undefined interface number",
            "interface eth1\nnetwork 1 {\ninterface 2\n}\n".into(),
            vec!["3:1: network 1 uses interface 2, which is not defined"],
        ),
        (
            "network on an undeclared interface name",
            "interface eth1\nnetwork 1 {\ninterface eth9\n}\n".into(),
            vec!["3:1: network 1 uses interface \"eth9\", which is not declared"],
        ),
        (
            "unterminated string",
            "network 1 {\nname \"local network\n}\n".into(),
            vec!["2:20: found end of line, expected '\"' to close the string opened at 2:6"],
        ),
        (
            "block not closed",
            "target 1 {\nipaddr 10.0.0.1\n".into(),
            vec!["3:1: found end of file, expected \"}\" to close the target block opened at 1:1"],
        ),
        (
            "block not opened",
            "target 1\nipaddr 10.0.0.1\n}\n".into(),
            vec!["2:1: found \"ipaddr\", expected \"{\" to open the target block"],
        ),
        (
            "reversed range",
            format!("server 1 {{\nipaddr 10.0.0.9\ntargets 3-1\n}}\n{OK_TARGET}"),
            vec!["3:9: found \"3-1\", expected a range from low to high (such as 1-3)"],
        ),
        (
            "misspelt protocol",
            "target 1 {\nipaddr 10.0.0.1\nprotocol tpc\n}\n".into(),
            vec!["3:10: found \"tpc\", expected a protocol (udp, tcp, any)"],
        ),
        (
            "unknown method",
            format!("server 1 {{\nipaddr 10.0.0.9\nmethod roundrobin\ntargets 1\n}}\n{OK_TARGET}"),
            vec!["3:8: found \"roundrobin\", expected a method (rr, random, hash, first, least, session, agent)"],
        ),
        (
            "dsr on",
            "target 1 {\nipaddr 10.0.0.1\ndsr on\n}\n".into(),
            vec!["3:5: found \"on\", expected enable or disable"],
        ),
        (
            "proxyprotocol 1",
            "target 1 {\nipaddr 10.0.0.1\nproxyprotocol 1\n}\n".into(),
            vec!["3:15: found \"1\", expected enable or disable"],
        ),
        (
            "proxyprotocol on a DSR target",
            "target 1 {\nipaddr 10.0.0.1\ndsr enable\n  proxyprotocol enable\n}\n".into(),
            vec!["4:3: proxyprotocol enable on target 1, which is a DSR target"],
        ),
        (
            "localdsr two",
            "set localdsr 2\n".into(),
            vec!["1:14: found \"2\", expected 0 or 1 for localdsr"],
        ),
        (
            "misspelt setting",
            "set sesiontimeout 5\n".into(),
            vec!["1:5: found \"sesiontimeout\", expected a setting (localdsr, sessiontimeout, maxsessions, synckey, agentkey, failopen, tcpmaxconn, tcpclientconn, tcpidle, tcpwrite, tcplifetime, metrics, upstreamsockets, ratetable, bmduration, bmpsize, bmwsize) or \"{\""],
        ),
        (
            "metrics without a port",
            "set metrics 127.0.0.1\n".into(),
            vec!["1:13: found \"127.0.0.1\", expected a metrics listener (ADDR:PORT such as 127.0.0.1:9153 or [::1]:9153, or off)"],
        ),
        (
            "metrics on port 0",
            "set metrics 127.0.0.1:0\n".into(),
            vec!["1:13: found \"127.0.0.1:0\", expected a metrics listener (ADDR:PORT such as 127.0.0.1:9153 or [::1]:9153, or off)"],
        ),
        (
            "empty sync key",
            "set synckey \"\"\n".into(),
            vec!["1:13: a sync key must not be empty"],
        ),
        (
            "empty agent key",
            "set agentkey \"\"\n".into(),
            vec!["1:14: an agent key must not be empty"],
        ),
        (
            "TCP idle timeout of zero",
            "set tcpidle 0\n".into(),
            vec!["1:13: found \"0\", expected a TCP idle timeout in seconds from 1 to 31536000"],
        ),
        (
            "TCP per-client cap of zero",
            "set tcpclientconn 0\n".into(),
            vec!["1:19: found \"0\", expected a TCP connection count per client from 1 to 1000000"],
        ),
        (
            "misspelt noun",
            format!("{OK_TARGET}register tragets 1\n"),
            vec!["4:10: found \"tragets\", expected what to register (network, server, target, interface)"],
        ),
        (
            "VRRPv2 advert in milliseconds",
            "network 1 {\n}\nvrrp {\nvrid 7\npriority 200\nnetwork 1\nadvert 100ms\n}\n".into(),
            vec!["7:1: VRRP version 2 needs an advert of whole seconds from 1s to 255s, found 100ms"],
        ),
        (
            "real address outside its network",
            "network 1 {\naddr 10.0.0.0\nmask 255.255.255.0\nreal 10.0.1.5\n}\n".into(),
            vec!["4:1: real 10.0.1.5 is outside network 1 (10.0.0.0/24)"],
        ),
        (
            "target without an address",
            "target 1 {\nport 53\n}\n".into(),
            vec!["1:1: target 1 has no ipaddr"],
        ),
        (
            "option given twice",
            "target 1 {\nipaddr 10.0.0.1\nport 53\nport 54\n}\n".into(),
            vec!["4:1: \"port\" is given twice in this target block"],
        ),
        (
            "vrrp peer given twice, peer is ourselves, peer is multicast",
            "network 1 {\nreal 10.0.0.5\n}\nvrrp {\nvrid 7\npriority 200\nnetwork 1\npeer 10.0.0.6\n  peer 10.0.0.6\npeer 10.0.0.5\npeer 224.0.0.18\n}\n".into(),
            vec![
                "9:3: peer 10.0.0.6 is given twice",
                "10:1: peer 10.0.0.5 is this node's own real address",
                "11:1: peer 224.0.0.18 is not a unicast address",
            ],
        ),
        (
            "vrrp peer that is not an address",
            "network 1 {\n}\nvrrp {\nvrid 7\npriority 200\nnetwork 1\npeer ns0b\n}\n".into(),
            vec!["7:6: found \"ns0b\", expected an IPv4 address"],
        ),
        (
            "authpass too long, and with version 3",
            "network 1 {\n}\nvrrp {\nvrid 7\npriority 200\nnetwork 1\nauthpass \"123456789\"\n}\n".into(),
            vec!["7:1: authpass needs 1 to 8 bytes, found 9"],
        ),
        (
            "authpass with version 3",
            "network 1 {\n}\nvrrp {\nvrid 7\npriority 200\nnetwork 1\nversion 3\nauthpass secret\n}\n".into(),
            vec!["8:1: VRRP version 3 has no authentication"],
        ),
        (
            "vrrp without priority",
            "network 1 {\n}\nvrrp {\nvrid 7\nnetwork 1\n}\n".into(),
            vec!["3:1: vrrp has no priority"],
        ),
        (
            "bad zone name",
            "target 1 {\nipaddr 10.0.0.1\ndns bad..zone,5,10\n}\n".into(),
            vec!["3:5: found \"bad..zone\", expected a DNS zone name (such as example.com)"],
        ),
        (
            "stray brace at top level",
            format!("}}\n{OK_TARGET}"),
            vec!["1:1: found \"}\", expected a statement (hostname, license, set, modules, module, interface, vrrp, announce, network, gateway, server, target, register, unregister, enable, disable)"],
        ),
        (
            "two interfaces with one name",
            "interface 1 {\nname eth1\n}\ninterface 2 {\nname eth1\n}\n".into(),
            vec!["4:1: interface 2 has the name \"eth1\" of interface 1"],
        ),
        (
            "hostname given twice",
            "hostname a\nhostname b\n".into(),
            vec!["2:1: hostname is given twice"],
        ),
        (
            "every syntax error is reported, each statement recovers",
            "hostname\ntarget 1 {\nipaddr 10.0.0.1\nping 5,x\nweight -1\n}\nbogus 1 2 3\nset localdsr yes\n".into(),
            vec![
                "2:1: found \"target\", expected a host name",
                "4:8: found \"x\", expected a ping timeout in seconds from 1 to 31536000",
                "5:8: found \"-1\", expected a weight from 0 to 65535",
                "7:1: found \"bogus\", expected a statement (hostname, license, set, modules, module, interface, vrrp, announce, network, gateway, server, target, register, unregister, enable, disable)",
                "8:14: found \"yes\", expected 0 or 1 for localdsr",
            ],
        ),
        (
            "every semantic error is reported",
            "server 1 {\nipaddr 10.0.0.9\ntargets 7\n}\nenable server 1\ntarget 2 {\nport 53\n}\n".into(),
            vec![
                "3:9: server 1 uses target 7, which is not defined",
                "5:15: server 1 is enabled but not registered",
                "6:1: target 2 has no ipaddr",
            ],
        ),
        (
            "a mistake on the line after a bad value is reported too",
            "network 1 {\n}\nvrrp {\nvrid 0\nprority 2\nnetwork 1\n}\n".into(),
            vec![
                "4:6: found \"0\", expected a vrid from 1 to 255",
                "5:1: found \"prority\", expected a vrrp option (vrid, priority, network, version, advert, preempt, notify, peer, authpass)",
            ],
        ),
        (
            "unclosed block meets the next statement",
            "target 1 {\nipaddr 10.0.0.1\nserver 1 {\nipaddr 10.0.0.9\ntargets 1\n}\n".into(),
            vec!["3:1: found \"server\", expected \"}\" to close the target block opened at 1:1"],
        ),
    ]
}

#[test]
fn broken_configurations_report_exact_positions_and_messages() {
    let cases = cases();
    assert!(cases.len() >= 25);
    let mut failures = Vec::new();
    for (what, text, expected) in &cases {
        let got = errors_of(text);
        if got != *expected {
            failures.push(format!(
                "{what}:\n  expected {expected:#?}\n  got      {got:#?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn notes_and_suggestions() {
    let notes = |text: &str| -> Vec<Vec<String>> {
        fulcrum_config::parse("t.conf", text)
            .unwrap_err()
            .0
            .into_iter()
            .map(|d| d.notes)
            .collect()
    };
    assert_eq!(
        notes("vrrp {\nvrid 7\nprority 200\n}\n"),
        vec![vec!["help: did you mean \"priority\"?".to_string()]]
    );
    assert_eq!(
        notes("servr 1 {\n}\n"),
        vec![vec!["help: did you mean \"server\"?".to_string()]]
    );
    assert_eq!(
        notes(&format!("{OK_TARGET}target 1 {{\nipaddr 10.0.0.2\n}}\n")),
        vec![vec!["note: first defined at 1:1".to_string()]]
    );
    assert_eq!(
        notes("target 1 {\nipaddr 10.0.0.1\nprotocol tpc\n}\n"),
        vec![vec!["help: did you mean \"tcp\"?".to_string()]]
    );
}

/// The rendering an operator sees from `fulcrum check`.
#[test]
fn display_shows_line_caret_and_help() {
    let text = "vrrp {\nvrid 7\n    prority 200\nnetwork 1\n}\nnetwork 1 {\n}\n";
    let shown = fulcrum_config::parse("ns0a.conf", text)
        .unwrap_err()
        .to_string();
    assert_eq!(
        shown,
        "ns0a.conf:3:5: error: found \"prority\", expected a vrrp option (vrid, priority, network, version, advert, preempt, notify, peer, authpass)\n    prority 200\n    ^\nhelp: did you mean \"priority\"?\n"
    );
}

/// Garbage of every sort yields errors, never a panic, and positions inside the text.
#[test]
fn garbage_is_rejected_with_positions_inside_the_text() {
    let long_number = format!("target 1 {{ ipaddr 10.0.0.1 port {} }}", "9".repeat(500));
    let deep = "{".repeat(10_000) + &"}".repeat(3);
    let lossy = String::from_utf8_lossy(b"target \xff\xfe { ipaddr \x00 }").into_owned();
    for text in [
        long_number.as_str(),
        deep.as_str(),
        lossy.as_str(),
        "\"",
        "target",
        "register",
        "register targets 1-65535",
        "target 1 { ping 1, }",
        ",,,,",
        "set {",
        "interface 0 { }",
    ] {
        let errors = fulcrum_config::parse("g.conf", text).unwrap_err();
        let lines: Vec<&str> = text.split('\n').collect();
        for d in &errors.0 {
            let line = lines
                .get(d.line as usize - 1)
                .expect("line inside the text");
            assert!(d.col as usize <= line.chars().count() + 1, "{d:?}");
        }
    }
}
