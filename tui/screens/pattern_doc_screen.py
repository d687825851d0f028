"""PatternDocScreen: a pattern's narrative, its two files, and the diff against the previous one.

The diff (difflib, unified, syntax-highlighted) shows exactly where the auth boundary moved
between pattern n-1 and pattern n. Under each file, "used here" lists the presets it calls:
Enter opens one's source, so nothing the pattern relies on is hidden.
"""

from __future__ import annotations

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Markdown, OptionList, Static, TabbedContent, TabPane

from runtime import CODE_FILES, PatternInfo, SharedCode, shared_code, unified_diff
from tui.screens.shared_code_screen import SharedCodeScreen, shared_option


class PatternDocScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back", id="doc.back"),
        Binding("v", "show('narrative')", "Narrative", id="doc.narrative"),
        Binding("c", "show('code')", "Code", id="doc.code"),
        Binding("d", "show('diff')", "Diff", id="doc.diff"),
        Binding("u", "used_here", "Used here", id="doc.used",
                tooltip="Open the source of a preset this pattern calls"),
    ]

    def __init__(self, info: PatternInfo, previous: PatternInfo | None, tab: str) -> None:
        super().__init__()
        self.info, self.previous, self.initial = info, previous, tab
        self.shared: list[SharedCode] = shared_code(info)

    def compose(self) -> ComposeResult:
        diff = unified_diff(self.previous, self.info)
        yield Static(Text.assemble((f"{self.info.id} {self.info.title}", "bold"),
                                   "  narrative · code · diff against the previous pattern",
                                   ("  (Esc back)", "dim")), id="doc-title")
        with TabbedContent(initial=f"doc-{self.initial}", id="doc-tabs"):
            with TabPane("Narrative", id="doc-narrative"), VerticalScroll():
                yield Markdown(self.info.narrative(), id="doc-markdown")
            with TabPane("Code", id="doc-code"), VerticalScroll():
                for name in CODE_FILES:
                    yield Static(Text(f"{self.info.folder.name}/{name}", style="bold"))
                    yield Static(Syntax(self.info.code(name), "python", line_numbers=True,
                                        word_wrap=True, background_color="default"))
                    used = [c for c in self.shared if name in c.used_in]
                    if used:
                        yield Static(Text(f"Used here ({name}; Enter opens the source):",
                                          style="bold dim"))
                        yield OptionList(*(shared_option(c) for c in used),
                                         id=f"used-{name.removesuffix('.py')}",
                                         classes="used-here")
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

    def action_used_here(self) -> None:
        self.action_show("code")
        lists = self.query(".used-here").results(OptionList)
        first = next(lists, None)
        if first is not None:
            first.focus()
            if first.highlighted is None:
                first.highlighted = 0

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        chosen = next((c for c in self.shared if c.name == event.option.id), None)
        if chosen is not None:
            self.app.push_screen(SharedCodeScreen(chosen))
