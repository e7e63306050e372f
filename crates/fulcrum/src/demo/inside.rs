//! The demo's inner half, run inside its namespace: targets, Fulcrum, clients and the live view.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use netlab::bind9::{Bind9, Bind9Options, Zone as Bind9Zone};

use super::clients::{ClientStats, Clients};
use super::responder;
use crate::shell::Client;

pub struct Options {
    pub duration: Option<Duration>,
    pub clients: u8,
    pub builtin: bool,
}

const ZONE: &str = "demo.fulcrum";
const VIP: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 53);
/// The two targets, named after the seed's nodes.
const NODES: [(&str, Ipv4Addr); 2] = [
    ("ns0a", Ipv4Addr::new(127, 0, 0, 43)),
    ("ns0b", Ipv4Addr::new(127, 0, 0, 44)),
];

pub fn main(options: Options) -> u8 {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("fulcrum demo: {e}");
            return 1;
        }
    };
    match runtime.block_on(run(options)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("fulcrum demo: {e:#}");
            1
        }
    }
}

/// The demo's targets; stopped on drop.
enum Targets {
    Bind9(Vec<Bind9>),
    Builtin(Vec<tokio::task::JoinHandle<anyhow::Result<()>>>),
}

impl Targets {
    fn start(builtin: bool) -> anyhow::Result<Targets> {
        for (_, addr) in NODES {
            // named binds only addresses present on an interface.
            let status = Command::new("ip")
                .args(["addr", "add", &format!("{addr}/32"), "dev", "lo"])
                .status()?;
            anyhow::ensure!(status.success(), "cannot add {addr} to lo");
        }
        if !builtin && Path::new("/usr/sbin/named").exists() {
            let mut servers = Vec::new();
            for (node, addr) in NODES {
                let txt = format!("whoami IN TXT \"{node}\"");
                servers.push(Bind9::start(Bind9Options {
                    listen: vec![addr.into()],
                    port: 53,
                    zones: vec![Bind9Zone::primary(ZONE, 1, &[&txt])],
                    netns: None,
                    extra_options: String::new(),
                })?);
            }
            return Ok(Targets::Bind9(servers));
        }
        let mut tasks = Vec::new();
        for (node, addr) in NODES {
            let zone = responder::Zone::new(&format!("{ZONE}."), node, addr, 1)?;
            tasks.push(tokio::spawn(responder::serve(
                zone,
                SocketAddr::new(addr.into(), 53),
            )));
        }
        Ok(Targets::Builtin(tasks))
    }

    fn describe(&self) -> String {
        match self {
            Targets::Bind9(servers) => format!("{} Bind9 instances", servers.len()),
            Targets::Builtin(_) => "the built-in responder (install bind9 for Bind9)".into(),
        }
    }
}

impl Drop for Targets {
    fn drop(&mut self) {
        if let Targets::Builtin(tasks) = self {
            tasks.iter().for_each(|t| t.abort());
        }
    }
}

/// Fulcrum itself, as a child process; stopped with SIGTERM (then SIGKILL) on drop.
struct Daemon {
    child: Child,
    socket: PathBuf,
}

impl Daemon {
    fn start(dir: &Path) -> anyhow::Result<Daemon> {
        let config = dir.join("fulcrum.conf");
        std::fs::write(&config, demo_config())?;
        let socket = dir.join("fulcrum.sock");
        let log = std::fs::File::create(dir.join("fulcrum.log"))?;
        let child = Command::new(std::env::current_exe()?)
            .arg("run")
            .arg("-c")
            .arg(&config)
            .arg("--socket")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let daemon = Daemon { child, socket };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Client::connect(&daemon.socket).is_err() {
            anyhow::ensure!(
                Instant::now() < deadline,
                "fulcrum did not open its control socket; its log is in {}",
                dir.join("fulcrum.log").display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(daemon)
    }

    fn ask(&self, command: &str) -> String {
        match Client::connect(&self.socket).and_then(|mut c| c.request(command)) {
            Ok(answer) => answer.text,
            Err(e) => format!("({e})\n"),
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn demo_config() -> String {
    let mut text = String::from(
        "// fulcrum demo: two targets behind one virtual server, sticky sessions per client\n\
         hostname DEMO\n",
    );
    let _ = write!(
        text,
        "server 1 {{\n  ipaddr {}\n  port {}\n  method session\n  targets 1,2\n}}\n\
         register server 1\nenable server 1\n",
        VIP.ip(),
        VIP.port()
    );
    for (id, (_, addr)) in NODES.iter().enumerate() {
        let _ = write!(
            text,
            "target {} {{\n  ipaddr {addr}\n  port 53\n  tcpopen 53,1,3\n}}\n",
            id + 1
        );
    }
    text.push_str("register targets 1,2\nenable targets 1,2\n");
    text
}

async fn run(options: Options) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new().prefix("fulcrum-demo-").tempdir()?;
    let targets = Targets::start(options.builtin)?;
    let daemon = Daemon::start(dir.path())?;
    let clients = Clients::start(options.clients, VIP, ZONE)?;
    let started = Instant::now();
    let until = options.duration.map(|d| started + d);
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = tokio::signal::ctrl_c() => break,
        }
        let view = render(&targets, &daemon, &clients.snapshot(), started.elapsed());
        show(&view);
        if until.is_some_and(|u| Instant::now() >= u) {
            break;
        }
    }
    let totals = clients.snapshot();
    clients.stop();
    drop(daemon);
    drop(targets);
    let sent: u64 = totals.iter().map(|c| c.sent).sum();
    let answered: u64 = totals.iter().map(|c| c.answered).sum();
    let switches: u64 = totals.iter().map(|c| c.switches).sum();
    println!(
        "fulcrum demo: {answered} of {sent} queries answered; clients that changed target: {switches}; stopped"
    );
    Ok(())
}

fn show(view: &str) {
    if std::io::stdout().is_terminal() {
        print!("\x1b[H\x1b[2J{view}");
    } else {
        println!("{view}");
    }
}

fn render(
    targets: &Targets,
    daemon: &Daemon,
    clients: &[ClientStats],
    elapsed: Duration,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Fulcrum demo (proxy mode) - {} s - Ctrl-C to stop\n\
         virtual server {VIP} -> targets {} ({}), {} ({}) served by {}\n",
        elapsed.as_secs(),
        NODES[0].1,
        NODES[0].0,
        NODES[1].1,
        NODES[1].0,
        targets.describe()
    );
    let _ = writeln!(
        out,
        "{:<15} {:>6} {:>8}  answered by",
        "client", "sent", "answered"
    );
    for c in clients {
        let addr = c.addr.map(|a| a.to_string()).unwrap_or_default();
        let _ = writeln!(
            out,
            "{addr:<15} {:>6} {:>8}  {}",
            c.sent, c.answered, c.last_node
        );
    }
    let _ = writeln!(out, "\nDEMO# show targets");
    out.push_str(&daemon.ask("show targets"));
    let _ = writeln!(out, "\nDEMO# show sessions 10");
    out.push_str(&daemon.ask("show sessions 10"));
    out
}
