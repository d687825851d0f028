"""Bad input never crashes the explorer: each case shows a clear message in the app."""

from __future__ import annotations

from pathlib import Path

from tui_helpers import chat_text, main_screen, send_prompt, settle

from runtime.pattern_loader import PatternInfo
from runtime.settings import Settings
from tui.widgets.chat_pane import clean_prompt


def notices(app) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


async def test_empty_prompt_is_refused_with_a_notification(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.wait_until_ready()
        await pilot.press("3", "space", "enter")
        await settle(pilot, app)
        assert "prompt is empty" in notices(app)
        assert main_screen(app).explorer.hops.get("p01", []) == [] or all(
            h.kind != "prompt" for h in main_screen(app).explorer.hops["p01"])


async def test_very_long_prompt_is_rejected_with_the_limit(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.wait_until_ready()
        main_screen(app).send_prompt("expenses " * 800)
        await settle(pilot, app)
        assert "the limit is 4000" in chat_text(app)
        assert "the limit is 4000" in notices(app)


async def test_pasted_garbage_is_cleaned_and_answered(make_app):
    assert clean_prompt("\x1b[31mWhat\x00 are my expenses?\x07\r\n") == "[31mWhat are my expenses?"
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.wait_until_ready()
        await pilot.press("3")
        await pilot.pause(0.05)
        app.screen.query_one("#chat-input").insert_text_at_cursor("\x00\x1b]52;c;aGk=\x07 ☃ zzz")
        await pilot.press("enter")
        await settle(pilot, app)
        assert "agent" in {e.kind for e in main_screen(app).explorer.history.get(
            main_screen(app).key)}


async def test_unknown_filter_term_explains_the_syntax(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.wait_until_ready()
        await pilot.press("slash", *"kind:bogus", "enter")
        await pilot.pause(0.1)
        assert "unknown hop kind bogus" in notices(app)


def _broken_pattern(tmp_path: Path) -> PatternInfo:
    folder = tmp_path / "p09_broken"
    folder.mkdir()
    (folder / "README.md").write_text("# broken\n")
    (folder / "mcp_auth.py").write_text("raise RuntimeError('boom at import')\n")
    (folder / "service_auth.py").write_text("")
    return PatternInfo("p09", folder, "broken")


async def test_a_pattern_that_fails_to_load_is_reported_and_the_app_goes_on(make_app, tmp_path):
    from tui_helpers import stable_patterns

    app = make_app(pattern_infos=[*stable_patterns(("p01",)), _broken_pattern(tmp_path)])
    async with app.run_test(size=(80, 24)) as pilot:
        await app.wait_until_ready()
        await pilot.press("n")
        await settle(pilot, app)
        await pilot.pause(0.3)
        assert "boom at import" in chat_text(app)
        await pilot.press("p")
        await settle(pilot, app)
        await send_prompt(pilot, app, "List all users.")
        assert "alice" in chat_text(app)


async def test_unreachable_external_stack_shows_a_clear_message(make_app):
    settings = Settings(stack="external", keycloak_url="http://127.0.0.1:9",
                        opa_url="http://127.0.0.1:9", timeout=0.5, demo=True)
    app = make_app(settings=settings)
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(100):
            await pilot.pause(0.05)
            if "external stack not ready" in notices(app):
                break
        assert "external stack not ready" in notices(app)
        assert "docker compose up -d" in chat_text(app)
        await pilot.press("n", "s", "escape")  # still usable
        assert main_screen(app).pattern == "p02"
