#!/usr/bin/env bash
# The script-level GC latency program in Maat (both collector modes, alone
# and as 4 maatines on 2 threads with shared windows), Lua 5.4 (both modes)
# and CPython, one after the other in one sitting: worst replacement, p99,
# wall time and peak resident memory (and Maat's against Lua's in the same
# mode). Needs lua5.4 and python3. Each round also measures the floor under
# the worst cases with two threads busy (floor.py: two processes that only
# read the clock; floor.maat: two maatines that do the same): no row that
# keeps both CPUs of a two-core machine busy can be measured below it.
#   benches/gc_latency/run.sh [ROUNDS]     (default 3; medians per row)
set -euo pipefail
cd "$(dirname "$0")"
root=../..
cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin maat
maat="$root/target/release/maat"
rounds=${1:-3}
names=("maat inc" "maat gen" "maat inc, 4 maatines" "maat gen, 4 maatines" "lua5.4 inc" "lua5.4 gen" "python3")
# (Options go before the program's argument: from there on, every word is one of its ARGS.)
commands=("$maat run latency.maat --gc inc --threads 2 1" "$maat run latency.maat --gc gen --threads 2 1"
    "$maat run latency.maat --gc inc --threads 2 4" "$maat run latency.maat --gc gen --threads 2 4"
    "lua5.4 latency.lua inc" "lua5.4 latency.lua gen" "python3 latency.py")
declare -A worst p99 wall mem
floors=("python3 floor.py 2 1" "$maat run floor.maat --threads 2 2 1")
floor_names=("floor: 2 processes reading the clock" "floor: 2 maatines reading the clock")
declare -A floor
for ((r = 0; r < rounds; r++)); do
    for i in "${!floors[@]}"; do
        out=$(${floors[$i]})
        [[ "$out" =~ worst\ gap\ ([0-9.]+)\ ms ]] || { echo "${floor_names[$i]}: $out" >&2; exit 1; }
        floor[$i]+="${BASH_REMATCH[1]} "
    done
    for i in "${!names[@]}"; do
        out=$({ /usr/bin/time -f 'TIME %e %M' ${commands[$i]}; } 2>&1)
        [[ "$out" =~ worst\ ([0-9.]+)\ ms,\ p99\ ([0-9]+)\ us ]] || { echo "${names[$i]}: $out" >&2; exit 1; }
        worst[$i]+="${BASH_REMATCH[1]} "
        p99[$i]+="${BASH_REMATCH[2]} "
        read -r _ w m <<<"$(grep '^TIME' <<<"$out")"
        wall[$i]+="$w "
        mem[$i]+="$m "
    done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
printf '%-24s %12s %9s %8s %10s   (medians of %d rounds)\n' program "worst (ms)" "p99 (us)" wall "peak MiB" "$rounds"
for i in "${!names[@]}"; do
    printf '%-24s %12s %9s %7ss %10d\n' "${names[$i]}" "$(median <<<"${worst[$i]}")" "$(median <<<"${p99[$i]}")" \
        "$(median <<<"${wall[$i]}")" "$(($(median <<<"${mem[$i]}") / 1024))"
done
for i in "${!floors[@]}"; do
    printf '%-40s %12s\n' "${floor_names[$i]}" "$(median <<<"${floor[$i]}")"
done
for m in 0 1; do
    printf 'peak memory, %s against %s: %.2f\n' "${names[$m]}" "${names[$((m + 4))]}" \
        "$(echo "$(median <<<"${mem[$m]}") / $(median <<<"${mem[$((m + 4))]}")" | bc -l)"
done
