"""The hands-on explorer: edit and replay a hop, call a tool directly, compare patterns."""

from __future__ import annotations

from tui_helpers import main_screen, send_prompt, settle, shown_row

from tui.screens.replay_screen import ReplayScreen
from tui.widgets.wire_view import WireView


async def open_replay(pilot, app, predicate) -> ReplayScreen:
    screen = main_screen(app)
    await pilot.press("escape", "4")
    wire = screen.query_one(WireView)
    row = await shown_row(pilot, wire, predicate)
    wire.table.move_cursor(row=row)
    await pilot.pause(0.1)
    await pilot.press("R")
    for _ in range(100):
        if isinstance(app.screen, ReplayScreen):
            break
        await pilot.pause(0.05)
    assert isinstance(app.screen, ReplayScreen)
    await pilot.pause(0.1)
    return app.screen


async def wait_result(pilot, replay: ReplayScreen, count: int = 1):
    for _ in range(200):
        if len(replay.results) >= count:
            return replay.results[-1]
        await pilot.pause(0.05)
    raise AssertionError("no replay result")


async def test_expire_a_token_and_replay_it_under_p06(make_app):
    app = make_app(patterns=("p06",))
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        await send_prompt(pilot, app, "What are my expenses?")
        replay = await open_replay(pilot, app, lambda h: h.kind == "service" and h.tokens)
        await pilot.press("x")
        result = await wait_result(pilot, replay)
        assert (result.status, result.decided_by) == (401, "service")
        assert "expired" in result.reason



async def test_resend_as_is_then_back_on_the_wire_the_replay_is_selected(make_app):
    app = make_app(patterns=("p06",))
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        await send_prompt(pilot, app, "What are my expenses?")
        replay = await open_replay(pilot, app, lambda h: h.kind == "service" and h.tokens)
        original = replay.hop
        headers = replay.query_one("#replay-headers").text
        assert "authorization: Bearer ⟨token 0⟩" in headers and "eyJ" not in headers
        await pilot.press("ctrl+s")
        result = await wait_result(pilot, replay)
        assert (result.status, result.decided_by) == (200, "OPA") and not result.notes
        await pilot.press("escape")
        await pilot.pause(0.3)
        wire = main_screen(app).query_one(WireView)
        selected = wire.selected
        assert selected is not None and selected.data["replay"]["of"] == original.seq
        assert selected.summary == f"replay of #{original.seq}: GET /expenses"


async def test_other_audience_and_a_dropped_header(make_app):
    app = make_app(patterns=("p06",))
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        await send_prompt(pilot, app, "What are my expenses?")
        replay = await open_replay(pilot, app, lambda h: h.kind == "service" and h.tokens)
        await pilot.press("a")
        result = await wait_result(pilot, replay)
        assert result.status == 401 and "audience" in result.reason
        assert '"aud": "directory-service"' in replay.query_one("#replay-claims").text
        await pilot.press("z")           # undo: the request as captured again
        assert '"aud": "records-service"' in replay.query_one("#replay-claims").text
        area = replay.query_one("#replay-headers")
        area.text = "\n".join(line for line in area.text.splitlines()
                               if not line.startswith("authorization"))
        area.focus()
        await pilot.press("z")           # in an editor, letters type: no undo
        assert area.text.startswith("z")
        area.text = area.text[1:]
        await pilot.press("ctrl+s")
        result = await wait_result(pilot, replay, 2)
        assert (result.status, result.decided_by) == (401, "service")
        assert "headers added or removed" in result.notes


async def test_drop_act_under_p07_and_a_stale_proof_under_p08(make_app):
    app = make_app(patterns=("p07", "p08"))
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        await send_prompt(pilot, app, "What are my expenses?")
        replay = await open_replay(pilot, app, lambda h: h.kind == "service" and h.tokens)
        await pilot.press("d")
        result = await wait_result(pilot, replay)
        assert result.status == 200 and any("act: removed" in n for n in result.notes)
        assert main_screen(app).explorer.session.runner.world.audit[-1].actor == "mcp-server"
        await pilot.press("o")           # p07 sends no DPoP proof: said, nothing sent
        await pilot.pause(0.2)
        assert replay.results == [result]
        assert any("no DPoP proof" in n.message for n in app._notifications)
        await pilot.press("escape")
        await pilot.pause(0.2)
        await pilot.press("n")
        await settle(pilot, app)
        await send_prompt(pilot, app, "What are my expenses?")
        replay = await open_replay(pilot, app, lambda h: h.kind == "service" and len(h.tokens) > 1)
        await pilot.press("o")
        result = await wait_result(pilot, replay)
        assert result.status == 401 and "older than" in result.reason
        assert any("holder" in n or "DPoP key" in n for n in result.notes)


async def test_bad_claims_json_is_not_sent_and_a_prompt_hop_cannot_be_replayed(make_app):
    app = make_app(patterns=("p06",))
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        await send_prompt(pilot, app, "What are my expenses?")
        replay = await open_replay(pilot, app, lambda h: h.kind == "service" and h.tokens)
        replay.query_one("#replay-claims").text = "{not json"
        await pilot.press("ctrl+s")
        await pilot.pause(0.3)
        assert replay.results == []
        assert any("not valid JSON" in n.message for n in app._notifications)
        await pilot.press("escape")
        await pilot.pause(0.2)
        wire = main_screen(app).query_one(WireView)
        row = await shown_row(pilot, wire, lambda h: h.kind == "prompt")
        wire.table.move_cursor(row=row)
        await pilot.press("R")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, ReplayScreen)
        assert any("HTTP hop" in n.message for n in app._notifications)


async def test_a_masked_api_key_is_sent_as_captured(make_app):
    app = make_app(patterns=("p02",))
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        await send_prompt(pilot, app, "What are my expenses?")
        replay = await open_replay(pilot, app, lambda h: h.kind == "service")
        shown = replay.query_one("#replay-headers").text
        assert "••••" in shown
        await pilot.press("ctrl+s")
        result = await wait_result(pilot, replay)
        assert result.status == 200
