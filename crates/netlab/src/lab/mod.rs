//! A [`Lab`] is a set of network namespaces built with iproute2 for one test, with names unique
//! to that test, and removed again when the `Lab` is dropped (also while a panic unwinds).
//!
//! Contract:
//! - Every namespace the lab creates is named `<prefix><name>`, where the prefix
//!   ([`Lab::prefix`]) holds a tag from the test name, the process id, a per-process counter
//!   and a few time-derived digits, so labs of concurrent tests (even from other process-id
//!   namespaces sharing `/run/netns`) never collide.
//! - Nothing is ever created in the host's namespace: veth pairs are created inside a lab
//!   namespace with their peer moved straight into another lab namespace, and a switch is a
//!   bridge inside its own namespace. No lab namespace is linked or routed to the host.
//! - On drop the lab kills (by PID, with SIGKILL) every process it spawned and every process
//!   still running inside one of its namespaces, then deletes its namespaces; veth pairs die
//!   with their namespace. Cleanup errors are reported on stderr, never as a panic.
//! - Every setup call returns a [`LabError`] naming the command and its stderr on failure, so a
//!   missing tool (`ip`, `sysctl`, `ping`) is reported plainly.

mod capture;
mod process;

use std::fmt;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use capture::Capture;
use process::{check, describe, kill_namespace_processes, run};
pub use process::{LabError, Proc};

/// Linux's limit on interface names (IFNAMSIZ - 1).
pub const MAX_IFNAME_LEN: usize = 15;

/// Labs created by this process so far (part of every lab prefix).
static LAB_COUNTER: AtomicU32 = AtomicU32::new(0);

/// State shared by a lab and every handle it gave out.
#[derive(Debug)]
struct Shared {
    prefix: String,
    /// Full names of the namespaces created, in creation order.
    namespaces: Mutex<Vec<String>>,
    /// Processes spawned through [`Ns::spawn`]; killed on drop unless already reaped.
    processes: Mutex<Vec<Arc<Mutex<Child>>>>,
    /// Switch-side port names handed out so far.
    port_counter: AtomicU32,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind; cleanup must go on.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One test's network-namespace topology. Dropping it removes everything it built.
#[derive(Debug)]
pub struct Lab {
    shared: Arc<Shared>,
}

/// A network namespace of a lab. Cheap to clone; valid until its lab is dropped.
#[derive(Debug, Clone)]
pub struct Ns {
    name: String,
    short: String,
    shared: Arc<Shared>,
}

/// A switch: a bridge `br0` inside a namespace of its own, to which links attach.
#[derive(Debug, Clone)]
pub struct Switch {
    ns: Ns,
}

/// One end of a veth link: an interface inside a namespace.
#[derive(Debug, Clone)]
pub struct Link {
    pub ns: Ns,
    pub ifname: String,
    /// The other end (a port of a switch, or an interface of another namespace).
    pub peer_ns: Ns,
    pub peer_ifname: String,
}

impl Lab {
    /// A new, empty lab whose names derive from `test_name` (any text; only `[a-z0-9]` of its
    /// first characters are kept).
    pub fn new(test_name: &str) -> Lab {
        let counter = LAB_COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let prefix = format!(
            "{}{counter}{:04x}-",
            Lab::process_prefix(test_name, std::process::id()),
            nanos & 0xffff
        );
        Lab {
            shared: Arc::new(Shared {
                prefix,
                namespaces: Mutex::new(Vec::new()),
                processes: Mutex::new(Vec::new()),
                port_counter: AtomicU32::new(0),
            }),
        }
    }

    /// The start of the namespace names of every lab named `test_name` that process `pid`
    /// creates (`nl-TAG-PID-`): what a supervisor looks for when that process was killed before
    /// its labs could drop.
    pub fn process_prefix(test_name: &str, pid: u32) -> String {
        let tag: String = test_name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .take(12)
            .collect();
        format!("nl-{tag}-{pid}-")
    }

    /// The prefix of every namespace name this lab creates.
    pub fn prefix(&self) -> &str {
        &self.shared.prefix
    }

    /// Full names of the namespaces created so far.
    pub fn namespaces(&self) -> Vec<String> {
        lock(&self.shared.namespaces).clone()
    }

