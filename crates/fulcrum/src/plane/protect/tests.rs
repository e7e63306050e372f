//! The order of the checks, the ANY test, the truncated answer's bytes and the tables' life
//! across rebuilds.

use super::*;

/// A query for `example.com` of `qtype`, ID 0x1234, RD set, with an EDNS OPT record.
fn query(qtype: u16) -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 0x01, 0x20, 0, 1, 0, 0, 0, 0, 0, 1];
    q.extend_from_slice(b"\x07example\x03com\x00");
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    q.extend_from_slice(&[0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0]);
    q
}

fn config(text: &str) -> Config {
    let base = "target 1 {\nipaddr 10.0.0.1\n}\n";
    fulcrum_config::parse(
        "t.conf",
        &format!("server 1 {{\nipaddr 10.0.0.9\ntargets 1\n{text}}}\n{base}"),
    )
    .unwrap()
}

fn refused(reason: DropReason) -> Verdict {
    Verdict::Refuse {
        reason,
        action: OverLimit::Drop,
    }
}

#[test]
fn any_is_read_from_the_question() {
    assert!(asks_for_any(&query(255)));
    assert!(!asks_for_any(&query(1)));
    assert!(!asks_for_any(&query(255)[..20]), "cut short");
    assert!(!asks_for_any(&[]));
}

#[test]
fn the_acl_comes_first_then_the_rate_then_any() {
    let mut guards = Guards::default();
    guards.refresh(
        &config("deny 192.0.2.0/24\nratelimit 1,2\nanylimit 1,1\n"),
        [1, 2],
        true,
    );
    let guard = guards.get(1).unwrap();
    let denied: IpAddr = "192.0.2.1".parse().unwrap();
    let client: IpAddr = "198.51.100.1".parse().unwrap();
    let any = query(255);
    for _ in 0..5 {
        assert_eq!(guard.check(denied, Some(&any), 0), refused(DropReason::Acl));
    }
    assert_eq!(guard.check(client, Some(&any), 0), Verdict::Admit);
    assert_eq!(
        guard.check(client, Some(&any), 0),
        refused(DropReason::AnyLimit),
        "the second ANY at once"
    );
    assert_eq!(
        guard.check(client, Some(&query(1)), 0),
        refused(DropReason::RateLimit),
        "two tokens taken"
    );
    assert_eq!(guard.check(client, Some(&query(1)), 1000), Verdict::Admit);
    assert!(guards.get(2).is_none());
}

#[test]
fn tables_outlive_a_rebuild_and_go_with_their_limit() {
    let mut guards = Guards::default();
    let limited = config("ratelimit 1,1\nrateaction tc\n");
    guards.refresh(&limited, [1], true);
    let client: IpAddr = "198.51.100.1".parse().unwrap();
    assert_eq!(
        guards.get(1).unwrap().check(client, None, 0),
        Verdict::Admit
    );
    guards.refresh(&limited, [1], true);
    assert_eq!(
        guards.get(1).unwrap().check(client, None, 0),
        Verdict::Refuse {
            reason: DropReason::RateLimit,
            action: OverLimit::Truncate
        },
        "the bucket survived the rebuild"
    );
    let usage = guards.usage();
    assert_eq!(usage.len(), 1);
    assert_eq!((usage[0].entries, usage[0].capacity), (1, 65_536));
    assert_eq!(usage[0].memory_bytes, RateTable::memory_for(65_536));
    guards.refresh(&limited, [], true);
    assert!(guards.get(1).is_none(), "a server the plane does not serve");
    guards.refresh(&config(""), [1], true);
    assert!(guards.get(1).is_none());
    assert!(guards.usage().is_empty());
}

#[test]
fn a_truncated_answer_is_the_question_with_qr_and_tc() {
    let q = query(255);
    let mut out = [0u8; 512];
    let len = truncated_answer(&q, &mut out).unwrap();
    let mut expected = vec![0x12, 0x34, 0x83, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    expected.extend_from_slice(b"\x07example\x03com\x00\x00\xff\x00\x01");
    assert_eq!(&out[..len], &expected[..]);
    // Not a standard query (NOTIFY), an answer, a runt: nothing to send.
    let mut notify = q.clone();
    notify[2] = 0x20;
    assert_eq!(truncated_answer(&notify, &mut out), None);
    let mut answer = q.clone();
    answer[2] |= 0x80;
    assert_eq!(truncated_answer(&answer, &mut out), None);
    assert_eq!(truncated_answer(&q[..5], &mut out), None);
    assert_eq!(truncated_answer(&q, &mut [0u8; 16]), None, "no room");
}

#[test]
fn a_byte_budget_is_charged_by_answers_and_only_where_answers_pass() {
    let policy = config("bytelimit 1000,1500\n");
    let client: IpAddr = "198.51.100.1".parse().unwrap();
    let mut proxy = Guards::default();
    proxy.refresh(&policy, [1], true);
    let guard = proxy.get(1).unwrap();
    assert_eq!(guard.check(client, None, 0), Verdict::Admit);
    guard.charge_answer(client, 1200, 0);
    assert_eq!(
        guard.check(client, None, 0),
        Verdict::Admit,
        "300 bytes left"
    );
    guard.charge_answer(client, 1200, 0);
    assert_eq!(guard.check(client, None, 0), refused(DropReason::ByteLimit));
    assert_eq!(guard.check(client, None, 1000), Verdict::Admit, "paid back");
    let mut dsr = Guards::default();
    dsr.refresh(&policy, [1], false);
    assert!(dsr.usage().is_empty(), "no table where answers never pass");
}
