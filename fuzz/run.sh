#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the differential fuzzer with clang++ into build/fuzz and runs it for a bounded number of
# inputs over a scratch copy of the seed corpus; exits nonzero on a difference or a crash.
#
#   fuzz/run.sh                 # 100000 inputs (the CI run)
#   fuzz/run.sh -runs=-1 -max_total_time=1800   # any extra libFuzzer flags go last and win
set -euo pipefail
cd "$(dirname "$0")/.."

build=build/fuzz
cxx=${CXX_FUZZ:-clang++}
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)

if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S . -B "$build" "${generator[@]}" -DCMAKE_CXX_COMPILER="$cxx" \
        -DWEAKREF_BUILD_FUZZER=ON -DWEAKREF_BUILD_TESTS=OFF -DWEAKREF_BUILD_EXAMPLES=OFF \
        -DWEAKREF_BUILD_BENCH=OFF -DWEAKREF_INSTALL=OFF
fi
cmake --build "$build" --target weakref_fuzzer

# libFuzzer adds what it finds to the first corpus directory: fuzz a copy, keep the seeds clean.
work="$build/corpus"
rm -rf "$work"
mkdir -p "$work" "$build/artifacts"
cp fuzz/corpus/seed-* "$work/"

# The regressions must pass first.
if compgen -G "fuzz/regressions/*" >/dev/null; then
    "$build/fuzz/weakref_fuzzer" fuzz/regressions/*
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
"$build/fuzz/weakref_fuzzer" -runs=100000 -max_len=512 -seed=1 -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/" "$@" "$work"
