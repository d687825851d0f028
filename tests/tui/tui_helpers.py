"""Driving the app like a user: wait for the runtime, type a prompt, wait for the answer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from textual.pilot import Pilot

from runtime.pattern_loader import PatternInfo, discover
from tui.app import AgentAuthApp
from tui.screens.main_screen import MainScreen
from tui.widgets.wire_view import WireView


def main_screen(app: AgentAuthApp) -> MainScreen:
    assert app.main_screen is not None
    return app.main_screen


async def settle(pilot: Pilot, app: AgentAuthApp, timeout: float = 30.0) -> None:
    """Wait until no prompt, step, switch or user-pane load is running and the UI has
    caught up (the user pane reloads after every prompt and step)."""
    screen = main_screen(app)
    waited = 0.0
    await pilot.pause(0.05)
    while screen.busy or not screen.ready.is_set() or any(
            w.is_running and w.group in ("job", "select", "user") for w in screen.workers):
        await pilot.pause(0.05)
        waited += 0.05
        assert waited < timeout, f"still busy: {screen.busy!r}"
    await pilot.wait_for_scheduled_animations()
    await pilot.pause(0.15)


async def until(pilot: Pilot, condition: Callable[[], object], what: str,
                timeout: float = 15.0) -> None:
    """Wait for `condition()` to hold (work lands in batches from the runtime thread)."""
    waited = 0.0
    while not condition():
        assert waited < timeout, f"timed out waiting for {what}"
        await pilot.pause(0.05)
        waited += 0.05


async def send_prompt(pilot: Pilot, app: AgentAuthApp, text: str) -> None:
    await pilot.press("3")
    await pilot.pause(0.05)
    for char in text:
        await pilot.press(char if char != " " else "space")
    await pilot.press("enter")
    await settle(pilot, app)


async def wire_after_prompt(pilot: Pilot, app: AgentAuthApp, text: str) -> WireView:
    """Send `text` as the current user, then focus the Wire pane; its view is returned."""
    await app.wait_until_ready()
    await send_prompt(pilot, app, text)
    await pilot.press("escape", "4")
    return main_screen(app).query_one(WireView)


def chat_text(app: AgentAuthApp) -> str:
    screen = main_screen(app)
    return "\n".join(e.text for e in screen.explorer.history.get(screen.key))


def shown_text(app: AgentAuthApp, selector: str, width: int = 200) -> str:
    """The plain text a Static currently shows (Rich renderables rendered at `width`)."""
    from io import StringIO

    from rich.console import Console

    content = app.screen.query_one(selector).content  # type: ignore[attr-defined]
    console = Console(width=width, file=StringIO(), no_color=True, color_system=None)
    console.print(content)
    return console.file.getvalue()  # type: ignore[attr-defined]


async def shown_when(pilot: Pilot, app: AgentAuthApp, selector: str, *needles: str,
                     width: int = 200) -> str:
    """What `selector` shows once it holds every one of `needles`: the detail panes follow
    the cursor a beat later (a 40 ms debounce, more on a busy CPU), so a fixed pause flakes.
    Times out saying what it waited for."""
    await until(pilot, lambda: all(n in shown_text(app, selector, width) for n in needles),
                f"{selector} to show {needles}")
    return shown_text(app, selector, width)


async def shown_row(pilot: Pilot, wire: object, predicate: object,
                    timeout: float = 10.0) -> int:
    """Index of the first shown hop matching `predicate`, waiting for hops still in flight
    (they reach the UI in batches from the runtime thread)."""
    waited = 0.0
    while True:
        for index, hop in enumerate(wire.shown):  # type: ignore[attr-defined]
            if predicate(hop):  # type: ignore[operator]
                return index
        assert waited < timeout, "no matching hop reached the wire view"
        await pilot.pause(0.05)
        waited += 0.05


SNAPSHOT_SIZES = {"small": (80, 24), "large": (160, 48)}


def stable_patterns(ids: tuple[str, ...] | None = None) -> list[PatternInfo]:
    """Pattern titles pinned to folder names, so narrative edits do not churn snapshots."""
    found = [replace(p, title=p.folder.name.split("_", 1)[1].replace("_", " "))
             for p in discover()]
    return [p for p in found if ids is None or p.id in ids]
