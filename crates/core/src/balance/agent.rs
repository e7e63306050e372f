//! `method agent` and changing agent values: which targets a chooser prefers, and whether new
//! values would change that. The agents report on every probe (every few seconds per target)
//! and a load-average agent's value moves nearly every time; a data plane rebuilds its
//! snapshot only when a new value changes where new clients go.
//!
//! Contract: [`Chooser::agent_preferred`] is the set the `agent` method spreads new clients
//! over: the eligible candidates sharing the lowest value (`None` when no eligible candidate
//! has a value, and the method falls back to the hash). [`Chooser::agent_values_matter`] says
//! whether the same candidates with other values would give another set; it is false for every
//! other method, which ignores agent values.

use super::Chooser;
use crate::model::Method;

impl Chooser {
    /// The ids new clients go to under `method agent` (see the module doc).
    pub fn agent_preferred(&self) -> Option<Vec<u32>> {
        self.preferred_with(&|_, own| own)
    }

    /// Whether the values `value_of(id)` (in place of the candidates' own) would change
    /// [`Chooser::agent_preferred`].
    pub fn agent_values_matter(&self, value_of: &dyn Fn(u32) -> Option<u32>) -> bool {
        self.method == Method::Agent
            && self.preferred_with(&|id, _| value_of(id)) != self.agent_preferred()
    }

    fn preferred_with(&self, value: &dyn Fn(u32, Option<u32>) -> Option<u32>) -> Option<Vec<u32>> {
        let valued: Vec<(u32, u32)> = self
            .eligible()
            .filter_map(|c| value(c.id, c.agent_value).map(|v| (c.id, v)))
            .collect();
        let lowest = valued.iter().map(|&(_, v)| v).min()?;
        Some(
            valued
                .iter()
                .filter(|&&(_, v)| v == lowest)
                .map(|&(id, _)| id)
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::super::Candidate;
    use super::*;

    fn chooser(method: Method, values: &[(u32, Option<u32>, bool)]) -> Chooser {
        let candidates = values
            .iter()
            .map(|&(id, agent_value, operational)| Candidate {
                id,
                weight: 1,
                operational,
                agent_value,
            })
            .collect();
        Chooser::new(method, candidates)
    }

    #[test]
    fn the_lowest_eligible_values_are_preferred() {
        let c = chooser(
            Method::Agent,
            &[
                (1, Some(50), true),
                (2, Some(5), true),
                (3, Some(5), true),
                (4, Some(1), false),
            ],
        );
        assert_eq!(c.agent_preferred(), Some(vec![2, 3]), "4 is down");
        let none = chooser(Method::Agent, &[(1, None, true), (2, None, true)]);
        assert_eq!(none.agent_preferred(), None);
    }

    #[test]
    fn only_values_that_change_the_preferred_set_matter() {
        let c = chooser(Method::Agent, &[(1, Some(5), true), (2, Some(50), true)]);
        let values = |pairs: &[(u32, u32)]| {
            let map: HashMap<u32, u32> = pairs.iter().copied().collect();
            move |id: u32| map.get(&id).copied()
        };
        assert!(
            !c.agent_values_matter(&values(&[(1, 5), (2, 50)])),
            "unchanged"
        );
        assert!(
            !c.agent_values_matter(&values(&[(1, 6), (2, 40)])),
            "1 still lowest"
        );
        assert!(
            c.agent_values_matter(&values(&[(1, 50), (2, 5)])),
            "flipped"
        );
        assert!(
            c.agent_values_matter(&values(&[(1, 5), (2, 5)])),
            "now a tie"
        );
        assert!(
            c.agent_values_matter(&values(&[(2, 50)])),
            "1 lost its value"
        );
        let hash = chooser(Method::Hash, &[(1, Some(5), true), (2, Some(50), true)]);
        assert!(!hash.agent_values_matter(&values(&[(1, 50), (2, 5)])));
    }
}
