//! Cost of the balancing methods: building a chooser (once per snapshot and server) and one
//! pick (once per new client). Plain timing loops, no harness:
//! `cargo bench -p fulcrum-core --bench balance`.

// Not part of the pure library: this program measures time: reading the clock is its job.
#![allow(clippy::disallowed_methods)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use fulcrum_core::balance::{Candidate, Chooser};
use fulcrum_core::model::Method;

fn candidates(count: u32) -> Vec<Candidate> {
    (1..=count)
        .map(|id| Candidate {
            id,
            weight: 1 + id % 3,
            operational: id % 7 != 3,
            agent_value: Some(id % 5),
        })
        .collect()
}

fn client(index: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(index.wrapping_mul(2_654_435_761)))
}

fn main() {
    for targets in [2, 10, 100] {
        for method in Method::ALL {
            let builds = 20;
            let started = Instant::now();
            for _ in 0..builds {
                black_box(Chooser::new(method, candidates(targets)));
            }
            let build = started.elapsed().as_secs_f64() / f64::from(builds);
            let chooser = Chooser::new(method, candidates(targets));
            let picks = 1_000_000u32;
            let sessions = |id: u32| u64::from(id.wrapping_mul(31) % 17);
            let started = Instant::now();
            for n in 0..picks {
                black_box(chooser.pick(client(n), u64::from(n), u64::from(n) << 40, &sessions));
            }
            let pick = started.elapsed().as_secs_f64() / f64::from(picks);
            println!(
                "{:>3} targets {:<8} build {:>8.1} us   pick {:>6.1} ns",
                targets,
                method.keyword(),
                build * 1e6,
                pick * 1e9
            );
        }
    }
}
