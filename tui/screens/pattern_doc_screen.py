"""PatternDocScreen: a pattern's narrative, its two files, and the diff against the previous one.

The diff (difflib, unified, syntax-highlighted) shows exactly where the auth boundary moved
between pattern n-1 and pattern n.
"""

from __future__ import annotations

import difflib

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Markdown, Static, TabbedContent, TabPane

from runtime.pattern_loader import PatternInfo

FILES = ("mcp_auth.py", "service_auth.py")


def unified_diff(before: PatternInfo | None, after: PatternInfo) -> str:
    if before is None:
        return ""
    chunks: list[str] = []
    for name in FILES:
        chunks += difflib.unified_diff(
            before.code(name).splitlines(keepends=True), after.code(name).splitlines(keepends=True),
            fromfile=f"{before.folder.name}/{name}", tofile=f"{after.folder.name}/{name}")
    return "".join(chunks)


class PatternDocScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back", id="doc.back"),
        Binding("v", "show('narrative')", "Narrative", id="doc.narrative"),
        Binding("c", "show('code')", "Code", id="doc.code"),
        Binding("d", "show('diff')", "Diff", id="doc.diff"),
    ]

    def __init__(self, info: PatternInfo, previous: PatternInfo | None, tab: str) -> None:
        super().__init__()
        self.info, self.previous, self.initial = info, previous, tab

    def compose(self) -> ComposeResult:
        diff = unified_diff(self.previous, self.info)
        yield Static(Text.assemble((f"{self.info.id} {self.info.title}", "bold"),
                                   "  narrative · code · diff against the previous pattern",
                                   ("  (Esc back)", "dim")), id="doc-title")
        with TabbedContent(initial=f"doc-{self.initial}", id="doc-tabs"):
            with TabPane("Narrative", id="doc-narrative"), VerticalScroll():
                yield Markdown(self.info.narrative(), id="doc-markdown")
            with TabPane("Code", id="doc-code"), VerticalScroll():
                for name in FILES:
                    yield Static(Text(f"{self.info.folder.name}/{name}", style="bold"))
                    yield Static(Syntax(self.info.code(name), "python", line_numbers=True,
                                        word_wrap=True, background_color="default"))
            label = f"Diff vs {self.previous.id}" if self.previous else "Diff"
            with TabPane(label, id="doc-diff"), VerticalScroll():
                if diff:
                    yield Static(Syntax(diff, "diff", word_wrap=True,
                                        background_color="default"), id="doc-diff-body")
                else:
                    yield Static(Text("p01 is the first pattern: nothing to compare with.",
                                      style="dim"), id="doc-diff-body")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(TabbedContent).focus()

    def action_show(self, tab: str) -> None:
        self.query_one(TabbedContent).active = f"doc-{tab}"
