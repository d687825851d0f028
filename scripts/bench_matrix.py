"""Benchmark: the whole matrix (every pattern, every step) on the embedded stack, scripted model.

Prints the wall time, per-pattern and per-step figures, and where the time goes on the wire
(time spent inside each hop kind; hops overlap, so these are shares, not a partition).

    uv run python scripts/bench_matrix.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections import defaultdict

from runtime import event_loop
from runtime.matrix import Cell, run_matrix
from runtime.settings import Settings
from runtime.wire import WireTap


async def one_run() -> tuple[float, dict[str, float], dict[str, list[float]], WireTap, bool,
                           int]:
    tap = WireTap()
    per_pattern: dict[str, float] = defaultdict(float)
    per_step: dict[str, list[float]] = defaultdict(list)

    def progress(pattern: str, step: str, cell: Cell) -> None:
        per_pattern[pattern] += cell.result.seconds
        per_step[step].append(cell.result.seconds)

    started = time.perf_counter()
    result = await run_matrix(Settings(), progress=progress, tap=tap)
    for cell in result.cells:
        if not cell.ok:
            print(f"  MISMATCH {cell.pattern} {cell.step}: expected {cell.expected}, got "
                  f"{cell.actual}: {[p.reason for p in cell.result.parts]}")
    return time.perf_counter() - started, per_pattern, per_step, tap, result.ok, len(result.cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}")
    totals = []
    for run in range(1, args.runs + 1):
        seconds, per_pattern, per_step, tap, ok, cells = event_loop.run_main(one_run())
        totals.append(seconds)
        print(f"run {run}: {seconds:.2f} s for {cells} cells ({'ok' if ok else 'MISMATCH'}), "
              f"{len(tap.hops)} hops")
    print(f"matrix wall time: median {statistics.median(totals):.2f} s, "
          f"min {min(totals):.2f} s over {args.runs} runs")
    print("last run, per pattern (seconds in steps; the rest is server start/stop):")
    for pattern, secs in sorted(per_pattern.items()):
        print(f"  {pattern}  {secs:5.2f}")
    print("last run, per step (mean over the patterns):")
    for step, values in per_step.items():
        print(f"  {step}  {statistics.mean(values) * 1000:6.1f} ms")
    by_kind: dict[str, list[float]] = defaultdict(list)
    for hop in tap.hops:
        if hop.duration_ms:
            by_kind[hop.kind].append(hop.duration_ms)
    print("last run, time inside hops by kind (count, total, median):")
    for kind, values in sorted(by_kind.items(), key=lambda kv: -sum(kv[1])):
        print(f"  {kind:<9} {len(values):5d}  {sum(values) / 1000:6.2f} s  "
              f"{statistics.median(values):6.2f} ms")


if __name__ == "__main__":
    main()
