"""UserPane: pick alice, bob or dave; see who they are and the token they carry, decoded."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Group, RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from runtime import USERS
from tui.masking import Masker
from tui.session import UserInfo
from tui.widgets.token_render import render_token

ROLES = {"alice": "admin · reports to bob", "bob": "user · manages alice", "dave": "readonly"}
CREDENTIAL = {
    "none": "This pattern sends no user identity: the tools cannot tell who asks.",
    "api_key_argument": "This pattern passes the user's API key (shown below, masked) "
                     "to the tools.",
    "bearer_token": "This pattern sends the user's access token (decoded below) to the "
                     "MCP server.",
}


class UserPane(Vertical):
    DEFAULT_CSS = """
    UserPane { height: 1fr; }
    UserPane > OptionList { height: auto; border: none; padding: 0; }
    UserPane > OptionList:focus { border: none; }
    UserPane > VerticalScroll { height: 1fr; padding: 0 1; }
    """

    class UserSelected(Message):
        def __init__(self, user: str) -> None:
            super().__init__()
            self.user = user

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.info: UserInfo | None = None

    def compose(self) -> ComposeResult:
        yield OptionList(*[Option(Text.assemble((u, "bold"), f"  {ROLES[u]}"), id=u)
                           for u in USERS], id="user-list")
        with VerticalScroll(id="user-token-scroll"):
            yield Static("", id="user-token")

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.UserSelected(event.option.id))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()

    def show(self, user: str) -> None:
        """Highlight `user` without announcing it (no feedback loop with the screen)."""
        users = self.query_one(OptionList)
        with users.prevent(OptionList.OptionHighlighted):
            users.highlighted = USERS.index(user)

    def show_message(self, text: str, style: str = "dim") -> None:
        self.info = None
        self.query_one("#user-token", Static).update(Text(text, style=style))

    def show_info(self, info: UserInfo, masker: Masker, now: Callable[[], float]) -> None:
        self.info = info
        self.query_one("#user-token", Static).update(self.render_info(info, masker, now()))

    @staticmethod
    def render_info(info: UserInfo, masker: Masker, now: float) -> RenderableType:
        head = Text.assemble(
            (info.user, "bold"), f"  role {info.role}, {info.department}, reports to ",
            info.reports_to, "\n", ("API key ", "dim"), masker.text(info.api_key), "\n",
            (CREDENTIAL.get(info.user_credential, info.user_credential), "italic"), "\n",
        )
        if info.token is None:
            return Group(head, Text(f"no token: {info.token_error or 'login failed'}",
                                    style="red"))
        label = "access token" if info.user_credential == "bearer_token" else (
            "IdP access token (for reference; this pattern does not send it)")
        return Group(head, Text(label, style="bold underline"),
                     render_token(info.token, masker, now))
