//! Embedding Maat: register a native function and run Maat code that calls it.
//!
//! `cargo run --example embed`

use maat::gc::Config;
use maat::vm::embed::{HostValue, Runtime};

fn main() {
    let mut rt = Runtime::new(Config::default());
    // A native function: Maat calls it like any function.
    rt.register("env", |args| match args {
        [HostValue::Str(name)] => Ok(std::env::var(name).map_or(HostValue::Nil, HostValue::Str)),
        _ => Err("env takes the name of a variable".into()),
    });
    let program = r#"
        let home = env("HOME");
        if home == nil { say "no HOME"; } else { say "HOME has ", home.len, " characters"; }
        try { env(42); } catch e { say "caught: ", e; }
    "#;
    match rt.eval(program) {
        Ok(output) => print!("{output}"),
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(1);
        }
    }
}
