"""Runners served from a background event loop, for tests that drive them synchronously
(hypothesis properties) or from another process (a CLI under test); and `agent-auth serve`
in a child process, for tests that are that other process's client."""

from __future__ import annotations

import asyncio
import os
import pty
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

from runtime.runner import PatternRunner
from runtime.settings import Settings
from runtime.stack_handle import StackHandle

T = TypeVar("T")
START_TIMEOUT = 60


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


class Served:
    """`agent-auth serve ...` in a child process, its stdout read line by line."""

    def __init__(self, *argv: str, tty_stdin: bool = False) -> None:
        self.master = None
        stdin: Any = subprocess.DEVNULL
        if tty_stdin:
            self.master, slave = pty.openpty()
            stdin = slave
        self.process = subprocess.Popen(
            [sys.executable, "-m", "agent_auth", "serve", *argv], stdin=stdin,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if tty_stdin:
            os.close(slave)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def next_line(self, timeout: float = START_TIMEOUT) -> str:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            self.process.kill()
            _, err = self.process.communicate(timeout=10)
            raise AssertionError(f"no output within {timeout}s; stderr: {err[-800:]}") from None

    def until(self, wanted: str, timeout: float = START_TIMEOUT) -> list[str]:
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while not any(wanted in line for line in seen):
            seen.append(self.next_line(max(0.1, deadline - time.monotonic())))
        return seen

    def stop(self, sig: int = signal.SIGINT) -> tuple[int, str]:
        self.process.send_signal(sig)
        _, err = self.process.communicate(timeout=20)
        if self.master is not None:
            os.close(self.master)
        return self.process.returncode, err


async def mcp_call(url: str, headers: dict[str, str], tool: str = "read_data",
                   arguments: dict[str, Any] | None = None) -> str:
    """One MCP tool call with the `mcp` SDK's own client (a client nobody here wrote, as far
    as the server can tell), the tool's text content joined."""
    import httpx2
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async with httpx2.AsyncClient(headers=headers, timeout=30) as http, \
            streamable_http_client(url, http_client=http) as streams, \
            ClientSession(streams[0], streams[1]) as session:
        await session.initialize()
        result = await session.call_tool(tool, arguments or {"kind": "expenses"})
        return "".join(getattr(part, "text", "") for part in result.content)
