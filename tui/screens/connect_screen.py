"""ConnectScreen: point a client of your own at the live pattern's MCP server.

The explorer's MCP server is real (streamable HTTP on 127.0.0.1), so the MCP Inspector, curl
or an MCP client you are writing can call it while the explorer runs, as the current user:
this screen gives its URLs, what a client must send (the user's access token, the agent's
actor token, or the user's API key, as `agent-auth serve` prints them) and commands that
send it. What the client sends appears in the Wire pane as `client → mcp-server`, beside
the hops it causes. Opened with `M`; `f` logs in again for fresh credentials.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from tui.masking import Masker

ConnectFn = Callable[[bool], Awaitable[str]]


class ConnectScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,M,q", "app.pop_screen", "Back", id="connect.back"),
        Binding("y", "copy", "Copy it all", id="connect.copy"),
        Binding("f", "fresh", "Fresh credentials", id="connect.fresh"),
    ]

    def __init__(self, text: str, fetch: ConnectFn, masker: Masker) -> None:
        super().__init__()
        self.text, self.fetch, self.masker = text, fetch, masker

    def compose(self) -> ComposeResult:
        yield Static(Text.assemble(("Connect a client of your own", "bold"),
                                   "  y copies · f fresh credentials", ("  Esc back", "dim")),
                     id="connect-title")
        with VerticalScroll(id="connect-body"):
            yield Static("", id="connect-text")
        yield Footer()

    def on_mount(self) -> None:
        self._show()
        self.query_one("#connect-body").focus()

    def _shown(self) -> str:
        return self.masker.text(self.text)

    def _show(self) -> None:
        shown = self._shown()
        note = ("\n\nThe user's API key is masked: r on the main screen reveals it (and y "
                "copies what is shown)." if shown != self.text else "")
        self.query_one("#connect-text", Static).update(Text(shown + note))

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self._shown())
        self.notify("Copied the URLs, credentials and commands (OSC 52).")

    def action_fresh(self) -> None:
        self.run_worker(self._fresh(), group="connect", exclusive=True, exit_on_error=False)

    async def _fresh(self) -> None:
        from tui.screens.runs import ui_errors

        try:
            self.text = await self.fetch(True)
        except ui_errors() as exc:
            self.notify(str(exc), title="Fresh credentials", severity="error")
            return
        self._show()
        self.notify("Logged in again: fresh credentials.")
