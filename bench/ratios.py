#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Turns Google Benchmark JSON from bench_handles_* and bench_containers into markdown ratio
# tables with PASS/MISS against weakref's targets, and prints the cheese shop beside Python's.
"""Markdown ratio tables from Google Benchmark JSON output.

  ratios.py handles THREADED.json SINGLE.json    handle targets, one table per process
  ratios.py containers CONTAINERS.json           container targets
  ratios.py cheese PYTHON.json CONTAINERS.json   the cheese shop, C++ beside Python
  ratios.py blocks BLOCK.json                    a building block's cases beside its anchors

Cases are named <operation>/<implementation>[/min_time:T][/repeats:N][/real_time][/threads:N];
a ratio only ever pairs cases of one run (one JSON file). With repetitions, the "median"
aggregate is used; without, the median of the runs found. Times are CPU time per iteration,
which leaves out the time a shared machine's other tenants take the core, except in cases run
with UseRealTime (named .../real_time: the multi-threaded ones), where wall-clock time is the
point.

The threaded cases (get_own_keys, get_hot_keys, mixed_get_replace, on 1 and 2 threads) are
figures in items per second, all threads together. Where the JSON has every repetition (run
with --benchmark_display_aggregates_only, not --benchmark_report_aggregates_only), a figure is
the median of the repetitions during which the machine's other tenants took at most
QUIET_CORES (the case's others_cores counter), if at least MIN_QUIET of them were; its spread
is (max - min) / median of those same repetitions. Otherwise every repetition counts and the
figure is marked noisy.

A ratio beyond its target is a MISS; where the gap is smaller than the two cases' spread
(the root of the summed squares of their coefficients of variation over the repetitions, or of
their max-min spreads for threaded figures), the result says "within noise", which is not a
PASS.
"""

import argparse
import json
import statistics
import sys

UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def load(path):
    """Returns (context, {(operation, implementation, threads): row})."""
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    runs = {}
    medians = {}
    cvs = {}
    spreads = {}
    for b in doc["benchmarks"]:
        if b.get("error_occurred"):
            sys.exit(f"{path}: {b['name']}: {b.get('error_message')}")
        key = split_name(b["run_name"])
        field = "real_time" if "/real_time" in b["run_name"] else "cpu_time"
        if b.get("aggregate_unit") == "percentage":
            if b.get("aggregate_name") == "cv":
                cvs[key] = b[field]
            elif b.get("aggregate_name") == "spread":
                spreads[key] = b.get("items_per_second", b[field])
            continue
        row = {
            "time_ns": b[field] * UNIT_NS[b["time_unit"]],
            "label": b.get("label", ""),
            "counters": {k: v for k, v in b.items() if is_counter(k, v)},
            "cv": 0.0,
        }
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                medians[key] = row
        else:
            runs.setdefault(key, []).append(row)
    for key, rows in runs.items():
        if key not in medians:
            medians[key] = median_row(rows)
    for key, cv in cvs.items():
        if key in medians:
            medians[key]["cv"] = cv
    for key, row in medians.items():
        row["runs"] = runs.get(key, [])
        if key in spreads:
            row["spread"] = spreads[key]
    return doc.get("context", {}), medians


STANDARD_FIELDS = {
    "name", "run_name", "run_type", "repetitions", "repetition_index", "threads",
    "iterations", "real_time", "cpu_time", "time_unit", "family_index",
    "per_family_instance_index", "aggregate_name", "aggregate_unit", "label",
    "error_occurred", "error_message",
}


def is_counter(k, v):
    return k not in STANDARD_FIELDS and isinstance(v, (int, float))


def median_row(rows):
    counters = {}
    for k in rows[0]["counters"]:
        counters[k] = statistics.median(r["counters"][k] for r in rows)
    times = [r["time_ns"] for r in rows]
    mean = statistics.mean(times)
    return {
        "time_ns": statistics.median(times),
        "label": rows[0]["label"],
        "counters": counters,
        "cv": statistics.stdev(times) / mean if len(times) > 1 and mean > 0 else 0.0,
    }


def split_name(run_name):
    parts = run_name.split("/")
    threads = 1
    rest = []
    for p in parts[2:]:
        if p.startswith("threads:"):
            threads = int(p.split(":")[1])
        elif p not in ("real_time", "manual_time") and not p.startswith(
                ("iterations:", "min_time:", "min_warmup_time:", "repeats:")):
            rest.append(p)
    impl = "/".join([parts[1]] + rest) if len(parts) > 1 else ""
    return (parts[0], impl, threads)


