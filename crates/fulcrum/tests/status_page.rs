//! The status page of a real `fulcrum run` in proxy mode in front of two real Bind9 (each target
//! health-checked with `dns`), rendered by a real headless Chromium: `/api/v1/status` carries
//! both targets up with typed fields; the page at `/` renders a row per target with its check;
//! while a bounded `dig` loop sends queries through the daemon, the queries figure moves
//! between two renderings and the queries-per-second graph rises off its baseline; once target
//! 2's Bind9 is stopped the page shows that target and its check down. `show stats` in the shell
//! agrees with the JSON on queries, responses and bytes per target. Screenshots of both
//! moments go to `target/status-page.png` and `target/status-page-down.png` for a person to look
//! at. Every process is killed by PID when its guard drops, also on panic (the browser with its
//! process group); everything listens on loopback.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use testkit::chromium::{dump_dom, screenshot};
use testkit::daemon::Daemon;
use testkit::dns::loopback_bind9;
use testkit::free_port;
use testkit::health::two_target_config;
use testkit::scrape::http_ok as http_get;

/// Virtual time per rendering: about eight polls of the status.
const BUDGET: Duration = Duration::from_secs(8);

fn status(addr: SocketAddr) -> Option<serde_json::Value> {
    serde_json::from_str(&http_get(addr, "/api/v1/status")?).ok()
}

/// What the rendered page says about one target.
#[derive(Debug, PartialEq)]
struct Row {
    up: bool,
    queries: u64,
    checks: String,
    graph: Vec<(f64, f64)>,
}

/// The text between `start` and the next `end` after it.
fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    Some(&text[from..from + text[from..].find(end)?])
}

fn row(dom: &str, target: u32) -> Option<Row> {
    let tr = between(dom, &format!("<tr data-target=\"{target}\""), "</tr>")?;
    let graph = between(tr, &format!("id=\"graph-{target}\" points=\""), "\"")?
        .split_whitespace()
        .map(|point| {
            let (x, y) = point.split_once(',')?;
            Some((x.parse().ok()?, y.parse().ok()?))
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Row {
        up: tr.starts_with(" data-up=\"true\""),
        queries: between(tr, &format!("id=\"queries-{target}\">"), "<")?
            .parse()
            .ok()?,
        checks: between(tr, "<span class=\"check", "</span>")?.to_string(),
        graph,
    })
}

/// Renders the page until `ok` holds for both rows (bounded); returns the DOM.
fn render_until(url: &str, daemon: &Daemon, ok: impl Fn(&Row, &Row) -> bool) -> String {
    let mut dom = String::new();
    for _ in 0..6 {
        dom = dump_dom(url, BUDGET);
        if let (Some(one), Some(two)) = (row(&dom, 1), row(&dom, 2)) {
            if ok(&one, &two) {
                return dom;
            }
        }
    }
    panic!(
        "the page never showed what was expected:\n{dom}\n{}",
        daemon.logs()
    );
}

/// `dig` through `vip` from many sources (sessions on both targets) until stopped, at most
/// 2000 queries or 90 s.
fn load(vip: SocketAddr, stop: Arc<AtomicBool>, sent: Arc<AtomicU64>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(90);
        for i in 0..2000u32 {
            if stop.load(Ordering::Relaxed) || Instant::now() > deadline {
                return;
            }
            let source = Ipv4Addr::new(127, 0, 64, 1 + (i % 50) as u8);
            if testkit::health::dig(vip, source).is_ok() {
                sent.fetch_add(1, Ordering::Relaxed);
            }
        }
    })
}

/// Stops the load when dropped, also on panic.
struct Stop(Arc<AtomicBool>);

