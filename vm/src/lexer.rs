//! The lexer: source text to tokens with byte spans.
//!
//! Whitespace and `#` comments separate tokens. Numbers are decimal (with an
//! optional fraction and exponent); strings are double-quoted with the
//! escapes `\n \t \r \\ \" \0`. The lexer never panics: anything it cannot
//! read becomes a [`SyntaxError`] pointing at the offending bytes.

use std::fmt;

use crate::error::{Span, SyntaxError};

/// A token kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// A number literal.
    Num(f64),
    /// A string literal, escapes resolved.
    Str(String),
    /// A name.
    Ident(String),
    /// A keyword.
    Kw(Kw),
    /// Punctuation or an operator.
    P(&'static str),
    /// End of input.
    Eof,
}

macro_rules! keywords {
    ($($name:ident = $text:literal),* $(,)?) => {
        /// The language's keywords.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Kw { $(#[doc = concat!("`", $text, "`")] $name),* }

        impl Kw {
            fn from_str(s: &str) -> Option<Kw> {
                match s { $($text => Some(Kw::$name),)* _ => None }
            }

            /// The keyword as written.
            pub fn as_str(self) -> &'static str {
                match self { $(Kw::$name => $text),* }
            }
        }
    };
}

keywords! {
    Let = "let", Our = "our", Fn = "fn", Return = "return", If = "if", Elsif = "elsif",
    Else = "else", While = "while", For = "for", Break = "break", Next = "next", Try = "try",
    Catch = "catch", Throw = "throw", Class = "class", Has = "has", SelfKw = "self", Nil = "nil",
    True = "true", False = "false", Say = "say", Print = "print", Ma = "ma",
}

/// Operators and punctuation, longest first so that `..` wins over `.`.
const PUNCT: &[&str] = &[
    "->", "=>", "..", "==", "!=", "<=", ">=", "&&", "||", "+=", "-=", "*=", "/=", "(", ")", "[", "]", "{", "}", ",",
    ";", ":", ".", "^", "=", "+", "-", "*", "/", "%", "~", "<", ">", "!", "|",
];

/// A token and where it is.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    /// What it is.
    pub tok: Tok,
    /// Where it is.
    pub span: Span,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Num(n) => write!(f, "number `{n}`"),
            Tok::Str(_) => f.write_str("string"),
            Tok::Ident(s) => write!(f, "name `{s}`"),
            Tok::Kw(k) => write!(f, "`{}`", k.as_str()),
            Tok::P(p) => write!(f, "`{p}`"),
            Tok::Eof => f.write_str("end of input"),
        }
    }
}

/// Splits `src` into tokens, ending with [`Tok::Eof`].
pub fn lex(src: &str) -> Result<Vec<Token>, SyntaxError> {
    let mut lexer = Lexer { src, pos: 0, tokens: Vec::new() };
    lexer.run()?;
    Ok(lexer.tokens)
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    tokens: Vec<Token>,
}

impl Lexer<'_> {
    fn run(&mut self) -> Result<(), SyntaxError> {
        loop {
            self.skip_space();
            let start = self.pos;
            let Some(c) = self.peek() else {
                self.tokens.push(Token { tok: Tok::Eof, span: Span::new(start, start) });
                return Ok(());
            };
            let tok = if c.is_ascii_digit() {
                self.number()?
            } else if c == '"' {
                self.string()?
            } else if c.is_alphabetic() || c == '_' {
                self.word()
            } else {
                self.punct()?
            };
            self.tokens.push(Token { tok, span: Span::new(start, self.pos) });
        }
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_space(&mut self) {
        while let Some(c) = self.peek() {
            if c == '#' {
                while self.peek().is_some_and(|c| c != '\n') {
                    self.bump();
                }
            } else if c.is_whitespace() {
                self.bump();
            } else {
                return;
            }
        }
    }

    fn number(&mut self) -> Result<Tok, SyntaxError> {
        let start = self.pos;
        self.digits();
        // A fraction needs a digit after the dot, so that `1..5` is a range.
        let rest = &self.src[self.pos..];
        if rest.starts_with('.') && rest[1..].starts_with(|c: char| c.is_ascii_digit()) {
            self.bump();
            self.digits();
        }
        if self.peek().is_some_and(|c| c == 'e' || c == 'E') {
            let save = self.pos;
            self.bump();
            if self.peek().is_some_and(|c| c == '+' || c == '-') {
                self.bump();
            }
            if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.pos = save;
            } else {
                self.digits();
            }
        }
        let text = &self.src[start..self.pos];
        text.parse()
            .map(Tok::Num)
            .map_err(|_| SyntaxError::new(format!("malformed number `{text}`"), Span::new(start, self.pos)))
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit() || c == '_') {
            self.bump();
        }
    }

    fn string(&mut self) -> Result<Tok, SyntaxError> {
        let start = self.pos;
        self.bump();
        let mut out = String::new();
        loop {
            let Some(c) = self.bump() else {
                return Err(SyntaxError::new("unterminated string", Span::new(start, self.pos))
                    .with_label("this string is never closed"));
            };
            match c {
                '"' => return Ok(Tok::Str(out)),
                '\\' => out.push(self.escape()?),
                c => out.push(c),
            }
        }
    }

    fn escape(&mut self) -> Result<char, SyntaxError> {
        let at = self.pos - 1;
        let c = self.bump();
        Ok(match c {
            Some('n') => '\n',
            Some('t') => '\t',
            Some('r') => '\r',
            Some('0') => '\0',
            Some('\\') => '\\',
            Some('"') => '"',
            _ => {
                return Err(SyntaxError::new("unknown escape in string", Span::new(at, self.pos))
                    .with_label("known escapes: \\n \\t \\r \\0 \\\\ \\\""));
            }
        })
    }

    fn word(&mut self) -> Tok {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
            self.bump();
        }
        let text = &self.src[start..self.pos];
        Kw::from_str(text).map_or_else(|| Tok::Ident(text.to_owned()), Tok::Kw)
    }

    fn punct(&mut self) -> Result<Tok, SyntaxError> {
        let rest = &self.src[self.pos..];
        match PUNCT.iter().find(|p| rest.starts_with(**p)) {
            Some(p) => {
                self.pos += p.len();
                Ok(Tok::P(p))
            }
            None => {
                let start = self.pos;
                let c = self.bump().unwrap_or('\0');
                Err(SyntaxError::new(
                    format!("unexpected character `{}`", c.escape_debug()),
                    Span::new(start, self.pos),
                ))
            }
        }
    }
}
