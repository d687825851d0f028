"""What the explorer remembers between sessions, and that bad files never cost a session."""

from __future__ import annotations

import json

from tui_helpers import main_screen, send_prompt, settle, until

from runtime.settings import Settings
from tui.preferences import Places, Preferences, SavedState


async def test_theme_pattern_user_and_histories_come_back_next_time(make_app, tmp_path):
    places = Places.under(tmp_path / "mine")
    app = make_app(patterns=("p01", "p02"), places=places)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.wait_until_ready()
        await pilot.press("n", "u")                               # p02, bob
        await send_prompt(pilot, app, "List all users.")
        await pilot.press("escape", "slash", *"kind:llm", "enter")
        app.theme = "nord"
        await pilot.pause(0.1)
    assert json.loads((places.config / "config.json").read_text()) == {"theme": "nord"}

    again = make_app(patterns=("p01", "p02"), places=places)
    async with again.run_test(size=(120, 40)) as pilot:
        await again.wait_until_ready()
        screen = main_screen(again)
        assert (screen.pattern, screen.user, again.theme) == ("p02", "bob", "nord")
        await pilot.press("3", "up")
        assert screen.query_one("#chat-input").value == "List all users."
        await pilot.press("escape", "slash", "up")
        assert screen.query_one("#wire-filter").value == "kind:llm"


async def test_broken_files_are_ignored_and_the_session_goes_on(make_app, tmp_path):
    places = Places.under(tmp_path / "broken")
    places.config.mkdir(parents=True)
    places.state.mkdir(parents=True)
    (places.config / "config.json").write_bytes(b"\xff\xfe{not json" + b"[" * 100_000)
    (places.state / "state.json").write_text(json.dumps(
        {"pattern": ["p02"], "user": "mallory", "prompts": [1, None, "x" * 5000, "ok"],
         "filters": "kind:llm"}))
    app = make_app(patterns=("p01", "p02"), places=places)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.wait_until_ready()
        screen = main_screen(app)
        assert (screen.pattern, screen.user) == ("p01", "alice")
        assert app.explorer.remembered == SavedState("", "mallory", ["ok"], [])
        await send_prompt(pilot, app, "What are my expenses?")
    saved = json.loads((places.state / "state.json").read_text())
    assert saved["prompts"] == ["ok", "What are my expenses?"]
    assert Preferences(places).theme() == ""         # the garbage config is just not used


async def test_a_directory_that_cannot_be_written_is_reported_once(make_app, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    places = Places(blocker / "config", blocker / "state")
    app = make_app(patterns=("p01",), places=places)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.wait_until_ready()
        await send_prompt(pilot, app, "What are my expenses?")
        await send_prompt(pilot, app, "List all users.")
        app.theme = "nord"
        await settle(pilot, app)
        warnings = [n for n in app._notifications if "Preferences are not saved" in n.message]
        assert len(warnings) == 1 and app.is_running
        assert "List all users." in "\n".join(
            e.text for e in main_screen(app).explorer.history.get(main_screen(app).key))


async def test_lab_sessions_remember_nothing_and_demos_restore_nothing(make_app, tmp_path):
    env = {"AGENT_AUTH_CONFIG_DIR": str(tmp_path / "c"), "AGENT_AUTH_STATE_DIR":
           str(tmp_path / "s")}
    lab = Places.from_env(env, lab=True)
    assert (lab.config, lab.state) == (None, None)
    demo = Places.from_env(env, demo=True)
    assert demo.state is None and demo.config == tmp_path / "c"
    app = make_app(patterns=("p01",), places=lab, settings=Settings(lab=True, demo=True))
    async with app.run_test(size=(80, 24)) as pilot:
        await app.wait_until_ready()
        await send_prompt(pilot, app, "List all users.")
        app.theme = "nord"
        await until(pilot, lambda: app.theme == "nord", "the theme")
    assert not (tmp_path / "c").exists() and not (tmp_path / "s").exists()