def fmt_ns(ns):
    if ns >= 100:
        return f"{ns:,.0f}"
    if ns >= 10:
        return f"{ns:.1f}"
    return f"{ns:.2f}"


def verdict(ratio, limit, direction, spread=0.0):
    ok = ratio <= limit if direction == "<=" else ratio >= limit
    if ok:
        return "PASS"
    gap = abs(ratio - limit) / limit
    if gap < spread:
        return f"**MISS** (within noise: {gap:.1%} over, spread ±{spread:.1%})"
    return "**MISS**"


def spread(rows, metric, *keys):
    if metric != "time":
        return 0.0
    return sum(rows[k]["cv"] ** 2 for k in keys if k in rows) ** 0.5


def process_line(context, rows):
    labels = sorted({r["label"] for r in rows.values() if r["label"]})
    return (f"process: {context.get('weakref_process', '?')}; "
            f"`__libc_single_threaded` at start: {context.get('weakref_libc_single_threaded', '?')},"
            f" in the cases: {', '.join(labels) or '?'}; "
            f"{context.get('num_cpus', '?')} CPUs at {context.get('mhz_per_cpu', '?')} MHz, "
            f"{context.get('date', '?')}")


def value(rows, key, metric):
    row = rows.get(key)
    if row is None:
        return None
    if metric == "time":
        return row["time_ns"]
    return row["counters"].get(metric)


# --- handles ---------------------------------------------------------------------------------

# (operation, implementation, baseline, metric, limit in a threaded process, limit single)
HANDLE_TARGETS = [
    ("copy_destroy", "ref", "std_shared_ptr", "time", 1.0, 1.0),
    ("copy_destroy", "local_ref", "std_shared_ptr", "time", 0.25, 1.0),
    ("make_release", "ref", "std_make_shared", "time", 1.0, 1.0),
    ("make_release", "local_ref", "std_make_shared", "time", 1.0, 1.0),
    ("lock_release", "weak_ref", "std_weak_ptr", "time", 1.0, 1.0),
    ("lock_release", "local_weak_ref", "std_weak_ptr", "time", 0.25, 1.0),
    ("bytes_per_object", "ref", "std_allocate_shared", "bytes_per_object", 1.0, 1.0),
    ("bytes_per_object", "local_ref", "std_allocate_shared", "bytes_per_object", 1.0, 1.0),
]


def handles(paths):
    out = []
    for path in paths:
        context, rows = load(path)
        threaded = context.get("weakref_process", "").startswith("threaded")
        out.append(f"#### {'Threaded' if threaded else 'Single-threaded'} process (`{path}`)\n")
        out.append(process_line(context, rows) + "\n")
        out.append("| operation | implementation | median | baseline median | ratio | target | result |")
        out.append("|---|---|---:|---:|---:|---:|---|")
        for op, impl, base, metric, lim_t, lim_s in HANDLE_TARGETS:
            limit = lim_t if threaded else lim_s
            a = value(rows, (op, impl, 1), metric)
            b = value(rows, (op, base, 1), metric)
            if a is None or b is None:
                out.append(f"| {op} | {impl} | missing | | | ≤ {limit} | **MISS** |")
                continue
            unit = " ns" if metric == "time" else " B"
            show = fmt_ns if metric == "time" else (lambda v: f"{v:g}")
            noise = spread(rows, metric, (op, impl, 1), (op, base, 1))
            out.append(f"| {op} | `{impl}` vs `{base}` | {show(a)}{unit} | {show(b)}{unit} | "
                       f"{a / b:.3f} | ≤ {limit} | {verdict(a / b, limit, '<=', noise)} |")
        out.append("")
    return "\n".join(out)


# --- containers ------------------------------------------------------------------------------

