//! A deterministic simulation of two or three VRRP nodes on a virtual clock and a virtual link.
//! Adverts travel as real bytes (built by [`Group`], checked by [`Group::check`]) with seeded
//! latency, loss, partitions, crashes and clean restarts. After the network heals and every node
//! runs again, the invariant is: within a settle time there is exactly one master, and from then
//! on exactly one master at every step and no transition at all. A failure prints its seed;
//! `FULCRUM_VRRP_SEED=N cargo test -p fulcrum-core sim` replays one.

use super::*;

/// splitmix64: small, seedable, good enough to spread cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

#[derive(Debug, Clone, Copy)]
enum Chaos {
    /// Nodes in different cells do not hear each other.
    Partition([u8; 3]),
    Heal,
    Crash(usize),
    CleanStop(usize),
    Restart(usize),
    Loss(u64),
}

struct Node {
    machine: Machine,
    group: Group,
    up: bool,
    config: Config,
}

struct Delivery {
    at: Instant,
    to: usize,
    bytes: Vec<u8>,
}

struct Sim {
    t0: Instant,
    rng: Rng,
    nodes: Vec<Node>,
    in_flight: Vec<Delivery>,
    cells: [u8; 3],
    loss_per_mille: u64,
    transitions: Vec<(Duration, usize, Transition)>,
    drops: Vec<AdvertDrop>,
}

impl Sim {
    fn fresh(config: &Config) -> (Machine, Group) {
        (Machine::new(config.clone()), Group::new(config))
    }

    fn drain(&mut self, now: Instant, index: usize) {
        while let Some(output) = self.nodes[index].machine.poll_output() {
            match output {
                Output::SendAdvert { priority } => {
                    let bytes = match self.nodes[index].group.advert_packet(priority) {
                        Ok(bytes) => bytes,
                        Err(e) => panic!("node {index} could not build an advert: {e}"),
                    };
                    for to in 0..self.nodes.len() {
                        if to == index || self.cells[to] != self.cells[index] {
                            continue;
                        }
                        if self.rng.below(1000) < self.loss_per_mille {
                            continue;
                        }
                        let latency = Duration::from_micros(50 + self.rng.below(950));
                        self.in_flight.push(Delivery {
                            at: now + latency,
                            to,
                            bytes: bytes.clone(),
                        });
                    }
                }
                Output::Transition(t) => self.transitions.push((now - self.t0, index, t)),
                Output::BecomeMaster | Output::BecomeBackup => {}
            }
        }
    }

    fn apply(&mut self, now: Instant, chaos: Chaos) {
        match chaos {
            Chaos::Partition(cells) => self.cells = cells,
            Chaos::Heal => {
                self.cells = [0; 3];
                self.loss_per_mille = 0;
            }
            Chaos::Loss(per_mille) => self.loss_per_mille = per_mille,
            Chaos::Crash(i) if i < self.nodes.len() => self.nodes[i].up = false,
            Chaos::CleanStop(i) if i < self.nodes.len() && self.nodes[i].up => {
                self.nodes[i].machine.handle_input(now, Input::Shutdown);
                self.drain(now, i);
                self.nodes[i].up = false;
            }
            Chaos::Restart(i) if i < self.nodes.len() && !self.nodes[i].up => {
                let (machine, group) = Self::fresh(&self.nodes[i].config);
                self.nodes[i].machine = machine;
                self.nodes[i].group = group;
                self.nodes[i].up = true;
                self.nodes[i].machine.handle_input(now, Input::Startup);
                self.drain(now, i);
            }
            _ => {}
        }
    }

    fn masters(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| n.up && n.machine.state() == State::Master)
            .count()
    }
}

