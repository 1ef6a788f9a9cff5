//! Programs in several files: a file and the files it imports, loaded into
//! one space of source positions.
//!
//! Every file gets its own range of byte offsets (`base .. base + len`, with
//! a gap of one between files), so an offset anywhere in the program names
//! its file: the resolver's and compiler's tables, keyed by offset, need no
//! file beside it, and an error is shown against the right file's text
//! ([`Sources::render`]).
//!
//! Loading walks the imports depth first from the main file. A file is
//! loaded once however many files import it (a module is its canonical
//! path); importing a file that is still being loaded is a cycle, reported at
//! that `import` with the chain of files. Modules come out in dependency
//! order, each after the modules it imports and the main file last: the
//! order in which their top-level code runs, once each.
//!
//! A module's top-level functions, classes and `our` variables are its
//! exports, named `alias.name` by an importer; its `let`s are private. The
//! compiler keeps the names apart by qualifying each module's top-level
//! names with the module's [`Module::name`] (the main file's stay bare).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::ast::{Block, Import, StmtKind};
use crate::error::{CompileError, Span, SyntaxError};

/// Imports nested deeper than this (a file importing a file importing …)
/// are an error.
pub const MAX_IMPORT_DEPTH: usize = 200;

/// One file's text.
#[derive(Debug)]
pub struct SourceFile {
    /// The file's name as shown in messages.
    pub name: String,
    /// Its text.
    pub text: String,
    /// The offset of its first byte among the program's sources.
    pub base: usize,
}

/// The texts of a program's files, each at its own range of offsets.
#[derive(Debug, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
    /// Adds a file after the others; returns its number.
    pub fn add(&mut self, name: &str, text: &str) -> usize {
        let base = self.files.last().map_or(0, |f| f.base + f.text.len() + 1);
        self.files.push(SourceFile { name: name.to_owned(), text: text.to_owned(), base });
        self.files.len() - 1
    }

    /// File number `i`.
    pub fn file(&self, i: usize) -> &SourceFile {
        &self.files[i]
    }

    /// The files, by number.
    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }

    /// The number of the file holding `offset`.
    pub fn file_at(&self, offset: usize) -> usize {
        self.files.partition_point(|f| f.base <= offset).saturating_sub(1)
    }

    /// `error` located in its file: file, line and column, and rendered.
    pub fn locate(&self, error: &SyntaxError) -> CompileError {
        let rendered = self.render(error);
        let Some(file) = self.files.get(self.file_at(error.span.start)) else {
            return CompileError { message: error.message.clone(), file: String::new(), line: 0, column: 0, rendered };
        };
        let (line, column) = Span::new(error.span.start.saturating_sub(file.base), 0).line_col(&file.text);
        CompileError { message: error.message.clone(), file: file.name.clone(), line, column, rendered }
    }

    /// `error` as the user sees it, against the text of the file it is in.
    pub fn render(&self, error: &SyntaxError) -> String {
        let Some(file) = self.files.get(self.file_at(error.span.start)) else {
            return format!("error: {error}\n");
        };
        let local = |at: usize| at.saturating_sub(file.base);
        let span = Span::new(local(error.span.start), local(error.span.end));
        SyntaxError { span, ..error.clone() }.render(&file.name, &file.text)
    }
}

/// One file of a program.
#[derive(Debug)]
pub struct Module {
    /// Its file among the [`Sources`].
    pub file: usize,
    /// What qualifies its top-level names: its path from the main file's
    /// folder, without `.maat` (empty for the main file, whose names stay
    /// bare).
    pub name: String,
    /// Its code.
    pub body: Block,
    /// The modules it imports, by the name it gives each.
    pub imports: HashMap<String, usize>,
}

/// A whole program: its files and its modules in dependency order (the
/// main file's last).
#[derive(Debug, Default)]
pub struct Loaded {
    /// The files' texts.
    pub sources: Sources,
    /// The modules, each after those it imports.
    pub modules: Vec<Module>,
}

/// Loads the program in the file at `path` (whose text, already read, is
/// `text`) with every file it imports; errors come rendered (file:line:col,
/// the source line and a caret).
pub fn load(path: &Path, text: &str) -> Result<Loaded, String> {
    load_located(path, text).map_err(|e| e.rendered)
}

/// [`load`], with the error located as data.
pub fn load_located(path: &Path, text: &str) -> Result<Loaded, CompileError> {
    let canonical = path.canonicalize().map_err(|e| {
        let message = format!("cannot read {}: {e}", path.display());
        let rendered = format!("error: {message}");
        CompileError { message, file: path.display().to_string(), line: 0, column: 0, rendered }
    })?;
    let root = canonical.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut loader = Loader { loaded: Loaded::default(), state: HashMap::new(), chain: Vec::new(), root };
    loader.file(&canonical, &path.display().to_string(), text).map_err(|e| loader.loaded.sources.locate(&e))?;
    Ok(loader.loaded)
}

/// A program given as text with no file of its own (`-e`, an embedder's
/// `eval`): one module, which cannot import (its `import`s are errors at
/// compilation).
pub fn from_text(name: &str, text: &str) -> Result<Loaded, String> {
    from_text_located(name, text).map_err(|e| e.rendered)
}

