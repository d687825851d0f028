"""A clock that tests and attack steps can move (A4 replays a credential "one hour later")."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class Clock:
    """Wall-clock time plus an offset; `fixed` freezes it (used by the demo tour)."""

    offset: float = 0.0
    fixed: float | None = None

    def now(self) -> float:
        base = self.fixed if self.fixed is not None else time.time()
        return base + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    def reset(self) -> None:
        self.offset = 0.0
