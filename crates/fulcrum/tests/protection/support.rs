//! The lab every protection test runs in, and its clients.
//!
//! Two namespaces joined by one veth: `lb` (192.0.2.254/24, 2001:db8::254/64) runs a real
//! Bind9 on its loopback (127.0.0.1 and ::1) and the real `fulcrum run` in proxy mode with
//! server 1 on 192.0.2.254:53 and server 2 on [2001:db8::254]:53 in front of it; `client`
//! (192.0.2.1..=20, 2001:db8::1..=20) asks. `lb` routes 198.18.0.0/15 (the benchmarking range
//! a spoofed flood comes from) back to `client`, which, not being a router, drops the answers,
//! as the Internet would deliver them to nobody. Every load loop is paced against the clock
//! and bounded in count and time; every process is killed by PID when the lab drops.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use netlab::bind9::{Bind9, Bind9Options, Zone};
use netlab::{Lab, Ns};
use testkit::control::control_ok;

pub const ZONE: &str = "fulcrum.test";
/// A name whose TXT answer is about 470 bytes (two strings of 200: under 512, never truncated).
pub const BIG: &str = "big.fulcrum.test";
pub const VIP4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);
pub const VIP6: &str = "2001:db8::254";
const BIND_PORT: u16 = 5353;
pub const QTYPE_TXT: u16 = 16;
pub const QTYPE_ANY: u16 = 255;

pub struct ProtectLab {
    pub client: Ns,
    pub socket: PathBuf,
    log: PathBuf,
    _bind: Bind9,
    _dir: tempfile::TempDir,
    // Dropped last: kills everything and removes the namespaces.
    _lab: Lab,
}

/// Client address `n` (1..=20) of a family.
pub fn client4(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, n))
}

pub fn client6(n: u8) -> IpAddr {
    format!("2001:db8::{n:x}")
        .parse()
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

pub fn vip4() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(VIP4), 53)
}

pub fn vip6() -> SocketAddr {
    SocketAddr::new(
        VIP6.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        53,
    )
}

fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|e| panic!("{e}"))
}

