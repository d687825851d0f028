"""PatternList: p01..p10 with each pattern's short name and its scoreboard mark."""

from __future__ import annotations

from rich.text import Text
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from runtime import PatternInfo
from tui.no_color import shown

# A mark per pattern: "" (not measured yet), "ok" (actual == expected) or "n off".
PENDING, MATCHES = "", "ok"


class PatternList(OptionList):
    """Highlighting a pattern selects it (a pattern switch is cheap and coalesced)."""

    DEFAULT_CSS = """
    PatternList {
        height: auto; max-height: 100%; border: none; padding: 0;
        text-wrap: nowrap; text-overflow: ellipsis;
    }
    PatternList:focus { border: none; }
    """

    class PatternSelected(Message):
        def __init__(self, pattern_id: str) -> None:
            super().__init__()
            self.pattern_id = pattern_id

    def __init__(self, patterns: list[PatternInfo], current: str = "", *,
                 id: str | None = None) -> None:  # noqa: A002
        self.patterns = patterns
        self._marks: dict[str, str] = {}
        super().__init__(*[Option(self._prompt(p), id=p.id) for p in patterns], id=id)
        ids = [p.id for p in patterns]
        if current in ids:  # OptionList starts on the first option; start on `current`
            self.highlighted = ids.index(current)

    def _prompt(self, info: PatternInfo) -> Text:
        mark = self._marks.get(info.id, PENDING)
        text = Text.assemble((f"{info.id} ", "bold"), info.title)
        if mark == MATCHES:
            text.append(" ✓", style="green")
        elif mark:
            text.append(f" ✗{mark}", style="bold red")
        return shown(text, self.app.no_color)

    def set_mark(self, pattern_id: str, mark: str) -> None:
        self._marks[pattern_id] = mark
        for info in self.patterns:
            if info.id == pattern_id:
                self.replace_option_prompt(info.id, self._prompt(info))

    def show(self, pattern_id: str) -> None:
        """Highlight `pattern_id` without announcing it (no feedback loop with the screen)."""
        with self.prevent(OptionList.OptionHighlighted):
            self.highlighted = self.get_option_index(pattern_id)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option.id and event.option_index == self.highlighted:  # not a stale one
            self.post_message(self.PatternSelected(event.option.id))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.PatternSelected(event.option.id))
