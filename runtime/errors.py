"""What the runner raises for a request it cannot take or a job it cannot do, and the checks
that turn a user's text into something it can take."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from stack.errors import ExplorerError


class InputError(ExplorerError, ValueError):
    """A user, prompt or step the runner cannot accept; the message says why."""


class RunnerError(ExplorerError, RuntimeError):
    """The runner could not do what was asked (not started, a server failed, ...)."""


def not_unicode(text: str) -> str | None:
    """Why `text` cannot go on the wire as UTF-8, or None. Python reads bytes that are not
    UTF-8 (a shell argument, a file) as lone surrogates (`\\udcff`), which no encoder takes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (f"character {exc.object[exc.start]!r} at position {exc.start} is a lone "
                f"surrogate, not Unicode text (bytes that were not UTF-8, or an escape such "
                f"as \\ud800)")
    return None


def json_object(text: str, what: str, error: type[InputError] = InputError) -> dict[str, Any]:
    """`text` (typed by a user) as a JSON object, or `error` saying what is wrong and where.
    RFC 8259 JSON only: NaN, Infinity and numbers past a float's range are refused here
    rather than sent."""
    def no_constant(name: str) -> Any:
        raise error(f"the {what}: {name} is not JSON; quote it to send it as text")

    def finite(number: str) -> float:
        value = float(number)
        if not math.isfinite(value):       # 1e400: JSON, but no float holds it
            raise error(f"the {what}: {number[:30]} is too large for a JSON number")
        return value

    try:
        value = json.loads(text, parse_constant=no_constant, parse_float=finite)
    except InputError:
        raise
    except json.JSONDecodeError as exc:
        raise error(f"not valid JSON in the {what}: {exc}") from None
    except ValueError:      # Python's guard against quadratic int parsing
        raise error(f"a number of more than {sys.get_int_max_str_digits()} digits in the "
                    f"{what}") from None
    except RecursionError:
        raise error(f"the {what}: nested too deeply") from None
    if not isinstance(value, dict):
        raise error(f"the {what} must be a JSON object, such as {{\"kind\": \"expenses\"}}")
    return value
