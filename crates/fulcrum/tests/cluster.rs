//! The seed's two-node cluster, end to end: the seed topology in network
//! namespaces (netlab), the seed's Bind9 pair, a real `fulcrum agent` on each node, and the real
//! `fulcrum run` on both nodes with the seed's NS0A and NS0B configurations, unchanged (the lab's
//! interface is `eth1` like the seed's), on hosts as the seed has them: eth1 up with no address,
//! so the `real` addresses exist only in Fulcrum. DSR mode, VRRP vrid 7 v2 at equal priority
//! 200, sessions synced with no `syncpeer` (the peer is derived from VRRP) as frames on eth1
//! (`transport dsr-frames`). Clients behind the router
//! (200 source addresses) ask the VIP for the zone's TXT, which names the answering node.
//!
//! The load under which the master fails places half the clients while target 2 is disabled on
//! the master (a live `disable target 2`, then `enable target 2`; the configuration files stay
//! as they are): they all sit on ns0a, where the method alone would put about half of them, so
//! a new master that placed clients anew instead of following the synced sessions moves some.
//!
//! Each scenario builds its own lab, so they run in parallel:
//! - the node started first is MASTER, the other BACKUP, adverts come from the virtual MAC,
//!   and the backup's `show sessions` lists the master's sessions within 2 s, while it
//!   forwards nothing;
//! - SIGKILL of the master under load: the backup takes over within Master_Down_Interval, the
//!   VIP answers again and every client keeps its node;
//! - SIGTERM of the master under load: the same, within Skew_Time (priority 0);
//! - split brain (VRRP and sync cut between the nodes, then restored): two masters while cut,
//!   one again within three adverts after, the tables converged, clients kept;
//! - the killed master restarted: it stays BACKUP at equal priority, resyncs the full table,
//!   sends nothing from the virtual MAC and takes no traffic away from the master.
//!
//! Each scenario runs once per DSR plane (`AF_PACKET`, AF_XDP: `testkit::per_plane!`).
//!
//! Needs root, iproute2, nftables, bind9 and dig.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use netlab::seed::VIP;
use testkit::cluster::load::{ClientLog, Load, LoadSpec};
use testkit::cluster::{within, Cluster, Node, ADVERT, MARGIN, MASTER_DOWN, SKEW};
use testkit::plane::Plane;
use testkit::show::{SyncDoc, VrrpDoc};

/// A steady load: every client asks every 250 ms, for at most 40 s.
const STEADY: LoadSpec = LoadSpec {
    pace: Duration::from_millis(250),
    queries: 160,
    duration: Duration::from_secs(40),
};

fn start_load(c: &Cluster, spec: LoadSpec) -> Load {
    Load::start(&c.seed.client, &c.seed.client_sources(), VIP, spec)
}

/// Several loads seen as one.
struct Loads(Vec<Load>);

impl Loads {
    fn snapshot(&self) -> Vec<ClientLog> {
        self.0.iter().flat_map(Load::snapshot).collect()
    }

    fn wait_until(&self, limit: Duration, check: impl Fn(&[ClientLog]) -> bool) -> bool {
        within(limit, || check(&self.snapshot())).is_some()
    }

    fn finish(self) -> Vec<ClientLog> {
        self.0.into_iter().flat_map(Load::finish).collect()
    }
}

fn everyone_answered(logs: &[ClientLog]) -> bool {
    logs.iter().all(|l| !l.answers.is_empty())
}

/// A steady load from `sources`, placed while target 2 is disabled on `master` (then enabled
/// again): every one of them sits on ns0a, where the method alone would put only about half.
/// A new master that placed clients anew instead of following the synced sessions would move
/// the others to ns0b.
fn pinned_load(c: &Cluster, master: &Node, sources: &[std::net::Ipv4Addr]) -> Load {
    let reply = master.control("disable target 2");
    assert!(!reply.contains("rror"), "disable target 2: {reply}");
    // The DSR plane takes the change from its driver a moment after the reply (no control
    // command shows the plane's own table): give it ample time.
    std::thread::sleep(Duration::from_secs(1));
    let load = Load::start(&c.seed.client, sources, VIP, STEADY);
    let answered = load.wait_until(Duration::from_secs(10), everyone_answered);
    assert!(
        answered,
        "not every pinned client was answered:\n{}",
        c.logs()
    );
    let reply = master.control("enable target 2");
    assert!(!reply.contains("rror"), "enable target 2: {reply}");
    // As above: the plane takes target 2 back a moment later, and clients that ask before
    // then would all be placed on ns0a.
    std::thread::sleep(Duration::from_secs(1));
    for (client, node) in all_answered_and_sticky(&load.snapshot()) {
        assert_eq!(
            node, "ns0a",
            "{client} placed on ns0b while target 2 was disabled"
        );
    }
    load
}

