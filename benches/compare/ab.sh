#!/usr/bin/env bash
# Before and after, in one sitting: runs each benchmark program with two
# `maat` binaries in turn (A B A B …, ROUNDS times), checks that both print
# the same, and prints the median wall time of each and the ratio B / A
# (below 1 means B is faster).
#   benches/compare/ab.sh OLD_MAAT NEW_MAAT [ROUNDS] [PROGRAM.maat...]
# Programs default to this folder's sequential ones.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 OLD_MAAT NEW_MAAT [ROUNDS] [PROGRAM.maat...]" >&2; exit 2; }
a=$(realpath "$1") b=$(realpath "$2")
shift 2
rounds=5
if [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then rounds=$1; shift; fi
cd "$(dirname "$0")"
programs=("$@")
[ ${#programs[@]} -eq 0 ] && programs=(binary_trees.maat global_increment.maat methods.maat strings.maat maps.maat)

seconds() { # runs a command; prints its wall time; its output goes to $out
    { /usr/bin/time -f '%e' "${@:2}" > "$1"; } 2>&1 | tail -1
}
median() { tr ' ' '\n' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

printf '%-34s %9s %9s %7s\n' program A B B/A
for p in "${programs[@]}"; do
    ta=() tb=()
    for _ in $(seq "$rounds"); do
        ta+=("$(seconds /tmp/maat-ab.a "$a" run "$p")")
        tb+=("$(seconds /tmp/maat-ab.b "$b" run "$p")")
        cmp -s /tmp/maat-ab.a /tmp/maat-ab.b || { echo "$p: outputs differ" >&2; exit 1; }
    done
    ma=$(echo "${ta[*]}" | median) mb=$(echo "${tb[*]}" | median)
    printf '%-34s %8ss %8ss %7.2f\n' "$p" "$ma" "$mb" "$(echo "$mb / $ma" | bc -l)"
done
