"""What the runner raises for a request it cannot take or a job it cannot do, and the checks
that turn a user's text into something it can take."""

from __future__ import annotations

import json
import math
import re
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


#: A header name as RFC 9110 §5.1 writes it (a `token`).
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def header_problem(name: str, value: str) -> str | None:
    """Why a header cannot be sent as it is, or None: a name that is not a token, a value with
    a line break or NUL (what header injection needs), or one that is not ASCII (what the
    HTTP client sends; RFC 9110 §5.5)."""
    if not HEADER_NAME.fullmatch(name):
        return f"header name {name[:40]!r} is not valid"
    if any(c in value for c in "\r\n\0"):
        return f"header {name} holds a line break or NUL"
    if not value.isascii():
        wrong = next(c for c in value if not c.isascii())
        return (f"header {name} holds {wrong!r}: header values are ASCII (percent- or "
                f"base64-encode the rest)")
    return None


def field_problems(errors: list[Any], limit: int = 5) -> str:
    """pydantic's `ValidationError.errors()` in one line: `field: what is wrong; ...`."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: "
                     f"{e['msg'].removeprefix('Value error, ')}" for e in errors[:limit])


def strict_json(text: str, what: str, error: type[InputError] = InputError) -> Any:
    """`text` parsed as RFC 8259 JSON, nothing more: NaN, Infinity and numbers past a float's
    range (1e400 parses as Infinity) are refused with `error`, as are numbers of more digits
    than Python parses and nesting too deep. Text that is not JSON at all raises
    `json.JSONDecodeError`, for callers that take it as plain text instead."""
    def no_constant(name: str) -> Any:
        raise error(f"the {what}: {name} is not JSON; quote it to send it as text")

    def finite(number: str) -> float:
        value = float(number)
        if not math.isfinite(value):
            raise error(f"the {what}: {number[:30]} is too large for a JSON number")
        return value

    try:
        return json.loads(text, parse_constant=no_constant, parse_float=finite)
    except (InputError, json.JSONDecodeError):
        raise
    except ValueError:      # Python's guard against quadratic int parsing
        raise error(f"a number of more than {sys.get_int_max_str_digits()} digits in the "
                    f"{what}") from None
    except RecursionError:
        raise error(f"the {what}: nested too deeply") from None


def json_object(text: str, what: str, error: type[InputError] = InputError) -> dict[str, Any]:
    """`text` (typed by a user) as a JSON object (see `strict_json`), or `error` saying what
    is wrong and where."""
    try:
        value = strict_json(text, what, error)
    except json.JSONDecodeError as exc:
        raise error(f"not valid JSON in the {what}: {exc}") from None
    if not isinstance(value, dict):
        raise error(f"the {what} must be a JSON object, such as {{\"kind\": \"expenses\"}}")
    return value
