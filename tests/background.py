"""Runners served from a background event loop, for tests that drive them synchronously
(hypothesis properties) or from another process (a CLI under test)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from runtime.runner import PatternRunner
from runtime.settings import Settings
from runtime.stack_handle import StackHandle

T = TypeVar("T")


class Live:
    """A stack and one started runner per pattern, on a loop in a thread of their own."""

    def __init__(self, *patterns: str) -> None:
        self.patterns = patterns
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.stack = StackHandle(Settings())
        self.runners: dict[str, PatternRunner] = {}
        self.run(self._start())

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self) -> None:
        await self.stack.start()
        for pattern in self.patterns:
            self.runners[pattern] = await PatternRunner(pattern, stack=self.stack).start()

    async def _stop(self) -> None:
        for runner in self.runners.values():
            await runner.stop()
        await self.stack.stop()

    def close(self) -> None:
        self.run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()