# (operation, implementation, baseline, metric, limit)
CONTAINER_TARGETS = [
    ("get", "weak_value_map", "hand_rolled_mutex", "time", 1.0),
    ("get", "local_weak_value_map", "hand_rolled", "time", 1.0),
    ("get", "weak_value_map", "floor", "time", 1.5),
    ("get", "local_weak_value_map", "floor", "time", 1.5),
    ("insert_or_assign", "weak_value_map", "hand_rolled_mutex", "time", 1.0),
    ("insert_or_assign", "local_weak_value_map", "hand_rolled", "time", 1.0),
    ("churn", "weak_value_map", "hand_rolled_mutex", "time", 1.0),
    ("churn", "local_weak_value_map", "hand_rolled", "time", 1.0),
    ("bytes_per_entry", "weak_value_map", "hand_rolled_mutex", "bytes_per_entry", 1.0),
    ("bytes_per_entry", "local_weak_value_map", "hand_rolled", "bytes_per_entry", 1.0),
]


def per_op_ns(rows, key):
    row = rows.get(key)
    if row is None:
        return None
    ops = row["counters"].get("ops_per_iteration", 1.0)
    return row["time_ns"] / ops


def containers(path):
    context, rows = load(path)
    out = [f"#### Containers (`{path}`)\n", process_line(context, rows) + "\n"]
    out.append("| operation | implementation | baseline | median | baseline median | ratio | "
               "target | result |")
    out.append("|---|---|---|---:|---:|---:|---:|---|")
    for op, impl, base, metric, limit in CONTAINER_TARGETS:
        if metric == "time":
            a, b = per_op_ns(rows, (op, impl, 1)), per_op_ns(rows, (op, base, 1))
            unit, show = " ns/op", fmt_ns
        else:
            a, b = value(rows, (op, impl, 1), metric), value(rows, (op, base, 1), metric)
            unit, show = " B", (lambda v: f"{v:.1f}")
        if a is None or b is None:
            out.append(f"| {op} | {impl} | {base} | missing | | | ≤ {limit} | **MISS** |")
            continue
        noise = spread(rows, metric, (op, impl, 1), (op, base, 1))
        out.append(f"| {op} | `{impl}` | `{base}` | {show(a)}{unit} | {show(b)}{unit} | "
                   f"{a / b:.3f} | ≤ {limit} | {verdict(a / b, limit, '<=', noise)} |")
    out.append("")

    out.append(threaded_tables(context, rows))

    # Everything measured, per operation, for the reader who wants the other pairs.
    out.append("<details><summary>every case (median ns per operation; counters)</summary>\n")
    out.append("| case | threads | ns/op | counters |")
    out.append("|---|---:|---:|---|")
    for (op, impl, threads), row in sorted(rows.items()):
        counters = ", ".join(f"{k}={v:.4g}" for k, v in sorted(row["counters"].items()))
        out.append(f"| {op}/{impl} | {threads} | {fmt_ns(per_op_ns(rows, (op, impl, threads)))} "
                   f"| {counters} |")
    out.append("\n</details>\n")
    return "\n".join(out)


# --- the threaded cases ------------------------------------------------------------------------

QUIET_CORES = 0.1  # tenants::quiet_cores in containers.cpp
MIN_QUIET = 5      # quiet repetitions a figure needs, else it counts them all and says "noisy"
THREADED = [
    ("get_own_keys", "get, each thread its own keys"),
    ("get_hot_keys", "get, 64 hot keys shared by the threads"),
    ("mixed_get_replace", "90% get, 10% replace (the old value dies)"),
]
THREADED_IMPLS = ["floor", "hand_rolled_mutex", "shared_mutex", "sharded16", "tbb",
                  "weak_value_map"]
OURS = "weak_value_map"


def threaded_figure(rows, op, impl, threads):
    """{"ips", "spread", "kept", "total", "noisy"} for one threaded case, or None."""
    row = rows.get((op, impl, threads))
    if row is None:
        return None
    runs = [r for r in row["runs"] if "items_per_second" in r["counters"]]
    if not runs:  # aggregates only: Google Benchmark's median and spread, every repetition
        return {"ips": row["counters"].get("items_per_second"), "spread": row.get("spread", 0.0),
                "kept": None, "total": None, "noisy": False}
    quiet = [r for r in runs if r["counters"].get("others_cores", 0.0) <= QUIET_CORES]
    use = quiet if len(quiet) >= MIN_QUIET else runs
    ips = sorted(r["counters"]["items_per_second"] for r in use)
    mid = statistics.median(ips)
    return {"ips": mid, "spread": (ips[-1] - ips[0]) / mid if mid else 0.0,
            "kept": len(quiet), "total": len(runs), "noisy": len(quiet) < MIN_QUIET}


