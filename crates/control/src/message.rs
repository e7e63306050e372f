//! The control protocol's messages: one JSON object per frame, each carrying the protocol
//! version `v`, a `type` and that type's fields.
//!
//! The daemon speaks first with a [`Message::Hello`]; the client then sends
//! [`Message::Request`]s, each answered by exactly one [`Message::Response`]. A message whose
//! version is not [`PROTOCOL_VERSION`] is refused as [`DecodeError::Version`] before its body is
//! looked at, so a future version can change every other field. [`decode`] never panics on any
//! input (it is the fuzz entry point).

use serde::{Deserialize, Serialize};

use crate::frame::{self, FrameError};

/// The version this build speaks. Bump it on any incompatible change to a message.
pub const PROTOCOL_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Message {
    /// Sent by the daemon as soon as a client connects.
    Hello {
        pid: u32,
        /// The configuration's `hostname`, else the machine's (the shell's prompt).
        hostname: String,
        /// The daemon's Fulcrum version.
        version: String,
    },
    /// One command line, as typed in the shell, and the form the answer should take. A request
    /// without `format` asks for text, so clients older than the field keep working; a text
    /// request is sent without the field, so newer clients keep working with older daemons.
    Request {
        line: String,
        #[serde(default, skip_serializing_if = "Format::is_text")]
        format: Format,
    },
    /// The answer to one request. `close` tells the client the daemon ends the session (`quit`).
    Response { ok: bool, text: String, close: bool },
}

/// The form of a response's `text`: the shell's tables, or one JSON document per command (the
/// documents of [`crate::show`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    #[default]
    Text,
    Json,
}

