"""Every figure of the performance table (issue 15) next to its goal, on this machine.

    uv run python scripts/bench_all.py [--runs 3] [--quick]

Each figure comes from the same code as the focused benchmarks (bench_matrix, bench_runtime,
bench_tui, bench_load); the matrix wall time and the TUI start are timed in fresh
interpreters, imports included. Prints the core count, whether bytecode caching is on, and
the load average before each figure: on a shared 2-core machine a busy neighbour moves
every number, so read them with it. `--quick` runs each figure once.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

import bench_matrix  # noqa: E402 - the sibling benchmarks, found through the path above
import bench_runtime  # noqa: E402
import bench_tui  # noqa: E402

from runtime import event_loop  # noqa: E402

LAB_RSS = r"""
import asyncio, gc, json
gc.disable()   # as `agent-auth` does until the explorer is ready and warmed up
from pathlib import Path
from runtime.settings import Settings
from tui.app import AgentAuthApp

def rss_mb():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

async def main():
    app = AgentAuthApp(Settings(lab=True), tour=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.wait_until_ready()
        await app.main_screen.settled.wait()
        await pilot.pause(0.5)
        idle = rss_mb()
        app.main_screen.action_run_script()
        await pilot.pause(0.2)
        board = app.get_screen("scoreboard")
        while board.running:
            await asyncio.sleep(0.05)
        await pilot.pause(0.2)
        print(json.dumps({"idle": idle, "after_script": rss_mb()}))
asyncio.run(main())
"""


@dataclass
class Figure:
    name: str
    value: str
    goal: str
    met: bool | None
    load: float


def load_now() -> float:
    return os.getloadavg()[0]


def matrix_wall(runs: int) -> tuple[float, float]:
    """(process start to exit, seconds inside the run), medians over `runs`."""
    walls, inside = [], []
    for _ in range(runs):
        started = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "agent_auth", "matrix", "--json"],
                             cwd=ROOT, capture_output=True, text=True, check=False)
        walls.append(time.perf_counter() - started)
        result = json.loads(out.stdout)
        if not result["ok"]:
            raise SystemExit("bench_all: the matrix does not match the expected table")
        inside.append(result["seconds"])
    return statistics.median(walls), statistics.median(inside)


def hops_by_kind() -> tuple[dict[str, float], dict[str, int]]:
    """Median ms inside a hop per kind; MCP hops, discovers and tool listings in one matrix
    run."""
    _, _, _, tap, ok, cells = event_loop.run_main(bench_matrix.one_run())
    if not ok:
        raise SystemExit("bench_all: the matrix does not match the expected table")
    kinds: dict[str, list[float]] = {}
    for hop in tap.hops:
        if hop.duration_ms and hop.kind in ("mcp", "service", "idp", "opa", "llm"):
            kinds.setdefault(hop.kind, []).append(hop.duration_ms)
    mcp = [h.summary for h in tap.hops if h.kind == "mcp"]
    counts = {"cells": cells, "hops": len(mcp), "discover": mcp.count("server/discover"),
              "list": mcp.count("tools/list")}
    return {k: statistics.median(v) for k, v in kinds.items()}, counts


async def warm_calls(calls: int) -> dict[str, float]:
    from runtime.runner import PatternRunner
    from runtime.settings import Settings
    from runtime.stack_handle import StackHandle

    stack = StackHandle(Settings())
    await stack.start()
    medians = {}
    try:
        for pattern in ("p01", "p08"):
            async with PatternRunner(pattern, stack=stack) as runner:
                totals, _ = await bench_runtime.tool_calls(runner, calls)
            medians[pattern] = statistics.median(totals)
    finally:
        await stack.stop()
    return medians


async def tool_calls_per_second(concurrency: int, rounds: int) -> dict[str, float]:
    """Authorized tool calls per second under p07 and p08, `concurrency` turns at once."""
    from runtime.battery.load import run_sessions
    from runtime.runner import PatternRunner
    from runtime.settings import Settings
    from runtime.stack_handle import StackHandle

    stack = StackHandle(Settings())
    await stack.start()
    rates = {}
    try:
        for pattern in ("p07", "p08"):
            async with PatternRunner(pattern, stack=stack) as runner:
                await runner.run_as("alice", "What are my expenses?")   # warm up
                calls, seconds = 0, 0.0
                for _ in range(rounds):
                    report = await run_sessions(runner, concurrency)
                    if report.problems:
                        raise SystemExit(f"bench_all: {pattern}: {report.problems[0]}")
                    seconds += report.seconds
                    calls += sum(1 for t in report.turns for c in t.tool_calls if not c.refused)
            rates[pattern] = calls / seconds
    finally:
        await stack.stop()
    return rates


def lab_rss() -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", LAB_RSS], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(figures: list[Figure], name: str, goal: str, run: Callable[[], tuple[str, bool]]
            ) -> None:
    load = load_now()
    value, met = run()
    figures.append(Figure(name, value, goal, met, load))
    print(f"  measured: {name}: {value}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one run of each figure")
    args = parser.parse_args()
    runs = 1 if args.quick else args.runs
    caching = "off (PYTHONDONTWRITEBYTECODE)" if os.environ.get(
        "PYTHONDONTWRITEBYTECODE") else "on"
    figures: list[Figure] = []

    def matrix() -> tuple[str, bool]:
        wall, inside = matrix_wall(runs)
        return f"{wall:.2f} s ({inside:.2f} s inside the run)", wall <= 3.0

    counts: dict[str, int] = {}

    def hops() -> tuple[str, bool]:
        medians, found = hops_by_kind()
        counts.update(found)
        text = " / ".join(f"{medians.get(k, 0):.1f}" for k in ("mcp", "service", "idp", "opa",
                                                               "llm"))
        return f"{text} ms", max(medians.values()) <= 1.0

    def mcp() -> tuple[str, bool]:
        # one listing per runtime and caller: each user's agent and the summarizer sub-agent
        from runtime import USERS, discover

        allowed = len(discover()) * (len(USERS) + 1)
        return (f"{counts['hops']} hops for {counts['cells']} steps: server/discover "
                f"{counts['discover']}, tools/list {counts['list']}"), counts["list"] <= allowed

    warm: dict[str, float] = {}

    def chain() -> tuple[str, bool]:
        warm.update(event_loop.run_main(warm_calls(50)))
        return f"{warm['p01'] * 1000:.2f} ms", warm["p01"] <= 0.003

    def ratio() -> tuple[str, bool]:
        value = warm["p08"] / warm["p01"]
        return f"{value:.2f}", value <= 1.3

    tui: dict[str, float] = {}

    def tui_ready() -> tuple[str, bool]:
        tui.update(bench_tui.cold_start(runs, inline=False))
        return (f"{tui['interactive']:.2f} s (first frame {tui['first_frame']:.2f} s)",
                tui["interactive"] <= 1.0 and tui["first_frame"] <= 0.5)

    def rss() -> tuple[str, bool]:
        mb = lab_rss()
        return f"{mb['after_script']:.0f} MB ({mb['idle']:.0f} MB idle)", (
            mb["after_script"] <= 120)

    def load() -> tuple[str, bool]:
        rates = event_loop.run_main(tool_calls_per_second(32, runs))
        return (f"p07 {rates['p07']:.0f}/s, p08 {rates['p08']:.0f}/s",
                min(rates.values()) >= 500)

    measure(figures, "agent-auth matrix wall, process start to exit", "<= 3 s", matrix)
    measure(figures, "median ms inside a hop: mcp / service / idp / opa / llm", "<= 1 ms",
            hops)
    measure(figures, "MCP hops per matrix run", "one session per runner and user", mcp)
    measure(figures, "warm tools/call read_data, whole chain, p01", "<= 3 ms", chain)
    measure(figures, "p08 / p01 warm per-call ratio", "<= 1.3", ratio)
    measure(figures, "TUI launch to interactive, runtime ready", "<= 1 s; first frame <= 0.5 s",
            tui_ready)
    measure(figures, "one --lab session's RSS after the whole script", "<= 120 MB", rss)
    measure(figures, "authorized tool calls/s, p07/p08, concurrency 32", ">= 500/s", load)

    print(f"\n{os.cpu_count()} cores; bytecode caching {caching}; load average now "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    width = max(len(f.name) for f in figures)
    print(f"{'figure':<{width}}  {'load':>4}  {'met':<3}  value  (goal)")
    for f in figures:
        mark = "yes" if f.met else "NO"
        print(f"{f.name:<{width}}  {f.load:4.2f}  {mark:<3}  {f.value}  (goal {f.goal})")


if __name__ == "__main__":
    main()
