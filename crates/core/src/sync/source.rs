//! The first look at a received datagram, before it is parsed or its HMAC computed: is it small
//! enough, and may its source address send it? Only the peer's address (configured, or the
//! VRRP peer) may send sync datagrams; a node that learns its peer (a master with neither) also
//! lets a bare full-table request through from elsewhere, for its cookie check
//! ([`super::RequestGate`]). Everything else is dropped here, so a flood from the segment costs
//! a length and an address comparison, never a 64 KiB HMAC.

use std::net::IpAddr;

use fulcrum_wire::sync::{Kind, HEADER_LEN, MAC_LEN};

use super::DropReason;

/// No sync datagram is larger (the sender's bound, trailer included).
pub const MAX_DATAGRAM: usize = 1400;

/// Where a datagram's source stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The peer's address.
    Peer,
    /// Another address sending a bare full-table request to a node that learns its peer.
    Unverified,
    Drop(DropReason),
}

/// `peer`: the peer's address if known; `learns_peer`: this node takes a verified requester.
pub fn check_source(bytes: &[u8], from: IpAddr, peer: Option<IpAddr>, learns_peer: bool) -> Source {
    if bytes.len() > MAX_DATAGRAM {
        return Source::Drop(DropReason::Malformed);
    }
    if peer == Some(from) {
        return Source::Peer;
    }
    let bare_request =
        bytes.len() <= HEADER_LEN + MAC_LEN && bytes.get(3) == Some(&(Kind::FullRequest as u8));
    if learns_peer && bare_request {
        return Source::Unverified;
    }
    Source::Drop(DropReason::NotFromPeer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn only_the_peer_or_a_bare_request_to_a_learning_node_passes() {
        let peer = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let other = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9));
        let mut request = vec![0u8; HEADER_LEN];
        request[3] = Kind::FullRequest as u8;
        let mut update = request.clone();
        update[3] = Kind::Update as u8;
        assert_eq!(check_source(&update, peer, Some(peer), false), Source::Peer);
        for learns in [false, true] {
            assert_eq!(
                check_source(&update, other, Some(peer), learns),
                Source::Drop(DropReason::NotFromPeer)
            );
        }
        assert_eq!(
            check_source(&request, other, Some(peer), false),
            Source::Drop(DropReason::NotFromPeer)
        );
        assert_eq!(
            check_source(&request, other, None, true),
            Source::Unverified
        );
        let mut long = request.clone();
        long.resize(HEADER_LEN + MAC_LEN + 21, 0);
        assert_eq!(
            check_source(&long, other, None, true),
            Source::Drop(DropReason::NotFromPeer)
        );
        let huge = vec![0u8; 65_000];
        assert_eq!(
            check_source(&huge, peer, Some(peer), false),
            Source::Drop(DropReason::Malformed)
        );
    }
}
