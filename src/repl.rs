//! The interactive prompt of `maat` with no arguments: line editing and
//! history (rustyline, kept in `~/.maat_history`), entries spanning several
//! lines until they parse, and a session that keeps globals, functions and
//! classes between entries (`maat::vm::session`).

use std::io::Write;
use std::path::PathBuf;

use maat::gc::Config;
use maat::vm::session::Session;
use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;

/// Runs the prompt until end of input; returns whether every entry worked.
pub fn run(config: Config, threads: usize) -> bool {
    let mut editor = match DefaultEditor::new() {
        Ok(editor) => editor,
        Err(e) => {
            eprintln!("error: cannot start the line editor: {e}");
            return false;
        }
    };
    let history = history_file();
    if let Some(path) = &history {
        // A missing history file is the normal first run.
        let _ = editor.load_history(path);
    }
    println!("Maat {} — enter code; Ctrl-D quits.", env!("CARGO_PKG_VERSION"));
    let mut session = Session::new(config, threads);
    // Ctrl-C while an entry runs interrupts it (while a line is read, the
    // line editor takes Ctrl-C as a key and drops the entry being typed).
    let interrupt = session.interrupt_handle();
    if let Err(e) = ctrlc::set_handler(move || interrupt.interrupt()) {
        eprintln!("warning: Ctrl-C will not interrupt running code: {e}");
    }
    let mut all_ok = true;
    while let Some(entry) = read_entry(&mut editor) {
        let _ = editor.add_history_entry(entry.trim_end());
        let mut out = std::io::stdout();
        if let Err(message) = session.eval(&entry, &mut out) {
            eprintln!("{message}");
            all_ok = false;
        }
        let _ = out.flush();
    }
    if let Some(path) = &history {
        if let Err(e) = editor.save_history(path) {
            eprintln!("warning: cannot save the history to {}: {e}", path.display());
        }
    }
    all_ok
}

/// One entry: lines until they form a whole program (or cannot become one);
/// `None` at end of input.
fn read_entry(editor: &mut DefaultEditor) -> Option<String> {
    let mut entry = String::new();
    loop {
        let prompt = if entry.is_empty() { "maat> " } else { " ...> " };
        match editor.readline(prompt) {
            Ok(line) => {
                entry.push_str(&line);
                entry.push('\n');
                if entry.trim().is_empty() {
                    entry.clear();
                } else if !incomplete(&entry) {
                    return Some(entry);
                }
            }
            // Ctrl-C drops the entry being typed.
            Err(ReadlineError::Interrupted) => entry.clear(),
            Err(ReadlineError::Eof) if !entry.is_empty() => return Some(entry),
            Err(_) => return None,
        }
    }
}

/// Whether `entry` fails to parse only because it ends too early (an open
/// block, string or call): then the prompt asks for more.
fn incomplete(entry: &str) -> bool {
    match maat::vm::parse(entry) {
        Ok(_) => false,
        Err(e) => e.span.start >= entry.trim_end().len(),
    }
}

fn history_file() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".maat_history"))
}
