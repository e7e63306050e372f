//! Sockets inside a lab namespace without running a process there: a short-lived thread enters
//! the namespace (`setns(2)`), creates the sockets and ends. A socket keeps the namespace it was
//! made in, whatever thread uses it later, so the demo's clients and built-in responders live in
//! the lab while the demo itself stays in the host's namespace (where the lab's clean-up runs).

use std::fs::File;
use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};

use nix::sched::{setns, CloneFlags};

/// Runs `make` on a thread inside network namespace `netns` (a name under `/run/netns`).
pub fn within<T: Send>(netns: &str, make: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
    let path = format!("/run/netns/{netns}");
    let file = File::open(&path).map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))?;
    std::thread::scope(|scope| {
        let thread = scope.spawn(move || {
            setns(&file, CloneFlags::CLONE_NEWNET)
                .map_err(|e| io::Error::other(format!("setns {path}: {e}")))?;
            make()
        });
        thread
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("socket thread panicked")))
    })
}

/// A UDP socket bound to `addr` inside `netns`.
pub fn udp(netns: &str, addr: SocketAddr) -> io::Result<UdpSocket> {
    within(netns, || {
        UdpSocket::bind(addr).map_err(|e| io::Error::new(e.kind(), format!("bind udp {addr}: {e}")))
    })
}

/// A TCP listener on `addr` inside `netns`.
pub fn tcp_listener(netns: &str, addr: SocketAddr) -> io::Result<TcpListener> {
    within(netns, || {
        TcpListener::bind(addr)
            .map_err(|e| io::Error::new(e.kind(), format!("listen tcp {addr}: {e}")))
    })
}
