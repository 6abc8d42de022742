#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the benchmarks (Release), runs every one with repetitions (the handles, the containers
# and the building blocks: anchor, signal, interner, document cache), runs Python's side of the
# cheese shop, and prints the ratio tables of bench/README.md; draws bench/ratios.png when
# matplotlib is there. The JSON goes to build/release/bench/results/.
#
#   bench/run.sh                 # 10 repetitions of each case, in a random order
#   REPETITIONS=20 bench/run.sh
#   JOBS=8 bench/run.sh          # build with 8 jobs (default 2)
#
# The threaded cases of bench_containers set their own repetitions and minimum time, and wait
# before each run for the machine's other tenants to be idle (at most 30 s a run, 10 minutes in
# all; WEAKREF_BENCH_PATIENCE=<seconds> changes the 30, 0 never waits). Their JSON keeps every
# repetition, so that ratios.py can leave out those during which other tenants ran. oneTBB
# (Debian: libtbb-dev) adds its concurrent_hash_map to them where CMake finds it.
set -euo pipefail
cd "$(dirname "$0")/.."

reps=${REPETITIONS:-10}
out=build/release/bench/results
cmake --preset release >/dev/null
cmake --build build/release -j "${JOBS:-2}" \
    --target bench_handles_threaded bench_handles_single bench_containers bench_anchor \
    bench_signal bench_interner bench_doc_cache
mkdir -p "$out"

run() { # <binary> <json> [<what the JSON keeps: report (aggregates) or display (every run)>]
    # Random interleaving: the repetitions of every case are spread over the whole run, so a
    # slow minute of the shared machine (its memory, which other tenants share, is the first
    # to slow) falls on every case alike instead of on the cases that ran in it.
    "build/release/bench/$1" --benchmark_repetitions="$reps" \
        --benchmark_enable_random_interleaving=true \
        --benchmark_"${3:-report}"_aggregates_only=true --benchmark_out="$out/$2" \
        --benchmark_out_format=json >/dev/null
}
run bench_handles_threaded handles_threaded.json
run bench_handles_single handles_single.json
run bench_containers containers.json display
for block in anchor signal interner doc_cache; do
    run "bench_$block" "$block.json"
done
python3 bench/python_cheese.py >"$out/python_cheese.json"

python3 bench/ratios.py handles "$out/handles_threaded.json" "$out/handles_single.json"
python3 bench/ratios.py containers "$out/containers.json"
python3 bench/ratios.py cheese "$out/python_cheese.json" "$out/containers.json"
for block in anchor signal interner doc_cache; do
    echo; echo "### bench_$block (results/$block.json)"; echo
    python3 bench/ratios.py blocks "$out/$block.json"
done

plotter=python3
python3 -c "import matplotlib" 2>/dev/null || plotter=/usr/bin/python3
if "$plotter" -c "import matplotlib" 2>/dev/null; then
    "$plotter" bench/plot.py "$out/handles_threaded.json" "$out/handles_single.json" \
        "$out/containers.json" "$out/python_cheese.json" -o bench/ratios.png
else
    echo "(no matplotlib: apt-get install python3-matplotlib to draw bench/ratios.png)"
fi
