//! Each method alone, then its distribution over 100,000 clients.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::hashing::mix64;
use super::maglev::TABLE_SIZE;
use super::*;

const CLIENTS: u32 = 100_000;

fn candidate(id: u32, weight: u32) -> Candidate {
    Candidate {
        id,
        weight,
        operational: true,
        agent_value: None,
    }
}

fn down(mut c: Candidate) -> Candidate {
    c.operational = false;
    c
}

/// Distinct, scattered client addresses (a bijection of the index, so no duplicates).
fn client(index: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(
        (index.wrapping_mul(2_654_435_761)) ^ 0x0A00_0000,
    ))
}

fn no_sessions(_: u32) -> u64 {
    0
}

fn pick(chooser: &Chooser, client: IpAddr) -> Option<u32> {
    chooser.pick(client, 0, 0, &no_sessions)
}

/// Counts per target over `CLIENTS` picks made by `choose(i)`.
fn tally(mut choose: impl FnMut(u32) -> Option<u32>) -> BTreeMap<u32, u32> {
    let mut counts = BTreeMap::new();
    for i in 0..CLIENTS {
        if let Some(id) = choose(i) {
            *counts.entry(id).or_insert(0) += 1;
        }
    }
    counts
}

/// Asserts each target's share is within `tolerance` (absolute fraction) of weight / total.
fn assert_shares(counts: &BTreeMap<u32, u32>, weights: &[(u32, u32)], tolerance: f64) {
    let total_weight: u32 = weights.iter().map(|&(_, w)| w).sum();
    let total: u32 = counts.values().sum();
    for &(id, weight) in weights {
        let expected = f64::from(weight) / f64::from(total_weight);
        let got = f64::from(counts.get(&id).copied().unwrap_or(0)) / f64::from(total);
        assert!(
            (got - expected).abs() <= tolerance,
            "target {id}: share {got:.4}, expected {expected:.4} (counts {counts:?})"
        );
    }
}

#[test]
fn client_hash_matches_every_seed_row() {
    let fixture = include_str!("../../../../tests/fixtures/seed-show-sessions.txt");
    let mut checked = 0;
    for line in fixture.lines().skip(3) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(hash), Some(address)) = (fields.first(), fields.get(1)) else {
            continue;
        };
        let Ok(hash) = hash.parse::<u32>() else {
            continue;
        };
        let address: IpAddr = address.parse().expect("seed address");
        assert_eq!(client_hash(address), hash, "{address}");
        checked += 1;
    }
    assert_eq!(checked, 11);
    assert_eq!(client_hash("10.1.60.5".parse().unwrap()), 80901);
}

#[test]
fn client_hash_of_ipv6_is_a_24_bit_fold() {
    let a: IpAddr = "2001:db8::1".parse().unwrap();
    let b: IpAddr = "2001:db8::2".parse().unwrap();
    assert!(client_hash(a) < 1 << 24);
    assert_ne!(client_hash(a), client_hash(b));
    // Low 24 bits 0x000001 xor the rest: 0x2001_0db8 << 96 spreads over the top groups.
    let bits = u128::from("2001:db8::1".parse::<Ipv6Addr>().unwrap());
    let mut expected = 0u128;
    for shift in (0..128).step_by(24) {
        expected ^= (bits >> shift) & 0xFF_FFFF;
    }
    assert_eq!(u128::from(client_hash(a)), expected);
}

#[test]
fn rr_interleaves_three_to_one() {
    let chooser = Chooser::new(Method::Rr, vec![candidate(1, 3), candidate(2, 1)]);
    let turns: Vec<u32> = (0..8)
        .map(|n| chooser.pick(client(0), n, 0, &no_sessions).unwrap())
        .collect();
    assert_eq!(turns, [1, 1, 2, 1, 1, 1, 2, 1]);
}

#[test]
fn rr_gives_weight_zero_nothing_and_skips_down_targets() {
    let chooser = Chooser::new(
        Method::Rr,
        vec![candidate(1, 0), candidate(2, 2), down(candidate(3, 5))],
    );
    for n in 0..20 {
        assert_eq!(chooser.pick(client(0), n, 0, &no_sessions), Some(2));
    }
}

#[test]
fn rr_distribution_follows_weights() {
    let weights = [(1, 5), (2, 3), (3, 2), (4, 7)];
    let chooser = Chooser::new(
        Method::Rr,
        weights.iter().map(|&(id, w)| candidate(id, w)).collect(),
    );
    let counts = tally(|i| chooser.pick(client(i), u64::from(i), 0, &no_sessions));
    assert_shares(&counts, &weights, 0.001);
}

#[test]
fn rr_scales_huge_weights_into_a_bounded_cycle() {
    let weights = [(1, 3_000_000_000), (2, 1_000_000_000), (3, 7)];
    let rr = RoundRobin::new(&weights);
    assert!(rr.cycle_len() as u64 <= MAX_SCHEDULE + 3);
    let counts = tally(|i| rr.pick(u64::from(i)));
    assert!(
        counts.get(&3).copied().unwrap_or(0) > 0,
        "a tiny weight keeps a turn"
    );
    assert_shares(&counts, &[(1, 3), (2, 1)], 0.01);
}

