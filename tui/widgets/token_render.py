"""Rich renderings of decoded JWTs and claim diffs (shared by the User pane and the wire).

Times become readable (UTC plus "in 4m"/"3m ago" against the session clock); the claims a
learner should look at (aud, azp, act, cnf, scope, roles) are highlighted.

The token may be an attacker's: any claim may hold any JSON. Names and values are always
`Text` (never parsed as Rich markup), control characters are escaped, nesting is cut at
MAX_DEPTH and a value is cut at MAX_VALUE characters; a time claim that is not a finite
number is shown as it is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from runtime import TIME_CLAIMS, DecodedToken, brief, printable
from tui.masking import Masker

KEY_CLAIMS = ("aud", "azp", "act", "cnf", "scope", "realm_access", "roles", "may_act")
MAX_DEPTH = 12
MAX_VALUE = 4000
Clock = Callable[[], float]


def relative(seconds: float) -> str:
    span = abs(int(seconds))
    unit = f"{span}s" if span < 120 else f"{span // 60}m" if span < 7200 else f"{span // 3600}h"
    return f"in {unit}" if seconds > 0 else f"{unit} ago"


def numeric_date(value: Any) -> float | None:
    """A JWT NumericDate as seconds, or None for anything else (text, NaN, 10**400, true)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        seconds = float(value)
    except OverflowError:  # an int too large for a float
        return None
    return seconds if math.isfinite(seconds) else None


def expiry(token: DecodedToken, now: float) -> str:
    """One line about `exp`: "expires in 4m", "expired 3m ago", or what stands there."""
    if "exp" not in token.claims:
        return "(no exp claim)"
    seconds = numeric_date(token.claims["exp"])
    if seconds is None:
        return f"exp {brief(token.claims['exp'], 60)} (not a NumericDate)"
    return f"{'expires' if seconds > now else 'expired'} {relative(seconds - now)}"


def readable_time(value: Any, now: float) -> str:
    seconds = numeric_date(value)
    if seconds is None:
        return f"{brief(value, 60)} (not a NumericDate)"
    try:
        stamp = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return f"{brief(value, 60)} (outside the calendar)"
    return f"{stamp} ({relative(seconds - now)})"


def _value(name: str, value: Any, masker: Masker, now: float) -> str:
    if name in TIME_CLAIMS:
        return readable_time(value, now)
    shown = masker.claim(name, value)
    if isinstance(shown, dict | list):
        return brief(_mask_nested(shown, masker, MAX_DEPTH), MAX_VALUE)
    return brief(shown, MAX_VALUE)


def _mask_nested(value: Any, masker: Masker, depth: int) -> Any:
    """`value` with secrets masked, cut to `depth` levels (deeper parts become "…")."""
    if isinstance(value, dict | list) and depth <= 0:
        return "…"
    if isinstance(value, dict):
        return {k: _mask_nested(masker.claim(k, v), masker, depth - 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_nested(v, masker, depth - 1) for v in value]
    return masker.claim("", value) if isinstance(value, str) else value


def _table(title: str, items: Iterable[tuple[str, Any]], masker: Masker, now: float) -> Table:
    table = Table(title=title, title_justify="left", show_header=False, box=None, expand=True,
                  padding=(0, 1), title_style="bold")
    table.add_column("name", style="cyan", no_wrap=True, ratio=1)
    table.add_column("value", ratio=4, overflow="fold")
    for name, value in items:
        style = "bold yellow" if name in KEY_CLAIMS else ""
        table.add_row(Text(brief(name)), Text(_value(name, value, masker, now), style=style))
    return table


def render_token(token: DecodedToken, masker: Masker, now: float,
                 show_raw: bool = False) -> RenderableType:
    parts: list[RenderableType] = [
        Text(masker.text(token.label), style="bold"),
        _table("header", token.header.items(), masker, now),
        _table("claims", token.claims.items(), masker, now),
    ]
    if show_raw:
        parts.append(Text(printable(masker.text(token.raw)), style="dim", overflow="fold"))
    return Group(*parts)


def render_diff(rows: list[tuple[str, str, Any, Any]], before: DecodedToken,
                after: DecodedToken, masker: Masker, now: float) -> RenderableType:
    head = Text.assemble(("before: ", "dim"), masker.text(before.label), "\n",
                         ("after:  ", "dim"), masker.text(after.label))
    if not rows:
        return Group(head, Text("\nno claim changed", style="dim"))
    table = Table(expand=True, box=None, padding=(0, 1))
    table.add_column("claim", style="cyan", no_wrap=True)
    table.add_column("change", no_wrap=True)
    table.add_column("before", overflow="fold", ratio=1)
    table.add_column("after", overflow="fold", ratio=1)
    colours = {"added": "green", "removed": "red", "changed": "yellow"}
    for claim, change, old, new in rows:
        table.add_row(
            Text(brief(claim)), Text(change, style=colours.get(change, "")),
            Text("" if old is None else _value(claim, old, masker, now)),
            Text("" if new is None else _value(claim, new, masker, now)),
        )
    return Group(head, table)
