#!/usr/bin/env bash
# The Are-We-Fast-Yet suite side by side: each benchmark in Maat (the ports
# in this folder), Lua 5.4, LuaJIT's interpreter (`luajit -joff`) and
# CPython (the suite's own implementations, in AWFY_DIR/lua and
# AWFY_DIR/python), ROUNDS times each, interleaved (Maat, Lua, LuaJIT,
# Python, Maat, …). Every run must verify its result (each harness checks it
# and fails otherwise). Prints the median of the harness's total time per
# implementation, the ratios Maat / other (below 1: Maat is faster), Maat's
# peak memory over Lua's, and the geometric means of the ratios.
#   benches/awfy/run.sh [AWFY_DIR] [ROUNDS] [BENCHMARK...]
# AWFY_DIR defaults to ../shared/awfy beside the repository; ROUNDS to 3.
# An implementation that is not installed is left out (its column shows -).
# Sizes are below (outer iterations, inner iterations); inner sizes are ones
# the suite's harnesses know the results of.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
awfy=$(realpath "${1:-$root/../shared/awfy}")
rounds=${2:-3}
shift $(($# > 2 ? 2 : $#))
[ -d "$awfy/lua" ] && [ -d "$awfy/python" ] || { echo "no suite at $awfy (lua/ and python/)" >&2; exit 2; }
cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin maat
maat="$root/target/release/maat"

sizes=(
    "Bounce 1 250" "CD 3 10" "DeltaBlue 1 2000" "Havlak 1 1" "Json 1 20" "List 1 300"
    "Mandelbrot 1 500" "NBody 1 250000" "Permute 1 100" "Queens 1 100" "Richards 1 5"
    "Sieve 1 300" "Storage 1 50" "Towers 1 50"
)
wanted=("$@")

# Runs one benchmark in one implementation; prints "total_us peak_kib", or
# fails with the run's output.
run() {
    local impl=$1 name=$2 outer=$3 inner=$4 out
    local lower
    lower=$(tr '[:upper:]' '[:lower:]' <<<"$name")
    case $impl in
        maat) out=$( { /usr/bin/time -f 'peak %M' "$maat" run "$here/$lower.maat" "$outer" "$inner"; } 2>&1 ) ;;
        lua) out=$(cd "$awfy/lua" && { /usr/bin/time -f 'peak %M' lua5.4 harness.lua "$name" "$outer" "$inner"; } 2>&1) ;;
        luajit) out=$(cd "$awfy/lua" && { /usr/bin/time -f 'peak %M' luajit -joff harness.lua "$name" "$outer" "$inner"; } 2>&1) ;;
        python) out=$(cd "$awfy/python" && { /usr/bin/time -f 'peak %M' python3 harness.py "$name" "$outer" "$inner"; } 2>&1) ;;
    esac || { echo "$impl $name failed:" >&2; echo "$out" >&2; return 1; }
    local total peak
    total=$(grep -o 'average: [0-9]*us total: [0-9]*us' <<<"$out" | grep -o 'total: [0-9]*' | grep -o '[0-9]*$') ||
        { echo "$impl $name printed no total:" >&2; echo "$out" >&2; return 1; }
    peak=$(grep -o '^peak [0-9]*' <<<"$out" | tail -1 | cut -d' ' -f2)
    echo "$total $peak"
}

median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

impls=(maat)
command -v lua5.4 >/dev/null && impls+=(lua)
command -v luajit >/dev/null && impls+=(luajit)
command -v python3 >/dev/null && impls+=(python)
has() { [[ " ${impls[*]} " == *" $1 "* ]]; }

printf '%-11s %10s %10s %10s %10s %8s %8s %8s %9s\n' benchmark "maat ms" "lua ms" "luajit ms" "py ms" \
    maat/lua maat/jit maat/py "mem/lua"
ratios=$(mktemp)
for entry in "${sizes[@]}"; do
    read -r name outer inner <<<"$entry"
    if [ ${#wanted[@]} -gt 0 ] && [[ " ${wanted[*]} " != *" $name "* ]]; then continue; fi
    declare -A times=() peaks=()
    for _ in $(seq "$rounds"); do
        for impl in "${impls[@]}"; do
            read -r t m <<<"$(run "$impl" "$name" "$outer" "$inner")"
            times[$impl]="${times[$impl]:-} $t"
            peaks[$impl]="${peaks[$impl]:-} $m"
        done
    done
    declare -A ms=() mem=()
    for impl in "${impls[@]}"; do
        ms[$impl]=$(echo "${times[$impl]}" | median | awk '{ printf "%.1f", $1 / 1000 }')
        mem[$impl]=$(echo "${peaks[$impl]}" | median)
    done
    ratio() { has "$1" && awk -v a="${ms[maat]}" -v b="${ms[$1]}" 'BEGIN { printf "%.2f", a / b }' || echo -; }
    col() { has "$1" && echo "${ms[$1]}" || echo -; }
    rl=$(ratio lua) rj=$(ratio luajit) rp=$(ratio python)
    rm=$(has lua && awk -v a="${mem[maat]}" -v b="${mem[lua]}" 'BEGIN { printf "%.2f", a / b }' || echo -)
    printf '%-11s %10s %10s %10s %10s %8s %8s %8s %9s\n' "$name" "${ms[maat]}" "$(col lua)" "$(col luajit)" \
        "$(col python)" "$rl" "$rj" "$rp" "$rm"
    echo "$rl $rj $rp" >>"$ratios"
    unset times peaks ms mem
done
awk '{ for (i = 1; i <= 3; i++) if ($i != "-") { s[i] += log($i); n[i]++ } }
     END { printf "%-11s %10s %10s %10s %10s", "geomean", "", "", "", "";
           for (i = 1; i <= 3; i++) printf " %8s", n[i] ? sprintf("%.2f", exp(s[i] / n[i])) : "-"; print "" }' "$ratios"
rm -f "$ratios"
