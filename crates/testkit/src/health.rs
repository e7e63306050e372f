//! What the loopback health-check tests share: a two-target configuration with per-target check
//! lines, the deadline a `1,2` check must meet, and an alert script that records its calls.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// INTERVAL + TIMEOUT of the `1,2` checks, and the margin the shared machine gets on top.
pub const DOWN_WITHIN: Duration = Duration::from_secs(3);
pub const MARGIN: Duration = Duration::from_millis(1500);

/// A server on `vip` with targets 1 and 2 on 127.0.0.1 at the given ports, each with the
/// extra target lines `checks`.
pub fn two_target_config(vip: SocketAddr, ports: [u16; 2], checks: [&str; 2]) -> String {
    format!(
        "hostname HEALTHTEST\n\
         server 1 {{\n  ipaddr {ip}\n  port {port}\n  method session\n  targets 1,2\n}}\n\
         register server 1\nenable server 1\n\
         target 1 {{\n  ipaddr 127.0.0.1\n  port {pa}\n{ca}\n}}\n\
         target 2 {{\n  ipaddr 127.0.0.1\n  port {pb}\n{cb}\n}}\n\
         register targets 1,2\nenable targets 1,2\n",
        ip = vip.ip(),
        port = vip.port(),
        pa = ports[0],
        pb = ports[1],
        ca = checks[0],
        cb = checks[1],
    )
}

/// A script in `dir` that appends its arguments, one line per run, to `file`.
pub fn recorder(dir: &Path, file: &Path) -> PathBuf {
    let text = format!("#!/bin/sh\necho \"$*\" >> {}\n", file.display());
    crate::process::write_executable(&dir.join("record.sh"), &text)
}

/// `dig` over UDP with one try of one second (a check must have moved the client by then):
/// the instance that answered, see [`crate::dns::dig_instance`].
pub fn dig(vip: SocketAddr, source: std::net::Ipv4Addr) -> Result<String, String> {
    crate::dns::dig_instance(
        vip,
        source,
        crate::dns::Ask {
            tcp: false,
            time: 1,
        },
    )
}
