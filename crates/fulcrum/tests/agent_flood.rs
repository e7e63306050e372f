//! `fulcrum agent` under abuse, end to end. In the seed's topology (netlab): ns0b runs the
//! seed's agent command line (`fulcrum agent -c SCRIPT 439`), a keyed one (`-k`) and one that
//! answers only the listed balancers (`-a`), while the client network sends a bounded flood of
//! requests from thousands of spoofed source addresses (a raw socket in the client namespace;
//! 3 s at 5000 requests/s to each agent, more sources than the agent's rate-limiter table
//! holds). Meanwhile ns0a, the other balancer, keeps asking the three agents with the
//! balancer's own client (`query_agent_from`, from `fulcrum-agent-client`) from its
//! address: no agent misses two probes in a row (a lockout would), and at most one in twenty is
//! lost on the busy machine. And with the real balancer (`fulcrum run` in ns0a,
//! the seed's configuration, the seed's agents on both nodes), a flood at both agents takes no
//! target down. On the host's loopback: a command that takes 2 s does not hold up a hundred
//! concurrent requests. Needs root, iproute2, bind9, dig, tcpdump and nftables.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fulcrum_agent_client::{query_agent_from, ClientDrops};
use fulcrum_wire::agent::Repr;
use netlab::seed::{seed_topology, NS0A_ADDR, NS0B_ADDR};
use testkit::netns::spawn_in;
use testkit::process::{write_executable, KillOnDrop};
use testkit::{free_port, fulcrum};

/// The seed's agent port; the keyed agent listens on the next one, the one answering only the
/// balancers (`-a`) on the one after.
const AGENT_PORT: u16 = 439;
const KEYED_PORT: u16 = 440;
const LISTED_PORT: u16 = 441;
const KEY: &[u8] = b"flood-test-shared-secret";
/// The flood: spoofed sources per millisecond, each asking both agents, and milliseconds
/// (5000 requests/s to each agent for 3 s).
const FLOOD_PER_MS: u32 = 5;
const FLOOD_MS: u32 = 3000;
/// The flood against the real balancer's agents: longer than its agent checks' timeout.
const FLOOD_MS_LONG: u32 = 6000;

/// One IPv4/UDP datagram with a forged source, for a raw socket (`IPPROTO_RAW`: the kernel
/// fills in the header checksum and total length; a zero UDP checksum means none).
fn spoofed_datagram(source: Ipv4Addr, dest: SocketAddrV4, payload: &[u8]) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let mut packet = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0];
    packet.extend_from_slice(&source.octets());
    packet.extend_from_slice(&dest.ip().octets());
    packet.extend_from_slice(&40000u16.to_be_bytes());
    packet.extend_from_slice(&dest.port().to_be_bytes());
    packet.extend_from_slice(&(udp_len as u16).to_be_bytes());
    packet.extend_from_slice(&[0, 0]);
    packet.extend_from_slice(payload);
    packet
}

/// The flood at the three agents on ns0b: keyed agents get packets with a MAC of the wrong key.
fn flood_ns0b() -> Result<u64, String> {
    let plain = Repr::Request { nonce: [0x5a; 16] }.emit(None);
    let forged = Repr::Request { nonce: [0x5a; 16] }.emit(Some(b"not the key"));
    flood(
        &[
            (SocketAddrV4::new(NS0B_ADDR, AGENT_PORT), plain.clone()),
            (SocketAddrV4::new(NS0B_ADDR, KEYED_PORT), forged),
            (SocketAddrV4::new(NS0B_ADDR, LISTED_PORT), plain),
        ],
        FLOOD_MS,
    )
}

