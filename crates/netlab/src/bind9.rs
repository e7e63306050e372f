//! A real Bind9 (`/usr/sbin/named`) for tests: [`Bind9::start`] writes a `named.conf` and zone
//! files into a private temporary directory, runs `named -g` in the foreground (inside
//! `ip netns exec NS` when a namespace is given), and returns only once the server answers an SOA
//! query, or an error carrying named's own log when it never does. Stopping (explicitly or on
//! drop, also during a panic) kills the process by its PID and reaps it.
//!
//! Many instances can run at once: everything named writes (pid file, session key, managed keys,
//! log) lives in the instance's directory, the control channel is off, and the caller picks
//! distinct listen addresses or ports. Note that named only binds addresses present on an
//! interface: in the host namespace that means 127.0.0.1 (pick distinct ports); in a test's own
//! namespace, add 127.0.x.y/32 to its `lo` first to have several servers on port 53.

use std::io::Read as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod conf;
mod netns;
pub use netns::LoopbackNetns;

const NAMED: &str = "/usr/sbin/named";
const DIG: &str = "/usr/bin/dig";
const IP: &str = "/usr/sbin/ip";

/// How long `start` and `set_serial` wait for named to answer before giving up.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// One zone served by the instance.
#[derive(Clone, Debug)]
pub struct Zone {
    /// The zone's name, e.g. `balanceng.net` (a trailing dot is optional).
    pub name: String,
    /// The serial written into the zone's SOA record.
    pub serial: u32,
    /// Extra zone-file lines after the generated SOA, NS and `ns1` A records,
    /// e.g. `@ IN TXT "ns-a"` or `www IN A 192.0.2.1`.
    pub records: Vec<String>,
    /// `true`: a primary (`type master`) loaded from the generated file. `false`: a secondary
    /// (`type slave`) transferring from `primaries`.
    pub master: bool,
    /// The primaries a secondary zone transfers from (ignored when `master` is true).
    pub primaries: Vec<SocketAddr>,
    /// Servers a primary zone sends NOTIFY to when its serial changes (`notify explicit`,
    /// `also-notify`); empty: no NOTIFY, as for every zone of the fixture by default.
    pub also_notify: Vec<SocketAddr>,
}

impl Zone {
    /// A primary zone with the given serial and extra records.
    pub fn primary(name: &str, serial: u32, records: &[&str]) -> Zone {
        Zone {
            name: name.to_string(),
            serial,
            records: records.iter().map(|r| r.to_string()).collect(),
            master: true,
            primaries: Vec::new(),
            also_notify: Vec::new(),
        }
    }

    /// A secondary zone that transfers from `primaries` (and takes their NOTIFY).
    pub fn secondary(name: &str, primaries: &[SocketAddr]) -> Zone {
        Zone {
            name: name.to_string(),
            serial: 0,
            records: Vec::new(),
            master: false,
            primaries: primaries.to_vec(),
            also_notify: Vec::new(),
        }
    }

