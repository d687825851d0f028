"""HopTable: the wire's list of hops, with Home/End (and g/G) to the first and last hop."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable


class HopTable(DataTable[Text]):
    BINDINGS = [
        Binding("home,g", "scroll_top", "First hop", show=False, id="wire.first"),
        Binding("end,G", "scroll_bottom", "Last hop", show=False, id="wire.last"),
    ]
