//! Splits configuration text into tokens with positions.
//!
//! Tokens are words (any run of characters other than whitespace, `{`, `}`, `"` and `,`), double
//! quoted strings (`\"` and `\\` are the only escapes; a string ends on its line), braces and
//! commas. `//` at the start of a token begins a comment that runs to the end of the line. Newlines
//! are plain whitespace: statements are told apart by their keywords. The lexer never fails: an
//! unterminated string is reported and kept as a string token, so parsing goes on.

use crate::diag::{Error, Span};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKind {
    Word(String),
    Str(String),
    LBrace,
    RBrace,
    Comma,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub span: Span,
}

impl Token {
    /// The token as named in `found X` messages.
    pub fn describe(&self) -> String {
        match &self.kind {
            TokenKind::Word(w) => crate::diag::quote(w),
            TokenKind::Str(s) => format!("the string {}", crate::diag::quote(s)),
            TokenKind::LBrace => "\"{\"".to_string(),
            TokenKind::RBrace => "\"}\"".to_string(),
            TokenKind::Comma => "\",\"".to_string(),
        }
    }

    pub fn word(&self) -> Option<&str> {
        match &self.kind {
            TokenKind::Word(w) => Some(w),
            _ => None,
        }
    }
}

/// The tokens of a text, the errors found while splitting it, and the position just past its end.
#[derive(Debug)]
pub struct Lexed {
    pub tokens: Vec<Token>,
    pub errors: Vec<Error>,
    pub end: Span,
}

struct Cursor<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    pos: Span,
}

impl Cursor<'_> {
    fn peek(&mut self) -> Option<char> {
        self.chars.peek().copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.pos.line = self.pos.line.saturating_add(1);
            self.pos.col = 1;
        } else {
            self.pos.col = self.pos.col.saturating_add(1);
        }
        Some(c)
    }
}

fn is_word_char(c: char) -> bool {
    !(c.is_whitespace() || matches!(c, '{' | '}' | '"' | ','))
}

pub fn lex(text: &str) -> Lexed {
    let mut cursor = Cursor {
        chars: text.chars().peekable(),
        pos: Span::START,
    };
    let mut tokens = Vec::new();
    let mut errors = Vec::new();
    while let Some(c) = cursor.peek() {
        let start = cursor.pos;
        match c {
            c if c.is_whitespace() => {
                cursor.bump();
            }
            '{' | '}' | ',' => {
                cursor.bump();
                let kind = match c {
                    '{' => TokenKind::LBrace,
                    '}' => TokenKind::RBrace,
                    _ => TokenKind::Comma,
                };
                tokens.push(Token { kind, span: start });
            }
            '"' => {
                cursor.bump();
                let mut value = String::new();
                loop {
                    match cursor.peek() {
                        None | Some('\n') => {
                            let what = if cursor.peek().is_none() {
                                "end of file"
                            } else {
                                "end of line"
                            };
                            errors.push(Error::found(
                                cursor.pos,
                                what,
                                format!("'\"' to close the string opened at {start}"),
                            ));
                            break;
                        }
                        Some('"') => {
                            cursor.bump();
                            break;
                        }
                        Some('\\') => {
                            cursor.bump();
                            match cursor.peek() {
                                Some(e @ ('"' | '\\')) => {
                                    cursor.bump();
                                    value.push(e);
                                }
                                _ => value.push('\\'),
                            }
                        }
                        Some(other) => {
                            cursor.bump();
                            value.push(other);
                        }
                    }
                }
                tokens.push(Token {
                    kind: TokenKind::Str(value),
                    span: start,
                });
            }
            _ => {
                let mut word = String::new();
                while let Some(c) = cursor.peek().filter(|c| is_word_char(*c)) {
                    cursor.bump();
                    word.push(c);
                }
                if word.starts_with("//") {
                    while cursor.peek().is_some_and(|c| c != '\n') {
                        cursor.bump();
                    }
                } else {
                    tokens.push(Token {
                        kind: TokenKind::Word(word),
                        span: start,
                    });
                }
            }
        }
    }
    Lexed {
        tokens,
        errors,
        end: cursor.pos,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<TokenKind> {
        lex(text).tokens.into_iter().map(|t| t.kind).collect()
    }

    fn word(w: &str) -> TokenKind {
        TokenKind::Word(w.to_string())
    }

    #[test]
    fn words_strings_braces_commas_and_comments() {
        assert_eq!(
            kinds("target 1 { // x { y\n ping 5,12 name \"a \\\"b\\\\\" }"),
            vec![
                word("target"),
                word("1"),
                TokenKind::LBrace,
                word("ping"),
                word("5"),
                TokenKind::Comma,
                word("12"),
                word("name"),
                TokenKind::Str("a \"b\\".to_string()),
                TokenKind::RBrace,
            ]
        );
    }

    #[test]
    fn positions_are_one_based_characters() {
        let lexed = lex("é x\n  y");
        let spans: Vec<Span> = lexed.tokens.iter().map(|t| t.span).collect();
        assert_eq!(
            spans,
            vec![
                Span { line: 1, col: 1 },
                Span { line: 1, col: 3 },
                Span { line: 2, col: 3 }
            ]
        );
        assert_eq!(lexed.end, Span { line: 2, col: 4 });
    }

    #[test]
    fn unterminated_string_is_reported_and_kept() {
        let lexed = lex("notify \"abc\nx");
        assert_eq!(lexed.errors.len(), 1);
        assert_eq!(lexed.errors[0].span, Span { line: 1, col: 12 });
        assert_eq!(
            lexed.errors[0].message,
            "found end of line, expected '\"' to close the string opened at 1:8"
        );
        assert_eq!(lexed.tokens.len(), 3);
    }

    #[test]
    fn slashes_inside_a_word_are_not_a_comment() {
        assert_eq!(kinds("a//b //c"), vec![word("a//b")]);
    }
}
