"""The explorer's main flows, driven through Textual's pilot on the real embedded runtime."""

from __future__ import annotations

import json

from tui_helpers import (
    chat_text,
    main_screen,
    send_prompt,
    settle,
    shown_row,
    shown_when,
)

from tui.widgets.hop_detail import HopDetail
from tui.widgets.status_bar import StatusBar
from tui.widgets.user_pane import UserPane
from tui.widgets.wire_view import WireView


async def test_picking_pattern_and_user_updates_panes(make_app):
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        await pilot.press("n", "n", "n", "n")  # p01 -> p05
        await pilot.press("u")  # alice -> bob
        await settle(pilot, app)
        screen = main_screen(app)
        assert (screen.pattern, screen.user) == ("p05", "bob")
        assert "p05" in screen.query_one(StatusBar).parts["pattern"]
        await pilot.pause(0.5)
        info = screen.query_one(UserPane).info
        assert info is not None and info.user == "bob"
        assert info.user_credential == "bearer_token"
        assert info.token is not None and info.token.claims["preferred_username"] == "bob"


async def test_sending_a_prompt_shows_the_answer_tool_call_and_hops(make_app):
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        await send_prompt(pilot, app, "What are my expenses?")
        text = chat_text(app)
        assert "What are my expenses?" in text
        assert "read_data(" in "\n".join(e.who for e in main_screen(app).explorer.history.get(
            main_screen(app).key))
        assert "USD 1,450.00" in text  # p01: the agent sees every expense
        kinds = {hop.kind for hop in main_screen(app).query_one(WireView).shown}
        assert {"prompt", "llm", "mcp", "service", "answer"} <= kinds


async def test_opening_a_hop_shows_its_decoded_jwt(make_app):
    app = make_app(patterns=("p05",))
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        await send_prompt(pilot, app, "What are my expenses?")
        await pilot.press("escape", "4")
        wire = main_screen(app).query_one(WireView)
        row = await shown_row(pilot, wire, lambda h: h.kind == "service" and h.tokens)
        wire.table.move_cursor(row=row)
        main_screen(app).query_one(HopDetail).active = "tab-jwt"
        rendered = await shown_when(pilot, app, "#detail-jwt", "records-service")
        assert "alice" in rendered


async def test_token_exchange_hop_shows_the_claims_diff(make_app):
    app = make_app(patterns=("p06",))
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        await send_prompt(pilot, app, "What are my expenses?")
        wire = main_screen(app).query_one(WireView)
        row = await shown_row(pilot, wire, lambda h: "token-exchange" in h.summary)
        wire.table.move_cursor(row=row)
        main_screen(app).query_one(HopDetail).active = "tab-diff"
        rendered = await shown_when(pilot, app, "#detail-diff", "changed")
        assert "aud" in rendered
        assert "after:  Bearer token sub=alice aud=records-service" in rendered


async def test_running_a_step_marks_the_attacker_and_the_outcome(make_app):
    app = make_app(patterns=("p06",))
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        await pilot.press("s")
        await pilot.pause(0.1)
        for _ in range(9):  # L1 .. L5, A1 .. A5
            await pilot.press("down")
        await pilot.press("enter")
        await settle(pilot, app)
        entries = main_screen(app).explorer.history.get(main_screen(app).key)
        assert any(e.kind == "attacker" for e in entries)
        result = next(e for e in entries if e.kind == "result")
        assert result.text.startswith("A5: DENY (attack blocked)") and result.ok


async def test_scoreboard_runs_the_script_and_drills_into_a_cell(make_app):
    app = make_app(patterns=("p04", "p05"))
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        await pilot.press("S")
        await pilot.pause(0.2)
        board = app.get_screen("scoreboard")
        for _ in range(300):
            if not board.running:
                break
            await pilot.pause(0.1)
        run = app.explorer.script_run
        assert run is not None and len(run.cells) == 2 * 14
        assert all(c.ok for c in run.cells.values())
        assert run.columns["p05"]["crypto proof"] == "yes"
        await pilot.press("right", *["down"] * 8)
        await pilot.press("enter")  # p05 A4 (L1 .. L5, A1 .. A4)
        await pilot.pause(0.3)
        detail = app.screen
        assert type(detail).__name__ == "CellDetail"
        assert any(h.kind == "attacker" for h in detail.query_one(WireView).shown)
        await pilot.press("escape", "escape")
        await pilot.pause(0.1)
        assert main_screen(app).query_one("#patterns").patterns[1].id == "p05"
        assert app.explorer.marks == {"p04": "ok", "p05": "ok"}


async def test_export_writes_har_and_jsonl_and_a_hop_as_curl(make_app, tmp_path):
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        await send_prompt(pilot, app, "What are my expenses?")
        await pilot.press("escape", "e")
        har_files = list((tmp_path / "exports").glob("session-*.har"))
        jsonl_files = list((tmp_path / "exports").glob("session-*.jsonl"))
        assert len(har_files) == 1 and len(jsonl_files) == 1
        har = json.loads(har_files[0].read_text())
        assert har["log"]["version"] == "1.2" and har["log"]["entries"]
        assert all(e["_pattern"] == "p01" for e in har["log"]["entries"])
        exchanges, events = len(har["log"]["entries"]), len(har["log"]["_events"])
        lines = jsonl_files[0].read_text().splitlines()
        assert len(lines) == exchanges + events == len(app.explorer.hops["p01"])
        toast = str(list(app._notifications)[-1].message)  # says which went where
        assert f"{exchanges} HTTP exchanges" in toast and f"other {events} hops" in toast
        assert f"all {exchanges + events} hops" in toast
        wire = main_screen(app).query_one(WireView)
        wire.table.move_cursor(row=await shown_row(pilot, wire, lambda h: bool(h.url)))
        await pilot.press("4", "x")
        assert app.clipboard.startswith("curl -sS -X")
        assert list((tmp_path / "exports").glob("hop-*.sh"))


async def test_filter_by_kind_and_status(make_app):
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        await send_prompt(pilot, app, "What are my expenses?")
        await pilot.press("escape", "slash")
        for char in "kind:llm":
            await pilot.press(char)
        await pilot.press("enter")
        wire = main_screen(app).query_one(WireView)
        assert wire.shown and {h.kind for h in wire.shown} == {"llm"}
        main_screen(app).apply_filter("status:err")
        assert wire.shown == []
        main_screen(app).apply_filter("")
        assert len(wire.shown) == len(wire.hops)


async def test_reveal_shows_and_hides_demo_api_keys(make_app):
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        masked = await shown_when(pilot, app, "#user-token", "ak_alice_")
        assert "ak_alice_••••••" in masked and "0000000001" not in masked
        await pilot.press("r")
        await shown_when(pilot, app, "#user-token", "ak_alice_0000000001")


async def test_maximize_and_restore_a_pane(make_app):
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        await pilot.press("4", "m")
        assert app.screen.maximized is not None and app.screen.maximized.id == "pane-wire"
        await pilot.press("m")
        assert app.screen.maximized is None


async def test_switching_back_keeps_the_chat_per_pattern_and_user(make_app):
    app = make_app(patterns=("p01", "p02"))
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        await send_prompt(pilot, app, "List all users.")
        await pilot.press("escape", "n", "u")
        await settle(pilot, app)
        assert chat_text(app) == ""
        await pilot.press("p", "u", "u")
        await settle(pilot, app)
        assert "List all users." in chat_text(app)
