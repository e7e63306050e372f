//! The Prometheus endpoint of a real `fulcrum run` in proxy mode in front of two real Bind9
//! instances (each target health-checked with `dns`), queried with the real `dig`:
//! `promtool check metrics` (Debian's `prometheus` package) passes on what the daemon serves and
//! the counters follow the queries; `set metrics` starts, moves and stops the listener live and
//! `--metrics` wins over it; and a real Prometheus server, started by the test with a 1 s scrape
//! interval, scrapes the daemon: its HTTP API reports `up` 1, a query counter that moved after
//! queries through the backends, the response-time histogram's count grown, and a target down
//! once its Bind9 is stopped. Every process a
//! test starts is killed by PID when its guard drops, also on panic; everything listens on
//! loopback ports picked free.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use netlab::bind9::{Bind9, Bind9Options, Zone};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use testkit::scrape::{http_get, promtool_check, value};

const FULCRUM: &str = env!("CARGO_BIN_EXE_fulcrum");
const ZONE: &str = "fulcrum.test";

/// A port free on 127.0.0.1 for both UDP and TCP at the time of asking.
fn free_port() -> u16 {
    for _ in 0..50 {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a TCP port");
        let port = tcp.local_addr().expect("local address").port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on 127.0.0.1");
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn bind9(name: &str) -> Bind9 {
    let record = format!("@ IN TXT \"{name}\"");
    Bind9::start(Bind9Options {
        listen: vec![Ipv4Addr::LOCALHOST.into()],
        port: free_port(),
        zones: vec![Zone::primary(ZONE, 1, &[record.as_str()])],
        netns: None,
        extra_options: String::new(),
    })
    .unwrap_or_else(|e| panic!("starting Bind9 {name}: {e}"))
}

/// A child process killed by PID on drop.
struct Process {
    child: Child,
    log: PathBuf,
}

impl Process {
    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

struct Daemon {
    process: Process,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Daemon {
    fn start(config: &str, extra: &[String]) -> Daemon {
        let dir = tempfile::tempdir().expect("temporary directory");
        let config_path = dir.path().join("fulcrum.conf");
        std::fs::write(&config_path, config).expect("write the configuration");
        let socket = dir.path().join("fulcrum.sock");
        let log = dir.path().join("fulcrum.log");
        let child = Command::new(FULCRUM)
            .args(["run", "--log-level", "info", "-c"])
            .arg(&config_path)
            .arg("--socket")
            .arg(&socket)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("create the log"))
            .spawn()
            .expect("start fulcrum run");
        let mut daemon = Daemon {
            process: Process { child, log },
            socket,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(&daemon.socket).is_err() {
            if let Ok(Some(status)) = daemon.process.child.try_wait() {
                panic!("fulcrum run exited early ({status}):\n{}", daemon.logs());
            }
            assert!(
                Instant::now() < deadline,
                "no control socket:\n{}",
                daemon.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        daemon
    }

    fn logs(&self) -> String {
        self.process.logs()
    }

    fn control(&self, line: &str) -> String {
        let output = Command::new(FULCRUM)
            .arg("control")
            .arg("--socket")
            .arg(&self.socket)
            .args(["-e", line])
            .stdin(Stdio::null())
            .output()
            .expect("run fulcrum control");
        assert!(
            output.status.success(),
            "fulcrum control -e {line:?} failed: {}\n{}",
            String::from_utf8_lossy(&output.stderr),
            self.logs()
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

/// One session-method server on `vip` in front of the two Bind9, each checked with `dns`.
fn config(vip: SocketAddr, a: &Bind9, b: &Bind9, extra: &str) -> String {
    format!(
        "hostname METRICSTEST\n{extra}\
         server 1 {{\n  ipaddr {ip}\n  port {port}\n  method session\n  targets 1,2\n}}\n\
         register server 1\nenable server 1\n\
         target 1 {{\n  ipaddr 127.0.0.1\n  port {pa}\n  dns {ZONE},1,2\n}}\n\
         target 2 {{\n  ipaddr 127.0.0.1\n  port {pb}\n  dns {ZONE},1,2\n}}\n\
         register targets 1,2\nenable targets 1,2\n",
        ip = vip.ip(),
        port = vip.port(),
        pa = a.addr().port(),
        pb = b.addr().port(),
    )
}

/// `dig` from `source` through `vip`; panics unless a backend answered.
fn dig(daemon: &Daemon, vip: SocketAddr, source: Ipv4Addr) {
    let output = Command::new("/usr/bin/dig")
        .arg(format!("@{}", vip.ip()))
        .args(["-p", &vip.port().to_string(), "-b", &source.to_string()])
        .args(["+time=2", "+tries=1", "+short", "TXT", ZONE])
        .output()
        .expect("run dig (bind9-dnsutils)");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("inst-"),
        "dig from {source}: {text}\n{}",
        daemon.logs()
    );
}

fn scrape(daemon: &Daemon, addr: SocketAddr) -> String {
    match http_get(addr, "/metrics") {
        Some((status, body)) if status == "HTTP/1.1 200 OK" => body,
        other => panic!("GET http://{addr}/metrics: {other:?}\n{}", daemon.logs()),
    }
}

/// Waits (bounded) until `addr` serves `/metrics`, or until nothing listens there.
fn wait_serving(daemon: &Daemon, addr: SocketAddr, serving: bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while http_get(addr, "/metrics").is_some() != serving {
        assert!(
            Instant::now() < deadline,
            "http://{addr}/metrics still {}:\n{}",
            if serving { "not served" } else { "served" },
            daemon.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn promtool_passes_on_a_running_daemon_and_counters_follow_queries() {
    let (a, b) = (bind9("inst-a"), bind9("inst-b"));
    let vip = SocketAddr::from(([127, 0, 61, 10], free_port()));
    let metrics = local(free_port());
    let daemon = Daemon::start(
        &config(vip, &a, &b, ""),
        &["--metrics".into(), metrics.to_string()],
    );
    wait_serving(&daemon, metrics, true);
    let before = scrape(&daemon, metrics);
    promtool_check(&before);
    assert_eq!(
        value(&before, r#"fulcrum_server_queries_total{server="1"}"#),
        Some(0.0)
    );

    let clients = 12u8;
    for i in 1..=clients {
        dig(&daemon, vip, Ipv4Addr::new(127, 0, 61, i));
    }
    let after = scrape(&daemon, metrics);
    promtool_check(&after);
    let series = |name: &str, label: &str, id: u32| format!("{name}{{{label}=\"{id}\"}}");
    let of = |name: &str, label: &str, id: u32| {
        value(&after, &series(name, label, id)).unwrap_or_else(|| panic!("no {name}:\n{after}"))
    };
    let n = f64::from(clients);
    assert_eq!(
        of("fulcrum_server_queries_total", "server", 1),
        n,
        "{after}"
    );
    assert_eq!(of("fulcrum_sessions", "server", 1), n, "{after}");
    let forwarded = of("fulcrum_target_queries_total", "target", 1)
        + of("fulcrum_target_queries_total", "target", 2);
    let answered = of("fulcrum_target_responses_total", "target", 1)
        + of("fulcrum_target_responses_total", "target", 2);
    assert_eq!((forwarded, answered), (n, n), "{after}");
    let timed = of("fulcrum_target_response_seconds_count", "target", 1)
        + of("fulcrum_target_response_seconds_count", "target", 2);
    assert_eq!(timed, n, "every answer has its response time: {after}");
    let within_2s = value(
        &after,
        r#"fulcrum_target_response_seconds_bucket{target="1",le="2"}"#,
    );
    assert_eq!(
        within_2s,
        Some(of("fulcrum_target_response_seconds_count", "target", 1)),
        "loopback answers take less than 2 s: {after}"
    );
    assert_eq!(value(&after, "fulcrum_sessions_created_total"), Some(n));
    for id in [1, 2] {
        assert_eq!(of("fulcrum_target_up", "target", id), 1.0, "{after}");
        let check = format!("fulcrum_health_check_up{{target=\"{id}\",check=\"dns\"}}");
        assert_eq!(value(&after, &check), Some(1.0), "{after}");
        let sent = format!("fulcrum_target_bytes_total{{target=\"{id}\",direction=\"sent\"}}");
        let queries = of("fulcrum_target_queries_total", "target", id);
        assert!(
            value(&after, &sent).is_some_and(|bytes| bytes >= queries * 12.0),
            "{after}"
        );
    }
    assert!(after.contains(&format!(
        "fulcrum_build_info{{version=\"{}\",",
        env!("CARGO_PKG_VERSION")
    )));

    // Malformed datagrams count as proxy drops by reason.
    let sock = UdpSocket::bind((Ipv4Addr::new(127, 0, 61, 100), 0)).expect("bind");
    for _ in 0..5 {
        sock.send_to(b"short", vip).expect("send");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let runts = r#"fulcrum_drops_total{plane="proxy",reason="runt"}"#;
    while value(&scrape(&daemon, metrics), runts) != Some(5.0) {
        assert!(Instant::now() < deadline, "{}", scrape(&daemon, metrics));
        std::thread::sleep(Duration::from_millis(50));
    }

    // Nothing else is served.
    let (status, _) = http_get(metrics, "/nothing").expect("GET /nothing");
    assert_eq!(status, "HTTP/1.1 404 Not Found");
}

#[test]
fn set_metrics_starts_moves_and_stops_the_listener_and_the_command_line_wins() {
    let (a, b) = (bind9("inst-a"), bind9("inst-b"));
    let vip = SocketAddr::from(([127, 0, 62, 10], free_port()));
    let (first, second) = (local(free_port()), local(free_port()));
    let daemon = Daemon::start(&config(vip, &a, &b, &format!("set metrics {first}\n")), &[]);
    wait_serving(&daemon, first, true);

    daemon.control(&format!("set metrics {second}"));
    wait_serving(&daemon, second, true);
    wait_serving(&daemon, first, false);
    assert!(daemon
        .control("show config")
        .contains(&format!("set metrics {second}\n")));

    daemon.control("set metrics off");
    wait_serving(&daemon, second, false);
    assert!(!daemon.control("show config").contains("set metrics"));
    daemon.control(&format!("set metrics {first}"));
    wait_serving(&daemon, first, true);
    drop(daemon);

    // --metrics wins over the file and over a live `set metrics`.
    let (cli, file) = (local(free_port()), local(free_port()));
    let daemon = Daemon::start(
        &config(vip, &a, &b, &format!("set metrics {file}\n")),
        &["--metrics".into(), cli.to_string()],
    );
    wait_serving(&daemon, cli, true);
    daemon.control(&format!("set metrics {second}"));
    std::thread::sleep(Duration::from_millis(500));
    assert!(http_get(file, "/metrics").is_none(), "{}", daemon.logs());
    assert!(http_get(second, "/metrics").is_none(), "{}", daemon.logs());
    scrape(&daemon, cli);
}

/// A Prometheus server scraping `target` every second, its API on `api`.
fn prometheus(target: SocketAddr, api: SocketAddr, dir: &std::path::Path) -> Process {
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: fulcrum\n    static_configs:\n      - targets: [\"{target}\"]\n"
        ),
    )
    .expect("write prometheus.yml");
    let log = dir.join("prometheus.log");
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={api}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("create the log"))
        .spawn()
        .expect("start prometheus (Debian package prometheus, scripts/install-deps.sh)");
    Process { child, log }
}

/// The value of the first series of an instant query, if any.
fn query(api: SocketAddr, promql: &str) -> Option<f64> {
    let encoded: String = promql
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let (status, body) = http_get(api, &format!("/api/v1/query?query={encoded}"))?;
    if status != "HTTP/1.1 200 OK" {
        return None;
    }
    let reply: serde_json::Value = serde_json::from_str(&body).ok()?;
    let value = reply["data"]["result"].get(0)?["value"]
        .get(1)?
        .as_str()?
        .to_string();
    value.parse().ok()
}

/// Polls `promql` until `ok` holds for its value (bounded); returns the value.
fn wait_query(
    api: SocketAddr,
    promql: &str,
    ok: impl Fn(f64) -> bool,
    prometheus: &Process,
    daemon: &Daemon,
) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = query(api, promql);
        if let Some(v) = got.filter(|v| ok(*v)) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus: {promql} = {got:?}\nprometheus log:\n{}\nfulcrum log:\n{}",
            prometheus.logs(),
            daemon.logs()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn a_real_prometheus_scrapes_the_daemon() {
    let (a, b) = (bind9("inst-a"), bind9("inst-b"));
    let vip = SocketAddr::from(([127, 0, 63, 10], free_port()));
    let metrics = local(free_port());
    let daemon = Daemon::start(
        &config(vip, &a, &b, &format!("set metrics {metrics}\n")),
        &[],
    );
    wait_serving(&daemon, metrics, true);
    let dir = tempfile::tempdir().expect("temporary directory");
    let api = local(free_port());
    let prometheus = prometheus(metrics, api, dir.path());

    wait_query(
        api,
        r#"up{job="fulcrum"}"#,
        |v| v == 1.0,
        &prometheus,
        &daemon,
    );
    let queries = r#"sum(fulcrum_target_queries_total{job="fulcrum"})"#;
    let before = wait_query(api, queries, |_| true, &prometheus, &daemon);
    let clients = 20u8;
    for i in 1..=clients {
        dig(&daemon, vip, Ipv4Addr::new(127, 0, 63, i));
    }
    let moved = before + f64::from(clients);
    wait_query(api, queries, |v| v >= moved, &prometheus, &daemon);
    let timed = r#"sum(fulcrum_target_response_seconds_count{job="fulcrum"})"#;
    wait_query(
        api,
        timed,
        |v| v >= f64::from(clients),
        &prometheus,
        &daemon,
    );
    wait_query(
        api,
        r#"fulcrum_target_up{job="fulcrum",target="2"}"#,
        |v| v == 1.0,
        &prometheus,
        &daemon,
    );

    // Target 2's Bind9 stops: its DNS check fails and Prometheus sees the target down.
    drop(b);
    wait_query(
        api,
        r#"fulcrum_target_up{job="fulcrum",target="2"}"#,
        |v| v == 0.0,
        &prometheus,
        &daemon,
    );
    wait_query(
        api,
        r#"fulcrum_health_check_up{job="fulcrum",target="2",check="dns"}"#,
        |v| v == 0.0,
        &prometheus,
        &daemon,
    );
    drop(a);
}
