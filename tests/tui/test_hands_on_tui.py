"""The hands-on explorer: edit and replay a hop, call a tool directly, compare patterns."""

from __future__ import annotations

import json

from textual.widgets import DataTable
from tui_helpers import chat_text, main_screen, send_prompt, settle, shown_row, shown_text

from runtime import CHALLENGES
from tui.screens.compare_screen import CompareScreen
from tui.screens.replay_screen import ReplayScreen
from tui.screens.tool_call_screen import ToolCallScreen
from tui.widgets.wire_view import WireView


async def until(pilot, condition, what: str, timeout: float = 20.0) -> None:
    """Wait (on the app's own clock) until `condition()` holds; the runtime is a thread."""
    waited = 0.0
    while not condition():
        assert waited < timeout, f"timed out waiting for {what}"
        await pilot.pause(0.05)
        waited += 0.05


async def screen_opened(pilot, app, kind):
    await until(pilot, lambda: isinstance(app.screen, kind), kind.__name__)
    await pilot.pause(0.1)
    return app.screen


async def open_replay(pilot, app, predicate) -> ReplayScreen:
    await pilot.press("escape", "4")
    wire = main_screen(app).query_one(WireView)
    wire.table.move_cursor(row=await shown_row(pilot, wire, predicate))
    await pilot.pause(0.1)
    await pilot.press("R")
    return await screen_opened(pilot, app, ReplayScreen)


async def wait_result(pilot, screen, count: int = 1):
    """The `count`-th answer a replay or tool-call screen got."""
    await until(pilot, lambda: len(screen.results) >= count, "an answer")
    return screen.results[-1]


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


async def open_call(pilot, app) -> ToolCallScreen:
    await pilot.press("escape", "T")
    return await screen_opened(pilot, app, ToolCallScreen)


async def test_dave_calls_manage_users_himself_under_p06(make_app):
    app = make_app(patterns=("p06",))
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        main_screen(app).switch_user("dave")
        await settle(pilot, app)
        screen = await open_call(pilot, app)
        await pilot.press("down", "down")          # read_data -> write_data -> manage_users
        await pilot.pause(0.3)
        assert screen.tool == "manage_users"
        screen.query_one("#arg-action").value = "set_role"
        screen.query_one("#arg-username").value = "dave"
        screen.query_one("#arg-role").value = "admin"
        await pilot.pause(0.1)
        assert json.loads(screen.query_one("#call-args").text) == {
            "action": "set_role", "username": "dave", "role": "admin"}
        await pilot.press("ctrl+s")
        result = await wait_result(pilot, screen)
        assert result.model == "none (direct call)"
        assert json.loads(result.answer)["error"]["decided_by"] == "OPA"
        await pilot.press("escape")
        await settle(pilot, app)
        chat = chat_text(app)
        assert "(direct call, no model) manage_users" in chat
        kinds = [h.kind for h in main_screen(app).query_one(WireView).hops
                 if h.trace_id == result.trace_id]
        assert "llm" not in kinds and "service" in kinds


async def test_under_p03_the_key_field_holds_the_users_key_and_another_can_be_used(make_app):
    app = make_app(patterns=("p03",))
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        main_screen(app).switch_user("dave")
        await settle(pilot, app)
        screen = await open_call(pilot, app)
        shown = screen.query_one("#call-args").text
        assert "••••" in shown and "ak_dave_" not in shown   # masked until revealed
        assert screen.query_one("#arg-api_key").password
        await pilot.press("ctrl+s")
        own = await wait_result(pilot, screen)
        assert {e["owner"] for e in json.loads(own.answer)["expenses"]} == {"dave"}
        alices = main_screen(app).explorer.session.runner.world.key_for("alice")
        screen.query_one("#arg-api_key").value = alices
        await pilot.press("ctrl+s")
        stolen = await wait_result(pilot, screen, 2)
        assert {e["owner"] for e in json.loads(stolen.answer)["expenses"]} == {"alice"}


async def test_odd_argument_types_come_back_as_an_answer(make_app):
    app = make_app(patterns=("p01",))
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        screen = await open_call(pilot, app)
        for count, text in enumerate(['{"kind": 5}', '{"kind": "expenses", "query": 1e308}',
                                      '{"kind": ["a", {"b": null}]}'], 1):
            screen.query_one("#call-args").text = text
            await pilot.press("ctrl+s")
            result = await wait_result(pilot, screen, count)
            assert result.error is None and "error" in result.answer.lower()
        screen.query_one("#call-args").text = "[1, 2]"
        await pilot.press("ctrl+s")
        await pilot.pause(0.3)
        assert len(screen.results) == 3
        assert any("JSON object" in n.message for n in app._notifications)


async def test_compare_p05_and_p06_side_by_side(make_app):
    app = make_app(patterns=("p05", "p06", "p07"))
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        await send_prompt(pilot, app, "What are my expenses?")
        before = len(main_screen(app).query_one(WireView).hops)
        await pilot.press("escape", "D")
        screen = await screen_opened(pilot, app, CompareScreen)
        await until(pilot, lambda: screen.result is not None, "the comparison")
        result = screen.result
        assert result is not None and (result.left.pattern, result.right.pattern) == (
            "p05", "p06")
        assert result.what == "alice: What are my expenses?"
        marks = [screen.query_one(DataTable).get_row_at(i)[0].plain
                 for i in range(len(result.rows))]
        assert ">" in marks and "≠" in marks
        detail = shown_text(app, "#compare-detail")
        assert "hops differ" in detail and "p06:" in detail
        screen.query_one("#compare-step").value = "A5"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: screen.result is not result, "the step's comparison")
        assert screen.result.what == "step A5"
        assert screen.result.left.outcome.startswith("ALLOW")
        assert screen.result.right.outcome.startswith("DENY")
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert len(main_screen(app).query_one(WireView).hops) == before  # wire untouched


