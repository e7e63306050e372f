//! Weighted round robin and weighted random over a fixed list of (id, weight) pairs.
//!
//! Contract: both are immutable once built and take their varying input as an argument (a
//! counter for round robin, a random number for random), so any number of worker threads can
//! share one instance. Weight 0 takes nothing; an empty or all-zero list picks nothing.

use super::hashing::reduce;

/// Longest round-robin schedule kept. Weights whose reduced sum exceeds it are scaled down
/// (each positive weight keeps at least one turn), which bounds memory and build time while
/// keeping every share within a fraction of a percent for realistic weights.
pub const MAX_SCHEDULE: u64 = 16384;

/// Smooth weighted round robin (the interleaving nginx uses) unrolled into one cycle, so that
/// turn `n` is a table read: weights 3 and 1 give `a a b a`, not `a a a b`.
#[derive(Debug, Clone, Default)]
pub struct RoundRobin {
    schedule: Vec<u32>,
}

impl RoundRobin {
    pub fn new(members: &[(u32, u32)]) -> RoundRobin {
        let positive: Vec<(u32, u64)> = members
            .iter()
            .filter(|&&(_, weight)| weight > 0)
            .map(|&(id, weight)| (id, u64::from(weight)))
            .collect();
        let weights = reduce_weights(&positive);
        let total: i64 = weights.iter().map(|&(_, w)| w as i64).sum();
        let mut current = vec![0i64; weights.len()];
        let mut schedule = Vec::with_capacity(total as usize);
        for _ in 0..total {
            let mut best = 0;
            for (index, &(_, weight)) in weights.iter().enumerate() {
                current[index] += weight as i64;
                if current[index] > current[best] {
                    best = index;
                }
            }
            current[best] -= total;
            schedule.push(weights[best].0);
        }
        RoundRobin { schedule }
    }

    /// The target for turn `counter`.
    pub fn pick(&self, counter: u64) -> Option<u32> {
        let len = self.schedule.len() as u64;
        if len == 0 {
            return None;
        }
        self.schedule.get((counter % len) as usize).copied()
    }

    /// Length of one full cycle.
    pub fn cycle_len(&self) -> usize {
        self.schedule.len()
    }
}

/// Divides by the common divisor, then scales down if the cycle would exceed [`MAX_SCHEDULE`].
fn reduce_weights(members: &[(u32, u64)]) -> Vec<(u32, u64)> {
    let divisor = members.iter().fold(0, |g, &(_, w)| gcd(g, w)).max(1);
    let reduced: Vec<(u32, u64)> = members.iter().map(|&(id, w)| (id, w / divisor)).collect();
    let total: u64 = reduced.iter().map(|&(_, w)| w).sum();
    if total <= MAX_SCHEDULE {
        return reduced;
    }
    reduced
        .into_iter()
        .map(|(id, w)| (id, (w * MAX_SCHEDULE / total).max(1)))
        .collect()
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Weighted random choice: a caller-supplied uniform `u64` is mapped onto the cumulative
/// weights, so a target's chance is exactly its weight over the total (up to 2^-32 bias).
#[derive(Debug, Clone, Default)]
pub struct WeightedRandom {
    /// (cumulative weight up to and including this member, id)
    cumulative: Vec<(u64, u32)>,
    total: u64,
}

impl WeightedRandom {
    pub fn new(members: &[(u32, u32)]) -> WeightedRandom {
        let mut total = 0u64;
        let mut cumulative = Vec::with_capacity(members.len());
        for &(id, weight) in members.iter().filter(|&&(_, w)| w > 0) {
            total += u64::from(weight);
            cumulative.push((total, id));
        }
        WeightedRandom { cumulative, total }
    }

    pub fn pick(&self, random: u64) -> Option<u32> {
        if self.total == 0 {
            return None;
        }
        let point = reduce(random, self.total);
        let index = self.cumulative.partition_point(|&(upto, _)| upto <= point);
        self.cumulative.get(index).map(|&(_, id)| id)
    }
}
