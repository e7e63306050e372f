//! `fulcrum agent [-c COMMAND] [-b ADDRESS] [-a BALANCER]... [-k KEYFILE] PORT`: the bngagent
//! role. Answers agent requests (docs/agent-protocol.md) on UDP with one number: with `-c`, the
//! integer the command printed last (`sh -c COMMAND`, killed with its process group after 5 s);
//! without, 1 + 100 x the one-minute load average. A command that fails, times out or prints no
//! integer, or prints 0, reports 0: "down". Requests never wait for the command: each is answered
//! at once with the latest value, which one run at a time refreshes when it is older than a
//! second ([`cache`]). With `-k`, the MAC is checked before anything else and only
//! authenticated requests are answered (with a MAC); with `-a`, only the listed balancers are
//! answered; otherwise each source is rate-limited in a table a flood cannot fill
//! ([`ratelimit`]). Drops are counted by reason and the counters printed to stderr when they
//! change (at most once a second). A reply leaves from the address its request was sent to.
//! Without `-b` it listens on every IPv4 and every IPv6 address (two sockets, the IPv6 one
//! `IPV6_V6ONLY`, so a client's address is never a v4-mapped one); a host without IPv6 is
//! served on IPv4 alone, with a warning.

mod cache;
mod ratelimit;
mod socket;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use cache::ValueCache;
use fulcrum_wire::agent::Repr;
use ratelimit::{Admission, Verdict};

/// How old the value may get before a request triggers a new run.
const MAX_AGE: Duration = Duration::from_secs(1);
/// Runs continue while a request came in this recently; an agent nobody asks runs nothing.
const DEMAND_WINDOW: Duration = Duration::from_secs(60);
/// How long the command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(clap::Args)]
pub struct Args {
    /// Command whose printed integer is reported (run with `sh -c`).
    #[arg(short = 'c', value_name = "COMMAND")]
    command: Option<String>,
    /// Address to listen on (default: all IPv4 and all IPv6 addresses).
    #[arg(short = 'b', value_name = "ADDRESS")]
    bind: Option<IpAddr>,
    /// A balancer's address (repeatable): when given, only these are answered, never
    /// rate-limited.
    #[arg(short = 'a', value_name = "BALANCER")]
    balancers: Vec<IpAddr>,
    /// File holding the shared key (its contents, surrounding white space removed).
    #[arg(short = 'k', value_name = "KEYFILE")]
    keyfile: Option<PathBuf>,
    /// UDP port to answer on (the seed uses 439).
    #[arg(value_name = "PORT")]
    port: u16,
}

pub fn main(args: Args) -> u8 {
    let key = match args.keyfile.as_deref().map(read_key).transpose() {
        Ok(key) => key,
        Err(message) => {
            eprintln!("fulcrum agent: {message}");
            return 2;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("fulcrum agent: cannot start the async runtime: {e}");
            return 1;
        }
    };
    let listen = match args.bind {
        Some(address) => Listen::One(SocketAddr::new(address, args.port)),
        None => Listen::Everywhere(args.port),
    };
    let source = match args.command {
        Some(command) => ValueSource::Command(command),
        None => ValueSource::LoadAverage,
    };
    match runtime.block_on(serve(listen, source, key, args.balancers)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("fulcrum agent: {e}");
            1
        }
    }
}

/// Reads a key file: its contents without surrounding white space; empty is an error.
pub fn read_key(path: &Path) -> Result<Vec<u8>, String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read key file {}: {e}", path.display()))?;
    let key = bytes.trim_ascii().to_vec();
    if key.is_empty() {
        return Err(format!(
            "key file {} is empty: put a shared secret in it (e.g. `head -c 32 /dev/urandom | base64`)",
            path.display()
        ));
    }
    Ok(key)
}

/// Where the reported number comes from.
#[derive(Clone, Debug)]
pub enum ValueSource {
    Command(String),
    LoadAverage,
}

impl ValueSource {
    async fn compute(&self) -> u32 {
        match self {
            ValueSource::Command(command) => run_command(command, COMMAND_TIMEOUT).await,
            ValueSource::LoadAverage => load_average_value(),
        }
    }
}

/// Packets the agent did not answer, by reason, and those it did.
#[derive(Debug, Default)]
struct Counters {
    answered: AtomicU64,
    malformed: AtomicU64,
    unauthenticated: AtomicU64,
    rate_limited: AtomicU64,
    not_allowed: AtomicU64,
    send_failed: AtomicU64,
}

impl Counters {
    fn line(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "answered {}, dropped: {} malformed, {} unauthenticated, {} rate-limited, \
             {} not allowed, {} unsendable",
            get(&self.answered),
            get(&self.malformed),
            get(&self.unauthenticated),
            get(&self.rate_limited),
            get(&self.not_allowed),
            get(&self.send_failed)
        )
    }
}

type SharedCache = Arc<Mutex<ValueCache>>;

fn lock(cache: &SharedCache) -> std::sync::MutexGuard<'_, ValueCache> {
    cache.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs the command whenever the cache says so, one run at a time; woken by requests.
