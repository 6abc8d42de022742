#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Turns Google Benchmark JSON from bench_handles_* and bench_containers into markdown ratio
# tables with PASS/MISS against weakref's targets, and prints the cheese shop beside Python's.
"""Markdown ratio tables from Google Benchmark JSON output.

  ratios.py handles THREADED.json SINGLE.json    handle targets, one table per process
  ratios.py containers CONTAINERS.json           container targets
  ratios.py cheese PYTHON.json CONTAINERS.json   the cheese shop, C++ beside Python

Cases are named <operation>/<implementation>[/real_time][/threads:N]; a ratio only ever pairs
cases of one run (one JSON file). With repetitions, the "median" aggregate is used; without,
the median of the runs found. Times are CPU time per iteration, which leaves out the time a
shared machine's other tenants take the core, except in cases run with UseRealTime (named
.../real_time: the multi-threaded ones), where wall-clock time is the point.

A ratio beyond its target is a MISS; where the gap is smaller than the two cases' spread
(the root of the summed squares of their coefficients of variation over the repetitions), the
result says "within noise", which is not a PASS.
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
    for b in doc["benchmarks"]:
        if b.get("error_occurred"):
            sys.exit(f"{path}: {b['name']}: {b.get('error_message')}")
        key = split_name(b["run_name"])
        field = "real_time" if "/real_time" in b["run_name"] else "cpu_time"
        if b.get("aggregate_unit") == "percentage":
            if b.get("aggregate_name") == "cv":
                cvs[key] = b[field]
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
        elif p not in ("real_time", "manual_time") and not p.startswith("iterations:"):
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

    # Throughput of get on 2 threads (different keys) against 1 thread, same implementation.
    out.append("| get on threads | implementation | items/s, 1 thread | items/s, 2 threads | "
               "2 ÷ 1 | target | result |")
    out.append("|---|---|---:|---:|---:|---:|---|")
    impls = sorted({k[1] for k in rows if k[0] == "get_threads"})
    for impl in impls:
        one = value(rows, ("get_threads", impl, 1), "items_per_second")
        two = value(rows, ("get_threads", impl, 2), "items_per_second")
        if one is None or two is None:
            continue
        noise = spread(rows, "time", ("get_threads", impl, 1), ("get_threads", impl, 2))
        target, result = ("≥ 1.6", verdict(two / one, 1.6, ">=", noise)) \
            if impl == "weak_value_map" else ("", "")
        out.append(f"| get, different keys | `{impl}` | {one / 1e6:.2f} M | {two / 1e6:.2f} M | "
                   f"{two / one:.2f} | {target} | {result} |")
    out.append("")

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
    args = parser.parse_args()
    if args.what == "handles":
        print(handles(args.json))
    elif args.what == "containers":
        print(containers(args.json))
    else:
        print(cheese(args.python_json, args.cxx_json))


if __name__ == "__main__":
    main()
