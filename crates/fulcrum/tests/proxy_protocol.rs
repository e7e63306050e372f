//! PROXY protocol v2 against the real thing: PowerDNS Authoritative (Debian's `pdns-server`
//! with the bind backend) behind a real `fulcrum run` in proxy mode, with
//! `proxy-protocol-from` set to Fulcrum's address and its query log on, queried by the real
//! `dig` from a client address of its own, over UDP and TCP, for IPv4 and IPv6.
//!
//! PowerDNS drops a query without a header from an address in `proxy-protocol-from`, so the
//! target's `dns` health check fails while `proxyprotocol` is off, and the target comes up only
//! once the option is switched on live from the shell (the check then opens with a `LOCAL`
//! header); PowerDNS's log then names the client (`Remote FULCRUM(CLIENT) wants ...`), not
//! Fulcrum. Each test runs in a network namespace of its own holding only `lo` with the
//! addresses it needs (no link anywhere); PowerDNS and the daemon are killed by PID before the
//! namespace is deleted. Needs root, `pdns-server`, `pdns-backend-bind` and `dig`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use netlab::bind9::LoopbackNetns;
use testkit::daemon::Daemon;
use testkit::dns::{DIG, ZONE};
use testkit::process::{read, require_root, require_tools, wait_for_log, KillOnDrop};

const PDNS: &str = "/usr/sbin/pdns_server";
/// The TXT record PowerDNS serves at the zone's apex.
const MARKER: &str = "powerdns-behind-fulcrum";