def show_figure(f):
    if f is None:
        return "missing", ""
    kept = "" if f["kept"] is None else f" ({f['kept']}/{f['total']} quiet)"
    noisy = " **noisy**" if f["noisy"] else ""
    return f"{f['ips'] / 1e6:.2f} M", f"{f['spread']:.1%}{kept}{noisy}"


def ratio_of(a, b):
    """a / b of two figures and its spread (root of the summed squares of theirs)."""
    if a is None or b is None or not b["ips"]:
        return None, 0.0
    return a["ips"] / b["ips"], (a["spread"] ** 2 + b["spread"] ** 2) ** 0.5


def threaded_tables(context, rows):
    tbb = context.get("weakref_tbb", "?")
    have_tbb = any(k[1] == "tbb" for k in rows if k[0] in dict(THREADED))
    no_tbb = f"n/a: no tbb cases (oneTBB {tbb})" if tbb != "?" else "n/a: no tbb cases"
    out = ["One container per implementation, shared by the threads; items/s are the operations "
           "of all threads per second of wall time, the median of the repetitions during which "
           f"other tenants took at most {QUIET_CORES} core; the spread is (max − min) ÷ median "
           "of those repetitions. 2 ÷ 1 divides the 2-thread figure by the 1-thread "
           f"one. oneTBB: {tbb}.\n"]
    out.append("| workload | implementation | items/s, 1 thread | spread | items/s, 2 threads | "
               "spread | 2 ÷ 1 |")
    out.append("|---|---|---:|---|---:|---|---:|")
    for op, title in THREADED:
        for impl in THREADED_IMPLS:
            one = threaded_figure(rows, op, impl, 1)
            two = threaded_figure(rows, op, impl, 2)
            if one is None and two is None:
                if impl == "tbb" and not have_tbb:
                    out.append(f"| {title} | `tbb` | {no_tbb} | | | | |")
                continue
            r, _ = ratio_of(two, one)
            out.append(f"| {title} | `{impl}` | " + " | ".join(show_figure(one)) + " | " +
                       " | ".join(show_figure(two)) + f" | {'' if r is None else f'{r:.2f}'} |")
    out.append("")

    out.append("| figure | value | target | result |")
    out.append("|---|---:|---|---|")

    def line(name, value, target, limit, direction, noise, shown=None):
        if value is None:
            out.append(f"| {name} | missing | {target} | **MISS** |")
        else:
            out.append(f"| {name} | {shown or f'{value:.2f}'} | {target} | "
                       f"{verdict(value, limit, direction, noise)} |")

    def two_over_one(op, impl):
        return ratio_of(threaded_figure(rows, op, impl, 2), threaded_figure(rows, op, impl, 1))

    # get, own keys: 2 ÷ 1 at least 1.8, and at least 0.9 of the floor's 2 ÷ 1.
    ours, ours_noise = two_over_one("get_own_keys", OURS)
    floor, floor_noise = two_over_one("get_own_keys", "floor")
    limit = max(1.8, 0.9 * floor) if floor is not None else 1.8
    line(f"get, own keys, 2 ÷ 1, `{OURS}`", ours,
         f"≥ 1.8 and ≥ 0.9 × the floor's {floor:.2f}" if floor is not None else "≥ 1.8",
         limit, ">=", (ours_noise ** 2 + floor_noise ** 2) ** 0.5)
    # get, hot keys: 2 ÷ 1 at least oneTBB's.
    ours, ours_noise = two_over_one("get_hot_keys", OURS)
    theirs, their_noise = two_over_one("get_hot_keys", "tbb")
    if theirs is None and not have_tbb:
        out.append(f"| get, hot keys, 2 ÷ 1, `{OURS}` | "
                   f"{'missing' if ours is None else f'{ours:.2f}'} | ≥ oneTBB's | {no_tbb} |")
    else:
        line(f"get, hot keys, 2 ÷ 1, `{OURS}`", None if theirs is None else ours,
             "≥ oneTBB's" + ("" if theirs is None else f" {theirs:.2f}"), theirs, ">=",
             (ours_noise ** 2 + their_noise ** 2) ** 0.5)
    # mixed: 2-thread throughput at least 1.2 × oneTBB's.
    r, noise = ratio_of(threaded_figure(rows, "mixed_get_replace", OURS, 2),
                        threaded_figure(rows, "mixed_get_replace", "tbb", 2))
    if not have_tbb:
        out.append(f"| 90/10 mixed, 2 threads, `{OURS}` ÷ `tbb` | | ≥ 1.2 | {no_tbb} |")
    else:
        line(f"90/10 mixed, 2 threads, `{OURS}` ÷ `tbb` items/s", r, "≥ 1.2", 1.2, ">=", noise)
    # get, 1 thread: time per get at most 1.3 × the floor's (items/s inverted).
    r, noise = ratio_of(threaded_figure(rows, "get_own_keys", "floor", 1),
                        threaded_figure(rows, "get_own_keys", OURS, 1))
    line(f"get, own keys, 1 thread, `{OURS}` ÷ `floor` time per get", r, "≤ 1.3", 1.3, "<=",
         noise)
    # The single-threaded cases, against the hand-rolled map behind one mutex.
    for op, name in (("churn", "churn (values die in a shuffled order), time"),
                     ("insert_or_assign", "insert_or_assign of a present key, time")):
        a, b = per_op_ns(rows, (op, OURS, 1)), per_op_ns(rows, (op, "hand_rolled_mutex", 1))
        line(f"{name}, `{OURS}` ÷ `hand_rolled_mutex`", None if a is None or not b else a / b,
             "≤ 1.0", 1.0, "<=", spread(rows, "time", (op, OURS, 1),
                                         (op, "hand_rolled_mutex", 1)))
    for op, metric, name, target in (
            ("bytes_per_entry", "bytes_per_entry", "bytes per entry", "≤ 1.0"),
            ("churn", "peak_bytes_per_entry", "peak bytes per entry during churn", None),
            ("churn", "left_bytes_per_entry", "bytes per entry left after churn", None)):
        a = value(rows, (op, OURS, 1), metric)
        b = value(rows, (op, "hand_rolled_mutex", 1), metric)
        r = None if a is None or not b else a / b
        shown = None if r is None else f"{r:.3f} ({a:.1f} B vs {b:.1f} B)"
        if target:
            line(f"{name}, `{OURS}` ÷ `hand_rolled_mutex`", r, target, 1.0, "<=", 0.0, shown)
        else:
            out.append(f"| {name}, `{OURS}` ÷ `hand_rolled_mutex` | "
                       f"{'missing' if r is None else shown} | reported | |")
    steady = value(rows, ("bytes_per_entry", OURS, 1), "bytes_per_entry")
    peak = value(rows, ("churn", OURS, 1), "peak_bytes_per_entry")
    if steady and peak:
        out.append(f"| peak bytes during churn ÷ bytes per entry, `{OURS}` | {peak / steady:.3f} | "
                   "reported (what is kept beyond the live entries) | |")
    out.append("")
    return "\n".join(out)


