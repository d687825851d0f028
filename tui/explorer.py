"""Explorer: what one explorer window knows, shared by its screens.

It owns the runtime bridge and session, the hops received so far (per pattern), the chat
histories, the last script run, the display options (reveal secrets, stable snapshots) and
what is remembered between sessions (preferences).
Everything here is touched on the UI thread only, except `HopInbox.put`, which the runtime
thread calls for every hop: it queues the hop and posts one message per batch.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from textual.message import Message
from textual.message_pump import MessagePump

from runtime import Hop, HopLog, PatternInfo, Progress, Settings, discover, progress_path
from tui.bridge import RuntimeBridge
from tui.chat_history import ChatHistory
from tui.exporter import Exporter
from tui.masking import Masker
from tui.preferences import Places, Preferences, SavedState
from tui.session import ExplorerSession, ScriptRun

T = TypeVar("T")
#: A lab session's runtime thread yields the CPU to its UI (and to other students' UIs):
#: on a host where a class logs in at once, keys are answered before servers finish starting.
LAB_RUNTIME_NICE = 10


class HopInbox:
    """Hops from the runtime thread, delivered to the UI in batches."""

    class HopsArrived(Message):
        """There are hops to `drain()` (one message per batch, not per hop)."""

    def __init__(self) -> None:
        self._queue: deque[tuple[str, Hop]] = deque()
        self._posted = False
        self.target: MessagePump | None = None

    def put(self, pattern_id: str, hop: Hop) -> None:
        self._queue.append((pattern_id, hop))
        if not self._posted and self.target is not None:
            self._posted = True
            self.target.post_message(self.HopsArrived())

    def drain(self) -> list[tuple[str, Hop]]:
        self._posted = False  # before popping, so a hop put meanwhile posts again
        items = []
        while self._queue:
            items.append(self._queue.popleft())
        return items


class ChallengeSolved(Message):
    """A prompt, direct call or replay of the student's solved a challenge."""

    def __init__(self, challenge: str, pattern: str, proof: str) -> None:
        super().__init__()
        self.challenge, self.pattern, self.proof = challenge, pattern, proof


class Explorer:
    def __init__(self, settings: Settings, places: Places, *, stable: bool = False,
                 export_dir: Path | None = None,
                 patterns: list[PatternInfo] | None = None,
                 inline_runtime: bool = False) -> None:
        self.settings = settings
        self.stable = stable
        self.patterns = patterns if patterns is not None else discover()
        self.bridge = RuntimeBridge(inline=inline_runtime,
                                    nice=LAB_RUNTIME_NICE if settings.lab else 0)
        self.inbox = HopInbox()
        self.progress = Progress(progress_path())
        self.session = ExplorerSession(settings, self.inbox.put, self.patterns,
                                       progress=self.progress, on_solved=self._solved)
        self.history = ChatHistory()
        self.hops: dict[str, HopLog] = {}   # per pattern, bounded as the runtime's own
        # A lab session's exports are its own temporary folder, whatever the environment
        # says: one AGENT_AUTH_EXPORT_DIR for every student would mix their files.
        self.exporter = Exporter(settings.lab,
                                 export_dir or (None if settings.lab else places.exports))
        self.preferences = Preferences(places)
        self.remembered = self.preferences.state()   # its histories live on in the inputs
        self.reveal = False
        self.script_run: ScriptRun | None = None
        self.marks: dict[str, str] = {}

    def _solved(self, challenge: str, pattern: str, proof: str) -> None:
        """Called on the runtime thread when a student action solves a challenge."""
        if self.inbox.target is not None:
            self.inbox.target.post_message(ChallengeSolved(challenge, pattern, proof))

    @property
    def masker(self) -> Masker:
        return Masker(reveal=self.reveal, stable=self.stable)

    def now(self) -> float:
        return self.session.clock.now()

    def pattern(self, pattern_id: str) -> PatternInfo | None:
        return next((p for p in self.patterns if p.id == pattern_id), None)

    def previous_pattern(self, pattern_id: str) -> PatternInfo | None:
        ids = [p.id for p in self.patterns]
        index = ids.index(pattern_id) if pattern_id in ids else 0
        return self.patterns[index - 1] if index > 0 else None

    def save_state(self, pattern: str, user: str) -> bool:
        """Remember the pattern, user and histories for next time (False: it failed)."""
        saved = self.remembered
        return self.preferences.save_state(
            SavedState(pattern, user, saved.prompts, saved.filters))

    def start(self) -> None:
        self.bridge.start()

    async def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return await self.bridge.call(coro)

    def begin_close(self) -> None:
        """Quitting: remove the lab's temporary exports and start stopping the runtime, without
        waiting (`close` waits)."""
        self.exporter.close()
        self.bridge.begin_close(self.session.close())

    async def close(self) -> None:
        self.exporter.close()
        await self.bridge.aclose(self.session.close())
