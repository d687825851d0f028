"""WireView: the hop list (time, kind, from → to, what, status, duration) and its detail."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from rich.text import Text
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import DataTable, Input

from runtime import Hop, HopLog, printable
from tui.hop_filter import SYNTAX, FilterError, HopFilter, parse_filter
from tui.hop_links import Related, call_of, related_hop
from tui.masking import Masker
from tui.no_color import shown
from tui.widgets.history_input import HistoryInput
from tui.widgets.hop_detail import HopDetail
from tui.widgets.hop_table import HopTable
from tui.widgets.pane import Pane

# The kind is its own word; the attacker and errors also stand out without colour.
KIND_STYLE = {"prompt": "cyan", "answer": "green", "llm": "blue", "mcp": "yellow",
              "service": "white", "idp": "magenta", "opa": "bright_magenta", "audit": "dim",
              "attacker": "bold reverse red", "error": "bold underline red"}
STATUS_STYLE = {True: "green", False: "bold reverse red"}  # ok?  A refusal reads as a badge.
# Fixed column widths; "what" takes the rest of the pane (recomputed on resize).
COLUMNS = (("#", 3), ("time", 8), ("kind", 8), ("hop", 12), ("what", 0), ("st", 3),
           ("took", 5))
SHORT_NAMES = {"mcp-server": "mcp", "directory": "dir", "scripted-model": "llm"}


def _fit(text: str, width: int) -> str:
    text = printable(" ".join(text.split()))
    return text if len(text) <= width else text[: max(width - 1, 1)] + "…"


# Dropped first when the pane is narrow, in this order.
OPTIONAL = ("time", "#")


def visible_columns(width: int) -> list[tuple[str, int]]:
    """The columns that fit `width` while leaving "what" at least 16 cells."""
    columns = list(COLUMNS)
    for name in OPTIONAL:
        fixed = sum(w for _, w in columns) + 2 * len(columns) + 1
        if width - fixed >= 16:
            break
        columns = [c for c in columns if c[0] != name]
    return columns


def hop_row(hop: Hop, masker: Masker, what_width: int = 30,
            columns: list[tuple[str, int]] | None = None,
            no_color: bool = False) -> tuple[Text, ...]:
    clock = time.strftime("%H:%M:%S", time.localtime(hop.started_at))
    status = Text("" if hop.status is None else str(hop.status), style=STATUS_STYLE[hop.ok])
    route = f"{SHORT_NAMES.get(hop.source, hop.source)}→{SHORT_NAMES.get(hop.target, hop.target)}"
    took = masker.duration(hop.duration_ms) if hop.duration_ms else ""
    cells = {"#": Text(str(hop.seq), style="dim"), "time": Text(masker.clock(clock), style="dim"),
             "kind": Text(hop.kind, style=KIND_STYLE.get(hop.kind, "")),
             "hop": Text(_fit(route, 12)), "what": Text(_fit(masker.text(hop.summary), what_width)),
             "st": status, "took": Text(took, style="dim")}
    return tuple(shown(cells[name], no_color) for name, _ in (columns or COLUMNS))


# The pane shows at most the newest 2,000 hops of its pattern (a session's record keeps more,
# see `runtime.wire.HopLog`, and `e` exports it): past that, each 500 new hops rebuild the
# table once, 0.45-0.5 s for 1,500 rows on a 2-core machine, where 7,500 took 1.35 s.
WIRE_ROWS = 2_000


class WireView(Vertical):
    DEFAULT_CSS = """
    WireView { height: 1fr; }
    WireView > #wire-filter { display: none; }
    WireView > #wire-filter.-visible { display: block; }
    WireView > DataTable { height: 1fr; min-height: 4; }
    WireView > HopDetail { height: 1fr; }
    """

    BINDINGS = [
        Binding("escape", "close_filter", "Close filter", show=False, id="wire.close_filter"),
        Binding("o", "related('opa')", "OPA decision of the call", show=False,
                tooltip="From a service call to its OPA decision (again: back)", id="wire.opa"),
        Binding("a", "related('audit')", "Audit record of the call", show=False,
                tooltip="From a service call to its audit record (again: back)",
                id="wire.audit"),
    ]

    class HopSelected(Message):
        def __init__(self, hop: Hop) -> None:
            super().__init__()
            self.hop = hop

    class FilterChanged(Message):
        def __init__(self, hop_filter: HopFilter) -> None:
            super().__init__()
            self.hop_filter = hop_filter

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.hops = HopLog(max_hops=WIRE_ROWS)
        self.shown: list[Hop] = []
        self.filter = HopFilter()
        self.masker = Masker()
        self.now: Callable[[], float] = time.time
        self._detail_timer: Timer | None = None
        self.what_width = 30
        self.columns = list(COLUMNS)

    def compose(self) -> ComposeResult:
        yield HistoryInput(placeholder=f"filter: {SYNTAX} (Esc closes)", id="wire-filter")
        table = HopTable(cursor_type="row", zebra_stripes=True, id="wire-table")
        self._add_columns(table)
        yield table
        yield HopDetail(id="hop-detail")

    def _add_columns(self, table: DataTable[Text]) -> None:
        for label, width in self.columns:
            table.add_column(label, width=width or self.what_width, key=label)

    def on_resize(self) -> None:
        columns = visible_columns(self.size.width)
        fixed = sum(w for _, w in columns) + 2 * len(columns) + 3  # + the scrollbar
        width = max(12, self.size.width - fixed)
        if width != self.what_width or columns != self.columns:
            self.what_width, self.columns = width, columns
            cursor = self.table.cursor_row
            self.table.clear(columns=True)
            self._add_columns(self.table)
            self._fill(cursor)

    def _fill(self, cursor: int) -> None:
        table = self.table
        for hop in self.shown:
            table.add_row(*self._row(hop), key=str(hop.seq))
        if self.shown:
            table.move_cursor(row=min(max(cursor, 0), len(self.shown) - 1), animate=False)

    def _row(self, hop: Hop) -> tuple[Text, ...]:
        return hop_row(hop, self.masker, self.what_width, self.columns, self.app.no_color)

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#wire-table", DataTable)

    def set_hops(self, hops: Sequence[Hop], masker: Masker) -> None:
        """Replace everything shown (pattern switch, filter or reveal change)."""
        dropped = hops.dropped if isinstance(hops, HopLog) else 0
        self.hops, self.masker = HopLog(hops, max_hops=WIRE_ROWS), masker
        self.hops.dropped += dropped
        self._title()
        self.shown = [h for h in self.hops if self.filter.matches(h)]
        self.table.clear()
        self._fill(len(self.shown) - 1)
        if not self.shown:
            self.query_one(HopDetail).show(None, [], masker, self.now)

    def add_hops(self, hops: list[Hop]) -> None:
        table = self.table
        following = not self.shown or table.cursor_row >= len(self.shown) - 1
        if self.hops.extend(hops):   # the oldest went: show what is kept
            reading = None if following else self.selected
            self.set_hops(self.hops, self.masker)
            if reading is not None and reading in self.shown:
                self.go_to(reading)   # a hop being read stays under the cursor
            return
        fresh = [h for h in hops if self.filter.matches(h)]
        for hop in fresh:
            table.add_row(*self._row(hop), key=str(hop.seq))
        self.shown += fresh
        if fresh and following:
            table.move_cursor(row=len(self.shown) - 1, animate=False)

    def _title(self) -> None:
        """Say so on the pane's border when the oldest hops were dropped (the record is
        bounded, see `runtime.wire.HopLog`)."""
        if isinstance(self.parent, Pane):
            dropped = self.hops.dropped
            self.parent.border_subtitle = (f"{dropped:,} older hops not shown: "
                                           f"the newest {len(self.hops):,} are"
                                           if dropped else "")

    @property
    def selected(self) -> Hop | None:
        row = self.table.cursor_row
        return self.shown[row] if self.shown and 0 <= row < len(self.shown) else None

    def select_seq(self, seq: int) -> bool:
        """Put the cursor on hop `seq` when it is shown (False when filtered out or absent)."""
        for row, hop in enumerate(self.shown):
            if hop.seq == seq:
                self.table.move_cursor(row=row, animate=False)
                return True
        return False

    def go_to(self, hop: Hop) -> bool:
        """Put the cursor on `hop`; False when it is not shown (filtered out)."""
        if hop not in self.shown:
            return False
        self.table.move_cursor(row=self.shown.index(hop), animate=False)
        return True

    def action_related(self, wanted: Related) -> None:
        hop = self.selected
        if hop is None:
            return
        call = call_of(hop, self.hops)
        target = related_hop(hop, self.hops, wanted)
        what = "OPA decision" if wanted == "opa" else "audit record"
        if call is None:
            self.notify(f"Select a call to a service (or its OPA or audit hop) to find its "
                        f"{what}.", severity="warning")
            return
        if target is None:
            self.notify(f"No {what} for the call to {call.target} (#{call.seq}): "
                        f"{'nobody asked OPA' if wanted == 'opa' else 'nothing was audited'}.",
                        severity="warning")
            return
        goal = call if target == hop else target  # the same key again goes back to the call
        if not self.go_to(goal):
            self.notify(f"Hop #{goal.seq} is hidden by the filter.", severity="warning")
            return
        self.query_one(HopDetail).active = "tab-headers" if goal is call else "tab-opa"

    def trace_of(self, hop: Hop) -> list[Hop]:
        return [h for h in self.hops if h.trace_id == hop.trace_id and h.seq <= hop.seq]

    def show_detail(self) -> None:
        self._detail_timer = None
        hop = self.selected
        self.query_one(HopDetail).show(hop, self.trace_of(hop) if hop else [], self.masker,
                                       self.now)

    def open_filter(self) -> None:
        box = self.query_one("#wire-filter", Input)
        box.add_class("-visible")
        box.value = self.filter.source
        self.screen.set_focus(box)   # now: the keys typed after "/" may already be queued

    def apply_filter(self, text: str) -> None:
        """Raises FilterError with a readable message when a term is not understood."""
        self.filter = parse_filter(text)
        self.set_hops(self.hops, self.masker)
        box = self.query_one("#wire-filter", Input)
        if box.value != text and not box.has_focus:
            box.value = text
        box.set_class(self.filter.active or box.has_focus, "-visible")
        self.post_message(self.FilterChanged(self.filter))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            self.apply_filter(event.value)
        except FilterError as exc:
            self.notify(str(exc), title="Filter", severity="error")
            return
        self.query_one("#wire-filter", HistoryInput).remember(event.value.strip())
        self.table.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        try:
            self.apply_filter(event.value)
        except FilterError:
            pass  # complain on Enter, not on every keystroke

    def action_close_filter(self) -> None:
        box = self.query_one("#wire-filter", Input)
        if not box.has_focus:
            raise SkipAction()
        if not self.filter.active:
            box.remove_class("-visible")
        self.table.focus()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        hop = self.selected
        if hop is not None:
            self.post_message(self.HopSelected(hop))
        # Hops can stream in fast; render the (heavier) detail once they settle.
        if self._detail_timer is not None:
            self._detail_timer.stop()
        self._detail_timer = self.set_timer(0.04, self.show_detail)
