//! DNS over TCP framing (RFC 1035 section 4.2.2, RFC 7766): every message is preceded by its
//! length as two bytes in network order.
//!
//! Contract: [`message_len`] turns a length prefix into the length of the message that follows,
//! or refuses one that cannot be a DNS message (shorter than the fixed header); every accepted
//! length is within [`MIN_MESSAGE_LEN`]`..=`[`MAX_MESSAGE_LEN`], so a buffer of
//! [`MAX_FRAME_LEN`] bytes always holds prefix and message. [`Frames`] splits a byte stream
//! into whole frames with the same rule and stops at the first bad prefix or at a cut frame;
//! what it yields, re-prefixed, is the start of the stream byte for byte. The proxy's TCP relay
//! reads with [`message_len`]; [`Frames`] is its model for tests and fuzzing.

use crate::dns::HEADER_LEN;

/// Length of the prefix.
pub const PREFIX_LEN: usize = 2;
/// Shortest message a prefix may announce: a bare header.
pub const MIN_MESSAGE_LEN: usize = HEADER_LEN;
/// Longest message a prefix can announce.
pub const MAX_MESSAGE_LEN: usize = u16::MAX as usize;
/// Prefix and longest message: the buffer that holds any frame.
pub const MAX_FRAME_LEN: usize = PREFIX_LEN + MAX_MESSAGE_LEN;

/// A prefix announcing fewer bytes than a DNS header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadLength(pub u16);

/// The length of the message announced by `prefix`.
pub fn message_len(prefix: [u8; PREFIX_LEN]) -> Result<usize, BadLength> {
    let announced = u16::from_be_bytes(prefix);
    let len = usize::from(announced);
    if len < MIN_MESSAGE_LEN {
        return Err(BadLength(announced));
    }
    Ok(len)
}

/// The prefix for a message of `len` bytes, or `None` when it cannot be framed.
pub fn prefix_for(len: usize) -> Option<[u8; PREFIX_LEN]> {
    if len < MIN_MESSAGE_LEN {
        return None;
    }
    u16::try_from(len).ok().map(u16::to_be_bytes)
}

/// The frames of a byte stream, in order (see the module doc).
#[derive(Debug, Clone)]
pub struct Frames<'a> {
    rest: &'a [u8],
    bad: Option<BadLength>,
}

impl<'a> Frames<'a> {
    pub fn new(stream: &'a [u8]) -> Frames<'a> {
        Frames {
            rest: stream,
            bad: None,
        }
    }

    /// The bytes not yet split: a cut frame at the end, or everything from a bad prefix on.
    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }

    /// The bad prefix the split stopped at, if it did.
    pub fn bad_length(&self) -> Option<BadLength> {
        self.bad
    }
}

impl<'a> Iterator for Frames<'a> {
    /// One message, without its prefix.
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.bad.is_some() {
            return None;
        }
        let (prefix, after) = self.rest.split_first_chunk::<PREFIX_LEN>()?;
        let len = match message_len(*prefix) {
            Ok(len) => len,
            Err(bad) => {
                self.bad = Some(bad);
                return None;
            }
        };
        let message = after.get(..len)?;
        self.rest = &after[len..];
        Some(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_below_a_header_are_refused() {
        assert_eq!(message_len([0, 11]), Err(BadLength(11)));
        assert_eq!(message_len([0, 0]), Err(BadLength(0)));
        assert_eq!(message_len([0, 12]), Ok(12));
        assert_eq!(message_len([0xff, 0xff]), Ok(MAX_MESSAGE_LEN));
        assert_eq!(prefix_for(11), None);
        assert_eq!(prefix_for(65_536), None);
        assert_eq!(prefix_for(300), Some([1, 44]));
    }

    #[test]
    fn a_stream_splits_into_whole_frames_and_stops_at_a_cut_or_bad_one() {
        let mut stream = vec![0, 12];
        stream.extend([1u8; 12]);
        stream.extend([0, 13]);
        stream.extend([2u8; 13]);
        stream.extend([0, 20, 3, 3]);
        let mut frames = Frames::new(&stream);
        assert_eq!(frames.next(), Some(&[1u8; 12][..]));
        assert_eq!(frames.next(), Some(&[2u8; 13][..]));
        assert_eq!(frames.next(), None, "cut short");
        assert_eq!(frames.rest(), &[0, 20, 3, 3]);
        assert_eq!(frames.bad_length(), None);

        let bad = [0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 9];
        let mut frames = Frames::new(&bad);
        assert_eq!(frames.by_ref().count(), 1);
        assert_eq!(frames.bad_length(), Some(BadLength(5)));
        assert_eq!(frames.next(), None, "nothing after a bad prefix");
        assert_eq!(frames.rest(), &[0, 5, 9]);
    }
}