/// Sends a bounded flood, `FLOOD_PER_MS` requests a millisecond to each of `agents` for
/// `millis` ms: source addresses from 198.18.0.0/15 (nobody's), a new one for each request.
/// Returns how many packets were sent.
fn flood(agents: &[(SocketAddrV4, Vec<u8>)], millis: u32) -> Result<u64, String> {
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(255)))
        .map_err(|e| format!("raw socket: {e}"))?;
    let mut sent = 0u64;
    let started = Instant::now();
    for ms in 0..millis {
        for k in 0..FLOOD_PER_MS {
            let n = ms * FLOOD_PER_MS + k;
            let source = Ipv4Addr::new(198, 18 + (n >> 16) as u8 % 2, (n >> 8) as u8, n as u8);
            for (dest, payload) in agents {
                let dest = *dest;
                let packet = spoofed_datagram(source, dest, payload);
                if socket
                    .send_to(&packet, &SockAddr::from(SocketAddr::V4(dest)))
                    .is_ok()
                {
                    sent += 1;
                }
            }
        }
        // Paced against the clock: a slow machine sends fewer, never faster.
        let due = Duration::from_millis(u64::from(ms) + 1);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    Ok(sent)
}

#[test]
fn a_spoofed_flood_does_not_lock_the_balancer_out() {
    let lab = netlab::Lab::new("agentflood");
    let seed = match seed_topology(&lab) {
        Ok(seed) => seed,
        Err(e) => panic!("{e}"),
    };
    let work = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => panic!("{e}"),
    };
    let script = work.path().join("agentcheck.sh");
    write_executable(&script, "#!/bin/sh\necho 1\n");
    let keyfile = work.path().join("agent.key");
    if let Err(e) = std::fs::write(&keyfile, KEY) {
        panic!("{e}");
    }
    let mut logs = Vec::new();
    for (port, extra) in [
        (AGENT_PORT, vec![]),
        (
            KEYED_PORT,
            vec!["-k".to_string(), keyfile.display().to_string()],
        ),
        (
            LISTED_PORT,
            vec![
                "-a".to_string(),
                NS0A_ADDR.to_string(),
                "-a".to_string(),
                NS0B_ADDR.to_string(),
            ],
        ),
    ] {
        let log = work.path().join(format!("agent-{port}.log"));
        let stderr = match std::fs::File::create(&log) {
            Ok(file) => file,
            Err(e) => panic!("{e}"),
        };
        let mut command = seed.ns0b.command(fulcrum());
        command
            .arg("agent")
            .arg(format!("-c{}", script.display()))
            .args(&extra)
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(stderr);
        if let Err(e) = seed.ns0b.spawn(command) {
            panic!("{e}");
        }
        logs.push(log);
    }

    // ns0a asks both agents from its own address, as its health checks do, before, during and
    // after the flood; none may be locked out (see the assertion below).
    let flooding = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let still_flooding = flooding.clone();
    let ready = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let answered_before = ready.clone();
    let balancer = spawn_in(seed.ns0a.name(), move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async move {
            static DROPS: ClientDrops = ClientDrops::new();
            let source = Some(IpAddr::V4(NS0A_ADDR));
            let ask = move |port: u16, key: Option<&'static [u8]>| {
                let agent = SocketAddr::new(IpAddr::V4(NS0B_ADDR), port);
                query_agent_from(agent, source, key, Duration::from_secs(1), &DROPS)
            };
            // Both agents up before the flood starts.
            let started = Instant::now();
            while ask(AGENT_PORT, None).await.is_err()
                || ask(KEYED_PORT, Some(KEY)).await.is_err()
                || ask(LISTED_PORT, None).await.is_err()
            {
                if started.elapsed() > Duration::from_secs(10) {
                    return Err("the agents never answered".to_string());
                }
            }
            answered_before.store(true, std::sync::atomic::Ordering::Relaxed);
            // A probe to each agent every 100 ms, each on its own task: a lost one does not
            // delay the next.
            let mut probes = Vec::new();
            while still_flooding.load(std::sync::atomic::Ordering::Relaxed) {
                for (port, key) in [
                    (AGENT_PORT, None),
                    (KEYED_PORT, Some(KEY)),
                    (LISTED_PORT, None),
                ] {
                    let probe = tokio::spawn(ask(port, key));
                    probes.push((port, probe));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            // A lockout shows as an agent missing probes in a row; one probe lost on the busy
            // two-core machine is not one (a health check marks a target down only after
            // several failures in a row). So: at most one miss in a row per agent, and at most
            // one probe in twenty missed overall.
            let (asked, mut failures, mut in_a_row) = (probes.len(), Vec::new(), Vec::new());
            let mut missed_last: std::collections::HashMap<u16, bool> = Default::default();
            for (port, probe) in probes {
                let outcome = probe.await;
                let missed = !matches!(outcome, Ok(Ok(1)));
                if missed {
                    failures.push(format!("port {port}: {outcome:?}"));
                    if missed_last.get(&port).copied().unwrap_or(false) {
                        in_a_row.push(port);
                    }
                }
                missed_last.insert(port, missed);
            }
            Ok((asked, failures, in_a_row))
        })
    });
    // The balancer sees both agents answer first (or gives up and reports why).
    while !ready.load(std::sync::atomic::Ordering::Relaxed) && !balancer.is_finished() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let flooder = spawn_in(seed.client.name(), flood_ns0b);
    let sent = match flooder.join() {
        Ok(Ok(sent)) => sent,
        Ok(Err(e)) => panic!("flood: {e}"),
        Err(_) => panic!("the flood thread panicked"),
    };
    // Probes keep going for a moment after the flood (what is still queued).
    std::thread::sleep(Duration::from_millis(500));
    flooding.store(false, std::sync::atomic::Ordering::Relaxed);
    let outcome = balancer.join();
    // Counters are printed at most once a second.
    std::thread::sleep(Duration::from_millis(1200));
    let counters: Vec<String> = logs
        .iter()
        .map(|log| std::fs::read_to_string(log).unwrap_or_default())
        .collect();
    eprintln!(
        "sent {sent} spoofed requests; agents said:\n{}",
        counters.join("")
    );
    match outcome {
        Ok(Ok((asked, failures, in_a_row))) => {
            assert!(asked >= 10, "only {asked} probes during the flood");
            assert!(
                in_a_row.is_empty() && failures.len() * 20 <= asked,
                "{} of {asked} probes unanswered during the flood, in a row at ports \
                 {in_a_row:?}: {failures:?}\n{}",
                failures.len(),
                counters.join("")
            );
            if !failures.is_empty() {
                eprintln!("isolated misses under the machine's load: {failures:?}");
            }
        }
        Ok(Err(e)) => panic!("{e}"),
        Err(_) => panic!("the balancer thread panicked"),
    }
    assert!(
        sent >= u64::from(FLOOD_MS) * u64::from(FLOOD_PER_MS),
        "flood too small: {sent}"
    );
    // The flood reached the agents: forged MACs counted by the keyed one, strangers by the
    // one with an allow list.
    for (log, counter) in [(1, "unauthenticated"), (2, "not allowed")] {
        assert!(
            counters[log].contains(counter) && !counters[log].contains(&format!(" 0 {counter}")),
            "{}",
            counters[log]
        );
    }
}