impl ProtectLab {
    /// The lab with `settings` (`set ...` lines) and server 1's and server 2's extra options.
    pub fn start(test: &str, settings: &str, server1: &str, server2: &str) -> ProtectLab {
        let lab = Lab::new(test);
        let lb = ok(lab.netns("lb"));
        let client = ok(lab.netns("client"));
        ok(lab.veth(&lb, "eth0", &client, "eth0"));
        let mut lb_setup = vec![
            "addr add 192.0.2.254/24 dev eth0".to_string(),
            "addr add 2001:db8::254/64 dev eth0 nodad".to_string(),
            "route add 198.18.0.0/15 via 192.0.2.1".to_string(),
        ];
        let mut client_setup = Vec::new();
        for n in 1..=20u8 {
            client_setup.push(format!("addr add 192.0.2.{n}/24 dev eth0"));
            client_setup.push(format!("addr add 2001:db8::{n:x}/64 dev eth0 nodad"));
        }
        lb_setup.push("link set lo up".to_string());
        ok(lb.ip_batch(&lb_setup));
        ok(client.ip_batch(&client_setup));
        for scope in ["all", "default", "eth0"] {
            ok(lb.sysctl(&format!("net.ipv4.conf.{scope}.rp_filter"), "0"));
        }
        let bind = ok(Bind9::start(Bind9Options {
            listen: vec![
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            ],
            port: BIND_PORT,
            zones: vec![Zone::primary(
                ZONE,
                1,
                &[
                    "@ IN TXT \"inst-a\"",
                    &format!("big IN TXT \"{0}\" \"{0}\"", "x".repeat(200)),
                ],
            )],
            netns: Some(lb.name().to_string()),
            extra_options: String::new(),
        }));
        let dir = ok(tempfile::tempdir());
        let config = dir.path().join("fulcrum.conf");
        ok(std::fs::write(
            &config,
            format!(
                "hostname PROTECT\n{settings}\
                 server 1 {{\nipaddr {VIP4}\nport 53\nmethod rr\ntargets 1\n{server1}}}\n\
                 server 2 {{\nipaddr {VIP6}\nport 53\nmethod rr\ntargets 2\n{server2}}}\n\
                 register servers 1,2\nenable servers 1,2\n\
                 target 1 {{\nipaddr 127.0.0.1\nport {BIND_PORT}\n}}\n\
                 target 2 {{\nipaddr ::1\nport {BIND_PORT}\n}}\n\
                 register targets 1,2\nenable targets 1,2\n"
            ),
        ));
        let socket = dir.path().join("fulcrum.sock");
        let log = dir.path().join("fulcrum.log");
        let mut command = lb.command(testkit::fulcrum());
        command
            .args(["run", "--log-level", "info", "-c"])
            .arg(&config)
            .arg("--socket")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(ok(std::fs::File::create(&log)));
        ok(lb.spawn(command));
        let this = ProtectLab {
            client,
            socket,
            log,
            _bind: bind,
            _dir: dir,
            _lab: lab,
        };
        this.wait_until_served();
        this
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn control(&self, line: &str) -> String {
        control_ok(&self.socket, &[line], || self.logs())
    }

    /// Waits (at most 20 s) until both servers answer a client that no rule or limit affects.
    fn wait_until_served(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(&self.socket).is_err() {
            assert!(
                Instant::now() < deadline,
                "no control socket:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        for (vip, source) in [(vip4(), client4(20)), (vip6(), client6(20))] {
            while self.dig(source, vip, false).is_none() {
                assert!(
                    Instant::now() < deadline,
                    "{vip} never answered:\n{}",
                    self.logs()
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }

    /// The real `dig` from `source` in the client namespace: the TXT answer, or `None`.
    pub fn dig(&self, source: IpAddr, vip: SocketAddr, tcp: bool) -> Option<String> {
        let mut command = self.client.command("dig");
        command
            .arg(format!("@{}", vip.ip()))
            .args(["-p", &vip.port().to_string(), "-b", &source.to_string()])
            .args(["+time=1", "+tries=1", "+short", "TXT", ZONE]);
        if tcp {
            command.arg("+tcp");
        }
        let output = command.output().ok()?;
        let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
        (text == "\"inst-a\"").then_some(text)
    }

    /// The drop count of `reason` on `plane` in `show stats` (0 when not listed).
    pub fn drops(&self, plane: &str, reason: &str) -> u64 {
        let stats = self.control("show stats");
        let Some(list) = stats.lines().map(str::trim).find_map(|l| {
            let rest = l.strip_prefix(plane)?.trim_start();
            (!rest.starts_with("server ")).then_some(rest)
        }) else {
            return 0;
        };
        list.split(", ")
            .find_map(|f| f.strip_prefix(&format!("{reason} ")))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// `(entries, capacity, bytes)` of server `server`'s `limit` table on the proxy plane, from
    /// `show stats`.
    pub fn table(&self, server: u32, limit: &str) -> Option<(u64, u64, u64)> {
        let stats = self.control("show stats");
        let prefix = format!("proxy server {server} {limit}: ");
        let line = stats
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(&prefix))?;
        let words: Vec<&str> = line[prefix.len()..].split_whitespace().collect();
        // "E of C buckets used, B bytes, R replaced"
        Some((
            words.first()?.parse().ok()?,
            words.get(2)?.parse().ok()?,
            words.get(5)?.parse().ok()?,
        ))
    }
}

/// A query for `ZONE` of `qtype` with `id`, RD set.
pub fn query(id: u16, qtype: u16) -> Vec<u8> {
    query_for(id, ZONE, qtype)
}

/// A query for `name` of `qtype` with `id`, RD set.
pub fn query_for(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0]);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    q
}

/// What a paced client saw.
#[derive(Debug, Default, Clone)]
pub struct Asked {
    pub sent: u64,
    pub answered: u64,
    /// Answers with TC set.
    pub truncated: u64,
    /// Seconds from the first query to the last.
    pub seconds: f64,
}

/// Asks `vip` from `source` inside `ns`: `qps` queries a second of `qtype` for `seconds`
/// (paced against the clock; a slow machine sends fewer, never faster), then waits one second
/// for late answers. Each query has its own ID; an answer counts once.
pub fn ask_at_rate(
    ns: &Ns,
    source: IpAddr,
    vip: SocketAddr,
    qps: u32,
    seconds: u32,
    qtype: u16,
) -> Asked {
    testkit::netns::run_in(ns, move || paced(source, vip, qps, seconds, (ZONE, qtype)))
}

/// [`ask_at_rate`] for the TXT record of `name`.
pub fn ask_name_at_rate(
    ns: &Ns,
    source: IpAddr,
    vip: SocketAddr,
    qps: u32,
    seconds: u32,
    name: &'static str,
) -> Asked {
    testkit::netns::run_in(ns, move || {
        paced(source, vip, qps, seconds, (name, QTYPE_TXT))
    })
}

/// [`ask_at_rate`] on a thread of its own, for running beside another client.
pub fn ask_at_rate_in_background(
    ns: &Ns,
    source: IpAddr,
    vip: SocketAddr,
    qps: u32,
    seconds: u32,
    qtype: u16,
) -> std::thread::JoinHandle<Result<Asked, String>> {
    testkit::netns::spawn_in(ns.name(), move || {
        Ok(paced(source, vip, qps, seconds, (ZONE, qtype)))
    })
}

fn paced(
    source: IpAddr,
    vip: SocketAddr,
    qps: u32,
    seconds: u32,
    (name, qtype): (&str, u16),
) -> Asked {
    let socket = ok(UdpSocket::bind(SocketAddr::new(source, 0)));
    ok(socket.set_nonblocking(true));
    let total = u64::from(qps) * u64::from(seconds);
    let mut sent_at: Vec<Option<Instant>> = vec![None; total as usize];
    let mut asked = Asked::default();
    let started = Instant::now();
    let end = Duration::from_secs(u64::from(seconds));
    let mut buf = [0u8; 4096];
    let mut receive = |asked: &mut Asked, sent_at: &mut Vec<Option<Instant>>| {
        while let Ok((len, _)) = socket.recv_from(&mut buf) {
            if len < 12 {
                continue;
            }
            let id = usize::from(u16::from_be_bytes([buf[0], buf[1]]));
            if sent_at.get_mut(id).and_then(Option::take).is_some() {
                asked.answered += 1;
                asked.truncated += u64::from(buf[2] & 0x02 != 0);
            }
        }
    };
    while asked.sent < total && started.elapsed() < end {
        let due = Duration::from_secs_f64(asked.sent as f64 / f64::from(qps));
        if started.elapsed() >= due {
            let id = asked.sent as u16;
            if socket.send_to(&query_for(id, name, qtype), vip).is_ok() {
                sent_at[asked.sent as usize] = Some(Instant::now());
            }
            asked.sent += 1;
        } else {
            receive(&mut asked, &mut sent_at);
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    asked.seconds = started.elapsed().as_secs_f64();
    let grace = Instant::now() + Duration::from_secs(1);
    while Instant::now() < grace {
        receive(&mut asked, &mut sent_at);
        std::thread::sleep(Duration::from_millis(2));
    }
    asked
}

/// `count` TXT queries pipelined on one TCP connection from `source` (in `ns`), sent back to
/// back; how many are answered within a second of the last answer.
pub fn tcp_pipelined(ns: &Ns, source: IpAddr, vip: SocketAddr, count: u16) -> u16 {
    testkit::netns::run_in(ns, move || {
        use socket2::{Domain, SockAddr, Socket, Type};
        use std::io::{Read, Write};
        let socket = ok(Socket::new(Domain::for_address(vip), Type::STREAM, None));
        ok(socket.bind(&SockAddr::from(SocketAddr::new(source, 0))));
        ok(socket.connect_timeout(&SockAddr::from(vip), Duration::from_secs(2)));
        let mut stream: std::net::TcpStream = socket.into();
        let mut frames = Vec::new();
        for id in 0..count {
            let message = query(id, QTYPE_TXT);
            frames.extend_from_slice(&(message.len() as u16).to_be_bytes());
            frames.extend_from_slice(&message);
        }
        ok(stream.write_all(&frames));
        ok(stream.set_read_timeout(Some(Duration::from_secs(1))));
        let mut answered = 0;
        let mut length = [0u8; 2];
        while stream.read_exact(&mut length).is_ok() {
            let mut answer = vec![0u8; usize::from(u16::from_be_bytes(length))];
            if stream.read_exact(&mut answer).is_err() {
                break;
            }
            answered += 1;
        }
        answered
    })
}

/// One IPv4/UDP query with a forged source, for a raw socket (`IPPROTO_RAW`: the kernel fills
/// in the header checksum and total length; a zero UDP checksum means none).
fn spoofed_query(source: Ipv4Addr, dest: SocketAddrV4, id: u16) -> Vec<u8> {
    let payload = query(id, QTYPE_TXT);
    let udp_len = 8 + payload.len();
    let mut packet = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0];
    packet.extend_from_slice(&source.octets());
    packet.extend_from_slice(&dest.ip().octets());
    packet.extend_from_slice(&40000u16.to_be_bytes());
    packet.extend_from_slice(&dest.port().to_be_bytes());
    packet.extend_from_slice(&(udp_len as u16).to_be_bytes());
    packet.extend_from_slice(&[0, 0]);
    packet.extend_from_slice(&payload);
    packet
}

/// From the client namespace, `count` queries to `dest` from `count` distinct random sources
/// in 198.18.0.0/15, `per_second` a second at most (paced against the clock, and stopped at
/// `count` or `limit`, whichever comes first). Returns how many were sent.
pub fn spoofed_flood(
    ns: &Ns,
    dest: SocketAddrV4,
    count: u32,
    per_second: u32,
    limit: Duration,
) -> std::thread::JoinHandle<Result<u64, String>> {
    testkit::netns::spawn_in(ns.name(), move || {
        use socket2::{Domain, Protocol, SockAddr, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(255)))
            .map_err(|e| format!("raw socket: {e}"))?;
        let to = SockAddr::from(SocketAddr::V4(dest));
        // A full-period walk of the /15 (an odd multiplier modulo 2^17): distinct sources.
        let mut sent = 0u64;
        let started = Instant::now();
        for n in 0..count {
            let host = n.wrapping_mul(40_503).wrapping_add(12_345) & 0x1_ffff;
            let source = Ipv4Addr::from(0xc612_0000 | host);
            if socket
                .send_to(&spoofed_query(source, dest, n as u16), &to)
                .is_ok()
            {
                sent += 1;
            }
            let due = Duration::from_secs_f64(f64::from(n + 1) / f64::from(per_second));
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
            if started.elapsed() > limit {
                break;
            }
        }
        Ok(sent)
    })
}

/// `dig` is needed; a missing one is reported plainly.
pub fn require_tools() {
    for tool in ["dig", "named", "ip"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(found, "{tool} is missing: run scripts/install-deps.sh");
    }
}
