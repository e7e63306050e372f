// The election scenarios, included once per address family by `scenarios.rs` (an included
// file holds no module doc): `Addr`, `LOCAL` and `peer` come from the including module. The
// machine is the same for both families; these tables prove it.

use Reason::*;

const SECOND: u64 = 1_000_000;
#[derive(Debug, Clone, Copy)]
enum Ev {
    In(Input<Addr>),
    Timeout,
}

const START: Ev = Ev::In(Input::Startup);
const STOP: Ev = Ev::In(Input::Shutdown);
const TICK: Ev = Ev::Timeout;
const MASTER: Output<Addr> = Output::BecomeMaster;
const BACKUP: Output<Addr> = Output::BecomeBackup;

fn adv(from: u8, priority: u8, interval_cs: u16) -> Ev {
    Ev::In(Input::Advert(Advert {
        source: peer(from),
        priority,
        advert_interval_cs: interval_cs,
    }))
}

fn prio(priority: u8) -> Ev {
    Ev::In(Input::SetPriority(priority))
}

fn send(priority: u8) -> Output<Addr> {
    Output::SendAdvert { priority }
}

fn tr(from: State, to: State, reason: Reason<Addr>) -> Output<Addr> {
    Output::Transition(Transition { from, to, reason })
}

use State::{Backup as B, Initialize as I, Master as M};

/// One row: at `t` (µs), feed `ev`; expect `out`, then `poll_timeout() == next` (µs, floored).
type Row = (u64, Ev, Vec<Output<Addr>>, Option<u64>);

fn config(version: Version, priority: u8, interval_cs: u16, preempt: bool) -> Config<Addr> {
    Config {
        version,
        vrid: 7,
        priority,
        advert_interval_cs: interval_cs,
        preempt,
        primary_address: LOCAL,
        addresses: vec![peer(1)],
        auth: Auth::None,
        peers: Vec::new(),
    }
}

fn run(name: &str, config: Config<Addr>, rows: Vec<Row>) -> Machine<Addr> {
    let t0 = Instant::now();
    let mut machine = Machine::new(config);
    for (line, (at, ev, expected, next)) in rows.into_iter().enumerate() {
        let now = t0 + Duration::from_micros(at);
        match ev {
            Ev::In(input) => machine.handle_input(now, input),
            Ev::Timeout => machine.handle_timeout(now),
        }
        let outputs: Vec<Output<Addr>> = std::iter::from_fn(|| machine.poll_output()).collect();
        assert_eq!(outputs, expected, "{name}, row {line} (t={at}µs, {ev:?})");
        let timeout = machine.poll_timeout().map(|t| (t - t0).as_micros() as u64);
        assert_eq!(timeout, next, "{name}, row {line}: next timeout");
    }
    machine
}

#[test]
fn backup_becomes_master_after_master_down_interval_v2() {
    // RFC 3768 §6.1: 3 x 1 s + (256 - 100) / 256 s = 3.609375 s.
    let m = run(
        "v2 master down",
        config(Version::V2, 100, 100, true),
        vec![
            (0, START, vec![BACKUP, tr(I, B, Startup)], Some(3_609_375)),
            (3_609_374, TICK, vec![], Some(3_609_375)),
            (3_609_375, TICK, vec![send(100), MASTER, tr(B, M, MasterDown)], Some(4_609_375)),
            (4_609_375, TICK, vec![send(100)], Some(5_609_375)),
        ],
    );
    assert_eq!(m.master_address(), Some(LOCAL));
    assert_eq!(m.counters().transitions, 2);
}

#[test]
fn v2_skew_is_in_seconds_whatever_the_interval() {
    // RFC 3768 §6.1: Skew_Time = (256 - Priority) / 256 seconds, not scaled by the interval.
    run(
        "v2 3 s",
        config(Version::V2, 100, 300, true),
        vec![(0, START, vec![BACKUP, tr(I, B, Startup)], Some(9 * SECOND + 609_375))],
    );
}