/// The steady load from all 200 clients: the first 100 pinned to ns0a ([`pinned_load`]), the
/// others placed by the method, once every client has been answered.
fn cluster_load(c: &Cluster) -> Loads {
    let sources = c.seed.client_sources();
    let (pinned, spread) = sources.split_at(100);
    let pinned = pinned_load(c, &c.a, pinned);
    let spread = Load::start(&c.seed.client, spread, VIP, STEADY);
    let answered = spread.wait_until(Duration::from_secs(10), everyone_answered);
    assert!(answered, "not every client was answered:\n{}", c.logs());
    let on_b = all_answered_and_sticky(&spread.snapshot())
        .values()
        .filter(|n| *n == "ns0b")
        .count();
    assert!(
        (10..=90).contains(&on_b),
        "the method puts clients on both nodes: {on_b} of 100 on ns0b"
    );
    Loads(vec![pinned, spread])
}

/// Every client has had an answer, and each client only ever one node.
fn all_answered_and_sticky(logs: &[ClientLog]) -> HashMap<String, String> {
    let mut node_of = HashMap::new();
    for log in logs {
        let nodes = log.nodes();
        assert!(
            !nodes.is_empty(),
            "{} got no answer to its {} queries; answered: {} of {} clients",
            log.addr,
            log.sent,
            logs.iter().filter(|l| !l.answers.is_empty()).count(),
            logs.len()
        );
        assert_eq!(
            nodes.len(),
            1,
            "{} moved between nodes: {:?}",
            log.addr,
            log.answers
        );
        node_of.insert(log.addr.to_string(), nodes[0].clone());
    }
    node_of
}

/// Waits until the backup lists exactly the master's sessions (at most `limit`).
fn converged(master: &Node, backup: &Node, limit: Duration) -> Duration {
    let mut last = Default::default();
    let took = within(limit, || {
        let on_master = master.sessions();
        last = (on_master.clone(), backup.sessions());
        !on_master.is_empty() && last.0 == last.1
    });
    took.unwrap_or_else(|| {
        let (m, b) = &last;
        panic!(
            "{}'s sessions differ from {}'s after {limit:?}: only on the master {:?}, only on \
             the backup {:?}\n{}\n{}\n{}\n{}",
            backup.name,
            master.name,
            m.difference(b).take(10).collect::<Vec<_>>(),
            b.difference(m).take(10).collect::<Vec<_>>(),
            backup.show_sync(),
            master.show_sync(),
            master.logs(),
            backup.logs()
        )
    })
}

testkit::per_plane! {
fn the_first_node_is_master_and_the_backup_learns_its_sessions_within_two_seconds(plane) {
    let c = Cluster::up_on("clusterinit", plane);
    let (a, b) = (c.a.show_vrrp(), c.b.show_vrrp());
    for line in ["vrid 7", "priority 200", "ipaddr0 10.235.210.1"] {
        assert!(a.contains(line), "ns0a's show vrrp lacks {line:?}:\n{a}");
        assert!(b.contains(line), "ns0b's show vrrp lacks {line:?}:\n{b}");
    }
    assert!(a.starts_with("state MASTER\n"), "{a}");
    assert!(b.starts_with("state BACKUP\n"), "{b}");
    assert!(a.contains("holding yes"), "{a}");
    assert!(b.contains("holding no"), "{b}");
    assert!(b.contains("master 10.235.210.45"), "{b}");
    // The seed's hosts: eth1 holds no address, so sync runs as frames on it.
    for node in [&c.a, &c.b] {
        let eth1 = node
            .ns
            .run(&["ip", "-4", "-o", "addr", "show", "dev", "eth1"])
            .expect("ip addr show dev eth1");
        assert!(eth1.trim().is_empty(), "{}: eth1 holds {eth1}", node.name);
        let sync = node.show_sync();
        assert!(sync.starts_with("sync running\n"), "{}: {sync}", node.name);
        assert!(
            sync.contains("transport dsr-frames on eth1"),
            "{}: {sync}",
            node.name
        );
    }

    // In DSR mode the adverts come from the virtual MAC (RFC 3768 7.3), so the switch learns
    // where the VIP's MAC is with each of them.
    let adverts =
        c.b.ns
            .capture("eth1", &["-e", "ip", "proto", "112"])
            .expect("capture on ns0b's eth1");
    std::thread::sleep(ADVERT * 2);
    let lines = adverts.stop();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("00:00:5e:00:01:07 > 01:00:5e:00:00:12")),
        "no advert from the virtual MAC:\n{lines:#?}"
    );

    // Three queries from each of the 200 client addresses.
    let load = start_load(
        &c,
        LoadSpec {
            pace: Duration::from_millis(300),
            queries: 3,
            duration: Duration::from_secs(10),
        },
    );
    let logs = load.wait();
    let queried = Instant::now();
    let node_of = all_answered_and_sticky(&logs);
    let on_a = node_of.values().filter(|n| *n == "ns0a").count();
    assert!(
        on_a >= 20 && node_of.len() - on_a >= 20,
        "both nodes serve clients: {on_a} on ns0a of {}",
        node_of.len()
    );
    let sessions = c.a.sessions();
    for log in &logs {
        assert!(
            sessions.iter().any(|s| s.1 == log.addr.to_string()),
            "the master has no session for {}",
            log.addr
        );
    }
    converged(
        &c.a,
        &c.b,
        Duration::from_secs(2).saturating_sub(queried.elapsed()),
    );
    // The backup forwarded nothing: all of it went through the master.
    assert_eq!(
        c.b.target_queries(1),
        Some(0),
        "{}",
        c.b.control("show targets")
    );
    assert_eq!(
        c.b.target_queries(2),
        Some(0),
        "{}",
        c.b.control("show targets")
    );
    let sync = c.b.show::<SyncDoc>("show sync").and_then(|doc| doc.detail);
    let peer = sync
        .as_ref()
        .map(|d| (d.peer.as_deref(), d.peer_source.as_deref()));
    assert_eq!(
        peer,
        Some((Some("10.235.210.45"), Some("vrrp-master"))),
        "{sync:?}"
    );
}
}

