#!/usr/bin/env bash
# Runs each benchmark program in Maat, Lua 5.4 and CPython side by side and
# prints wall times, peak memory and the ratios (Maat / other; below 1 means
# Maat is faster). Needs lua5.4 and python3 (Debian: apt-get install lua5.4).
#   benches/compare/run.sh [PROGRAM...]
set -euo pipefail
cd "$(dirname "$0")"
root=../..
cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin maat
maat="$root/target/release/maat"
programs=("$@")
[ ${#programs[@]} -eq 0 ] && programs=(binary_trees global_increment methods strings maps)

measure() { # prints "seconds peak_kib output"
    local out
    out=$( { /usr/bin/time -f '%e %M' "$@" > /tmp/maat-compare.out; } 2>&1 | tail -1)
    echo "$out $(head -c 60 /tmp/maat-compare.out | tr '\n' ' ')"
}

printf '%-18s %10s %10s %10s %9s %9s %11s\n' program maat lua python maat/lua maat/py "mem maat/lua"
for p in "${programs[@]}"; do
    read -r tm mm om <<<"$(measure "$maat" run "$p.maat")"
    read -r tl ml ol <<<"$(measure lua5.4 "$p.lua")"
    read -r tp mp op <<<"$(measure python3 "$p.py")"
    if [ "$om" != "$ol" ] || [ "$om" != "$op" ]; then
        echo "$p: outputs differ: maat '$om' lua '$ol' python '$op'" >&2
        exit 1
    fi
    printf '%-18s %9ss %9ss %9ss %9.2f %9.2f %11.2f\n' "$p" "$tm" "$tl" "$tp" \
        "$(echo "$tm / $tl" | bc -l)" "$(echo "$tm / $tp" | bc -l)" "$(echo "$mm / $ml" | bc -l)"
done
