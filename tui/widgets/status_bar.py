"""StatusBar: one line saying where you are: pattern, user, stack, runtime state, filter."""

from __future__ import annotations

from typing import Literal

from rich.text import Text
from textual.widgets import Static

from tui.no_color import shown

RunState = Literal["starting", "ready", "working", "error"]
STATE_STYLE: dict[str, str] = {"ready": "green", "starting": "yellow", "working": "yellow",
                               "error": "bold red"}


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar { height: 1; padding: 0 1; background: $panel; color: $foreground; }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__("", id=id)
        self.parts: dict[str, str] = {"pattern": "", "user": "", "stack": "", "state": "starting",
                                      "detail": "", "filter": "", "reveal": ""}

    def set(self, **parts: str) -> None:
        self.parts.update(parts)
        self.update(self.status_text())

    def set_state(self, state: RunState, detail: str = "") -> None:
        """`● starting p03`, `● working alice asks the agent`: the detail completes the state."""
        self.set(state=state, detail=detail)

    def status_text(self) -> Text:
        p = self.parts
        state = p["state"]
        line = Text.assemble(("Agent Auth Explorer", "bold"), "  ", (p["pattern"], "bold cyan"),
                             "  as ", (p["user"], "bold"), f"  [{p['stack']}]  ",
                             ("● " + state, STATE_STYLE.get(state, "")))
        if p["detail"]:
            line.append(f" {p['detail']}", style="dim")
        if p["filter"]:
            line.append(f"  filter: {p['filter']}", style="yellow")
        if p["reveal"]:
            line.append("  secrets shown", style="bold red")
        line.truncate(self.size.width - 2 if self.size.width > 4 else 200, overflow="ellipsis")
        return shown(line, self.app.no_color)

    def on_resize(self) -> None:
        self.update(self.status_text())
