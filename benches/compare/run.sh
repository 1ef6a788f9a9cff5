#!/usr/bin/env bash
# Runs each benchmark program in Maat, Lua 5.4 and CPython side by side and
# prints wall times, peak memory and the ratios (Maat / other; below 1 means
# Maat is faster). Then the concurrency programs: the contended counter in
# Maat, Go (sync.Mutex) and Python threads on 2 and 4 OS threads, with
# throughput and CPU time per increment, and parallel binary-trees on 1 and
# 2 threads. Needs lua5.4, python3 and go (Debian: apt-get install lua5.4
# golang-go).
#   benches/compare/run.sh [PROGRAM...]      (contended, parallel_trees too)
set -euo pipefail
cd "$(dirname "$0")"
root=../..
cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin maat
maat="$root/target/release/maat"
programs=("$@")
[ ${#programs[@]} -eq 0 ] && programs=(binary_trees global_increment methods strings maps contended parallel_trees)
sequential=()
concurrent=()
for p in "${programs[@]}"; do
    case "$p" in
        contended | parallel_trees) concurrent+=("$p") ;;
        *) sequential+=("$p") ;;
    esac
done

measure() { # prints "seconds peak_kib output"
    local out
    out=$( { /usr/bin/time -f '%e %M' "$@" > /tmp/maat-compare.out; } 2>&1 | tail -1)
    echo "$out $(head -c 60 /tmp/maat-compare.out | tr '\n' ' ')"
}

[ ${#sequential[@]} -gt 0 ] && printf '%-18s %10s %10s %10s %9s %9s %11s\n' program maat lua python maat/lua maat/py "mem maat/lua"
for p in "${sequential[@]}"; do
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

cpu() { # prints "wall_seconds cpu_seconds" of a command (its output discarded)
    { /usr/bin/time -f '%e %U %S' "$@" > /tmp/maat-compare.out; } 2>&1 | tail -1 | awk '{ print $1, $2 + $3 }'
}

for p in "${concurrent[@]}"; do
    case "$p" in
    contended)
        # Five rounds, each running every configuration once (interleaved, so
        # that the machine's drift hits them alike); medians per row.
        increments=10000000
        rounds=5
        go build -o /tmp/maat-contended-go contended.go
        names=("maat --threads 2" "go GOMAXPROCS=2" "maat --threads 4" "go GOMAXPROCS=4" "python threads")
        commands=("$maat run contended.maat --threads 2" "env GOMAXPROCS=2 /tmp/maat-contended-go"
            "$maat run contended.maat --threads 4" "env GOMAXPROCS=4 /tmp/maat-contended-go" "python3 contended.py")
        declare -A walls cpus
        for ((r = 0; r < rounds; r++)); do
            for i in "${!names[@]}"; do
                read -r wall cpu_s <<<"$(cpu ${commands[$i]})"
                [ "$(cat /tmp/maat-compare.out)" = "$increments" ] || { echo "${names[$i]}: wrong total" >&2; exit 1; }
                walls[$i]+="$wall "
                cpus[$i]+="$cpu_s "
            done
        done
        median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
        printf '\n%-28s %9s %12s %14s   (medians of %d interleaved runs)\n' "contended counter (1e7)" wall "M incr/s" "CPU ns/incr" "$rounds"
        for i in "${!names[@]}"; do
            wall=$(median <<<"${walls[$i]}")
            cpu_s=$(median <<<"${cpus[$i]}")
            printf '%-28s %8ss %12.1f %14.0f\n' "${names[$i]}" "$wall" "$(echo "$increments / $wall / 1000000" | bc -l)" \
                "$(echo "$cpu_s * 1000000000 / $increments" | bc -l)"
        done
        ;;
    parallel_trees)
        read -r w1 _ <<<"$(cpu "$maat" run parallel_trees.maat --threads 1)"
        read -r w2 _ <<<"$(cpu "$maat" run parallel_trees.maat --threads 2)"
        read -r ws _ <<<"$(cpu "$maat" run binary_trees.maat)"
        printf '\nparallel binary-trees: 1 thread %ss, 2 threads %ss: speed-up %.2fx (%.2fx over the sequential program, %ss)\n' \
            "$w1" "$w2" "$(echo "$w1 / $w2" | bc -l)" "$(echo "$ws / $w2" | bc -l)" "$ws"
        ;;
    esac
done