async def test_alices_l1_token_under_p05_sent_to_the_directory_with_another_audience(make_app):
    app = make_app(patterns=("p05",))
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        main_screen(app).run_step("L1")
        await settle(pilot, app)
        replay = await open_replay(pilot, app, lambda h: h.kind == "service" and h.tokens)
        replay.query_one("#replay-target").value = "directory"
        await pilot.pause(0.1)
        line = replay.query_one("#replay-line")
        assert line.value.endswith("/expenses") and replay.targets["directory"] in line.value
        line.value = line.value.replace("/expenses", "/users")
        await pilot.press("ctrl+s")               # alice's token is good everywhere: A5
        result = await wait_result(pilot, replay)
        assert result.status == 200 and result.request.target == "directory"
        assert "sent to directory instead of records" in result.notes
        await pilot.press("a")                    # narrowed to the records service
        result = await wait_result(pilot, replay, 2)
        assert (result.status, result.decided_by) == (401, "service")
        assert result.reason == "token audience is not directory-service"
        await pilot.press("z")
        assert replay.query_one("#replay-target").value == "records"


async def test_solve_the_stale_replay_challenge_under_p04_and_find_it_solved_next_time(
        make_app):
    from tui.screens.challenges_screen import ChallengesScreen

    app = make_app(patterns=("p03", "p04"))
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        await pilot.press("C")
        board = await screen_opened(pilot, app, ChallengesScreen)
        row = [c.id for c in CHALLENGES].index("stale-replay")
        board.query_one(DataTable).move_cursor(row=row, column=3)    # the p04 column
        await pilot.press("h")
        assert "hint 1:" in shown_text(app, "#challenges-detail")
        await pilot.press("enter")                                   # try it under p04
        await until(pilot, lambda: main_screen(app).pattern == "p04", "the switch to p04")
        await settle(pilot, app)
        await send_prompt(pilot, app, "What are my expenses?")
        replay = await open_replay(pilot, app, lambda h: h.kind == "service")
        await pilot.press("l", "ctrl+s")
        result = await wait_result(pilot, replay)
        assert result.status == 200 and any("3600 s later" in n for n in result.notes)
        progress = main_screen(app).explorer.progress
        await until(pilot, lambda: progress.is_solved("stale-replay", "p04"), "the solve")
        assert any(n.title == "Challenge solved" for n in app._notifications)
        await pilot.press("escape", "C")
        board = await screen_opened(pilot, app, ChallengesScreen)
        assert board.query_one(DataTable).get_cell("stale-replay", "p04").plain == "✓"
        assert not progress.is_solved("stale-replay", "p03")

    again = make_app(patterns=("p03", "p04"))       # the next session, same user
    async with again.run_test(size=(160, 48)) as pilot:
        await pilot.pause(0.2)
        assert again.explorer.progress.is_solved("stale-replay", "p04")


async def test_a_script_step_solves_no_challenge(make_app):
    app = make_app(patterns=("p01",))
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        main_screen(app).run_step("A2")                  # the script's dave escalates...
        await settle(pilot, app)
        assert main_screen(app).explorer.progress.solved == {}
        main_screen(app).switch_user("dave")
        await settle(pilot, app)
        await send_prompt(pilot, app, "Make me an admin.")   # ...but this one is yours
        progress = main_screen(app).explorer.progress
        await until(pilot, lambda: progress.is_solved("escalate", "p01"), "the solve")


async def test_hand_in_from_the_challenges_board(make_app, tmp_path):
    from dataclasses import replace

    from runtime.settings import Settings
    from tui.screens.challenges_screen import ChallengesScreen

    drop = tmp_path / "drop"
    drop.mkdir()
    app = make_app(patterns=("p01",), settings=replace(Settings(demo=True), hand_in=str(drop)))
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        main_screen(app).explorer.progress.mark("escalate", "p01", "proof")
        await pilot.press("C")
        await screen_opened(pilot, app, ChallengesScreen)
        await pilot.press("H")
        await until(pilot, lambda: any(n.title == "Handed in" for n in app._notifications),
                    "the hand-in")
        handed = list(drop.iterdir())
        assert len(handed) == 1 and json.loads(handed[0].read_text())["solved"]


async def test_the_board_shows_every_patterns_column_at_80_columns_and_the_kind_when_wider(
        make_app):
    """A student over SSH at the lab's minimum 80x24 sees all ten columns (the kind is in
    the detail); resizing wider brings the kind column back, the cursor on its pattern."""
    from tui.screens.challenges_screen import ChallengesScreen

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("C")
        board = await screen_opened(pilot, app, ChallengesScreen)
        table = board.query_one(DataTable)
        keys = [c.key.value for c in table.ordered_columns]
        assert keys == ["title"] + [p.id for p in app.explorer.patterns] and "p10" in keys
        assert table.virtual_size.width <= table.scrollable_content_region.width
        table.move_cursor(row=2, column=keys.index("p07"))
        await pilot.resize_terminal(160, 48)
        await until(pilot, lambda: "kind" in [c.key.value for c in table.ordered_columns],
                    "the kind column")
        keys = [c.key.value for c in table.ordered_columns]
        assert keys[:2] == ["title", "kind"]
        assert table.cursor_coordinate == (2, keys.index("p07"))
        assert "p07 stops this attack" in shown_text(app, "#challenges-detail")