    /// A new namespace with `lo` up. `name` is short (`ns0a`); [`Ns::name`] is the full name.
    pub fn netns(&self, name: &str) -> Result<Ns, LabError> {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(LabError::InvalidName {
                name: name.to_string(),
                why: "use letters, digits and '-'",
            });
        }
        let full = format!("{}{name}", self.shared.prefix);
        {
            let mut namespaces = lock(&self.shared.namespaces);
            if namespaces.contains(&full) {
                return Err(LabError::Duplicate(name.to_string()));
            }
            // Only a namespace this call made is recorded: a name that already exists is
            // someone else's, and iproute2 removes a half-made one itself.
            add_namespace(&full)?;
            namespaces.push(full.clone());
        }
        let ns = Ns {
            name: full,
            short: name.to_string(),
            shared: self.shared.clone(),
        };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// A new switch: a namespace `name` holding a bridge `br0` (STP off, so ports forward at
    /// once).
    pub fn switch(&self, name: &str) -> Result<Switch, LabError> {
        let ns = self.netns(name)?;
        ns.ip(&[
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
        ])?;
        ns.ip(&["link", "set", "br0", "up"])?;
        Ok(Switch { ns })
    }

    /// Connects interface `ifname` (created, up, no address) of `ns` to a new port of `switch`.
    pub fn link(&self, ns: &Ns, ifname: &str, switch: &Switch) -> Result<Link, LabError> {
        let port = format!(
            "p{}",
            self.shared.port_counter.fetch_add(1, Ordering::Relaxed)
        );
        let link = self.veth(ns, ifname, &switch.ns, &port)?;
        switch.ns.ip(&["link", "set", &port, "master", "br0"])?;
        Ok(link)
    }

    /// A veth pair between two namespaces: `a_if` in `a`, `b_if` in `b`, both up.
    pub fn veth(&self, a: &Ns, a_if: &str, b: &Ns, b_if: &str) -> Result<Link, LabError> {
        check_ifname(a_if)?;
        check_ifname(b_if)?;
        // Created inside `a` with the peer moved straight into `b`: the host never sees either.
        a.ip(&[
            "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", &b.name,
        ])?;
        a.ip(&["link", "set", a_if, "up"])?;
        b.ip(&["link", "set", b_if, "up"])?;
        Ok(Link {
            ns: a.clone(),
            ifname: a_if.to_string(),
            peer_ns: b.clone(),
            peer_ifname: b_if.to_string(),
        })
    }
}

/// `ip netns add`, retried briefly: the first namespaces on a fresh host race to make
/// `/run/netns` a shared mount, and the loser of that race fails once.
fn add_namespace(full: &str) -> Result<(), LabError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match run(Command::new("ip").args(["netns", "add", full])) {
            Ok(_) => return Ok(()),
            Err(error) if attempt >= 3 || Path::new("/run/netns").join(full).exists() => {
                return Err(error)
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for child in lock(&self.shared.processes).drain(..) {
            let mut child = lock(&child);
            // std knows whether it already reaped this child, so a recycled PID is never hit.
            let _ = child.kill();
            let _ = child.wait();
        }
        let namespaces: Vec<String> = lock(&self.shared.namespaces).drain(..).collect();
        for name in namespaces.iter().rev() {
            kill_namespace_processes(name);
            if let Err(error) = run(Command::new("ip").args(["netns", "del", name])) {
                eprintln!("netlab: cleanup: {error}");
            }
        }
    }
}

impl Ns {
    /// The full namespace name, as `ip netns exec` wants it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The short name given to [`Lab::netns`].
    pub fn short_name(&self) -> &str {
        &self.short
    }

    /// Runs `ip -n NS ARGS...` and fails on a non-zero exit.
    pub fn ip(&self, args: &[&str]) -> Result<String, LabError> {
        run(Command::new("ip").args(["-n", &self.name]).args(args))
    }

    /// Runs many `ip` commands (one per line, without the leading `ip`) in one process.
    pub fn ip_batch(&self, lines: &[String]) -> Result<(), LabError> {
        let command = format!("ip -n {} -batch - ({} lines)", self.name, lines.len());
        let mut child = Command::new("ip")
            .args(["-n", &self.name, "-batch", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| LabError::Spawn {
                command: command.clone(),
                source,
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            let text = lines.join("\n") + "\n";
            stdin
                .write_all(text.as_bytes())
                .map_err(|source| LabError::Spawn {
                    command: command.clone(),
                    source,
                })?;
        }
        let output = child.wait_with_output().map_err(|source| LabError::Spawn {
            command: command.clone(),
            source,
        })?;
        check(command, output).map(|_| ())
    }

    /// Adds an address (`10.235.210.43/24`) to an interface.
    pub fn addr(&self, ifname: &str, cidr: &str) -> Result<(), LabError> {
        self.ip(&["addr", "add", cidr, "dev", ifname]).map(|_| ())
    }

    /// Adds an address to `lo` (a VIP: `10.235.210.1/32`).
    pub fn lo_alias(&self, cidr: &str) -> Result<(), LabError> {
        self.addr("lo", cidr)
    }

    /// Sets a sysctl inside this namespace (`net.ipv4.conf.all.arp_ignore`, `1`).
    pub fn sysctl(&self, key: &str, value: &str) -> Result<(), LabError> {
        let setting = format!("{key}={value}");
        self.run(&["sysctl", "-q", "-w", &setting]).map(|_| ())
    }

    /// Reads a sysctl inside this namespace.
    pub fn sysctl_get(&self, key: &str) -> Result<String, LabError> {
        self.run(&["sysctl", "-n", key])
            .map(|value| value.trim().to_string())
    }

    /// Adds a route: `dst` (`10.99.0.0/16`) via `via` (`10.235.210.254`).
    pub fn route(&self, dst: &str, via: &str) -> Result<(), LabError> {
        self.ip(&["route", "add", dst, "via", via]).map(|_| ())
    }

    /// A `Command` that runs `program` inside this namespace (add arguments, stdio, env).
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name, program]);
        command
    }

