"""Issue 19 as a new user tries it: run A8 under p08, then under p09, and read in the wire
why the summarizer's post was refused (and, at the IdP hop, why the hand-off was allowed)."""

from __future__ import annotations

from tui_helpers import main_screen, settle, shown_row, shown_when

from tui.widgets.hop_detail import HopDetail
from tui.widgets.wire_view import WireView

A8_ROW = 12     # the step picker lists L1 .. L5, A1 .. A7, then A8


async def _run_a8(pilot, app) -> str:
    await pilot.press("s")
    await pilot.pause(0.1)
    for _ in range(A8_ROW):
        await pilot.press("down")
    await pilot.press("enter")
    await settle(pilot, app)
    entries = main_screen(app).explorer.history.get(main_screen(app).key)
    return next(e.text for e in reversed(entries) if e.kind == "result")


async def test_a8_under_p08_then_p09_and_why_the_post_was_refused(make_app):
    app = make_app(patterns=("p08", "p09"))
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        assert (await _run_a8(pilot, app)).startswith("A8: ALLOW (attack succeeded)")
        await pilot.press("n")                                      # p08 -> p09
        await settle(pilot, app)
        assert main_screen(app).pattern == "p09"
        assert (await _run_a8(pilot, app)).startswith("A8: DENY (attack blocked)")

        await pilot.press("escape", "4")
        wire = main_screen(app).query_one(WireView)
        row = await shown_row(pilot, wire, lambda h: h.kind == "audit" and h.status == 403
                              and "post_note" in h.summary)
        wire.table.move_cursor(row=row)
        await pilot.pause(0.2)
        assert "alice (actor summarizer, delegated by agent)" in wire.selected.summary
        main_screen(app).query_one(HopDetail).active = "tab-opa"
        await shown_when(pilot, app, "#detail-opa", "post_note needs scope acme:write")

        row = await shown_row(pilot, wire, lambda h: h.kind == "idp" and h.source ==
                              "summarizer" and "token-exchange" in h.summary)
        wire.table.move_cursor(row=row)
        main_screen(app).query_one(HopDetail).active = "tab-headers"
        headers = await shown_when(pilot, app, "#detail-headers",
                                   "actor summarizer is named by the subject token's may_act",
                                   width=400)
        assert "x-explorer-delegation" in headers.lower()
        main_screen(app).query_one(HopDetail).active = "tab-jwt"
        jwt_view = await shown_when(pilot, app, "#detail-jwt", "acme:read", width=400)
        assert "summarizer" in jwt_view
