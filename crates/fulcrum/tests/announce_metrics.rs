//! The announcement's metrics and status page on one real active-active node: a namespace with
//! the real `fulcrum run` in proxy mode (`announce { }`, `set metrics`, one `syncpeer` on a
//! veth whose far end runs nothing) in front of its own real Bind9, scraped from inside the
//! namespace. No BIRD is needed: what the node decides to announce is what it holds on its
//! interface, and that is what the gauges must say. Checks, in order:
//! - right after the start the node waits for its peer's session table: `fulcrum_sync_joined`
//!   says `waiting` and the VIP is withdrawn for that reason; once nobody answered (the first
//!   node up) it says `nobody-answered` and the VIP is announced with one target up;
//! - stopping the Bind9 fails its health check: the VIP is withdrawn with reason `no target up`
//!   and no target up, as `show announce` says; starting it again announces it again;
//! - `promtool check metrics` passes on each scrape, the status JSON carries the same, and a
//!   real headless Chromium, run inside the namespace, renders the page's Announce section with
//!   the withdrawn VIP, its reason and the join state (a screenshot goes to
//!   `target/status-page-announce.png` for a person to look at).
//!
//! Needs root, iproute2, bind9, promtool and chromium. Everything runs inside the lab's
//! namespaces (the browser too, with no route out); every process is killed by PID and every
//! namespace removed when the lab drops, also on panic.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use netlab::bind9::{Bind9, Bind9Options, Zone};
use netlab::{Lab, Ns, Proc};
use testkit::scrape::{promtool_check, value};

const CHROMIUM: &str = "/usr/bin/chromium";
const ZONE: &str = "fulcrum.test";
const VIP: &str = "10.255.0.53";
const TARGET_PORT: u16 = 5353;
const METRICS: &str = "127.0.0.1:9153";

fn start_target(ns: &Ns) -> Bind9 {
    Bind9::start(Bind9Options {
        listen: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        port: TARGET_PORT,
        zones: vec![Zone::primary(ZONE, 1, &["@ IN TXT \"node1\""])],
        netns: Some(ns.name().to_string()),
        extra_options: String::new(),
    })
    .expect("start Bind9")
}

/// `GET path` on the node's metrics listener, from a thread that entered the namespace; the
/// body of a 200 answer, `None` otherwise.
fn http_get(ns: &Ns, path: &str) -> Option<String> {
    let netns = std::fs::File::open(format!("/run/netns/{}", ns.name())).ok()?;
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                nix::sched::setns(&netns, nix::sched::CloneFlags::CLONE_NEWNET).ok()?;
                let addr: SocketAddr = METRICS.parse().ok()?;
                testkit::scrape::http_ok(addr, path)
            })
            .join()
            .ok()
            .flatten()
    })
}

fn state(vip_state: &str) -> String {
    format!("fulcrum_announce_state{{server=\"1\",vip=\"{VIP}\",state=\"{vip_state}\"}}")
}

fn joined(join_state: &str) -> String {
    format!("fulcrum_sync_joined{{state=\"{join_state}\"}}")
}

const REASON: &str = "fulcrum_announce_withdrawn_reason{server=\"1\",reason=";
const TARGETS_UP: &str = "fulcrum_announce_targets_up{server=\"1\"}";

struct Node {
    ns: Ns,
    dir: PathBuf,
    _fulcrum: Proc,
}

impl Node {
    fn start(lab: &Lab, root: &Path) -> Node {
        let ns = lab.netns("node").expect("node namespace");
        let peer = lab.netns("peer").expect("peer namespace");
        lab.veth(&ns, "eth0", &peer, "eth0").expect("veth");
        ns.addr("eth0", "10.1.0.11/24").expect("node address");
        peer.addr("eth0", "10.1.0.12/24").expect("peer address");
        let conf = root.join("fulcrum.conf");
        std::fs::write(
            &conf,
            format!(
                "hostname NODE1\nset metrics {METRICS}\n\
                 network 1 {{\naddr 10.1.0.0\nmask 255.255.255.0\nreal 10.1.0.11\n\
                 syncpeer 10.1.0.12\n}}\nregister network 1\nenable network 1\n\
                 server 1 {{\nipaddr {VIP}\nport 53\ntargets 1\n}}\n\
                 register server 1\nenable server 1\n\
                 target 1 {{\nipaddr 127.0.0.1\nport {TARGET_PORT}\ndns {ZONE},1,2\n}}\n\
                 register target 1\nenable target 1\n\
                 announce {{\ninterface fulcrum-vip\n}}\n"
            ),
        )
        .expect("write the configuration");
        let socket = root.join("fulcrum.sock");
        let log = root.join("fulcrum.log");
        let fulcrum = testkit::daemon::spawn_run_in(&ns, &[], &conf, &socket, &log);
        Node {
            ns,
            dir: root.to_path_buf(),
            _fulcrum: fulcrum,
        }
    }

    fn control(&self, line: &str) -> String {
        testkit::control::control_text(&self.dir.join("fulcrum.sock"), line)
    }

    fn report(&self) -> String {
        format!(
            "== show announce\n{}\n== fulcrum log\n{}",
            self.control("show announce"),
            std::fs::read_to_string(self.dir.join("fulcrum.log")).unwrap_or_default()
        )
    }

