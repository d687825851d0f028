"""`agent-auth`: no arguments opens the explorer; subcommands run headless.

    agent-auth                                  the TUI on the embedded stack
    agent-auth run --pattern p05 --user dave "Make me an admin."
    agent-auth run --pattern p08 --step A7
    agent-auth matrix [--json] [--stack external]
    agent-auth replay hops.jsonl --hop 17 --set exp=@now-1h --sign idp
    agent-auth call --pattern p06 --user dave manage_users '{"action": "list"}'
    agent-auth compare --patterns p05,p06 --user alice "What are my expenses?"
    agent-auth serve --pattern p06 --user alice     its MCP server, for the Inspector or curl
    agent-auth stack status | doctor | export
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from runtime import Settings, pause_collector, run_main, settle_heap
from stack.errors import ExplorerError


def _common() -> argparse.ArgumentParser:
    """Flags accepted before or after the subcommand (`agent-auth matrix --stack external`)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--stack", choices=["embedded", "external"], default=argparse.SUPPRESS,
                        help="embedded IdP+OPA (default) or Keycloak+OPA at KEYCLOAK_URL/OPA_URL")
    common.add_argument("--model", default=argparse.SUPPRESS,
                        help="'scripted' (default) or a model name for OPENAI_BASE_URL / "
                        "OPENAI_API_KEY")
    common.add_argument("--demo", action="store_true", default=argparse.SUPPRESS,
                        help="play the deterministic tour")
    common.add_argument("--lab", action="store_true", default=argparse.SUPPRESS,
                        help="lab mode for SSH-hosted classes (no Docker controls, temp dir "
                        "only)")
    return common


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(
        prog="agent-auth",
        parents=[common],
        description="Agent Auth Explorer: ten identity and authorization patterns for an AI "
        "agent calling tools (the write-up's eight, then two beyond). With no command, opens "
        "the explorer.",
    )
    sub = parser.add_subparsers(dest="command")

    run = sub.add_parser("run", parents=[common],
                         help="send one prompt (or one script step) under a pattern")
    run.add_argument("--pattern", "-p", required=True, help="p01..p10 or a pattern folder")
    run.add_argument("--user", "-u", default="alice", help="alice, bob or dave")
    run.add_argument("--step", "-s", help="run a script step (L1..L5, A1..A9) instead")
    run.add_argument("--json", action="store_true", help="machine-readable output")
    run.add_argument("prompt", nargs="?", default="")

    show = sub.add_parser("show", parents=[common],
                          help="print a pattern's two files, what they call, its narrative")
    show.add_argument("--pattern", "-p", help="p01..p10 or a pattern folder")
    what = show.add_mutually_exclusive_group()
    what.add_argument("--code", action="store_true",
                      help="its two files and what they call (the default)")
    what.add_argument("--diff", action="store_true", help="the diff against the previous one")
    what.add_argument("--narrative", action="store_true", help="its narrative (markdown)")
    what.add_argument("--preset", metavar="NAME",
                      help="the source of one preset (and what it calls in turn)")

    from agent_auth.arguments import count, hands_on, lab, serve

    matrix = sub.add_parser("matrix", parents=[common], help="run the script under every pattern")
    matrix.add_argument("--json", action="store_true")
    matrix.add_argument("--patterns", nargs="*", help="only these patterns")
    matrix.add_argument("--workers", type=count(1, 64, "processes"), default=0, metavar="N",
                        help="processes to run the patterns in (default: one per core, up "
                        "to 4)")

    stack = sub.add_parser("stack", parents=[common], help="the identity and policy stack")
    stack.add_argument("action", choices=["status"])

    sub.add_parser("doctor", parents=[common],
                   help="check that everything the explorer needs is in place")

    export = sub.add_parser("export", parents=[common],
                            help="run a prompt and export its wire (HAR or JSONL)")
    export.add_argument("--pattern", "-p", required=True)
    export.add_argument("--user", "-u", default="alice")
    export.add_argument("--format", choices=["har", "jsonl"], default="har")
    export.add_argument("--output", "-o", type=Path, required=True)
    export.add_argument("prompt")
    hands_on(sub, common)
    serve(sub, common)
    lab(sub, common)
    battery = sub.add_parser("battery", parents=[common],
                             help="attack battery against the token patterns (p05-p10)")
    if command == "battery":      # its module loads the runtime: only when it runs
        from runtime.battery import add_arguments

        add_arguments(battery)
    return parser


def _command(argv: Sequence[str]) -> str | None:
    """The subcommand named in argv, if any (the first word that is not an option's)."""
    return next((word for word in argv if not word.startswith("-") and word in COMMANDS),
                None)


