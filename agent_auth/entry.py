"""The `agent-auth` script's entry point, importing nothing until it runs: Ctrl-C while the
command's modules load (its first ~0.3 s) ends it with one line, not a traceback."""

import sys


def main() -> int:
    try:
        from agent_auth.cli import entry

        return entry()
    except KeyboardInterrupt:   # cli.main says so itself once the command runs
        print("\ragent-auth: interrupted, nothing finished", file=sys.stderr)
        return 130
