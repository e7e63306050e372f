//! The fixed 12-byte DNS message header (RFC 1035 section 4.1.1) and the question section, as
//! much of DNS as the proxy's hot path reads: enough to tell a query from a response, rewrite the
//! ID, and match a backend's answer to the question that was asked.
//!
//! Contract: [`Header::new_checked`] fails on anything shorter than 12 bytes; after it succeeds
//! no accessor can panic. [`question_end`] walks the question's labels with every length checked
//! before it is read and never follows compression pointers (a query's question has none).
//! [`classify_query`] and [`classify_response`] are the data plane's whole verdict on a datagram;
//! they allocate nothing and never panic, whatever the bytes.
//!
//! ```text
//!                                 1  1  1  1  1  1
//!   0  1  2  3  4  5  6  7  8  9  0  1  2  3  4  5
//! +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//! |                      ID                       |
//! +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//! |QR|   Opcode  |AA|TC|RD|RA|   Z    |   RCODE   |
//! +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//! |                    QDCOUNT                    |
//! +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//! |                    ANCOUNT                    |
//! +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//! |                    NSCOUNT                    |
//! +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//! |                    ARCOUNT                    |
//! +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//! ```

/// Length of the fixed header.
pub const HEADER_LEN: usize = 12;
/// Longest encoded domain name (RFC 1035 section 2.3.4).
pub const MAX_NAME_LEN: usize = 255;

/// Where the fixed header's fields sit (each 16 bits, big-endian).
mod field {
    use std::ops::Range;
    pub const ID: Range<usize> = 0..2;
    pub const FLAGS: Range<usize> = 2..4;
    pub const QDCOUNT: Range<usize> = 4..6;
    pub const ANCOUNT: Range<usize> = 6..8;
    pub const NSCOUNT: Range<usize> = 8..10;
    pub const ARCOUNT: Range<usize> = 10..12;
}

/// Bits of the flags word.
mod flag {
    pub const QR: u16 = 0x8000;
    pub const OPCODE_SHIFT: u16 = 11;
    pub const OPCODE_MASK: u16 = 0xf;
    pub const TC: u16 = 0x0200;
    pub const RCODE_MASK: u16 = 0xf;
}

/// Opcodes the proxy forwards (RFC 1035, RFC 1996, RFC 2136).
mod opcode {
    pub const QUERY: u8 = 0;
    pub const NOTIFY: u8 = 4;
    pub const UPDATE: u8 = 5;
}

/// Bytes after the question's name: QTYPE and QCLASS.
const QTYPE_QCLASS_LEN: usize = 4;
/// The top two bits of a label's length byte: 00 is a plain label; 11 a compression pointer,
/// 01 and 10 reserved.
const LABEL_TYPE_MASK: usize = 0xc0;

/// Why bytes are not the DNS message the caller expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Shorter than the fixed header.
    Truncated,
    /// QR set where a query was expected, or clear where a response was expected.
    WrongDirection,
    /// Section counts that the expected message cannot have (a query with QDCOUNT != 1).
    BadCounts,
    /// The question section is cut short, uses a compression pointer or a reserved label type,
    /// or its name is longer than 255 bytes.
    BadQuestion,
    /// An opcode the proxy does not forward.
    BadOpcode,
}

