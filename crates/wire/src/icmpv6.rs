//! ICMPv6 (RFC 4443): echo request and reply, the error messages Destination Unreachable,
//! Packet Too Big, Time Exceeded and Parameter Problem with the invoking packet they carry, and
//! the Neighbor Discovery messages of [`crate::nd`]. `Packet::new_checked` verifies the 8 bytes
//! every one of these starts with; `Repr::parse` verifies the checksum over the IPv6
//! pseudo-header (RFC 4443 §2.3, so it needs the addresses the message travelled between) and
//! the whole message, then reads the type's body. Other types are `Unsupported`; an echo with a
//! code other than 0 too. The invoking packet of an error is the start of the IPv6 packet that
//! caused it (as much as fits in the minimum MTU, RFC 4443 §2.4(c)), kept as bytes: read it
//! with [`crate::ipv6::Packet`] after checking (it is usually cut short, so read its fixed
//! header alone, as [`invoking_header`] does).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |     Code      |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | echo: Identifier | Sequence Number; Packet Too Big: MTU;      |
//! | Parameter Problem: Pointer; other errors: unused (zero)       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | echo: Data ...; errors: as much of the invoking packet as     |
//! | possible without the ICMPv6 packet exceeding 1280 bytes       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::net::Ipv6Addr;

use crate::checksum;
use crate::error::{Result, WireError};
use crate::ipv6::{self, next_header};
use crate::nd;

/// The type, code, checksum and the 4 type-specific bytes.
pub const HEADER_LEN: usize = 8;
pub const TYPE_DST_UNREACHABLE: u8 = 1;
pub const TYPE_PACKET_TOO_BIG: u8 = 2;
pub const TYPE_TIME_EXCEEDED: u8 = 3;
pub const TYPE_PARAM_PROBLEM: u8 = 4;
pub const TYPE_ECHO_REQUEST: u8 = 128;
pub const TYPE_ECHO_REPLY: u8 = 129;
/// The IPv6 minimum link MTU (RFC 8200 §5).
pub const MIN_MTU: usize = 1280;

/// Where the header's fields sit (16- and 32-bit fields big-endian).
mod field {
    use std::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const ECHO_IDENT: Range<usize> = 4..6;
    pub const ECHO_SEQ_NO: Range<usize> = 6..8;
    /// The second word: echo identifier and sequence number, an MTU, a pointer, or unused.
    pub const REST_OF_HEADER: Range<usize> = 4..8;
}
/// The longest error message: the minimum MTU less the IPv6 header.
pub const MAX_ERROR_LEN: usize = MIN_MTU - ipv6::HEADER_LEN;

/// A view of an ICMPv6 message (the upper-layer payload).
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wrap after checking that the buffer holds the 8-byte header.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        if packet.buffer.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(packet)
    }

    fn u16_at(&self, range: std::ops::Range<usize>) -> u16 {
        let b = &self.buffer.as_ref()[range];
        u16::from_be_bytes([b[0], b[1]])
    }

    fn u32_at(&self, range: std::ops::Range<usize>) -> u32 {
        let b = &self.buffer.as_ref()[range];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }

    pub fn echo_ident(&self) -> u16 {
        self.u16_at(field::ECHO_IDENT)
    }

    pub fn echo_seq_no(&self) -> u16 {
        self.u16_at(field::ECHO_SEQ_NO)
    }

    /// Packet Too Big: the MTU of the next hop.
    pub fn mtu(&self) -> u32 {
        self.u32_at(field::REST_OF_HEADER)
    }

    /// Parameter Problem: the offset of the offending byte in the invoking packet.
    pub fn pointer(&self) -> u32 {
        self.u32_at(field::REST_OF_HEADER)
    }

    /// Whether the type is an error message (types 0..=127, RFC 4443 §2.1).
    pub fn is_error(&self) -> bool {
        self.msg_type() < 128
    }

    /// After the 8-byte header: echo data, or an error's invoking packet.
    pub fn body(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// Whether the checksum verifies over the pseudo-header of `src` -> `dst` and the message.
    pub fn verify_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        checksum::verify_v6(src, dst, next_header::ICMPV6, self.buffer.as_ref())
    }
}

/// An ICMPv6 message as plain values, borrowing its data from the parsed buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repr<'a> {
    EchoRequest {
        ident: u16,
        seq_no: u16,
        data: &'a [u8],
    },
    EchoReply {
        ident: u16,
        seq_no: u16,
        data: &'a [u8],
    },
    /// Code 0 no route, 1 prohibited, 3 address unreachable, 4 port unreachable, ...
    DstUnreachable {
        code: u8,
        invoking: &'a [u8],
    },
    PacketTooBig {
        mtu: u32,
        invoking: &'a [u8],
    },
    /// Code 0 hop limit exceeded in transit, 1 fragment reassembly time exceeded.
    TimeExceeded {
        code: u8,
        invoking: &'a [u8],
    },
    ParamProblem {
        code: u8,
        pointer: u32,
        invoking: &'a [u8],
    },
    /// A Neighbor Solicitation or Advertisement.
    Ndisc(nd::Repr),
}

