//! Golden scenarios of the seed's checks and of reconfiguration (script format in the parent
//! module's documentation).

use std::time::Duration;

use super::{scenario, CheckState, Probe};

#[test]
fn seed_ping_5_12_goes_down_at_12_and_up_on_the_next_reply() {
    let scheduler = scenario(
        &["2 ping 5,12"],
        "
        0  up 2: configured [admin]
        0  probe 2 ping #1
        5  probe 2 ping #2
        10 probe 2 ping #3
        12 down 2: ping no reply for 12 s
        15 probe 2 ping #4
        15 <- 2 ping #4 ok rtt=1
        15 up 2: ping ok
        ",
    );
    let status = scheduler.status(2).expect("target 2");
    assert!(status.operational);
    let ping = &status.checks[0];
    assert_eq!(ping.state, CheckState::Up);
    assert_eq!(ping.failures, 3, "probes 1-3 went unanswered");
    assert_eq!(ping.consecutive_failures, 0);
    assert_eq!(ping.last_rtt, Some(Duration::from_millis(1)));
    assert_eq!(scheduler.counters().probes_unanswered, 3);
}

#[test]
fn replies_keep_a_target_up_and_the_timeout_counts_from_the_last_success() {
    scenario(
        &["2 ping 5,12"],
        "
        0  up 2: configured [admin]
        0  probe 2 ping #1
        0.1 <- 2 ping #1 ok rtt=100
        5  probe 2 ping #2
        5.1 <- 2 ping #2 ok
        10 probe 2 ping #3
        15 probe 2 ping #4
        17.1 down 2: ping no reply for 12 s
        20 probe 2 ping #5
        ",
    );
}

#[test]
fn a_failure_detail_from_the_driver_becomes_the_down_reason() {
    scenario(
        &["2 tcpopen 53,5,12"],
        "
        0  up 2: configured [admin]
        0  probe 2 tcpopen #1
        0  <- 2 tcpopen #1 fail detail=connection_refused
        5  probe 2 tcpopen #2
        5  <- 2 tcpopen #2 fail detail=connection_refused
        10 probe 2 tcpopen #3
        10 <- 2 tcpopen #3 fail detail=connection_refused
        12 down 2: tcpopen connection refused for 12 s
        ",
    );
}

#[test]
fn seed_checks_where_only_the_agent_fails() {
    // The seed's three checks; ping and tcpopen answer, the agent never does.
    let scheduler = scenario(
        &["2 ping 5,12 agent 439,5,13 tcpopen 53,5,12"],
        "
        0  up 2: configured [admin]
        0  probe 2 ping #1
        0  probe 2 tcpopen #2
        0  probe 2 agent #3
        0  <- 2 ping #1 ok
        0  <- 2 tcpopen #2 ok
        5  probe 2 ping #4
        5  probe 2 tcpopen #5
        5  probe 2 agent #6
        5  <- 2 ping #4 ok
        5  <- 2 tcpopen #5 ok
        10 probe 2 ping #7
        10 probe 2 tcpopen #8
        10 probe 2 agent #9
        10 <- 2 ping #7 ok
        10 <- 2 tcpopen #8 ok
        13 down 2: agent no reply for 13 s
        15 probe 2 ping #10
        15 probe 2 tcpopen #11
        15 probe 2 agent #12
        15 <- 2 ping #10 ok
        15 <- 2 agent #12 ok value=3
        15 agent 2 value 3
        15 up 2: agent ok
        ",
    );
    let status = scheduler.status(2).expect("target 2");
    let states: Vec<&str> = status.checks.iter().map(|c| c.state.keyword()).collect();
    // tcpopen #11 is still in flight, but tcpopen's last success (10) is recent enough.
    assert_eq!(states, ["up", "up", "up"]);
    assert_eq!(scheduler.agent_value(2), Some(3));
}

#[test]
fn an_agent_value_of_zero_is_a_failure_and_takes_the_target_out_after_the_timeout() {
    scenario(
        &["2 agent 439,5,13"],
        "
        0  up 2: configured [admin]
        0  probe 2 agent #1
        0  <- 2 agent #1 ok value=7
        0  agent 2 value 7
        5  probe 2 agent #2
        5  <- 2 agent #2 ok value=0
        5  agent 2 value 0
        10 probe 2 agent #3
        10 <- 2 agent #3 ok value=0
        13 down 2: agent value 0 for 13 s
        15 probe 2 agent #4
        15 <- 2 agent #4 ok value=1
        15 agent 2 value 1
        15 up 2: agent ok
        ",
    );
}

