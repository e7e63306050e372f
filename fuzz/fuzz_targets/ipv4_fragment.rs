//! Fuzzes the IPv4 fragmenter (`fulcrum_wire::ipv4_fragment`) the DSR plane uses to send on a
//! reassembled datagram longer than the link MTU. Input: two bytes of MTU, then the packet.
//! Checked, beyond "no panic":
//! - a packet is refused only for a reason its header shows (options, DF with a packet over
//!   the MTU, an MTU without room for a header and 8 bytes, a piece ending beyond 65535 bytes,
//!   or a header the view refuses);
//! - every fragment fits the MTU, its header checksum verifies, it keeps the ID, protocol and
//!   addresses, its offset follows the previous fragment's end and its payload range is a
//!   multiple of 8 bytes but for the last; MF is set on all but the last (which keeps the
//!   original's);
//! - the payload ranges, concatenated, are the original payload exactly.
//!
//! Run: `cargo +nightly fuzz run ipv4_fragment fuzz/seeds/ipv4_fragment`.

#![no_main]

use fulcrum_wire::checksum;
use fulcrum_wire::ipv4::{Packet, HEADER_LEN};
use fulcrum_wire::ipv4_fragment::{Fragments, Refusal};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((mtu, packet)) = data.split_first_chunk::<2>() else {
        return;
    };
    let mtu = usize::from(u16::from_be_bytes(*mtu));
    let fragments = match Fragments::new(packet, mtu) {
        Ok(fragments) => fragments,
        Err(refusal) => {
            let Ok(view) = Packet::new_checked(packet) else {
                assert_eq!(refusal, Refusal::Malformed);
                return;
            };
            match refusal {
                Refusal::Malformed => assert!(
                    usize::from(view.frag_offset()) + usize::from(view.total_len())
                        > usize::from(u16::MAX),
                    "a valid header refused as malformed"
                ),
                Refusal::Options => assert!(usize::from(view.header_len()) > HEADER_LEN),
                Refusal::DontFragment => {
                    assert!(view.dont_frag() && usize::from(view.total_len()) > mtu)
                }
                Refusal::TinyMtu => assert!(mtu < HEADER_LEN + 8),
            }
            return;
        }
    };
    let view = Packet::new_checked(packet).expect("an accepted packet has a valid header");
    let total = usize::from(view.total_len());
    let original = &packet[HEADER_LEN..total];
    let mut rebuilt = Vec::with_capacity(original.len());
    let pieces: Vec<_> = fragments.collect();
    assert!(!pieces.is_empty());
    for (i, piece) in pieces.iter().enumerate() {
        let last = i + 1 == pieces.len();
        let header = &piece.header;
        let len = HEADER_LEN + piece.payload.len();
        assert!(
            len <= mtu.max(total),
            "fragment of {len} bytes over MTU {mtu}"
        );
        if pieces.len() > 1 {
            assert!(len <= mtu);
        }
        assert_eq!(checksum::checksum(header), 0, "header checksum verifies");
        assert_eq!(usize::from(u16::from_be_bytes([header[2], header[3]])), len);
        assert_eq!(header[4..6], packet[4..6], "ID kept");
        assert_eq!(header[9], packet[9], "protocol kept");
        assert_eq!(header[12..20], packet[12..20], "addresses kept");
        let flags = u16::from_be_bytes([header[6], header[7]]);
        let offset = usize::from(flags & 0x1fff) * 8;
        assert_eq!(offset, usize::from(view.frag_offset()) + rebuilt.len());
        let more = flags & 0x2000 != 0;
        if last {
            assert_eq!(more, view.more_frags());
        } else {
            assert!(more);
            assert_eq!(piece.payload.len() % 8, 0);
        }
        rebuilt.extend_from_slice(&packet[piece.payload.clone()]);
    }
    assert_eq!(rebuilt, original);
});
