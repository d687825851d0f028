"""MainBase: the state the main screen's parts share, declared once for them and for mypy.

`MainScreen` is composed of `RunsMixin` (runtime work) and `PaneActions` (keys on panes);
both build on this base, which holds the current pattern and user and the few methods each
part calls on the other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.screen import Screen
from textual.worker import Worker

from runtime import USERS
from tui.chat_history import ChatKey
from tui.explorer import Explorer

if TYPE_CHECKING:
    from runtime import TurnResult


class MainBase(Screen[None]):
    def __init__(self, explorer: Explorer) -> None:
        super().__init__(id="main")
        self.explorer = explorer
        ids = [p.id for p in explorer.patterns]
        saved = explorer.remembered   # where the last session left off, when still valid
        self.pattern = saved.pattern if saved.pattern in ids else (ids[0] if ids else "")
        self.user = saved.user if saved.user in USERS else "alice"
        self.tab = "chat"
        self.ready = asyncio.Event()     # the runtime is up and the first pattern selected
        self.settled = asyncio.Event()   # ... and the first prompt's libraries loaded (or failed)
        self.busy = ""
        self._job: ChatKey | None = None

    @property
    def key(self) -> ChatKey:
        return (self.pattern, self.user)

    def start_work(self, work: Callable[..., Coroutine[Any, Any, None]], *args: Any,
                   group: str, exclusive: bool = False) -> Worker[None]:
        """Run `work(*args)` in a worker; the coroutine is created only when it starts, so a
        worker cancelled by a newer exclusive one leaves nothing un-awaited."""
        return self.run_worker(partial(work, *args), group=group,  # type: ignore[arg-type]
                               exclusive=exclusive, exit_on_error=False)

    # Implemented by MainScreen and its parts; declared here so each part can call them.
    # (No `on_*` handlers here: Textual calls those on every class of the MRO.)
    def _apply_layout(self, width: int) -> None:
        raise NotImplementedError

    def show_current(self) -> None:
        raise NotImplementedError

    def refresh_user(self) -> None:
        raise NotImplementedError

    def run_step(self, step_id: str) -> None:
        raise NotImplementedError

    def switch_pattern(self, pattern_id: str) -> None:
        raise NotImplementedError

    def ingest_hops(self) -> None:
        raise NotImplementedError

    async def direct_call(self, tool: str, arguments: dict[str, Any]) -> TurnResult:
        raise NotImplementedError
