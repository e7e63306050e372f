//! `fulcrum agent` end to end, queried by the balancer's own client (`query_agent`, from
//! `fulcrum-agent-client`). The seed's setup: the agent runs an agentcheck.sh that calls
//! `fulcrum dns-check -zone balanceng.net -master A A` and echoes 1 or 0, against a real Bind9;
//! the value follows Bind9 going down and coming back (and the same with the seed's script as is,
//! calling mon's dns.monitor). Also: keys, the one-second cache, the
//! rate limit, and the client ignoring bad replies. Needs root, bind9 and iproute2.

use std::io::Read as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use fulcrum_agent_client::{query_agent, query_agent_from, AgentError, ClientDrops};
use fulcrum_wire::agent::Repr;
use netlab::bind9::{Bind9, Bind9Options, LoopbackNetns, Zone};
use testkit::netns::spawn_in;
use testkit::process::{write_executable, KillOnDrop};
use testkit::{free_port, fulcrum};

const DNS_MONITOR: &str = "/usr/lib/mon/mon.d/dns.monitor";
const SHORT: Duration = Duration::from_millis(500);

/// A running `fulcrum agent`, killed and reaped on drop.
struct Agent {
    child: Option<KillOnDrop>,
    addr: SocketAddr,
}

impl Agent {
    fn start(extra: &[&str]) -> Agent {
        Agent::start_bound(&["-b", "127.0.0.1"], extra)
    }

    /// Started with `bind` (`-b ADDRESS`, or nothing: every address); `addr` is 127.0.0.1.
    fn start_bound(bind: &[&str], extra: &[&str]) -> Agent {
        let port = free_port();
        let child = Command::new(fulcrum())
            .arg("agent")
            .args(bind)
            .args(extra)
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn();
        let child = match child {
            Ok(child) => child,
            Err(e) => panic!("starting {} agent: {e}", fulcrum()),
        };
        Agent {
            child: Some(KillOnDrop(child)),
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
        }
    }

    /// Waits until the agent answers at all (any value), with `key`.
    async fn wait_ready(&self, key: Option<&[u8]>) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if query_agent(self.addr, key, SHORT).await.is_ok() {
                return;
            }
        }
        panic!("fulcrum agent on {} never answered", self.addr);
    }

    /// Stops the agent and returns what it wrote on stderr.
    fn stop(&mut self) -> String {
        let Some(mut child) = self.child.take() else {
            return String::new();
        };
        child.kill();
        let mut text = String::new();
        if let Some(mut stderr) = child.0.stderr.take() {
            let _ = stderr.read_to_string(&mut text);
        }
        text
    }
}