impl Format {
    pub fn is_text(&self) -> bool {
        *self == Format::Text
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unsupported control protocol version {found} (this side speaks {PROTOCOL_VERSION})")]
    Version { found: u64 },
    #[error("malformed control message: {0}")]
    Malformed(String),
    #[error(transparent)]
    Frame(#[from] FrameError),
}

#[derive(Serialize)]
struct EnvelopeOut<'a> {
    v: u32,
    #[serde(flatten)]
    message: &'a Message,
}

#[derive(Deserialize)]
struct VersionOnly {
    v: u64,
}

/// The JSON payload of a message (without the frame header).
pub fn encode(message: &Message) -> Vec<u8> {
    let envelope = EnvelopeOut {
        v: PROTOCOL_VERSION,
        message,
    };
    // Serializing plain strings, integers and booleans into a Vec cannot fail.
    serde_json::to_vec(&envelope).unwrap_or_default()
}

/// A response whose encoding fits one frame: a text too long for [`frame::MAX_FRAME`] (say
/// `show sessions all` on a table of millions) is cut at a line boundary and ends with a line
/// saying how many lines were left out and what to ask instead, rather than the session
/// ending without a word.
pub fn response_within_frame(ok: bool, text: String, close: bool) -> Message {
    let mut message = Message::Response { ok, text, close };
    loop {
        let encoded = encode(&message).len();
        let Message::Response { text, .. } = &mut message else {
            return message;
        };
        if encoded <= frame::MAX_FRAME {
            return message;
        }
        // Escaping makes the encoding longer than the text: shrink in proportion, with room
        // for the closing line, and look again.
        let budget =
            (text.len() as u64 * (frame::MAX_FRAME as u64 - 512) / encoded as u64) as usize;
        let mut cut = budget.min(text.len());
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        cut = text[..cut].rfind('\n').map_or(0, |at| at + 1);
        let left_out = text[cut..].lines().count();
        text.truncate(cut);
        text.push_str(&format!(
            "... {left_out} more lines not shown: the reply is over the control protocol's \
             limit of {} bytes (ask for fewer, e.g. `show sessions 1000`)\n",
            frame::MAX_FRAME
        ));
    }
}

/// A JSON response whose encoding fits one frame: a document cannot be cut like lines of text,
/// so one too long is replaced by an error document saying what to ask instead.
pub fn json_response_within_frame(ok: bool, text: String, close: bool) -> Message {
    let message = Message::Response { ok, text, close };
    if encode(&message).len() <= frame::MAX_FRAME {
        return message;
    }
    let error = crate::show::ErrorDoc {
        error: format!(
            "the reply is over the control protocol's limit of {} bytes (ask for fewer, e.g. \
             `show sessions 1000`)",
            frame::MAX_FRAME
        ),
    };
    Message::Response {
        ok: false,
        text: crate::show::to_text(&error),
        close,
    }
}

/// Decodes one message payload (a frame's contents).
pub fn decode(payload: &[u8]) -> Result<Message, DecodeError> {
    let version: VersionOnly =
        serde_json::from_slice(payload).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    if version.v != u64::from(PROTOCOL_VERSION) {
        return Err(DecodeError::Version { found: version.v });
    }
    let mut value: serde_json::Value =
        serde_json::from_slice(payload).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    if let Some(object) = value.as_object_mut() {
        object.remove("v");
    }
    serde_json::from_value(value).map_err(|e| DecodeError::Malformed(e.to_string()))
}

/// Decodes the first whole frame in `buf`: `Ok(None)` when more bytes are needed, otherwise the
/// message and the number of bytes it used.
pub fn decode_frame(buf: &[u8]) -> Result<Option<(Message, usize)>, DecodeError> {
    match frame::split_frame(buf)? {
        None => Ok(None),
        Some((payload, used)) => Ok(Some((decode(payload)?, used))),
    }
}

/// Reads and decodes one message from a blocking stream; `Ok(None)` on a clean close.
pub fn read_message(reader: &mut impl std::io::Read) -> Result<Option<Message>, DecodeError> {
    match frame::read_frame(reader)? {
        None => Ok(None),
        Some(payload) => decode(&payload).map(Some),
    }
}

/// Encodes and writes one message to a blocking stream.
pub fn write_message(
    writer: &mut impl std::io::Write,
    message: &Message,
) -> Result<(), FrameError> {
    frame::write_frame(writer, &encode(message))
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_oversized_response_is_cut_at_a_line_with_a_word_on_what_was_left_out() {
        // 30 000 rows of 60 bytes: 1.8 MB, well over one frame; a tab in each row is escaped.
        let row = "5604999\t10.85.134.135   any   1   1   18     600 padding....\n";
        let text = row.repeat(30_000);
        let message = super::response_within_frame(true, text, false);
        let encoded = super::encode(&message);
        assert!(
            encoded.len() <= crate::frame::MAX_FRAME,
            "{}",
            encoded.len()
        );
        let super::Message::Response { text, ok, close } = message else {
            panic!("not a response");
        };
        assert!(ok && !close);
        let kept = text.lines().filter(|l| l.starts_with("5604999")).count();
        assert!(kept > 10_000, "only {kept} rows kept");
        let last = text.lines().last().unwrap();
        assert_eq!(
            last.split(' ').nth(1).map(str::parse::<usize>),
            Some(Ok(30_000 - kept)),
            "{last}"
        );
        assert!(last.contains("show sessions 1000"), "{last}");
        // A response that fits is left alone.
        let small = super::response_within_frame(true, "a\nb\n".into(), true);
        assert_eq!(
            small,
            super::Message::Response {
                ok: true,
                text: "a\nb\n".into(),
                close: true
            }
        );
    }

    use super::*;

    fn samples() -> Vec<Message> {
        vec![
            Message::Hello {
                pid: 10668,
                hostname: "NS0A".into(),
                version: "0.1.0".into(),
            },
            Message::Request {
                line: "show sessions 10".into(),
                format: Format::Text,
            },
            Message::Request {
                line: "show targets".into(),
                format: Format::Json,
            },
            Message::Response {
                ok: false,
                text: "ERROR: invalid command (try help)\n".into(),
                close: false,
            },
        ]
    }

    #[test]
    fn every_message_round_trips() {
        for message in samples() {
            assert_eq!(decode(&encode(&message)).unwrap(), message);
        }
    }

    #[test]
    fn wire_format_is_the_documented_one() {
        let bytes = encode(&Message::Request {
            line: "help".into(),
            format: Format::Text,
        });
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"v":1,"type":"request","line":"help"}"#
        );
        let bytes = encode(&Message::Request {
            line: "show vrrp".into(),
            format: Format::Json,
        });
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"v":1,"type":"request","line":"show vrrp","format":"json"}"#
        );
        // What a client older than `format` sends still asks for text.
        assert_eq!(
            decode(br#"{"v":1,"type":"request","line":"show vrrp"}"#).unwrap(),
            Message::Request {
                line: "show vrrp".into(),
                format: Format::Text
            }
        );
        let hello = br#"{"v":1,"type":"hello","pid":7,"hostname":"h","version":"0.1.0"}"#;
        assert!(matches!(
            decode(hello).unwrap(),
            Message::Hello { pid: 7, .. }
        ));
    }

    #[test]
    fn an_oversized_json_response_becomes_an_error_document() {
        let rows = format!("[{}0]", "1234567,".repeat(200_000));
        let message = json_response_within_frame(true, rows, false);
        let Message::Response { ok, text, close } = message else {
            panic!("not a response");
        };
        assert!(!ok && !close);
        let error: crate::show::ErrorDoc = serde_json::from_str(&text).unwrap();
        assert!(
            error.error.contains("show sessions 1000"),
            "{}",
            error.error
        );
        let small = json_response_within_frame(true, "{\"ok\":true}\n".into(), true);
        assert!(matches!(
            small,
            Message::Response {
                ok: true,
                close: true,
                ..
            }
        ));
    }

    #[test]
    fn other_versions_are_refused() {
        let err = decode(br#"{"v":2,"type":"something_new"}"#).unwrap_err();
        assert!(matches!(err, DecodeError::Version { found: 2 }), "{err}");
    }

    #[test]
    fn malformed_payloads_are_errors() {
        for bad in [
            &b""[..],
            b"{",
            b"[]",
            b"null",
            br#"{"type":"request","line":"x"}"#,
            br#"{"v":1}"#,
            br#"{"v":1,"type":"request"}"#,
            br#"{"v":1,"type":"request","line":5}"#,
            br#"{"v":1,"type":"nope"}"#,
            br#"{"v":1,"type":"request","line":"x","extra":1}"#,
            br#"{"v":1,"type":"request","line":"x","format":"yaml"}"#,
            b"\xff\xfe",
        ] {
            assert!(
                matches!(decode(bad), Err(DecodeError::Malformed(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn decode_frame_handles_partial_and_oversized_input() {
        let message = Message::Request {
            line: "quit".into(),
            format: Format::Text,
        };
        let wire = frame::encode_frame(&encode(&message)).unwrap();
        assert!(decode_frame(&wire[..wire.len() - 1]).unwrap().is_none());
        let (decoded, used) = decode_frame(&wire).unwrap().unwrap();
        assert_eq!((decoded, used), (message, wire.len()));
        assert!(matches!(
            decode_frame(&[0x7f, 0, 0, 0]),
            Err(DecodeError::Frame(FrameError::TooLarge { .. }))
        ));
    }

    #[test]
    fn stream_helpers_round_trip() {
        let mut wire = Vec::new();
        for message in samples() {
            write_message(&mut wire, &message).unwrap();
        }
        let mut reader = &wire[..];
        for message in samples() {
            assert_eq!(read_message(&mut reader).unwrap().unwrap(), message);
        }
        assert!(read_message(&mut reader).unwrap().is_none());
    }
}
