"""NumericDate (RFC 7519 section 2): the one way JOSE code reads `exp`, `nbf` and `iat`.

A NumericDate is a JSON number of seconds since the epoch. Python's `json` (and so pyjwt)
also reads `NaN`, `Infinity` and integers too large for a float; each of those slips past a
plain `exp <= now` check (NaN compares false with everything, infinity never expires), so
they are refused here, as are strings, booleans, null, lists and objects.

    exp = numeric_date(claims.get("exp"), "exp")    # a finite float, or InvalidNumericDate

Callers decide whether a claim is required; a claim that is present must pass this.
"""

from __future__ import annotations

import math

from stack.errors import ExplorerError

__all__ = ["InvalidNumericDate", "numeric_date"]


class InvalidNumericDate(ExplorerError, ValueError):
    """A time claim is not a finite JSON number; `claim` names it, `why` says what is wrong."""

    def __init__(self, claim: str, why: str) -> None:
        super().__init__(f"{claim} is not a NumericDate: {why}")
        self.claim = claim
        self.why = why


def numeric_date(value: object, name: str) -> float:
    """`value` as seconds since the epoch if it is a finite JSON number (int or float, not
    bool, not NaN or ±Infinity, an int small enough for a float); else InvalidNumericDate."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        kind = "null" if value is None else type(value).__name__
        raise InvalidNumericDate(name, f"expected a number, got {kind}")
    try:
        seconds = float(value)
    except OverflowError:
        raise InvalidNumericDate(name, "the number is too large") from None
    if not math.isfinite(seconds):
        raise InvalidNumericDate(name, "the number is not finite")
    return seconds
