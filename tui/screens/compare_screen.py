"""CompareScreen: the same prompt or script step under two patterns, hop by hop, side by side,
with what differs marked (a hop under one pattern only, a status, a decider, a claim).

Both runs happen on runners of their own (the live pattern's wire stays as it was). ≠ marks a
pair that differs, < a hop only the left pattern makes, > one only the right makes; the panel
below lists the differences of the row under the cursor.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Select, Static

from runtime import STEP_IDS, STEPS, Comparison, Hop, PatternInfo, brief, printable
from tui.masking import Masker

CompareFn = Callable[[tuple[str, str], str, str | None, str | None], Awaitable[Comparison]]
def hop_cell(hop: Hop | None, masker: Masker, width: int) -> Text:
    if hop is None:
        return Text("")
    text = printable(" ".join(f"{hop.kind} {hop.source}→{hop.target} "
                              f"{masker.text(hop.summary)}".split()))
    return Text(text if len(text) <= width else text[: width - 1] + "…")


def status_cell(hop: Hop | None) -> Text:
    if hop is None or hop.status is None:
        return Text("")
    return Text(str(hop.status), style="bold reverse" if hop.status >= 400 else "")


class CompareScreen(Screen[None]):
    DEFAULT_CSS = """
    CompareScreen { layout: vertical; }
    CompareScreen #compare-title { height: 1; padding: 0 1; background: $panel; }
    CompareScreen #compare-controls { height: 3; }
    CompareScreen #compare-controls Select { width: 1fr; }
    CompareScreen #compare-prompt { width: 2fr; }
    CompareScreen #compare-table { height: 1fr; }
    CompareScreen #compare-detail { height: auto; max-height: 12; padding: 0 1;
                                    border-top: solid $accent; }
    """

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="compare.back"),
        Binding("ctrl+s", "run", "Compare", id="compare.run"),
    ]

    def __init__(self, patterns: list[PatternInfo], left: str, right: str, user: str,
                 prompt: str, run: CompareFn, masker: Masker) -> None:
        super().__init__()
        self.patterns, self.left, self.right, self.user = patterns, left, right, user
        self.prompt, self._run, self.masker = prompt, run, masker
        self.result: Comparison | None = None
        self.running = False

    def compose(self) -> ComposeResult:
        yield Static(Text.assemble(("Compare ", "bold"), f"as {self.user}: ≠ differs, "
                                   "< left only, > right only   ",
                                   ("ctrl+s compares · ↑/↓ a row's differences", "dim")),
                     id="compare-title")
        options = [(f"{p.id} {p.title}", p.id) for p in self.patterns]
        steps = [(f"step {s}: {STEPS[s].what}", s) for s in STEP_IDS]
        with Horizontal(id="compare-controls"):
            yield Select(options, value=self.left, allow_blank=False, id="compare-left")
            yield Select(options, value=self.right, allow_blank=False, id="compare-right")
            yield Input(self.prompt, placeholder="a prompt (or pick a step)",
                        id="compare-prompt")
            yield Select(steps, prompt="(the prompt)", id="compare-step")
        table: DataTable[Text] = DataTable(cursor_type="row", zebra_stripes=True,
                                           id="compare-table")
        yield table
        yield Static(Text("comparing…", style="dim"), id="compare-detail")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column(" ", key="mark", width=1)
        table.add_column(self.left, key="left")
        table.add_column("st", key="left-status", width=3)
        table.add_column(self.right, key="right")
        table.add_column("st", key="right-status", width=3)
        table.focus()
        self.action_run()

    def _choice(self) -> tuple[tuple[str, str], str | None, str | None]:
        left = self.query_one("#compare-left", Select).value
        right = self.query_one("#compare-right", Select).value
        step = self.query_one("#compare-step", Select).value
        prompt = self.query_one("#compare-prompt", Input).value.strip()
        chosen = step if isinstance(step, str) else None
        return (str(left), str(right)), (None if chosen else prompt), chosen

    def action_run(self) -> None:
        if self.running:
            self.notify("Still comparing.", severity="warning")
            return
        patterns, prompt, step = self._choice()
        if step is None and not prompt:
            self.notify("Type a prompt or pick a step first.", severity="warning")
            return
        self.running = True
        self._detail(Text(f"running under {patterns[0]} and {patterns[1]}…", style="dim"))
        self.run_worker(self._compare(patterns, prompt, step), group="compare",
                        exclusive=True, exit_on_error=False)

    async def _compare(self, patterns: tuple[str, str], prompt: str | None,
                       step: str | None) -> None:
        from tui.screens.runs import ui_errors

        try:
            result = await self._run(patterns, self.user, prompt, step)
        except ui_errors() as exc:
            self._detail(Text(f"not compared: {exc}", style="bold"))
            self.notify(str(exc), title="Compare", severity="error")
            return
        finally:
            self.running = False
        self.show(result)

    def show(self, result: Comparison) -> None:
        self.result = result
        table = self.query_one(DataTable)
        table.clear(columns=True)
        width = max(16, (self.size.width - 18) // 2)
        table.add_column(" ", key="mark", width=1)
        table.add_column(result.left.pattern, key="left", width=width)
        table.add_column("st", key="left-status", width=3)
        table.add_column(result.right.pattern, key="right", width=width)
        table.add_column("st", key="right-status", width=3)
        for row in result.rows:
            mark = row.mark
            table.add_row(Text(mark, style="bold reverse" if mark.strip() else ""),
                          hop_cell(row.left, self.masker, width), status_cell(row.left),
                          hop_cell(row.right, self.masker, width), status_cell(row.right))
        first = next((i for i, r in enumerate(result.rows) if r.differences), 0)
        if result.rows:
            table.move_cursor(row=first, animate=False)
        self._show_row(first)

    def on_resize(self) -> None:
        if self.result is not None:
            cursor = self.query_one(DataTable).cursor_row
            self.show(self.result)
            self.query_one(DataTable).move_cursor(row=cursor, animate=False)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._show_row(event.cursor_row)

    def _show_row(self, index: int) -> None:
        result = self.result
        if result is None:
            return
        lines = [Text.assemble((f"{len(result.differing)} of {len(result.rows)} hops "
                                "differ", "bold"), f"   {printable(result.what)}")]
        if 0 <= index < len(result.rows):
            for difference in result.rows[index].differences:
                lines.append(Text("  • " + printable(self.masker.text(difference))))
        for side in (result.left, result.right):
            outcome = brief(" ".join(self.masker.text(side.outcome).split()), 140)
            lines.append(Text.assemble((f"{side.pattern}: ", "bold"), printable(outcome)))
        self._detail(Group(*lines))

    def _detail(self, content: Text | Group) -> None:
        self.query_one("#compare-detail", Static).update(content)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#compare-step", Select).clear()
        self.action_run()