    /// The same zone, sending NOTIFY to `servers` when its serial changes.
    pub fn notifying(mut self, servers: &[SocketAddr]) -> Zone {
        self.also_notify = servers.to_vec();
        self
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Bind9Options {
    /// Addresses named listens on (it binds only those present on an interface).
    pub listen: Vec<IpAddr>,
    /// The port for every listen address (UDP and TCP).
    pub port: u16,
    pub zones: Vec<Zone>,
    /// Run inside this network namespace (`ip netns exec`), which the caller created.
    pub netns: Option<String>,
    /// Extra statements placed inside `options { ... }` verbatim.
    pub extra_options: String,
}

#[derive(Debug, thiserror::Error)]
pub enum Bind9Error {
    #[error("{path} is missing: install it (Debian packages bind9, bind9-dnsutils, iproute2)")]
    ToolMissing { path: &'static str },
    #[error("Bind9 options: {0}")]
    BadOptions(String),
    #[error("writing Bind9 files in {dir}: {source}")]
    Io {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("starting {NAMED}: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("named exited early ({status}); its log:\n{log}")]
    Exited { status: String, log: String },
    #[error("named did not answer an SOA query for {zone} on {server} within {waited:?}; its log:\n{log}")]
    NotReady {
        zone: String,
        server: String,
        waited: Duration,
        log: String,
    },
    #[error("signalling named (pid {pid}): {source}")]
    Signal {
        pid: u32,
        #[source]
        source: std::io::Error,
    },
    #[error("zone {0} is not served by this instance")]
    UnknownZone(String),
}

/// A running named. Killed and reaped on [`Bind9::stop`] or drop.
pub struct Bind9 {
    options: Bind9Options,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Bind9 {
    /// Writes the configuration, starts named and waits until it answers (see the module doc).
    pub fn start(options: Bind9Options) -> Result<Bind9, Bind9Error> {
        for tool in [NAMED, DIG] {
            if !Path::new(tool).exists() {
                return Err(Bind9Error::ToolMissing { path: tool });
            }
        }
        if options.netns.is_some() && !Path::new(IP).exists() {
            return Err(Bind9Error::ToolMissing { path: IP });
        }
        if options.listen.is_empty() {
            return Err(Bind9Error::BadOptions("no listen address".into()));
        }
        let dir = tempfile::Builder::new()
            .prefix("netlab-bind9-")
            .tempdir()
            .map_err(|source| Bind9Error::Io {
                dir: std::env::temp_dir(),
                source,
            })?;
        let mut bind9 = Bind9 {
            options,
            dir,
            child: None,
        };
        for zone in &bind9.options.zones {
            if zone.master {
                bind9.write_zone_file(zone)?;
            } else if zone.primaries.is_empty() {
                return Err(Bind9Error::BadOptions(format!(
                    "secondary zone {} has no primaries",
                    zone.name
                )));
            }
        }
        let conf = bind9.named_conf();
        let conf_path = bind9.dir.path().join("named.conf");
        std::fs::write(&conf_path, conf).map_err(|source| bind9.io_error(source))?;
        bind9.spawn(&conf_path)?;
        bind9.wait_ready()?;
        Ok(bind9)
    }

    /// named's PID, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The first listen address with the port: where to send queries.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.options.listen[0], self.options.port)
    }

    /// The instance's private directory (configuration, zone files, `named.log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything named has logged so far.
    pub fn log(&self) -> String {
        read_lossy(&self.dir.path().join("named.log"))
    }

    /// Rewrites a primary zone with a new serial, reloads (SIGHUP) and waits until named serves
    /// the new serial.
    pub fn set_serial(&mut self, zone: &str, serial: u32) -> Result<(), Bind9Error> {
        let wanted = normalize(zone);
        let Some(index) = self
            .options
            .zones
            .iter()
            .position(|z| z.master && normalize(&z.name) == wanted)
        else {
            return Err(Bind9Error::UnknownZone(zone.to_string()));
        };
        self.options.zones[index].serial = serial;
        let zone = self.options.zones[index].clone();
        self.write_zone_file(&zone)?;
        self.reload()?;
        // named reloads a file only if its mtime is newer than the last load, which has a
        // one-second granularity on some paths: signal again until the serial shows.
        let started = Instant::now();
        let mut last_signal = Instant::now();
        loop {
            if self.query_serial(&zone.name) == Some(serial) {
                return Ok(());
            }
            self.check_alive()?;
            if started.elapsed() > READY_TIMEOUT {
                return Err(Bind9Error::NotReady {
                    zone: zone.name.clone(),
                    server: self.addr().to_string(),
                    waited: READY_TIMEOUT,
                    log: self.log(),
                });
            }
            if last_signal.elapsed() > Duration::from_millis(500) {
                self.touch_zone_file(&zone)?;
                self.reload()?;
                last_signal = Instant::now();
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Sends SIGHUP: named rereads its configuration and changed zone files.
    pub fn reload(&self) -> Result<(), Bind9Error> {
        let Some(pid) = self.pid() else {
            return Ok(());
        };
        let raw = i32::try_from(pid).map_err(|_| Bind9Error::Signal {
            pid,
            source: std::io::Error::other("pid out of range"),
        })?;
        // A child we spawned and have not reaped yet, so the PID is still ours.
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), nix::sys::signal::SIGHUP).map_err(
            |errno| Bind9Error::Signal {
                pid,
                source: std::io::Error::from(errno),
            },
        )
    }

    /// The serial named currently serves for `zone` (an SOA query with `dig`, two tries of two
    /// seconds so a loaded machine is not mistaken for a dead server), if it answers.
    pub fn query_serial(&self, zone: &str) -> Option<u32> {
        let addr = self.addr();
        let mut cmd = self.command_in_netns(DIG);
        cmd.args([
            "+norec",
            "+short",
            "+time=2",
            "+tries=2",
            &format!("@{}", addr.ip()),
            "-p",
            &addr.port().to_string(),
            zone,
            "SOA",
        ]);
        let out = cmd.stderr(Stdio::null()).output().ok()?;
        if !out.status.success() {
            return None;
        }
        // `+short` SOA: "mname rname serial refresh retry expire minimum".
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .nth(2)?
            .parse()
            .ok()
    }

    /// Kills named (SIGKILL) and reaps it. Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Errors mean it already exited; wait() reaps it either way.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether named is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    fn spawn(&mut self, conf: &Path) -> Result<(), Bind9Error> {
        let log_path = self.dir.path().join("named.log");
        let log = std::fs::File::create(&log_path).map_err(|source| self.io_error(source))?;
        let log_err = log.try_clone().map_err(|source| self.io_error(source))?;
        let mut cmd = self.command_in_netns(NAMED);
        // -g: foreground, log to stderr. -n 1: one worker thread; tests run many instances on
        // a small machine. -4 unless an IPv6 address is asked for.
        cmd.arg("-g").arg("-n").arg("1").arg("-c").arg(conf);
        if self.options.listen.iter().all(IpAddr::is_ipv4) {
            cmd.arg("-4");
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err));
        self.child = Some(cmd.spawn().map_err(Bind9Error::Spawn)?);
        Ok(())
    }

    fn wait_ready(&mut self) -> Result<(), Bind9Error> {
        let zone = self
            .options
            .zones
            .first()
            .map(|z| z.name.clone())
            .unwrap_or_else(|| ".".to_string());
        let started = Instant::now();
        loop {
            self.check_alive()?;
            // A zone that failed to load will never answer: fail now, not after the timeout.
            // (Logged before named says it is running, so it is seen before `is_ready`.)
            let gave_up = self.log().contains("not loaded due to errors");
            if !gave_up && self.is_ready(&zone) {
                return Ok(());
            }
            if gave_up || started.elapsed() > READY_TIMEOUT {
                let err = Bind9Error::NotReady {
                    zone,
                    server: self.addr().to_string(),
                    waited: READY_TIMEOUT,
                    log: self.log(),
                };
                self.stop();
                return Err(err);
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Ready when named says it is running and answers at all (a REFUSED counts, so that
    /// `allow-query` in `extra_options` may exclude the fixture's own source), and, for a
    /// secondary first zone, once it serves the zone (the transfer is done).
    fn is_ready(&self, zone: &str) -> bool {
        let secondary = self.options.zones.first().is_some_and(|z| !z.master);
        if secondary {
            return self.query_serial(zone).is_some();
        }
        // The last start-up line is "<date> <time> running" (earlier ones say "running on/as").
        if !self.log().lines().any(|line| line.ends_with(" running")) {
            return false;
        }
        let addr = self.addr();
        let mut cmd = self.command_in_netns(DIG);
        cmd.args([
            "+norec",
            "+time=1",
            "+tries=1",
            &format!("@{}", addr.ip()),
            "-p",
            &addr.port().to_string(),
            zone,
            "SOA",
        ]);
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn check_alive(&mut self) -> Result<(), Bind9Error> {
        let status = match self.child.as_mut() {
            Some(child) => child.try_wait(),
            None => {
                return Err(Bind9Error::Exited {
                    status: "stopped".into(),
                    log: self.log(),
                })
            }
        };
        match status {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                self.child = None;
                Err(Bind9Error::Exited {
                    status: status.to_string(),
                    log: self.log(),
                })
            }
            Err(source) => Err(Bind9Error::Spawn(source)),
        }
    }

    fn command_in_netns(&self, program: &str) -> Command {
        match &self.options.netns {
            Some(ns) => {
                let mut cmd = Command::new(IP);
                cmd.args(["netns", "exec", ns, program]);
                cmd
            }
            None => Command::new(program),
        }
    }

    fn io_error(&self, source: std::io::Error) -> Bind9Error {
        Bind9Error::Io {
            dir: self.dir.path().to_path_buf(),
            source,
        }
    }
}

impl Drop for Bind9 {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port on 127.0.0.1 free for both UDP and TCP right now, for a Bind9 in the host namespace.
/// Another process may still take it before named binds; tests that start named with it should
/// be ready for a `NotReady` error (rare) rather than share fixed port numbers.
pub fn free_loopback_port() -> Result<u16, Bind9Error> {
    for _ in 0..64 {
        let udp = std::net::UdpSocket::bind((std::net::Ipv4Addr::LOCALHOST, 0))
            .map_err(Bind9Error::Spawn)?;
        let port = udp.local_addr().map_err(Bind9Error::Spawn)?.port();
        if std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(port);
        }
    }
    Err(Bind9Error::BadOptions(
        "no port free for both UDP and TCP on 127.0.0.1".into(),
    ))
}

/// `example.net` and `example.net.` are the same zone; named.conf and `$ORIGIN` get the dotted form.
fn normalize(zone: &str) -> String {
    if zone.ends_with('.') {
        zone.to_string()
    } else {
        format!("{zone}.")
    }
}

fn read_lossy(path: &Path) -> String {
    let mut bytes = Vec::new();
    match std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)) {
        Ok(_) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

#[cfg(test)]
mod tests;
