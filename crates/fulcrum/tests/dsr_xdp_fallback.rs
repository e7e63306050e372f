//! The AF_XDP plane's fallback, in the seed's lab: ns0a's configuration asks for `access xdp`
//! on eth1, but `fulcrum run` starts without the capabilities to load a BPF program
//! (`setpriv` drops CAP_BPF, CAP_SYS_ADMIN and CAP_PERFMON from its bounding set, as on a host
//! whose service manager grants only the network capabilities). The plane must say why AF_XDP
//! is unavailable, run on AF_PACKET alone and balance as always; `fulcrum check --host`, under
//! the same capabilities, must say so beforehand. And with the capabilities but
//! `FULCRUM_AFXDP=off`, the same fallback on purpose. Needs root, iproute2, bind9, dig, tcpdump,
//! nftables and setpriv (util-linux).

use std::time::Duration;

use netlab::lab::Lab;
use netlab::seed::seed_topology;
use testkit::plane::{Plane, XDP_STARTED, XDP_UNAVAILABLE};
use testkit::seed_dsr::{ask, require_tools, seed_config, start_seed_agents, Balancer};

/// What a service manager without BPF rights would leave the daemon.
const WITHOUT_BPF: &[&str] = &["setpriv", "--bounding-set=-bpf,-sys_admin,-perfmon", "--"];

fn xdp_config() -> String {
    Plane::AfXdp.config(&seed_config())
}

#[test]
fn without_the_capability_to_load_xdp_the_plane_says_why_and_balances_on_af_packet() {
    require_tools();
    testkit::process::require_tools(&["/usr/bin/setpriv"], "install util-linux");
    let lab = Lab::new("dsr_xdp_nocap");
    let seed = seed_topology(&lab).expect("build the seed topology");
    let _bind9 = seed.start_bind9().expect("start Bind9 on both nodes");
    let scripts = tempfile::tempdir().expect("temporary directory");
    let _agents = start_seed_agents(&seed, scripts.path());

    // The host check, run as the daemon will be, says which plane eth1 gets and why.
    let config_file = scripts.path().join("ns0a.conf");
    std::fs::write(&config_file, xdp_config()).expect("write the configuration");
    let mut check = seed.ns0a.command(WITHOUT_BPF[0]);
    check
        .args(&WITHOUT_BPF[1..])
        .arg(testkit::fulcrum())
        .args(["check", "--host", "-c"])
        .arg(&config_file);
    let output = check.output().expect("run fulcrum check --host");
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(
        shown.contains("warning: interface eth1: access xdp, but the DSR plane will run on AF_PACKET alone: AF_XDP is unavailable here"),
        "{shown}"
    );

    let balancer = Balancer::start_under(&seed.ns0a, &xdp_config(), WITHOUT_BPF);
    let log = balancer.wait_for_log(XDP_UNAVAILABLE, Duration::from_secs(20));
    assert!(
        log.contains("dsr: AF_XDP unavailable on eth1, AF_PACKET only:"),
        "{log}"
    );
    balancer.wait_ready(&seed);
    for source in seed.client_sources().into_iter().take(10) {
        assert!(
            ask(&seed, source, false).is_some(),
            "no answer for {source}:\n{}",
            balancer.logs()
        );
    }
    let logs = balancer.logs();
    assert!(!logs.contains(XDP_STARTED), "{logs}");
    eprintln!("{log}");
}

#[test]
fn fulcrum_afxdp_off_falls_back_on_purpose() {
    require_tools();
    let lab = Lab::new("dsr_xdp_off");
    let seed = seed_topology(&lab).expect("build the seed topology");
    let _bind9 = seed.start_bind9().expect("start Bind9 on both nodes");
    let scripts = tempfile::tempdir().expect("temporary directory");
    let _agents = start_seed_agents(&seed, scripts.path());
    let balancer = Balancer::start_under(&seed.ns0a, &xdp_config(), &["env", "FULCRUM_AFXDP=off"]);
    let line = balancer.wait_for_log(XDP_UNAVAILABLE, Duration::from_secs(20));
    assert!(
        line.contains("FULCRUM_AFXDP=off in the environment"),
        "{line}"
    );
    balancer.wait_ready(&seed);
    let source = seed.client_sources()[0];
    assert!(
        ask(&seed, source, false).is_some(),
        "no answer for {source}:\n{}",
        balancer.logs()
    );
}