async fn refresh_value(source: ValueSource, cache: SharedCache, wake: Arc<Notify>) {
    loop {
        if lock(&cache).start_run(Instant::now()) {
            let value = source.compute().await;
            lock(&cache).finish_run(value, Instant::now());
            continue;
        }
        // Until a request comes in or the value goes stale, whichever is first.
        let stale_at = lock(&cache).stale_at();
        match stale_at {
            Some(at) if at > Instant::now() => {
                let _ = tokio::time::timeout_at(at.into(), wake.notified()).await;
            }
            // Stale but nobody asked lately: the next request wakes us.
            _ => wake.notified().await,
        }
    }
}

/// Where the agent listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listen {
    /// One address (`-b`).
    One(SocketAddr),
    /// Every IPv4 and every IPv6 address on this port.
    Everywhere(u16),
}

impl Listen {
    /// The sockets to serve on. Everywhere: IPv4 must bind; IPv6 may be missing on the host
    /// (disabled, or no `::1` at all), which leaves IPv4 alone with a warning.
    fn bind(self) -> Result<Vec<(SocketAddr, tokio::net::UdpSocket)>, String> {
        let open = |addr: SocketAddr| {
            socket::bind(addr)
                .map(|socket| (addr, socket))
                .map_err(|e| format!("cannot listen on udp {addr}: {e}"))
        };
        match self {
            Listen::One(addr) => Ok(vec![open(addr)?]),
            Listen::Everywhere(port) => {
                let mut sockets = vec![open(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port))?];
                match open(SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port)) {
                    Ok(v6) => sockets.push(v6),
                    Err(e) => eprintln!("fulcrum agent: IPv4 only: {e}"),
                }
                Ok(sockets)
            }
        }
    }
}

/// What every socket's loop shares.
struct Shared {
    key: Option<Vec<u8>>,
    cache: SharedCache,
    wake: Arc<Notify>,
    counters: Arc<Counters>,
    admission: Mutex<Admission>,
}

/// Runs the agent until an I/O error on one of its sockets.
pub async fn serve(
    listen: Listen,
    source: ValueSource,
    key: Option<Vec<u8>>,
    balancers: Vec<IpAddr>,
) -> Result<(), String> {
    let sockets = listen.bind()?;
    let addresses: Vec<String> = sockets.iter().map(|(addr, _)| addr.to_string()).collect();
    eprintln!(
        "fulcrum agent: answering on udp {} ({}, {}, {})",
        addresses.join(" and "),
        match &source {
            ValueSource::Command(c) => format!("command {c:?}"),
            ValueSource::LoadAverage => "load average".into(),
        },
        if key.is_some() { "keyed" } else { "no key" },
        if balancers.is_empty() && key.is_some() {
            "any balancer holding the key".to_string()
        } else if balancers.is_empty() {
            "any balancer, rate-limited".to_string()
        } else {
            let list: Vec<String> = balancers.iter().map(IpAddr::to_string).collect();
            format!("balancers {}", list.join(" "))
        }
    );
    // The first value before the first answer: a restarted agent must not report "down".
    let cache: SharedCache = Arc::new(Mutex::new(ValueCache::new(MAX_AGE, DEMAND_WINDOW)));
    if lock(&cache).start_run(Instant::now()) {
        let value = source.compute().await;
        lock(&cache).finish_run(value, Instant::now());
    }
    let wake = Arc::new(Notify::new());
    tokio::spawn(refresh_value(source, cache.clone(), wake.clone()));
    let counters = Arc::new(Counters::default());
    tokio::spawn(report_counters(counters.clone()));
    let shared = Arc::new(Shared {
        key,
        cache,
        wake,
        counters,
        admission: Mutex::new(Admission::with_balancers(balancers)),
    });
    let mut loops = tokio::task::JoinSet::new();
    for (addr, socket) in sockets {
        loops.spawn(answer(addr, socket, shared.clone()));
    }
    match loops.join_next().await {
        Some(Ok(result)) => result,
        Some(Err(e)) => Err(format!("a socket's loop ended: {e}")),
        None => Ok(()),
    }
}