    /// Runs `argv` inside this namespace to completion and returns its output, whatever its
    /// exit status; only failing to start it is an error.
    pub fn exec(&self, argv: &[&str]) -> Result<Output, LabError> {
        let (program, args) = argv.split_first().ok_or(LabError::InvalidName {
            name: String::new(),
            why: "empty command",
        })?;
        let mut command = self.command(program);
        command.args(args);
        command.output().map_err(|source| LabError::Spawn {
            command: describe(&command),
            source,
        })
    }

    /// Runs `argv` inside this namespace and returns its stdout; a non-zero exit is an error.
    pub fn run(&self, argv: &[&str]) -> Result<String, LabError> {
        let output = self.exec(argv)?;
        check(
            format!("ip netns exec {} {}", self.name, argv.join(" ")),
            output,
        )
    }

    /// Starts `command` (made with [`Ns::command`]) in the background; the lab kills it by PID
    /// on drop. `ip netns exec` execs the program in place, so the PID is the program's own.
    pub fn spawn(&self, mut command: Command) -> Result<Proc, LabError> {
        let child = command.spawn().map_err(|source| LabError::Spawn {
            command: describe(&command),
            source,
        })?;
        let proc = Proc {
            pid: child.id(),
            child: Arc::new(Mutex::new(child)),
        };
        lock(&self.shared.processes).push(proc.child.clone());
        Ok(proc)
    }

    /// Pings `address` once (one-second wait) from this namespace; true when it answered.
    pub fn ping(&self, address: &str) -> Result<bool, LabError> {
        let output = self.exec(&["ping", "-c", "1", "-W", "1", "-n", "-q", address])?;
        match output.status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            // 2 and beyond: ping itself could not run (not installed, bad address).
            _ => Err(LabError::Failed {
                command: format!("ping {address} in {}", self.name),
                status: output.status,
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            }),
        }
    }
}

impl Switch {
    /// The switch's namespace (for captures: `tcpdump -i br0`).
    pub fn ns(&self) -> &Ns {
        &self.ns
    }
}

impl fmt::Display for Ns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

fn check_ifname(name: &str) -> Result<(), LabError> {
    if name.is_empty() || name.len() > MAX_IFNAME_LEN {
        return Err(LabError::InvalidName {
            name: name.to_string(),
            why: "interface names are 1 to 15 bytes",
        });
    }
    if name.contains(['/', ' ', ':']) {
        return Err(LabError::InvalidName {
            name: name.to_string(),
            why: "no '/', ':' or spaces in interface names",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_longer_than_15_bytes_are_refused() {
        assert!(check_ifname("eth0").is_ok());
        assert!(check_ifname("fifteen-chars-x").is_ok());
        assert!(check_ifname("sixteen-chars-xx").is_err());
        assert!(check_ifname("").is_err());
        assert!(check_ifname("a/b").is_err());
    }

    #[test]
    fn prefixes_differ_between_labs_and_keep_a_readable_tag() {
        let a = Lab::new("Seed topology!");
        let b = Lab::new("Seed topology!");
        assert_ne!(a.prefix(), b.prefix());
        assert!(a.prefix().starts_with("nl-seedtopology-"), "{}", a.prefix());
        assert!(a.prefix().contains(&std::process::id().to_string()));
        let of_process = Lab::process_prefix("Seed topology!", std::process::id());
        assert!(a.prefix().starts_with(&of_process), "{}", a.prefix());
        assert!(!Lab::new("other").prefix().starts_with(&of_process));
    }
}