/// Polls until the agent reports `wanted` (the command's result is cached for a second).
async fn wait_for_value(agent: &Agent, wanted: u32, within: Duration) {
    let started = Instant::now();
    let mut last = None;
    while started.elapsed() < within {
        match query_agent(agent.addr, None, Duration::from_secs(8)).await {
            Ok(value) if value == wanted => return,
            other => last = Some(other),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("agent never reported {wanted} within {within:?}; last: {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_agentcheck_follows_bind9() {
    // Bind9 on 127.0.1.1:53 in a namespace of its own (dns-check, like dns.monitor, only
    // speaks to port 53); the agent and the client on the host's loopback.
    let master = IpAddr::V4(Ipv4Addr::new(127, 0, 1, 1));
    let ns_name = format!("agentchk-{}", std::process::id());
    let netns = match LoopbackNetns::create(&ns_name, &[master]) {
        Ok(netns) => netns,
        Err(e) => panic!("{e}"),
    };
    let options = Bind9Options {
        listen: vec![master],
        port: 53,
        zones: vec![Zone::primary("balanceng.net", 2024, &[])],
        netns: Some(netns.name().to_string()),
        extra_options: String::new(),
    };
    let mut named = match Bind9::start(options.clone()) {
        Ok(named) => named,
        Err(e) => panic!("{e}"),
    };
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => panic!("{e}"),
    };
    // The seed's /etc/bind/agentcheck.sh, once with `fulcrum dns-check` for dns.monitor and once
    // as in the seed (dns.monitor's report goes to stdout before the 1 or 0: the agent reads the
    // last line).
    let mut agents = Vec::new();
    for (name, checker) in [
        ("fulcrum.sh", format!("{} dns-check", fulcrum())),
        ("monitor.sh", DNS_MONITOR.to_string()),
    ] {
        assert!(
            Path::new(DNS_MONITOR).exists(),
            "{DNS_MONITOR} is missing: install the Debian packages mon and libnet-dns-perl"
        );
        let script = write_executable(
            &dir.path().join(name),
            &format!(
                "#!/bin/sh\n\
                 ip netns exec {ns_name} {checker} -retry 1 -retransmit 1 \
                 -zone balanceng.net -master {master} {master}\n\
                 if [ \"$?\" = \"0\" ]\nthen\necho 1\nelse\necho 0\nfi\n"
            ),
        );
        let agent = Agent::start(&["-c", &script.display().to_string()]);
        agent.wait_ready(None).await;
        agents.push(agent);
    }
    for agent in &agents {
        wait_for_value(agent, 1, Duration::from_secs(10)).await;
    }

    named.stop();
    for agent in &agents {
        wait_for_value(agent, 0, Duration::from_secs(10)).await;
    }

    let _named = match Bind9::start(options) {
        Ok(named) => named,
        Err(e) => panic!("{e}"),
    };
    for agent in &agents {
        wait_for_value(agent, 1, Duration::from_secs(10)).await;
    }
}

/// Without `-b` the agent answers on IPv4 and IPv6 alike (two sockets, one port), and a
/// balancer probing over IPv6 is answered from the address it asked.
#[tokio::test]
async fn without_an_address_both_families_are_answered() {
    let mut agent = Agent::start_bound(&[], &[]);
    agent.wait_ready(None).await;
    let v6 = SocketAddr::new(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST), agent.addr.port());
    let drops = ClientDrops::new();
    let answer = query_agent_from(v6, Some(v6.ip()), None, SHORT, &drops).await;
    assert!(matches!(answer, Ok(v) if v >= 1), "over IPv6: {answer:?}");
    assert!(
        query_agent(agent.addr, None, SHORT).await.is_ok(),
        "over IPv4"
    );
    let stderr = agent.stop();
    assert!(
        stderr.contains(&format!(
            "0.0.0.0:{} and [::]:{}",
            agent.addr.port(),
            agent.addr.port()
        )),
        "{stderr}"
    );
}

#[tokio::test]
async fn keys_must_match_and_mismatches_are_counted() {
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => panic!("{e}"),
    };
    let keyfile = dir.path().join("agent.key");
    if let Err(e) = std::fs::write(&keyfile, "correct horse battery staple\n") {
        panic!("{e}");
    }
    let keyfile = keyfile.display().to_string();
    let mut agent = Agent::start(&["-k", &keyfile]);
    let key: &[u8] = b"correct horse battery staple";
    agent.wait_ready(Some(key)).await;
    // No -c: 1 + 100 x load, never 0.
    let value = query_agent(agent.addr, Some(key), SHORT).await;
    assert!(matches!(value, Ok(v) if v >= 1), "{value:?}");

    for wrong in [Some(b"wrong".as_slice()), None] {
        let answer = query_agent(agent.addr, wrong, SHORT).await;
        assert!(matches!(answer, Err(AgentError::Timeout(_))), "{answer:?}");
    }
    // The agent prints its counters when they change, at most once a second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stderr = agent.stop();
    assert!(stderr.contains("2 unauthenticated"), "{stderr}");
}

