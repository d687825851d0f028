"""ScoreboardTable: steps × patterns, expected until measured, then what happened.

A measured cell is coloured by what it means for its step, so the staircase shows: on an
attack step ALLOW is the attack succeeding (red, bold), deny is it blocked (green); on a
legitimate step ALLOW is the work done (green), deny a refusal (yellow, italic). Apart from
that, ✓ marks a cell as the teaching contract expects and ✗ (reversed, bold) one that
differs, so a wrong cell reads without colour too. The same cells can show who decided or
whom the audit log names instead (`view`). Below the steps, the pattern table's five
columns as measured. A cell is drillable: selecting it posts `CellChosen`.
"""

from __future__ import annotations

import textwrap

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey

from runtime import (
    COLUMN_NAMES,
    STEP_IDS,
    STEPS,
    Cell,
    Effect,
    MatrixView,
    effect,
    expected,
    expected_columns,
    outcome_word,
    view_value,
)
from tui.no_color import shown

EFFECT_STYLE: dict[Effect, str] = {"attack succeeded": "bold red", "attack blocked": "green",
                                   "work done": "green", "refused": "italic yellow"}
DIFFERS = "bold reverse"
#: The five measured columns wrap at this width, so ten patterns and the step names fit side
#: by side in 160 columns ("yes (user and the whole chain)" alone would take 32).
COLUMN_WRAP = 11


def wrapped(value: str) -> str:
    return "\n".join(textwrap.wrap(value, COLUMN_WRAP)) or value


def stacked(value: str) -> str:
    """A delegation chain too long for one line, one party per line ("alice" / "+summarizer"
    / "+agent"), so the p09 and p10 columns stay as narrow as the others."""
    if len(value) <= COLUMN_WRAP or "+" not in value:
        return value
    return value.replace("+", "\n+")


def cell_text(step: str, pattern: str, cell: Cell | None, error: str = "",
              view: MatrixView = "outcome") -> Text:
    if error:
        return Text("error ✗", style=f"{DIFFERS} red")
    if cell is None:
        if view != "outcome":
            return Text("·", style="dim")
        number = int(pattern[1:]) if pattern[1:].isdigit() else None
        want = expected(step, number)  # type: ignore[arg-type]
        return Text(outcome_word(want) if want else "?", style="dim")
    style = EFFECT_STYLE[effect(cell.step, cell.actual)]
    value = stacked(view_value(cell, view))
    if cell.ok:
        return Text(f"{value} ✓", style=style)
    return Text(f"{value} ✗", style=f"{style} {DIFFERS}")


def column_text(pattern: str, index: int, value: str | None,
                stack: str = "embedded") -> Text:
    """A measured column, marked (✗, reversed) when it is not what the contract says."""
    if value is None:
        return Text("·", style="dim")
    wanted = (expected_columns(pattern, stack) or {}).get(COLUMN_NAMES[index])
    if wanted is None or value == wanted:
        return Text(wrapped(value))
    # on one line: the column widens (the board may scroll) only when something is wrong
    return Text(f"{value} ✗ (expected {wanted})", style=f"{DIFFERS} red")


class ScoreboardTable(DataTable[Text]):
    class CellChosen(Message):
        def __init__(self, step: str, pattern: str) -> None:
            super().__init__()
            self.step, self.pattern = step, pattern

    def __init__(self, patterns: list[str], *, id: str | None = None) -> None:  # noqa: A002
        # the step column stays put when a narrow terminal scrolls the patterns sideways
        super().__init__(cursor_type="cell", zebra_stripes=True, fixed_columns=1, id=id)
        self.patterns = patterns
        self.view: MatrixView = "outcome"
        self.cells: dict[tuple[str, str], Cell] = {}
        self.errors: dict[str, str] = {}
        self.columns_shown: dict[str, dict[str, Text]] = {}

    def on_mount(self) -> None:
        self._build()
        self.move_cursor(row=0, column=1)

    def _build(self) -> None:
        """(Re)build the table: a step row is as tall as its tallest cell in this view, and
        every column as wide as its widest cell now (DataTable only ever widens a column
        or heightens a row in place)."""
        cursor, scroll = self.cursor_coordinate, (self.scroll_x, self.scroll_y)
        self.clear(columns=True)
        self.add_column("step", key="step")
        for pattern in self.patterns:
            self.add_column(pattern, key=pattern)
        for step in STEP_IDS:
            cells = [self._text(step, p) for p in self.patterns]
            self.add_row(Text(step, style="bold"), *cells, key=step,
                         height=max(c.plain.count("\n") + 1 for c in cells))
        for index, name in enumerate(COLUMN_NAMES):
            self.add_row(Text(wrapped(name), style="italic cyan"),
                         *[self.columns_shown.get(p, {}).get(name, column_text(p, index, None))
                           for p in self.patterns], key=name,
                         height=self._column_height(name))
        self.cursor_coordinate = cursor
        self.scroll_to(*scroll, animate=False, immediate=True)

    def _fits(self, step: str) -> bool:
        """Whether every cell of `step`'s row fits in the row's height."""
        height = self.rows[RowKey(step)].height
        return all(self._text(step, p).plain.count("\n") < height for p in self.patterns)

    def _column_height(self, name: str) -> int:
        """Lines for a measured column's row: its name's, or the longest expected value's."""
        stack = self.app.explorer.settings.stack  # type: ignore[attr-defined]
        values = [name, *((expected_columns(p, stack) or {}).get(name, "")
                          for p in self.patterns)]
        return max(wrapped(v).count("\n") + 1 for v in values)

    def _text(self, step: str, pattern: str) -> Text:
        text = cell_text(step, pattern, self.cells.get((step, pattern)),
                         self.errors.get(pattern, ""), self.view)
        return shown(text, self.app.no_color)

    def show_cell(self, step: str, pattern: str, cell: Cell | None, error: str = "") -> None:
        if cell is not None:
            self.cells[(step, pattern)] = cell
        if error:
            self.errors[pattern] = error
        if self._fits(step):
            self.update_cell(step, pattern, self._text(step, pattern), update_width=True)
        else:
            self._build()

    def show_view(self, view: MatrixView) -> None:
        """Show every step cell in `view` (outcome, who decided, whom the audit names)."""
        self.view = view
        self._build()

    def clear_cells(self) -> None:
        """A new run starts: back to the expected outcomes."""
        self.cells.clear()
        self.errors.clear()
        self.columns_shown.clear()
        self._build()

    def show_columns(self, pattern: str, columns: dict[str, str]) -> None:
        stack = self.app.explorer.settings.stack  # type: ignore[attr-defined]
        for index, name in enumerate(COLUMN_NAMES):
            text = shown(column_text(pattern, index, columns.get(name), stack),
                         self.app.no_color)
            self.columns_shown.setdefault(pattern, {})[name] = text
            self.update_cell(name, pattern, text, update_width=True)

    def on_data_table_cell_selected(self, event: DataTable.CellSelected) -> None:
        event.stop()
        row, column = event.cell_key.row_key.value, event.cell_key.column_key.value
        if row in STEPS and column in self.patterns:
            self.post_message(self.CellChosen(str(row), str(column)))
