//! `dig -6` through the IPv6 VIP of the seed lab made dual-stack (`netlab::seed6`), as
//! [`crate::seed_dsr::dig_vip`] asks the IPv4 one: from one of the client namespace's IPv6
//! source addresses, for the zone's TXT, which names the node that answered.

use std::net::Ipv6Addr;

use netlab::seed::SeedLab;
use netlab::seed6::VIP6;

/// `dig -6 -b SOURCE @VIP6 balanceng.net TXT +short +tries=2 +time=TIME [+tcp]` in the client
/// namespace: which node answered (`None`: no answer).
pub fn ask6(seed: &SeedLab, source: Ipv6Addr, tcp: bool, time: u32) -> Option<String> {
    let (source, server, time) = (
        source.to_string(),
        format!("@{VIP6}"),
        format!("+time={time}"),
    );
    let mut argv = vec![
        "dig",
        "-6",
        "-b",
        &source,
        &server,
        "balanceng.net",
        "TXT",
        "+short",
        "+tries=2",
        &time,
    ];
    if tcp {
        argv.push("+tcp");
    }
    let output = seed
        .client
        .exec(&argv)
        .expect("run dig in the client namespace");
    let text = String::from_utf8_lossy(&output.stdout);
    let answer = text.trim().trim_matches('"');
    (output.status.success() && matches!(answer, "ns0a" | "ns0b")).then(|| answer.to_string())
}
