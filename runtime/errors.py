"""What the runner raises for a request it cannot take or a job it cannot do."""

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
