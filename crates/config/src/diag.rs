//! Positions and error values for configuration text.
//!
//! Every stage reports [`Error`]s that carry a [`Span`] (1-based line and column, counted in
//! characters). [`Diagnostics::from_errors`] attaches the file name and the offending source line
//! so that `Display` can render `FILE:LINE:COL: error: MESSAGE`, the line, a caret under the column
//! and any notes (`note: first defined at 3:1`, `help: did you mean "priority"?`).
//! [`Diagnostics::from_warnings`] does the same for statements that are accepted but have no
//! effect in Fulcrum (`FILE:LINE:COL: warning: MESSAGE`): they never stop a file from loading.

use std::fmt;

/// A position in the text: 1-based line and column (columns count characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    pub line: u32,
    pub col: u32,
}

impl Span {
    pub const START: Span = Span { line: 1, col: 1 };
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// One error found by the lexer, the parser or the validator, before it is tied to a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub span: Span,
    pub message: String,
    /// Complete lines such as `note: first defined at 3:1`.
    pub notes: Vec<String>,
}

impl Error {
    pub fn new(span: Span, message: impl Into<String>) -> Error {
        Error {
            span,
            message: message.into(),
            notes: Vec::new(),
        }
    }

    /// `found X, expected Y`, the shape of every syntax error.
    pub fn found(span: Span, found: &str, expected: impl fmt::Display) -> Error {
        Error::new(span, format!("found {found}, expected {expected}"))
    }

    pub fn note(mut self, note: impl fmt::Display) -> Error {
        self.notes.push(format!("note: {note}"));
        self
    }

    pub fn help(mut self, help: impl fmt::Display) -> Error {
        self.notes.push(format!("help: {help}"));
        self
    }

    /// Adds `help: did you mean "X"?` when `word` is a near miss of one of `candidates`.
    pub fn suggest(self, word: &str, candidates: &[&str]) -> Error {
        match did_you_mean(word, candidates) {
            Some(best) => self.help(format!("did you mean \"{best}\"?")),
            None => self,
        }
    }
}

/// Whether a diagnostic stops the text from loading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    /// Accepted and ignored: the text loads, the statement has no effect.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One error (or warning) in a configuration text, with its position (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: String,
    pub line: u32,
    pub col: u32,
    pub message: String,
    /// The source line the error is on (for the caret display).
    pub source_line: String,
    /// Extra lines such as `note: first defined at 12:1` or `help: did you mean "target"?`.
    pub notes: Vec<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}:{}:{}: {}: {}",
            self.file, self.line, self.col, self.severity, self.message
        )?;
        writeln!(f, "{}", self.source_line)?;
        // Copy tabs from the source so that the caret lines up under the column.
        let before = self.col.saturating_sub(1).try_into().unwrap_or(usize::MAX);
        let pad: String = self
            .source_line
            .chars()
            .chain(std::iter::repeat(' '))
            .take(before)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        writeln!(f, "{pad}^")?;
        for note in &self.notes {
            writeln!(f, "{note}")?;
        }
        Ok(())
    }
}

/// Every error found in one text, in source order. `Display` renders them all, each as
/// `FILE:LINE:COL: error: MESSAGE`, the source line, a caret under the column, then its notes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Ties errors to `file` and `text`, sorted by position (stable, so same-position errors keep
    /// the order they were found in).
    pub fn from_errors(file: &str, text: &str, errors: Vec<Error>) -> Diagnostics {
        Diagnostics::tie(file, text, errors, Severity::Error)
    }

    /// As [`Diagnostics::from_errors`], for statements that are accepted and ignored.
    pub fn from_warnings(file: &str, text: &str, warnings: Vec<Error>) -> Diagnostics {
        Diagnostics::tie(file, text, warnings, Severity::Warning)
    }

    fn tie(file: &str, text: &str, mut errors: Vec<Error>, severity: Severity) -> Diagnostics {
        errors.sort_by_key(|e| e.span);
        let lines: Vec<&str> = text.split('\n').collect();
        let diagnostics = errors
            .into_iter()
            .map(|e| {
                let index = usize::try_from(e.span.line.saturating_sub(1)).unwrap_or(usize::MAX);
                let source_line = lines
                    .get(index)
                    .map(|l| l.strip_suffix('\r').unwrap_or(l))
                    .unwrap_or("")
                    .to_string();
                Diagnostic {
                    severity,
                    file: file.to_string(),
                    line: e.span.line,
                    col: e.span.col,
                    message: e.message,
                    source_line,
                    notes: e.notes,
                }
            })
            .collect();
        Diagnostics(diagnostics)
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// How a found token is named in messages: a word or string in double quotes (with control
/// characters escaped), or a description such as `end of file`.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars().take(40) {
        out.extend(c.escape_debug());
    }
    if text.chars().nth(40).is_some() {
        out.push_str("...");
    }
    out.push('"');
    out
}

/// The candidate nearest to `word` by edit distance, if it is near enough to be a typo.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    if word.chars().count() > 40 {
        return None;
    }
    let limit = match word.chars().count() {
        0..=2 => 0,
        3..=5 => 1,
        _ => 2,
    };
    candidates
        .iter()
        .map(|c| (edit_distance(&word, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance, counting an adjacent transposition as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_are_suggested() {
        let options = ["vrid", "priority", "network"];
        assert_eq!(did_you_mean("prority", &options), Some("priority"));
        assert_eq!(did_you_mean("netwrok", &options), Some("network"));
        assert_eq!(did_you_mean("vird", &options), Some("vrid"));
        assert_eq!(did_you_mean("banana", &options), None);
        assert_eq!(did_you_mean("x", &options), None);
    }

    #[test]
    fn display_puts_the_caret_under_the_column() {
        let errors = vec![
            Error::new(Span { line: 2, col: 3 }, "found \"x\", expected y")
                .note("first defined at 1:1"),
        ];
        let shown = Diagnostics::from_errors("f.conf", "a\n\tb x\n", errors).to_string();
        assert_eq!(
            shown,
            "f.conf:2:3: error: found \"x\", expected y\n\tb x\n\t ^\nnote: first defined at 1:1\n"
        );
    }

    #[test]
    fn quote_escapes_and_shortens() {
        assert_eq!(quote("a\"b"), "\"a\\\"b\"");
        assert_eq!(quote(&"y".repeat(50)), format!("\"{}...\"", "y".repeat(40)));
    }
}