/// PowerDNS Authoritative with the bind backend, serving [`ZONE`], killed by PID on drop.
struct PowerDns {
    _process: KillOnDrop,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl PowerDns {
    /// Starts it in `netns` on `listen` (port 53), taking PROXY headers from `proxy_from` and
    /// logging every query; returns once it serves.
    fn start(netns: &LoopbackNetns, listen: IpAddr, proxy_from: IpAddr) -> PowerDns {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path();
        let zone_file = path.join("zone");
        std::fs::write(
            &zone_file,
            format!(
                "$TTL 60\n@ IN SOA ns1 hostmaster 1 3600 600 86400 60\n@ IN NS ns1\n\
                 ns1 IN A 127.0.0.1\n@ IN TXT \"{MARKER}\"\n"
            ),
        )
        .expect("write the zone");
        let named_conf = path.join("named.conf");
        std::fs::write(
            &named_conf,
            format!(
                "zone \"{ZONE}\" {{ type master; file \"{}\"; }};\n",
                zone_file.display()
            ),
        )
        .expect("write named.conf");
        // No security poll (it would query the internet), no daemonising, logs on stderr.
        let listen = match listen {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        };
        let conf = format!(
            "launch=bind\nbind-config={}\nlocal-address={listen}:53\n\
             proxy-protocol-from={proxy_from}\nlog-dns-queries=yes\nloglevel=6\n\
             security-poll-suffix=\ndaemon=no\nguardian=no\ndisable-syslog=yes\nwrite-pid=no\n\
             socket-dir={}\n",
            named_conf.display(),
            path.display()
        );
        std::fs::write(path.join("pdns.conf"), conf).expect("write pdns.conf");
        let log = path.join("pdns.log");
        let out = std::fs::File::create(&log).expect("create the log");
        let err = out.try_clone().expect("log handle");
        let child = netns
            .command(PDNS)
            .arg(format!("--config-dir={}", path.display()))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start pdns_server");
        let process = KillOnDrop(child);
        wait_for_log(
            &log,
            "ready to distribute questions",
            Duration::from_secs(20),
        );
        PowerDns {
            _process: process,
            log,
            _dir: dir,
        }
    }

    /// Waits until its query log has a line with `needle`; panics with the log otherwise.
    fn wait_for_query(&self, needle: &str) {
        wait_for_log(&self.log, needle, Duration::from_secs(5));
    }

    fn log(&self) -> String {
        read(&self.log)
    }
}

/// `dig` in `netns` from `client` to the VIP: the TXT it got, or what it printed.
fn dig(netns: &LoopbackNetns, vip: IpAddr, client: IpAddr, tcp: bool) -> String {
    let mut command = netns.command(DIG);
    command
        .arg(format!("@{vip}"))
        .args(["-b", &client.to_string()])
        .args(["+time=2", "+tries=1", "+short", "TXT", ZONE]);
    if tcp {
        command.arg("+tcp");
    }
    let output = command.output().expect("run dig");
    let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if text == format!("\"{MARKER}\"") {
        text
    } else {
        format!("{text} {}", String::from_utf8_lossy(&output.stderr))
    }
}

/// Server 1 on `vip` port 53 in front of PowerDNS (target 1), with a `dns` check.
fn config(vip: IpAddr, pdns: IpAddr) -> String {
    format!(
        "hostname PROXYPROTO\n\
         server 1 {{\n  ipaddr {vip}\n  port 53\n  method session\n  targets 1\n}}\n\
         register server 1\nenable server 1\n\
         target 1 {{\n  ipaddr {pdns}\n  dns {ZONE},1,2\n}}\n\
         register target 1\nenable target 1\n"
    )
}

/// One family's run: the addresses on the namespace's `lo`, PowerDNS on `pdns` (which is also
/// where Fulcrum's queries to it come from), the VIP and two clients (UDP, TCP).
fn powerdns_sees_the_clients(tag: &str, pdns: IpAddr, vip: IpAddr, clients: [IpAddr; 2]) {
    require_root();
    require_tools(
        &[PDNS, DIG],
        "install pdns-server, pdns-backend-bind and bind9-dnsutils (scripts/install-deps.sh)",
    );
    let name = format!("pproto-{tag}-{}", std::process::id());
    let mut addrs = vec![vip];
    addrs.extend(clients);
    if !pdns.is_loopback() {
        addrs.push(pdns);
    }
    let netns = LoopbackNetns::create(&name, &addrs)
        .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
    // Declared after the namespace: both are killed before it is deleted.
    let powerdns = PowerDns::start(&netns, pdns, pdns);
    let daemon = Daemon::with_config_in(&config(vip, pdns), Some(&netns));
    let context = || format!("{}\nPowerDNS:\n{}", daemon.logs(), powerdns.log());

    // Without the header PowerDNS drops Fulcrum's checks: the target stays or goes down.
    daemon.wait_for(1, false, Duration::from_secs(10));
    assert!(
        !powerdns.log().contains("wants"),
        "PowerDNS answered a query without a header:\n{}",
        context()
    );

    // Switched on live: the checks open with a LOCAL header and PowerDNS answers them.
    let target: fulcrum_control::show::TargetDoc = daemon.show("show target 1");
    assert!(!target.proxy_protocol, "{target:?}");
    daemon.control("target 1 { proxyprotocol enable }");
    let shown = daemon.control("show config");
    assert!(shown.contains("proxyprotocol enable"), "{shown}");
    let target: fulcrum_control::show::TargetDoc = daemon.show("show target 1");
    assert!(target.proxy_protocol, "show target 1 says so: {target:?}");
    let detail = daemon.control("show target 1");
    assert!(detail.contains("proxyprotocol yes"), "{detail}");
    daemon.wait_for(1, true, Duration::from_secs(10));

    // The clients' queries reach PowerDNS with their own addresses, over UDP then TCP.
    let [udp_client, tcp_client] = clients;
    for (client, tcp, prefix) in [
        (udp_client, false, "Remote "),
        (tcp_client, true, "TCP Remote "),
    ] {
        let answer = dig(&netns, vip, client, tcp);
        assert_eq!(
            answer,
            format!("\"{MARKER}\""),
            "from {client}:\n{}",
            context()
        );
        powerdns.wait_for_query(&format!("{prefix}{pdns}({client}) wants '{ZONE}|TXT'"));
    }
}

#[test]
fn powerdns_sees_ipv4_clients_through_fulcrum_over_udp_and_tcp() {
    let v4 = |last: u8| IpAddr::from([127, 0, 165, last]);
    let pdns = IpAddr::from([127, 0, 0, 1]);
    powerdns_sees_the_clients("v4", pdns, v4(10), [v4(77), v4(78)]);
}

#[test]
fn powerdns_sees_ipv6_clients_through_fulcrum_over_udp_and_tcp() {
    let v6 = |last: u16| IpAddr::from([0xfd00, 0x165, 0, 0, 0, 0, 0, last]);
    let pdns: IpAddr = std::net::Ipv6Addr::LOCALHOST.into();
    powerdns_sees_the_clients("v6", pdns, v6(0x10), [v6(0x77), v6(0x78)]);
}
