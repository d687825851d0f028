"""The status line and the footer say what is true: the state in plain words, and only the
keys that work where the focus is."""

from __future__ import annotations

import asyncio

import pytest
from tui_helpers import main_screen, settle

from tui.widgets.status_bar import StatusBar


async def test_status_says_starting_and_the_pattern_once(make_app):
    app = make_app(patterns=("p01", "p02"))
    async with app.run_test(size=(120, 40)) as pilot:
        await app.wait_until_ready()
        session = app.explorer.session
        release = asyncio.Event()   # lives on the UI loop; the runtime loop polls it
        real_select = session.select

        async def slow_select(pattern_id: str):
            while not release.is_set():
                await asyncio.sleep(0.02)
            return await real_select(pattern_id)

        session.select = slow_select
        await pilot.press("n")
        status = main_screen(app).query_one(StatusBar)
        for _ in range(200):
            if status.parts["state"] == "starting":
                break
            await pilot.pause(0.02)
        text = status.status_text().plain
        release.set()
        assert "● starting p02" in text and "starting starting" not in text
        await settle(pilot, app)
        assert status.parts["state"] == "ready"


async def test_footer_hides_single_keys_the_prompt_types_instead(make_app):
    app = make_app(patterns=("p01",))
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        screen = main_screen(app)
        await pilot.press("4")
        assert {"slash", "n", "b"} <= set(screen.active_bindings)
        await pilot.press("3")
        await pilot.pause(0.1)
        typing = set(screen.active_bindings)
        assert not {"slash", "n", "b", "question_mark", "minus"} & typing
        assert {"f1", "escape", "ctrl+p"} <= typing
        await pilot.press("slash")
        assert screen.query_one("#chat-input").value == "/"


@pytest.mark.parametrize("size", [(160, 48), (130, 40), (80, 24), (200, 50)])
async def test_prompt_placeholder_fits_the_input(make_app, size):
    app = make_app(patterns=("p01",))
    async with app.run_test(size=size) as pilot:
        await app.wait_until_ready()
        await pilot.press("3")
        await pilot.pause(0.2)
        prompt = main_screen(app).query_one("#chat-input")
        assert "alice" in prompt.placeholder
        assert len(prompt.placeholder) < prompt.content_region.width


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 50)])
async def test_the_palette_key_reaches_the_right_edge_so_nothing_shows_past_it(make_app, size):
    """At 80 columns the bindings scroll under the palette key; a one-cell gap after it
    showed the last letter of one of them in the terminal's last column."""
    from textual.widgets import Footer

    app = make_app(patterns=("p01",))
    async with app.run_test(size=size) as pilot:
        await app.wait_until_ready()
        await pilot.pause(0.1)
        footer = main_screen(app).query_one(Footer)
        palette = footer.query_one(".-command-palette")
        assert palette.region.right == footer.region.right == size[0]