#[test]
fn adverts_reset_the_master_down_timer() {
    run(
        "reset",
        config(Version::V2, 100, 100, true),
        vec![
            (0, START, vec![BACKUP, tr(I, B, Startup)], Some(3_609_375)),
            (SECOND, adv(44, 200, 100), vec![], Some(4_609_375)),
            (2 * SECOND, adv(44, 200, 100), vec![], Some(5_609_375)),
            // The master goes silent: take over one Master_Down_Interval after its last advert.
            (5_609_375, TICK, vec![send(100), MASTER, tr(B, M, MasterDown)], Some(6_609_375)),
        ],
    );
}

#[test]
fn owner_goes_straight_to_master() {
    // RFC 3768 §6.4.1: priority 255 sends an advert and becomes master on startup.
    let m = run(
        "owner",
        config(Version::V2, 255, 100, false),
        vec![
            (0, START, vec![send(255), MASTER, tr(I, M, AddressOwner)], Some(SECOND)),
            (SECOND, TICK, vec![send(255)], Some(2 * SECOND)),
        ],
    );
    assert_eq!(m.state(), State::Master);
}

#[test]
fn preempt_lets_a_higher_backup_take_over() {
    // Local 200 vs master .44 at 100. Master_Down_Interval = 3 s + 56/256 s = 3.21875 s.
    run(
        "preempt on",
        config(Version::V2, 200, 100, true),
        vec![
            (0, START, vec![BACKUP, tr(I, B, Startup)], Some(3_218_750)),
            // RFC 3768 §6.4.2: preempt and lower priority: discard, the timer keeps running.
            (SECOND, adv(44, 100, 100), vec![], Some(3_218_750)),
            (2 * SECOND, adv(44, 100, 100), vec![], Some(3_218_750)),
            (3_218_750, TICK, vec![send(200), MASTER, tr(B, M, MasterDown)], Some(4_218_750)),
            // The old master's advert crossing ours: a master ignores lower priorities.
            (3_500_000, adv(44, 100, 100), vec![], Some(4_218_750)),
        ],
    );
}

#[test]
fn without_preempt_a_higher_backup_waits() {
    let m = run(
        "preempt off",
        config(Version::V2, 200, 100, false),
        vec![
            (0, START, vec![BACKUP, tr(I, B, Startup)], Some(3_218_750)),
            (SECOND, adv(44, 100, 100), vec![], Some(4_218_750)),
            (2 * SECOND, adv(44, 100, 100), vec![], Some(5_218_750)),
            (3 * SECOND, adv(44, 100, 100), vec![], Some(6_218_750)),
            (4 * SECOND, adv(44, 100, 100), vec![], Some(7_218_750)),
        ],
    );
    assert_eq!(m.state(), State::Backup);
    assert_eq!(m.master_address(), Some(peer(44)));
}

#[test]
fn equal_priority_the_running_master_stays() {
    // A backup of equal priority accepts the master even though its own address is higher.
    let m = run(
        "equal, backup",
        config(Version::V2, 100, 100, true),
        vec![
            (0, START, vec![BACKUP, tr(I, B, Startup)], Some(3_609_375)),
            (SECOND, adv(42, 100, 100), vec![], Some(4_609_375)),
            (2 * SECOND, adv(42, 100, 100), vec![], Some(5_609_375)),
        ],
    );
    assert_eq!(m.state(), State::Backup);
}

#[test]
fn two_masters_of_equal_priority_the_higher_address_wins() {
    let master_at = 3_609_375;
    // .44 > .43: we step down (RFC 3768 §6.4.3).
    run(
        "equal, higher peer",
        config(Version::V2, 100, 100, true),
        vec![
            (0, START, vec![BACKUP, tr(I, B, Startup)], Some(master_at)),
            (master_at, TICK, vec![send(100), MASTER, tr(B, M, MasterDown)], Some(master_at + SECOND)),
            (4 * SECOND, adv(44, 100, 100), vec![BACKUP, tr(M, B, HigherAddress { master: peer(44) })], Some(4 * SECOND + 3_609_375)),
        ],
    );
    // .42 < .43: we stay master and ignore it.
    let m = run(
        "equal, lower peer",
        config(Version::V2, 100, 100, true),
        vec![
            (0, START, vec![BACKUP, tr(I, B, Startup)], Some(master_at)),
            (master_at, TICK, vec![send(100), MASTER, tr(B, M, MasterDown)], Some(master_at + SECOND)),
            (4 * SECOND, adv(42, 100, 100), vec![], Some(master_at + SECOND)),
        ],
    );
    assert_eq!(m.counters().adverts_outranked, 1);
}

