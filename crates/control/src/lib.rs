//! Fulcrum's control protocol, shared by the daemon (`fulcrum run`) and the shell
//! (`fulcrum control`).
//!
//! Four layers, all pure and free of sockets: [`frame`] (a 4-byte big-endian length prefix
//! checked against [`frame::MAX_FRAME`] before anything is allocated), [`message`] (versioned
//! JSON messages: the server's hello, requests carrying one command line and the answer's
//! [`Format`], responses), [`command`] (the command table: parsing a line into a
//! [`command::Command`] and tab completion) and [`show`] (the typed JSON documents `show`
//! commands answer in the JSON format).
//! The exact wire format is documented in `docs/control.md`.

// `clippy.toml` keeps clocks, threads and sockets out of this crate; its unit tests may
// anchor a virtual clock on `Instant::now()` (the library itself is still checked without
// `cfg(test)`).
#![cfg_attr(test, allow(clippy::disallowed_methods))]

pub mod command;
pub mod frame;
pub mod message;
pub mod show;

pub use command::{
    complete, help_text, parse_command, partial_word_start, Command, CommandSpec, COMMANDS,
    INVALID_COMMAND,
};
/// Where `fulcrum run` listens and `fulcrum control` connects unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/run/fulcrum/fulcrum.sock";

pub use frame::{read_frame, write_frame, FrameError, MAX_FRAME};
pub use message::{
    decode, decode_frame, encode, json_response_within_frame, read_message, response_within_frame,
    write_message, DecodeError, Format, Message, PROTOCOL_VERSION,
};