#[test]
fn two_targets_are_independent() {
    scenario(
        &["1 ping 1,3", "2 ping 1,3"],
        "
        0 up 1: configured [admin]
        0 up 2: configured [admin]
        0 probe 1 ping #1
        0 probe 2 ping #2
        0 <- 1 ping #1 ok
        1 probe 1 ping #3
        1 probe 2 ping #4
        1 <- 1 ping #3 ok
        2 probe 1 ping #5
        2 probe 2 ping #6
        2 <- 1 ping #5 ok
        3 probe 1 ping #7
        3 down 2: ping no reply for 3 s
        3 probe 2 ping #8
        3 <- 1 ping #7 ok
        ",
    );
}

#[test]
fn reconfigure_keeps_unchanged_checks_and_invalidates_probes_of_changed_ones() {
    let scheduler = scenario(
        &["2 ping 5,12 tcpopen 53,5,12"],
        "
        0  up 2: configured [admin]
        0  probe 2 ping #1
        0  probe 2 tcpopen #2
        0  <- 2 ping #1 ok
        0  <- 2 tcpopen #2 ok
        5  probe 2 ping #3
        5  probe 2 tcpopen #4
        6  <- config 2 ping 5,12 tcpopen 5353,5,12
        6  probe 2 tcpopen #5
        6  <- 2 tcpopen #4 ok
        6  <- 2 ping #3 ok
        10 probe 2 ping #6
        11 probe 2 tcpopen #7
        12 down 2: tcpopen no reply for 12 s
        ",
    );
    // tcpopen #4 was sent to the old port: its late answer proves nothing about port 5353.
    assert_eq!(scheduler.counters().stale_probe, 1);
    let status = scheduler.status(2).expect("target 2");
    assert_eq!(
        status.checks[0].state,
        CheckState::Up,
        "ping kept its state"
    );
    assert_eq!(
        status.checks[1].spec.probe,
        Probe::TcpOpen { port: 5353 },
        "tcpopen took the new port"
    );
}

#[test]
fn reconfigure_adds_and_removes_checks_and_targets() {
    scenario(
        &["2 ping 5,12", "3 ping 5,12"],
        "
        0  up 2: configured [admin]
        0  up 3: configured [admin]
        0  probe 2 ping #1
        0  probe 3 ping #2
        5  probe 2 ping #3
        5  probe 3 ping #4
        7  <- config 2 ping 5,12 dns example.org,5,12 | 4 ping 5,12
        7  down 3: removed from the configuration [admin]
        7  up 4: configured [admin]
        7  probe 2 dns #5
        7  probe 4 ping #6
        7  <- 3 ping #4 ok
        10 probe 2 ping #7
        12 down 2: ping no reply for 12 s
        12 probe 2 dns #8
        12 probe 4 ping #9
        ",
    );
}

#[test]
fn disabling_and_enabling_is_an_admin_transition_and_keeps_health() {
    let scheduler = scenario(
        &["2 ping 5,12"],
        "
        0  up 2: configured [admin]
        0  probe 2 ping #1
        0  <- 2 ping #1 ok
        3  <- config 2 ping 5,12 disabled
        3  down 2: disabled [admin]
        5  probe 2 ping #2
        5  <- 2 ping #2 ok
        8  <- config 2 ping 5,12
        8  up 2: enabled [admin]
        ",
    );
    assert!(scheduler.is_operational(2));
}

#[test]
fn a_disabled_new_target_is_reported_down_and_still_probed() {
    scenario(
        &["2 ping 5,12 disabled"],
        "
        0 down 2: configured, disabled [admin]
        0 probe 2 ping #1
        0 <- 2 ping #1 ok
        ",
    );
}

#[test]
fn a_target_without_checks_is_operational_and_never_probed() {
    let scheduler = scenario(&["2"], "0 up 2: configured [admin]");
    assert_eq!(scheduler.poll_timeout(), None);
}

#[test]
fn stale_unknown_and_mismatched_results_are_counted_and_ignored() {
    let scheduler = scenario(
        &["2 ping 5,12", "3 ping 5,12"],
        "
        0  up 2: configured [admin]
        0  up 3: configured [admin]
        0  probe 2 ping #1
        0  probe 3 ping #2
        1  <- 2 ping #99 ok
        1  <- 3 ping #1 ok
        1  <- 2 tcpopen #1 ok
        1  <- 2 ping #1 ok
        1  <- 2 ping #1 ok
        5  probe 2 ping #3
        5  probe 3 ping #4
        6  <- 3 ping #2 ok
        10 probe 2 ping #5
        10 probe 3 ping #6
        12 down 3: ping no reply for 12 s
        ",
    );
    let counters = scheduler.counters();
    assert_eq!(
        counters.stale_probe, 3,
        "#99, #1 twice answered, #2 expired at 5"
    );
    assert_eq!(
        counters.mismatched_probe, 2,
        "#1 claimed by target 3 and by tcpopen"
    );
    assert_eq!(counters.results_accepted, 1);
}