/// Under the steady load ([`cluster_load`]), with both tables holding every client: stops the
/// master with `stop` and checks that ns0b takes over within `limit` of the stop, the VIP
/// answers every client again, and every client kept its node. Returns the cluster (ns0a
/// stopped) and the load, still running.
fn takeover(tag: &str, stop: fn(&mut Node), limit: Duration, plane: Plane) -> (Cluster, Loads) {
    let mut c = Cluster::up_on(tag, plane);
    let load = cluster_load(&c);
    converged(&c.a, &c.b, Duration::from_secs(5));
    let before = all_answered_and_sticky(&load.snapshot());

    let stopped = Instant::now();
    stop(&mut c.a);
    let took = stopped.elapsed() + c.b.wait_state("MASTER", limit);
    assert!(took <= limit, "ns0b took over after {took:?}");
    let again = Instant::now();
    let answered = load.wait_until(Duration::from_secs(5), |logs| {
        logs.iter().all(|l| l.answered_since(again) > 0)
    });
    let logs = load.snapshot();
    assert!(
        answered,
        "{} of {} clients not answered since the takeover:\n{}",
        logs.iter().filter(|l| l.answered_since(again) == 0).count(),
        logs.len(),
        c.logs()
    );
    let after = all_answered_and_sticky(&logs);
    assert_eq!(before, after, "clients changed nodes");
    let vrrp = c.b.show::<VrrpDoc>("show vrrp").and_then(|doc| doc.ipv4);
    assert!(vrrp.as_ref().is_some_and(|v| v.holding), "{vrrp:?}");
    (c, load)
}

testkit::per_plane! {
fn sigkill_of_the_master_under_load_the_backup_takes_over_and_every_client_keeps_its_node(plane) {
    let (c, load) = takeover("clusterkill", Node::sigkill, MASTER_DOWN + MARGIN, plane);
    // The new master forwards to both nodes with the sessions it learned.
    let forwarded = within(Duration::from_secs(2), || {
        c.b.target_queries(1).unwrap_or(0) > 0 && c.b.target_queries(2).unwrap_or(0) > 0
    });
    assert!(forwarded.is_some(), "{}", c.b.control("show targets"));
    all_answered_and_sticky(&load.finish());
}
}

testkit::per_plane! {
fn sigterm_of_the_master_under_load_the_backup_takes_over_within_the_skew_time(plane) {
    let (c, load) = takeover("clusterterm", Node::sigterm, SKEW + MARGIN, plane);
    let vrrp = c.b.show::<VrrpDoc>("show vrrp").and_then(|doc| doc.ipv4);
    assert_eq!(
        vrrp.as_ref().map(|v| v.priority_zero_received),
        Some(1),
        "{vrrp:?}"
    );
    let log = testkit::cluster::read(&c.a.log());
    assert!(log.contains("vrrp MASTER -> INIT: shutdown"), "{log}");
    all_answered_and_sticky(&load.finish());
}
}

