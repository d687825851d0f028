"""HistoryInput: an input line with ↑/↓ through what was entered before (prompts, filters).

It also tells the footer the truth about the keys it swallows: Textual hides a screen's
single-key bindings while an Input has focus (the key types instead), but Textual 8.2 does
not know which character a few key names type (`slash`, `minus`, ...), so `/ Filter` showed
in the footer while `/` typed a slash into the prompt.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.keys import key_to_character
from textual.widgets import Input

# Key names Textual 8.2's key_to_character does not map to the character they type.
UNMAPPED_KEYS = {"plus": "+", "minus": "-", "slash": "/", "at": "@", "backslash": "\\",
                 "underscore": "_"}
MAX_KEPT = 100


def typed_character(key: str) -> str | None:
    """The character `key` types, or None for keys that type nothing (ctrl+x, f1, enter)."""
    return key_to_character(key) or UNMAPPED_KEYS.get(key)


class HistoryInput(Input):
    BINDINGS = [
        Binding("up", "history(-1)", "Earlier entry", show=False, id="input.history_back"),
        Binding("down", "history(1)", "Later entry", show=False, id="input.history_forward"),
    ]

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.history: list[str] = []
        self._at = 0

    def check_consume_key(self, key: str, character: str | None) -> bool:
        return super().check_consume_key(key, character or typed_character(key))

    def set_history(self, entries: list[str]) -> None:
        """Use `entries` (the list itself: what is entered here lands in it too)."""
        del entries[:-MAX_KEPT]
        self.history = entries
        self._at = len(entries)

    def remember(self, text: str) -> None:
        if text and (not self.history or self.history[-1] != text):
            self.history.append(text)
            del self.history[:-MAX_KEPT]
        self._at = len(self.history)

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        self._at = max(0, min(len(self.history), self._at + step))
        self.value = self.history[self._at] if self._at < len(self.history) else ""
        self.cursor_position = len(self.value)
