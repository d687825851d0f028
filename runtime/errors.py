"""What the runner raises for a request it cannot take or a job it cannot do."""

from stack.errors import ExplorerError


class InputError(ExplorerError, ValueError):
    """A user, prompt or step the runner cannot accept; the message says why."""


class RunnerError(ExplorerError, RuntimeError):
    """The runner could not do what was asked (not started, a server failed, ...)."""
