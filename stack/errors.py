"""The root of every error the explorer defines.

Whatever goes wrong in the stack, the runtime, a pattern or the explorer is an
`ExplorerError` (besides the built-in kind it also is, for callers that expect one): the
CLI and the TUI catch this one class, plus the few library errors they name, and report it
in one line.
"""


class ExplorerError(Exception):
    """Something the explorer can report in one clear line."""
