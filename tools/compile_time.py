#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Compile time of each public header, as a ratio to <memory> + <unordered_map>.

For each compiler, compiles (-c -o /dev/null, -O0, C++17) a one-line translation unit per
public header under include/weakref/, and a baseline TU that includes <memory> and
<unordered_map>. Every TU is compiled --runs times, interleaved (run 1 of every TU, then run 2,
...) so that the machine's load falls on all of them alike. The table shows median wall times
with their quartiles; the ratio to the baseline, as the median over the runs of each run's time
divided by the same run's baseline time, with its quartiles; and the preprocessed size (lines
that are neither blank nor line markers).

Targets (API.md): <weakref/ref.hpp> <= 1.2x, <weakref/weakref.hpp> <= 1.8x, with every
compiler. The targets show PASS or MISS; --check makes a MISS the exit status (1).

    tools/compile_time.py                  # g++ and clang++, 9 runs each
    tools/compile_time.py --runs 15 --compilers g++-12 --markdown
    tools/compile_time.py --headers ref.hpp weakref.hpp --runs 15   # the targets alone
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INCLUDE = ROOT / "include"
BASELINE = "<memory> + <unordered_map>"
TARGETS = {"weakref/ref.hpp": 1.2, "weakref/weakref.hpp": 1.8}


def translation_units(only=None):
    """(label, source text) for the baseline and each public header (or those named in `only`,
    e.g. ref.hpp), targets first."""
    units = [(BASELINE, "#include <memory>\n#include <unordered_map>\n")]
    headers = sorted(p.relative_to(INCLUDE).as_posix() for p in (INCLUDE / "weakref").glob("*.hpp"))
    if only:
        wanted = {h if h.startswith("weakref/") else f"weakref/{h}" for h in only}
        unknown = wanted - set(headers)
        if unknown:
            raise SystemExit(f"compile_time: no such public header: {', '.join(sorted(unknown))}")
        headers = [h for h in headers if h in wanted]
    headers.sort(key=lambda h: (h not in TARGETS, h))
    units += [(h, f"#include <{h}>\n") for h in headers]
    return units


def command(compiler, source, std, extra):
    return [compiler, f"-std={std}", "-O0", "-I", str(INCLUDE), *extra, "-c", "-o", os.devnull,
            str(source)]


def preprocessed_lines(compiler, source, std, extra):
    out = subprocess.run([compiler, f"-std={std}", "-I", str(INCLUDE), *extra, "-E", str(source)],
                         check=True, capture_output=True, text=True).stdout
    return sum(1 for line in out.splitlines() if line.strip() and not line.startswith("#"))


def measure(compilers, units, runs, std, extra, workdir):
    sources = []
    for i, (_, text) in enumerate(units):
        path = workdir / f"tu{i}.cpp"
        path.write_text(text)
        sources.append(path)
    times = {(c, i): [] for c in compilers for i in range(len(units))}
    for c in compilers:  # warm the file cache and check that everything compiles
        for src in sources:
            subprocess.run(command(c, src, std, extra), check=True)
    for run in range(runs):
        for c in compilers:
            for i, src in enumerate(sources):
                start = time.perf_counter()
                subprocess.run(command(c, src, std, extra), check=True)
                times[(c, i)].append(time.perf_counter() - start)
        print(f"run {run + 1}/{runs} done", file=sys.stderr)
    lines = {(c, i): preprocessed_lines(c, src, std, extra)
             for c in compilers for i, src in enumerate(sources)}
    return times, lines


def quartiles(xs):
    q = statistics.quantiles(xs, n=4, method="inclusive") if len(xs) > 1 else [xs[0]] * 3
    return q[0], q[1], q[2]


def table(compiler, units, times, lines, markdown):
    base = times[(compiler, 0)]
    rows = []
    misses = []
    for i, (label, _) in enumerate(units):
        t = times[(compiler, i)]
        q1, med, q3 = quartiles(t)
        # Each run's time over the same run's baseline: load that drifts between runs cancels.
        r1, ratio, r3 = quartiles([x / b for x, b in zip(t, base)])
        verdict = ""
        if label in TARGETS:
            ok = ratio <= TARGETS[label]
            verdict = f"{'PASS' if ok else 'MISS'} (<= {TARGETS[label]})"
            if not ok:
                misses.append(f"{compiler}: <{label}> {ratio:.2f}x > {TARGETS[label]}x")
        name = label if label == BASELINE else f"<{label}>"
        if markdown:
            name = " + ".join(f"`{n.strip()}`" for n in name.split("+"))
        rows.append((name, f"{med * 1000:.0f}", f"{q1 * 1000:.0f}-{q3 * 1000:.0f}",
                     f"{ratio:.2f}", f"{r1:.2f}-{r3:.2f}", str(lines[(compiler, i)]), verdict))
    head = ("translation unit", "median ms", "ms q1-q3", "ratio", "ratio q1-q3", "pp lines",
            "target")
    if markdown:
        out = [f"| {' | '.join(head)} |", "|---|---:|---:|---:|---:|---:|---|"]
        out += [f"| {' | '.join(r)} |" for r in rows]
    else:
        widths = [max(len(x[k]) for x in rows + [head]) for k in range(len(head))]
        fmt = lambda r: "  ".join(  # noqa: E731
            x.ljust(w) if k in (0, 6) else x.rjust(w) for k, (x, w) in enumerate(zip(r, widths)))
        out = [fmt(head)] + [fmt(r) for r in rows]
    return "\n".join(out), misses


def version(compiler):
    return subprocess.run([compiler, "--version"], capture_output=True,
                          text=True).stdout.splitlines()[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=9, help="compilations of each TU (default 9)")
    ap.add_argument("--compilers", nargs="+", default=["g++", "clang++"])
    ap.add_argument("--std", default="c++17")
    ap.add_argument("--markdown", action="store_true", help="print Markdown tables")
    ap.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    ap.add_argument("--headers", nargs="+", metavar="HEADER",
                    help="measure only these public headers (e.g. ref.hpp weakref.hpp)")
    ap.add_argument("extra", nargs="*", help="more compiler flags (after --)")
    args = ap.parse_args()

    compilers = [c for c in args.compilers if shutil.which(c)]
    for c in set(args.compilers) - set(compilers):
        print(f"compile_time: {c} not found; skipped", file=sys.stderr)
    if not compilers:
        return 2
    units = translation_units(args.headers)
    with tempfile.TemporaryDirectory() as tmp:
        times, lines = measure(compilers, units, args.runs, args.std, args.extra, Path(tmp))
    misses = []
    for c in compilers:
        text, missed = table(c, units, times, lines, args.markdown)
        misses += missed
        print(f"\n{version(c)}: -std={args.std} -O0 -c, median of {args.runs} runs\n")
        print(text)
    print()
    for m in misses:
        print(f"MISS {m}")
    if not misses:
        print("every target met")
    return 1 if misses and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
