//! Properties of every method over random candidate sets.

use proptest::prelude::*;

use super::*;

fn candidates_strategy() -> impl Strategy<Value = Vec<Candidate>> {
    proptest::collection::vec(
        (
            1u32..40,
            0u32..5,
            any::<bool>(),
            proptest::option::of(0u32..4),
        ),
        0..8,
    )
    .prop_map(|mut raw| {
        // Ids are unique in a server (Chooser keeps the first of a repeated id).
        raw.sort_by_key(|r| r.0);
        raw.dedup_by_key(|r| r.0);
        raw.into_iter()
            .map(|(id, weight, operational, agent_value)| Candidate {
                id,
                weight,
                operational,
                agent_value,
            })
            .collect()
    })
}

fn method_strategy() -> impl Strategy<Value = Method> {
    proptest::sample::select(Method::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the method, a pick is an eligible candidate, and there is one exactly
    /// when some candidate is eligible.
    #[test]
    fn picks_are_eligible(
        method in method_strategy(),
        candidates in candidates_strategy(),
        counter in any::<u64>(),
        random in any::<u64>(),
        address in any::<u32>(),
    ) {
        let chooser = Chooser::new(method, candidates.clone());
        let eligible = |id: u32| {
            candidates.iter().any(|c| c.id == id && c.operational && c.weight > 0)
        };
        let any_eligible = candidates.iter().any(|c| c.operational && c.weight > 0);
        let picked = chooser.pick(client(address), counter, random, &|id| u64::from(id % 3));
        prop_assert_eq!(picked.is_some(), any_eligible);
        if let Some(id) = picked {
            prop_assert!(eligible(id), "picked {} from {:?}", id, candidates);
        }
    }

    /// Taking any one target down moves only the clients it had.
    #[test]
    fn hash_moves_only_the_down_targets_clients(
        candidates in candidates_strategy(),
        victim in 0usize..8,
    ) {
        let mut after = candidates.clone();
        let Some(victim) = after.get_mut(victim) else {
            return Ok(());
        };
        victim.operational = false;
        let victim_id = victim.id;
        let before = Chooser::new(Method::Hash, candidates);
        let after = Chooser::new(Method::Hash, after);
        for i in 0..2000 {
            let (old, new) = (pick(&before, client(i)), pick(&after, client(i)));
            if old.is_some() && old != Some(victim_id) && new.is_some() {
                prop_assert_eq!(old, new, "client {} moved", i);
            }
        }
    }
}
