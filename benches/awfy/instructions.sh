#!/usr/bin/env bash
# Instruction counts, the noise-free view: each Are-We-Fast-Yet benchmark at
# a small size under `valgrind --tool=callgrind` (whole process, start-up
# included), in Maat and in Lua 5.4 (the suite's implementation in
# AWFY_DIR/lua), and the ratio Maat / Lua.
#   benches/awfy/instructions.sh [AWFY_DIR] [BENCHMARK...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
awfy=$(realpath "${1:-$root/../shared/awfy}")
[ $# -gt 0 ] && shift
cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin maat
maat="$root/target/release/maat"
# Sizes the harnesses verify; Havlak is left out (its smallest size runs for
# minutes under callgrind).
sizes=(
    "Bounce 1 20" "CD 1 2" "DeltaBlue 1 200" "Json 1 5" "List 1 20" "Mandelbrot 1 500" "NBody 1 250000"
    "Permute 1 20" "Queens 1 20" "Richards 1 1" "Sieve 1 20" "Storage 1 5" "Towers 1 5"
)
wanted=("$@")
count() { # prints the instructions a command ran
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null | awk '/Collected/ { print $4 }'
}
printf '%-11s %-8s %14s %14s %9s\n' benchmark size maat lua maat/lua
for entry in "${sizes[@]}"; do
    read -r name outer inner <<<"$entry"
    if [ ${#wanted[@]} -gt 0 ] && [[ " ${wanted[*]} " != *" $name "* ]]; then continue; fi
    lower=$(tr '[:upper:]' '[:lower:]' <<<"$name")
    m=$(count "$maat" run "$here/$lower.maat" "$outer" "$inner")
    l=$(cd "$awfy/lua" && count lua5.4 harness.lua "$name" "$outer" "$inner")
    printf '%-11s %-8s %14s %14s %9.2f\n' "$name" "$outer $inner" "$m" "$l" "$(echo "$m / $l" | bc -l)"
done
