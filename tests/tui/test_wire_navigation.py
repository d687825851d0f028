"""Moving around the Wire pane: maximized it still fits, keys jump to the first and last
hop and from a service call to its policy decision and audit record."""

from __future__ import annotations

import pytest
from tui_helpers import main_screen, shown_row, wire_after_prompt

from tui.widgets.hop_detail import HopDetail
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


async def test_the_wire_keeps_a_bounded_record_and_says_how_many_older_hops_went(
        make_app, monkeypatch):
    monkeypatch.setattr("runtime.wire.HOP_LOG_HOPS", 8)   # ~a prompt's worth of hops
    app = make_app(patterns=("p01",))
    async with app.run_test(size=(160, 48)) as pilot:
        wire = await wire_after_prompt(pilot, app, "What are my expenses?")
        await wire_after_prompt(pilot, app, "What are my expenses?")
        kept = app.explorer.hops["p01"]
        assert kept.dropped > 0 and len(kept) <= 8
        assert [h.seq for h in wire.hops] == [h.seq for h in kept]   # the same newest ones
        assert wire.table.row_count == len(wire.shown) == len(kept)
        subtitle = str(main_screen(app).query_one("#pane-wire").border_subtitle)
        assert f"{wire.hops.dropped:,} older hops dropped" in subtitle
        assert wire.selected is kept[-1]   # still following the newest
