#!/usr/bin/env bash
# Reports how many test cases a build without exceptions and RTTI runs, and fails unless it runs
# every case of a full build but those tagged [needs-exceptions] or [needs-rtti] (which it
# compiles out; tests/support/exceptions.hpp). So nothing is compiled out unseen, and no case
# tagged so is left in.
#
#   tools/check_case_counts.sh <full build dir> <build dir without exceptions and RTTI> [binary...]
#
# The binaries (under <dir>/tests/) default to every Catch2 test program.
set -euo pipefail
full=$1
reduced=$2
shift 2
binaries=("$@")
if [ ${#binaries[@]} -eq 0 ]; then
    binaries=(weakref_tests_sync weakref_tests_local weakref_tests_detail weakref_tests_threads
              weakref_tests_anchor_allocations weakref_tests_table_allocations
              weakref_tests_nested)
fi

# count <binary> [filter]: the number of test cases the binary lists (Catch2 v2 and v3 both end
# the list with "N test cases" or "N matching test cases").
count() {
    local out n
    out=$("$@" --list-tests 2>&1) || true
    n=$(sed -n 's/^ *\([0-9][0-9]*\) \(matching \)\{0,1\}test cases\{0,1\}.*$/\1/p' <<<"$out" | tail -n 1)
    [ -n "$n" ] || { echo "no test case count from: $*" >&2; echo "$out" >&2; exit 1; }
    echo "$n"
}

status=0
total_full=0
total_reduced=0
for b in "${binaries[@]}"; do
    [ -x "$full/tests/$b" ] || { echo "$full/tests/$b: not built" >&2; exit 1; }
    [ -x "$reduced/tests/$b" ] || { echo "$reduced/tests/$b: not built" >&2; exit 1; }
    all=$(count "$full/tests/$b")
    needs=$(count "$full/tests/$b" "[needs-exceptions],[needs-rtti]")
    runs=$(count "$reduced/tests/$b")
    echo "$(basename "$reduced"): $b runs $runs of $all test cases ($needs need exceptions or RTTI)"
    total_full=$((total_full + all))
    total_reduced=$((total_reduced + runs))
    if [ "$runs" -ne $((all - needs)) ] || [ "$runs" -eq 0 ]; then
        echo "  expected $((all - needs)): a case compiled out without [needs-exceptions] or" \
             "[needs-rtti], or one so tagged that is still built" >&2
        status=1
    fi
done
echo "$(basename "$reduced"): $total_reduced of $total_full test cases in all"
exit $status
