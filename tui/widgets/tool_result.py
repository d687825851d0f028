"""A tool's JSON answer as a table in the chat: `{"expenses": [{...}, ...]}` becomes rows
and columns, `{"user": {...}}` one row. Anything else stays text (the Wire pane has it all).

The table takes the fields, left to right, that fit the chat's width (rendered again when
the chat is resized); a note names the rest. The answer comes from a tool service, which
may be hostile or broken: it is parsed with a size limit, any JSON value may stand anywhere
(deep nesting, huge numbers, NaN, control characters), and every header and cell is a
`Text` (never Rich markup), cut and escaped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rich.console import Console, ConsoleOptions, RenderableType
from rich.table import Table
from rich.text import Text

from runtime import brief

MAX_PARSED = 200_000   # characters; longer answers stay text
MAX_ROWS = 30
MAX_CELL = 40
MIN_SHOWN = 12         # a column is shown only with room for this much of it


def parse_answer(text: str) -> Any:
    """The tool's answer as JSON, or None when it is not (or too big or deep to parse)."""
    if len(text) > MAX_PARSED:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # not JSON; too many digits; nested too deep
        return None


def _records(value: Any) -> tuple[str, list[dict[str, Any]]] | None:
    """(title, rows) when `value` is a list of objects or one object, maybe under one key."""
    title = ""
    if isinstance(value, dict) and len(value) == 1:
        title, inner = next(iter(value.items()))
        if isinstance(inner, list | dict):
            value = inner
    if isinstance(value, dict) and value:
        value = [value]
    if isinstance(value, list) and all(isinstance(row, dict) for row in value):
        return brief(title, 40), value
    return None


def _cell(value: Any) -> str:
    return "—" if value is None else brief(value, MAX_CELL)


@dataclass(frozen=True)
class ToolTable:
    """Rows of one tool answer, laid out for whatever width the chat has."""

    title: str
    names: list[str]
    rows: list[list[str]]
    more_rows: int

    def _natural(self, index: int) -> int:
        return max([len(self.names[index])] + [len(row[index]) for row in self.rows])

    def _constant(self, index: int) -> bool:
        return len(self.rows) > 1 and len({row[index] for row in self.rows}) == 1

    def layout(self, width: int) -> tuple[list[tuple[int, int]], list[int]]:
        """(index, width) of the columns shown, and the constant ones said in a note.

        All columns when they fit. Else the columns whose value is the same in every row go
        into the note (alice's expenses all say owner alice), as many leading columns are
        shown as fit at MIN_SHOWN cells each, and the widest are cut (with an ellipsis)
        until the row fits.
        """
        indexes = list(range(len(self.names)))
        natural = {i: self._natural(i) for i in indexes}
        constant: list[int] = []
        if sum(natural.values()) + len(indexes) - 1 > width:
            constant = [i for i in indexes if self._constant(i)]
            indexes = [i for i in indexes if i not in constant]
        chosen: list[int] = []
        for index in indexes:
            least = sum(min(natural[i], MIN_SHOWN) for i in [*chosen, index]) + len(chosen)
            if least > width and chosen:
                break
            chosen.append(index)
        widths = {i: natural[i] for i in chosen}
        while sum(widths.values()) + len(widths) - 1 > width:
            widest = max(widths, key=lambda i: widths[i])
            if widths[widest] <= 1:
                break
            widths[widest] -= 1
        return list(widths.items()), constant

    def __rich_console__(self, console: Console,
                         options: ConsoleOptions) -> Iterator[RenderableType]:
        if self.title:
            yield Text(self.title, style="bold")
        if not self.rows:
            yield Text(f"(no {self.title or 'rows'})", style="dim italic")
            return
        columns, constant = self.layout(options.max_width)
        table = Table(box=None, padding=(0, 1, 0, 0), show_edge=False, pad_edge=False,
                      header_style="bold", collapse_padding=True)
        for index, width in columns:
            table.add_column(Text(self.names[index]), width=width, no_wrap=True,
                             overflow="ellipsis")
        for row in self.rows:
            table.add_row(*[Text(row[index]) for index, _ in columns])
        yield table
        shown = {index for index, _ in columns} | set(constant)
        hidden = [name for index, name in enumerate(self.names) if index not in shown]
        notes = [f"every row: {', '.join(f'{self.names[i]} {self.rows[0][i]}' for i in constant)}"
                 ] if constant else []
        notes += [f"{self.more_rows} more rows"] if self.more_rows else []
        notes += [f"not shown: {', '.join(hidden)} (the Wire pane's Body tab has all)"
                  ] if hidden else []
        for note in notes:
            yield Text(brief(note, 300), style="dim italic")


def result_table(text: str) -> ToolTable | None:
    """The answer as a table, or None when it is not tabular."""
    found = _records(parse_answer(text))
    if found is None:
        return None
    title, records = found
    names: list[str] = []
    for record in records:
        names += [key for key in map(str, record) if key not in names]
    names = [brief(name, 24) for name in names[:24]]
    rows = [[_cell(record.get(name)) for name in names] for record in records[:MAX_ROWS]]
    return ToolTable(title, names, rows, max(len(records) - MAX_ROWS, 0))
