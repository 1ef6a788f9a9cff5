#!/usr/bin/env bash
# The fast loop's address check: builds the interpreter with the loop at
# each of the four offsets past a 64-byte boundary that `layout.rs` allows
# (MAAT_FAST_LOOP_OFFSET = 0, 16, 32, 48), runs a few loop-bound benchmarks
# with the builds interleaved, and prints each build's median time (ms).
# Run it after a change to the fast loop (vm/src/interp/fast.rs), and set
# `layout.rs`'s default to the fastest offset.
#   benches/awfy/layout.sh [RUNS] [BENCHMARK...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
runs=${1:-5}
[ $# -gt 0 ] && shift
benchmarks=("$@")
[ ${#benchmarks[@]} -gt 0 ] || benchmarks=("Mandelbrot 1 500" "Sieve 1 300" "Queens 1 100")
offsets=(0 16 32 48)
bins=$(mktemp -d)
trap 'rm -rf "$bins"' EXIT
for offset in "${offsets[@]}"; do
    MAAT_FAST_LOOP_OFFSET=$offset cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin maat
    cp "$root/target/release/maat" "$bins/maat-$offset"
    # The padding must have put the loop where asked.
    address=$(nm "$bins/maat-$offset" | awk '/run_simple/ && !seen { print $1; seen = 1 }')
    placed=$(( 16#$address % 64 ))
    [ "$placed" -eq "$offset" ] || { echo "the loop starts $placed bytes past a 64-byte boundary, not $offset" >&2; exit 1; }
done
# Leave the default build in target/ as it was.
cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin maat

total_us() { # the harness's total time of one run, in µs
    "$@" 2>&1 | grep -o 'total: [0-9]*us' | grep -o '[0-9]*' || { echo "failed: $*" >&2; exit 1; }
}
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

printf '%-18s' benchmark
for offset in "${offsets[@]}"; do printf '%10s' "at $offset"; done
echo
for entry in "${benchmarks[@]}"; do
    read -r name outer inner <<<"$entry"
    lower=$(tr '[:upper:]' '[:lower:]' <<<"$name")
    declare -A times=()
    for ((run = 0; run < runs; run++)); do
        for offset in "${offsets[@]}"; do
            times[$offset]+=" $(total_us "$bins/maat-$offset" run "$here/$lower.maat" "$outer" "$inner")"
        done
    done
    printf '%-18s' "$entry"
    for offset in "${offsets[@]}"; do
        printf '%10.1f' "$(echo "${times[$offset]}" | median | awk '{ print $1 / 1000 }')"
    done
    echo
done
