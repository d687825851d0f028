"""Arguments of the hands-on commands, kept apart from the code that runs them: building the
parser must not load the runtime (every command, `--help` included, would pay for it)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent_auth.lab_connect import DEFAULT_SOCKET
from runtime import SIGN_CHOICES


def hands_on(sub: Any, common: argparse.ArgumentParser) -> None:
    """replay, call, compare and challenges (agent_auth/hands_on.py runs them)."""
    replay = sub.add_parser(
        "replay", parents=[common], help="resend a hop from an exported JSONL file, edited",
        description="Resend one HTTP hop exported as JSON lines (`agent-auth export --format "
        "jsonl`, or the explorer's e key) under a fresh run of its pattern, with its JWT "
        "edited: `--set exp=@now-1h --sign idp`. The request goes to this run's server for "
        "the same party; the answer says who decided and why.")
    replay.add_argument("file", type=Path, help="the JSONL file ('-' reads stdin)")
    replay.add_argument("--hop", type=int, help="the hop's number (# in the wire); without "
                        "it, the hops you can replay are listed")
    replay.add_argument("--pattern", "-p", help="the pattern to run (default: the one the "
                        "hop was captured under, when the file says)")
    replay.add_argument("--token", type=int, default=0,
                        help="which JWT in the request to edit (0 = the first; listed)")
    replay.add_argument("--set", dest="set_claims", action="append", default=[],
                        metavar="CLAIM=VALUE", help="set a claim (JSON, text, or @now-1h); "
                        "dotted names reach inside objects (act.sub=evil)")
    replay.add_argument("--unset", action="append", default=[], metavar="CLAIM",
                        help="remove a claim (act, cnf, ...)")
    replay.add_argument("--sign", choices=list(SIGN_CHOICES), default=None,
                        help="how to sign an edited token: " + "; ".join(
                            f"{k}: {v}" for k, v in SIGN_CHOICES.items())
                        + " (default keep)")
    replay.add_argument("--to", metavar="PARTY",
                        help="send it to another party of the run: records, directory, "
                        "mcp-server, idp or opa")
    replay.add_argument("--path", help="send it to another path (/users, /expenses/4/approve)")
    replay.add_argument("--later", default="0", metavar="DURATION",
                        help="send it later (1h, 30m, 2d): the run's clock moves forward for "
                        "this request, as the script's A4 does")
    replay.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'",
                        help="set an HTTP header")
    replay.add_argument("--drop-header", action="append", default=[], metavar="NAME",
                        help="remove an HTTP header")
    replay.add_argument("--json", action="store_true")

    call = sub.add_parser(
        "call", parents=[common], help="call one MCP tool yourself, no model in the loop",
        description="Call one of the MCP server's tools (read_data, write_data, manage_users, "
        "search) as a user under a pattern, with exactly the arguments given (the "
        "pattern still adds its credentials).")
    call.add_argument("--pattern", "-p", required=True)
    call.add_argument("--user", "-u", default="alice")
    call.add_argument("tool", help="read_data, write_data, manage_users or search")
    call.add_argument("arguments", nargs="?", default="{}",
                      help='the arguments as a JSON object: \'{"kind": "expenses"}\'')
    call.add_argument("--json", action="store_true")

    chal = sub.add_parser(
        "challenges", parents=[common], help="attacks to perform by hand, solved or not",
        description="The challenges, by pattern: ✓ solved, · still to solve; a blank is a "
        "pattern that stops the attack. Your prompts (run), calls (call) and replays (replay) "
        "are judged from the wire and the audit log; progress is kept in your state folder.")
    chal.add_argument("challenge", nargs="?", help="show one challenge with its hints")
    chal.add_argument("--hand-in", metavar="DIR", nargs="?", const="",
                      help="copy your progress to your instructor's hand-in folder (default "
                      "$AGENT_AUTH_HAND_IN)")
    chal.add_argument("--json", action="store_true")

    comp = sub.add_parser(
        "compare", parents=[common], help="the same prompt or step under two patterns",
        description="Run one prompt (or script step) under two patterns and show the hops "
        "side by side, with the differences marked: a hop under one pattern only, another "
        "status, another decider, changed claims.")
    comp.add_argument("--patterns", required=True, help="two patterns: p05,p06")
    comp.add_argument("--user", "-u", default="alice")
    comp.add_argument("--step", "-s", help="compare a script step (L1..A9) instead")
    comp.add_argument("prompt", nargs="?")
    comp.add_argument("--json", action="store_true")


def serve(sub: Any, common: argparse.ArgumentParser) -> None:
    """agent-auth serve: a pattern's MCP server for clients of your own (agent_auth/serve.py)."""
    served = sub.add_parser(
        "serve", parents=[common], help="run a pattern's MCP server for your own client "
        "(the MCP Inspector, curl)",
        description="Start one pattern's MCP server and tool services on 127.0.0.1 and "
        "print what a client must send as the user (the access token the MCP authorization "
        "flow gives, the agent's actor token, or the API key argument), ready-made curl and "
        "MCP Inspector command lines, then the hops your calls cause, until Ctrl-C.")
    served.add_argument("--pattern", "-p", required=True, help="p01..p10 or a pattern folder")
    served.add_argument("--user", "-u", default="alice", help="alice, bob or dave")
    served.add_argument("--json", action="store_true",
                        help="one JSON line with the URLs and credentials, then one per hop")


def count(low: int, high: int, unit: str) -> Callable[[str], int]:
    """An argparse type: a whole number of `unit` from `low` to `high`."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} {unit}: choose {low} to {high}")
        return value

    return parse


def lab(sub: Any, common: argparse.ArgumentParser) -> None:
    """agent-auth lab report DIR (the instructor's view of the handed-in progress) and lab
    host (the admin's service that forks each student's session)."""
    lab_parser = sub.add_parser("lab", parents=[common], help="instructor and admin tools "
                                "for a lab",
                                description="`lab report DIR` reads the progress files "
                                "students handed in (agent-auth challenges --hand-in, or H on "
                                "the explorer's challenges board) and prints who solved what. "
                                "`lab host` (root) loads the explorer once and forks each "
                                "student's session.")
    action = lab_parser.add_subparsers(dest="lab_command", required=True)
    report = action.add_parser("report", parents=[common], help="who solved what")
    report.add_argument("folder", type=Path, help="the hand-in folder")
    report.add_argument("--json", action="store_true")
    host = action.add_parser(
        "host", parents=[common], help="as root: load the explorer once, fork each login",
        description="The lab host (run as root, by the README's systemd unit): loads the "
        "explorer once and forks a session for each student whose ForceCommand "
        "(agent-auth-lab) connects, as that student.")
    host.add_argument("--socket", type=Path, default=Path(DEFAULT_SOCKET),
                      help=f"the Unix socket students' logins connect to ({DEFAULT_SOCKET})")
    host.add_argument("--group", default="students",
                      help="the group whose members get a session (students)")
    host.add_argument("--per-student", type=count(1, 100, "sessions"), default=3, metavar="N",
                      help="sessions one student may have open at once (3)")