/// Answers on one socket until an I/O error.
async fn answer(
    bind: SocketAddr,
    socket: tokio::net::UdpSocket,
    shared: Arc<Shared>,
) -> Result<(), String> {
    let Shared {
        key,
        cache,
        wake,
        counters,
        admission,
    } = &*shared;
    let mut buffer = [0u8; 2048];
    let mut batch = socket::receive_batch();
    loop {
        let (length, from, local) = socket::recv(&socket, &mut batch, &mut buffer)
            .await
            .map_err(|e| format!("receiving on udp {bind}: {e}"))?;
        // Authentication first: a forged packet costs one MAC and a counter, and never touches
        // the rate limiter's table.
        let nonce = match Repr::parse_bytes(&buffer[..length], key.as_deref()) {
            Ok(Repr::Request { nonce }) => nonce,
            Ok(Repr::Reply { .. }) => {
                counters.malformed.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            Err(e) if e.is_unauthenticated() => {
                counters.unauthenticated.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            Err(_) => {
                counters.malformed.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        // Keyed requests that passed the MAC come from a key holder: not rate-limited, but the
        // allow list still applies.
        let verdict = {
            let mut admission = admission.lock().unwrap_or_else(PoisonError::into_inner);
            if key.is_some() {
                admission.admit_authenticated(from.ip())
            } else {
                admission.admit(from.ip(), Instant::now())
            }
        };
        match verdict {
            Verdict::Answer => {}
            Verdict::RateLimited => {
                counters.rate_limited.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            Verdict::NotAllowed => {
                counters.not_allowed.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        }
        let value = {
            let now = Instant::now();
            let mut cache = lock(cache);
            let value = cache.on_request(now);
            if cache.stale_at().is_none_or(|at| now >= at) {
                wake.notify_one();
            }
            value
        };
        let reply = Repr::Reply { nonce, value }.emit(key.as_deref());
        // Same length as the request by construction; the check keeps it a rule.
        // Bound to every address: answer from the one asked (see `socket`).
        if reply.len() <= length
            && socket::send(&socket, &reply, from, socket::reply_source(local))
                .await
                .is_ok()
        {
            counters.answered.fetch_add(1, Ordering::Relaxed);
        } else {
            counters.send_failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn report_counters(counters: Arc<Counters>) {
    let mut printed = counters.line();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let line = counters.line();
        // Answers alone are not news; print when a drop counter moved.
        let drops = line.split_once("dropped").map(|(_, d)| d.to_string());
        let printed_drops = printed.split_once("dropped").map(|(_, d)| d.to_string());
        if drops != printed_drops {
            eprintln!("fulcrum agent: {line}");
            printed = line;
        }
    }
}

/// Runs `sh -c command` in its own process group; the last non-empty line of its output, as an
/// integer, is the value. Failure, timeout, or anything but a positive integer gives 0.
pub async fn run_command(command: &str, timeout: Duration) -> u32 {
    let mut cmd = tokio::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    let Ok(child) = cmd.spawn() else {
        return 0;
    };
    let group = child.id();
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(output)) if output.status.success() => {
            parse_value(&String::from_utf8_lossy(&output.stdout))
        }
        Ok(_) => 0,
        Err(_elapsed) => {
            // Dropping the future killed `sh`; its children (a dns-check, say) go with the group.
            if let Some(pid) = group.and_then(|p| i32::try_from(p).ok()) {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            0
        }
    }
}

/// The last non-empty line as a positive integer, else 0. The last line, because a script like
/// the seed's agentcheck.sh lets dns.monitor's report through before echoing its 1 or 0.
pub fn parse_value(output: &str) -> u32 {
    let Some(line) = output.lines().map(str::trim).rfind(|l| !l.is_empty()) else {
        return 0;
    };
    match line.parse::<i64>() {
        Ok(n) if n > 0 => u32::try_from(n).unwrap_or(u32::MAX),
        _ => 0,
    }
}

/// 1 + 100 x the one-minute load average, so that an idle host is not 0; 0 if unreadable.
pub fn load_average_value() -> u32 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| load_value_from(&text))
        .unwrap_or(0)
}

fn load_value_from(loadavg: &str) -> Option<u32> {
    let load: f64 = loadavg.split_whitespace().next()?.parse().ok()?;
    if !load.is_finite() || load < 0.0 {
        return None;
    }
    let scaled = (load * 100.0).floor().min(f64::from(u32::MAX - 1));
    Some(scaled as u32 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_from_command_output() {
        for (output, value) in [
            ("1\n", 1),
            ("  42  \n\n", 42),
            ("127.0.1.1(balanceng.net) \nZone 'x': failed\n\n0\n", 0),
            ("noise\n3\n", 3),
            ("", 0),
            ("-5\n", 0),
            ("1.5\n", 0),
            ("yes\n", 0),
            ("99999999999\n", u32::MAX),
        ] {
            assert_eq!(parse_value(output), value, "{output:?}");
        }
    }

    #[test]
    fn load_average_scaling() {
        assert_eq!(load_value_from("0.00 0.01 0.05 1/123 456"), Some(1));
        assert_eq!(load_value_from("1.57 0.01 0.05 1/123 456"), Some(158));
        assert_eq!(load_value_from("garbage"), None);
        assert!(load_average_value() >= 1);
    }

    #[tokio::test]
    async fn commands_failing_or_hanging_report_zero() {
        assert_eq!(run_command("echo 7", COMMAND_TIMEOUT).await, 7);
        assert_eq!(run_command("echo 7; exit 3", COMMAND_TIMEOUT).await, 0);
        assert_eq!(run_command("exit 0", COMMAND_TIMEOUT).await, 0);
        let started = Instant::now();
        assert_eq!(
            run_command("sleep 30; echo 1", Duration::from_millis(300)).await,
            0
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
