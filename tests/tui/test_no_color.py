"""NO_COLOR: what colour said is still said by words, marks and bold/reverse/underline."""

from __future__ import annotations

from rich.style import Style
from tui_helpers import main_screen, settle

from tui.widgets.wire_view import WireView


def _style(value: str | Style) -> Style:
    return value if isinstance(value, Style) else Style.parse(value)


async def test_attacker_and_refusals_read_without_colour(make_app, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(patterns=("p02",))
    async with app.run_test(size=(80, 24)) as pilot:
        await app.wait_until_ready()
        main_screen(app).run_step("A1")   # the attacker calls records with no credential: 401
        await settle(pilot, app)
        wire = main_screen(app).query_one(WireView)
        names = [name for name, _ in wire.columns]
        rows = [dict(zip(names, wire.table.get_row_at(i), strict=True))
                for i in range(wire.table.row_count)]
        assert all(_style(cell.style).color is None for row in rows for cell in row.values())
        attacker = next(r for r in rows if r["kind"].plain == "attacker")
        assert {"bold", "reverse"} <= set(str(_style(attacker["kind"].style)).split())
        refused = next(r for r in rows if r["st"].plain == "401")
        assert _style(refused["st"].style).reverse and _style(refused["st"].style).bold
        ok = next(r for r in rows if r["st"].plain == "200")
        assert not _style(ok["st"].style).reverse

        await pilot.press("3")
        await pilot.pause(0.2)
        log = main_screen(app).query_one("#chat-log")
        segments = [s for line in log.lines for s in line if s.text.strip()]
        assert segments and all(s.style is None or s.style.color is None for s in segments)
        marked = [s for s in segments if "ATTACKER" in s.text]
        assert marked and all(s.style.reverse and s.style.bold for s in marked)