impl<'a> Repr<'a> {
    /// Parse a message that travelled from `src` to `dst`; the buffer is exactly the message.
    /// Besides the checksum, the Neighbor Discovery checks that need only the addresses
    /// (RFC 4861 §7.1): no source link-layer option from the unspecified address, no
    /// solicited advertisement to a multicast group.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Packet<&'a T>,
        src: Ipv6Addr,
        dst: Ipv6Addr,
    ) -> Result<Repr<'a>> {
        let bytes: &'a [u8] = packet.buffer.as_ref();
        if bytes.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if !packet.verify_checksum(src, dst) {
            return Err(WireError::Checksum);
        }
        let body = &bytes[HEADER_LEN..];
        let code = packet.msg_code();
        let (ident, seq_no) = (packet.echo_ident(), packet.echo_seq_no());
        Ok(match (packet.msg_type(), code) {
            (TYPE_ECHO_REQUEST, 0) => Repr::EchoRequest {
                ident,
                seq_no,
                data: body,
            },
            (TYPE_ECHO_REPLY, 0) => Repr::EchoReply {
                ident,
                seq_no,
                data: body,
            },
            (TYPE_DST_UNREACHABLE, _) => Repr::DstUnreachable {
                code,
                invoking: body,
            },
            (TYPE_PACKET_TOO_BIG, _) => Repr::PacketTooBig {
                mtu: packet.mtu(),
                invoking: body,
            },
            (TYPE_TIME_EXCEEDED, _) => Repr::TimeExceeded {
                code,
                invoking: body,
            },
            (TYPE_PARAM_PROBLEM, _) => Repr::ParamProblem {
                code,
                pointer: packet.pointer(),
                invoking: body,
            },
            (nd::TYPE_NEIGHBOR_SOLICIT | nd::TYPE_NEIGHBOR_ADVERT, _) => {
                let repr = nd::Repr::parse_message(bytes)?;
                match repr {
                    nd::Repr::NeighborSolicit {
                        source_lladdr: Some(_),
                        ..
                    } if src.is_unspecified() => return Err(WireError::Malformed),
                    nd::Repr::NeighborAdvert { flags, .. }
                        if flags.solicited && dst.is_multicast() =>
                    {
                        return Err(WireError::Malformed)
                    }
                    _ => Repr::Ndisc(repr),
                }
            }
            _ => return Err(WireError::Unsupported),
        })
    }

    pub fn buffer_len(&self) -> usize {
        match self {
            Repr::EchoRequest { data, .. } | Repr::EchoReply { data, .. } => {
                HEADER_LEN + data.len()
            }
            Repr::DstUnreachable { invoking, .. }
            | Repr::PacketTooBig { invoking, .. }
            | Repr::TimeExceeded { invoking, .. }
            | Repr::ParamProblem { invoking, .. } => HEADER_LEN + invoking.len(),
            Repr::Ndisc(nd) => nd.buffer_len(),
        }
    }

    /// Write the message with its checksum for `src` -> `dst` into the start of `buffer`;
    /// returns its length. An error message longer than [`MAX_ERROR_LEN`] is refused: the
    /// caller cuts the invoking packet to fit.
    pub fn emit(&self, buffer: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr) -> Result<usize> {
        let total = self.buffer_len();
        let msg = buffer.get_mut(..total).ok_or(WireError::Truncated)?;
        let (msg_type, code, word, body): (u8, u8, [u8; 4], &[u8]) = match *self {
            Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => (TYPE_ECHO_REQUEST, 0, echo_word(ident, seq_no), data),
            Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => (TYPE_ECHO_REPLY, 0, echo_word(ident, seq_no), data),
            Repr::DstUnreachable { code, invoking } => {
                (TYPE_DST_UNREACHABLE, code, [0; 4], invoking)
            }
            Repr::PacketTooBig { mtu, invoking } => {
                (TYPE_PACKET_TOO_BIG, 0, mtu.to_be_bytes(), invoking)
            }
            Repr::TimeExceeded { code, invoking } => (TYPE_TIME_EXCEEDED, code, [0; 4], invoking),
            Repr::ParamProblem {
                code,
                pointer,
                invoking,
            } => (TYPE_PARAM_PROBLEM, code, pointer.to_be_bytes(), invoking),
            Repr::Ndisc(nd) => {
                msg[field::TYPE] = nd.msg_type();
                msg[field::CODE] = 0;
                msg[field::CHECKSUM].fill(0);
                nd.emit_body(msg);
                let sum = checksum::checksum_v6(src, dst, next_header::ICMPV6, msg);
                msg[field::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
                return Ok(total);
            }
        };
        if msg_type < 128 && total > MAX_ERROR_LEN {
            return Err(WireError::Malformed);
        }
        msg[field::TYPE] = msg_type;
        msg[field::CODE] = code;
        msg[field::CHECKSUM].fill(0);
        msg[field::REST_OF_HEADER].copy_from_slice(&word);
        msg[HEADER_LEN..].copy_from_slice(body);
        let sum = checksum::checksum_v6(src, dst, next_header::ICMPV6, msg);
        msg[field::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
        Ok(total)
    }
}

fn echo_word(ident: u16, seq_no: u16) -> [u8; 4] {
    let [a, b] = ident.to_be_bytes();
    let [c, d] = seq_no.to_be_bytes();
    [a, b, c, d]
}

/// The fixed header of an error's invoking packet (source, destination, next header), if the
/// error carries at least those 40 bytes of an IPv6 packet. The invoking packet is usually cut
/// short, so its payload length is not checked against what is there.
pub fn invoking_header(invoking: &[u8]) -> Option<(Ipv6Addr, Ipv6Addr, u8)> {
    if invoking.len() < ipv6::HEADER_LEN {
        return None;
    }
    let packet = ipv6::Packet::new_unchecked(invoking);
    (packet.version() == 6).then(|| (packet.src_addr(), packet.dst_addr(), packet.next_header()))
}

#[cfg(test)]
mod tests;
