"""A second process for a long script run: half the patterns on another core.

`agent-auth matrix` forks a worker per core before any thread exists; the explorer has
threads (Textual's, the runtime's), so it cannot fork safely. It starts this module instead
(`python -m runtime.script_worker`), a fresh interpreter that runs the patterns it is given
on an embedded stack of its own (or the same external one), exactly as the explorer would,
and streams back what it measures: each cell as it is measured, then each pattern's
measured columns and every hop it recorded (the scoreboard's drill-down needs them).

Frames on stdout are pickles (this process's parent wrote the code both ends run), each
preceded by its length; stdin brings one frame: `Job`. Nothing else is written to stdout,
and stderr goes nowhere: the parent's terminal belongs to the explorer.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import struct
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

from runtime.errors import ExplorerError
from runtime.matrix import Cell, run_pattern
from runtime.pattern_loader import PatternInfo
from runtime.runner import PatternRunner
from runtime.settings import Settings
from runtime.stack_handle import StackHandle
from runtime.wire import Hop

_LENGTH = struct.Struct(">Q")
NICE = 10      # the explorer's own threads (its UI above all) go first on a busy machine
GRACE = 2.0    # seconds a worker that is done may take to exit
ROOT = Path(__file__).resolve().parent.parent   # where `runtime` imports from


@dataclass(frozen=True)
class Job:
    settings: Settings
    patterns: list[PatternInfo | str]   # as PatternRunner takes them


@dataclass(frozen=True)
class CellDone:
    cell: Cell
    hops: list[Hop]     # the pattern's hops recorded since the previous frame


@dataclass(frozen=True)
class PatternDone:
    pattern_id: str
    columns: dict[str, str]
    hops: list[Hop]
    error: str     # "" when the pattern ran


Frame = CellDone | PatternDone


def encode(frame: Any) -> bytes:
    data = pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


async def read_frame(stream: asyncio.StreamReader) -> Any:
    """The next frame, or None at the end of the stream (the worker ended or was stopped,
    or wrote what does not read as a frame: the parent then runs the rest itself)."""
    try:
        (length,) = _LENGTH.unpack(await stream.readexactly(_LENGTH.size))
        return pickle.loads(await stream.readexactly(length))  # noqa: S301 - our own child
    except (asyncio.IncompleteReadError, pickle.UnpicklingError, EOFError, ValueError,
            TypeError, AttributeError, ImportError):
        return None


async def run_job(job: Job, send: Callable[[Frame], None]) -> None:
    stack = StackHandle(job.settings, clock=job.settings.new_clock())
    await stack.start()
    try:
        for info in job.patterns:
            await _run_pattern(job.settings, info, stack, send)
    finally:
        await stack.stop()


async def _run_pattern(settings: Settings, info: PatternInfo | str, stack: StackHandle,
                       send: Callable[[Frame], None]) -> None:
    recorded: list[Hop] = []

    def taken() -> list[Hop]:
        hops = recorded[:]
        recorded.clear()
        return hops

    columns: dict[str, str] = {}
    error = ""
    try:
        runner = PatternRunner(info, settings=settings, stack=stack)  # its tap: the stack's clock
        runner.tap.subscribe(recorded.append)
        async with runner:
            _, columns = await run_pattern(
                runner, progress=lambda _p, _s, cell: send(CellDone(cell, taken())))
    except (ExplorerError, OSError) as exc:
        error = str(exc)
    send(PatternDone(info if isinstance(info, str) else info.id, columns, taken(), error))


class ScriptWorker:
    """The parent's handle on a worker: start it, read its frames, stop it."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, settings: Settings,
                    patterns: list[PatternInfo | str]) -> ScriptWorker:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "runtime.script_worker", cwd=ROOT,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL)
        assert process.stdin is not None
        process.stdin.write(encode(Job(settings, patterns)))
        await process.stdin.drain()
        process.stdin.close()
        return cls(process)

    async def frames(self) -> AsyncIterator[Frame]:
        """Each frame as it comes; the iteration ends with the worker's output."""
        assert self.process.stdout is not None
        while (frame := await read_frame(self.process.stdout)) is not None:
            yield frame

    async def stop(self) -> None:
        """Let a worker that has said all end by itself (its servers stop cleanly); kill one
        still at work (the run was cancelled)."""
        assert self.process.stdout is not None
        if self.process.returncode is None and self.process.stdout.at_eof():
            try:
                await asyncio.wait_for(self.process.wait(), GRACE)
            except TimeoutError:
                pass
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()


Outcome = Literal["done", "failed"]


def main(stdin: BinaryIO, stdout: BinaryIO) -> Outcome:
    from runtime import event_loop

    (length,) = _LENGTH.unpack(stdin.read(_LENGTH.size))
    job: Job = pickle.loads(stdin.read(length))  # noqa: S301 - our own parent

    def send(frame: Frame) -> None:
        stdout.write(encode(frame))
        stdout.flush()

    try:
        event_loop.run_main(run_job(job, send))
    except (ExplorerError, OSError):
        return "failed"     # the parent runs what was not reported itself
    return "done"


if __name__ == "__main__":
    # the frames' classes must pickle as runtime.script_worker's, not __main__'s
    from runtime import script_worker

    os.nice(NICE)
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # stray prints: nowhere
    sys.exit(0 if script_worker.main(sys.stdin.buffer, out) == "done" else 1)