    /// Scrapes until `done` holds for the exposition (bounded); returns that exposition.
    fn scrape_until(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Some(text) = http_get(&self.ns, "/metrics") {
                if done(&text) {
                    return text;
                }
                last = text;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "no scrape showed {what} within 30 s; the last:\n{last}\n{}",
            self.report()
        );
    }

    fn status(&self) -> serde_json::Value {
        let body = http_get(&self.ns, "/api/v1/status").expect("GET /api/v1/status");
        serde_json::from_str(&body).expect("status JSON")
    }

    /// Chromium, inside the namespace, on the page after its scripts ran for a few polls, with
    /// `output` (`--dump-dom`, `--screenshot=FILE`); its stdout.
    fn chromium(&self, output: &str) -> String {
        let profile = tempfile::tempdir().expect("browser profile");
        let output = self
            .ns
            .exec(&[
                "timeout",
                "--kill-after=5",
                "60",
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--proxy-server=http://127.0.0.1:9",
                &format!("--user-data-dir={}", profile.path().display()),
                "--virtual-time-budget=3000",
                "--window-size=1100,520",
                output,
                &format!("http://{METRICS}/"),
            ])
            .expect("run chromium (Debian package chromium)");
        assert!(
            output.status.success(),
            "chromium: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

#[test]
fn the_gauges_and_the_page_follow_the_announcement_and_the_join() {
    let lab = Lab::new("aametrics");
    let root = tempfile::tempdir().expect("temporary directory");
    let node = Node::start(&lab, root.path());
    let mut bind9 = start_target(&node.ns);

    // The first scrape comes well within the 5 s the node waits for a peer that never answers.
    let first = node.scrape_until("the join state", |t| t.contains("fulcrum_sync_joined"));
    promtool_check(&first);
    assert_eq!(value(&first, &joined("waiting")), Some(1.0), "{first}");
    assert_eq!(value(&first, &state("withdrawn")), Some(1.0), "{first}");
    assert_eq!(value(&first, &state("announced")), Some(0.0), "{first}");
    let syncing = format!("{REASON}\"waiting for the session table from a sync peer\"}}");
    assert_eq!(value(&first, &syncing), Some(1.0), "{first}");

    let up = node.scrape_until("the VIP announced", |t| {
        value(t, &state("announced")) == Some(1.0)
    });
    promtool_check(&up);
    assert_eq!(value(&up, &joined("nobody-answered")), Some(1.0), "{up}");
    assert_eq!(value(&up, &joined("waiting")), Some(0.0), "{up}");
    assert_eq!(value(&up, &state("withdrawn")), Some(0.0), "{up}");
    assert_eq!(value(&up, TARGETS_UP), Some(1.0), "{up}");
    assert!(!up.contains(REASON), "no reason while announced:\n{up}");
    let announce = node.control("show announce");
    assert!(
        announce.contains(&format!("server 1 {VIP}: announced, 1 target(s) up")),
        "{announce}"
    );
    let status = node.status();
    assert_eq!(status["announce"][0]["state"], "announced", "{status}");
    assert_eq!(status["sync_join"]["state"], "nobody-answered", "{status}");

    bind9.stop();
    let down = node.scrape_until("the VIP withdrawn", |t| {
        value(t, &state("withdrawn")) == Some(1.0)
    });
    promtool_check(&down);
    let no_target = format!("{REASON}\"no target up\"}}");
    assert_eq!(value(&down, &no_target), Some(1.0), "{down}");
    assert_eq!(value(&down, TARGETS_UP), Some(0.0), "{down}");
    assert_eq!(value(&down, &state("announced")), Some(0.0), "{down}");
    let announce = node.control("show announce");
    assert!(
        announce.contains(&format!("server 1 {VIP}: withdrawn (no target up)")),
        "{announce}"
    );
    let status = node.status();
    assert_eq!(status["announce"][0]["reason"], "no target up", "{status}");
    assert_eq!(status["announce"][0]["targets_up"], 0, "{status}");

    let dom = node.chromium("--dump-dom");
    let row = dom
        .split("<tr data-server=\"1\"")
        .nth(1)
        .and_then(|rest| rest.split("</tr>").next())
        .unwrap_or_else(|| panic!("no Announce row for server 1 on the page:\n{dom}"));
    for shown in [
        "data-state=\"withdrawn\"",
        VIP,
        ">withdrawn<",
        ">no target up<",
        ">0<",
    ] {
        assert!(row.contains(shown), "the row lacks {shown}: {row}");
    }
    assert!(
        dom.contains("sync join: nobody-answered"),
        "the join state is not on the page:\n{dom}"
    );

    // For a person to look at: the page of a node whose VIP is withdrawn.
    let shot = testkit::repo_root().join("target/status-page-announce.png");
    node.chromium(&format!("--screenshot={}", shot.display()));
    let png = std::fs::read(&shot).unwrap_or_default();
    assert!(
        png.starts_with(b"\x89PNG"),
        "no screenshot in {}",
        shot.display()
    );

    bind9 = start_target(&node.ns);
    let back = node.scrape_until("the VIP announced again", |t| {
        value(t, &state("announced")) == Some(1.0)
    });
    promtool_check(&back);
    assert_eq!(value(&back, TARGETS_UP), Some(1.0), "{back}");
    assert!(!back.contains(REASON), "{back}");
    drop(bind9);
    drop(lab);
}