testkit::per_plane! {
fn split_brain_heals_to_one_master_within_three_adverts_with_the_tables_converged(plane) {
    let c = Cluster::up_on("clustersplit", plane);
    let sources = c.seed.client_sources();
    let (first, second) = sources.split_at(100);
    // Half the clients before the cut, pinned to ns0a.
    let load = pinned_load(&c, &c.a, first);
    converged(&c.a, &c.b, Duration::from_secs(5));

    c.cut();
    c.b.wait_state("MASTER", MASTER_DOWN + MARGIN);
    assert_eq!(c.a.state(), "MASTER", "{}", c.a.show_vrrp());
    // The other half while both are master: the VIP is wherever the switch last saw the
    // virtual MAC (both masters advertise from it), and that node places them.
    let during = Load::start(&c.seed.client, second, VIP, STEADY);
    let everyone = during.wait_until(Duration::from_secs(10), |logs| {
        logs.iter().all(|l| !l.answers.is_empty())
    });
    assert!(
        everyone,
        "not every new client was answered in the split:\n{}",
        c.logs()
    );

    c.heal();
    let healed = Instant::now();
    let one_master = within(ADVERT * 3 + MARGIN, || {
        let states = [c.a.state(), c.b.state()];
        states.contains(&"MASTER".to_string()) && states.contains(&"BACKUP".to_string())
    });
    assert!(
        one_master.is_some(),
        "two masters {:?} after healing: a {}, b {}\n{}",
        healed.elapsed(),
        c.a.state(),
        c.b.state(),
        c.logs()
    );
    let (master, backup) = if c.a.state() == "MASTER" {
        (&c.a, &c.b)
    } else {
        (&c.b, &c.a)
    };
    // Equal priority: the higher primary address (ns0b's .46) wins (RFC 3768 6.4.3).
    assert_eq!(master.name, "ns0b");
    // The VIP answers every client again: the switch follows the master that stayed.
    let one = Instant::now();
    let answered = |load: &Load| {
        load.wait_until(Duration::from_secs(3), |logs| {
            logs.iter().all(|l| l.answered_since(one) > 0)
        })
    };
    assert!(
        answered(&load) && answered(&during),
        "clients unanswered after healing:\n{}",
        c.logs()
    );
    // The backup drops what it placed alone and takes the master's table; clients the old
    // master placed during the split are placed again by the same method on their next query,
    // on the same target (checked by the loads below).
    let everyone = within(Duration::from_secs(5), || {
        let all = master.sessions();
        sources
            .iter()
            .all(|addr| all.iter().any(|s| s.1 == addr.to_string()))
    });
    assert!(
        everyone.is_some(),
        "the master lacks sessions after healing:\n{}",
        c.logs()
    );
    converged(master, backup, Duration::from_secs(5));
    // Still one master three adverts on, and every client kept its node throughout.
    std::thread::sleep(ADVERT * 3);
    assert_eq!(
        (c.a.state(), c.b.state()),
        ("BACKUP".into(), "MASTER".into())
    );
    all_answered_and_sticky(&load.finish());
    all_answered_and_sticky(&during.finish());
}
}

testkit::per_plane! {
fn the_killed_master_rejoins_as_backup_and_resyncs_the_full_table(plane) {
    let (mut c, load) = takeover("clusterrejoin", Node::sigkill, MASTER_DOWN + MARGIN, plane);
    // A backup never speaks for the VIP: nothing leaves its eth1 from the virtual MAC (an
    // ARP answer or announcement would pull the VIP's MAC to its port of the switch).
    let from_vmac =
        c.a.ns
            .capture(
                "eth1",
                &["-e", "-Q", "out", "ether", "src", "00:00:5e:00:01:07"],
            )
            .expect("capture on ns0a's eth1");
    let rejoined = Instant::now();
    c.a.start();
    c.a.wait_state("BACKUP", MARGIN);
    converged(&c.b, &c.a, Duration::from_secs(3));
    let log = testkit::cluster::read(&c.a.log());
    assert!(log.contains("sync: full table received"), "{log}");
    // It stays backup beyond a master down interval, and the master keeps the traffic: every
    // client is answered after the rejoin, by its own node.
    let watch_until = Instant::now() + MASTER_DOWN + MARGIN;
    while Instant::now() < watch_until {
        assert_eq!(c.a.state(), "BACKUP", "{}", c.a.show_vrrp());
        assert_eq!(c.b.state(), "MASTER", "{}", c.b.show_vrrp());
        std::thread::sleep(Duration::from_millis(100));
    }
    let answered = load.wait_until(Duration::from_secs(3), |logs| {
        logs.iter().all(|l| l.answered_since(rejoined) > 0)
    });
    assert!(
        answered,
        "clients unanswered since the rejoin:\n{}",
        c.logs()
    );
    let spoke = from_vmac.stop();
    assert!(
        spoke.is_empty(),
        "the backup sent from the virtual MAC:\n{spoke:#?}"
    );
    assert_eq!(
        c.a.target_queries(1),
        Some(0),
        "{}",
        c.a.control("show targets")
    );
    assert_eq!(
        c.a.target_queries(2),
        Some(0),
        "{}",
        c.a.control("show targets")
    );
    all_answered_and_sticky(&load.finish());
    converged(&c.b, &c.a, Duration::from_secs(2));
}
}