fn run_one(seed: u64) -> Result<(), String> {
    let mut rng = Rng(seed);
    let node_count = 2 + rng.below(2) as usize;
    let (version, interval_cs) = rng.pick(&[
        (Version::V2, 100),
        (Version::V3, 100),
        (Version::V3, 10),
        (Version::V3, 2),
    ]);
    let interval = Duration::from_millis(u64::from(interval_cs) * 10);
    let vip = Ipv4Addr::new(10, 235, 210, 1);
    let mut nodes = Vec::new();
    for i in 0..node_count {
        let config = Config {
            version,
            vrid: 7,
            priority: rng.pick(&[100, 150, 200, 200, 254]),
            advert_interval_cs: interval_cs,
            preempt: rng.below(2) == 0,
            primary_address: Ipv4Addr::new(10, 235, 210, 43 + i as u8),
            addresses: vec![vip],
            auth: Auth::None,
            peers: Vec::new(),
        };
        let (machine, group) = Sim::fresh(&config);
        nodes.push(Node {
            machine,
            group,
            up: false,
            config,
        });
    }
    let t0 = Instant::now();
    // The chaos schedule, in advert intervals: starts, then partitions, loss, crashes and stops,
    // then the heal, after which every node is (re)started.
    let heal_at = 20 + rng.below(40);
    let mut schedule: Vec<(Duration, Chaos)> = Vec::new();
    for i in 0..node_count {
        schedule.push((interval * rng.below(8) as u32, Chaos::Restart(i)));
    }
    for _ in 0..rng.below(12) {
        let at = interval * (1 + rng.below(heal_at - 1)) as u32
            + Duration::from_micros(rng.below(10_000));
        let event = match rng.below(5) {
            0 => Chaos::Partition([rng.below(2) as u8, rng.below(2) as u8, rng.below(2) as u8]),
            1 => Chaos::Loss(rng.pick(&[100, 300, 600, 1000])),
            2 => Chaos::Crash(rng.below(node_count as u64) as usize),
            3 => Chaos::CleanStop(rng.below(node_count as u64) as usize),
            _ => Chaos::Restart(rng.below(node_count as u64) as usize),
        };
        schedule.push((at, event));
    }
    let heal = interval * heal_at as u32;
    schedule.push((heal, Chaos::Heal));
    for i in 0..node_count {
        schedule.push((heal + interval * rng.below(3) as u32, Chaos::Restart(i)));
    }
    schedule.sort_by_key(|(at, _)| *at);
    // Every node runs from heal + 3 intervals; one master down interval (< 4 intervals) later a
    // master exists, and two more intervals resolve any duplicate.
    let settled = heal + interval * 3 + interval * 4 + interval * 2 + Duration::from_millis(5);
    let end = settled + interval * 30;

    let mut sim = Sim {
        t0,
        rng,
        nodes,
        in_flight: Vec::new(),
        cells: [0; 3],
        loss_per_mille: 0,
        transitions: Vec::new(),
        drops: Vec::new(),
    };
    let mut next_chaos = 0;
    loop {
        let mut next = t0 + end;
        if let Some((at, _)) = schedule.get(next_chaos) {
            next = next.min(t0 + *at);
        }
        for node in sim.nodes.iter().filter(|n| n.up) {
            if let Some(t) = node.machine.poll_timeout() {
                next = next.min(t);
            }
        }
        if let Some(t) = sim.in_flight.iter().map(|d| d.at).min() {
            next = next.min(t);
        }
        let now = next;
        if now >= t0 + end {
            break;
        }
        while let Some((at, chaos)) = schedule.get(next_chaos).copied() {
            if t0 + at > now {
                break;
            }
            sim.apply(now, chaos);
            next_chaos += 1;
        }
        let (due, later): (Vec<Delivery>, Vec<Delivery>) =
            sim.in_flight.drain(..).partition(|d| d.at <= now);
        sim.in_flight = later;
        for delivery in due {
            let node = &mut sim.nodes[delivery.to];
            if !node.up {
                continue;
            }
            match node.group.check(&delivery.bytes, node.machine.priority()) {
                Ok(advert) => node.machine.handle_input(now, Input::Advert(advert)),
                Err(AdvertDrop::LocalOwner) => {}
                Err(drop) => sim.drops.push(drop),
            }
            sim.drain(now, delivery.to);
        }
        for i in 0..sim.nodes.len() {
            if sim.nodes[i].up
                && sim.nodes[i]
                    .machine
                    .poll_timeout()
                    .is_some_and(|t| t <= now)
            {
                sim.nodes[i].machine.handle_timeout(now);
                sim.drain(now, i);
            }
        }
        if now - t0 >= settled {
            let masters = sim.masters();
            if masters != 1 {
                return Err(format!(
                    "{masters} masters at {:?} after the heal at {heal:?}",
                    now - t0
                ));
            }
        }
    }
    if !sim.drops.is_empty() {
        return Err(format!(
            "adverts between nodes were dropped: {:?}",
            sim.drops
        ));
    }
    let late: Vec<_> = sim
        .transitions
        .iter()
        .filter(|(at, _, _)| *at >= settled)
        .collect();
    if !late.is_empty() {
        return Err(format!("transitions after settling: {late:?}"));
    }
    Ok(())
}

#[test]
fn one_master_after_the_network_heals() {
    let seeds: Vec<u64> = match std::env::var("FULCRUM_VRRP_SEED") {
        Ok(seed) => vec![seed.parse().unwrap_or(0)],
        Err(_) => (0..400).collect(),
    };
    for seed in seeds {
        if let Err(message) = run_one(seed) {
            panic!("VRRP simulation failed with seed {seed} (replay: FULCRUM_VRRP_SEED={seed}): {message}");
        }
    }
}

#[test]
fn the_simulation_can_fail() {
    // A node that never hears its peer (loss 100% forever) must be caught as a second master.
    let mut config = Config {
        version: Version::V2,
        vrid: 7,
        priority: 100,
        advert_interval_cs: 100,
        preempt: true,
        primary_address: Ipv4Addr::new(10, 235, 210, 43),
        addresses: vec![Ipv4Addr::new(10, 235, 210, 1)],
        auth: Auth::None,
        peers: Vec::new(),
    };
    let t0 = Instant::now();
    let mut a = Machine::new(config.clone());
    config.primary_address = Ipv4Addr::new(10, 235, 210, 44);
    let mut b = Machine::new(config);
    a.handle_input(t0, Input::Startup);
    b.handle_input(t0, Input::Startup);
    let later = t0 + Duration::from_secs(5);
    a.handle_timeout(later);
    b.handle_timeout(later);
    assert_eq!((a.state(), b.state()), (State::Master, State::Master));
}
