//! The errors a program meets: syntax errors at source positions, rendered
//! with the file name, line and column, the source line and a caret
//! (through codespan-reporting); and runtime errors, with the maatine and
//! its stack trace.

use std::fmt;

use codespan_reporting::diagnostic::{Diagnostic, Label};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, Config};
use maat_sync::MaatineId;

/// A byte range of the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// The range `start..end`.
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }

    /// 1-based line and column (in characters) of the start in `src`.
    pub fn line_col(self, src: &str) -> (usize, usize) {
        let before = &src[..self.start.min(src.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }
}

/// A lexing or parsing error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// What is wrong.
    pub message: String,
    /// Where.
    pub span: Span,
    /// A note under the caret.
    pub label: Option<String>,
}

impl SyntaxError {
    /// An error with `message` at `span`.
    pub fn new(message: impl Into<String>, span: Span) -> SyntaxError {
        SyntaxError { message: message.into(), span, label: None }
    }

    /// Adds a note shown under the caret.
    pub fn with_label(mut self, label: impl Into<String>) -> SyntaxError {
        self.label = Some(label.into());
        self
    }

    /// The error as a user sees it: `error: …`, then `file:line:col`, the
    /// source line and a caret under the offending text.
    pub fn render(&self, file: &str, src: &str) -> String {
        let files = SimpleFile::new(file, src);
        let end = self.span.end.clamp(self.span.start, src.len());
        let start = self.span.start.min(end);
        let label = Label::primary((), start..end).with_message(self.label.clone().unwrap_or_default());
        let diagnostic = Diagnostic::error().with_message(&self.message).with_labels(vec![label]);
        let config = Config::default();
        term::emit_into_string(&config, &files, &diagnostic).unwrap_or_else(|_| {
            let (line, col) = self.span.line_col(src);
            format!("error: {}\n  at {file}:{line}:{col}\n", self.message)
        })
    }
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SyntaxError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters() {
        let src = "let a = 1;\nlet é = ?;";
        let at = src.find('?').unwrap();
        assert_eq!(Span::new(at, at + 1).line_col(src), (2, 9));
    }

    #[test]
    fn rendering_shows_file_line_column_source_and_caret() {
        let src = "say 1;\nlet = 2;\n";
        let at = src.find('=').unwrap();
        let text = SyntaxError::new("expected a name", Span::new(at, at + 1)).with_label("here").render("t.maat", src);
        assert!(text.contains("error: expected a name"), "{text}");
        assert!(text.contains("t.maat:2:5"), "{text}");
        assert!(text.contains("let = 2;"), "{text}");
        assert!(text.contains("^ here"), "{text}");
    }
}

/// A syntax or compile error located in its file: what the `maat` command
/// prints, and the same as data (for an embedder).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompileError {
    /// What is wrong.
    pub message: String,
    /// The file (the name given to the code).
    pub file: String,
    /// The line, from 1 (0 when the error is not in the code: a file that
    /// cannot be read).
    pub line: usize,
    /// The column, from 1 (0 as for `line`).
    pub column: usize,
    /// The error as the `maat` command shows it: file:line:col, the source
    /// line and a caret.
    pub rendered: String,
}

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.rendered.trim_end())
    }
}

impl std::error::Error for CompileError {}

/// A runtime error: the message, the maatine, and the stack trace
/// (innermost call first).
#[derive(Clone, Debug, PartialEq)]
pub struct RuntimeError {
    /// What went wrong.
    pub message: String,
    /// In which maatine.
    pub maatine: MaatineId,
    /// The calls under way, innermost first.
    pub trace: Vec<TraceFrame>,
}

/// One call of a stack trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceFrame {
    /// The function's name (`Class.method` for methods).
    pub function: String,
    /// Its file.
    pub file: String,
    /// The line being run; 0 in built-in code.
    pub line: u32,
}

impl std::fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "error: ")?;
        self.describe(f)
    }
}

impl RuntimeError {
    /// The message, the maatine and the trace, without the `error: ` prefix
    /// (what a joiner rethrows).
    fn describe(&self, f: &mut dyn std::fmt::Write) -> std::fmt::Result {
        writeln!(f, "{}", self.message)?;
        write!(f, "  in {}", self.maatine)?;
        const SHOWN: usize = 20;
        for (i, TraceFrame { function, file, line }) in self.trace.iter().enumerate() {
            if i == SHOWN / 2 && self.trace.len() > SHOWN {
                write!(f, "\n  ... {} more frames ...", self.trace.len() - SHOWN)?;
            }
            if i < SHOWN / 2 || i >= self.trace.len().saturating_sub(SHOWN / 2) {
                if *line == 0 {
                    write!(f, "\n  at {function} (built-in)")?;
                } else {
                    write!(f, "\n  at {function} ({file}:{line})")?;
                }
            }
        }
        Ok(())
    }

    /// The error as a joiner rethrows it: the failed maatine's message and
    /// trace, indented under `maatine N failed:`.
    pub(crate) fn rethrown(&self) -> String {
        let mut text = String::new();
        let _ = self.describe(&mut text);
        format!("{} failed: {}", self.maatine, text.replace('\n', "\n  "))
    }
}

impl std::error::Error for RuntimeError {}
