//! Length-prefixed frames: a 4-byte big-endian payload length, then the payload.
//!
//! The length is checked against [`MAX_FRAME`] before a single payload byte is allocated or
//! read, so a peer cannot make the other side reserve more than 1 MiB. An empty payload is a
//! valid frame. [`split_frame`] works on a byte buffer (pure, fuzzable); [`read_frame`] and
//! [`write_frame`] do the same over blocking `std::io` streams.

use std::io::{self, Read, Write};

/// Largest payload a frame may carry (1 MiB).
pub const MAX_FRAME: usize = 1 << 20;
/// Size of the length prefix.
pub const HEADER_LEN: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {len} bytes exceeds the maximum of {MAX_FRAME} bytes")]
    TooLarge { len: usize },
    #[error("connection closed in the middle of a frame")]
    Truncated,
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Reads the payload length from a frame header, refusing lengths above [`MAX_FRAME`].
pub fn payload_len(header: [u8; HEADER_LEN]) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge { len });
    }
    Ok(len)
}

/// Prefixes `payload` with its length. Refuses payloads above [`MAX_FRAME`].
pub fn encode_frame(payload: &[u8]) -> Result<Vec<u8>, FrameError> {
    if payload.len() > MAX_FRAME {
        return Err(FrameError::TooLarge { len: payload.len() });
    }
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    Ok(out)
}

/// Splits the first complete frame off `buf`: `Ok(Some((payload, consumed)))` when one is there,
/// `Ok(None)` when more bytes are needed, `Err(TooLarge)` as soon as the header announces too
/// much.
pub fn split_frame(buf: &[u8]) -> Result<Option<(&[u8], usize)>, FrameError> {
    let Some(header) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let mut fixed = [0u8; HEADER_LEN];
    fixed.copy_from_slice(header);
    let len = payload_len(fixed)?;
    match buf.get(HEADER_LEN..HEADER_LEN + len) {
        Some(payload) => Ok(Some((payload, HEADER_LEN + len))),
        None => Ok(None),
    }
}

/// Reads one frame. `Ok(None)` means the peer closed the stream cleanly between frames; a close
/// inside a frame is [`FrameError::Truncated`].
pub fn read_frame(reader: &mut impl Read) -> Result<Option<Vec<u8>>, FrameError> {
    let mut header = [0u8; HEADER_LEN];
    let mut filled = 0;
    while filled < HEADER_LEN {
        match reader.read(&mut header[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err(FrameError::Truncated),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let len = payload_len(header)?;
    let mut payload = vec![0u8; len];
    reader
        .read_exact(&mut payload)
        .map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => FrameError::Truncated,
            _ => FrameError::Io(e),
        })?;
    Ok(Some(payload))
}

/// Writes one frame and flushes.
pub fn write_frame(writer: &mut impl Write, payload: &[u8]) -> Result<(), FrameError> {
    let frame = encode_frame(payload)?;
    writer.write_all(&frame)?;
    writer.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_prefixes_big_endian_length() {
        assert_eq!(
            encode_frame(b"abc").unwrap(),
            [0, 0, 0, 3, b'a', b'b', b'c']
        );
        assert_eq!(encode_frame(b"").unwrap(), [0, 0, 0, 0]);
    }

    #[test]
    fn split_needs_whole_frame() {
        let frame = encode_frame(b"hello").unwrap();
        for cut in 0..frame.len() {
            assert!(
                split_frame(&frame[..cut]).unwrap().is_none(),
                "cut at {cut}"
            );
        }
        let mut two = frame.clone();
        two.extend_from_slice(&encode_frame(b"x").unwrap());
        let (payload, used) = split_frame(&two).unwrap().unwrap();
        assert_eq!((payload, used), (&b"hello"[..], frame.len()));
        let (payload, _) = split_frame(&two[used..]).unwrap().unwrap();
        assert_eq!(payload, b"x");
    }

    #[test]
    fn oversized_header_is_refused_before_payload_arrives() {
        let header = ((MAX_FRAME + 1) as u32).to_be_bytes();
        assert!(matches!(
            split_frame(&header),
            Err(FrameError::TooLarge { len }) if len == MAX_FRAME + 1
        ));
        assert!(matches!(
            read_frame(&mut &[0xff, 0xff, 0xff, 0xff][..]),
            Err(FrameError::TooLarge { len: 0xffff_ffff })
        ));
        assert!(matches!(
            encode_frame(&vec![0u8; MAX_FRAME + 1]),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[test]
    fn maximum_size_frame_round_trips() {
        let payload = vec![7u8; MAX_FRAME];
        let frame = encode_frame(&payload).unwrap();
        assert_eq!(read_frame(&mut &frame[..]).unwrap().unwrap(), payload);
    }

    #[test]
    fn read_distinguishes_clean_close_from_truncation() {
        assert!(read_frame(&mut &[][..]).unwrap().is_none());
        assert!(matches!(
            read_frame(&mut &[0, 0][..]),
            Err(FrameError::Truncated)
        ));
        assert!(matches!(
            read_frame(&mut &[0, 0, 0, 5, b'a'][..]),
            Err(FrameError::Truncated)
        ));
    }

    #[test]
    fn write_then_read_several_frames() {
        let mut wire = Vec::new();
        write_frame(&mut wire, b"one").unwrap();
        write_frame(&mut wire, b"").unwrap();
        write_frame(&mut wire, b"three").unwrap();
        let mut reader = &wire[..];
        assert_eq!(read_frame(&mut reader).unwrap().unwrap(), b"one");
        assert_eq!(read_frame(&mut reader).unwrap().unwrap(), b"");
        assert_eq!(read_frame(&mut reader).unwrap().unwrap(), b"three");
        assert!(read_frame(&mut reader).unwrap().is_none());
    }
}
