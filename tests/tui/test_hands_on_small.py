"""The hands-on screens (replay, tool call, compare) at 80x24 and with NO_COLOR: every part
a student needs is on screen, nothing carries meaning by colour alone, and each still works."""

from __future__ import annotations

from rich.console import Group
from rich.style import Style
from rich.text import Text
from test_hands_on_tui import open_call, open_replay, screen_opened, until, wait_result
from textual.widgets import DataTable
from tui_helpers import main_screen, send_prompt, shown_text

from tui.screens.compare_screen import CompareScreen

SIZE = (80, 24)


async def on_screen(pilot, app, *ids: str) -> list[str]:
    """The ids among `ids` whose widget cannot be brought wholly inside the terminal (a
    narrow screen is one column that scrolls: each part is scrolled to, as focus does)."""
    width, height = SIZE
    off = []
    for widget_id in ids:
        widget = app.screen.query_one(f"#{widget_id}")
        widget.scroll_visible(animate=False)
        await pilot.pause(0.05)
        region = widget.region
        if not (region.width > 2 and region.height > 0 and region.right <= width
                and region.bottom <= height):
            off.append(f"{widget_id} at {region}")
    return off


def coloured(text: Text) -> list[str]:
    """The parts of `text` that say something by colour."""
    styles = [text.style, *(span.style for span in text.spans)]
    return [str(st) for st in styles
            if (Style.parse(st) if isinstance(st, str) else st).color is not None]


def content(app, selector: str) -> Text:
    """What a Static says in words (a tool's answer under it is highlighted JSON: syntax
    colour says nothing the text does not)."""
    shown = app.screen.query_one(selector).content
    if isinstance(shown, Group):
        shown = shown.renderables[0]
    assert isinstance(shown, Text)
    return shown


async def test_replay_call_and_compare_at_80x24_without_colour(make_app, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(patterns=("p05", "p06"))
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_until_ready()
        await send_prompt(pilot, app, "What are my expenses?")

        replay = await open_replay(pilot, app, lambda h: h.kind == "service" and h.tokens)
        assert await on_screen(pilot, app, "replay-line", "replay-headers", "replay-tokens",
                         "replay-claims", "replay-result") == []
        await pilot.press("x")                     # an expired token, signed by the oracle
        result = await wait_result(pilot, replay)
        assert (result.status, result.decided_by) == (401, "service")
        assert "401" in shown_text(app, "#replay-result", 78)
        refusal = content(app, "#replay-result")
        assert coloured(refusal) == [] and any(
            "reverse" in str(span.style) for span in refusal.spans)   # said by reverse
        await pilot.press("escape")

        call = await open_call(pilot, app)
        assert await on_screen(pilot, app, "call-tools", "call-args", "call-result") == []
        await pilot.press("ctrl+s")
        answer = await wait_result(pilot, call)
        assert answer.error is None and "expenses" in answer.answer
        assert coloured(content(app, "#call-result")) == []
        await pilot.press("escape")

        await pilot.press("escape", "D")
        compare = await screen_opened(pilot, app, CompareScreen)
        await until(pilot, lambda: compare.result is not None, "the comparison")
        assert await on_screen(pilot, app, "compare-left", "compare-right", "compare-table",
                         "compare-detail") == []
        assert "hops differ" in shown_text(app, "#compare-detail", 78)
        table = app.screen.query_one(DataTable)
        cells = [cell for row in range(table.row_count) for cell in table.get_row_at(row)
                 if isinstance(cell, Text)]
        assert cells and [c for c in cells if coloured(c)] == []
        assert any(c.plain.startswith("4") and "reverse" in str(c.style) for c in cells)
        await pilot.press("escape")
        assert main_screen(app) is app.screen
