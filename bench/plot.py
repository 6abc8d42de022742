#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Draws bench/ratios.png from the benchmarks' JSON output (needs matplotlib).

  plot.py THREADED.json SINGLE.json CONTAINERS.json PYTHON.json [-o bench/ratios.png]

One horizontal bar per target of bench/README.md: weakref's time (or bytes) divided by the
baseline's, measured in the same run; a bar left of its target mark meets the target. The
cheese shop's bars are weakref's time divided by Python's WeakValueDictionary's.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ratios  # noqa: E402  (the loader and the target tables)


def handle_bars(path):
    context, rows = ratios.load(path)
    threaded = context.get("weakref_process", "").startswith("threaded")
    where = "threaded process" if threaded else "single-threaded process"
    bars = []
    for op, impl, base, metric, lim_t, lim_s in ratios.HANDLE_TARGETS:
        a = ratios.value(rows, (op, impl, 1), metric)
        b = ratios.value(rows, (op, base, 1), metric)
        if a is not None and b:
            bars.append((f"{op}: {impl} / {base} ({where})", a / b, lim_t if threaded else lim_s))
    return bars


def container_bars(path):
    _, rows = ratios.load(path)
    bars = []
    for op, impl, base, metric, limit in ratios.CONTAINER_TARGETS:
        if metric == "time":
            a, b = ratios.per_op_ns(rows, (op, impl, 1)), ratios.per_op_ns(rows, (op, base, 1))
        else:
            a, b = ratios.value(rows, (op, impl, 1), metric), ratios.value(rows, (op, base, 1),
                                                                           metric)
        if a is not None and b:
            bars.append((f"{op}: {impl} / {base}", a / b, limit))
    # The threaded figures, each as a time ratio (lower is better), the same figures and targets
    # as ratios.py prints: a throughput ratio x ≥ t is drawn as 1/x ≤ 1/t.
    def figure(op, impl, threads):
        return ratios.threaded_figure(rows, op, impl, threads)

    ours = "weak_value_map"
    own_1, own_2 = figure("get_own_keys", ours, 1), figure("get_own_keys", ours, 2)
    floor_1, floor_2 = figure("get_own_keys", "floor", 1), figure("get_own_keys", "floor", 2)
    if own_1 and own_2:
        limit = max(1.8, 0.9 * floor_2["ips"] / floor_1["ips"]) if floor_1 and floor_2 else 1.8
        bars.append(("get, own keys, 2 threads: time per item vs 1 thread",
                     own_1["ips"] / own_2["ips"], 1 / limit))
    if own_1 and floor_1:
        bars.append(("get, own keys, 1 thread: weak_value_map / floor",
                     floor_1["ips"] / own_1["ips"], 1.3))
    hot_1, hot_2 = figure("get_hot_keys", ours, 1), figure("get_hot_keys", ours, 2)
    tbb_1, tbb_2 = figure("get_hot_keys", "tbb", 1), figure("get_hot_keys", "tbb", 2)
    if hot_1 and hot_2 and tbb_1 and tbb_2:
        bars.append(("get, hot keys, 2 threads: time per item vs 1 thread (target: oneTBB's)",
                     hot_1["ips"] / hot_2["ips"], tbb_1["ips"] / tbb_2["ips"]))
    mixed, mixed_tbb = figure("mixed_get_replace", ours, 2), figure("mixed_get_replace", "tbb", 2)
    if mixed and mixed_tbb:
        bars.append(("90/10 mixed, 2 threads: weak_value_map / oneTBB",
                     mixed_tbb["ips"] / mixed["ips"], 1 / 1.2))
    return bars


def cheese_bars(python_path, cxx_path):
    with open(python_path, encoding="utf-8") as f:
        py = json.load(f)
    _, rows = ratios.load(cxx_path)
    bars = []
    for phase in ("insert", "lookup", "drop"):
        for impl in ("weak_value_map", "local_weak_value_map"):
            ns = ratios.per_op_ns(rows, (f"cheese_{phase}", impl, 1))
            if ns is not None:
                bars.append((f"cheese {phase}: {impl} / Python", ns / py["ns_per_op"][phase], 1.0))
    return bars


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("threaded_json")
    parser.add_argument("single_json")
    parser.add_argument("containers_json")
    parser.add_argument("python_json")
    parser.add_argument("-o", "--output", default=os.path.join(os.path.dirname(__file__),
                                                                "ratios.png"))
    args = parser.parse_args()

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [
        ("Handles vs std::shared_ptr / std::weak_ptr",
         handle_bars(args.threaded_json) + handle_bars(args.single_json)),
        ("weak_value_map vs hand-rolled unordered_map<string, weak_ptr> and the floor",
         container_bars(args.containers_json)),
        ("Cheese shop vs Python's WeakValueDictionary",
         cheese_bars(args.python_json, args.containers_json)),
    ]
    heights = [len(bars) for _, bars in groups]
    fig, axes = plt.subplots(len(groups), 1, figsize=(11, 0.32 * sum(heights) + 3),
                             gridspec_kw={"height_ratios": [max(h, 1) for h in heights]})
    for ax, (title, bars) in zip(axes, groups):
        labels = [b[0] for b in bars][::-1]
        values = [b[1] for b in bars][::-1]
        limits = [b[2] for b in bars][::-1]
        colours = ["tab:green" if v <= lim else "tab:red" for v, lim in zip(values, limits)]
        ys = range(len(bars))
        ax.barh(ys, values, color=colours)
        ax.scatter(limits, ys, marker="|", s=300, color="black", zorder=3, label="target")
        for y, v in zip(ys, values):
            ax.text(v, y, f" {v:.2f}", va="center", fontsize=8)
        ax.set_yticks(list(ys))
        ax.set_yticklabels(labels, fontsize=8)
        ax.axvline(1.0, color="grey", linewidth=0.8, linestyle="--")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("ratio (lower is better; | marks the target)", fontsize=8)
        ax.set_xlim(0, max(values + limits + [1.0]) * 1.15)
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
