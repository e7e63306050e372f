//! Fuzzes the shell's command parser and tab completer with arbitrary text, as a user (or a
//! client of the control socket) may type it. Beyond "no panic":
//! - parsing ignores surrounding whitespace: `parse_command(line)` equals the parse of the
//!   trimmed line, and a statement carries exactly that trimmed line;
//! - completion splits at a character boundary (any whitespace width), and every candidate is a
//!   whole word from the table that starts with the word being typed, sorted and unique;
//! - completing a line and then accepting a candidate keeps the result parseable.
//!
//! Run: `cargo +nightly fuzz run control_command fuzz/seeds/control_command`.

#![no_main]

use fulcrum_control::{complete, parse_command, partial_word_start, Command};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = parse_command(line);
    assert_eq!(parsed, parse_command(line.trim()));
    if let Command::Statement(statement) = &parsed {
        assert_eq!(statement, line.trim());
    }

    let start = partial_word_start(line);
    assert!(line.is_char_boundary(start));
    let partial = &line[start..];
    assert!(!partial.chars().any(char::is_whitespace));
    let candidates = complete(line);
    assert!(candidates.windows(2).all(|pair| pair[0] < pair[1]));
    for word in &candidates {
        assert!(word.starts_with(partial));
        assert!(!word.is_empty() && !word.contains(char::is_whitespace));
        let accepted = format!("{}{word} ", &line[..start]);
        let _ = parse_command(&accepted);
    }
});
