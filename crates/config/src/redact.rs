//! A statement as it may be logged: the value after every secret setting (`synckey`,
//! `agentkey`) replaced, the rest re-spelled token by token from the lexer (so a quoted key, a
//! key in a `set { ... }` block or one spread over lines is hidden all the same).

use crate::lexer::{lex, TokenKind};

/// Settings whose value is a secret.
const SECRET_SETTINGS: &[&str] = &["synckey", "agentkey"];
/// What a secret is shown as.
const HIDDEN: &str = "<hidden>";

/// `statement` with every secret setting's value replaced by `<hidden>`.
pub fn redacted(statement: &str) -> String {
    let mut out = String::with_capacity(statement.len());
    let mut hide_next = false;
    for token in lex(statement).tokens {
        let text = match &token.kind {
            _ if hide_next && matches!(token.kind, TokenKind::Word(_) | TokenKind::Str(_)) => {
                hide_next = false;
                HIDDEN.to_string()
            }
            TokenKind::Word(word) => {
                hide_next = SECRET_SETTINGS.contains(&word.as_str());
                word.clone()
            }
            TokenKind::Str(text) => format!("{text:?}"),
            TokenKind::LBrace => "{".to_string(),
            TokenKind::RBrace => "}".to_string(),
            TokenKind::Comma => ",".to_string(),
        };
        if !out.is_empty() && text != "," {
            out.push(' ');
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn hides_every_secret_and_keeps_the_rest() {
        let table = [
            ("set synckey s3cret", "set synckey <hidden>"),
            ("set agentkey \"two words\"", "set agentkey <hidden>"),
            (
                "set {\n  synckey abc\n  sessiontimeout 30\n}",
                "set { synckey <hidden> sessiontimeout 30 }",
            ),
            ("disable target 2", "disable target 2"),
            ("register targets 1,2", "register targets 1, 2"),
            ("set synckey", "set synckey"),
        ];
        for (statement, expected) in table {
            assert_eq!(redacted(statement), expected, "{statement:?}");
            assert!(!redacted(statement).contains("s3cret"));
        }
    }
}
