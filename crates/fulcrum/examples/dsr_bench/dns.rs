//! The DNS half of the benchmark: dnsperf from the client namespace to an address (the VIP or a
//! target directly), and waiting until an address answers at all.

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use netlab::seed::SeedLab;

use crate::Result;

/// dnsperf to `server` for `seconds` (8 clients, 200 outstanding): its queries per second.
pub fn dnsperf(seed: &SeedLab, dir: &Path, server: IpAddr, seconds: u32) -> Result<f64> {
    let queries = dir.join("queries.txt");
    std::fs::write(
        &queries,
        "balanceng.net TXT\nbalanceng.net SOA\nbalanceng.net NS\n",
    )
    .map_err(|e| e.to_string())?;
    let out = seed
        .client
        .exec(&[
            "dnsperf",
            "-s",
            &server.to_string(),
            "-d",
            &queries.display().to_string(),
            "-l",
            &seconds.to_string(),
            "-c",
            "8",
            "-q",
            "200",
            "-t",
            "2",
        ])
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Queries per second:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("no QPS in dnsperf's output:\n{text}"))
}

/// Waits (at most 30 s) until `server` answers the seed zone's TXT query.
pub fn wait_answer(seed: &SeedLab, server: IpAddr) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = seed
            .client
            .exec(&[
                "dig",
                &format!("@{server}"),
                "balanceng.net",
                "TXT",
                "+short",
                "+tries=1",
                "+time=1",
            ])
            .map_err(|e| e.to_string())?;
        if out.status.success() && !out.stdout.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{server} never answered"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
