"""Keystrokes under CPU load: a key that moves the focus and the keys typed after it arrive
in one burst when the UI lags (the terminal driver reads them together); each must land
where the first one sent the focus, while something else keeps the CPU busy."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import pytest
from textual import events
from textual.widgets import Input
from tui_helpers import main_screen, settle

from tui.widgets.chat_pane import PromptInput

BUSY_FOR = 20.0   # seconds at most; the test stops the load as soon as it is done


@contextlib.contextmanager
def cpu_load() -> Iterator[None]:
    """A thread spinning in Python (holding the GIL as a busy runtime does), bounded in time."""
    stop = threading.Event()

    def spin() -> None:
        deadline = time.monotonic() + BUSY_FOR
        while not stop.is_set() and time.monotonic() < deadline:
            sum(i * i for i in range(20_000))

    thread = threading.Thread(target=spin, name="cpu-load", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


CHARACTERS = {"slash": "/", "space": " "}


def burst(app: object, *keys: str) -> None:
    """Post keys back to back, as the driver does when it reads several at once."""
    for key in keys:
        character = key if len(key) == 1 else CHARACTERS.get(key)
        app.post_message(events.Key(key, character))  # type: ignore[attr-defined]


async def burst_under_load(make_app, before: tuple[str, ...], keys: tuple[str, ...]
                           ) -> tuple[str, str]:
    """Press `before` one by one, then post `keys` in one burst while the CPU is busy; the
    focused widget afterwards and the text of the prompt and the filter box."""
    app = make_app(patterns=("p01",))
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        await settle(pilot, app)
        await pilot.press(*before)
        await pilot.pause(0.1)
        with cpu_load():
            burst(app, *keys)
            await pilot.pause(0.5)
        screen = main_screen(app)
        prompt, box = screen.query_one(PromptInput), screen.query_one("#wire-filter", Input)
        focused = "prompt" if app.focused is prompt else "filter" if app.focused is box else (
            repr(app.focused))
        return focused, f"{prompt.value}|{box.value}"


@pytest.mark.parametrize(("before", "keys", "focused", "texts"), [
    # the Wire pane has the focus; 3 goes to the prompt and the rest is typed there
    (("4",), ("3", "h", "i", "!"), "prompt", "hi!|"),
    # Esc leaves the prompt, 3 comes back (it is not typed) and, as when typed slowly,
    # coming back selects the prompt's text, which the c replaces
    (("3", "a", "b"), ("escape", "3", "c"), "prompt", "c|"),
    # from the Pattern pane, / opens the filter box and the rest is typed into it
    (("1",), ("slash", "k", "i", "n", "d"), "filter", "|kind"),
    # in the prompt, digits and / are text
    (("3",), ("1", "2", "slash", "4"), "prompt", "12/4|"),
], ids=["3-then-typing", "escape-3", "slash-then-typing", "digits-in-the-prompt"])
async def test_keys_in_one_burst_land_where_the_first_sent_the_focus(make_app, before, keys,
                                                                     focused, texts):
    landed, typed = await burst_under_load(make_app, before, keys)
    assert (landed, typed) == (focused, texts)
