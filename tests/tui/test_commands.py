"""Every action has a key, a Binding with an id, and a command-palette entry."""

from __future__ import annotations

from textual.binding import Binding

from tui.app import AgentAuthApp
from tui.commands import binding_commands, main_commands
from tui.screens.main_screen import MainScreen
from tui.screens.scoreboard_screen import ScoreboardScreen


def test_every_binding_has_an_id_and_a_description():
    for owner in (AgentAuthApp, MainScreen, ScoreboardScreen):
        for binding in owner.BINDINGS:
            assert isinstance(binding, Binding) and binding.id and binding.description


async def test_palette_lists_every_main_screen_binding_and_each_pattern(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await app.wait_until_ready()
        screen = app.main_screen
        titles = {c.title for c in app.get_system_commands(screen)}
        for binding in MainScreen.BINDINGS:
            assert (binding.tooltip or binding.description) in titles
        assert {"Theme", "Quit", "User: dave", "Run step A7: replays the token from L1 "
                "(a) alone (b) with its proof"} <= titles
        assert sum(1 for c in main_commands(screen) if c.title.startswith("Pattern p")) == 10
        assert {"Wire: First hop", "Wire: Last hop",
                "Wire: From a service call to its OPA decision (again: back)"} <= titles
        assert list(binding_commands(screen))
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        assert type(app.screen).__name__ == "CommandPalette"


async def test_help_key_lists_bindings_in_context(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await app.wait_until_ready()
        await pilot.press("question_mark")
        await pilot.pause(0.1)
        assert app.screen.query("HelpPanel")
        await pilot.press("f1")
        await pilot.pause(0.1)
        assert not app.screen.query("HelpPanel")


async def test_narrow_terminal_collapses_panes_into_tabs(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.wait_until_ready()
        screen = app.main_screen
        assert screen.has_class("-narrow")
        assert screen.query_one("#pane-tabs").display
        await pilot.press("4")
        await pilot.pause(0.1)
        assert screen.query_one("#pane-wire").display and not screen.query_one("#pane-chat").display
        await pilot.resize_terminal(160, 48)
        await pilot.pause(0.1)
        assert not screen.has_class("-narrow") and screen.query_one("#pane-chat").display