#[test]
fn random_distribution_follows_weights() {
    let weights = [(1, 1), (2, 2), (3, 7)];
    let chooser = Chooser::new(
        Method::Random,
        weights.iter().map(|&(id, w)| candidate(id, w)).collect(),
    );
    let counts = tally(|i| chooser.pick(client(0), 0, mix64(u64::from(i)), &no_sessions));
    assert_shares(&counts, &weights, 0.01);
}

#[test]
fn random_extremes_stay_in_range() {
    let chooser = Chooser::new(Method::Random, vec![candidate(4, 1), candidate(9, 1)]);
    assert_eq!(chooser.pick(client(0), 0, 0, &no_sessions), Some(4));
    assert_eq!(chooser.pick(client(0), 0, u64::MAX, &no_sessions), Some(9));
}

#[test]
fn first_takes_the_lowest_operational_id() {
    let chooser = Chooser::new(
        Method::First,
        vec![candidate(7, 1), down(candidate(2, 1)), candidate(5, 1)],
    );
    assert_eq!(pick(&chooser, client(1)), Some(5));
    let none = Chooser::new(Method::First, vec![down(candidate(1, 1))]);
    assert_eq!(pick(&none, client(1)), None);
}

#[test]
fn least_takes_fewest_sessions_ties_to_lowest_id() {
    let chooser = Chooser::new(
        Method::Least,
        vec![
            candidate(3, 1),
            candidate(1, 1),
            candidate(2, 1),
            down(candidate(4, 1)),
        ],
    );
    let sessions = |id: u32| match id {
        1 => 10,
        2 => 4,
        3 => 4,
        _ => 0,
    };
    assert_eq!(chooser.pick(client(0), 0, 0, &sessions), Some(2));
    assert_eq!(chooser.pick(client(0), 0, 0, &|_| 0), Some(1));
}

#[test]
fn least_spreads_clients_evenly_when_fed_its_own_counts() {
    let chooser = Chooser::new(Method::Least, (1..=4).map(|id| candidate(id, 1)).collect());
    let mut counts = BTreeMap::new();
    for i in 0..CLIENTS {
        let snapshot = counts.clone();
        let id = chooser
            .pick(client(i), 0, 0, &|id| {
                snapshot.get(&id).copied().unwrap_or(0)
            })
            .unwrap();
        *counts.entry(id).or_insert(0u64) += 1;
    }
    assert!(counts.values().all(|&c| c == u64::from(CLIENTS) / 4));
}

#[test]
fn agent_takes_lowest_value_ties_by_hash() {
    let with_value = |id, value| Candidate {
        agent_value: Some(value),
        ..candidate(id, 1)
    };
    let chooser = Chooser::new(
        Method::Agent,
        vec![
            with_value(1, 50),
            with_value(2, 10),
            with_value(3, 10),
            candidate(4, 1),
        ],
    );
    let counts = tally(|i| pick(&chooser, client(i)));
    assert_eq!(counts.keys().copied().collect::<Vec<_>>(), [2, 3]);
    assert_shares(&counts, &[(2, 1), (3, 1)], 0.01);
    // The same client always gets the same one of the tied targets.
    assert_eq!(pick(&chooser, client(77)), pick(&chooser, client(77)));
}

#[test]
fn agent_without_values_falls_back_to_hash() {
    let candidates = vec![candidate(1, 1), candidate(2, 1)];
    let agent = Chooser::new(Method::Agent, candidates.clone());
    let hash = Chooser::new(Method::Hash, candidates);
    for i in 0..1000 {
        assert_eq!(pick(&agent, client(i)), pick(&hash, client(i)));
    }
}

#[test]
fn hash_distribution_follows_weights() {
    let weights = [(1, 1), (2, 1), (3, 2), (4, 4)];
    let chooser = Chooser::new(
        Method::Hash,
        weights.iter().map(|&(id, w)| candidate(id, w)).collect(),
    );
    let counts = tally(|i| pick(&chooser, client(i)));
    assert_shares(&counts, &weights, 0.01);
}

#[test]
fn hash_is_independent_of_candidate_order_and_ipv6_works() {
    let forward = Chooser::new(Method::Hash, (1..=5).map(|id| candidate(id, 1)).collect());
    let backward = Chooser::new(
        Method::Hash,
        (1..=5).rev().map(|id| candidate(id, 1)).collect(),
    );
    for i in 0..10_000 {
        assert_eq!(pick(&forward, client(i)), pick(&backward, client(i)));
    }
    let counts = tally(|i| {
        let v6 = IpAddr::V6(Ipv6Addr::from(0x2001_0db8_u128 << 96 | u128::from(i)));
        pick(&forward, v6)
    });
    assert_shares(&counts, &[(1, 1), (2, 1), (3, 1), (4, 1), (5, 1)], 0.01);
}

