"""Pane: one of the main screen's four bordered areas; it can be maximized and restored."""

from __future__ import annotations

from textual.containers import Vertical


class Pane(Vertical):
    """A titled, maximizable container (`1 Pattern`, `2 User`, `3 Chat`, `4 Wire`)."""

    ALLOW_MAXIMIZE = True

    DEFAULT_CSS = """
    Pane {
        border: round $foreground 30%;
        border-title-color: $text-muted;
        height: 1fr;
        padding: 0;
    }
    Pane:focus-within {
        border: round $accent;
        border-title-color: $accent;
        border-title-style: bold;
    }
    """

    def __init__(self, title: str, *, id: str) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id, classes="pane")
        self.border_title = title
