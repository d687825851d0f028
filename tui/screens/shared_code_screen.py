"""SharedCodeScreen: the source of one preset (or plugin API type) a pattern relies on.

Opened from the "used here" list under a pattern's file; its own "calls" list follows the
preset down to the mechanism it uses, one Enter at a time. Esc goes back one level.
"""

from __future__ import annotations

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from runtime import SharedCode, calls


def shared_option(code: SharedCode) -> Option:
    summary = code.summary if len(code.summary) <= 70 else code.summary[:69] + "…"
    return Option(Text.assemble((code.name, "bold"), "  ", (summary, "dim")), id=code.name)


class SharedCodeScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back", id="shared.back"),
        Binding("f", "focus_calls", "Follow a call", id="shared.follow"),
    ]

    def __init__(self, code: SharedCode) -> None:
        super().__init__()
        self.code = code
        self.followed = calls(code)

    def compose(self) -> ComposeResult:
        code = self.code
        where = f"{code.path}:{code.line}" if code.line else code.path
        yield Static(Text.assemble((code.name, "bold"), f"  {code.module}  ", (where, "dim"),
                                   ("  (Esc back)", "dim")), id="shared-title")
        with VerticalScroll(id="shared-body"):
            yield Static(Syntax(code.source, "python", line_numbers=True,
                                start_line=max(code.line, 1), word_wrap=True,
                                background_color="default"), id="shared-source")
            if self.followed:
                yield Static(Text("It calls (Enter opens):", style="bold"))
                yield OptionList(*(shared_option(c) for c in self.followed),
                                 id="shared-calls")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#shared-body").focus()

    def action_focus_calls(self) -> None:
        if self.followed:
            self.query_one("#shared-calls", OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        chosen = next((c for c in self.followed if c.name == event.option.id), None)
        if chosen is not None:
            self.app.push_screen(SharedCodeScreen(chosen))
