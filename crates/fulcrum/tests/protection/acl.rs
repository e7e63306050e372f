//! `allow`/`deny` by prefix in both families, over UDP and TCP, changed live; `anylimit` with
//! `rateaction tc`; `ratelimit` over TCP; `bytelimit`.

use super::support::*;

#[test]
fn allow_and_deny_by_prefix_in_both_families_over_udp_and_tcp_and_live() {
    require_tools();
    let lab = ProtectLab::start(
        "protacl",
        "",
        "deny 192.0.2.0/28\nallow 192.0.2.7\n",
        "deny 2001:db8::/64\nallow 2001:db8::7/128,2001:db8::14\n",
    );
    for tcp in [false, true] {
        let how = if tcp { "tcp" } else { "udp" };
        assert!(
            lab.dig(client4(7), vip4(), tcp).is_some(),
            "192.0.2.7 ({how})"
        );
        assert!(
            lab.dig(client4(8), vip4(), tcp).is_none(),
            "192.0.2.8 ({how})"
        );
        assert!(
            lab.dig(client4(16), vip4(), tcp).is_some(),
            "192.0.2.16 ({how})"
        );
        assert!(
            lab.dig(client6(7), vip6(), tcp).is_some(),
            "2001:db8::7 ({how})"
        );
        assert!(
            lab.dig(client6(8), vip6(), tcp).is_none(),
            "2001:db8::8 ({how})"
        );
    }
    // Two UDP and two TCP refusals in each family: counted on the proxy plane.
    assert_eq!(
        lab.drops("proxy", "acl"),
        4,
        "{}",
        lab.control("show stats")
    );
    let config = lab.control("show config");
    assert!(
        config.contains("deny 192.0.2.0/28\nallow 192.0.2.7/32\n"),
        "{config}"
    );
    assert!(
        config.contains("deny 2001:db8::/64\nallow 2001:db8::7/128\nallow 2001:db8::14/128\n"),
        "{config}"
    );

    // Live: a block naming rules replaces the list.
    lab.control("server 1 { allow all deny 192.0.2.7 }");
    assert!(
        lab.dig(client4(8), vip4(), false).is_some(),
        "192.0.2.8 now allowed"
    );
    assert!(
        lab.dig(client4(7), vip4(), false).is_none(),
        "192.0.2.7 now denied"
    );
    lab.control("server 2 { allow all }");
    assert!(
        lab.dig(client6(8), vip6(), true).is_some(),
        "2001:db8::8 now allowed"
    );
}

/// `anylimit 3,3` with `rateaction tc`: of 20 ANY queries at once, 3 are answered by Bind9 and
/// the rest get an empty truncated answer; ordinary queries from the same client are all served.
#[test]
fn any_queries_are_limited_apart_and_answered_truncated() {
    require_tools();
    let lab = ProtectLab::start("protany", "", "anylimit 3,3\nrateaction tc\n", "");
    let any = ask_at_rate(&lab.client, client4(4), vip4(), 200, 1, QTYPE_ANY);
    // 200 ANY in one second: 3 of the burst and about 3 more from the rate are real answers.
    assert_eq!(any.answered, any.sent, "every ANY gets an answer: {any:?}");
    let real = any.answered - any.truncated;
    assert!(
        (3..=8).contains(&real),
        "{real} real answers to ANY: {any:?}\n{}",
        lab.logs()
    );
    let txt = ask_at_rate(&lab.client, client4(4), vip4(), 100, 1, QTYPE_TXT);
    assert_eq!((txt.answered, txt.truncated), (txt.sent, 0), "{txt:?}");
    assert_eq!(lab.drops("proxy", "any-limit"), any.truncated);
    assert_eq!(lab.drops("proxy", "ratelimit"), 0);
}

/// `ratelimit 1,3` over TCP: of 10 queries pipelined on one connection (IPv6), the burst of 3
/// is answered (a fourth if a second passes while they are read), the rest skipped and
/// counted. `rateprefix 32,128` gives each IPv6 address its own bucket: by the default /64 the
/// readiness check's client, 2001:db8::14, would share this one's.
#[test]
fn a_rate_limit_holds_over_tcp() {
    require_tools();
    let lab = ProtectLab::start("prottcp", "", "", "ratelimit 1,3\nrateprefix 32,128\n");
    let answered = tcp_pipelined(&lab.client, client6(5), vip6(), 10);
    assert!(
        (3..=4).contains(&answered),
        "{answered} answered\n{}",
        lab.logs()
    );
    assert_eq!(
        lab.drops("proxy", "ratelimit"),
        u64::from(10 - answered),
        "{}",
        lab.control("show stats")
    );
}

/// `bytelimit 500,1500`: 100 queries in one second for a TXT answer of about 470 bytes. The
/// budget, 1500 bytes and 500 more in that second, pays for about four answers (the last one may
/// overdraw it: it is charged once sent); every other query is refused and counted.
#[test]
fn a_byte_budget_limits_the_answers_a_client_gets() {
    require_tools();
    let lab = ProtectLab::start("protbytes", "", "bytelimit 500,1500\n", "");
    let asked = ask_name_at_rate(&lab.client, client4(6), vip4(), 100, 1, BIG);
    assert!(
        (3..=6).contains(&asked.answered),
        "{asked:?}\n{}",
        lab.control("show stats")
    );
    assert_eq!(
        lab.drops("proxy", "byte-limit"),
        asked.sent - asked.answered
    );
    // Another client has its own budget.
    assert!(lab.dig(client4(9), vip4(), false).is_some());
}
