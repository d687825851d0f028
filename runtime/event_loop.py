"""The event loop every entry point runs its runtime on: uvloop where it is installed (Linux
and macOS), asyncio's own elsewhere.

The explorer is CPU-bound Python passing real HTTP over 127.0.0.1, and uvloop's loop (libuv
underneath, the one uvicorn picks when it can) takes ~12 % off a matrix run's CPU against the
stdlib loop (docs/performance.md). Nothing in the runtime depends on which loop it is on:
the async tests run on asyncio's; the CLI (and the tests that drive it), the forked matrix
workers and the explorer's runtime thread run on this one.
"""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections.abc import Coroutine
from typing import Any, TypeVar

try:
    import uvloop
except ImportError:  # Windows: uvloop has no build there
    uvloop = None  # type: ignore[assignment]

T = TypeVar("T")


def new_event_loop() -> asyncio.AbstractEventLoop:
    return uvloop.new_event_loop() if uvloop is not None else asyncio.new_event_loop()


def run_main(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on the loop above. Interrupted (Ctrl-C), the loop is torn down
    quietly: what was cut off midway (an unawaited exit stack, the executor's shutdown
    thread) is expected then, and its warnings would bury the one line the CLI prints."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        try:
            return runner.run(main)
        except KeyboardInterrupt:
            runner.get_loop().set_exception_handler(lambda _loop, _context: None)
            warnings.simplefilter("ignore")
            threading.excepthook = lambda _args: None
            raise
