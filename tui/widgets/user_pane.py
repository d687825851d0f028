"""UserPane: pick alice, bob or dave; see who they are now and what credential they carry.

Everything shown is the live world's (a prompt can make dave an admin or disable bob): the
list and the details are redrawn from each `UserInfo` the session sends after a prompt, a
step or a reset. The token is summed up in one line; `k` opens it decoded (TokenScreen).
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from runtime import USERS
from tui.masking import Masker
from tui.no_color import shown
from tui.session import Person, UserInfo
from tui.widgets.token_render import expiry

SEED = {"alice": "admin · reports to bob", "bob": "user · manages alice", "dave": "readonly"}
CREDENTIAL = {
    "none": "This pattern sends no user identity: the tools cannot tell who asks.",
    "api_key_argument": "This pattern passes the user's API key to the tools.",
    "bearer_token": "This pattern sends the user's access token to the MCP server.",
}


def relation(person: Person) -> str:
    if person.reports_to:
        return f"reports to {person.reports_to}"
    return f"manages {', '.join(person.manages)}" if person.manages else ""


def person_label(person: Person) -> Text:
    parts = [person.role, *(["DISABLED"] if person.disabled else []), relation(person)]
    return Text.assemble((person.name, "bold"), "  ", " · ".join(p for p in parts if p))


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

    def __init__(self, current: str = USERS[0], *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.current = current
        self.info: UserInfo | None = None
        self._masker = Masker()
        self._now: Callable[[], float] | None = None

    def compose(self) -> ComposeResult:
        users = OptionList(*[Option(Text.assemble((u, "bold"), f"  {SEED[u]}"), id=u)
                             for u in USERS], id="user-list")
        users.highlighted = USERS.index(self.current)  # not the first, when restored
        yield users
        with VerticalScroll(id="user-token-scroll"):
            yield Static("", id="user-token")

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)  # "expires in 4m" keeps counting

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option.id and event.option_index == event.option_list.highlighted:  # not stale
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
        self.query_one("#user-token", Static).update(shown(Text(text, style=style),
                                                           self.app.no_color))

    def show_info(self, info: UserInfo, masker: Masker, now: Callable[[], float]) -> None:
        self.info, self._masker, self._now = info, masker, now
        users = self.query_one(OptionList)
        for person in info.people:
            if person.name in USERS:
                users.replace_option_prompt(person.name, person_label(person))
        self._render_info()

    def _render_info(self) -> None:
        if self.info is not None and self._now is not None:
            self.query_one("#user-token", Static).update(
                self.render_info(self.info, self._masker, self._now(), self.app.no_color))

    def _tick(self) -> None:
        if (self.info is not None and self.info.token is not None and not self._masker.stable
                and self.is_on_screen):
            self._render_info()

    @staticmethod
    def render_info(info: UserInfo, masker: Masker, now: float,
                    no_color: bool = False) -> RenderableType:
        person = info.person
        text = Text.assemble(
            (person.name, "bold"), f" · {person.role} · {person.department}",
            *([("  DISABLED", "bold reverse red")] if person.disabled else []), "\n",
            (relation(person) or "reports to nobody", "dim"), "\n",
            ("API key ", "dim"), masker.text(info.api_key), "\n",
            (CREDENTIAL.get(info.user_credential, info.user_credential), "italic"), "\n")
        if info.token is None:
            text.append(f"no token: {info.token_error or 'login failed'}", style="bold red")
            return shown(text, no_color)
        sent = info.user_credential == "bearer_token"
        text.append("access token" if sent else "IdP token (not sent here)", style="bold")
        text.append(f" {expiry(info.token, now)}\n", style="dim")
        text.append(masker.text(info.token.label))
        text.append("\nk: the token decoded", style="dim italic")
        return shown(text, no_color)
