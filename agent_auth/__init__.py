"""`agent-auth`: the command line above the runtime and the explorer (TUI).

The runtime (`runtime/`) knows nothing of the UI; this package is where both meet.
"""
