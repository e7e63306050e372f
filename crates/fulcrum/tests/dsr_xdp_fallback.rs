//! The AF_XDP plane's fallback, in the seed's lab: ns0a's configuration asks for `access xdp`
//! on eth1, but `fulcrum run` starts without the capabilities to load a BPF program
//! (`setpriv` drops CAP_BPF, CAP_SYS_ADMIN and CAP_PERFMON from its bounding set, as on a host
//! whose service manager grants only the network capabilities). The plane must say why AF_XDP
//! is unavailable, run on AF_PACKET alone and balance as always; `fulcrum check --host`, under
//! the same capabilities, must say so beforehand. And with the capabilities but
//! `FULCRUM_AFXDP=off`, the same fallback on purpose. An active-active node (ns0a announcing
//! instead of running VRRP) has no fallback: without the program the frames routers send to its
//! MAC never reach the plane, so it must withdraw its DSR VIP and say why, and the host check
//! must call that an error. Needs root, iproute2, bind9, dig, tcpdump, nftables and setpriv
//! (util-linux).

use std::time::{Duration, Instant};

use fulcrum_control::show::AnnounceDoc;
use netlab::lab::Lab;
use netlab::seed::seed_topology;
use testkit::plane::{Plane, XDP_STARTED, XDP_UNAVAILABLE};
use testkit::seed_dsr::{ask, require_tools, seed_config, start_seed_agents, Balancer};

/// What a service manager without BPF rights would leave the daemon.
const WITHOUT_BPF: &[&str] = &["setpriv", "--bounding-set=-bpf,-sys_admin,-perfmon", "--"];

/// `fulcrum check --host -c CONFIG` in `node`, with the capabilities [`WITHOUT_BPF`] leaves.
fn check_host_without_bpf(node: &netlab::Ns, config: &std::path::Path) -> std::process::Output {
    let mut check = node.command(WITHOUT_BPF[0]);
    check
        .args(&WITHOUT_BPF[1..])
        .arg(testkit::fulcrum())
        .args(["check", "--host", "-c"])
        .arg(config);
    check.output().expect("run fulcrum check --host")
}

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
    let output = check_host_without_bpf(&seed.ns0a, &config_file);
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

#[test]
fn an_active_active_node_without_the_program_withdraws_its_dsr_vip_and_says_why() {
    require_tools();
    testkit::process::require_tools(&["/usr/bin/setpriv"], "install util-linux");
    let lab = Lab::new("dsr_xdp_routed");
    let seed = seed_topology(&lab).expect("build the seed topology");
    let _bind9 = seed.start_bind9().expect("start Bind9 on both nodes");
    let scripts = tempfile::tempdir().expect("temporary directory");
    let _agents = start_seed_agents(&seed, scripts.path());
    // The seed's node announcing its VIP instead of running VRRP (a VIP has one owner).
    let vrrp = "vrrp {\nvrid 7\npriority 200\nnetwork 1\n}\n";
    let config = seed_config();
    assert!(config.contains(vrrp), "the seed's VRRP block");
    let config = config.replace(vrrp, "") + "announce {\ninterface fulcrum-vip\n}\n";

    let config_file = scripts.path().join("ns0a.conf");
    std::fs::write(&config_file, &config).expect("write the configuration");
    let output = check_host_without_bpf(&seed.ns0a, &config_file);
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(
        shown.contains("error: active-active DSR needs the XDP program"),
        "{shown}"
    );
    assert!(!output.status.success(), "an error fails the check");

    let balancer = Balancer::start_under(&seed.ns0a, &config, WITHOUT_BPF);
    let line = balancer.wait_for_log(
        "cannot take the frames routers send",
        Duration::from_secs(20),
    );
    assert!(line.contains("(withdrawn)"), "{line}");
    // Once the health checks have a verdict the only reason left is the missing program, and
    // it must stay so.
    let reason = "DSR plane cannot take routed frames (no XDP program)";
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = 0;
    while seen < 10 {
        let doc: AnnounceDoc = balancer.show("show announce");
        let row = doc.servers.iter().find(|r| r.server == 1).cloned();
        let row = row.unwrap_or_else(|| panic!("server 1 in {doc:?}"));
        assert_ne!(row.state, "announced", "{doc:?}\n{}", balancer.logs());
        if row.reason.as_deref() == Some(reason) && row.targets_up > 0 {
            seen += 1;
        }
        assert!(
            Instant::now() < deadline,
            "withdrawn for the program: {doc:?}\n{}",
            balancer.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let addresses = seed
        .ns0a
        .ip(&["-o", "addr", "show", "dev", "fulcrum-vip"])
        .unwrap_or_default();
    assert!(!addresses.contains("inet "), "no VIP held: {addresses}");
}
