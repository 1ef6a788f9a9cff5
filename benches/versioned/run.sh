#!/usr/bin/env bash
# Read throughput of a versioned map against one shared Map (locked per
# operation) and against one big lock (every read a read-modify-write
# section on the variable holding the map): READERS maatines read random
# keys of a 100,000-entry map while one writer commits UPDATES updates, on
# 1, 2 and 4 OS threads. Prints the median of ROUNDS interleaved runs of
# each (reads per second) and the versioned map's ratio to each other one:
# the median of the rounds' own ratios, each from three runs made one
# after the other (the machine's speed drifts between rounds more than
# within one), so they can differ from the ratio of the medians.
#   benches/versioned/run.sh [ROUNDS] [READERS] [READS] [UPDATES]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
rounds=${1:-3}
readers=${2:-4}
reads=${3:-100000}
updates=${4:-1000}
cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin maat
maat="$root/target/release/maat"
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
printf '%-8s %14s %14s %14s %12s %12s\n' threads versioned "shared map" "big lock" "vs shared" "vs big lock"
for threads in 1 2 4; do
    declare -A got=()
    for _ in $(seq "$rounds"); do
        declare -A now=()
        for p in versioned shared_map big_lock; do
            now[$p]=$("$maat" run --threads "$threads" "$here/$p.maat" "$readers" "$reads" 100000 "$updates" | grep -o '[0-9]* reads/s' | cut -d' ' -f1)
            got[$p]="${got[$p]:-} ${now[$p]}"
        done
        got[vs]="${got[vs]:-} $(echo "${now[versioned]} / ${now[shared_map]}" | bc -l)"
        got[vb]="${got[vb]:-} $(echo "${now[versioned]} / ${now[big_lock]}" | bc -l)"
    done
    printf '%-8s %14s %14s %14s %12.2f %12.2f\n' "$threads" "$(median <<<"${got[versioned]}")" \
        "$(median <<<"${got[shared_map]}")" "$(median <<<"${got[big_lock]}")" "$(median <<<"${got[vs]}")" "$(median <<<"${got[vb]}")"
done
