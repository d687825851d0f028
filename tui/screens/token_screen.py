"""TokenScreen: the current user's token, decoded full-size (the User pane only sums it up).

Opened with `k` from the main screen. Relative times ("in 4m") count down once a second,
except in the stable display of snapshot tests.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from tui.masking import Masker
from tui.session import UserInfo
from tui.widgets.token_render import render_token


class TokenScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,k,q", "app.pop_screen", "Back", id="token.back"),
        Binding("y", "copy", "Copy the token", id="token.copy"),
    ]

    def __init__(self, info: UserInfo, masker: Masker, now: Callable[[], float]) -> None:
        super().__init__()
        self.info, self.masker, self.now = info, masker, now

    def compose(self) -> ComposeResult:
        info = self.info
        sent = ("sent to the MCP server" if info.user_credential == "bearer_token"
                else "not sent by this pattern; for reference")
        yield Static(Text.assemble((f"{info.user}'s access token", "bold"),
                                   f" under {info.pattern} ({sent})", ("  Esc back", "dim")),
                     id="token-title")
        with VerticalScroll(id="token-body"):
            yield Static("", id="token-decoded")
        yield Footer()

    def on_mount(self) -> None:
        self._render_token()
        self.query_one("#token-body").focus()
        if not self.masker.stable:
            self.set_interval(1.0, self._render_token)

    def _render_token(self) -> None:
        token = self.info.token
        view = render_token(token, self.masker, self.now(), show_raw=True) if token else Text(
            f"no token: {self.info.token_error or 'login failed'}", style="bold red")
        self.query_one("#token-decoded", Static).update(view)

    def action_copy(self) -> None:
        if self.info.token is None:
            self.notify("There is no token to copy.", severity="warning")
            return
        self.app.copy_to_clipboard(self.info.token.raw)
        self.notify(f"Copied the token ({len(self.info.token.raw)} characters, OSC 52).")
