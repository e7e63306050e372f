//! The `dsr-path` probe: proves that a DSR target receives what the DSR plane sends
//! it, a DNS query addressed to the VIP in a frame to the target's MAC, so a target that lost
//! its loopback VIP (its stack then drops those frames) is taken out like any failing one.
//!
//! One SOA query (for the zone of the target's `dns` check, else the root; no recursion) goes
//! to VIP:port: for a target on the DSR interface, through the plane ([`crate::dsr::Dsr::
//! send_path_probe`], from the network's `real` address to the target's resolved MAC, the
//! answer caught on that interface; an IPv6 VIP from `real6` to the MAC Neighbor Discovery
//! learned); for this very host (`set localdsr 1`), through the local
//! stack from the VIP itself (binding it fails if this host lost the VIP). Any DNS response
//! with our ID and question passes ([`fulcrum_dnsprobe::answer::accept_path_answer`]),
//! whatever its RCODE: reaching the server through the VIP is what is proved, the zone's health
//! is the `dns` check's business. Other payloads are counted
//! as ignored and waited past. The probe gives up a little before the scheduler's deadline so
//! its own reason, naming what was tried, is the one recorded.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use fulcrum_dnsprobe::answer::{accept_path_answer as accept, Sent};
use fulcrum_dnsprobe::query::soa_probe as build_query;
use tokio::net::UdpSocket;

use crate::dsr::{Dsr, PathRoute};
use crate::plane::slot::PlaneView;

use super::error_text::error_text;

/// Runs one probe of `target` at `vip:port` through the plane in `dsr`; `Ok` carries the
/// success detail.
pub async fn probe(
    dsr: &PlaneView<Dsr>,
    target: u32,
    vip: IpAddr,
    port: u16,
    zone: &str,
    within: Duration,
) -> Result<String, String> {
    // Leave the scheduler room to take our result before it records `no reply` itself.
    let wait = within.saturating_sub((within / 10).max(Duration::from_millis(50)));
    let (query, packet) = build_query(zone)?;
    // The first probes of a daemon may come before the DSR driver has started the plane, or
    // before its ARP has resolved the target: give those half the wait.
    let started = tokio::time::Instant::now();
    let (dsr, route) = loop {
        let found = dsr.current().map(|dsr| {
            let route = dsr.path_route(target);
            (dsr, route)
        });
        let settled = matches!(found, Some((_, PathRoute::Local | PathRoute::Mac(_))));
        if settled || started.elapsed() >= wait / 2 {
            match found {
                Some(found) => break found,
                None => return Err("the DSR plane is not running".to_string()),
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let wait = wait.saturating_sub(started.elapsed());
    // `[v6]:port` for an IPv6 VIP.
    let at = SocketAddr::new(vip, port);
    match route {
        PathRoute::NotBalanced => Err("the DSR plane does not balance to this target".into()),
        PathRoute::Unresolved if vip.is_ipv6() => {
            Err("no MAC for the target (neighbour solicitations unanswered)".into())
        }
        PathRoute::Unresolved => Err("no MAC for the target (ARP unanswered)".into()),
        PathRoute::Local => {
            let answered = local(vip, port, &query, &packet, wait, || {
                dsr.count_path_ignored()
            })
            .await?
            .ok_or_else(|| format!("no answer from {at} through the local stack"))?;
            Ok(format!("{answered} from {at} through the local stack"))
        }
        PathRoute::Mac(mac) => {
            let mut answers = dsr.send_path_probe(vip, port, mac, &packet)?;
            let answered = tokio::time::timeout(wait, async {
                while let Some(payload) = answers.next().await {
                    match accept(&payload, &query) {
                        Some(rcode) => return Some(rcode),
                        None => answers.ignored(),
                    }
                }
                None
            })
            .await
            .ok()
            .flatten();
            let Some(rcode) = answered else {
                return Err(format!(
                    "no answer from {at} at {mac} (does the target hold the VIP on its lo?)"
                ));
            };
            Ok(format!("{rcode} from {at} at {mac}"))
        }
    }
}

/// Through the local stack from the VIP itself: `Ok(None)` when no answer came within `wait`.
async fn local(
    vip: IpAddr,
    port: u16,
    sent: &Sent,
    packet: &[u8],
    wait: Duration,
    ignored: impl Fn(),
) -> Result<Option<String>, String> {
    let at = SocketAddr::new(vip, port);
    let socket = UdpSocket::bind(SocketAddr::new(vip, 0))
        .await
        .map_err(|e| format!("VIP {vip} is not on this host ({})", error_text(&e)))?;
    socket
        .connect(at)
        .await
        .map_err(|e| format!("connect {at}: {}", error_text(&e)))?;
    socket
        .send(packet)
        .await
        .map_err(|e| format!("send to {at}: {}", error_text(&e)))?;
    let mut buffer = [0u8; 4096];
    let answered = tokio::time::timeout(wait, async {
        loop {
            match socket.recv(&mut buffer).await {
                Ok(n) => match buffer.get(..n).and_then(|b| accept(b, sent)) {
                    Some(rcode) => return Ok(rcode),
                    None => ignored(),
                },
                Err(e) => return Err(format!("{at}: {}", error_text(&e))),
            }
        }
    })
    .await;
    match answered {
        Ok(Ok(rcode)) => Ok(Some(rcode)),
        Ok(Err(e)) => Err(e),
        Err(_elapsed) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_vip_that_is_not_on_this_host_fails_the_local_probe_clearly() {
        let (sent, packet) = build_query(".").unwrap();
        // TEST-NET-1: never an address of this host.
        let vip = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
        let error = local(vip, 53, &sent, &packet, Duration::from_millis(100), || {})
            .await
            .unwrap_err();
        assert!(
            error.starts_with("VIP 192.0.2.1 is not on this host"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn an_ipv6_vip_that_is_not_on_this_host_fails_the_local_probe_clearly() {
        let (sent, packet) = build_query(".").unwrap();
        // The documentation prefix: never an address of this host.
        let vip: IpAddr = "2001:db8::1".parse().unwrap();
        let error = local(vip, 53, &sent, &packet, Duration::from_millis(100), || {})
            .await
            .unwrap_err();
        assert!(
            error.starts_with("VIP 2001:db8::1 is not on this host"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn an_ipv6_vip_on_this_host_is_probed_through_the_local_stack() {
        // A DNS server on [::1]:port standing in for a Bind9 on the VIP: it answers the query.
        let server = std::net::UdpSocket::bind("[::1]:0").unwrap();
        let port = server.local_addr().unwrap().port();
        let (sent, packet) = build_query(".").unwrap();
        let answering = std::thread::spawn(move || {
            let mut buffer = [0u8; 512];
            let (n, from) = server.recv_from(&mut buffer).unwrap();
            let mut reply = buffer[..n].to_vec();
            // QR set, RCODE REFUSED: any response to our query proves the path.
            reply[2] |= 0x80;
            reply[3] = (reply[3] & 0xf0) | 5;
            server.send_to(&reply, from).unwrap();
        });
        let vip = IpAddr::V6(std::net::Ipv6Addr::LOCALHOST);
        let answered = local(vip, port, &sent, &packet, Duration::from_secs(2), || {})
            .await
            .unwrap();
        answering.join().unwrap();
        assert!(answered.is_some(), "no answer through the local stack");
    }
}