impl Drop for Stop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[test]
fn the_status_page_renders_moves_with_the_queries_and_shows_a_target_down() {
    let (a, b) = (
        loopback_bind9("inst-a", free_port()),
        loopback_bind9("inst-b", free_port()),
    );
    let vip = SocketAddr::from(([127, 0, 64, 10], free_port()));
    let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let check = "  dns fulcrum.test,1,2";
    let config = two_target_config(vip, [a.addr().port(), b.addr().port()], [check; 2]);
    let daemon = Daemon::with_config(&format!("set metrics {metrics}\n{config}"));

    // The JSON: both targets up, typed fields.
    let deadline = Instant::now() + Duration::from_secs(20);
    let json = loop {
        let json = status(metrics);
        let targets = json.as_ref().map(|j| &j["targets"]);
        if targets.is_some_and(|t| t[0]["up"] == true && t[1]["up"] == true) {
            break json.unwrap_or_default();
        }
        assert!(Instant::now() < deadline, "{json:?}\n{}", daemon.logs());
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(json["targets"][0]["target"], 1);
    assert_eq!(json["targets"][1]["checks"][0]["check"], "dns");
    assert!(json["targets"][1]["checks"][0]["last_rtt_seconds"].is_f64());
    assert!(json["servers"][0]["queries"].is_u64());
    assert!(json["vrrp"].is_null() && json["sync"].is_null(), "{json}");

    let url = format!("http://{metrics}/");
    let idle = render_until(&url, &daemon, |one, two| one.up && two.up);
    assert!(idle.contains("<p id=\"error\"></p>"), "{idle}");
    assert!(
        idle.contains("<div id=\"vrrp\">not running</div>"),
        "{idle}"
    );
    let idle_queries =
        row(&idle, 1).map_or(0, |r| r.queries) + row(&idle, 2).map_or(0, |r| r.queries);

    let (stop, sent) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let stopper = Stop(stop.clone());
    let loader = load(vip, stop, sent.clone());
    let baseline = 39.0; // the graph's zero line: 40 px high, 1 px margin
    let busy = render_until(&url, &daemon, |one, two| {
        let raised = |r: &Row| r.graph.iter().any(|(_, y)| *y < baseline);
        one.queries + two.queries > idle_queries && (raised(one) || raised(two))
    });
    let first = (row(&busy, 1), row(&busy, 2));
    let moved = render_until(&url, &daemon, |one, two| {
        let before =
            first.0.as_ref().map_or(0, |r| r.queries) + first.1.as_ref().map_or(0, |r| r.queries);
        one.queries + two.queries > before
    });
    assert_ne!(
        (row(&moved, 1), row(&moved, 2)),
        first,
        "the page did not move while queries flowed"
    );
    let png = testkit::repo_root().join("target/status-page.png");
    screenshot(&url, BUDGET, &png);
    drop(stopper);
    loader.join().expect("the load thread");
    assert!(sent.load(Ordering::Relaxed) > 0, "no query was answered");

    // `show stats` in the shell reads the same snapshot as the JSON.
    let stats = daemon.control("show stats");
    let json = status(metrics).expect("the status JSON");
    for (i, id) in [1u32, 2].into_iter().enumerate() {
        let columns: Vec<&str> = stats
            .lines()
            .find(|l| l.split_whitespace().next() == Some(id.to_string().as_str()))
            .unwrap_or_else(|| panic!("no target {id} in show stats:\n{stats}"))
            .split_whitespace()
            .collect();
        let t = &json["targets"][i];
        let expected = [
            &t["queries"],
            &t["responses"],
            &t["bytes_sent"],
            &t["bytes_received"],
        ]
        .map(|v| v.as_u64().unwrap_or_default().to_string());
        let shown = [columns[1], columns[2], columns[4], columns[5]];
        assert_eq!(
            shown,
            expected.each_ref().map(String::as_str),
            "{stats}\n{json}"
        );
    }
    assert!(stats.contains("\n  proxy "), "{stats}");
    assert!(stats.contains("vrrp: not running\n"), "{stats}");

    // Target 2's Bind9 stops: its check fails, the page shows it down, target 1 stays up.
    drop(b);
    let down = render_until(&url, &daemon, |one, two| one.up && !two.up);
    let two = row(&down, 2).expect("target 2's row");
    assert!(
        two.checks.contains("down") && two.checks.contains("dns ✗"),
        "{down}"
    );
    screenshot(
        &url,
        BUDGET,
        &testkit::repo_root().join("target/status-page-down.png"),
    );
    drop(a);
}
