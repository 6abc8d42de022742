#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# The cheese-shop workload on Python's weakref.WeakValueDictionary, timed per phase, for
# comparison with bench_containers' cheese_* cases (same keys, same phases).
"""Times Python's WeakValueDictionary on the cheese-shop workload.

Phases, each timed with time.perf_counter, best of --runs runs:
  insert  d[name] = cheese for every cheese (the catalog list holds the cheeses)
  lookup  d[name] through equal but distinct string objects (built with ''.join, so each
          lookup hashes its string afresh, as a C++ lookup does)
  drop    catalog.clear(): every cheese dies, its callback removes its entry; the dict ends
          empty (checked)
The cyclic garbage collector is off inside the timed phases, as timeit does.

Prints JSON: {"python": ..., "n": ..., "runs": ..., "ns_per_op": {"insert": .., ...}}.
"""

import argparse
import gc
import json
import platform
import sys
import time
import weakref

FILLER = "cheese-wensleydale-stilton"


def cheese_name(i: int) -> str:
    """Key i: 12 to 20 characters, unique by its digit prefix (bench/containers.cpp agrees)."""
    length = 12 + (i * 7919) % 9
    head = f"{i:06d}-"
    return (head + FILLER)[:length]


class Cheese:
    def __init__(self, kind: str, price: float) -> None:
        self.kind = kind
        self.price = price


def one_run(n: int) -> dict:
    names = [cheese_name(i) for i in range(n)]
    lookups = ["".join(list(name)) for name in names]  # equal, not identical
    assert all(a == b and a is not b for a, b in zip(names[:100], lookups[:100]))
    catalog = [Cheese(name, float(i % 97)) for i, name in enumerate(names)]
    stock = weakref.WeakValueDictionary()

    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        t0 = time.perf_counter()
        for name, cheese in zip(names, catalog):
            stock[name] = cheese
        t1 = time.perf_counter()
        del cheese  # the loop variable would keep the last cheese alive
        for name in lookups:
            stock[name]
        t2 = time.perf_counter()
        catalog.clear()
        t3 = time.perf_counter()
    finally:
        if gc_was_enabled:
            gc.enable()
    if len(stock) != 0:
        sys.exit(f"drop left {len(stock)} entries")
    scale = 1e9 / n
    return {
        "insert": (t1 - t0) * scale,
        "lookup": (t2 - t1) * scale,
        "drop": (t3 - t2) * scale,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="cheeses (default 200000)")
    parser.add_argument("--runs", type=int, default=7, help="runs; the best counts (default 7)")
    parser.add_argument("--out", help="also write the JSON to this file")
    args = parser.parse_args()

    best: dict = {}
    for _ in range(args.runs):
        for phase, ns in one_run(args.n).items():
            best[phase] = min(ns, best.get(phase, ns))
    result = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "n": args.n,
        "runs": args.runs,
        "statistic": "best of runs",
        "ns_per_op": best,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
