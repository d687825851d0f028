"""The code view: a pattern's two files, and the source of every preset they call, one key
away (issue: patterns you can read)."""

from __future__ import annotations

from io import StringIO

from rich.console import Console

from tui.screens.pattern_doc_screen import PatternDocScreen
from tui.screens.shared_code_screen import SharedCodeScreen


def _source_shown(app) -> str:
    syntax = app.screen.query_one("#shared-source").content
    console = Console(width=200, file=StringIO(), no_color=True, color_system=None)
    console.print(syntax)
    return console.file.getvalue()


async def test_code_view_lists_the_presets_a_file_calls_and_opens_their_source(make_app):
    app = make_app(patterns=("p05", "p06"))
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        await pilot.press("n")            # p06
        await pilot.pause(0.2)
        await pilot.press("c")
        await pilot.pause(0.3)
        assert isinstance(app.screen, PatternDocScreen)
        assert app.screen.info.id == "p06"
        await pilot.press("u")            # focus "used here" under mcp_auth.py
        await pilot.pause(0.2)
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert isinstance(app.screen, SharedCodeScreen)
        assert app.screen.code.name == "request_token"
        assert "async def request_token(" in _source_shown(app)
        await pilot.press("f", "down", "enter")     # follow one of its calls, one level down
        await pilot.pause(0.3)
        assert isinstance(app.screen, SharedCodeScreen)
        assert app.screen.code.name != "request_token"
        await pilot.press("escape", "escape")
        await pilot.pause(0.2)
        assert isinstance(app.screen, PatternDocScreen)


async def test_used_here_names_what_each_file_calls(make_app):
    app = make_app(patterns=("p08",))
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        await pilot.press("c")
        await pilot.pause(0.3)
        screen = app.screen
        assert isinstance(screen, PatternDocScreen)
        mcp = {o.id for o in screen.query_one("#used-mcp_auth").options}
        service = {o.id for o in screen.query_one("#used-service_auth").options}
        assert {"request_token", "sign_dpop_proof", "verify_access_token"} <= mcp
        assert {"verify_dpop_proof", "ask_opa", "authorization_token"} <= service


async def test_the_glossary_is_one_key_away_and_listed_in_the_help(make_app):
    from tui.screens.glossary_screen import GlossaryScreen

    app = make_app(patterns=("p01",))
    async with app.run_test(size=(120, 40)) as pilot:
        await app.wait_until_ready()
        await pilot.press("question_mark")
        await pilot.pause(0.3)
        console = Console(width=200, file=StringIO(), no_color=True, color_system=None)
        for widget in app.screen.query("HelpPanel *"):
            console.print(widget.render())
        assert "Glossary" in console.file.getvalue()
        await pilot.press("ctrl+g")
        await pilot.pause(0.3)
        assert isinstance(app.screen, GlossaryScreen)
        markdown = app.screen.query_one("#glossary-markdown")
        assert "may_act" in markdown.source
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, GlossaryScreen)