#[test]
fn a_slow_command_does_not_hold_up_requests() {
    let work = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => panic!("{e}"),
    };
    let running = work.path().join("running");
    let script = work.path().join("slow.sh");
    write_executable(
        &script,
        &format!(
            "#!/bin/sh\ntouch {r}\nsleep 2\nrm -f {r}\necho 5\n",
            r = running.display()
        ),
    );
    let port = free_port();
    let child = Command::new(fulcrum())
        .args(["agent", "-b", "127.0.0.1", "-c"])
        .arg(&script)
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let mut child = match child {
        Ok(child) => KillOnDrop(child),
        Err(e) => panic!("starting {} agent: {e}", fulcrum()),
    };
    let agent = SocketAddr::from(([127, 0, 0, 1], port));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => panic!("{e}"),
    };
    let outcome = runtime.block_on(async {
        let drops = ClientDrops::new();
        // The first run (2 s) comes before the first answer.
        let started = Instant::now();
        while query_agent_from(agent, None, None, Duration::from_secs(1), &drops)
            .await
            .is_err()
        {
            if started.elapsed() > Duration::from_secs(15) {
                return Err("the agent never answered".to_string());
            }
        }
        // A second later the value is stale: the next request (or the agent itself, having
        // been asked lately) runs the command again, for 2 s.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let running_before = running.exists();
        // A hundred requests at once, from a hundred sources (each within its rate), each
        // waiting less than the command takes: all answered from the last value.
        let asks = (1..=100u8).map(|n| {
            let source = Some(IpAddr::V4(Ipv4Addr::new(127, 0, 4, n)));
            tokio::spawn(async move {
                let drops = ClientDrops::new();
                query_agent_from(agent, source, None, Duration::from_millis(1500), &drops).await
            })
        });
        let asks: Vec<_> = asks.collect();
        let mut answers = Vec::new();
        for ask in asks {
            answers.push(match ask.await {
                Ok(answer) => answer.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            });
        }
        Ok((answers, running_before, running.exists()))
    });
    child.kill();
    let (answers, running_before, still_running) = match outcome {
        Ok(outcome) => outcome,
        Err(e) => panic!("{e}"),
    };
    let unanswered: Vec<_> = answers
        .iter()
        .filter(|a| a.as_ref().ok() != Some(&5))
        .collect();
    assert!(
        unanswered.is_empty(),
        "{} of 100 not answered with 5 while the command ran: {unanswered:?}",
        unanswered.len()
    );
    // Not required, but shows the answers came while the command was still running.
    eprintln!("command running before the 100 requests: {running_before}, after: {still_running}");
}

