//! Real DNS peers on loopback: a Bind9 serving [`ZONE`] whose apex TXT record names the instance
//! (so an answer says which backend gave it), and the real `dig` asking through a balancer from
//! a chosen 127.x source address. The seed lab's Bind9 pair lives in `netlab::seed`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;

use netlab::bind9::{Bind9, Bind9Options, Zone};

pub const DIG: &str = "/usr/bin/dig";
/// The zone every loopback Bind9 serves.
pub const ZONE: &str = "fulcrum.test";

/// A Bind9 on 127.0.0.1:`port` whose [`ZONE`] has the apex TXT record `name`.
pub fn loopback_bind9(name: &str, port: u16) -> Bind9 {
    let record = format!("@ IN TXT \"{name}\"");
    zone_server(None, port, &[record.as_str()])
}

/// A Bind9 on 127.0.0.1:`port`, inside the namespace named `netns` when given, serving
/// [`ZONE`] (serial 1) with `records`.
pub fn zone_server(netns: Option<&str>, port: u16, records: &[&str]) -> Bind9 {
    Bind9::start(Bind9Options {
        listen: vec![Ipv4Addr::LOCALHOST.into()],
        port,
        zones: vec![Zone::primary(ZONE, 1, records)],
        netns: netns.map(str::to_string),
        extra_options: String::new(),
    })
    .unwrap_or_else(|e| panic!("starting Bind9 for {records:?}: {e}"))
}

/// How [`dig_instance`] asks.
#[derive(Debug, Clone, Copy)]
pub struct Ask {
    /// Over TCP (`+tcp`) rather than UDP.
    pub tcp: bool,
    /// `+time=`: seconds to wait for the one try.
    pub time: u32,
}

/// `dig` from `source` to `server` for [`ZONE`]'s TXT: the instance that answered (`inst-a` or
/// `inst-b`), or what dig printed.
pub fn dig_instance(server: SocketAddr, source: Ipv4Addr, ask: Ask) -> Result<String, String> {
    assert!(
        Path::new(DIG).exists(),
        "{DIG} is missing: install bind9-dnsutils"
    );
    let mut command = Command::new(DIG);
    command
        .arg(format!("@{}", server.ip()))
        .args(["-p", &server.port().to_string()])
        .args(["-b", &source.to_string()])
        .arg(format!("+time={}", ask.time))
        .args(["+tries=1", "+short", "TXT", ZONE]);
    if ask.tcp {
        command.arg("+tcp");
    }
    let output = command.output().expect("run dig");
    let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
    match text.as_str() {
        "\"inst-a\"" => Ok("inst-a".into()),
        "\"inst-b\"" => Ok("inst-b".into()),
        _ => Err(format!(
            "dig from {source} ({}): {text} {}",
            if ask.tcp { "tcp" } else { "udp" },
            String::from_utf8_lossy(&output.stderr)
        )),
    }
}
