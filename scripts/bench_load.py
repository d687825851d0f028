"""Benchmark: concurrent agent sessions on one runner (embedded stack, scripted model).

For each pattern, runs `--rounds` rounds of `--sessions` concurrent turns mixing alice, bob
and dave on the same runner, checks that no identity bleeds between them (audit records,
wire prompt hops, expense lists), and prints throughput and latency percentiles. A
sequential baseline (one turn at a time) is printed first for comparison.

    uv run python scripts/bench_load.py [--sessions 50] [--rounds 3] [--patterns p07 p08]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from runtime import event_loop
from runtime.battery.load import LoadReport, run_sessions
from runtime.runner import PatternRunner
from runtime.settings import Settings
from runtime.stack_handle import StackHandle


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def bench(patterns: list[str], sessions: int, rounds: int) -> int:
    stack = StackHandle(Settings())
    await stack.start()
    failures = 0
    try:
        for pattern in patterns:
            async with PatternRunner(pattern, stack=stack) as runner:
                await runner.run_as("alice", "What are my expenses?")   # warm up
                seq = []
                for user in ("alice", "bob", "dave") * 4:
                    started = time.perf_counter()
                    await runner.run_as(user, "What are my expenses?")
                    seq.append(time.perf_counter() - started)
                print(f"{pattern}: sequential baseline {len(seq)} turns, latency ms p50 "
                      f"{_pct(seq, 50) * 1000:.1f} p95 {_pct(seq, 95) * 1000:.1f}, "
                      f"{len(seq) / sum(seq):.1f} turns/s")
                reports: list[LoadReport] = []
                for _ in range(rounds):
                    report = await run_sessions(runner, sessions)
                    reports.append(report)
                    print("  " + report.summary())
                    for problem in report.problems[:5]:
                        print(f"    ! {problem}")
                    failures += len(report.problems)
                lat = [x for r in reports for x in r.latencies]
                wall = sum(r.seconds for r in reports)
                print(f"{pattern}: {len(lat)} turns in {rounds} rounds of {sessions}: "
                      f"{len(lat) / wall:.1f} turns/s, latency ms p50 {_pct(lat, 50) * 1000:.0f}"
                      f" p90 {_pct(lat, 90) * 1000:.0f} p95 {_pct(lat, 95) * 1000:.0f} p99 "
                      f"{_pct(lat, 99) * 1000:.0f} max {max(lat) * 1000:.0f} (stdev "
                      f"{statistics.pstdev(lat) * 1000:.0f}); identity problems: {failures}")
    finally:
        await stack.stop()
    print(f"cpus: {os.cpu_count()}, python {sys.version.split()[0]}")
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--patterns", nargs="*", default=["p07", "p08"])
    args = parser.parse_args()
    return event_loop.run_main(bench(args.patterns, args.sessions, args.rounds))


if __name__ == "__main__":
    raise SystemExit(main())
