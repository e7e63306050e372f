//! Fulcrum's configuration language, the one BalanceNG reads (the seed's files load unchanged).
//!
//! Two stages: text -> AST with spans (`lexer`, `parser`) -> validated [`Config`] (`validate`).
//! [`print`] writes the canonical text that parses back to the same model. Errors carry the file,
//! line and column and say what was found and what was expected.
//!
//! NOTE: the bodies below are placeholders while the crate is being written.

use fulcrum_core::model::Config;

/// One error in a configuration text, with its position (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub line: u32,
    pub col: u32,
    pub message: String,
    /// The source line the error is on (for the caret display).
    pub source_line: String,
    /// Extra lines such as `first defined at 12:1` or `did you mean "target"?`.
    pub notes: Vec<String>,
}

/// Every error found in one text, in source order. `Display` renders them all as
/// `FILE:LINE:COL: error: MESSAGE`, the source line, and a caret under the column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl std::fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for d in &self.0 {
            writeln!(f, "{}:{}:{}: error: {}", d.file, d.line, d.col, d.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Parses and validates a whole configuration file's text. `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Config, Diagnostics> {
    apply(&Config::default(), file, text)
}

/// Applies statements (as typed in the control shell or read from a file) on top of `base` and
/// validates the result. `base` is never changed; on error nothing is applied.
pub fn apply(base: &Config, file: &str, text: &str) -> Result<Config, Diagnostics> {
    let _ = (file, text);
    Ok(base.clone())
}

/// The canonical text of a configuration: starts with `// configuration taken TAKEN`, ends with
/// `// end of configuration`, and parses back to the same model.
pub fn print(config: &Config, taken: &str) -> String {
    let _ = config;
    format!("// configuration taken {taken}\n// end of configuration\n")
}
