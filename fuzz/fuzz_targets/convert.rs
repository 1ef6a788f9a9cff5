//! The embedding API's conversions: arbitrary host values go into Maat and
//! come back equal (NaN aside), through typed conversions that either
//! succeed or name the type they wanted.
#![no_main]

use std::collections::HashMap;

use arbitrary::Arbitrary;
use maat_vm::embed::{FromMaat, HostValue, Runtime};

#[derive(Arbitrary, Debug, Clone)]
enum Data {
    Nil,
    Bool(bool),
    Num(f64),
    Str(String),
    Array(Vec<Data>),
    Map(Vec<(String, Data)>),
}

fn host(d: &Data) -> HostValue {
    match d {
        Data::Nil => HostValue::Nil,
        Data::Bool(b) => HostValue::Bool(*b),
        Data::Num(n) => HostValue::Num(*n),
        Data::Str(s) => HostValue::Str(s.clone()),
        Data::Array(items) => HostValue::Array(items.iter().map(host).collect()),
        Data::Map(entries) => {
            // Maat maps keep one entry per key, the first place and the last value.
            let mut out: Vec<(HostValue, HostValue)> = Vec::new();
            for (k, v) in entries {
                let k = HostValue::Str(k.clone());
                match out.iter_mut().find(|(key, _)| *key == k) {
                    Some(entry) => entry.1 = host(v),
                    None => out.push((k, host(v))),
                }
            }
            HostValue::Map(out)
        }
    }
}

/// Equal, with NaN equal to NaN.
fn same(a: &HostValue, b: &HostValue) -> bool {
    match (a, b) {
        (HostValue::Num(x), HostValue::Num(y)) => x == y || (x.is_nan() && y.is_nan()),
        (HostValue::Array(x), HostValue::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (HostValue::Map(x), HostValue::Map(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((k1, v1), (k2, v2))| same(k1, k2) && same(v1, v2))
        }
        (a, b) => a == b,
    }
}

libfuzzer_sys::fuzz_target!(|data: Data| {
    let mut rt = Runtime::new(maat_gc::Config::default());
    rt.eval("fn echo(x) { return x }").unwrap();
    let value = host(&data);
    match rt.call::<_, HostValue>("echo", (value.clone(),)) {
        Ok(back) => assert!(same(&back, &value), "{value:?} came back as {back:?}"),
        // Only a structure too deep to copy may be refused.
        Err(e) => assert!(e.to_string().contains("nested deeper"), "{e}"),
    }
    // Typed conversions fail with an error, never a panic.
    let _ = Vec::<f64>::from_maat(value.clone());
    let _ = HashMap::<String, String>::from_maat(value.clone());
    let _ = <(u8,) as maat_vm::embed::FromArgs>::from_args(&[value]);
});