#[test]
fn a_higher_priority_advert_sends_a_master_to_backup() {
    let master_at = 3_609_375;
    let m = run(
        "higher priority",
        config(Version::V2, 100, 100, false),
        vec![
            (0, START, vec![BACKUP, tr(I, B, Startup)], Some(master_at)),
            (master_at, TICK, vec![send(100), MASTER, tr(B, M, MasterDown)], Some(master_at + SECOND)),
            (4 * SECOND, adv(42, 200, 100), vec![ BACKUP, tr( M, B, HigherPriority { master: peer(42), priority: 200, }),
                ],
                Some(4 * SECOND + 3_609_375),
            ),
        ],
    );
    assert_eq!(m.master_address(), Some(peer(42)));
}

#[test]
fn priority_zero_lets_the_backup_take_over_after_skew_time() {
    // RFC 3768 §6.4.2: Master_Down_Timer = Skew_Time = 156/256 s = 0.609375 s.
    run(
        "priority 0",
        config(Version::V2, 100, 100, true),
        vec![
            (0, START, vec![BACKUP, tr(I, B, Startup)], Some(3_609_375)),
            (SECOND, adv(44, 200, 100), vec![], Some(4_609_375)),
            (1_500_000, adv(44, 0, 100), vec![], Some(2_109_375)),
            (2_109_375, TICK, vec![send(100), MASTER, tr(B, M, MasterDown)], Some(3_109_375)),
        ],
    );
}

#[test]
fn a_master_answers_priority_zero_at_once() {
    let master_at = 3_609_375;
    run(
        "master hears priority 0",
        config(Version::V2, 100, 100, true),
        vec![
            (0, START, vec![BACKUP, tr(I, B, Startup)], Some(master_at)),
            (master_at, TICK, vec![send(100), MASTER, tr(B, M, MasterDown)], Some(master_at + SECOND)),
            (4 * SECOND, adv(44, 0, 100), vec![send(100)], Some(5 * SECOND)),
        ],
    );
}

#[test]
fn shutdown_of_a_master_sends_priority_zero_and_releases() {
    let master_at = 3_609_375;
    let m = run(
        "master shutdown",
        config(Version::V2, 100, 100, true),
        vec![
            (0, START, vec![BACKUP, tr(I, B, Startup)], Some(master_at)),
            (master_at, TICK, vec![send(100), MASTER, tr(B, M, MasterDown)], Some(master_at + SECOND)),
            (4 * SECOND, STOP, vec![send(0), BACKUP, tr(M, I, Shutdown)], None),
            // Initialize ignores adverts and timeouts.
            (5 * SECOND, adv(44, 200, 100), vec![], None),
            (6 * SECOND, TICK, vec![], None),
            // And can start again.
            (7 * SECOND, START, vec![BACKUP, tr(I, B, Startup)], Some(7 * SECOND + 3_609_375)),
        ],
    );
    assert_eq!(m.counters().inputs_ignored, 1);
}

#[test]
fn shutdown_of_a_backup_is_silent() {
    run(
        "backup shutdown",
        config(Version::V2, 100, 100, true),
        vec![
            (0, START, vec![BACKUP, tr(I, B, Startup)], Some(3_609_375)),
            (SECOND, STOP, vec![tr(B, I, Shutdown)], None),
            (2 * SECOND, STOP, vec![], None),
        ],
    );
}

