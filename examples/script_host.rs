//! A game-style script host: the game's entities are Rust values, the
//! behaviour is Maat code that the host calls every frame, and the script
//! can be replaced while the game runs (its functions are redefined, the
//! entities and the script's own state stay).
//!
//! `cargo run --example script_host`

use maat::gc::Config;
use maat::vm::embed::{Error, Function, Handle, Runtime, UserData};

/// A game entity, owned by the host and lent to scripts by handle.
#[derive(Debug)]
struct Entity {
    name: String,
    x: f64,
    y: f64,
    health: i64,
}

impl UserData for Entity {}

const BEHAVIOUR: &str = r#"
    our frames = 0
    fn update(e, dt) {
        e.x += 2 * dt
        if e.name == "bat" { e.y = Math.sin(e.x) }
        if e.x > 1.5 { e.hurt(10) }
    }
    fn on_frame() { frames += 1 }
"#;

/// The second version of the script, loaded while the game runs.
const FASTER: &str = r#"
    fn update(e, dt) {
        e.x += 5 * dt
        if e.health < 50 { e.heal(1) }
    }
"#;

fn main() -> Result<(), Error> {
    let mut rt = Runtime::new(Config::default());
    rt.register_type::<Entity>("Entity", |t| {
        t.field("name", |e| e.name.clone());
        t.field_mut("x", |e| e.x, |e, x: f64| e.x = x);
        t.field_mut("y", |e| e.y, |e, y: f64| e.y = y);
        t.field("health", |e| e.health);
        t.method("hurt", |e, (n,): (i64,)| {
            e.health = (e.health - n).max(0);
            Ok::<_, String>(e.health)
        });
        t.method("heal", |e, (n,): (i64,)| {
            e.health += n;
            Ok::<_, String>(e.health)
        });
    });
    rt.eval(BEHAVIOUR)?;

    // The entities enter the runtime once; the host keeps them by handle.
    let keep: Function = rt.value("{ |e| e }")?;
    let mut entities: Vec<Handle> = Vec::new();
    for name in ["knight", "bat", "slime"] {
        let e = Entity { name: name.into(), x: 0.0, y: 0.0, health: 100 };
        entities.push(keep.call(&mut rt, (e,))?);
    }

    let mut update: Function = rt.function("update")?;
    for frame in 0..60 {
        if frame == 30 {
            // Hot reload: `update` is replaced for every caller.
            rt.eval(FASTER)?;
            update = rt.function("update")?;
        }
        for e in &entities {
            update.call::<()>(&mut rt, (e, 1.0 / 30.0))?;
        }
        rt.call::<_, ()>("on_frame", ())?;
    }

    for e in &entities {
        rt.with_user(e, |e: &mut Entity| println!("{:>6}: x {:5.2}  y {:5.2}  health {}", e.name, e.x, e.y, e.health))?;
    }
    println!("frames run by the script: {}", rt.global::<u32>("frames")?);
    Ok(())
}
