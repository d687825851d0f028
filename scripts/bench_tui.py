"""Benchmark the explorer: cold start, pattern switch, and UI lag while the whole script runs.

    uv run python scripts/bench_tui.py            # thread bridge (what the app uses)
    uv run python scripts/bench_tui.py --compare  # also the runtime on Textual's own loop

Cold start runs in fresh interpreters (imports included): "first frame" is when the main
screen is mounted and painted, "interactive" when the runtime is up, the first pattern started
and the User pane's token fetched. Note: with PYTHONDONTWRITEBYTECODE set, every import
recompiles; the script reports whether bytecode caching was on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from textual import events

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

COLD = r"""
import time, json, asyncio, gc
t0 = time.perf_counter()
gc.disable()   # as `agent-auth` does until the explorer is ready (runtime.heap)
from runtime.settings import Settings
from tui.app import AgentAuthApp
async def main():
    app = AgentAuthApp(Settings(demo=True), tour=False, inline_runtime={inline})
    async with app.run_test(size=(120, 40)) as pilot:
        first = time.perf_counter() - t0
        await app.wait_until_ready()
        ready = time.perf_counter() - t0
    print(json.dumps({{"first_frame": first, "interactive": ready}}))
asyncio.run(main())
"""


def cold_start(runs: int, inline: bool) -> dict[str, float]:
    samples = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", COLD.format(inline=inline)], cwd=ROOT,
                             capture_output=True, text=True, check=True)
        samples.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {k: statistics.median(s[k] for s in samples) for k in samples[0]}


async def warm_figures(inline: bool) -> dict[str, float]:
    from runtime.settings import Settings
    from tui.app import AgentAuthApp

    app = AgentAuthApp(Settings(demo=True), tour=False, inline_runtime=inline)
    figures: dict[str, float] = {}
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        screen, session = app.main_screen, app.explorer.session
        assert screen is not None
        ui, runtime = [], []
        for pattern in ["p02", "p03", "p04", "p05", "p06", "p07", "p08", "p01"]:
            started = time.perf_counter()
            screen.switch_pattern(pattern)
            ui.append(time.perf_counter() - started)
            while not (session.runner and session.runner.id == pattern and session.runner.started
                       and screen.query_one("#user").info is not None):
                await asyncio.sleep(0.002)
            runtime.append(time.perf_counter() - started)
        figures["switch_ui_ms"] = statistics.median(ui) * 1000
        figures["switch_ready_ms"] = statistics.median(runtime) * 1000

        screen.action_scoreboard()
        await pilot.pause(0.2)
        table = app.screen.query_one("#scoreboard-table")

        async def key_to_cursor() -> float:
            """Post a key as the terminal would; time until the table's cursor moved."""
            before = table.cursor_coordinate  # type: ignore[attr-defined]
            key = "up" if before.row > 5 else "down"
            started = time.perf_counter()
            app.post_message(events.Key(key, None))
            while table.cursor_coordinate == before:  # type: ignore[attr-defined]
                await asyncio.sleep(0.001)
            return time.perf_counter() - started

        idle = [await key_to_cursor() for _ in range(10)]
        figures["key_latency_idle_ms"] = statistics.median(idle) * 1000

        lags: list[float] = []
        last = [time.perf_counter()]

        def tick() -> None:
            now = time.perf_counter()
            lags.append(now - last[0] - 0.01)
            last[0] = now

        timer = app.set_interval(0.01, tick)
        keys: list[float] = []
        started = time.perf_counter()
        screen.action_run_script()
        await pilot.pause(0.1)
        board = app.get_screen("scoreboard")
        while board.running:  # type: ignore[attr-defined]
            keys.append(await key_to_cursor())
            await asyncio.sleep(0.05)
        figures["script_s"] = time.perf_counter() - started
        timer.stop()
        figures["ui_lag_max_ms"] = max(lags) * 1000
        figures["ui_lag_p95_ms"] = sorted(lags)[int(len(lags) * 0.95)] * 1000
        figures["key_latency_median_ms"] = statistics.median(keys) * 1000
        figures["key_latency_max_ms"] = max(keys) * 1000
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--compare", action="store_true",
                        help="also measure the runtime running on Textual's own loop")
    args = parser.parse_args()
    caching = "off (PYTHONDONTWRITEBYTECODE)" if os.environ.get(
        "PYTHONDONTWRITEBYTECODE") else "on"
    print(f"cpus: {os.cpu_count()}  bytecode caching: {caching}")
    for inline in ([False, True] if args.compare else [False]):
        name = "runtime on Textual's loop" if inline else "runtime on its own thread"
        cold = cold_start(args.runs, inline) if args.runs else {"first_frame": 0.0,
                                                                "interactive": 0.0}
        warm = asyncio.run(warm_figures(inline))
        print(f"\n{name}")
        print(f"  cold start: first frame {cold['first_frame']:.2f}s, "
              f"interactive {cold['interactive']:.2f}s (median of {args.runs})")
        print(f"  pattern switch: UI {warm['switch_ui_ms']:.1f}ms, runner ready "
              f"{warm['switch_ready_ms']:.0f}ms (median)")
        print(f"  whole script (every pattern, every step): {warm['script_s']:.1f}s")
        print(f"  while it runs: UI timer lag p95 {warm['ui_lag_p95_ms']:.0f}ms, max "
              f"{warm['ui_lag_max_ms']:.0f}ms; key press median "
              f"{warm['key_latency_median_ms']:.0f}ms, max {warm['key_latency_max_ms']:.0f}ms "
              f"(idle: {warm['key_latency_idle_ms']:.0f}ms)")


if __name__ == "__main__":
    main()