#[tokio::test]
async fn the_command_runs_at_most_once_a_second() {
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => panic!("{e}"),
    };
    let counter = dir.path().join("runs");
    let script = write_executable(
        &dir.path().join("count.sh"),
        &format!(
            "#!/bin/sh\nn=$(( $(cat {c} 2>/dev/null || echo 0) + 1 ))\necho $n > {c}\necho $n\n",
            c = counter.display()
        ),
    );
    let agent = Agent::start(&["-c", &script.display().to_string()]);
    agent.wait_ready(None).await;
    let started = Instant::now();
    let mut values = Vec::new();
    while started.elapsed() < Duration::from_millis(2500) {
        if let Ok(value) = query_agent(agent.addr, None, SHORT).await {
            values.push(value);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    values.dedup();
    // About 40 queries in 2.5 s, but only one run per second (plus the one at start-up).
    assert!(values.len() >= 2 && values.len() <= 4, "{values:?}");
    assert!(values.windows(2).all(|w| w[1] == w[0] + 1), "{values:?}");
}

#[tokio::test]
async fn a_flood_from_one_source_is_rate_limited() {
    let agent = Agent::start(&[]);
    agent.wait_ready(None).await;
    let socket = match tokio::net::UdpSocket::bind("127.0.0.1:0").await {
        Ok(socket) => socket,
        Err(e) => panic!("{e}"),
    };
    let request = Repr::Request { nonce: [7; 16] }.emit(None);
    for _ in 0..200 {
        if let Err(e) = socket.send_to(&request, agent.addr).await {
            panic!("{e}");
        }
    }
    let mut replies = 0;
    let mut buffer = [0u8; 64];
    while let Ok(Ok((length, _))) = tokio::time::timeout(SHORT, socket.recv_from(&mut buffer)).await
    {
        // Never larger than the request: the agent cannot amplify.
        assert!(length <= request.len(), "{length}-byte reply");
        assert_eq!(
            Repr::parse_bytes(&buffer[..length], None)
                .ok()
                .map(|r| matches!(r, Repr::Reply { nonce, .. } if nonce == [7; 16])),
            Some(true)
        );
        replies += 1;
    }
    // A burst of 40 (plus what trickles in at 20/s while sending, slowly on a loaded machine),
    // far from 200.
    assert!((20..=80).contains(&replies), "{replies} replies");
}

#[tokio::test]
async fn the_client_ignores_bad_replies_and_counts_them() {
    // A fake agent: answers every request with junk first, then the real reply.
    let fake = match tokio::net::UdpSocket::bind("127.0.0.1:0").await {
        Ok(socket) => socket,
        Err(e) => panic!("{e}"),
    };
    let intruder = match tokio::net::UdpSocket::bind("127.0.0.1:0").await {
        Ok(socket) => socket,
        Err(e) => panic!("{e}"),
    };
    let fake_addr = match fake.local_addr() {
        Ok(addr) => addr,
        Err(e) => panic!("{e}"),
    };
    let server = tokio::spawn(async move {
        let mut buffer = [0u8; 128];
        let Ok((length, from)) = fake.recv_from(&mut buffer).await else {
            return;
        };
        let Ok(Repr::Request { nonce }) = Repr::parse_bytes(&buffer[..length], None) else {
            return;
        };
        let good = Repr::Reply { nonce, value: 77 }.emit(None);
        let mut oversized = good.clone();
        oversized.extend_from_slice(&[0; 8]);
        let wrong_nonce = Repr::Reply {
            nonce: [0xee; 16],
            value: 1,
        }
        .emit(None);
        let mut malformed = good.clone();
        malformed[0] = b'X';
        let keyed = Repr::Reply { nonce, value: 1 }.emit(Some(b"k"));
        let _ = intruder.send_to(&good, from).await;
        for junk in [
            &oversized,
            &wrong_nonce,
            &malformed,
            &keyed[..28].to_vec(),
            &keyed,
        ] {
            let _ = fake.send_to(junk, from).await;
        }
        let _ = fake.send_to(&good, from).await;
    });
    let drops = ClientDrops::new();
    let value = query_agent_from(fake_addr, None, None, Duration::from_secs(3), &drops).await;
    let _ = server.await;
    assert_eq!(value.ok(), Some(77));
    assert_eq!(drops.wrong_source.load(Ordering::Relaxed), 1);
    assert_eq!(
        drops.oversized.load(Ordering::Relaxed),
        2,
        "keyed reply is 44 > 28 bytes"
    );
    assert_eq!(drops.wrong_nonce.load(Ordering::Relaxed), 1);
    // "FAGT" replaced, and a keyed packet cut to 28 bytes (flag set, no MAC).
    assert_eq!(drops.malformed.load(Ordering::Relaxed), 2);
}

/// On a node that is its own target (the seed's `set localdsr 1`), the balancer probes the
/// agent at the node's address from the network's `real` address, which is on the same host. An
/// agent bound to every address must answer from the address it was asked at: the kernel's
/// own choice for a reply to a local address is another one, and the balancer rightly ignores a
/// reply from elsewhere ("no reply", the local target taken down). Runs in a namespace of its
/// own holding both addresses on `lo`; the client is the balancer's, from a thread inside it.
#[test]
fn an_agent_on_every_address_answers_from_the_one_asked() {
    let lab = netlab::Lab::new("agentsrc");
    let ns = match lab.netns("n") {
        Ok(ns) => ns,
        Err(e) => panic!("{e}"),
    };
    let (target, real) = (
        Ipv4Addr::new(10, 235, 210, 43),
        Ipv4Addr::new(10, 235, 210, 45),
    );
    for addr in [target, real] {
        if let Err(e) = ns.lo_alias(&format!("{addr}/32")) {
            panic!("{e}");
        }
    }
    let port = free_port();
    let mut command = ns.command(fulcrum());
    command
        .args(["agent", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Err(e) = ns.spawn(command) {
        panic!("{e}");
    }
    let asked = SocketAddr::new(IpAddr::V4(target), port);
    let client = spawn_in(ns.name(), move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async {
            let drops = ClientDrops::new();
            let mut last = None;
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(10) {
                match query_agent_from(asked, Some(IpAddr::V4(real)), None, SHORT, &drops).await {
                    Ok(value) => return Ok((value, drops.snapshot())),
                    Err(e) => last = Some(e.to_string()),
                }
            }
            Err(format!(
                "no answer from {asked}: {last:?}; ignored (wrong source, ...): {:?}",
                drops.snapshot()
            ))
        })
    });
    match client.join() {
        Ok(Ok((value, _))) => assert!(value >= 1, "value {value}"),
        Ok(Err(e)) => panic!("{e}"),
        Err(_) => panic!("the client thread panicked"),
    }
}
