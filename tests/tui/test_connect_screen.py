"""M: a client of your own on the live pattern's MCP server. The screen's URL and
credentials carry a real MCP call (the `mcp` SDK's client here), and that call is on the
Wire pane as the client's, beside what it caused; f logs in again."""

from __future__ import annotations

import re

from background import mcp_call
from tui_helpers import until

from tui.screens.connect_screen import ConnectScreen


async def test_a_client_of_your_own_calls_the_live_pattern_and_is_on_the_wire(make_app):
    app = make_app(patterns=("p06",))
    async with app.run_test(size=(160, 45)) as pilot:
        await app.wait_until_ready()
        await pilot.press("escape", "M")
        await until(pilot, lambda: isinstance(app.screen, ConnectScreen), "the connect screen")
        screen = app.screen
        assert isinstance(screen, ConnectScreen)
        text = screen.text
        assert "p06" in text and "as alice" in text and "protected resource metadata" in text
        url = re.search(r"MCP server \(streamable HTTP\)\s+(\S+)", text)
        token = re.search(r"^  AUTHORIZATION='(Bearer [^']+)'$", text, re.M)
        assert url and token, text
        assert "External 4K monitor" in await mcp_call(url[1], {"Authorization": token[1]})

        await pilot.press("f")                            # log in again
        await until(pilot, lambda: screen.text != text, "fresh credentials")
        assert re.search(r"^  AUTHORIZATION='(Bearer [^']+)'$", screen.text, re.M)[1] != token[1]

        def mine() -> list[str]:
            return [h.summary for h in app.explorer.hops.get("p06", []) if h.source == "client"]

        await until(pilot, lambda: "tools/call read_data" in mine(), "the client's call")
        assert "initialize" in mine()
        agents = [h for h in app.explorer.hops["p06"] if h.source == "agent" and h.kind == "mcp"]
        assert agents                            # the fresh login's, recorded once, as the agent's
        await pilot.press("escape")
        assert not isinstance(app.screen, ConnectScreen)