# --- the cheese shop -------------------------------------------------------------------------

CHEESE_IMPLS = ["weak_value_map", "local_weak_value_map", "hand_rolled_mutex", "hand_rolled",
                "floor"]


def cheese(python_path, cxx_path):
    with open(python_path, encoding="utf-8") as f:
        py = json.load(f)
    context, rows = load(cxx_path)
    out = [f"#### Cheese shop, {py['n']:,} cheeses: ns per operation "
           f"(Python {py['python']} best of {py['runs']}; C++ median of repetitions)\n",
           process_line(context, rows) + "\n"]
    out.append("| phase | Python `WeakValueDictionary` | " +
               " | ".join(f"`{i}`" for i in CHEESE_IMPLS) +
               " | `weak_value_map` ÷ Python | `weak_value_map` ÷ `hand_rolled_mutex` | "
               "`local_weak_value_map` ÷ `hand_rolled` | result |")
    out.append("|---|---:|" + "---:|" * len(CHEESE_IMPLS) + "---:|---:|---:|---|")
    for phase in ("insert", "lookup", "drop"):
        p = py["ns_per_op"][phase]
        cells = {i: per_op_ns(rows, (f"cheese_{phase}", i, 1)) for i in CHEESE_IMPLS}
        shown = [fmt_ns(cells[i]) if cells[i] is not None else "missing" for i in CHEESE_IMPLS]
        ts, lo = cells["weak_value_map"], cells["local_weak_value_map"]
        hm, h = cells["hand_rolled_mutex"], cells["hand_rolled"]
        if None in (ts, lo, hm, h):
            out.append(f"| {phase} | {fmt_ns(p)} | " + " | ".join(shown) + " | | | | **MISS** |")
            continue
        ok = max(ts, lo) < p and ts <= hm and lo <= h
        out.append(f"| {phase} | {fmt_ns(p)} | " + " | ".join(shown) +
                   f" | {ts / p:.3f} | {ts / hm:.2f} | {lo / h:.2f} | "
                   f"{'PASS' if ok else '**MISS**'} |")
    out.append("")
    return "\n".join(out)


