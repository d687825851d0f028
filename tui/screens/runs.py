"""RunsMixin: boot the runtime, switch it, send prompts and run script steps (all in workers).

Each long call goes to the runtime thread through `Explorer.call` and is awaited in a worker,
so the UI keeps drawing. Expected failures (bad input, a pattern that will not load, an
unreachable stack) become a chat line and a notification; nothing reaches a traceback.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, cast

from textual.worker import get_current_worker

from tui.bridge import BridgeClosed
from tui.chat_history import ChatEntry, ChatKey
from tui.screens.main_base import MainBase
from tui.session import runtime_errors
from tui.widgets.chat_pane import ChatPane
from tui.widgets.status_bar import RunState, StatusBar
from tui.widgets.user_pane import UserPane

if TYPE_CHECKING:
    from runtime import StepResult, TurnResult
    from tui.screens.main_screen import MainScreen


def ui_errors() -> tuple[type[BaseException], ...]:
    """Runtime failures the UI reports and survives (the bridge closing included)."""
    return (*runtime_errors(), BridgeClosed)


class RunsMixin(MainBase):
    def say(self, key: ChatKey, entry: ChatEntry) -> None:
        self.explorer.history.add(key, entry)
        if key == self.key:
            self.query_one(ChatPane).append(entry, self.explorer.masker)

    def set_state(self, state: RunState, detail: str = "") -> None:
        self.query_one(StatusBar).set_state(state, detail)
        self.query_one(ChatPane).set_status(f"… {detail}" if state == "working" else "")

    async def boot(self) -> None:
        try:
            await self.explorer.call(self.explorer.session.start())
        except ui_errors() as exc:
            self.set_state("error", "stack unavailable")
            self.say(self.key, ChatEntry("error", "stack", str(exc), ok=False))
            self.notify(str(exc), title="Stack unavailable", severity="error", timeout=15)
            self.query_one(UserPane).show_message(str(exc), style="red")
            self.settled.set()
            return
        await self.select_runtime(self.pattern)
        self.ready.set()
        self.run_worker(self._warm_up(), group="warm-up", exit_on_error=False)
        if getattr(self.app, "tour", False):
            from tui.demo import DemoTour

            tour = DemoTour(cast("MainScreen", self))
            self.run_worker(tour.play(), group="demo", exit_on_error=False)

    async def _warm_up(self) -> None:
        """Ready, load what the first prompt needs; a failure there is the prompt's to tell."""
        try:
            with contextlib.suppress(ImportError, *ui_errors()):
                await self.explorer.call(self.explorer.session.warm_up())
        finally:
            self.settled.set()

    async def select_runtime(self, pattern_id: str) -> None:
        if not self.busy:
            self.set_state("starting", pattern_id)
        try:
            runner = await self.explorer.call(self.explorer.session.select(pattern_id))
        except ui_errors() as exc:
            self.set_state("error", f"{pattern_id} did not start")
            self.say((pattern_id, self.user), ChatEntry("error", pattern_id, str(exc), ok=False))
            self.notify(str(exc), title=f"Pattern {pattern_id}", severity="error", timeout=10)
            self.query_one(UserPane).show_message(str(exc), style="red")
            return
        if runner is None or get_current_worker().is_cancelled:
            return
        if not self.busy:
            self.set_state("ready")
        await self.load_user(pattern_id, self.user)

    def refresh_user(self) -> None:
        self.start_work(self.load_user, self.pattern, self.user, group="user", exclusive=True)

    async def load_user(self, pattern_id: str, user: str) -> None:
        try:
            info = await self.explorer.call(self.explorer.session.user_info(pattern_id, user))
        except ui_errors() as exc:
            if (pattern_id, user) == self.key:
                self.query_one(UserPane).show_message(str(exc), style="red")
            return
        if info is not None and (pattern_id, user) == self.key:
            self.query_one(UserPane).show_info(info, self.explorer.masker, self.explorer.now)

    # -- prompts and steps ---------------------------------------------------------------

    def _claim(self, what: str) -> bool:
        if self.busy:
            self.notify(f"Still busy: {self.busy}. The UI stays usable; try again when it "
                        "is done.", severity="warning")
            return False
        self.busy = what
        self.set_state("working", what)
        return True

    def _release(self) -> None:
        # Every hop of the run is queued by now; route them to the chat before letting go.
        self.ingest_hops()
        self.busy = ""
        self._job = None
        self.set_state("ready")
        self.refresh_user()  # a prompt may have changed a role, a step or reset reseeds

    def on_chat_pane_prompt_submitted(self, event: ChatPane.PromptSubmitted) -> None:
        if not event.text:
            self.notify("The prompt is empty: type a question for the agent first.",
                        severity="warning")
            return
        self.send_prompt(event.text)
        self.save_state()

    def save_state(self) -> None:
        """Remember where we are and what was typed; say so once if it cannot be saved."""
        preferences = self.explorer.preferences
        reported = bool(preferences.problem)
        if not self.explorer.save_state(self.pattern, self.user) and not reported:
            self.notify(f"Preferences are not saved ({preferences.problem}); the session "
                        "goes on.", severity="warning", timeout=8)

    def send_prompt(self, text: str) -> None:
        if self._claim(f"{self.user} asks the agent"):
            self.start_work(self._send, self.pattern, self.user, text, group="job")

    async def _send(self, pattern_id: str, user: str, text: str) -> None:
        key = (pattern_id, user)
        self._job = key
        try:
            await self.explorer.call(self.explorer.session.prompt(pattern_id, user, text))
        except ui_errors() as exc:
            self.say(key, ChatEntry("error", "runtime", str(exc), ok=False))
            self.notify(str(exc), title="Prompt not sent", severity="error")
        finally:
            self._release()

    async def direct_call(self, tool: str, arguments: dict[str, Any]) -> TurnResult:
        """Call `tool` as the current user under the current pattern (no model); its hops
        reach the chat like a prompt's. Raises what the runtime raises (the caller says it)."""
        from runtime import RunnerError

        if not self._claim(f"{self.user} calls {tool}"):
            raise RunnerError(f"still busy: {self.busy}")
        key = self._job = self.key
        try:
            return await self.explorer.call(
                self.explorer.session.call_tool(key[0], key[1], tool, arguments))
        finally:
            self._release()
            self.refresh_user()   # a call can change a role

    def run_step(self, step_id: str) -> None:
        from runtime import STEPS

        if step_id not in STEPS:
            self.notify(f"Unknown step {step_id!r}.", severity="error")
            return
        if self._claim(f"step {step_id} under {self.pattern}"):
            self.start_work(self._step, self.pattern, step_id, group="job")

    async def _step(self, pattern_id: str, step_id: str) -> None:
        from runtime import STEPS

        key = (pattern_id, self.user)
        step = STEPS[step_id]  # type: ignore[index]
        self.say(key, ChatEntry("step", step_id,
                                f"Step {step_id} · {step.who}: {step.what} ({step.goal})"))
        self._job = key
        try:
            result = await self.explorer.call(self.explorer.session.step(pattern_id, step_id))
        except ui_errors() as exc:
            self.say(key, ChatEntry("error", "runtime", str(exc), ok=False))
            self.notify(str(exc), title=f"Step {step_id}", severity="error")
            return
        finally:
            self._release()
        for entry in describe_step(result):
            self.say(key, entry)

    def action_reset_world(self) -> None:
        if self._claim(f"resetting {self.pattern}"):
            self.start_work(self._reset, self.pattern, group="job")

    async def _reset(self, pattern_id: str) -> None:
        try:
            await self.explorer.call(self.explorer.session.reset(pattern_id))
        except ui_errors() as exc:
            self.notify(str(exc), title="Reset", severity="error")
            return
        finally:
            self._release()
        self.say((pattern_id, self.user), ChatEntry(
            "info", "reset", f"── {pattern_id}: the world is reset: seed data, keys, caches, "
                             "logins and clock as at start"))
        self.notify(f"Seed data, keys, caches, logins and clock of {pattern_id} are back as "
                    "at start. (The command line starts fresh on every run.)", title="Reset")


def describe_step(result: StepResult) -> list[ChatEntry]:
    from runtime import effect, expected

    number = int(result.pattern[1:]) if result.pattern[1:].isdigit() else None
    want = expected(result.step, number)
    meaning = effect(result.step, result.outcome)
    ok = want is None or result.outcome == want
    head = (f"{result.step}: {result.outcome} ({meaning}) · expected {want or '?'} "
            f"{'✓' if ok else '✗'} · decided by {result.decided_by}")
    lines = [ChatEntry("result", result.step, head, ok)]
    for part in result.parts:
        mark = "went through" if part.succeeded else "stopped"
        lines.append(ChatEntry("info", result.step, f"  {part.label}: {mark}; audit names "
                               f"{part.audit}; {part.reason}".rstrip("; ")))
    return lines
