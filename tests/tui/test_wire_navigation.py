"""Moving around the Wire pane: maximized it still fits, keys jump to the first and last
hop and from a service call to its policy decision and audit record."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from tui_helpers import main_screen, shown_row, wire_after_prompt

from runtime.wire import Hop
from tui.widgets.hop_detail import HopDetail
from tui.widgets.pane import Pane
from tui.widgets.wire_view import WireView


@pytest.mark.parametrize("size", [(160, 48), (130, 40), (80, 24)])
async def test_maximized_wire_fits_the_screen_with_every_column(make_app, size):
    app = make_app(patterns=("p01",))
    async with app.run_test(size=size) as pilot:
        await app.wait_until_ready()
        await pilot.press("4", "m")
        await pilot.pause(0.2)
        screen = main_screen(app)
        pane = screen.query_one("#pane-wire")
        assert screen.maximized is pane
        assert pane.region.right <= size[0] and pane.region.bottom <= size[1]
        wire = screen.query_one(WireView)
        assert wire.table.virtual_size.width <= wire.table.scrollable_content_region.width
        assert [name for name, _ in wire.columns][-2:] == ["st", "took"]
        await pilot.press("m")
        assert screen.maximized is None


async def test_home_end_g_and_shift_g_jump_to_the_first_and_last_hop(make_app):
    app = make_app(patterns=("p01",))
    async with app.run_test(size=(160, 48)) as pilot:
        wire = await wire_after_prompt(pilot, app, "What are my expenses?")
        last = len(wire.shown) - 1
        assert last > 5
        for key, row in (("home", 0), ("end", last), ("g", 0), ("G", last)):
            await pilot.press(key)
            assert wire.table.cursor_row == row, key


async def test_o_and_a_jump_from_a_service_call_to_its_opa_decision_and_audit_record(make_app):
    app = make_app(patterns=("p06",))
    async with app.run_test(size=(160, 48)) as pilot:
        wire = await wire_after_prompt(pilot, app, "What are my expenses?")
        call = await shown_row(pilot, wire, lambda h: h.kind == "service")
        wire.table.move_cursor(row=call)
        service = wire.selected
        await pilot.press("o")
        opa = wire.selected
        assert opa.kind == "opa" and opa.source == "records"
        assert opa.trace_id == service.trace_id and opa.seq < service.seq
        assert main_screen(app).query_one(HopDetail).active == "tab-opa"
        await pilot.press("a")
        audit = wire.selected
        assert audit.kind == "audit" and audit.source == "records"
        assert "ALLOW read_expenses by alice" in audit.summary
        await pilot.press("a")  # the same key again: back to the call
        assert wire.selected is service


async def test_o_on_a_pattern_without_opa_says_so_and_stays(make_app):
    app = make_app(patterns=("p01",))
    async with app.run_test(size=(160, 48)) as pilot:
        wire = await wire_after_prompt(pilot, app, "What are my expenses?")
        wire.table.move_cursor(row=await shown_row(pilot, wire, lambda h: h.kind == "service"))
        service = wire.selected
        await pilot.press("o")
        assert wire.selected is service
        assert any("nobody asked OPA" in str(n.message) for n in app._notifications)
        wire.table.move_cursor(row=0)
        await pilot.press("a")
        assert any("Select a call" in str(n.message) for n in app._notifications)


async def test_typed_filter_with_negation_and_alternatives(make_app):
    app = make_app(patterns=("p01",))
    async with app.run_test(size=(160, 48)) as pilot:
        wire = await wire_after_prompt(pilot, app, "What are my expenses?")
        await pilot.press("slash", *"!kind:llm|mcp", "enter")
        kinds = {h.kind for h in wire.shown}
        assert kinds and not kinds & {"llm", "mcp"} and "service" in kinds
        await pilot.press("slash", "ctrl+u", *"kind:llm|mcp !status:err", "enter")
        assert {h.kind for h in wire.shown} == {"llm", "mcp"}
        await pilot.press("slash", "ctrl+u", "up", "up", "enter")  # the filter history
        assert {h.kind for h in wire.shown} == kinds



async def test_the_session_keeps_a_bounded_record_of_each_patterns_hops(make_app, monkeypatch):
    monkeypatch.setattr("runtime.wire.HOP_LOG_HOPS", 8)   # ~a prompt's worth of hops
    app = make_app(patterns=("p01",))
    async with app.run_test(size=(160, 48)) as pilot:
        await wire_after_prompt(pilot, app, "What are my expenses?")
        await wire_after_prompt(pilot, app, "What are my expenses?")
        kept = app.explorer.hops["p01"]
        assert kept.dropped > 0 and len(kept) <= 8
        assert [h.seq for h in kept] == sorted(h.seq for h in kept)   # the newest, in order
        assert kept[-1].kind == "answer"


def _hop(seq: int) -> Hop:
    return Hop(seq=seq, trace_id="t", kind="mcp", source="client", target="mcp-server",
               summary=f"POST /mcp #{seq}", method="POST", url="http://127.0.0.1:9/mcp",
               status=401)


class _WireApp(App[None]):
    def compose(self) -> ComposeResult:
        with Pane("4 Wire", id="pane-wire"):
            yield WireView(id="wire")


async def test_the_pane_shows_its_newest_rows_and_keeps_the_hop_being_read(monkeypatch):
    """The Wire pane shows at most WIRE_ROWS hops (the session's record keeps more, for
    export): past that the oldest quarter goes, the border says how many, a hop being read
    stays under the cursor, and a cursor following the newest keeps following."""
    monkeypatch.setattr("tui.widgets.wire_view.WIRE_ROWS", 12)
    app = _WireApp()
    async with app.run_test(size=(160, 40)) as pilot:
        wire = app.query_one(WireView)
        for seq in range(1, 11):
            wire.add_hops([_hop(seq)])
        assert wire.select_seq(9)                        # reading an older hop
        wire.add_hops([_hop(seq) for seq in range(11, 16)])
        await pilot.pause()
        # at the 13th the oldest quarter went (down to 9), then two more came
        assert [h.seq for h in wire.hops] == list(range(5, 16))
        assert wire.table.row_count == 11 and wire.selected.seq == 9
        border = str(app.query_one(Pane).border_subtitle)
        assert border == "4 older hops not shown: the newest 11 are"
        assert wire.select_seq(15)                       # following the newest
        wire.add_hops([_hop(seq) for seq in range(16, 20)])
        await pilot.pause()
        assert wire.selected.seq == 19 and len(wire.hops) <= 12
