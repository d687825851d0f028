"""RuntimeBridge: the runtime lives on its own thread and event loop; the UI submits to it.

Why a thread and not Textual's own loop: the runtime runs several uvicorn servers, the
embedded IdP (RSA key generation at start) and OPA (regopy queries), and the agent loop.
On Textual's loop every one of those CPU bursts delays input handling and rendering; on a
dedicated loop the UI keeps its own scheduling and only shares the GIL (which switches every
few milliseconds). uvicorn also skips signal handlers off the main thread, so Ctrl+C stays
Textual's. Measured with scripts/bench_tui.py --compare (2 cores): the first frame comes at
0.6 s on a thread vs 2.2 s on Textual's loop (the runtime's ~1.2 s of imports and the
stack start no longer sit in front of it); while the whole script runs, key handling stays
at a 2 ms median either way and the worst UI stall is a little lower on the thread.

The UI awaits runtime coroutines with `await bridge.call(coro)` (never blocks its loop);
the runtime reaches the UI only by `Widget.post_message`, which is thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from runtime import new_event_loop
from stack.errors import ExplorerError

T = TypeVar("T")


class BridgeClosed(ExplorerError, RuntimeError):
    """The runtime thread is gone (the app is shutting down)."""


class RuntimeBridge:
    """One background thread running one asyncio loop for the whole runtime.

    `inline=True` runs the runtime on the caller's loop instead (no thread); it exists so
    scripts/bench_tui.py can compare both designs.
    """

    def __init__(self, name: str = "agent-auth-runtime", *, inline: bool = False,
                 nice: int = 0) -> None:
        """`nice`: the runtime thread's lower priority (Linux: per thread), so the UI thread
        answers keys first on a busy host (a lab of students starting at once)."""
        self.inline = inline
        self.nice = nice
        self._loop: asyncio.AbstractEventLoop | None = None   # made when the thread starts
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._closed = False
        self._closing: Future[Any] | None = None

    def start(self) -> RuntimeBridge:
        if not self.inline and self._loop is None:
            self._loop = new_event_loop()
            self._thread.start()
        return self

    def _run(self) -> None:
        assert self._loop is not None
        if self.nice:
            with contextlib.suppress(OSError, AttributeError):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.nice)
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()
        # Let cancelled tasks finish their cleanup before the loop goes away.
        pending = [t for t in asyncio.all_tasks(self._loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        try:
            self._loop.close()
        except OSError:
            # uvloop refuses (EBUSY) while a handle is still open: a server or connection
            # whose owner never closed it (tests fail on that leak's ResourceWarning). The
            # process is quitting; a traceback from this daemon thread would tell the user
            # nothing they can act on.
            pass

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        if self._closed or self._loop is None or not self._thread.is_alive():
            coro.close()
            raise BridgeClosed("the runtime is shut down")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    async def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the runtime loop and await its result from another loop.

        Cancelling the caller (a superseded UI worker) does not cancel the runtime's work:
        half-started servers are worse than a finished start nobody waits for.
        """
        if self.inline:
            if self._closed:
                coro.close()
                raise BridgeClosed("the runtime is shut down")
            return await asyncio.shield(coro)
        return await asyncio.shield(asyncio.wrap_future(self.submit(coro)))

    def begin_close(self, cleanup: Coroutine[Any, Any, Any]) -> None:
        """Start `cleanup` on the runtime loop now and return at once (quitting: the servers
        stop while Textual restores the terminal); `close` or `aclose` then waits for it."""
        if self.inline or self._closed or self._closing is not None:
            cleanup.close()
            return
        try:
            self._closing = self.submit(cleanup)
        except BridgeClosed:
            pass

    async def aclose(self, cleanup: Coroutine[Any, Any, Any]) -> None:
        """Close from the UI loop without blocking it."""
        if self.inline:
            if not self._closed:
                self._closed = True
                await cleanup
            else:
                cleanup.close()
            return
        await asyncio.to_thread(self.close, cleanup)

    def close(self, cleanup: Coroutine[Any, Any, Any] | None = None, timeout: float = 5.0) -> None:
        """Run `cleanup` on the runtime loop (stop servers), then stop the thread."""
        if self._closed:
            if cleanup is not None:
                cleanup.close()
            return
        if self._closing is not None and cleanup is not None:
            cleanup.close()   # begin_close started one already
            cleanup = None
        if cleanup is not None and self._thread.is_alive():
            self._closing = self.submit(cleanup)
        elif cleanup is not None:
            cleanup.close()
        if self._closing is not None:
            try:
                self._closing.result(timeout)
            except Exception:  # noqa: BLE001 - shutting down; nothing left to report to
                pass
        self._closed = True
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
