//! The one error type of the packet formats. Parsing never panics: a buffer that is too short, a
//! field with a value the format does not allow, or a checksum that does not verify becomes one of
//! these variants, which data-plane callers turn into a counted drop reason.

use std::fmt;

/// Why a buffer could not be read as (or written into) a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WireError {
    /// The buffer is shorter than the header, or than a length field inside it says.
    Truncated,
    /// A field holds a value the format does not allow (version, header length, type...).
    Malformed,
    /// The checksum does not verify.
    Checksum,
    /// A well-formed packet of a kind this crate does not handle (another ARP hardware type,
    /// an ICMP type other than echo...).
    Unsupported,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WireError::Truncated => "truncated packet",
            WireError::Malformed => "malformed packet",
            WireError::Checksum => "bad checksum",
            WireError::Unsupported => "unsupported packet",
        })
    }
}

impl std::error::Error for WireError {}

/// Result of the packet-format functions.
pub type Result<T> = std::result::Result<T, WireError>;