# --- building blocks -------------------------------------------------------------------------

# (operation, implementation, baseline, metric, direction, limit): issue targets of the
# building blocks; None where the figure is reported beside its anchors without a target.
BLOCK_TARGETS = [
    ("bytes_per_entry", "weak_interner", "weak_value_map", "bytes_per_entry", "<=", 0.8),
    ("bytes_per_entry", "local_weak_interner", "local_weak_value_map", "bytes_per_entry", "<=",
     0.8),
    ("intern_present", "weak_interner", "weak_value_map_get", "time", "<=", 1.0),
    ("intern_present", "local_weak_interner", "local_weak_value_map_get", "time", "<=", 1.0),
]

# Per operation, the implementation every other one is divided by (the first one present).
BLOCK_ANCHORS = ["std_function_vector", "weak_value_map_get", "weak_value_map", "std_weak_ptr",
                 "std_make_shared", "keep_recent_0"]


def blocks(path):
    """Every case of one run beside its operation's anchor, then the targets."""
    context, rows = load(path)
    out = [process_line(context, rows), ""]
    ops = {}
    for (op, impl, threads) in rows:
        ops.setdefault(op, []).append((impl, threads))
    for op in sorted(ops):
        impls = ops[op]
        out.append(f"#### {op}")
        out.append("")
        out.append("| implementation | threads | median | spread (cv) | counters | vs anchor |")
        out.append("|---|---:|---:|---:|---|---:|")
        for impl, threads in sorted(impls):
            row = rows[(op, impl, threads)]
            # The anchor: an implementation of the same operation, same threads and same
            # trailing size argument (".../10"), named first in BLOCK_ANCHORS.
            base_key = None
            size = impl.split("/")[1:] if "/" in impl else []
            for a in BLOCK_ANCHORS:
                cand = (op, "/".join([a] + size), threads)
                if cand in rows:
                    base_key = cand
                    break
            ratio = ""
            if base_key is not None and base_key != (op, impl, threads):
                ratio = f"{row['time_ns'] / rows[base_key]['time_ns']:.2f}"
            counters = ", ".join(f"{k} {v:,.2f}" for k, v in sorted(row["counters"].items())
                                 if k not in ("items_per_second", "bytes_per_second"))
            out.append(f"| {impl} | {threads} | {fmt_ns(row['time_ns'])} ns | "
                       f"{row['cv']:.1%} | {counters} | {ratio} |")
        out.append("")
    targets = [t for t in BLOCK_TARGETS
               if (t[0], t[1], 1) in rows and (t[0], t[2], 1) in rows]
    if targets:
        out.append("| figure | ratio | spread | target | result |")
        out.append("|---|---:|---:|---|---|")
        for op, impl, base, metric, direction, limit in targets:
            a = value(rows, (op, impl, 1), metric)
            b = value(rows, (op, base, 1), metric)
            if a is None or not b:
                continue
            r = a / b
            sp = spread(rows, metric, (op, impl, 1), (op, base, 1))
            out.append(f"| {op}: {impl} / {base} ({metric}) | {r:.2f} | ±{sp:.1%} | "
                       f"{direction} {limit} | {verdict(r, limit, direction, sp)} |")
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    h = sub.add_parser("handles", help="handle targets; one JSON per process")
    h.add_argument("json", nargs="+")
    c = sub.add_parser("containers", help="container targets")
    c.add_argument("json")
    s = sub.add_parser("cheese", help="cheese shop beside Python")
    s.add_argument("python_json")
    s.add_argument("cxx_json")
    b = sub.add_parser("blocks", help="building blocks beside their anchors")
    b.add_argument("json")
    args = parser.parse_args()
    if args.what == "handles":
        print(handles(args.json))
    elif args.what == "containers":
        print(containers(args.json))
    elif args.what == "blocks":
        print(blocks(args.json))
    else:
        print(cheese(args.python_json, args.cxx_json))


if __name__ == "__main__":
    main()
