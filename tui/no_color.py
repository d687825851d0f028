"""NO_COLOR: meaning that reads without colour.

Textual honours NO_COLOR by turning colours into greys, which makes red on a dark
background dark grey on dark grey. So the explorer drops the colour of the text it renders
itself and keeps the attributes. Every style that carries meaning pairs its colour with an
attribute (an attacker or a refused status is `bold reverse`, an error `bold underline`) or
with a word or mark (✓ ✗ ☠ ⛔), so it still reads in plain text.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Span, Text


def _without_colour(style: str | Style) -> Style:
    return (Style.parse(style) if isinstance(style, str) else style).without_color


def decolour(text: Text) -> Text:
    """A copy of `text` with no colour anywhere; bold, reverse, underline, italic, dim kept."""
    plain = text.copy()
    plain.style = _without_colour(text.style)
    plain.spans = [Span(s.start, s.end, _without_colour(s.style)) for s in text.spans]
    return plain


def shown(text: Text, no_color: bool) -> Text:
    """`text` as the screen shows it: without colour under NO_COLOR."""
    return decolour(text) if no_color else text