COMMANDS = frozenset({"run", "show", "matrix", "stack", "doctor", "export", "battery",
                      "replay", "call", "compare", "challenges", "lab", "serve"})


def _explorer_flags(argv: Sequence[str]) -> argparse.Namespace | None:
    """argv that only opens the explorer (no command; --stack, --model, --demo, --lab),
    parsed without building the subcommands: some of their options import the whole runtime
    on this thread, about 1.4 s of CPU before the explorer's first frame."""
    parser = argparse.ArgumentParser(add_help=False, parents=[_common()], exit_on_error=False)
    try:
        args, rest = parser.parse_known_args(argv)
    except argparse.ArgumentError:
        return None   # the full parser says what is wrong
    if rest:
        return None
    args.command = None
    return args


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(os.environ, stack=getattr(args, "stack", None),
                             model=getattr(args, "model", None),
                             demo=getattr(args, "demo", None), lab=getattr(args, "lab", None))


# What a process killed by SIGPIPE reports in a shell (128 + 13), as `yes | head -1` does.
EXIT_BROKEN_PIPE = 141


def entry() -> int:
    """The process's entry point (the `agent-auth` script, `python -m agent_auth`): the
    collector waits until the command's modules are loaded (runtime.heap)."""
    pause_collector()
    return main()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; when the reader of stdout goes away (`agent-auth matrix | head -1`),
    stop quietly instead of printing a BrokenPipeError traceback."""
    try:
        code = _main(argv)
        sys.stdout.flush()  # inside the try: a buffered write can fail only now
    except BrokenPipeError:
        # Python's documented recipe: point stdout at devnull so the flush at exit is quiet
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE
    return code


def _main(argv: Sequence[str] | None) -> int:
    # Libraries (the MCP SDK) call logging.basicConfig; a handler here keeps their log lines
    # from being printed over the TUI or the CLI's output.
    logging.getLogger().addHandler(logging.NullHandler())
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _explorer_flags(argv) or _parser(_command(argv)).parse_args(argv)
    try:
        settings = _settings(args)
        if settings.lab and args.command in (None, "doctor"):
            from agent_auth import lab  # the admin's checks, and the guard of a session

            if args.command == "doctor":
                settle_heap()
                return lab.doctor(settings)
            if problem := lab.session_problem(sys.stdin.isatty(), sys.stdout.isatty()):
                print(f"agent-auth: {problem}", file=sys.stderr)
                return 2
        if args.command is None:
            from tui.app import run_app

            return run_app(settings)
        if args.command == "battery":
            from runtime.battery import cli_main

            settle_heap()
            return cli_main(args, settings)
        if args.command == "matrix":   # forks its workers before any event loop exists
            from agent_auth import commands
            from runtime import load_sdk

            load_sdk()   # every worker's agent needs it: loaded once, before the workers fork
            settle_heap()
            return commands.matrix(args, settings)
        if args.command == "lab" and args.lab_command == "host":   # forks: no event loop here
            from agent_auth.lab_sessions import HostConfig, serve

            return serve(HostConfig(socket=args.socket, group=args.group,
                                    per_student=args.per_student), explorer=_lab_session)
        return run_main(_dispatch(args, settings))
    except ExplorerError as exc:   # bad input, an unavailable stack, a broken pattern...
        print(f"agent-auth: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:   # Ctrl-C in a headless command: say so, over any progress line
        print("\ragent-auth: interrupted, nothing finished" + " " * 8, file=sys.stderr)
        return 130


def _lab_session() -> int:
    """A session the lab host forked, now the student: `agent-auth --lab`, as `entry` runs
    it (the collector paused while the runtime starts)."""
    pause_collector()
    return main(["--lab"])


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from agent_auth import commands  # the runtime loads only for a headless command

    settle_heap()
    if args.command == "run":
        return await commands.run(args, settings)
    if args.command == "show":
        return commands.show(args)
    if args.command == "stack":
        return await commands.stack_status(settings)
    if args.command == "doctor":
        return await commands.doctor(settings)
    if args.command == "export":
        return await commands.export(args, settings)
    if args.command == "challenges":
        from agent_auth import hands_on

        return hands_on.challenges(args, settings)
    if args.command == "serve":
        from agent_auth.serve import serve

        return await serve(args, settings)
    if args.command == "lab":
        from agent_auth import hands_on

        return hands_on.lab_report(args)
    if args.command in ("replay", "call", "compare"):
        from agent_auth import hands_on

        run = {"replay": hands_on.replay, "call": hands_on.call,
               "compare": hands_on.compare_command}[args.command]
        return await run(args, settings)
    raise commands.CliError(f"unknown command {args.command!r}")
