"""`agent-auth-lab`: a lab's ForceCommand. It hands the student's terminal to the lab host
(`agent-auth lab host`, agent_auth/lab_sessions.py), which has the explorer loaded already
and forks a session for this student, as this student; then it waits for that session to end.

It loads nothing but the standard library (~30 ms), so a class logging in at once costs the
host one fork per student instead of loading the explorer twenty times over. When no host
answers, it starts the explorer in this process (`agent-auth --lab`): slower, but the same.

The conversation over the host's Unix socket:
    client -> host   {"version": 1, "env": {...}} + "\\n", with stdin/stdout/stderr (SCM_RIGHTS)
    client -> host   b"W" when the window changes size, b"I" for Ctrl-C
    host -> client   "started\\n" once the session has the terminal, "exit N\\n" when it
                     ends; or "refused <why>\\n" instead
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sys

FORCE_COMMAND = "agent-auth-lab"   # this script, as pyproject.toml installs it
SOCKET_ENV = "AGENT_AUTH_LAB_SOCKET"
DEFAULT_SOCKET = "/run/agent-auth-lab/lab.sock"
PROTOCOL = 1
RESIZED, INTERRUPTED = b"W", b"I"
STARTED = b"started\n"   # the session is the student and has the terminal
ANSWER_WITHIN = 20.0   # seconds for a host to take the login (it forks at once)
NO_TERMINAL = ("the lab explorer needs a terminal: connect with `ssh -t` (file copies and "
               "commands are not available in a lab session)")

#: What a session keeps of the student's environment: the terminal's and the locale's, and
#: the explorer's own settings (the sshd block's SetEnv). Everything else comes from the
#: account (HOME, USER, SHELL...), never from the client.
FORWARDED = re.compile(r"TERM|COLORTERM|NO_COLOR|LANG|LANGUAGE|TZ|TMPDIR|LC_[A-Z]+"
                       r"|XDG_(CONFIG|STATE|DATA|CACHE)_HOME|AGENT_AUTH_[A-Z0-9_]+"
                       r"|OPENAI_[A-Z0-9_]+")
MAX_NAME, MAX_VALUE, MAX_ENTRIES = 64, 4096, 100


def forwarded(name: str, value: str) -> bool:
    return (FORWARDED.fullmatch(name) is not None and name != SOCKET_ENV
            and len(name) <= MAX_NAME and len(value) <= MAX_VALUE and "\0" not in value)


def header(environ: dict[str, str]) -> bytes:
    env = dict(sorted((k, v) for k, v in environ.items() if forwarded(k, v))[:MAX_ENTRIES])
    return json.dumps({"version": PROTOCOL, "env": env}).encode() + b"\n"


def _direct() -> int:
    """No lab host: the explorer in this process, as `agent-auth --lab` would start it."""
    # -I: not the working directory (the student's home) on the import path, no PYTHON*
    os.execv(sys.executable, [sys.executable, "-I", "-m", "agent_auth", "--lab"])
    return 127   # not reached: execv replaces this process or raises


def _answer(line: bytes) -> int:
    text = line.decode("utf-8", "replace").strip()
    if text.startswith("exit ") and text[5:].lstrip("-").isdigit():
        return int(text[5:])
    if text.startswith("refused "):
        print(f"agent-auth: {text[8:]}", file=sys.stderr)
        return 2
    print(f"agent-auth: the lab host ended the session without saying why ({text[:80]!r})",
          file=sys.stderr)
    return 1


def _line(host: socket.socket) -> bytes:
    """The host's next line, with its newline (b"" if the host closed the connection)."""
    received = b""
    while b"\n" not in received and len(received) < 4096:
        try:
            chunk = host.recv(1)   # a byte at a time: the line after this one stays queued
        except TimeoutError:
            raise
        except OSError:   # the connection reset: as closed
            chunk = b""
        if not chunk:
            break
        received += chunk
    return received


def main() -> int:
    if not (os.isatty(0) and os.isatty(1)):
        print(f"agent-auth: {NO_TERMINAL}", file=sys.stderr)
        return 2
    path = os.environ.get(SOCKET_ENV, DEFAULT_SOCKET)
    host = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        host.connect(path)
        socket.send_fds(host, [header(dict(os.environ))], [0, 1, 2])
    except OSError:
        host.close()
        return _direct()

    def tell(message: bytes) -> None:
        try:
            host.send(message)
        except OSError:
            pass

    # The session is not in this terminal's process group: what the terminal sends this
    # process (a new window size; Ctrl-C or Ctrl-\ before the explorer owns the keys) is
    # passed on, and job control (Ctrl-Z) would only stop this process, so it is ignored.
    signal.signal(signal.SIGWINCH, lambda *_: tell(RESIZED))
    signal.signal(signal.SIGINT, lambda *_: tell(INTERRUPTED))
    signal.signal(signal.SIGQUIT, lambda *_: tell(INTERRUPTED))
    for stop in (signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU):
        signal.signal(stop, signal.SIG_IGN)
    host.settimeout(ANSWER_WITHIN)   # a host that is stopped or stuck: say so, do not hang
    try:
        received = _line(host)
        if received == STARTED:
            host.settimeout(None)
            received = _line(host)
    except TimeoutError:
        print(f"agent-auth: the lab host did not answer in {ANSWER_WITHIN:.0f} s; tell the "
              "instructor", file=sys.stderr)
        return 1
    finally:
        host.close()
    if not received:   # the session died without a word (killed): as a shell would say
        print("agent-auth: the lab session ended unexpectedly", file=sys.stderr)
        return 1
    return _answer(received.split(b"\n", 1)[0])


if __name__ == "__main__":
    sys.exit(main())