/// A read view of the fixed header over any byte buffer (and a write view over a mutable one).
#[derive(Debug, Clone, Copy)]
pub struct Header<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Header<T> {
    /// Wraps `buffer` after checking that it holds a whole header.
    pub fn new_checked(buffer: T) -> Result<Header<T>, Error> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(Header { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn word(&self, range: std::ops::Range<usize>) -> u16 {
        let b = &self.buffer.as_ref()[range];
        u16::from_be_bytes([b[0], b[1]])
    }

    pub fn id(&self) -> u16 {
        self.word(field::ID)
    }
    /// The 16 flag bits (QR, opcode, AA, TC, RD, RA, Z, RCODE).
    pub fn flags(&self) -> u16 {
        self.word(field::FLAGS)
    }
    /// True for a response.
    pub fn qr(&self) -> bool {
        self.flags() & flag::QR != 0
    }
    pub fn opcode(&self) -> u8 {
        ((self.flags() >> flag::OPCODE_SHIFT) & flag::OPCODE_MASK) as u8
    }
    /// The answer was truncated (retry over TCP).
    pub fn tc(&self) -> bool {
        self.flags() & flag::TC != 0
    }
    pub fn rcode(&self) -> u8 {
        (self.flags() & flag::RCODE_MASK) as u8
    }
    pub fn qdcount(&self) -> u16 {
        self.word(field::QDCOUNT)
    }
    pub fn ancount(&self) -> u16 {
        self.word(field::ANCOUNT)
    }
    pub fn nscount(&self) -> u16 {
        self.word(field::NSCOUNT)
    }
    pub fn arcount(&self) -> u16 {
        self.word(field::ARCOUNT)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Header<T> {
    pub fn set_id(&mut self, id: u16) {
        self.buffer.as_mut()[field::ID].copy_from_slice(&id.to_be_bytes());
    }
}

/// Sets the ID of a message in place; false (and nothing written) if it is shorter than 2 bytes.
pub fn set_id(message: &mut [u8], id: u16) -> bool {
    match message.get_mut(field::ID) {
        Some(field) => {
            field.copy_from_slice(&id.to_be_bytes());
            true
        }
        None => false,
    }
}

/// The offset one past the question section's single entry (name, QTYPE, QCLASS), which starts
/// right after the header. Labels are length-checked before they are read; a compression
/// pointer, a reserved label type or a name over 255 bytes is [`Error::BadQuestion`].
pub fn question_end(message: &[u8]) -> Result<usize, Error> {
    if message.len() < HEADER_LEN {
        return Err(Error::Truncated);
    }
    let mut at = HEADER_LEN;
    loop {
        let len = *message.get(at).ok_or(Error::BadQuestion)? as usize;
        if len & LABEL_TYPE_MASK != 0 {
            // A pointer (0xc0) or a reserved label type: a question we forward has neither.
            return Err(Error::BadQuestion);
        }
        at += 1 + len;
        if at - HEADER_LEN > MAX_NAME_LEN {
            return Err(Error::BadQuestion);
        }
        if len == 0 {
            break;
        }
    }
    let end = at + QTYPE_QCLASS_LEN;
    if end > message.len() {
        return Err(Error::BadQuestion);
    }
    Ok(end)
}

/// What the proxy needs to know about a query it accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryInfo {
    pub id: u16,
    /// The question occupies `HEADER_LEN..question_end`.
    pub question_end: usize,
}

/// The data plane's verdict on a datagram from a client: a standard query (opcode QUERY, or
/// NOTIFY/UPDATE which authoritative backends also take) with QR clear, exactly one question and
/// no answer records. Anything else is an error naming the drop reason.
pub fn classify_query(message: &[u8]) -> Result<QueryInfo, Error> {
    let header = Header::new_checked(message)?;
    if header.qr() {
        return Err(Error::WrongDirection);
    }
    // IQUERY (1) is obsolete (RFC 3425), STATUS (2) is unassigned.
    if !matches!(
        header.opcode(),
        opcode::QUERY | opcode::NOTIFY | opcode::UPDATE
    ) {
        return Err(Error::BadOpcode);
    }
    if header.qdcount() != 1 || (header.opcode() == opcode::QUERY && header.ancount() != 0) {
        return Err(Error::BadCounts);
    }
    let end = question_end(message)?;
    Ok(QueryInfo {
        id: header.id(),
        question_end: end,
    })
}

/// What the proxy needs to know about a backend's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseInfo {
    pub id: u16,
    /// `Some(end)`: the question occupies `HEADER_LEN..end`. `None`: the response carries no
    /// question (QDCOUNT 0, allowed only with an error RCODE such as FORMERR).
    pub question_end: Option<usize>,
}

/// The data plane's verdict on a datagram from a backend: QR set, and either one question or
/// none with an error RCODE.
pub fn classify_response(message: &[u8]) -> Result<ResponseInfo, Error> {
    let header = Header::new_checked(message)?;
    if !header.qr() {
        return Err(Error::WrongDirection);
    }
    let question_end = match header.qdcount() {
        1 => Some(question_end(message)?),
        0 if header.rcode() != 0 => None,
        _ => return Err(Error::BadCounts),
    };
    Ok(ResponseInfo {
        id: header.id(),
        question_end,
    })
}

/// A 64-bit fingerprint of a question (name case-folded, QTYPE, QCLASS), so that an outstanding
/// query can remember what it asked in 8 bytes. FNV-1a: fast on short input and good enough to
/// tell questions apart (it guards against stray answers, not against an attacker who already
/// knows the ID and source address).
pub fn question_fingerprint(question: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in question {
        hash ^= u64::from(byte.to_ascii_lowercase());
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash ^ question.len() as u64
}

/// The fingerprint of a message's question, or 0 where it has none.
pub fn message_fingerprint(message: &[u8], question_end: Option<usize>) -> u64 {
    match question_end.and_then(|end| message.get(HEADER_LEN..end)) {
        Some(question) => question_fingerprint(question),
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `dig example.com A` with RD, ID 0x1234, no EDNS.
    const QUERY: [u8; 29] = [
        0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 7, b'e', b'x',
        b'a', b'm', b'p', b'l', b'e', 3, b'c', b'o', b'm', 0, 0x00, 0x01, 0x00, 0x01,
    ];

    fn response_of(query: &[u8]) -> Vec<u8> {
        let mut r = query.to_vec();
        r[2] |= 0x84; // QR, AA
        r
    }

    #[test]
    fn header_fields() {
        let h = Header::new_checked(&QUERY[..]).unwrap();
        assert_eq!(h.id(), 0x1234);
        assert!(!h.qr());
        assert_eq!(h.opcode(), 0);
        assert!(!h.tc());
        assert_eq!(h.rcode(), 0);
        assert_eq!(
            (h.qdcount(), h.ancount(), h.nscount(), h.arcount()),
            (1, 0, 0, 0)
        );
        assert_eq!(h.flags(), 0x0100);
    }

    #[test]
    fn header_set_id_writes_big_endian() {
        let mut bytes = QUERY;
        let mut h = Header::new_checked(&mut bytes[..]).unwrap();
        h.set_id(0xabcd);
        assert_eq!(&bytes[..2], &[0xab, 0xcd]);
        assert!(set_id(&mut bytes, 0x0102));
        assert_eq!(&bytes[..2], &[1, 2]);
        assert!(!set_id(&mut [0u8; 1], 7));
    }

    #[test]
    fn every_short_length_is_truncated() {
        for len in 0..HEADER_LEN {
            assert_eq!(
                Header::new_checked(&QUERY[..len]).err(),
                Some(Error::Truncated)
            );
            assert_eq!(classify_query(&QUERY[..len]), Err(Error::Truncated));
            assert_eq!(classify_response(&QUERY[..len]), Err(Error::Truncated));
        }
    }

    #[test]
    fn a_plain_query_is_accepted() {
        assert_eq!(
            classify_query(&QUERY),
            Ok(QueryInfo {
                id: 0x1234,
                question_end: QUERY.len()
            })
        );
    }

    #[test]
    fn query_rejections_by_reason() {
        let mutate = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut q = QUERY.to_vec();
            f(&mut q);
            classify_query(&q)
        };
        type Mutation<'a> = &'a dyn Fn(&mut Vec<u8>);
        let cases: [(&str, Mutation, Error); 8] = [
            ("qr set", &|q| q[2] |= 0x80, Error::WrongDirection),
            ("opcode iquery", &|q| q[2] |= 1 << 3, Error::BadOpcode),
            ("qdcount 0", &|q| q[5] = 0, Error::BadCounts),
            ("qdcount 2", &|q| q[5] = 2, Error::BadCounts),
            ("answers in a query", &|q| q[7] = 1, Error::BadCounts),
            ("question cut", &|q| q.truncate(27), Error::BadQuestion),
            (
                "label runs past the end",
                &|q| q[12] = 60,
                Error::BadQuestion,
            ),
            ("compression pointer", &|q| q[20] = 0xc0, Error::BadQuestion),
        ];
        for (name, f, want) in cases {
            assert_eq!(mutate(f), Err(want), "{name}");
        }
    }

    #[test]
    fn names_longer_than_255_bytes_are_refused() {
        let mut q = QUERY[..12].to_vec();
        for _ in 0..5 {
            q.push(63);
            q.extend_from_slice(&[b'a'; 63]);
        }
        q.push(0);
        q.extend_from_slice(&[0, 1, 0, 1]);
        assert_eq!(question_end(&q), Err(Error::BadQuestion));
        // Three 63-byte labels, one of 61 and the root: 255 bytes exactly.
        let mut q = QUERY[..12].to_vec();
        for _ in 0..3 {
            q.push(63);
            q.extend_from_slice(&[b'a'; 63]);
        }
        q.push(61);
        q.extend_from_slice(&[b'a'; 61]);
        q.push(0);
        q.extend_from_slice(&[0, 1, 0, 1]);
        assert_eq!(question_end(&q), Ok(q.len()), "255 bytes exactly is fine");
    }

    #[test]
    fn responses() {
        let r = response_of(&QUERY);
        assert_eq!(
            classify_response(&r),
            Ok(ResponseInfo {
                id: 0x1234,
                question_end: Some(QUERY.len())
            })
        );
        assert_eq!(classify_response(&QUERY), Err(Error::WrongDirection));
        // FORMERR without a question is a valid answer; NOERROR without one is not.
        let mut formerr = r[..12].to_vec();
        formerr[5] = 0;
        assert_eq!(classify_response(&formerr), Err(Error::BadCounts));
        formerr[3] |= 1;
        assert_eq!(
            classify_response(&formerr),
            Ok(ResponseInfo {
                id: 0x1234,
                question_end: None
            })
        );
    }

    #[test]
    fn fingerprint_ignores_case_but_not_type() {
        let upper: Vec<u8> = QUERY.iter().map(|b| b.to_ascii_uppercase()).collect();
        let end = Some(QUERY.len());
        assert_eq!(
            message_fingerprint(&QUERY, end),
            message_fingerprint(&upper, end)
        );
        let mut aaaa = QUERY;
        aaaa[26] = 28;
        assert_ne!(
            message_fingerprint(&QUERY, end),
            message_fingerprint(&aaaa, end)
        );
        assert_eq!(message_fingerprint(&QUERY, None), 0);
        assert_eq!(message_fingerprint(&QUERY, Some(99)), 0);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic sweep; the fuzz target does the thorough job.
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 40) as usize;
            let bytes: Vec<u8> = (0..len).map(|i| (seed >> (i % 8 * 8)) as u8).collect();
            let _ = classify_query(&bytes);
            if let Ok(info) = classify_response(&bytes) {
                let _ = message_fingerprint(&bytes, info.question_end);
            }
        }
    }
}
