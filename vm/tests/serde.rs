//! serde types in and out of Maat (the `serde` feature).
#![cfg(feature = "serde")]

use std::collections::BTreeMap;

use maat_gc::Config;
use maat_vm::embed::{Runtime, Serde};

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq, Clone)]
struct Config2 {
    name: String,
    retries: u8,
    ratio: f64,
    tags: Vec<String>,
    limits: BTreeMap<String, u32>,
    nested: Option<Box<Config2>>,
    mode: Mode,
}

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq, Clone)]
enum Mode {
    Fast,
    Careful { level: u8 },
}

#[test]
fn structs_enums_and_maps_go_both_ways() {
    let mut rt = Runtime::new(Config::default());
    rt.eval("fn tweak(c) { c[\"retries\"] += 1; c[\"tags\"].push(\"seen\"); c[\"limits\"][\"cpu\"] = 4; return c; }")
        .unwrap();
    let inner = Config2 {
        name: "inner".into(),
        retries: 0,
        ratio: 0.5,
        tags: vec![],
        limits: BTreeMap::new(),
        nested: None,
        mode: Mode::Fast,
    };
    let c = Config2 { nested: Some(Box::new(inner)), mode: Mode::Careful { level: 2 }, ..outer() };
    let Serde(back): Serde<Config2> = rt.call("tweak", (Serde(c.clone()),)).unwrap();
    let mut expected = c;
    expected.retries += 1;
    expected.tags.push("seen".into());
    expected.limits.insert("cpu".into(), 4);
    assert_eq!(back, expected);
}

fn outer() -> Config2 {
    Config2 {
        name: "outer".into(),
        retries: 2,
        ratio: 1.25,
        tags: vec!["a".into()],
        limits: BTreeMap::from([("mem".into(), 64)]),
        nested: None,
        mode: Mode::Fast,
    }
}

#[test]
fn maat_data_that_does_not_fit_is_an_error_naming_the_type() {
    let mut rt = Runtime::new(Config::default());
    let e = rt.value::<Serde<Config2>>("{name => \"x\"}").unwrap_err();
    assert!(e.to_string().contains("missing field `retries`"), "{e}");
    let e = rt.value::<Serde<Vec<u8>>>("[{ || 1 }]").unwrap_err();
    assert!(e.to_string().contains("got Closure"), "{e}");
    let m: Serde<BTreeMap<u32, String>> = rt.value("{1 => \"one\", 2 => \"two\"}").unwrap();
    assert_eq!(m.0, BTreeMap::from([(1, "one".into()), (2, "two".into())]));
}
