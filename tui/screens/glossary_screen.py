"""GlossaryScreen: the terms the narratives use (docs/glossary.md), one key from anywhere."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Markdown

GLOSSARY = Path(__file__).resolve().parents[2] / "docs" / "glossary.md"


def glossary_text(path: Path = GLOSSARY) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        return f"# Glossary\n\n(unavailable: {exc})"


class GlossaryScreen(Screen[None]):
    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back", id="glossary.back")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="glossary-body"):
            yield Markdown(glossary_text(), id="glossary-markdown")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#glossary-body").focus()
