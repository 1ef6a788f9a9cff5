//! The lexer: source text to tokens with byte spans.
//!
//! Whitespace and `#` comments separate tokens; each token records whether a
//! line break comes before it (the parser ends statements there). Numbers
//! are decimal (with an optional fraction and exponent), hexadecimal (`0xff`)
//! or binary (`0b101`); a literal too large for a number is an error, not
//! infinity. Strings are double-quoted with the escapes
//! `\n \t \r \\ \" \0 \#`; `#{expr}` inside a string interpolates: the
//! lexer emits `("text" ~ (expr) ~ "more")`, tokens the parser reads as
//! any other concatenation. The lexer never panics: anything it cannot read
//! becomes a [`SyntaxError`] pointing at the offending bytes.

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
    True = "true", False = "false", Say = "say", Print = "print", Ma = "ma", Is = "is",
    Super = "super", Import = "import", As = "as",
}

/// Operators and punctuation, longest first so that `..` wins over `.`.
const PUNCT: &[&str] = &[
    "//=", "**=", "<<=", ">>=", "->", "=>", "..", "==", "!=", "<=", ">=", "&&", "||", "+=", "-=", "*=", "/=", "%=",
    "~=", "&=", "|=", "^=", "**", "//", "<<", ">>", "(", ")", "[", "]", "{", "}", ",", ";", ":", ".", "^", "=", "+",
    "-", "*", "/", "%", "~", "<", ">", "!", "|", "&",
];

/// How deeply interpolated strings may nest inside each other.
const MAX_INTERPOLATION: usize = 16;

/// A token and where it is.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    /// What it is.
    pub tok: Tok,
    /// Where it is.
    pub span: Span,
    /// Whether a line break separates it from the token before.
    pub line_start: bool,
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
    let mut lexer = Lexer { src, pos: 0, tokens: Vec::new(), newline: true, strings: 0 };
    loop {
        if lexer.token(None)? {
            return Ok(lexer.tokens);
        }
    }
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    tokens: Vec<Token>,
    /// A line break since the last token.
    newline: bool,
    /// Interpolated strings being read (nesting).
    strings: usize,
}

