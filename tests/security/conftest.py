"""Shared fixtures for the security suite.

`battery` runs the whole catalogue once per session (patterns 03-08: 03/04 only for the
injection cases). `live` hosts a started stack and runners for patterns 05-08 on a
background event loop, so synchronous hypothesis tests can drive them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from runtime.battery import BatteryResult, run_battery
from runtime.battery.core import PATTERNS_03_08, PATTERNS_05_08
from runtime.runner import PatternRunner
from runtime.settings import Settings
from runtime.stack_handle import StackHandle

T = TypeVar("T")
BATTERY_PATTERNS = PATTERNS_03_08
TOKEN_PATTERNS = PATTERNS_05_08


@pytest.fixture(scope="session")
def battery() -> BatteryResult:
    return asyncio.run(run_battery(Settings(), patterns=BATTERY_PATTERNS))


class Live:
    """A stack and one runner per pattern, served from a background event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.stack = StackHandle(Settings())
        self.runners: dict[str, PatternRunner] = {}

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self) -> None:
        await self.stack.start()
        for pattern in TOKEN_PATTERNS:
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


@pytest.fixture(scope="session")
def live() -> Iterator[Live]:
    hosted = Live()
    hosted.run(hosted._start())
    yield hosted
    hosted.close()
