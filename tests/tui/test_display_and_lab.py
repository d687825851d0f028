"""NO_COLOR, themes, copying, the command palette with nonsense, and lab-mode exports."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from textual.filter import Monochrome, NoColor
from tui_helpers import main_screen

from runtime.settings import Settings
from tui.exporter import Exporter
from tui.preferences import Places


async def test_no_color_environment_turns_colour_off(make_app, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app()
    assert app.no_color
    assert any(isinstance(f, NoColor | Monochrome) for f in app._filters)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.wait_until_ready()
        await pilot.press("n")  # still fully usable
        assert main_screen(app).pattern == "p02"


async def test_theme_can_be_switched(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await app.wait_until_ready()
        app.theme = "textual-light"
        await pilot.pause(0.1)
        assert app.theme == "textual-light" and app.current_theme.dark is False


async def test_copy_puts_the_users_token_on_the_clipboard(make_app):
    app = make_app(patterns=("p05",))
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        await pilot.pause(0.3)
        await pilot.press("2", "y")
        assert app.clipboard.startswith("eyJ") and app.clipboard.count(".") == 2


async def test_unknown_command_in_the_palette_changes_nothing(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await app.wait_until_ready()
        await pilot.press("ctrl+p", *"xyzzy", "enter", "escape")
        await pilot.pause(0.2)
        assert app.screen is main_screen(app) and main_screen(app).pattern == "p01"


def test_lab_mode_exports_go_to_a_private_temp_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first, second = Exporter(lab=True).directory, Exporter(lab=True).directory
    assert first != second
    assert first.is_relative_to(Path(tempfile.gettempdir())) and not list(tmp_path.iterdir())


def test_exports_go_to_the_users_data_directory_never_the_current_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert Exporter(lab=False).directory == tmp_path / "data" / "agent-auth-explorer" / "exports"
    assert [p.name for p in tmp_path.iterdir()] == ["data"]
    monkeypatch.setenv("AGENT_AUTH_EXPORT_DIR", str(tmp_path / "mine"))
    places = Places.from_env(os.environ)
    assert Exporter(False, places.exports).directory == tmp_path / "mine"
    assert Places.from_env(os.environ, lab=True).exports == tmp_path / "mine"


def test_lab_setting_reaches_the_exporter(make_app, tmp_path):
    app = make_app(settings=Settings(lab=True, demo=True))
    assert app.explorer.exporter.lab