#[test]
fn v3_intervals_are_centiseconds() {
    // RFC 5798 §6.1 at 10 cs and priority 200: 3 x 100 ms + 56 x 100 ms / 256 = 321.875 ms.
    run(
        "v3 10 cs",
        config(Version::V3, 200, 10, true),
        vec![
            (0, START, vec![BACKUP, tr(I, B, Startup)], Some(321_875)),
            (321_875, TICK, vec![send(200), MASTER, tr(B, M, MasterDown)], Some(421_875)),
            (421_875, TICK, vec![send(200)], Some(521_875)),
        ],
    );
    // 2 cs (20 ms) and priority 200: 60 ms + 4.375 ms.
    run(
        "v3 2 cs",
        config(Version::V3, 200, 2, true),
        vec![(0, START, vec![BACKUP, tr(I, B, Startup)], Some(64_375))],
    );
}

#[test]
fn v3_backup_learns_the_masters_interval() {
    // Configured 1 s, the master advertises 2 cs: Master_Down_Interval = 3 x 20 ms +
    // 156 x 20 ms / 256 = 72.1875 ms (RFC 5798 §6.4.2), and the skew after priority 0 too.
    let m = run(
        "v3 learn",
        config(Version::V3, 100, 100, true),
        vec![
            (0, START, vec![BACKUP, tr(I, B, Startup)], Some(3_609_375)),
            (SECOND, adv(44, 200, 2), vec![], Some(SECOND + 72_187)),
            (SECOND + 20_000, adv(44, 0, 2), vec![], Some(SECOND + 20_000 + 12_187)),
            (SECOND + 32_187, TICK, vec![], Some(SECOND + 32_187)),
            (SECOND + 32_188, TICK, vec![send(100), MASTER, tr(B, M, MasterDown)], Some(2 * SECOND + 32_188)),
        ],
    );
    assert_eq!(m.master_advert_interval_cs(), 2);
}

#[test]
fn v3_master_stepping_down_learns_the_interval() {
    let master_at = 3_609_375;
    run(
        "v3 step down",
        config(Version::V3, 100, 100, true),
        vec![
            (0, START, vec![BACKUP, tr(I, B, Startup)], Some(master_at)),
            (master_at, TICK, vec![send(100), MASTER, tr(B, M, MasterDown)], Some(master_at + SECOND)),
            (4 * SECOND, adv(44, 150, 10), vec![ BACKUP, tr( M, B, HigherPriority { master: peer(44), priority: 150, }),
                ],
                Some(4 * SECOND + 300_000 + 60_937),
            ),
        ],
    );
}

#[test]
fn priority_changes() {
    let m = run(
        "priority",
        config(Version::V2, 100, 100, true),
        vec![
            (0, START, vec![BACKUP, tr(I, B, Startup)], Some(3_609_375)),
            // Priority 0 is reserved for stopping: ignored.
            (SECOND / 2, prio(0), vec![], Some(3_609_375)),
            // A backup made owner takes over at once.
            (SECOND, prio(255), vec![send(255), MASTER, tr(B, M, AddressOwner)], Some(2 * SECOND)),
            // A master's next advert carries its new priority.
            (SECOND + 1, prio(50), vec![], Some(2 * SECOND)),
            (2 * SECOND, TICK, vec![send(50)], Some(3 * SECOND)),
            // ...and a peer now outranks it.
            (2 * SECOND + 1, adv(42, 100, 100), vec![ BACKUP, tr( M, B, HigherPriority { master: peer(42), priority: 100, }),
                ],
                Some(2 * SECOND + 1 + 3_804_687),
            ),
        ],
    );
    assert_eq!(m.priority(), 50);
    assert_eq!(m.counters().inputs_ignored, 1);
}

#[test]
fn inputs_before_startup_are_ignored() {
    let m = run(
        "init",
        config(Version::V2, 100, 100, true),
        vec![
            (0, adv(44, 200, 100), vec![], None),
            (1, TICK, vec![], None),
            (2, STOP, vec![], None),
            (3, START, vec![BACKUP, tr(I, B, Startup)], Some(3 + 3_609_375)),
            (4, START, vec![], Some(3 + 3_609_375)),
        ],
    );
    assert_eq!(m.counters().inputs_ignored, 3);
}

