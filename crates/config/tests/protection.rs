//! The protection options of a server block: what they load to, how they print back, how a live
//! block changes them, and the errors of broken ones with their exact positions.

use fulcrum_core::protect::{Action, OverLimit, Rate};

const BASE: &str = "target 1 {\nipaddr 10.0.0.1\n}\n";

fn server(options: &str) -> String {
    format!("server 1 {{\nipaddr 10.0.0.9\ntargets 1\n{options}}}\n{BASE}")
}

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

#[test]
fn every_option_loads_prints_and_reads_back() {
    let text = format!(
        "set ratetable 1024\n{}",
        server(
            "deny all\nallow 10.1.0.0/16,2001:db8::/32\ndeny 10.1.2.3\nratelimit 100,200\n\
             anylimit 5,10\nbytelimit 100000,20000\nrateprefix 24,56\nrateaction tc\n"
        )
    );
    let config = fulcrum_config::parse("t.conf", &text).unwrap();
    let policy = &config.servers[&1].protection;
    let rules: Vec<(Action, String)> = policy
        .acl
        .iter()
        .map(|r| (r.action, r.prefix.to_string()))
        .collect();
    assert_eq!(
        rules,
        [
            (Action::Deny, "0.0.0.0/0".to_string()),
            (Action::Deny, "::/0".to_string()),
            (Action::Allow, "10.1.0.0/16".to_string()),
            (Action::Allow, "2001:db8::/32".to_string()),
            (Action::Deny, "10.1.2.3/32".to_string()),
        ]
    );
    assert_eq!(
        policy.ratelimit,
        Some(Rate {
            qps: 100,
            burst: 200
        })
    );
    assert_eq!(policy.anylimit, Some(Rate { qps: 5, burst: 10 }));
    assert_eq!(
        policy.bytelimit,
        Some(Rate {
            qps: 100_000,
            burst: 20_000
        })
    );
    assert_eq!((policy.v4_prefix, policy.v6_prefix), (24, 56));
    assert_eq!(policy.over_limit, OverLimit::Truncate);
    assert_eq!(config.settings.rate_table, 1024);

    let printed = fulcrum_config::print(&config, "now");
    for line in [
        "set ratetable 1024\n",
        "// rate limits: 3 table(s) of 1024 buckets, ",
        "deny 0.0.0.0/0\ndeny ::/0\nallow 10.1.0.0/16\nallow 2001:db8::/32\ndeny 10.1.2.3/32\n",
        "ratelimit 100,200\nanylimit 5,10\nbytelimit 100000,20000\nrateprefix 24,56\nrateaction tc\n",
    ] {
        assert!(printed.contains(line), "{line:?} in\n{printed}");
    }
    assert_eq!(fulcrum_config::parse("t.conf", &printed).unwrap(), config);
}

#[test]
fn a_live_block_with_rules_replaces_the_list_and_off_removes_a_limit() {
    let base = fulcrum_config::parse(
        "t.conf",
        &server("deny 192.0.2.0/24\nratelimit 10,20\nanylimit 1,2\n"),
    )
    .unwrap();
    let changed =
        fulcrum_config::apply(&base, "shell", "server 1 { allow 192.0.2.7 anylimit off }").unwrap();
    let policy = &changed.servers[&1].protection;
    assert_eq!(policy.acl.len(), 1);
    assert_eq!(policy.acl[0].action, Action::Allow);
    assert_eq!(policy.ratelimit, Some(Rate { qps: 10, burst: 20 }), "kept");
    assert_eq!(policy.anylimit, None);
    // A block that names no rule keeps them.
    let kept = fulcrum_config::apply(&changed, "shell", "server 1 { ratelimit 5,5 }").unwrap();
    assert_eq!(kept.servers[&1].protection.acl, policy.acl);
    // The list repeats; other options may not.
    assert!(
        fulcrum_config::apply(&base, "shell", "server 1 { allow 10.0.0.1 allow 10.0.0.2 }").is_ok()
    );
}

#[test]
fn broken_options_name_their_position() {
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            server("allow 10.0.0.0/33\n"),
            vec!["4:7: found \"10.0.0.0/33\", expected an address prefix to allow (such as 192.0.2.0/24, 2001:db8::/32, 192.0.2.7 or all)"],
        ),
        (
            server("deny 10.0.0.0/8,fe80::/200\n"),
            vec!["4:17: found \"fe80::/200\", expected an address prefix to deny (such as 192.0.2.0/24, 2001:db8::/32, 192.0.2.7 or all)"],
        ),
        (
            server("ratelimit 0,10\n"),
            vec!["4:11: found \"0\", expected queries per second for ratelimit (or off) from 1 to 1000000"],
        ),
        (
            server("anylimit 5\n"),
            vec!["5:1: found \"}\", expected \",\" and a burst for anylimit"],
        ),
        (
            server("bytelimit 1000,3000000\n"),
            vec!["4:16: found \"3000000\", expected a burst in bytes for bytelimit from 1 to 2000000"],
        ),
        (
            server("rateprefix 33,64\n"),
            vec!["4:12: found \"33\", expected an IPv4 prefix length from 0 to 32"],
        ),
        (
            server("rateaction reject\n"),
            vec!["4:12: found \"reject\", expected a rate action (drop, tc)"],
        ),
        (
            server("ratelimit 1,1\nratelimit 2,2\n"),
            vec!["5:1: \"ratelimit\" is given twice in this server block"],
        ),
        (
            format!("set ratetable 10\n{BASE}"),
            vec!["1:15: found \"10\", expected a rate table size in buckets from 64 to 16777216"],
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(errors_of(&text), expected, "{text}");
    }
}

#[test]
fn tc_on_a_dsr_server_warns_that_it_drops() {
    let text = "server 1 {\nipaddr 10.0.0.9\ntargets 1\nratelimit 5,5\nrateaction tc\n}\n\
                target 1 {\nipaddr 10.0.0.1\ndsr enable\n}\n";
    let loaded = fulcrum_config::load("t.conf", text).unwrap();
    let warnings: Vec<String> = loaded
        .warnings
        .0
        .iter()
        .map(|d| format!("{}:{}: {}", d.line, d.col, d.message))
        .collect();
    assert_eq!(
        warnings,
        ["5:1: rateaction tc of server 1 acts as drop for its DSR targets: the DSR plane forwards frames and builds no answers"]
    );
    let proxied = text.replace("dsr enable\n", "");
    assert!(fulcrum_config::load("t.conf", &proxied)
        .unwrap()
        .warnings
        .0
        .is_empty());
}