/// [`from_text`], with the error located as data.
pub fn from_text_located(name: &str, text: &str) -> Result<Loaded, CompileError> {
    let mut loaded = Loaded::default();
    let file = loaded.sources.add(name, text);
    let body = crate::parser::parse_at(text, 0).map_err(|e| loaded.sources.locate(&e))?;
    loaded.modules.push(Module { file, name: String::new(), body, imports: HashMap::new() });
    Ok(loaded)
}

struct Loader {
    loaded: Loaded,
    /// Each file met, by canonical path: its module once loaded, `None`
    /// while it (or a file it imports) is being loaded.
    state: HashMap<PathBuf, Option<usize>>,
    /// The files being loaded, outermost first: canonical path and name
    /// as shown.
    chain: Vec<(PathBuf, String)>,
    /// The main file's folder.
    root: PathBuf,
}

impl Loader {
    /// Loads the file at `path` (canonical) shown as `shown`, and what it
    /// imports; returns its module.
    fn file(&mut self, path: &Path, shown: &str, text: &str) -> Result<usize, SyntaxError> {
        let file = self.loaded.sources.add(shown, text);
        let body = crate::parser::parse_at(text, self.loaded.sources.file(file).base)?;
        self.state.insert(path.to_path_buf(), None);
        self.chain.push((path.to_path_buf(), shown.to_owned()));
        let mut imports = HashMap::new();
        for stmt in &body {
            if let StmtKind::Import(i) = &stmt.kind {
                let module = self.import(path, shown, i)?;
                if imports.insert(i.alias.clone(), module).is_some() {
                    return Err(SyntaxError::new(
                        format!("`{}` already names a module imported here", i.alias),
                        i.span,
                    )
                    .with_label("give this one another name with `as`"));
                }
            }
        }
        self.chain.pop();
        let name = if self.chain.is_empty() { String::new() } else { self.qualifier(path) };
        self.loaded.modules.push(Module { file, name, body, imports });
        let module = self.loaded.modules.len() - 1;
        self.state.insert(path.to_path_buf(), Some(module));
        Ok(module)
    }

    /// The module that `import` names, loading it if it is new.
    fn import(&mut self, from: &Path, from_shown: &str, i: &Import) -> Result<usize, SyntaxError> {
        let relative = |p: &str| Path::new(from_shown).parent().map_or_else(|| PathBuf::from(p), |d| d.join(p));
        let shown = relative(&i.path).display().to_string();
        let target = from.parent().unwrap_or(Path::new("")).join(&i.path);
        let cannot = |e: std::io::Error| SyntaxError::new(format!("cannot read `{shown}`: {e}"), i.span);
        let canonical = target.canonicalize().map_err(cannot)?;
        match self.state.get(&canonical) {
            Some(Some(module)) => return Ok(*module),
            Some(None) => {
                let start = self.chain.iter().position(|(p, _)| *p == canonical).unwrap_or(0);
                let mut cycle: Vec<&str> = self.chain[start..].iter().map(|(_, s)| s.as_str()).collect();
                cycle.push(&shown);
                let cycle = format!("{} imports {}", cycle[0], cycle[1..].join(", which imports "));
                return Err(SyntaxError::new(format!("import cycle: {cycle}"), i.span)
                    .with_label("a module cannot import a file that imports it"));
            }
            None => {}
        }
        if self.chain.len() >= MAX_IMPORT_DEPTH {
            return Err(SyntaxError::new(format!("imports nested deeper than {MAX_IMPORT_DEPTH} files"), i.span));
        }
        let text = std::fs::read_to_string(&canonical).map_err(cannot)?;
        self.file(&canonical, &shown, &text)
    }

    /// A module's qualifier: its path from the main file's folder (or its
    /// whole path, outside it), without `.maat`.
    fn qualifier(&self, path: &Path) -> String {
        let relative = path.strip_prefix(&self.root).unwrap_or(path);
        let name = relative.with_extension("");
        let name = if relative.extension().is_some_and(|e| e == "maat") { name.as_path() } else { relative };
        name.to_string_lossy().replace('\\', "/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_file_has_its_own_offsets_and_errors_show_in_it() {
        let mut sources = Sources::default();
        sources.add("a.maat", "say 1\n");
        let b = sources.add("b.maat", "say 2\nlet = 3\n");
        let base = sources.file(b).base;
        assert_eq!(base, "say 1\n".len() + 1);
        assert_eq!((sources.file_at(0), sources.file_at(base - 1), sources.file_at(base + 3)), (0, 0, 1));
        let error = crate::parser::parse_at(&sources.file(b).text, base).unwrap_err();
        let shown = sources.render(&error);
        assert!(shown.contains("b.maat:2:5") && shown.contains("let = 3"), "{shown}");
    }

    #[test]
    fn text_without_a_file_is_one_module_with_bare_names() {
        let loaded = from_text("-e", "import \"x.maat\"\nsay 1").unwrap();
        assert_eq!(loaded.modules.len(), 1);
        assert!(loaded.modules[0].name.is_empty() && loaded.modules[0].imports.is_empty());
    }
}
