#!/usr/bin/env bash
# Runs each fuzz target given (built by `make fuzz` into Fuzz/.build/debug) on its corpus for SECONDS, and
# prints one line per target: executions, corpus size and crashes. Inputs that crash are kept in
# Fuzz/.build/artifacts/TARGET/ (replay one with `Fuzz/.build/debug/TARGET FILE`); each becomes a regression test.
# Usage: tools/fuzz/run.sh SECONDS TARGET...   (FUZZ_JOBS=2 runs two targets at a time)
set -uo pipefail
cd "$(dirname "$0")/../.."
seconds="$1"; shift
jobs="${FUZZ_JOBS:-1}"
run_one() {
    local target="$1" dir="Fuzz/.build"
    mkdir -p "$dir/artifacts/$target" "$dir/corpus/$target" "$dir/logs"
    "$dir/debug/$target" "$dir/corpus/$target" -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=20 \
        -print_final_stats=1 -artifact_prefix="$dir/artifacts/$target/" > "$dir/logs/$target.log" 2>&1
    local status=$?
    local runs corpus crashes
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$dir/logs/$target.log" | grep -o '[0-9]*$' | tail -n 1)
    corpus=$(ls "$dir/corpus/$target" | wc -l)
    crashes=$(ls "$dir/artifacts/$target" | wc -l)
    echo "$target: ${runs:-?} executions in ${seconds} s, corpus $corpus, crash artifacts $crashes, exit $status"
}
export -f run_one
export seconds
printf '%s\n' "$@" | xargs -P "$jobs" -I{} bash -c 'run_one "$@"' _ {}
! ls Fuzz/.build/artifacts/*/* >/dev/null 2>&1
