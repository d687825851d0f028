"""PatternSummary: the gist of a pattern's narrative (its introduction and what went wrong).

Shown under the pattern list when the Pattern pane has room (the narrow, tabbed layout);
the full narrative, code and diff are one key away (v, c).
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.markdown import Markdown
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from runtime import PatternInfo

MAX_CHARS = 1200


def summarize(narrative: str) -> tuple[str, str]:
    """(introduction, what went wrong) from a pattern narrative in markdown."""
    sections: dict[str, list[str]] = {"": []}
    current = ""
    for line in narrative.splitlines():
        if line.startswith("## "):
            current = line[3:].strip().lower()
            sections[current] = []
        elif not line.startswith("# "):
            sections[current].append(line)
    intro = "\n".join(sections[""]).strip()
    wrong = next((v for k, v in sections.items() if k.startswith("what went wrong")), [])
    return intro[:MAX_CHARS], "\n".join(wrong).strip()[:MAX_CHARS]


class PatternSummary(VerticalScroll):
    DEFAULT_CSS = """
    PatternSummary { height: 1fr; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="pattern-summary-text")

    def show(self, info: PatternInfo) -> None:
        intro, wrong = summarize(info.narrative())
        parts: list[RenderableType] = [Markdown(intro or "(no introduction)")]
        if wrong:
            parts += [Text("\nWhat went wrong", style="bold red"), Markdown(wrong)]
        parts.append(Text("\nv narrative · c code and diff vs the previous pattern",
                          style="dim"))
        self.query_one("#pattern-summary-text", Static).update(Group(*parts))