#[test]
fn hash_down_target_moves_only_its_own_clients() {
    let weights = [(1, 1), (2, 1), (3, 2), (4, 1), (5, 1)];
    let all: Vec<Candidate> = weights.iter().map(|&(id, w)| candidate(id, w)).collect();
    let before = Chooser::new(Method::Hash, all.clone());
    let mut without_3 = all.clone();
    without_3[2].operational = false;
    let after = Chooser::new(Method::Hash, without_3);
    let mut moved_to = BTreeMap::new();
    for i in 0..CLIENTS {
        let (old, new) = (
            pick(&before, client(i)).unwrap(),
            pick(&after, client(i)).unwrap(),
        );
        if old == 3 {
            assert_ne!(new, 3);
            *moved_to.entry(new).or_insert(0) += 1;
        } else {
            assert_eq!(old, new, "client {i} of target {old} moved");
        }
    }
    // Target 3's clients spread over the others by weight.
    assert_shares(&moved_to, &[(1, 1), (2, 1), (4, 1), (5, 1)], 0.02);
    // And they come back when it does.
    let back = Chooser::new(Method::Hash, all);
    for i in 0..CLIENTS {
        assert_eq!(pick(&before, client(i)), pick(&back, client(i)));
    }
}

#[test]
fn hash_removing_a_target_from_the_set_disturbs_little() {
    let all: Vec<Candidate> = (1..=10).map(|id| candidate(id, 1)).collect();
    let before = Chooser::new(Method::Hash, all.clone());
    let after = Chooser::new(
        Method::Hash,
        all.into_iter().filter(|c| c.id != 4).collect(),
    );
    let mut others_moved = 0;
    for i in 0..CLIENTS {
        let (old, new) = (
            pick(&before, client(i)).unwrap(),
            pick(&after, client(i)).unwrap(),
        );
        if old != 4 && old != new {
            others_moved += 1;
        }
    }
    // Maglev's bound on disruption from a rebuild: a few percent of the others at most.
    assert!(
        others_moved < CLIENTS / 50,
        "{others_moved} other clients moved"
    );
}

#[test]
fn hash_with_every_target_down_picks_nothing() {
    let chooser = Chooser::new(Method::Hash, vec![down(candidate(1, 1)), candidate(2, 0)]);
    assert_eq!(pick(&chooser, client(5)), None);
}

#[test]
fn hash_tiny_operational_weight_still_takes_everything_when_alone() {
    let chooser = Chooser::new(
        Method::Hash,
        vec![down(candidate(1, u32::MAX)), candidate(2, 1)],
    );
    assert_eq!(
        tally(|i| pick(&chooser, client(i)))
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        [2]
    );
}

#[test]
fn maglev_weights_are_honoured_in_slots() {
    let members: Vec<maglev::Member> = [(1, 1), (2, 3)]
        .iter()
        .map(|&(id, weight)| maglev::Member {
            id,
            weight,
            operational: true,
        })
        .collect();
    let table = maglev::MaglevTable::build(&members).unwrap();
    let one = table.slot_count(1) as f64 / TABLE_SIZE as f64;
    assert!((one - 0.25).abs() < 0.005, "share {one}");
}

#[test]
fn session_places_new_clients_like_hash() {
    let candidates: Vec<Candidate> = (1..=3).map(|id| candidate(id, 1)).collect();
    let session = Chooser::new(Method::Session, candidates.clone());
    let hash = Chooser::new(Method::Hash, candidates);
    for i in 0..1000 {
        assert_eq!(pick(&session, client(i)), pick(&hash, client(i)));
    }
}

#[test]
fn operational_ids_and_is_operational() {
    let chooser = Chooser::new(
        Method::Rr,
        vec![candidate(3, 0), down(candidate(1, 1)), candidate(2, 1)],
    );
    assert_eq!(chooser.operational_ids().collect::<Vec<_>>(), [2, 3]);
    assert!(chooser.is_operational(3));
    assert!(!chooser.is_operational(1));
    assert!(!chooser.is_operational(99));
}

#[test]
fn no_candidates_pick_nothing_for_every_method() {
    for method in Method::ALL {
        let chooser = Chooser::new(method, Vec::new());
        assert_eq!(
            chooser.pick(client(1), 5, 5, &no_sessions),
            None,
            "{method:?}"
        );
    }
}

#[test]
fn choosers_are_shared_by_worker_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Chooser>();
}

#[test]
fn maglev_choices_are_pinned_across_versions() {
    // Two nodes running different builds must still agree: these values may only change
    // together with a documented, deliberate change of the hash.
    let chooser = Chooser::new(Method::Hash, (1..=4).map(|id| candidate(id, 1)).collect());
    let picks: Vec<u32> = [
        "10.1.60.5",
        "10.85.134.135",
        "192.0.2.1",
        "192.0.2.2",
        "198.51.100.7",
        "203.0.113.250",
        "2001:db8::53",
        "::1",
    ]
    .iter()
    .map(|a| pick(&chooser, a.parse().unwrap()).unwrap())
    .collect();
    assert_eq!(picks, [3, 4, 4, 1, 3, 3, 4, 4]);
}

mod properties;
