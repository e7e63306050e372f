//! Fulcrum's configuration language, the one BalanceNG reads (the seed's files load unchanged).
//!
//! Two stages: text -> AST with spans ([`lexer`], [`parser`], [`values`]) -> model ([`lower`]),
//! then whole-model checks ([`validate`]). [`print`] writes the canonical text that parses back
//! to the same model; [`diff`] lists what changed between two models. Errors carry the file,
//! line and column and say what was found and what was expected; all of them are reported.
//! Syntax errors stop before the model is built (a broken statement would only cause follow-on
//! errors); errors in meaning are all reported together. Statements that BalanceNG knows and
//! Fulcrum accepts without acting on them (`license`, `modules`, `gateway`, ...) load with a
//! warning each ([`load`], [`apply_loaded`]), never silently. No input makes these functions
//! panic.
//! The language is described in `docs/config.md`.

// `clippy.toml` keeps clocks, threads and sockets out of this crate; its unit tests may
// anchor a virtual clock on `Instant::now()` (the library itself is still checked without
// `cfg(test)`).
#![cfg_attr(test, allow(clippy::disallowed_methods))]

pub mod ast;
pub mod diag;
pub mod diff;
mod family;
pub mod keywords;
pub mod lexer;
pub mod limits;
pub mod lower;
pub mod parser;
mod print;
mod redact;
pub mod validate;
pub mod values;

use fulcrum_core::model::Config;

pub use diag::{Diagnostic, Diagnostics, Severity};
pub use diff::{diff, Change};
pub use print::id_list;
pub use redact::redacted;

/// A configuration that loaded, and the statements in it that were accepted and ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub config: Config,
    /// One warning per ignored statement or option, in source order (empty for most files).
    pub warnings: Diagnostics,
}

/// Parses and validates a whole configuration file's text. `file` names it in errors.
/// Warnings are dropped: callers that show them to a person use [`load`].
pub fn parse(file: &str, text: &str) -> Result<Config, Diagnostics> {
    load(file, text).map(|loaded| loaded.config)
}

/// As [`parse`], keeping the warnings.
pub fn load(file: &str, text: &str) -> Result<Loaded, Diagnostics> {
    apply_loaded(&Config::default(), file, text)
}

/// Applies statements (as typed in the control shell or read from a file) on top of `base` and
/// validates the result. A block for an id that exists changes only the options it names.
/// `base` is never changed; on error nothing is applied and every error is returned.
pub fn apply(base: &Config, file: &str, text: &str) -> Result<Config, Diagnostics> {
    apply_loaded(base, file, text).map(|loaded| loaded.config)
}

/// As [`apply`], keeping the warnings.
pub fn apply_loaded(base: &Config, file: &str, text: &str) -> Result<Loaded, Diagnostics> {
    let lexed = lexer::lex(text);
    let (statements, mut errors) = parser::parse(&lexed.tokens, lexed.end);
    errors.extend(lexed.errors);
    if !errors.is_empty() {
        return Err(Diagnostics::from_errors(file, text, errors));
    }
    let lowered = lower::lower(base, &statements);
    let mut errors = lowered.errors;
    errors.extend(validate::validate(&lowered.config, &lowered.origins));
    errors.extend(family::errors(&lowered.config, &lowered.origins));
    if !errors.is_empty() {
        return Err(Diagnostics::from_errors(file, text, errors));
    }
    let mut warnings = lowered.warnings;
    warnings.extend(family::warnings(&lowered.config, &lowered.origins));
    warnings.extend(lower::protect::warnings(&lowered.config, &lowered.origins));
    Ok(Loaded {
        config: lowered.config,
        warnings: Diagnostics::from_warnings(file, text, warnings),
    })
}

/// The canonical text of a configuration: starts with `// configuration taken TAKEN`, ends with
/// `// end of configuration`, and parses back to the same model.
pub fn print(config: &Config, taken: &str) -> String {
    print::print(config, taken)
}