impl Lexer<'_> {
    /// Reads one token (a whole string, with its interpolations); `true` at
    /// the end of the input. Inside an interpolation (`braces` counts the
    /// open `{`), the `}` closing it is not a token: it returns `true`.
    fn token(&mut self, braces: Option<&mut usize>) -> Result<bool, SyntaxError> {
        self.skip_space();
        let start = self.pos;
        let Some(c) = self.peek() else {
            if braces.is_some() {
                return Err(SyntaxError::new("unterminated `#{` in a string", Span::new(start, start)));
            }
            self.push(Tok::Eof, start);
            return Ok(true);
        };
        let tok = if c.is_ascii_digit() {
            self.number()?
        } else if c == '"' {
            self.string()?;
            return Ok(false);
        } else if c.is_alphabetic() || c == '_' {
            self.word()
        } else {
            let tok = self.punct()?;
            if let Some(depth) = braces {
                match tok {
                    Tok::P("{") => *depth += 1,
                    Tok::P("}") if *depth == 0 => return Ok(true),
                    Tok::P("}") => *depth -= 1,
                    _ => {}
                }
            }
            tok
        };
        self.push(tok, start);
        Ok(false)
    }

    fn push(&mut self, tok: Tok, start: usize) {
        let line_start = std::mem::take(&mut self.newline);
        self.tokens.push(Token { tok, span: Span::new(start, self.pos), line_start });
    }

    /// A token made by the lexer (the parts of an interpolation), at `at`.
    fn synthetic(&mut self, tok: Tok, at: usize) {
        let line_start = std::mem::take(&mut self.newline);
        self.tokens.push(Token { tok, span: Span::new(at, at + 1), line_start });
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
                self.newline |= c == '\n';
                self.bump();
            } else {
                return;
            }
        }
    }

    fn number(&mut self) -> Result<Tok, SyntaxError> {
        let start = self.pos;
        let rest = &self.src[self.pos..];
        let radix = if rest.starts_with("0x") || rest.starts_with("0X") {
            16
        } else if rest.starts_with("0b") || rest.starts_with("0B") {
            2
        } else {
            10
        };
        if radix != 10 {
            return self.radix_number(radix);
        }
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
        let span = Span::new(start, self.pos);
        match text.replace('_', "").parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(Tok::Num(n)),
            Ok(_) => Err(SyntaxError::new(format!("number `{text}` is too large"), span)
                .with_label("numbers are 64-bit floats: at most about 1.8e308")),
            Err(_) => Err(SyntaxError::new(format!("malformed number `{text}`"), span)),
        }
    }

    /// `0x…` or `0b…`: an integer, exact up to 2^53.
    fn radix_number(&mut self, radix: u32) -> Result<Tok, SyntaxError> {
        let start = self.pos;
        self.pos += 2;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            self.bump();
        }
        let text = &self.src[start..self.pos];
        let span = Span::new(start, self.pos);
        let digits = text[2..].replace('_', "");
        match u64::from_str_radix(&digits, radix) {
            Ok(n) if n <= 1 << 53 => Ok(Tok::Num(n as f64)),
            Ok(_) => Err(SyntaxError::new(format!("number `{text}` is too large"), span)
                .with_label("integers are exact up to 2^53 (9007199254740992)")),
            Err(_) => Err(SyntaxError::new(format!("malformed number `{text}`"), span)),
        }
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit() || c == '_') {
            self.bump();
        }
    }

    /// A string literal; with interpolations, the tokens of
    /// `("text" ~ (expr) ~ "more")`.
    fn string(&mut self) -> Result<(), SyntaxError> {
        let start = self.pos;
        self.bump();
        let mut out = String::new();
        let mut interpolated = false;
        loop {
            let Some(c) = self.bump() else {
                return Err(SyntaxError::new("unterminated string", Span::new(start, self.pos))
                    .with_label("this string is never closed"));
            };
            match c {
                '"' => break,
                '\\' => out.push(self.escape()?),
                '#' if self.peek() == Some('{') => {
                    let at = self.pos - 1;
                    self.bump();
                    if !interpolated {
                        self.synthetic(Tok::P("("), start);
                        interpolated = true;
                    }
                    self.interpolation(std::mem::take(&mut out), at)?;
                }
                c => out.push(c),
            }
        }
        if interpolated {
            self.synthetic(Tok::Str(out), self.pos - 1);
            self.synthetic(Tok::P(")"), self.pos - 1);
        } else {
            self.push(Tok::Str(out), start);
        }
        Ok(())
    }

    /// After `#{` at `at`: the text before it, then `~ (expr) ~`.
    fn interpolation(&mut self, before: String, at: usize) -> Result<(), SyntaxError> {
        if self.strings == MAX_INTERPOLATION {
            return Err(SyntaxError::new(
                format!("strings interpolated inside each other deeper than {MAX_INTERPOLATION} levels"),
                Span::new(at, at + 2),
            ));
        }
        self.strings += 1;
        self.synthetic(Tok::Str(before), at);
        self.synthetic(Tok::P("~"), at);
        self.synthetic(Tok::P("("), at);
        let first = self.tokens.len();
        let mut braces = 0;
        while !self.token(Some(&mut braces))? {}
        if self.tokens.len() == first {
            return Err(SyntaxError::new("empty `#{}` in a string", Span::new(at, self.pos)));
        }
        self.synthetic(Tok::P(")"), self.pos - 1);
        self.synthetic(Tok::P("~"), self.pos - 1);
        self.strings -= 1;
        Ok(())
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
            Some('#') => '#',
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('u') => return self.unicode_escape(at),
            _ => {
                return Err(SyntaxError::new("unknown escape in string", Span::new(at, self.pos))
                    .with_label("known escapes: \\n \\t \\r \\b \\f \\0 \\\\ \\\" \\# \\u{HEX}"));
            }
        })
    }

    /// `\u{1F600}` (after the `u`): the character of that code point.
    fn unicode_escape(&mut self, at: usize) -> Result<char, SyntaxError> {
        let bad = |lexer: &Self| {
            SyntaxError::new("bad unicode escape", Span::new(at, lexer.pos))
                .with_label("write `\\u{HEX}` with 1 to 6 hex digits naming a character")
        };
        if self.bump() != Some('{') {
            return Err(bad(self));
        }
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
            self.bump();
        }
        let digits = &self.src[start..self.pos];
        if self.bump() != Some('}') || digits.is_empty() || digits.len() > 6 {
            return Err(bad(self));
        }
        u32::from_str_radix(digits, 16).ok().and_then(char::from_u32).ok_or_else(|| bad(self))
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