/// The real balancer: `fulcrum run` in ns0a with the seed's NS0A configuration, the seed's
/// agents on both nodes. A 6-second flood of spoofed requests at both agents (5000/s each)
/// takes no target down.
#[test]
fn a_spoofed_flood_takes_no_target_down() {
    use testkit::seed_dsr::{require_tools, seed_config, start_seed_agents, Balancer};
    require_tools();
    let lab = netlab::Lab::new("agentbal");
    let seed = match seed_topology(&lab) {
        Ok(seed) => seed,
        Err(e) => panic!("{e}"),
    };
    let _bind9 = match seed.start_bind9() {
        Ok(bind9) => bind9,
        Err(e) => panic!("{e}"),
    };
    if let Err(e) = seed.ns0a.addr("eth1", "10.235.210.45/32") {
        panic!("{e}");
    }
    let scripts = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => panic!("{e}"),
    };
    let _agents = start_seed_agents(&seed, scripts.path());
    // The agent checks a probe every 3 s (the seed's every 5 s), down after 4 s without an
    // answer (the seed's 13 s), so that a short flood would be enough to take a target down.
    let config = seed_config().replace("agent 439,5,13", "agent 439,3,4");
    assert!(config.contains("agent 439,3,4"), "{config}");
    let balancer = Balancer::start(&seed.ns0a, &config);
    balancer.wait_ready(&seed);
    balancer.wait_for(1, true, Duration::from_secs(5));
    balancer.wait_for(2, true, Duration::from_secs(5));

    let request = Repr::Request { nonce: [0x5a; 16] }.emit(None);
    let agents = [
        (SocketAddrV4::new(NS0A_ADDR, AGENT_PORT), request.clone()),
        (SocketAddrV4::new(NS0B_ADDR, AGENT_PORT), request),
    ];
    let flooder = spawn_in(seed.client.name(), move || flood(&agents, FLOOD_MS_LONG));
    // Both targets stay up during the flood and for a check period after it.
    let mut downs = Vec::new();
    let mut polls = 0;
    while !flooder.is_finished() {
        polls += 1;
        for id in [1, 2] {
            if !balancer.operational(id) {
                downs.push(id);
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let sent = match flooder.join() {
        Ok(Ok(sent)) => sent,
        Ok(Err(e)) => panic!("flood: {e}"),
        Err(_) => panic!("the flood thread panicked"),
    };
    std::thread::sleep(Duration::from_secs(3));
    for id in [1, 2] {
        if !balancer.operational(id) {
            downs.push(id);
        }
    }
    assert!(polls >= 8, "only {polls} looks during the flood");
    assert!(
        sent >= 2 * 4000 * u64::from(FLOOD_PER_MS),
        "flood too small: {sent}"
    );
    assert!(
        downs.is_empty(),
        "targets seen down during a flood of {sent} spoofed requests: {downs:?}\n{}\n{}",
        balancer.control("show targets"),
        balancer.logs()
    );
}
