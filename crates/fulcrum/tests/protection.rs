//! Per-server protection end to end: the real `fulcrum run` (proxy mode) in a network namespace
//! in front of a real Bind9, asked by the real `dig` and by paced UDP clients from another
//! namespace, flooded from one address and from 100 000 forged ones (a raw socket). What is
//! checked is what the clients got and what `show stats` counted: a flood is cut to its
//! client's limit while another client gets every answer; a flood of random sources leaves the
//! rate table at its stated size; `allow`/`deny` by prefix in both families, over UDP and TCP,
//! changed live; ANY queries limited apart, answered truncated with `rateaction tc`; and the
//! DSR plane in the seed's topology (`protection/dsr.rs`). Needs root, iproute2, bind9, dig,
//! tcpdump and nftables.

#[path = "protection/support.rs"]
mod support;

#[path = "protection/acl.rs"]
mod acl;

#[path = "protection/dsr.rs"]
mod dsr;

use std::net::SocketAddrV4;
use std::time::Duration;

use support::*;

/// `ratelimit 50,50`: one address floods at 2000 queries a second for 2 s while another asks
/// 20 a second. The flooder gets its burst and its rate, no more; the other every answer.
#[test]
fn a_flood_from_one_address_is_cut_to_its_limit_and_another_client_keeps_its_rate() {
    require_tools();
    let lab = ProtectLab::start("protflood1", "", "ratelimit 50,50\n", "");
    let steady = ask_at_rate_in_background(&lab.client, client4(2), vip4(), 20, 2, QTYPE_TXT);
    let flood = ask_at_rate(&lab.client, client4(1), vip4(), 2000, 2, QTYPE_TXT);
    let steady = steady
        .join()
        .unwrap_or_else(|_| panic!("steady client panicked"))
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("flood {flood:?}\nsteady {steady:?}");
    let allowed = 50.0 + 50.0 * (flood.seconds + 1.0);
    assert!(
        flood.answered >= 50 && (flood.answered as f64) <= allowed,
        "the flooder got {} answers of {} sent in {:.1} s (at most {allowed:.0} allowed)\n{}",
        flood.answered,
        flood.sent,
        flood.seconds,
        lab.logs()
    );
    assert_eq!(
        steady.answered, steady.sent,
        "the steady client: {steady:?}"
    );
    let dropped = lab.drops("proxy", "ratelimit");
    assert!(
        dropped > 0 && dropped + flood.answered <= flood.sent,
        "ratelimit drops {dropped}, flood {flood:?}\n{}",
        lab.control("show stats")
    );
}

/// `set ratetable 1024` and `ratelimit 20,20`: 100 000 queries from 100 000 forged sources
/// (5000 a second) while a client asks 10 a second. The table never holds more than its 1024
/// buckets nor changes its stated memory; no query of the client is refused (each forged
/// source sends one query, within its rate: what reaches the target is the backend's load, not
/// the limiter's doing); and the limit still holds afterwards: a burst from the client is cut.
#[test]
fn a_flood_of_random_sources_keeps_the_table_in_its_memory_and_a_client_served() {
    require_tools();
    let lab = ProtectLab::start(
        "protflood2",
        "set ratetable 1024\n",
        "ratelimit 20,20\n",
        "",
    );
    let stated = lab.control("show config");
    let (_, capacity, memory) = lab
        .table(1, "ratelimit")
        .unwrap_or_else(|| panic!("no table in show stats:\n{}", lab.control("show stats")));
    assert_eq!(capacity, 1024);
    assert!(
        stated.contains(&format!("1024 buckets, {memory} bytes each")),
        "{stated}"
    );
    let flood = spoofed_flood(
        &lab.client,
        SocketAddrV4::new(VIP4, 53),
        100_000,
        5_000,
        Duration::from_secs(25),
    );
    let steady = ask_at_rate(&lab.client, client4(3), vip4(), 10, 20, QTYPE_TXT);
    let sent = flood
        .join()
        .unwrap_or_else(|_| panic!("flood panicked"))
        .unwrap_or_else(|e| panic!("{e}"));
    let stats = lab.control("show stats");
    eprintln!("flood sent {sent}\nsteady {steady:?}\n{stats}");
    assert!(sent > 50_000, "the flood sent only {sent}");
    let (entries, capacity_after, memory_after) = lab
        .table(1, "ratelimit")
        .unwrap_or_else(|| panic!("no table:\n{stats}"));
    assert!(entries <= 1024, "{entries} entries");
    assert_eq!((capacity_after, memory_after), (1024, memory));
    assert_eq!(lab.drops("proxy", "ratelimit"), 0, "{stats}");
    assert!(
        steady.answered * 100 >= steady.sent * 95,
        "the steady client: {steady:?}\n{stats}"
    );
    let replaced: u64 = stats
        .lines()
        .find(|l| l.contains("proxy server 1 ratelimit:"))
        .and_then(|l| l.split(", ").last())
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        replaced + 1024 >= sent,
        "buckets replaced: {replaced}\n{stats}"
    );
    // 1000 at once from the client: its burst of 20 and about 20 more, the rest refused.
    let burst = ask_at_rate(&lab.client, client4(3), vip4(), 1000, 1, QTYPE_TXT);
    eprintln!("burst after the flood {burst:?}");
    assert!(burst.answered <= 45, "{burst:?}");
    assert!(lab.drops("proxy", "ratelimit") >= burst.sent - burst.answered);
}
